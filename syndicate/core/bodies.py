"""A post file's bytes → clean text, and its body as it is rendered. Pure.

The text is what feeds can carry (UTF-8, ``\\n`` newlines, no control characters XML
forbids); the body is the Markdown after the front matter, prepared the generator's way
(Jekyll's ``excerpt_separator``; the generator's template code done, see
:mod:`syndicate.core.templating`). :func:`post_body` gives the same body later from the file
alone, for a post whose HTML is made after it was parsed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import ContentError
from . import frontmatter
from .dialects import Dialect, dialect
from .found import TEMPLATED, Found
from .frontmatter import FrontMatter
from .model import Problem
from .sources import source_prefix

MAX_FILE_BYTES = 4 * 1024 * 1024
_NONE_FOUND = Found()
# XML 1.0 forbids these even as character references; HTML readers choke on them too.
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# In UTF-8 those are these single bytes (never part of a longer sequence) and U+FFFE/U+FFFF's
# three: a file whose bytes hold none of them is clean, told faster than by the pattern.
_ILLEGAL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])


def may_hold_illegal(data: bytes) -> bool:
    """Could the text of these UTF-8 bytes hold a character :data:`XML_ILLEGAL` matches? (False:
    surely not; ~6 µs for 8 KB where the pattern takes ~40.)"""
    if len(data.translate(None, _ILLEGAL_BYTES)) != len(data):
        return True
    return data.find(b"\xef\xbf") >= 0 and (b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def decode(path: str, data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ContentError(
            path, f"not valid UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8", line=line
        ) from None


def post_body(
    path: str,
    data: bytes,
    generator: str = "syndicate",
    content_dir: str = "content",
    site_url: str = "",
    links: tuple[tuple[str, str], ...] = (),
    site: tuple[tuple[str, str], ...] = (),
) -> str:
    """The Markdown body of a post file, cleaned and prepared exactly as :func:`parse_post` does
    (``links``: the URL of each link target it names, see :func:`syndicate.core.templating.resolve`).

    For making a post's HTML later from its file, without parsing its front matter again.
    Raises ContentError for a file :func:`parse_post` would reject the same way.
    """
    text = _newlines(decode(path, data))
    if may_hold_illegal(data):
        text = XML_ILLEGAL.sub("", text)
    d = dialect(generator)
    fm = frontmatter.split(path, text, pelican=d.name == "pelican")
    return prepared(path, fm, relative(path, content_dir), d, site_url, dict(links), site)[0]


def relative(path: str, content_dir: str) -> str:
    prefix = source_prefix(content_dir)
    return path[len(prefix) :] if path.startswith(prefix) else path


def to_render(fm: FrontMatter, rel: str, d: Dialect) -> str:
    """The body as it is rendered, without the template code (see :func:`prepared`)."""
    return prepared(rel, fm, rel, d, "", {})[0]


def prepared(
    path: str,
    fm: FrontMatter,
    rel: str,
    d: Dialect,
    site_url: str,
    links: Mapping[str, str],
    site: tuple[tuple[str, str], ...] = (),
) -> tuple[str, Found]:
    """The body as it is rendered: Jekyll's excerpt separator made ``<!--more-->``, the
    generator's template code done (links to the URLs in ``links``, ``{{ site.<key> }}`` from
    ``site``: [content] site); and what template code was found."""
    body = fm.body
    if d.name == "jekyll" and "excerpt_separator" in fm.text.lower():
        body = _with_more(body, _separator(fm))
    if d.name == "pelican" and "[TOC]" in body:
        body = _without_toc(body)
    if d.name not in TEMPLATED:
        return body, _NONE_FOUND
    from .templating import Context, expand  # here: syndicate's own posts have no template code

    params = _params(path, fm) if d.name == "hugo" and "param" in body else {}
    return expand(body, d.name, Context(rel, site_url, links, params, dict(site)))


def _without_toc(body: str) -> str:
    """Python-Markdown's ``[TOC]`` marker (a paragraph of its own, outside code) left out: with
    the toc extension Pelican puts a table of in-page links there, without it the text
    ``[TOC]``; neither is of use in a feed reader."""
    lines = body.split("\n")
    keep: list[str] = []
    fence = ""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if fence:
            fence = "" if stripped.startswith(fence) else fence
        elif stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif (
            stripped == "[TOC]"
            and len(line) - len(line.lstrip(" ")) < 4
            and (i == 0 or not lines[i - 1].strip())
            and (i + 1 == len(lines) or not lines[i + 1].strip())
        ):
            continue
        keep.append(line)
    return "\n".join(keep)


def _params(path: str, fm: FrontMatter) -> dict[str, str]:
    """Hugo's page parameters, for ``{{< param x >}}``: the front matter's values (its ``params``
    table first), as text."""
    try:
        meta = frontmatter.load(path, fm)
    except ContentError:
        return {}
    out: dict[str, str] = {}
    table = meta.get("params")
    for source in (meta, table if isinstance(table, dict) else {}):
        for key, value in source.items():
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                out[str(key).lower()] = str(value)
    return out


_SEPARATOR = re.compile(r"^excerpt_separator[ \t]*[:=]([^\n]*)", re.MULTILINE | re.IGNORECASE)


def _separator(fm: FrontMatter) -> str | None:
    """Jekyll's ``excerpt_separator``, as written on its line (read the same way whether the
    front matter is parsed or the body alone is wanted)."""
    m = _SEPARATOR.search(fm.text)
    if not m:
        return None
    value = m.group(1).strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value or None


def _with_more(body: str, separator: str | None) -> str:
    """A body whose summary ends at the post's own separator: that separator made ``<!--more-->``."""
    if not separator or separator == "<!--more-->" or separator not in body:
        return body
    return body.replace(separator, "\n\n<!--more-->\n\n", 1)


def clean_text(path: str, data: bytes, problems: list[Problem]) -> str:
    """A file's bytes as text feeds can carry: at most 4 MiB, UTF-8 (or refused), newlines as
    ``\\n``, control characters XML forbids removed (a warning)."""
    if len(data) > MAX_FILE_BYTES:
        raise ContentError(path, f"file is {len(data) // 1024 // 1024} MiB; a post may be at most 4 MiB")
    text = _newlines(decode(path, data))
    bad = XML_ILLEGAL.search(text) if may_hold_illegal(data) else None
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        count = len(XML_ILLEGAL.findall(text))
        first = f"U+{ord(bad.group()):04X}"
        problems.append(
            Problem(
                path, f"removed {count} control character(s) that feeds cannot carry (first {first})", line, "warning"
            )
        )
        text = XML_ILLEGAL.sub("", text)
    return text
