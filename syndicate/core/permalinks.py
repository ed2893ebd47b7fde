"""A post's URL, as its generator makes it: ``[site] permalink`` (or the post's own URL key)
with each placeholder filled the way that generator fills it. Pure.

Placeholders are written ``{name}``; the generators' own ``:name`` (Jekyll, Hugo) is read too,
so a permalink can be copied from ``_config.yml`` or ``hugo.toml`` as it is:

- ``{slug}``: the front-matter slug, else the file name (Hugo and Pelican: the title), made a
  URL segment by the generator's slug function;
- ``{name}``: the slug key, else the file name: the last segment of a path-based URL;
- ``{title}``: Jekyll's ``:title`` (the slug or file name, case kept); elsewhere the title;
- ``{filename}``: the file name without a date prefix (a bundle's folder name);
- ``{path}``, ``{sections}``: the folders under the content folder; ``{section}``: the first;
- ``{categories}``: the categories joined by ``/`` (Jekyll: lower case); ``{category}``: the first;
- ``{year}`` ``{month}`` ``{day}`` ``{hour}`` ``{minute}`` ``{second}`` ``{short_year}``
  ``{i_month}`` ``{i_day}`` ``{y_day}``: the date, in the site's time zone.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from .dialects import Dialect, file_name, folder_path, jekyll_slug, keep_slug
from .slugs import url_segment

_BRACED = re.compile(r"\{([a-z_]+)\}")
_COLON = re.compile(r":([a-z_]+)")
# Jekyll's named permalink styles (its docs, "Built-in formats").
JEKYLL_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}
_ALIASES = {"contentbasename": "filename", "yearday": "y_day", "output_ext": "", "slugorfilename": "name"}
_ALIASES |= {"slugorcontentbasename": "name"}


def normal_template(template: str, fields: frozenset[str]) -> str:
    """A permalink in the generators' syntax (``:year``, Jekyll's style names, ``:output_ext``)
    → ours (``{year}``, ``.html``); one already in ours is returned as it is."""
    text = JEKYLL_STYLES.get(template, template)

    def colon(m: re.Match[str]) -> str:
        word = m.group(1)
        if word == "output_ext":
            return ".html"
        word = _ALIASES.get(word, word)
        return "{" + word + "}" if word in fields else m.group(0)

    return _COLON.sub(colon, text)


_TOKEN = re.compile(r"(?<![A-Za-z0-9]):([a-z_]+)")


def unknown_tokens(template: str) -> list[str]:
    """The generator-syntax tokens (``:week``) that :func:`normal_template` left untranslated."""
    return [":" + word for word in _TOKEN.findall(template) if not word.isdigit()]


def pattern_for(rel: str, permalink: str, by_folder: tuple[tuple[str, str], ...]) -> str:
    """The pattern for the post at ``rel`` (under the content folder): that of the deepest folder
    (or the file itself) of ``[site.permalinks]`` that holds it, else ``[site] permalink``."""
    best, found = -1, permalink
    for folder, pattern in by_folder:
        if (rel == folder or rel.startswith(folder + "/")) and len(folder) > best:
            best, found = len(folder), pattern
    return found


def placeholders(template: str) -> set[str]:
    return set(_BRACED.findall(template))


@dataclass(frozen=True, slots=True)
class UrlFacts:
    """What a post's URL can be made of."""

    rel: str  # path under the content folder
    title: str
    slug_key: str | None  # the front matter's slug
    published: datetime  # as the generator holds it: in the site's time zone, or its own offset
    categories: tuple[str, ...]
    slug_source: str = ""  # [content] slug_source: "title", "filename", or "" (the generator's rule)


def values(d: Dialect, facts: UrlFacts) -> dict[str, str]:
    """Each placeholder's value for one post (URL segments, not yet percent-encoded)."""
    given = facts.slug_key
    from_file = file_name(facts.rel, strict=d.name == "syndicate")
    if not d.adopted:  # syndicate's own rule, as it always was: the slug as written, else the file's
        given = given or keep_slug(from_file)
    from_title = facts.slug_source == "title" or (not facts.slug_source and d.slug_from_title)
    t = facts.published
    folders = [d.slugify(f) for f in folder_path(facts.rel, d)]
    if not d.adopted:
        slug = title = given or ""  # the slug key as written (checked by slug_problem), else the file's
        categories = "/".join(facts.categories)
    elif d.name == "jekyll":
        slug = jekyll_slug(given or from_file)
        title = jekyll_slug(given or from_file, pretty=True, cased=True)
        categories = "/".join(dict.fromkeys(c.lower() for c in facts.categories))
    else:
        slug = given if given and d.slug_verbatim else d.slugify(given or (facts.title if from_title else from_file))
        title = d.slugify(facts.title)
        categories = "/".join(d.slugify(c) for c in facts.categories)
    if given and d.slug_names_file:
        name = given if d.slug_verbatim or not d.adopted else d.slugify(given)
    else:
        name = d.slugify(file_name(facts.rel, keep_date=True) if d.name_keeps_date else from_file)
    return {
        "slug": slug,
        "name": name,
        "title": title,
        "filename": d.slugify(file_name(facts.rel, keep_date=True) if d.filename_keeps_date else from_file),
        "file_slug": d.slugify(from_file),
        "path": "/".join(folders),
        "sections": "/".join(folders),
        "section": folders[0] if folders else "",
        "categories": categories,
        "category": d.slugify(facts.categories[0]) if facts.categories else "",
        "year": f"{t.year:04d}",
        "short_year": f"{t.year % 100:02d}",
        "month": f"{t.month:02d}",
        "i_month": str(t.month),
        "day": f"{t.day:02d}",
        "i_day": str(t.day),
        "y_day": f"{t.timetuple().tm_yday:03d}",
        "hour": f"{t.hour:02d}",
        "minute": f"{t.minute:02d}",
        "second": f"{t.second:02d}",
    }


def expand(template: str, filled: dict[str, str], lower: bool = False, literal: bool = False) -> str | None:
    """A template with its placeholders filled → a URL path starting with "/": each value's
    segments percent-encoded, the template's own text as written (``literal``: encoded too,
    for a path from front matter); an empty value (``{categories}``) leaves no ``//``. None
    when a value would be a segment ``.`` or ``..``: a URL that leaves its folder."""
    if lower:
        template = template.lower()
    segments: list[str] = [""]
    for i, piece in enumerate(_BRACED.split(template)):  # text, name, text, name, …
        encode: Callable[[str], str] | None = _literal if literal else None
        parts = piece.split("/")
        if i % 2:
            value = filled.get(piece)
            if value is None:
                parts, encode = ["{" + piece + "}"], None  # not ours: left as written
            else:
                parts, encode = (value.lower() if lower else value).split("/"), url_segment
                if any(p in (".", "..") for p in parts):
                    return None
        first, *rest = [encode(p) if encode else p for p in parts]
        segments[-1] += first
        segments.extend(rest)
    trailing = segments[-1] == ""
    kept = [s for s in segments if s and s != "."]
    if not kept:
        return "/"
    return "/" + "/".join(kept) + ("/" if trailing else "")


def _literal(segment: str) -> str:
    """A segment written in front matter, percent-encoded where it is not already."""
    return quote(segment, safe="-._~!$&'()*+,;=:@%")


# The spaces are dropped by the code, not the pattern: ``\{\{\s*([^{}]*?)\s*\}\}`` was quadratic
# on "{{" and spaces that never close (a 4 MiB permalink: hours, outside any deadline).
_LIQUID = re.compile(r"\{\{([^{}]*)\}\}")


def own_url(value: Any, d: Dialect, filled: dict[str, str], rel: str) -> tuple[str | None, str | None]:
    """A post's own URL key (Jekyll/Eleventy ``permalink``, Hugo/Pelican ``url``, Zola ``path``)
    → (URL path, None), or (None, why it cannot be used)."""
    if not isinstance(value, str) or not value.strip():
        return None, "must be a path like /notes/my-post/"
    text = value.strip()
    if "{%" in text:
        return None, f"{text!r} uses template tags syndicate cannot run; write the path out"

    def liquid(m: re.Match[str]) -> str:
        what = "".join(m.group(1).split()).lower()
        if what == "page.fileslug":
            return filled["file_slug"]
        if what == "page.filepathstem":
            return "/" + rel.rsplit(".", 1)[0]
        return "\x00"

    text = _LIQUID.sub(liquid, text)
    if "\x00" in text:
        return None, f"{value.strip()!r} uses template code syndicate cannot run; write the path out"
    if text.startswith(("http://", "https://", "//")) or "\\" in text or ".." in text.split("/"):
        return None, f"{value.strip()!r} must be a path on the site, like /notes/my-post/"
    if d.name == "jekyll":
        text = normal_template(text, frozenset(filled))
        unknown = unknown_tokens(text)
        if unknown:
            return None, f"{value.strip()!r} uses {unknown[0]}, which syndicate cannot fill; write it out"
    if d.name == "zola" and not text.endswith("/"):
        text += "/"
    if text.endswith("index.html"):
        text = text[: -len("index.html")]
    path = expand(text if text.startswith("/") else "/" + text, filled, literal=True)  # as written: no lower case
    if path is None:
        return None, f"{value.strip()!r} would lead out of its folder ('..'); write the path out"
    return path, None


def template_problem(template: str, allowed: frozenset[str]) -> str | None:
    """Why a ``{placeholder}`` template cannot be used (None: it can). Placeholders are plain names
    from ``allowed``: no attribute or index access (``{title.__class__}``), no conversion."""
    try:
        fields_used = [
            (name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None
        ]
    except ValueError as e:
        return f"is not a valid template ({e}; write a literal brace as {{{{ or }}}})"
    for name, spec, conv in fields_used:
        if name not in allowed or spec or conv:
            shown = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            return f"uses {shown}; it may use only {', '.join('{' + a + '}' for a in sorted(allowed))}"
    return None
