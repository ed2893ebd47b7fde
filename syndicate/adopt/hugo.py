"""Hugo: hugo.toml/config.* and the config/_default/ folder."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..core.dialects import bundle_folders, dialect, file_stem
from .draft import Draft, person
from .model import Value
from .permalinks import take_folder_permalink, take_permalink, translate_colon
from .readers import as_language, as_table, as_text, is_post, lower_keys, relative_dir, under


def adopt_hugo(d: Draft) -> None:
    cfg, origin = _hugo_config(d)
    params = as_table(cfg.get("params"))

    def at(key: str) -> str:  # where a key was read: "hugo.toml: params.author"
        parts = key.lower().split(".")
        known = (origin.get(".".join(parts[:n])) for n in range(len(parts), 0, -1))
        return f"{next((k for k in known if k), d.ev)}: {key}"

    code = (as_text(cfg.get("defaultcontentlanguage")) or "en").lower()
    lang = as_table(as_table(cfg.get("languages")).get(code))  # the default language's own values come first
    own = as_table(lang.get("params"))
    d.set("title", as_text(lang.get("title")), at(f"languages.{code}.title"))
    d.set("title", as_text(cfg.get("title")), at("title"))
    d.set("url", as_text(cfg.get("baseurl")), at("baseURL"))
    person(d, own.get("author"), at(f"languages.{code}.params.author"))  # the first found wins
    person(d, params.get("author"), at("params.author"))
    person(d, cfg.get("author"), at("author"))
    d.set("description", as_text(own.get("description")), at(f"languages.{code}.params.description"))
    d.set("description", as_text(params.get("description")), at("params.description"))
    d.set("timezone", as_text(cfg.get("timezone")), at("timeZone"))
    d.set("timezone", "UTC", "Hugo's default")
    # Hugo 0.158 renamed languageCode to locale; the default language's own value comes first
    for key, name in (("locale", "locale"), ("languagecode", "languageCode")):
        d.set("language", as_language(lang.get(key)), at(f"languages.{code}.{name}"))
    for key, name in (("locale", "locale"), ("languagecode", "languageCode")):
        d.set("language", as_language(cfg.get(key)), at(name))
    d.set("language", as_language(cfg.get("defaultcontentlanguage")), at("defaultContentLanguage"))
    rss = as_table(as_table(cfg.get("outputformats")).get("rss"))
    if as_text(rss.get("basename")):  # Hugo's RSS feeds are <baseName>.xml (index.xml by default)
        d.feed_named(f"{as_text(rss.get('basename'))}.xml", at("outputFormats.RSS.baseName"))
    d.output_at(as_text(cfg.get("publishdir")), at("publishDir"))
    folder = _content_dir(d, cfg, at)
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
    _hugo_permalink(d, cfg, origin.get("permalinks", d.ev), folder)


def _content_dir(d: Draft, cfg: Mapping[str, Any], at: Callable[[str], str]) -> str:
    """The default language's content folder, as Hugo finds it: a module mount whose target is
    ``content`` (for that language, else for all), else ``[languages.<default>] contentDir``,
    else ``contentDir``, else ``content``. Other languages' folders are named in a warning:
    their posts are published under /<lang>/, and syndicate's feeds hold the default's."""
    code = (as_text(cfg.get("defaultcontentlanguage")) or "en").lower()
    languages = as_table(cfg.get("languages"))
    mounts = [as_table(m) for m in as_table(cfg.get("module")).get("mounts") or [] if isinstance(m, Mapping)]
    content = [m for m in mounts if (as_text(m.get("target")) or "").strip("/") == "content"]
    ours = [m for m in content if (as_text(m.get("lang")) or code).lower() == code]
    found: list[tuple[str | None, str]] = []
    if ours:
        found.append((as_text(ours[0].get("source")), at("module.mounts") + " (target content)"))
    if languages.get(code) is not None:
        found.append((as_text(as_table(languages[code]).get("contentdir")), at(f"languages.{code}.contentDir")))
    found.append((as_text(cfg.get("contentdir")), at("contentDir")))
    for given, where in found:
        folder = relative_dir(given) if given else None
        if given and folder is None:
            d.warnings.append(f"{where} {given!r} is outside the site; not used")
        if d.set("dir", folder, where):
            break
    d.set("dir", "content", "Hugo's default contentDir")
    others = sorted(
        f"{lang} ({dir_})"
        for lang, dir_ in (
            *((str(k).lower(), as_text(as_table(v).get("contentdir"))) for k, v in languages.items()),
            *(((as_text(m.get("lang")) or "").lower(), as_text(m.get("source"))) for m in content),
        )
        if lang and lang != code and dir_
    )
    if others:
        d.warnings.append(
            f"{at('languages')}: Hugo also publishes {', '.join(dict.fromkeys(others))} under /<language>/;"
            f" syndicate's feeds hold the default language's posts ({code})"
        )
    return str(d.values["dir"].value)


# Hugo's config folder: config/_default/, then the environment `hugo` builds in (production).
CONFIG_DIRS = ("config/_default", "config/production")
_CONFIG_EXTS = (".toml", ".yaml", ".yml", ".json")


def hugo_config_files(files: Iterable[str]) -> list[str]:
    """The files of Hugo's config folder, in the order they are merged: by folder, the root
    files (hugo.*, config.*) first, then the others by name."""

    def order(rel: str) -> tuple[int, bool, str]:
        folder, name = posixpath.split(rel)
        return CONFIG_DIRS.index(folder), name.rsplit(".", 1)[0] not in ("hugo", "config"), name

    return sorted((f for f in files if posixpath.dirname(f) in CONFIG_DIRS and f.endswith(_CONFIG_EXTS)), key=order)


def _key_path(rel: str) -> list[str]:
    """Where a config folder file's table goes, as Hugo merges it: hugo.* and config.* are the
    root; params.toml is ``params``; a language's file (``params.en.toml``, ``menus.en.toml``,
    ``languages.en.toml``) goes under ``languages.en`` (its ``params`` or ``menus``)."""
    stem = posixpath.basename(rel).rsplit(".", 1)[0].lower()
    if stem in ("hugo", "config"):
        return []
    key, _, lang = stem.rpartition(".") if "." in stem else (stem, "", "")
    if not lang:
        return [key]
    inner = {"menu": ["menus"], "menus": ["menus"], "params": ["params"]}.get(key, [])
    return ["languages", lang, *inner]


def _merge(into: dict[str, Any], part: Mapping[str, Any]) -> None:
    """Tables merged key by key (Hugo's deep merge), other values replaced."""
    for key, value in part.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), Mapping):
            inner = dict(into[key])
            _merge(inner, value)
            into[key] = inner
        else:
            into[key] = value


def _hugo_config(d: Draft) -> tuple[dict[str, Any], dict[str, str]]:
    """The evidence file over Hugo's config folder (config/_default/ and config/production/, a
    file per root key, merged as Hugo does: see :func:`_key_path`), keys lowercased (Hugo's keys
    are case-insensitive); and the file each root key (and ``languages.en``…) came from."""
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    folder = hugo_config_files({*d.site.texts, d.ev})  # the files read (wanted_files: the folder's)
    for rel in folder:
        if rel not in d.site.texts:
            continue
        part: Any = lower_keys(d.parse(rel))
        path = _key_path(rel)
        for key in reversed(path):
            part = {key: part}
        _merge(merged, part)
        if path:
            origin[".".join(path)] = rel  # params, languages.en, languages.en.menus…
            origin.setdefault(path[0], rel)
        else:
            origin.update(dict.fromkeys(part, rel))
    if d.ev not in folder:  # a config file at the top of the site comes over the folder
        top = lower_keys(d.parse(d.ev))
        _merge(merged, top)
        origin.update(dict.fromkeys(top, d.ev))
    return merged, origin


def _biggest_section(d: Draft, folder: str) -> None:
    """Hugo's default main section: the one with the most pages; but every folder when the
    content folder itself holds more posts than that section."""
    counts: dict[str, int] = {}
    loose = 0
    files = [rel for rel in under(folder, d.site.files) if is_post(rel)]
    bundles = bundle_folders(files)
    for rel in files:
        folders = rel.split("/")[:-1]
        stem = file_stem(rel)
        # A leaf bundle (slug/index.md) is one page, in the folder its own folder is in; other
        # Markdown beside or under a bundle's index.md is one of its resources, not a page.
        own = len(folders) - 1 if stem == "index" else len(folders)
        if stem == "_index" or (stem == "index" and not folders):
            continue
        if any("/".join(folders[:n]) in bundles for n in range(1, own + 1)):
            continue
        if own:
            counts[folders[0]] = counts.get(folders[0], 0) + 1
        else:
            loose += 1
    best = min(counts, key=lambda s: (-counts[s], s), default=None)
    if best is not None and counts[best] > loose:
        d.set("sections", (best,), f"the folder of {folder}/ with the most Markdown files ({counts[best]})")
    elif best is not None:
        d.default("sections", (), f"every folder: {folder}/ itself holds the most posts ({loose})")
    else:
        d.default("sections", (), f"no folder of posts in {folder}/: every folder")


def _hugo_permalink(d: Draft, cfg: Mapping[str, Any], ev: str, folder: str) -> None:
    """[site] permalink from the main section's pattern; other sections' own patterns go to
    [site.permalinks] by folder; ``uglyURLs = true`` makes each ``…/`` a ``….html``."""
    sections = d.values["sections"].value
    names = [s.lower() for s in sections] if isinstance(sections, tuple) else []
    ugly_urls = cfg.get("uglyurls")  # true, or by section: [uglyURLs] post = true
    ugly = ugly_urls is True or (isinstance(ugly_urls, Mapping) and any(ugly_urls.get(n) is True for n in names))
    default = dialect("hugo").permalink.rstrip("/") + (".html" if ugly else "/")

    def translate(pattern: str) -> tuple[str | None, list[str]]:
        done, bad = translate_colon(pattern)
        return (done[:-1] + ".html" if ugly and done and done.endswith("/") else done), bad

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
        keys = [k for k in table if k not in taxonomies and k not in ("section", "taxonomy", "term")]
        for name in names or keys:
            pattern = as_text(table.get(name)) or as_text(table.get("/" + name))
            if pattern:
                found.append((f"{ev}: {where}.{name}", pattern))
        main = found[0][1] if found else None
        on_disk = {f.split("/", 1)[0].lower(): f.split("/", 1)[0] for f in under(folder, d.site.files) if "/" in f}
        for key in keys:  # a section's own pattern (Hugo: the top folder under content/, any case)
            pattern, section = as_text(table.get(key)), key.strip("/")
            real = on_disk.get(section)
            if pattern and pattern != main and real and (not names or section in names):
                take_folder_permalink(d, real, pattern, f"{ev}: {where}.{key} = {pattern!r}", translate)
    if found:
        take_permalink(d, found[0][1], f"{found[0][0]} = {found[0][1]!r}", translate, default)
    else:
        d.set("permalink", default, "Hugo's default: the post's folder and file name (or slug)")
