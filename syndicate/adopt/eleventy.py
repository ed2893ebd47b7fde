"""Eleventy: its JavaScript config (read, not run), package.json, the data folder and the
posts' folder data files."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from ..core.dialects import dialect
from .draft import Draft, person
from .model import Value
from .permalinks import take_permalink, translate_liquid
from .readers import as_language, as_text, is_post, join, js_string, relative_dir, strip_js_comments, under


def eleventy_dirs(config: str, package: str) -> tuple[str, str]:
    """(input folder, data folder), relative to the site, from the config's text (not run):
    ``dir: {input, data}``, ``setInputDirectory(…)``, else ``--input`` in package.json."""
    text = strip_js_comments(config)
    block = re.search(r"\bdir\s*:\s*\{(.*?)\}", text, re.S)
    inner = block.group(1) if block else ""
    input_dir = js_string(inner, r"\binput\s*:\s*") or js_string(text, r"\bsetInputDirectory\s*\(\s*")
    data = js_string(inner, r"\bdata\s*:\s*") or js_string(text, r"\bsetDataDirectory\s*\(\s*")
    if not input_dir:
        flag = re.search(r"--input[= ]+[\"']?([^\s\"'&;|]+)", package)
        input_dir = flag.group(1) if flag else None
    folder = relative_dir(input_dir or ".") or "."
    return folder, relative_dir(posixpath.join(folder, data or "_data")) or join(folder, "_data")


def eleventy_post_folder(input_dir: str, files: tuple[str, ...]) -> str | None:
    counts = dict.fromkeys(("posts", "blog"), 0)
    for rel in under(input_dir, files):
        top, _, rest = rel.partition("/")
        if top in counts and rest and is_post(rel):
            counts[top] += 1
    best = max(counts, key=lambda n: (counts[n], n == "posts"))
    return best if counts[best] else None


def adopt_eleventy(d: Draft) -> None:
    ev, texts = d.ev, d.site.texts
    input_dir, data_dir = eleventy_dirs(texts[ev], texts.get("package.json", ""))
    for name in ("metadata.json", "site.json", "metadata.js", "metadata.mjs"):
        rel = join(data_dir, name)
        if rel in texts and name.endswith(".json"):
            _site_data(d, rel, d.parse(rel))
        elif rel in texts:
            _site_data(d, f"{rel} (read, not run)", _js_site_data(texts[rel]))
    prefix = (js_string(strip_js_comments(texts[ev]), r"\bpathPrefix\s*:\s*") or "").strip("/")
    url = d.values.get("url")
    if prefix and url:
        d.values["url"] = Value(f"{str(url.value).rstrip('/')}/{prefix}/", f"{url.source} + {ev}: pathPrefix")
    d.set("timezone", "UTC", "Eleventy reads dates without an offset as UTC")
    d.set("dir", input_dir, f"{ev}: dir.input" if input_dir != "." else "Eleventy's input folder: the site")
    d.set("taxonomies", ("tags",), "Eleventy's tags")
    folder = eleventy_post_folder(input_dir, d.site.files)
    if not d.set("sections", (folder,) if folder else (), f"the folder of {input_dir}/ that holds the posts"):
        d.stand_in(
            "sections",
            (),
            "no posts/ or blog/ folder with Markdown: every folder",
            f"[content] sections: no posts/ or blog/ folder with Markdown in {input_dir}/; name the posts' folders",
        )
    pattern: object = None
    where = ""
    for rel in sorted(r for r in texts if r.endswith(".11tydata.json")):
        data = d.parse(rel)
        tags = data.get("tags")
        listed = (
            [tags]
            if isinstance(tags, str)
            else [t for t in tags if isinstance(t, str)]
            if isinstance(tags, list)
            else []
        )
        other = [t for t in listed if t not in dialect("eleventy").collection_tags]
        if other:  # "posts" only puts a post in a collection: syndicate knows that one
            d.checks.append(
                f"[content] taxonomies: {rel} gives every post the tag {', '.join(map(repr, other))} (an Eleventy"
                " collection, maybe): syndicate makes a feed of it too"
            )
        if "permalink" in data and pattern is None:
            pattern, where = data["permalink"], rel
    default = dialect("eleventy").permalink
    if isinstance(pattern, str):
        take_permalink(d, pattern, f"{where}: permalink {pattern!r}", translate_liquid, default)
    elif pattern is not None:
        d.checks.append(f"[site] permalink: {where} has permalink: {json.dumps(pattern)}; wrote Eleventy's default")
    d.set("permalink", default, "Eleventy's default: the post's folder and file name")


def _site_data(d: Draft, rel: str, data: Mapping[str, Any]) -> None:
    for key in ("title", "url", "description"):
        d.set(key, as_text(data.get(key)), f"{rel}: {key}")
    d.set("language", as_language(data.get("language")), f"{rel}: language")
    person(d, data.get("author"), f"{rel}: author")


def _js_site_data(text: str) -> dict[str, Any]:
    """title, url, description, language and author of a ``_data/metadata.js``: string values
    only, read from the text."""
    text = strip_js_comments(text)
    out: dict[str, Any] = {k: js_string(text, rf"\b{k}\s*:\s*") for k in ("title", "url", "description", "language")}
    block = re.search(r"\bauthor\s*:\s*\{(.*?)\}", text, re.S)
    inner = block.group(1) if block else ""
    out["author"] = (
        {"name": js_string(inner, r"\bname\s*:\s*"), "email": js_string(inner, r"\bemail\s*:\s*")}
        if block
        else js_string(text, r"\bauthor\s*:\s*")
    )
    return out
