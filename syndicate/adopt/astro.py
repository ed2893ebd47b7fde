"""Astro: astro.config.* (read, not run), src/consts.*, the content collections and the route
that renders a post."""

from __future__ import annotations

import posixpath
import re

from .draft import Draft
from .readers import JS_STRING, is_post, js_string, relative_dir, strip_js_comments, under

ASTRO_CONSTS = ("src/consts.ts", "src/consts.js")


ASTRO_CONTENT = tuple(f"src/{n}.{e}" for n in ("content.config", "content/config") for e in ("ts", "js", "mjs", "mts"))


def adopt_astro(d: Draft) -> None:
    ev, texts = d.ev, d.site.texts
    config = strip_js_comments(texts[ev])
    site, base = js_string(config, r"\bsite\s*:\s*"), (js_string(config, r"\bbase\s*:\s*") or "").strip("/")
    d.set("url", f"{site.rstrip('/')}/{base}/" if site and base else site, f"{ev}: site" + " + base" * bool(base))
    d.output_at(js_string(config, r"\boutDir\s*:\s*"), f"{ev}: outDir")
    for rel in ASTRO_CONSTS:
        consts = strip_js_comments(texts.get(rel, ""))
        for key, name in (("title", "SITE_TITLE"), ("description", "SITE_DESCRIPTION")):
            d.set(key, js_string(consts, rf"\b{name}\s*(?::\s*\w+\s*)?=\s*"), f"{rel}: {name}")
    d.set("timezone", "UTC", "Astro reads dates without an offset as UTC")
    d.set("taxonomies", ("tags",), "the blog template's tags")
    candidates = {
        "/".join(f.split("/")[:3]) for f in d.site.files if f.startswith("src/content/") and f.count("/") >= 3
    }
    for rel in ASTRO_CONTENT:  # a content config's glob({ base: "./src/content/blog" })
        for m in re.finditer(r"\bbase\s*:\s*" + JS_STRING, strip_js_comments(texts.get(rel, ""))):
            candidates.add(relative_dir(m.group("s")) or "src/content")
    counts = {c: sum(map(is_post, under(c, d.site.files))) for c in sorted(candidates)}
    best = max(counts, key=lambda c: (counts[c], posixpath.basename(c) == "blog"), default="")
    if not best or not counts[best]:
        d.stand_in(
            "dir",
            "src/content",
            "Astro's content folder (no collection with Markdown found)",
            "[content] dir: no content collection with Markdown found; write the posts' folder",
        )
        d.default("sections", (), "every folder")
        _astro_permalink(d, "blog")
        return
    d.set("dir", best, f"the collection with the most Markdown files ({counts[best]})")
    d.default("sections", (), "the whole collection")
    mdx = sum(1 for f in under(best, d.site.files) if f.lower().endswith(".mdx"))
    if mdx:
        d.checks.append(
            f"[content] dir: {best}/ holds {mdx} .mdx files, which are not Markdown: syndicate leaves them out"
        )
    _astro_permalink(d, posixpath.basename(best))


def _astro_permalink(d: Draft, collection: str) -> None:
    """From the route that renders a post: src/pages/<prefix>/[...slug].astro (or [slug].astro)."""
    routes = []
    for rel in d.site.files:
        if rel.startswith("src/pages/") and posixpath.basename(rel) in ("[...slug].astro", "[slug].astro"):
            prefix = posixpath.dirname(rel)[len("src/pages") :].strip("/")
            routes.append((posixpath.basename(prefix) != collection, prefix.count("/"), rel, prefix))
    if not routes:
        d.stand_in(
            "permalink",
            f"/{collection}/{{path}}/{{name}}/",
            "no route like src/pages/<prefix>/[...slug].astro found",
            "[site] permalink: no src/pages/…/[...slug].astro route found; write the posts' URL pattern",
        )
        return
    _, _, rel, prefix = min(routes)
    rest = "/{path}/{name}/" if "[..." in rel else "/{name}/"  # a rest parameter takes the post's folders too
    d.set("permalink", (f"/{prefix}" if prefix else "") + rest, f"the route {rel} (the post's id)")
