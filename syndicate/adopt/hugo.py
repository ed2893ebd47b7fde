"""Hugo: hugo.toml/config.* and the config/_default/ folder."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from ..core.dialects import dialect
from .draft import Draft, person
from .model import Value
from .permalinks import take_permalink, translate_colon
from .readers import as_language, as_table, as_text, is_post, lower_keys, relative_dir, under


def adopt_hugo(d: Draft) -> None:
    cfg, origin = _hugo_config(d)
    params = as_table(cfg.get("params"))

    def at(key: str) -> str:  # where a key was read: "hugo.toml: params.author"
        return f"{origin.get(key.split('.', 1)[0].lower(), d.ev)}: {key}"

    d.set("title", as_text(cfg.get("title")), at("title"))
    d.set("url", as_text(cfg.get("baseurl")), at("baseURL"))
    person(d, params.get("author"), at("params.author"))  # the first found wins
    person(d, cfg.get("author"), at("author"))
    d.set("description", as_text(params.get("description")), at("params.description"))
    d.set("timezone", as_text(cfg.get("timezone")), at("timeZone"))
    d.set("timezone", "UTC", "Hugo's default")
    for key, name in (("languagecode", "languageCode"), ("defaultcontentlanguage", "defaultContentLanguage")):
        d.set("language", as_language(cfg.get(key)), at(name))
    given = as_text(cfg.get("contentdir"))
    folder = relative_dir(given) if given else None
    if given and folder is None:
        d.warnings.append(f"{at('contentDir')} {given!r} is outside the site; used content")
    d.set("dir", folder, at("contentDir"))
    folder = folder or "content"
    d.set("dir", folder, "Hugo's default contentDir")
    taxonomies = cfg.get("taxonomies")
    if isinstance(taxonomies, Mapping):
        keys = tuple(dict.fromkeys(v for v in map(as_text, taxonomies.values()) if v))
        d.values["taxonomies"] = Value(keys, f"{origin['taxonomies']}: [taxonomies]")
    d.set("taxonomies", ("tags", "categories"), "Hugo's default taxonomies")
    main = params.get("mainsections", cfg.get("mainsections"))
    listed = [main] if isinstance(main, str) else main if isinstance(main, list) else []
    d.set("sections", tuple(s for s in map(as_text, listed) if s), at("params.mainSections"))
    if "sections" not in d.values:
        _biggest_section(d, folder)
    _hugo_permalink(d, cfg, origin.get("permalinks", d.ev))


def _hugo_config(d: Draft) -> tuple[dict[str, Any], dict[str, str]]:
    """The evidence file over config/_default/ (the config folder: a file per root key, like
    params.toml), keys lowercased (Hugo's keys are case-insensitive); and the file each root key
    came from."""
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name in ("config", "hugo", "params", "permalinks", "taxonomies"):
        for ext in ("toml", "yaml", "json"):
            rel = f"config/_default/{name}.{ext}"
            if rel in d.site.texts and rel != d.ev:
                part = lower_keys(d.parse(rel))
                part = part if name in ("config", "hugo") else {name: part}
                merged.update(part)
                origin.update(dict.fromkeys(part, rel))
    top = lower_keys(d.parse(d.ev))
    merged.update(top)
    origin.update(dict.fromkeys(top, d.ev))
    return merged, origin


def _biggest_section(d: Draft, folder: str) -> None:
    """Hugo's default main section: the one with the most pages; but every folder when the
    content folder itself holds more posts than that section."""
    counts: dict[str, int] = {}
    loose = 0
    for rel in under(folder, d.site.files):
        top, _, rest = rel.partition("/")
        if is_post(rel) and posixpath.basename(rel).rsplit(".", 1)[0] not in ("_index", "index"):
            if rest:
                counts[top] = counts.get(top, 0) + 1
            else:
                loose += 1
    best = min(counts, key=lambda s: (-counts[s], s), default=None)
    if best is not None and counts[best] > loose:
        d.set("sections", (best,), f"the folder of {folder}/ with the most Markdown files ({counts[best]})")
    elif best is not None:
        d.default("sections", (), f"every folder: {folder}/ itself holds the most posts ({loose})")
    else:
        d.default("sections", (), f"no folder of posts in {folder}/: every folder")


def _hugo_permalink(d: Draft, cfg: Mapping[str, Any], ev: str) -> None:
    sections = d.values["sections"].value
    names = [s.lower() for s in sections] if isinstance(sections, tuple) else []
    default = dialect("hugo").permalink.rstrip("/") + (".html" if cfg.get("uglyurls") is True else "/")
    found: list[tuple[str, str]] = []  # (where, pattern), for each main section
    perm = cfg.get("permalinks")
    if isinstance(perm, list):  # the array form (Hugo 0.161): [[permalinks]] pattern, target.path
        for i, entry in enumerate(map(as_table, perm)):
            pattern, path = as_text(entry.get("pattern")), as_text(as_table(entry.get("target")).get("path")) or ""
            if pattern and ("target" not in entry or any(f"/{n}/" in path.lower() + "/" for n in names)):
                found.append((f"{ev}: permalinks[{i}].pattern", pattern))
                break
    elif isinstance(perm, Mapping):
        page = perm.get("page")
        table, where = (page, "permalinks.page") if isinstance(page, Mapping) else (perm, "permalinks")
        taxonomies = d.values["taxonomies"].value  # their permalinks are the term pages', not the posts'
        for name in names or [k for k in table if k not in taxonomies and k not in ("section", "taxonomy", "term")]:
            pattern = as_text(table.get(name)) or as_text(table.get("/" + name))
            if pattern:
                found.append((f"{ev}: {where}.{name}", pattern))
        if len({p for _, p in found}) > 1:
            d.checks.append(
                f"[site] permalink: the sections have different permalinks in {ev}; syndicate has one for all"
                f" (wrote that of {found[0][0].rsplit('.', 1)[-1]})"
            )
    if found:
        take_permalink(d, found[0][1], f"{found[0][0]} = {found[0][1]!r}", translate_colon, default)
    else:
        d.set("permalink", default, "Hugo's default: the post's folder and file name (or slug)")
