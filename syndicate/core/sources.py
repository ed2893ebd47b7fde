"""Which files are posts: the one rule, for the build's scan, the daemon's watcher and every
command. Kept apart from :mod:`syndicate.core.posts` (which parses them) so that telling a
post's name costs no import of YAML or Markdown."""

from __future__ import annotations

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd", ".mkdn")
HTML_SUFFIXES = (".html", ".htm")  # posts whose body is HTML already (Hugo's and Jekyll's): never run through Markdown


def written_in_html(source: str) -> bool:
    """Is this post file's body HTML (rendered as it is), not Markdown?"""
    return source.lower().endswith(HTML_SUFFIXES)


def is_post_file(name: str, suffixes: tuple[str, ...] = MARKDOWN_SUFFIXES) -> bool:
    """Markdown (a name ending in one of ``suffixes``: the generator's), not hidden, not an
    editor's temp or backup file."""
    if name.startswith((".", "#", "~")) or name.endswith(("~", "#")):
        return False
    return name.lower().endswith(suffixes)


def source_prefix(content_dir: str) -> str:
    """How post sources start: ``"content/"`` for ``[content] dir = "content"``, ``""`` for the
    site folder itself (``"."``, Jekyll's layout)."""
    folder = content_dir.strip("/")
    while folder.startswith("./"):
        folder = folder[2:]
    return "" if folder in ("", ".") else folder + "/"
