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
from .eleventy_templates import adopt_feed_templates, adopt_layout_permalink
from .model import Value
from .permalinks import take_folder_permalink, take_permalink, translate_liquid
from .readers import as_language, as_text, is_post, join, js_string, relative_dir, strip_js_comments, under

# A block ends at the next brace ({ or }): "dir:{" repeated without a "}" once made each one
# scan to the end of the file (quadratic: 100 KB, 51 s); now every character is read once.
_DIR_BLOCK = re.compile(r"\bdir\s*:\s*\{([^{}]*)\}")
_AUTHOR_BLOCK = re.compile(r"\bauthor\s*:\s*\{([^{}]*)\}")


def eleventy_dirs(config: str, package: str) -> tuple[str, str]:
    """(input folder, data folder), relative to the site, from the config's text (not run):
    ``dir: {input, data}``, ``setInputDirectory(…)``, else ``--input`` in package.json."""
    input_dir, data = _dirs_given(config, package)
    folder = relative_dir(input_dir or ".") or "."  # one outside the site: the site (adopt_eleventy warns)
    return folder, relative_dir(posixpath.join(folder, data or "_data")) or join(folder, "_data")


def _dirs_given(config: str, package: str) -> tuple[str | None, str | None]:
    """(input folder, data folder) as the config or package.json writes them (None: not given)."""
    text = strip_js_comments(config)
    block = _DIR_BLOCK.search(text)
    inner = block.group(1) if block else ""
    input_dir = js_string(inner, r"\binput\s*:\s*") or js_string(text, r"\bsetInputDirectory\s*\(\s*")
    data = js_string(inner, r"\bdata\s*:\s*") or js_string(text, r"\bsetDataDirectory\s*\(\s*")
    if not input_dir:
        flag = re.search(r"--input[= ]+[\"']?([^\s\"'&;|]+)", package)
        input_dir = flag.group(1) if flag else None
    return input_dir, data


def eleventy_output(config: str, package: str) -> str | None:
    """The output folder, from the config's text (not run): ``dir: {output}``,
    ``setOutputDirectory(…)``, else ``--output`` in package.json; None: Eleventy's ``_site``."""
    text = strip_js_comments(config)
    block = _DIR_BLOCK.search(text)
    found = js_string(block.group(1), r"\boutput\s*:\s*") if block else None
    found = found or js_string(text, r"\bsetOutputDirectory\s*\(\s*")
    if not found:
        flag = re.search(r"--output[= ]+[\"']?([^\s\"'&;|]+)", package)
        found = flag.group(1) if flag else None
    return found


def eleventy_post_folder(input_dir: str, files: tuple[str, ...]) -> str | None:
    counts = dict.fromkeys(("posts", "blog"), 0)
    for rel in under(input_dir, files):
        top, _, rest = rel.partition("/")
        if top in counts and rest and is_post(rel):
            counts[top] += 1
    best = max(counts, key=lambda n: (counts[n], n == "posts"))
    return best if counts[best] else None


# A folder's directory data files, most to least precedence (Eleventy's "Template and Directory
# Data Files": blog/blog.11tydata.js, then .11tydata.json, then blog/blog.json).
_DIR_DATA = (".11tydata.js", ".11tydata.cjs", ".11tydata.mjs", ".11tydata.json", ".json")


_IN_CODE = object()  # a permalink that only running the JavaScript could tell


def eleventy_data_files(input_dir: str, folder: str | None, files: tuple[str, ...]) -> list[str]:
    """The directory data files of the posts' folder and of each folder under it that holds
    posts (``blog/blog.json``, ``blog/2023/2023.11tydata.json``…), those that exist, by folder
    (shallowest first) and precedence."""
    if not folder:
        return []
    base = join(input_dir, folder)
    listed = set(files)
    dirs: set[str] = set()
    for f in files:
        if f.startswith(base + "/") and is_post(f):
            here = posixpath.dirname(f)
            while here != base and here.startswith(base + "/"):
                dirs.add(here)
                here = posixpath.dirname(here)
            dirs.add(base)
    wanted = (
        f"{d}/{posixpath.basename(d)}{ext}" for d in sorted(dirs, key=lambda x: (x.count("/"), x)) for ext in _DIR_DATA
    )
    return [f for f in wanted if f in listed]


def adopt_eleventy(d: Draft) -> None:
    ev, texts = d.ev, d.site.texts
    input_dir, data_dir = eleventy_dirs(texts[ev], texts.get("package.json", ""))
    given, data_given = _dirs_given(texts[ev], texts.get("package.json", ""))
    if given and relative_dir(given) is None:
        d.warnings.append(f"{ev}: the input folder {given!r} is outside the site or absolute; used the site folder")
    if data_given and relative_dir(posixpath.join(input_dir, data_given)) is None:
        d.warnings.append(f"{ev}: the data folder {data_given!r} is outside the site or absolute; used {data_dir}")
    for name in ("metadata.json", "site.json", "metadata.js", "metadata.mjs"):
        rel = join(data_dir, name)
        if rel in texts and name.endswith(".json"):
            _site_data(d, rel, d.parse(rel))
        elif rel in texts:
            _site_data(d, f"{rel} (read, not run)", _js_site_data(texts[rel]))
    adopt_feed_templates(d, input_dir)
    prefix = (js_string(strip_js_comments(texts[ev]), r"\bpathPrefix\s*:\s*") or "").strip("/")
    url = d.values.get("url")
    if prefix and url:
        d.values["url"] = Value(f"{str(url.value).rstrip('/')}/{prefix}/", f"{url.source} + {ev}: pathPrefix")
    d.set("timezone", "UTC", "Eleventy reads dates without an offset as UTC")
    d.output_at(eleventy_output(texts[ev], texts.get("package.json", "")), f"{ev}: dir.output")
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
    default = dialect("eleventy").permalink
    found: dict[str, tuple[object, str]] = {}  # folder → (its permalink, the file it came from)
    base = join(input_dir, folder or "")
    layout: object = None  # the posts' layout, as their folder's data names it
    for rel in eleventy_data_files(input_dir, folder, d.site.files):
        if rel not in texts:
            continue
        here = posixpath.dirname(rel)
        if rel.endswith(".json"):
            data: Mapping[str, Any] = d.parse(rel)
        else:  # JavaScript, read not run: a permalink written as a string literal
            code = strip_js_comments(texts[rel])
            value = js_string(code, r"\bpermalink\s*:\s*")
            data = {"permalink": value or _IN_CODE} if re.search(r"\bpermalink\s*[:(]", code) else {}
            data = {**data, "layout": js_string(code, r"\blayout\s*:\s*")}
            rel = f"{rel} (read, not run)"
        _collection_tags(d, rel, data)
        if "permalink" in data and here not in found:
            found[here] = (data["permalink"], rel)
        layout = data.get("layout") if here == base and layout is None else layout
    for here, (pattern, where) in sorted(found.items()):
        sub = here[len(input_dir) + 1 :] if input_dir not in ("", ".") else here
        if not isinstance(pattern, str):
            what = "code" if pattern is _IN_CODE else json.dumps(pattern)
            d.checks.append(
                f"[site] permalink: {where} has permalink: {what}, which init cannot read; write its pattern"
            )
        elif here == base:
            take_permalink(d, pattern, f"{where}: permalink {pattern!r}", translate_liquid, default)
        else:
            take_folder_permalink(d, sub, pattern, f"{where}: permalink {pattern!r}", translate_liquid)
    if folder and base not in found:  # a layout's front matter comes after the folders' data files
        adopt_layout_permalink(d, input_dir, base, layout)
    d.set("permalink", default, "Eleventy's default: the post's folder and file name")


def _collection_tags(d: Draft, rel: str, data: Mapping[str, Any]) -> None:
    tags = data.get("tags")
    listed = (
        [tags] if isinstance(tags, str) else [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    )
    other = [t for t in listed if t not in dialect("eleventy").collection_tags]
    if other:  # "posts" only puts a post in a collection: syndicate knows that one
        d.checks.append(
            f"[content] taxonomies: {rel} gives every post the tag {', '.join(map(repr, other))} (an Eleventy"
            " collection, maybe): syndicate makes a feed of it too"
        )


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
    block = _AUTHOR_BLOCK.search(text)
    inner = block.group(1) if block else ""
    out["author"] = (
        {"name": js_string(inner, r"\bname\s*:\s*"), "email": js_string(inner, r"\bemail\s*:\s*")}
        if block
        else js_string(text, r"\bauthor\s*:\s*")
    )
    return out
