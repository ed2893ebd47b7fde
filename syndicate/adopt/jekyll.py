"""Jekyll: _config.yml: the site, its posts' folders and the permalinks that apply to them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..core.dialects import dialect
from ..core.frontmatter import split
from ..core.permalinks import JEKYLL_STYLES
from ..core.templating import Context, expand
from ..errors import ContentError
from .draft import Draft, person
from .model import EXAMPLE_URL, Value
from .permalinks import take_folder_permalink, take_permalink, translate_colon
from .readers import as_language, as_table, as_text, is_post, relative_dir, under


def adopt_jekyll(d: Draft) -> None:
    ev, cfg = d.ev, d.parse(d.ev)
    d.set("title", as_text(cfg.get("title")), f"{ev}: title")
    d.set("title", as_text(cfg.get("name")), f"{ev}: name (no title; jekyll-feed and jekyll-seo-tag read name then)")
    url, base = as_text(cfg.get("url")), (as_text(cfg.get("baseurl")) or "").strip("/")
    if url:
        d.set("url", url.rstrip("/") + "/" + base + "/" * bool(base), f"{ev}: url" + " + baseurl" * bool(base))
    elif base:
        d.stand_in(
            "url",
            f"{EXAMPLE_URL}{base}/",
            f"{ev} has a baseurl but no url: write the site's address",
            f"[site] url: {ev} has no url (only baseurl {base!r}); write the site's address",
        )
    person(d, cfg.get("author"), f"{ev}: author")
    d.output_at(as_text(cfg.get("destination")), f"{ev}: destination")
    d.set("email", as_text(cfg.get("email")), f"{ev}: email")
    d.set("description", as_text(cfg.get("description")), f"{ev}: description")
    if not d.set("timezone", as_text(cfg.get("timezone")), f"{ev}: timezone"):
        d.stand_in(
            "timezone",
            "UTC",
            "Jekyll: none given (Jekyll takes the build machine's zone)",
            "[site] timezone: Jekyll reads dates written without an offset in the time zone of the machine"
            " that builds the site; write that zone (wrote UTC)",
        )
    d.set("language", as_language(cfg.get("lang")), f"{ev}: lang")  # the first found wins
    d.set("language", as_language(cfg.get("locale")), f"{ev}: locale")
    source = as_text(cfg.get("source"))
    folder = relative_dir(source) if source else "."
    if folder is None:
        d.warnings.append(f"{ev}: source {source!r} is outside the site; used the site folder")
    folder = folder or "."
    d.set("dir", folder, f"{ev}: source" if folder != "." else "Jekyll: the site folder itself")
    if folder == "." and not excludes_config(cfg.get("exclude")):
        d.checks.append(CONFIG_PUBLISHED.format(ev=ev))
    d.set("taxonomies", ("tags", "categories"), "Jekyll's tags and categories")
    inside = under(folder, d.site.files)
    for name in inside:  # Jekyll copies (or renders) a top-level atom.xml or feed.json to the same name
        if "/" not in name and not name.startswith(("_", ".")) and name.endswith((".xml", ".json")):
            d.feed_named(name, "a file of the site")
    found = sorted({f[: f.index("_posts/") + 6] for f in inside if is_post(f) and "_posts" in f.split("/")[:-1]})
    if found:  # a section is a folder at the top of dir; Jekyll's _posts/ may be anywhere: all of them
        d.default("sections", (), f"every _posts/ folder, as Jekyll reads them (found: {', '.join(found)})")
    else:
        d.stand_in(
            "sections",
            (),
            "every _posts/ folder (none found)",
            "[content] sections: no _posts/ folder with Markdown found; Jekyll's posts are in _posts/",
        )
    _jekyll_permalinks(d, cfg, [f for f in inside if is_post(f) and "_posts" in f.split("/")[:-1]])
    _site_values(d, cfg)


_SITE_KEY = re.compile(r"\bsite\.([A-Za-z_][A-Za-z0-9_-]*)")


def _site_values(d: Draft, cfg: Mapping[str, Any]) -> None:
    """[content] site: the top-level text values of the config that the posts' ``{{ site.<key> }}``
    use outside code (``site.repository``), so that a feed shows what Jekyll writes; a key the
    config has no text for is a warning (a link made with it is dropped, its text kept)."""
    used: dict[str, str] = {}  # key → the first post that uses it (outside code, as the build reads it)
    for rel, text in sorted(d.site.pages.items()):
        if "site." not in text:
            continue
        try:
            body = split(rel, text).body
        except ContentError:
            continue  # the build says what is wrong with it
        _, found = expand(body, "jekyll", Context(rel, "https://site.invalid/", {}))
        for label in found.removed:  # what it could not evaluate: {{ site.repository }}…
            for key in _SITE_KEY.findall(label):
                used.setdefault(key, rel)
    unknown = []
    for key, rel in sorted(used.items()):
        if key in ("url", "baseurl"):
            continue
        value = cfg.get(key)
        if isinstance(value, str) and value.strip() and len(value) <= 2000 and value.isprintable():
            d.site_values[key] = Value(value.strip(), f"{d.ev}: {key} ({rel} uses {{{{ site.{key} }}}})")
        else:
            unknown.append(f"site.{key} ({rel})")
    if unknown:
        d.warnings.append(
            f"posts use {', '.join(unknown[:5])}{' and more' * (len(unknown) > 5)}, which {d.ev} gives no text"
            " for: a link made with it is left out of the feeds (its text kept); write it in [content] site"
        )


def _jekyll_permalinks(d: Draft, cfg: Mapping[str, Any], posts: list[str]) -> None:
    """The posts' URL pattern, as Jekyll picks it: front-matter ``defaults`` whose scope holds the
    post (the longest path; at equal length one with ``type: posts``; else the later), then the
    posts collection's ``permalink``, then the site's ``permalink`` (a style name or a pattern).
    Scopes with a path become ``[site.permalinks]``; one without, the posts' ``[site] permalink``."""
    ev = d.ev
    default = dialect("jekyll").permalink
    scoped: dict[str, tuple[bool, str, str]] = {}  # scope path → (typed, pattern, where)
    sets = cfg.get("defaults")
    for i, entry in enumerate(sets if isinstance(sets, list) else []):
        values, scope = as_table(as_table(entry).get("values")), as_table(as_table(entry).get("scope"))
        pattern, kind = values.get("permalink"), scope.get("type")
        if not isinstance(pattern, str) or kind not in (None, "posts", "post"):
            continue  # no permalink here, or the scope of pages, drafts or another collection
        path = scope.get("path") if isinstance(scope.get("path"), str) else ""
        path = path.lstrip("/").rstrip("/") if isinstance(path, str) else ""
        if "*" in path:
            d.warnings.append(f"{ev}: defaults[{i}] scope path {path!r} is a glob, which init does not read")
            d.checks.append(f"[site.permalinks]: write the pattern of the posts under {path!r} (their live URLs)")
            continue
        if path and not any(p == path or p.startswith(path + "/") for p in posts):
            continue  # a scope that holds no post
        typed = kind is not None
        if path not in scoped or typed or not scoped[path][0]:  # Jekyll's has_precedence?
            scoped[path] = (typed, pattern.strip(), f"{ev}: defaults[{i}] permalink {pattern.strip()!r}")
    for path, (_, pattern, where) in sorted(scoped.items()):
        if path:
            take_folder_permalink(d, path, pattern, where, translate_colon)
    if "" in scoped:
        _, pattern, where = scoped[""]
        take_permalink(d, pattern, where, translate_colon, default)
    own = as_table(as_table(cfg.get("collections")).get("posts")).get("permalink")
    if isinstance(own, str) and own.strip():  # taken as written: Jekyll reads no style name here
        take_permalink(d, own.strip(), f"{ev}: collections.posts.permalink {own.strip()!r}", translate_colon, default)
    written = as_text(cfg.get("permalink"))
    if written is None:
        take_permalink(d, JEKYLL_STYLES["date"], "Jekyll's default style, date", translate_colon, default)
    else:
        where = f"{ev}: permalink {written}" if written in JEKYLL_STYLES else f"{ev}: permalink {written!r}"
        take_permalink(d, JEKYLL_STYLES.get(written, written), where, translate_colon, default)


# Jekyll copies every file of its source folder into the site it builds, but those in folders
# whose names start with "_" or "." and those `exclude:` lists: config/syndicate.toml (with the
# targets' addresses) would be deployed for anyone to read.
CONFIG_PUBLISHED = (
    "Jekyll copies config/syndicate.toml into the site it builds, for anyone to read: add `config/` to exclude: in {ev}"
)


def excludes_config(exclude: object) -> bool:
    """Does a Jekyll ``exclude:`` list keep config/syndicate.toml out of the built site?"""
    import fnmatch

    entries = exclude if isinstance(exclude, list) else []
    for entry in entries:
        if not isinstance(entry, str):
            continue
        pattern = entry.strip().lstrip("./").rstrip("/")
        if pattern in ("config", "config/syndicate.toml") or any(
            fnmatch.fnmatchcase(path, pattern) for path in ("config", "config/syndicate.toml")
        ):
            return True
    return False
