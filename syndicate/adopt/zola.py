"""Zola: config.toml. Zola renders every Markdown page of content/ but the sections' _index.md
(the root section's own pages, nested and transparent sections, pages of folders without an
_index.md) unless it says ``render = false`` or is a draft; its feeds list those with a date."""

from __future__ import annotations

import posixpath

from ..core.dialects import dialect
from .draft import Draft, person
from .readers import as_language, as_table, as_text, is_post, under


def adopt_zola(d: Draft) -> None:
    ev, cfg = d.ev, d.parse(d.ev)
    code = as_text(cfg.get("default_language")) or "en"
    own = as_table(as_table(cfg.get("languages")).get(code))  # a multilingual site's [languages.<default>]
    for key in ("title", "description"):  # the first found wins
        d.set(key, as_text(cfg.get(key)), f"{ev}: {key}")
        d.set(key, as_text(own.get(key)), f"{ev}: languages.{code}.{key}")
    d.set("url", as_text(cfg.get("base_url")), f"{ev}: base_url")
    d.output_at(as_text(cfg.get("output_dir")), f"{ev}: output_dir")
    person(d, cfg.get("author"), f"{ev}: author")  # Zola 0.19's; else a theme's extra.author
    person(d, as_table(cfg.get("extra")).get("author"), f"{ev}: extra.author")
    d.set("language", as_language(cfg.get("default_language")), f"{ev}: default_language")
    d.set("timezone", "UTC", "Zola reads dates without an offset as UTC")
    d.set("dir", "content", "Zola's content folder")
    where = "taxonomies" if "taxonomies" in cfg else f"languages.{code}.taxonomies"
    raw = cfg.get("taxonomies", own.get("taxonomies"))
    names = [as_text(as_table(t).get("name")) for t in raw] if isinstance(raw, list) else []
    if not d.set("taxonomies", tuple(dict.fromkeys(n for n in names if n)), f"{ev}: {where}"):
        d.default("taxonomies", (), f"{ev} has no taxonomies: no tag feeds")
    pages = [
        f for f in under("content", d.site.files) if is_post(f) and posixpath.basename(f).rsplit(".", 1)[0] != "_index"
    ]
    d.default(  # Zola renders every page: the root section's, nested, transparent and orphan ones alike
        "sections",
        (),
        f"every folder: Zola renders every page of content/ ({len(pages)} found); those without a date are pages",
    )
    d.set("permalink", dialect("zola").permalink, "Zola: the section's path and the page's slug")
