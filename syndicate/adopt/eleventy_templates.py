"""Eleventy's templates as init reads them (not run): the layout the posts use and the permalink
its front matter gives (a layout's front matter is part of Eleventy's data cascade), the date
filters the config defines that a permalink may use, and the feed files other templates make."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.dialects import dialect
from ..core.frontmatter import YamlProblem, safe_yaml
from .draft import Draft, person
from .permalinks import take_permalink, translate_liquid
from .readers import JS_STRING, as_language, as_text, is_post, join, js_string, relative_dir, strip_js_comments

# The template languages Eleventy reads by default (JavaScript ones are code: not read).
TEMPLATE_EXTS = (".njk", ".liquid", ".html", ".md", ".hbs", ".mustache", ".ejs", ".haml", ".pug", ".webc")
MAX_TEMPLATES = 2000  # templates looked into, at most (a site's layouts and top-level pages: a few dozen)


def includes_dirs(config: str, input_dir: str) -> tuple[str, str | None]:
    """(the includes folder, the layouts folder when it is another), relative to the site:
    ``dir: {includes, layouts}`` or ``setIncludesDirectory``/``setLayoutsDirectory``; Eleventy's
    default ``_includes``. Both are relative to the input folder."""
    text = strip_js_comments(config)
    block = re.search(r"\bdir\s*:\s*\{([^{}]*)\}", text)
    inner = block.group(1) if block else ""
    includes = js_string(inner, r"\bincludes\s*:\s*") or js_string(text, r"\bsetIncludesDirectory\s*\(\s*")
    layouts = js_string(inner, r"\blayouts\s*:\s*") or js_string(text, r"\bsetLayoutsDirectory\s*\(\s*")

    def folder(name: str | None) -> str | None:
        return relative_dir(posixpath.join(input_dir, name)) if name else None

    return folder(includes or "_includes") or join(input_dir, "_includes"), folder(layouts)


def layout_aliases(config: str) -> dict[str, str]:
    """``addLayoutAlias("post", "layouts/post.njk")``: alias → layout path."""
    text = strip_js_comments(config)
    lead = r"\baddLayoutAlias\s*\(\s*"
    found = re.finditer(lead + r"([\"'])([^\"'\n]{1,200})\1\s*,\s*([\"'])([^\"'\n]{1,300})\3", text)
    return {m.group(2).strip(): m.group(4).strip() for m in found}


def template_files(input_dir: str, config: str, files: Iterable[str], posts_folder: str | None) -> list[str]:
    """The templates init looks into: every one in the includes and layouts folders (layouts),
    and the input folder's other non-Markdown templates outside the posts' folder (feeds)."""
    includes, layouts = includes_dirs(config, input_dir)
    folders = tuple(f + "/" for f in (includes, layouts) if f)
    posts = join(input_dir, posts_folder) + "/" if posts_folder else None
    lead = "" if input_dir in ("", ".") else input_dir.rstrip("/") + "/"
    out: list[str] = []
    for rel in files:
        if not rel.endswith(TEMPLATE_EXTS) or not rel.startswith(lead):
            continue
        if rel.startswith(folders) or (not rel.endswith(".md") and not (posts and rel.startswith(posts))):
            out.append(rel)
        if len(out) >= MAX_TEMPLATES:
            break
    return out


def front_matter(text: str) -> Mapping[str, Any] | None:
    """A template's front matter as Eleventy reads it (YAML, or ``---json``); None when it has
    none, it is JavaScript (``---js``) or it does not parse."""
    first, _, rest = text.partition("\n")
    lang = first.strip()
    if not lang.startswith("---") or lang.strip("-") not in ("", "yaml", "json"):
        return None
    end = re.search(r"^---[ \t]*\r?$", rest, re.MULTILINE)
    if not end:
        return None
    block = rest[: end.start()]
    try:
        data = json.loads(block) if lang.strip("-") == "json" else safe_yaml(block)
    except (ValueError, YamlProblem, RecursionError):  # not read, as if it had none
        return None
    return data if isinstance(data, Mapping) else None


def find_layout(
    name: str, aliases: Mapping[str, str], includes: str, layouts: str | None, files: Iterable[str]
) -> str | None:
    """The file a ``layout:`` value names, as Eleventy finds it: an alias first, then the path
    in the layouts folder (else the includes folder), as written or with a template extension."""
    name = aliases.get(name, name)
    folder = layouts or includes
    rel = relative_dir(posixpath.join(folder, name))
    if rel is None:
        return None
    listed = set(files)
    if rel in listed:
        return rel
    return next((rel + ext for ext in TEMPLATE_EXTS if rel + ext in listed), None)


def layout_permalink(
    first: str,
    texts: Mapping[str, str],
    aliases: Mapping[str, str],
    includes: str,
    layouts: str | None,
    files: tuple[str, ...],
) -> tuple[object, str] | None:
    """(the permalink, the layout file it is in) that the layout ``first`` and the layouts it is
    in (its own ``layout:``…) give, the nearest first; None when none gives one."""
    name: object = first
    seen: set[str] = set()
    while isinstance(name, str) and name.strip() and len(seen) < 10:
        rel = find_layout(name.strip(), aliases, includes, layouts, files)
        if rel is None or rel in seen or rel not in texts:
            return None
        seen.add(rel)
        data = front_matter(texts[rel]) or {}
        if "permalink" in data:
            return data["permalink"], rel
        name = data.get("layout")
    return None


def posts_layout(posts: Mapping[str, str], folder: str) -> str | None:
    """The ``layout:`` every post under ``folder`` names in its front matter, when they all name
    the same one; else None."""
    names: set[object] = set()
    for rel, text in posts.items():
        if rel.startswith(folder + "/") and is_post(rel):
            names.add((front_matter(text) or {}).get("layout"))
            if len(names) > 1:
                return None
    name = next(iter(names), None)
    return name.strip() if isinstance(name, str) and name.strip() else None


# Luxon's toFormat tokens → syndicate's placeholders (the dates Eleventy gives are UTC).
_LUXON = {
    **{"yyyy": "{year}", "y": "{year}", "yy": "{short_year}", "MM": "{month}", "LL": "{month}"},
    **{"M": "{i_month}", "L": "{i_month}", "dd": "{day}", "d": "{i_day}", "ooo": "{y_day}"},
}
_ALL_DASHES_TO_SLASHES = (
    r"\.replace\s*\(\s*/-/g\s*,\s*[\"']/[\"']\s*\)"
    r"|\.replaceAll\s*\(\s*(?:/-/g|[\"']-[\"'])\s*,\s*[\"']/[\"']\s*\)"
    r"|\.split\s*\(\s*[\"']-[\"']\s*\)\s*\.join\s*\(\s*[\"']/[\"']\s*\)"
)
_ISO_CUT = r"\.\s*toISOString\s*\(\s*\)\s*\.\s*(?:slice|substring|substr)\s*\(\s*0\s*,\s*(\d{1,2})\s*\)"
_ISO_SLICE = {4: "{year}", 7: "{year}-{month}", 10: "{year}-{month}-{day}"}


def date_filters(config: str) -> dict[str, str]:
    """The filters the config defines (``addFilter("slugDate", d => …)``) whose body is a date
    format init recognises, lower-cased name → syndicate's placeholders: luxon's
    ``toFormat("y/MM")``, ``toISOString().slice(0, 10)`` (with ``.replace(/-/g, "/")``)."""
    text = strip_js_comments(config)
    out: dict[str, str] = {}
    for m in re.finditer(r"\badd(?:Nunjucks|Liquid|JavaScript)?Filter\s*\(\s*" + JS_STRING + r"\s*,", text):
        body = _call_body(text, m.end())
        made = _date_format(body)
        if made:
            out[m.group("s").lower()] = made
    return out


def _call_body(text: str, start: int) -> str:
    """The text from ``start`` to the parenthesis that closes the call it is in (strings skipped);
    at most 2,000 characters."""
    depth, i, quote = 1, start, ""
    end = min(len(text), start + 2000)
    while i < end:
        ch = text[i]
        if quote:
            i += 2 if ch == "\\" else 1
            quote = "" if ch == quote else quote
            continue
        if ch in "\"'`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return ""


def _date_format(body: str) -> str | None:
    formats = re.findall(r"\.\s*toFormat\s*\(\s*" + JS_STRING + r"\s*\)", body)
    iso = re.findall(_ISO_CUT, body)
    if len(formats) + len(iso) != 1 or (formats and "toISOString" in body):
        return None
    if iso:
        made = _ISO_SLICE.get(int(iso[0]))
        dashes = re.search(_ALL_DASHES_TO_SLASHES, body)
        return made.replace("-", "/") if made and dashes else made
    fmt = formats[0][1]
    tokens = [m.group(0) for m in re.finditer(r"([A-Za-z])\1*|[/\-_.]", fmt)]
    if not tokens or "".join(tokens) != fmt or any(t[0].isalpha() and t not in _LUXON for t in tokens):
        return None
    return "".join(_LUXON.get(t, t) for t in tokens)


def adopt_layout_permalink(d: Draft, input_dir: str, base: str, named: object) -> None:
    """[site] permalink from the layout of the posts in ``base`` (``named`` by their folder's
    data, else by every post's front matter): its front matter's permalink (or a layout's it is
    in), translated with the config's date filters; a filter init cannot read gets the
    generator's default and a check line naming the layout and the filter."""
    texts, config = {**d.site.pages, **d.site.texts}, d.site.texts[d.ev]
    name = named if isinstance(named, str) else posts_layout(d.site.pages, base)
    if not name:
        return
    includes, layouts = includes_dirs(config, input_dir)
    found = layout_permalink(name, texts, layout_aliases(config), includes, layouts, d.site.files)
    if found is None:
        return
    pattern, rel = found
    if not isinstance(pattern, str):
        d.checks.append(
            f"[site] permalink: {rel} has permalink: {json.dumps(pattern)}, which init cannot read; write its pattern"
        )
        return
    filters = date_filters(config)
    source = f"{rel}: permalink {pattern!r} (the posts' layout)"
    take_permalink(d, pattern, source, lambda p: translate_liquid(p, filters), dialect("eleventy").permalink)
    unknown = [
        f for f in re.findall(r"\{\{-?\s*page\.date\s*\|\s*([A-Za-z_$][\w$]*)", pattern) if f.lower() not in filters
    ]
    if d.values["permalink"].check and unknown:
        d.checks.append(
            f"[site] permalink: the posts' layout {rel} makes their URLs with the filter {unknown[0]!r} that"
            f" {d.ev} defines, which init cannot run; write the pattern it gives"
        )


def adopt_feed_templates(d: Draft, input_dir: str) -> None:
    """The feed files the site's own templates make (a ``permalink:`` ending in ``.xml`` or
    ``.json``, like ``feed.njk``'s ``atom.xml``): syndicate's feeds take other names. Such a
    template's ``metadata`` (title, url, author…) gives what the data files did not."""
    includes, layouts = includes_dirs(d.site.texts[d.ev], input_dir)
    skipped = tuple(f + "/" for f in (includes, layouts) if f)
    for rel, text in sorted(d.site.pages.items()):
        if rel.startswith(skipped) or rel.endswith(".md"):
            continue
        data = front_matter(text) or {}
        link = data.get("permalink")
        if not isinstance(link, str) or not link.strip().lower().endswith((".xml", ".json")):
            continue
        d.feed_named(link.strip(), f"{rel}: permalink")
        meta = data.get("metadata")
        if isinstance(meta, Mapping):
            for key in ("title", "url", "description"):
                d.set(key, as_text(meta.get(key)), f"{rel}: metadata.{key}")
            d.set("language", as_language(meta.get("language")), f"{rel}: metadata.language")
            person(d, meta.get("author"), f"{rel}: metadata.author")
