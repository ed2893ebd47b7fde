"""Pelican: pelicanconf.py and publishconf.py, read with ast (literal assignments), never run."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..core.dialects import dialect
from ..core.model import printable
from ..errors import ConfigError
from .draft import Draft
from .model import EXAMPLE_URL, SiteFiles
from .permalinks import take_permalink, translate_pelican
from .readers import as_language, as_text, relative_dir

_COMPUTED = object()  # a setting assigned something other than a literal: only running it would tell


def adopt_pelican(d: Draft) -> None:
    conf = {k: (v, d.ev) for k, v in _python_literals(d.site, d.ev).items()}
    if "publishconf.py" in d.site.texts:  # `make publish` reads it after pelicanconf.py: its values win
        conf.update({k: (v, "publishconf.py") for k, v in _python_literals(d.site, "publishconf.py").items()})

    def get(key: str) -> tuple[Any, str]:
        value, rel = conf.get(key, (None, d.ev))
        return (None, f"{rel}: {key} (computed: init runs no code)") if value is _COMPUTED else (value, f"{rel}: {key}")

    for key, name in (("title", "SITENAME"), ("url", "SITEURL"), ("author", "AUTHOR"), ("description", "SITESUBTITLE")):
        d.set(key, as_text(get(name)[0]), get(name)[1])
    siteurl, where = get("SITEURL")
    if "url" not in d.values and (siteurl == "" or "computed" in where):
        d.stand_in(
            "url",
            EXAMPLE_URL,
            f"{where}: write the site's address",
            f"[site] url: {where} gives no address; write the site's address",
        )
    for kind in ("FEED_ALL", "FEED", "CATEGORY_FEED", "TAG_FEED", "AUTHOR_FEED", "TRANSLATION_FEED"):
        for fmt in ("ATOM", "RSS"):
            d.feed_named(as_text(get(f"{kind}_{fmt}")[0]), get(f"{kind}_{fmt}")[1])
    d.output_at(as_text(get("OUTPUT_PATH")[0]), get("OUTPUT_PATH")[1])
    d.set("timezone", as_text(get("TIMEZONE")[0]), get("TIMEZONE")[1])
    d.set("language", as_language(get("DEFAULT_LANG")[0]), get("DEFAULT_LANG")[1])
    d.set("language", "en", "Pelican's default")
    path, where = get("PATH")
    folder = relative_dir(as_text(path)) if as_text(path) else None
    if as_text(path) and folder is None:
        d.warnings.append(f"{where} {path!r} is outside the site or absolute; used content")
    d.set("dir", folder, where)
    d.set(
        "dir",
        "content" if any(f.startswith("content/") for f in d.site.files) else None,
        "pelican-quickstart's content folder",
    )
    d.set("dir", ".", "Pelican's default: the site folder")
    d.set("taxonomies", ("tags", "category"), "Pelican's Tags and Category")
    _pelican_sections(d, get)
    value, where = get("ARTICLE_URL")
    pattern = as_text(value)
    source = f"{where} = {pattern!r}" if pattern else "Pelican's default ARTICLE_URL, '{slug}.html'"
    take_permalink(d, "/" + (pattern or "{slug}.html").lstrip("/"), source, translate_pelican, "/{slug}.html")
    source_of_slug, where = get("SLUGIFY_SOURCE")
    d.set("slug_source", {"title": "title", "basename": "filename"}.get(str(source_of_slug)), where)
    names, where = get("FILENAME_METADATA")
    if isinstance(names, str) and names:
        try:
            groups = set(re.compile(names).groupindex)
        except (re.error, RecursionError, OverflowError) as e:
            groups = {f"none: not a regular expression ({e})"}
        if groups and groups <= {"date", "slug"}:
            d.set("filename_metadata", names, where)
        else:
            d.warnings.append(
                f"{where} reads {', '.join(sorted(groups - {'date', 'slug'}))} from file names; syndicate reads only"
                " date and slug: left out"
            )


def _pelican_sections(d: Draft, get: Callable[[str], tuple[Any, str]]) -> None:
    """ARTICLE_PATHS, when it names folders; else all (the dialect leaves out Pelican's pages/)."""
    articles, where = get("ARTICLE_PATHS")
    given = [p for p in articles if isinstance(p, str)] if isinstance(articles, list | tuple) else []
    paths = []
    for path in given:  # relative to PATH, the content folder: "./posts" is posts, "" all of it
        folder = relative_dir(path.strip() or ".")
        if folder is None:
            d.warnings.append(f"{where}: {path!r} is outside the content folder or absolute; left out")
        else:
            paths.append(folder)
    if paths and "." not in paths:
        tops = tuple(dict.fromkeys(p.split("/", 1)[0] for p in paths))
        d.set("sections", tops, where)
        if any("/" in p for p in paths):
            d.checks.append(
                f"[content] sections: {where} names deeper folders; a section is a top folder: wrote {tops}"
            )
        return
    pages, where = get("PAGE_PATHS")
    d.default("sections", (), "every folder, as Pelican's ARTICLE_PATHS [''] (but pages/, Pelican's PAGE_PATHS)")
    if isinstance(pages, list | tuple) and [str(p).strip("/") for p in pages] != [dialect("pelican").pages_folder]:
        d.checks.append(
            f"[content] sections: {where} is {list(pages)!r}; syndicate takes pages/ for Pelican's pages: name the"
            " folders of articles in sections"
        )


def _python_literals(site: SiteFiles, rel: str) -> dict[str, Any]:
    """NAME = <literal> assignments of a Python settings file, read with ast, never run (a name
    assigned anything else maps to _COMPUTED)."""
    import ast

    shown = printable(site.shown_prefix + rel)
    too_deep = "nested too deeply for Python's parser to read; it is read, not run"
    try:
        tree = ast.parse(site.texts[rel], filename=rel)
    except SyntaxError as e:
        if "too many nested" in e.msg:  # over 200 brackets deep
            raise ConfigError(f"line {e.lineno or 1}: {too_deep}", path=shown) from None
        raise ConfigError(
            f"line {e.lineno or 1}: not valid Python ({e.msg}); it is read, not run", path=shown
        ) from None
    except (MemoryError, RecursionError):  # CPython's parser on `- - - … 1` or `1+1+…` thousands deep
        raise ConfigError(too_deep, path=shown) from None
    except ValueError as e:  # NUL bytes
        raise ConfigError(f"not valid Python ({e}); it is read, not run", path=shown) from None
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            try:
                value = _COMPUTED if isinstance(node, ast.AugAssign) else ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                value = _COMPUTED
            out.update({t.id: value for t in targets if isinstance(t, ast.Name) and t.id.isupper()})
    return out
