"""`syndicate init`: adopting a blog that another static site generator made.

Three questions; the first answered in syndicate/detect.py, the others here:

- *Which generator made it?* :func:`syndicate.detect.detect_generator` (its own module, below
  the config, so that `build` and `check` can ask it without this one).
- *What does its config say?* :func:`adopt` is pure: the texts of the generator's config files
  and the list of the site's files go in (a :class:`SiteFiles`), an :class:`Adopted` comes out,
  each value with the file and key it came from, and what the user must check.
- *What is written and printed?* :func:`render_config` (TOML, a comment on every key) and
  :func:`report` (one line per value, with its source).

Reading and writing are the shell's part, in small functions (:func:`gather`, :func:`read_text`,
:func:`list_files`, :func:`write_config`): every config file is read with
:func:`syndicate.files.read_limited` (a regular file inside the site, at most 1 MiB, never a
FIFO), and every failure — unreadable, a link out of the site, not UTF-8, not valid
YAML/TOML/JSON/Python — is one :class:`ConfigError` naming the file. Nothing is executed:
JavaScript configs are read with regular expressions, Python ones with :mod:`ast` (literal
assignments only), YAML with the safe loader and no aliases.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .core.bodies import decode
from .core.dialects import GENERATORS, dialect
from .core.model import PERMALINK_FIELDS, printable
from .core.permalinks import JEKYLL_STYLES, normal_template
from .core.sources import is_post_file
from .detect import (
    detect_generator,
    inside,
)
from .errors import ConfigError, ContentError

NAMES = dict(zip(GENERATORS, ("syndicate", "Jekyll", "Hugo", "Zola", "Eleventy", "Astro", "Pelican"), strict=True))
EXAMPLE_URL = "https://example.org/"
UNKNOWN_AUTHOR = "CHANGE ME"
MAX_CONFIG_BYTES = 1024 * 1024
MAX_FILES = 100_000  # files listed under a site; past that, counts are of the first ones found
# Build output and dependencies never hold a generator's posts (hidden folders are skipped too).
_SKIPPED_DIRS = frozenset({"node_modules", "_site", "public", "dist", "output", "resources", "vendor", "__pycache__"})

_ASTRO_CONSTS = ("src/consts.ts", "src/consts.js")
_ASTRO_CONTENT = tuple(f"src/{n}.{e}" for n in ("content.config", "content/config") for e in ("ts", "js", "mjs", "mts"))


@dataclass(frozen=True)
class Value:
    """One setting: its value and where it came from (``"hugo.toml: title"``, ``"Hugo's
    default"``); ``check`` marks a stand-in, and then ``source`` says what to do."""

    value: str | tuple[str, ...]
    source: str
    check: bool = False


@dataclass(frozen=True)
class Adopted:
    """What ``syndicate init`` learned about a site: everything ``config/syndicate.toml`` needs."""

    generator: str  # one of GENERATORS
    evidence: str  # the file that decided, relative to the site ("" when no generator was found)
    title: Value
    url: Value
    author: Value
    timezone: Value
    language: Value
    permalink: Value
    dir: Value
    taxonomies: Value
    sections: Value
    description: Value | None = None
    email: Value | None = None
    slug_source: Value | None = None  # Pelican's SLUGIFY_SOURCE
    filename_metadata: Value | None = None  # Pelican's FILENAME_METADATA
    checks: tuple[str, ...] = ()  # what to look at before the first build (printed as "check: …")
    warnings: tuple[str, ...] = ()  # what could not be carried over (printed as "warning: …")
    output_dir: Value | None = None  # [output] and [feeds] names that collide with nothing the generator writes
    output_index: Value | None = None
    output_opml: Value | None = None
    feeds_rss: Value | None = None
    feeds_atom: Value | None = None
    feeds_json: Value | None = None
    deploy: str = ""  # how syndicate's files join the generator's deploy (a comment and a line of the report)


# Each generator's output folder and the feed files it writes at its top, by default: syndicate's
# feeds of an adopted site take other names, so `syndicate build --out <that folder>` adds files
# beside the generator's and never meets one (and its feed page goes in feeds/, not over the home page).
GENERATOR_OUTPUT: dict[str, tuple[str, frozenset[str]]] = {
    "hugo": ("public", frozenset({"index.xml", "sitemap.xml"})),
    "jekyll": ("_site", frozenset({"feed.xml", "sitemap.xml"})),  # jekyll-feed: feed.xml (Atom)
    "zola": ("public", frozenset({"atom.xml", "rss.xml", "sitemap.xml"})),
    "eleventy": ("_site", frozenset({"feed.xml", "sitemap.xml"})),  # eleventy-plugin-rss's usual name
    "astro": ("dist", frozenset({"rss.xml", "sitemap-index.xml"})),  # @astrojs/rss's usual name
    "pelican": ("output", frozenset()),  # Pelican's feeds live in feeds/*.atom.xml
}
FEED_NAME_CHOICES = {  # syndicate's name for each format, the first one no generator file takes
    "rss": ("feed.xml", "rss.xml", "feed.rss.xml"),
    "atom": ("atom.xml", "feed.atom.xml"),
    "json": ("feed.json",),
}


@dataclass(frozen=True)
class SiteFiles:
    """What the shell read, all :func:`adopt` needs: the texts of the config files that exist (by
    path relative to the site, posix), and the site's files (without build output, dependencies
    and hidden folders)."""

    generator: str
    evidence: str
    texts: Mapping[str, str]
    files: tuple[str, ...] = ()
    name: str = "my site"  # the site folder's name: the title when the config names none
    shown_prefix: str = ""  # put before a path in an error ("" when the site is the current folder)
    truncated: bool = False  # over MAX_FILES files: counts are of the first ones


# ---------------------------------------------------------------------------------------------
# The shell: which generator, reading its files, writing the config


def shown_prefix(site_dir: Path) -> str:
    """Paths in messages: relative to the site when it is the current folder, else absolute."""
    return "" if site_dir.resolve() == Path.cwd().resolve() else f"{site_dir.resolve()}/"


def read_text(site_dir: Path, rel: str, prefix: str = "") -> str | None:
    """The text of a config file of the site (None when there is none). A link that leads out of
    the site or nowhere, anything but a regular file, over 1 MiB or not UTF-8 is a ConfigError."""
    path = site_dir / rel
    shown = printable(prefix + rel)
    if not os.path.lexists(path):
        return None
    real = os.path.realpath(path)
    if not inside(real, os.path.realpath(site_dir)):
        raise ConfigError(f"a link to {printable(real)}, outside the site: not read", path=shown)
    if not os.path.exists(real):
        raise ConfigError("a link that leads nowhere", path=shown)
    from .files import read_limited  # the one reader of a user's files (FIFOs, sizes)

    try:
        data = read_limited(real, MAX_CONFIG_BYTES, shown, "a generator's config file")
    except ContentError as e:
        raise ConfigError(e.message, path=shown) from None
    try:
        return decode(shown, data)
    except ContentError as e:
        raise ConfigError(f"line {e.line}: {e.message}", path=shown) from None


def list_files(site_dir: Path) -> tuple[tuple[str, ...], bool]:
    """The site's files (relative posix paths, sorted) without build output, dependencies or
    hidden folders; links to folders are not followed. At most MAX_FILES (then True)."""
    out: list[str] = []
    root = str(site_dir)
    for top, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        rel = os.path.relpath(top, root)
        base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        out.extend(base + name for name in names)
        if len(out) >= MAX_FILES:
            return tuple(sorted(out[:MAX_FILES])), True
    return tuple(sorted(out)), False


def gather(site_dir: Path, found: tuple[str, str] | None) -> SiteFiles:
    """Read what :func:`adopt` needs: the evidence file, then the files it points to (an Eleventy
    data folder, Pelican's publishconf.py…), each once."""
    prefix = shown_prefix(site_dir)
    generator, evidence = found if found else ("syndicate", "")
    files, truncated = list_files(site_dir)
    texts: dict[str, str] = {}
    tried: set[str] = set()
    for _ in range(4):  # a file may name the next (a config names its data folder): a few rounds
        wanted = [rel for rel in wanted_files(generator, evidence, texts, files) if rel not in tried]
        for rel in wanted:
            tried.add(rel)
            text = read_text(site_dir, rel, prefix)
            if text is not None:
                texts[rel] = text
        if not wanted:
            break
    if evidence and evidence not in texts:
        raise ConfigError("disappeared while it was read", path=printable(prefix + evidence))
    return SiteFiles(generator, evidence, texts, files, site_dir.resolve().name or "my site", prefix, truncated)


def adopt_site(site_dir: Path) -> Adopted:
    """The whole of it for one site folder: detect, read, adopt."""
    return adopt(gather(site_dir, detect_generator(site_dir)), zone_exists)


def zone_exists(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def config_problem(text: str) -> str | None:
    """What `syndicate check` would say of the config written (None: nothing): the one gate for
    config (config.parse_settings), so that init never writes what no other command reads."""
    from .config import parse_settings

    try:
        parse_settings(text)
    except ConfigError as e:
        return e.message
    return None


def write_config(site_dir: Path, text: str, *, force: bool) -> None:
    """Write ``config/syndicate.toml`` atomically (temp file + rename). Without ``force`` an
    existing file is never replaced, not even one that appeared a moment ago."""
    from .config import CONFIG_PATH

    folder, target = site_dir / CONFIG_PATH.parent, site_dir / CONFIG_PATH
    shown = printable(shown_prefix(site_dir) + CONFIG_PATH.as_posix())
    if folder.is_symlink() and not inside(os.path.realpath(folder), os.path.realpath(site_dir)):
        raise ConfigError(f"{CONFIG_PATH.parent}/ is a link out of the site: not written", path=shown)
    if os.path.lexists(target) and not force:
        raise ConfigError(f"{shown} exists; pass --force to replace it")
    if target.is_dir() and not target.is_symlink():
        raise ConfigError("is a folder; remove it first", path=shown)
    if os.path.lexists(folder) and not folder.is_dir():
        raise ConfigError(f"{CONFIG_PATH.parent} is a file, not a folder; move it away first", path=shown)
    temp = folder / f".syndicate.toml.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(temp, "x", encoding="utf-8", newline="\n") as out:
            out.write(text)
        if force:
            os.replace(temp, target)
        else:
            os.link(temp, target)  # refuses a file that appeared since the check: never clobbered
    except FileExistsError:
        raise ConfigError(f"{shown} exists; pass --force to replace it") from None
    except OSError as e:
        raise ConfigError(f"cannot write it: {e.strerror}", path=shown) from None
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)


# ---------------------------------------------------------------------------------------------
# Adopting (pure): which files to read; config texts in, Adopted out


def wanted_files(generator: str, evidence: str, texts: Mapping[str, str], files: Iterable[str]) -> list[str]:
    """The files to read for ``generator``, given those read so far."""
    if generator == "hugo":  # the config folder: one file per root key (params.toml…), merged
        names = ("hugo", "config", "params", "permalinks", "taxonomies")
        return [evidence, *(f"config/_default/{n}.{e}" for n in names for e in ("toml", "yaml", "json"))]
    if generator == "eleventy":
        wanted = [evidence, "package.json"]
        if evidence in texts:
            input_dir, data_dir = _eleventy_dirs(texts[evidence], texts.get("package.json", ""))
            wanted += [_join(data_dir, n) for n in ("metadata.json", "site.json", "metadata.js", "metadata.mjs")]
            listed = tuple(files)
            folder = _eleventy_post_folder(input_dir, listed)
            here = _join(input_dir, folder or "")
            wanted += [f for f in listed if folder and posixpath.dirname(f) == here and f.endswith(".11tydata.json")]
        return wanted
    if generator == "astro":
        return [evidence, *_ASTRO_CONSTS, *_ASTRO_CONTENT]
    if generator == "pelican":
        return [evidence, "publishconf.py"]
    return [evidence] if evidence else []


class _Draft:
    """The values found so far for one site, with its check and warning lines."""

    def __init__(self, site: SiteFiles) -> None:
        self.site = site
        self.ev = site.evidence
        self.values: dict[str, Value] = {}
        self.checks: list[str] = []
        self.warnings: list[str] = []

    def set(self, key: str, value: str | tuple[str, ...] | None, source: str) -> bool:
        """Take a value found, unless it is empty (None, "", ()) or ``key`` is known already (the
        first found wins); True when taken."""
        if not value or key in self.values:
            return False
        self.values[key] = Value(value, source)
        return True

    def default(self, key: str, value: str | tuple[str, ...], source: str) -> None:
        """Take ``value`` (which may be empty: ``[]`` means all) when nothing was found."""
        self.values.setdefault(key, Value(value, source))

    def stand_in(self, key: str, value: str | tuple[str, ...], source: str, check: str) -> None:
        """A value the user must check, with the line that says so."""
        self.values[key] = Value(value, source, check=True)
        self.checks.append(check)

    def parse(self, rel: str) -> dict[str, Any]:
        return _parse(self.site, rel)


def adopt(site: SiteFiles, zone_ok: Callable[[str], bool] = lambda name: True) -> Adopted:
    """The syndicate settings that follow from a site's config files (pure; ``zone_ok`` says
    whether a time zone name exists). Raises ConfigError, naming the file, for a config that does
    not parse."""
    draft = _Draft(site)
    try:
        _ADOPTERS[site.generator](draft)
    except RecursionError:
        raise ConfigError("nested too deeply to be read", path=printable(site.shown_prefix + site.evidence)) from None
    if site.truncated:
        draft.checks.append(f"the site holds over {MAX_FILES} files: sections were chosen from the first {MAX_FILES}")
    return _finish(draft, zone_ok)


def _adopt_syndicate(d: _Draft) -> None:
    d.checks.append(
        "no generator's config found (Jekyll, Hugo, Zola, Eleventy, Astro, Pelican): this is a config for a plain"
        " syndicate site, with its posts in content/"
    )
    d.set("dir", "content", "syndicate's default")
    d.default("sections", (), "syndicate's default: every folder")


# -- Jekyll ------------------------------------------------------------------------------------


def _adopt_jekyll(d: _Draft) -> None:
    ev, cfg = d.ev, d.parse(d.ev)
    d.set("title", _text(cfg.get("title")), f"{ev}: title")
    url, base = _text(cfg.get("url")), (_text(cfg.get("baseurl")) or "").strip("/")
    if url:
        d.set("url", url.rstrip("/") + "/" + base + "/" * bool(base), f"{ev}: url" + " + baseurl" * bool(base))
    elif base:
        d.stand_in(
            "url",
            f"{EXAMPLE_URL}{base}/",
            f"{ev} has a baseurl but no url: write the site's address",
            f"[site] url: {ev} has no url (only baseurl {base!r}); write the site's address",
        )
    _person(d, cfg.get("author"), f"{ev}: author")
    d.set("email", _text(cfg.get("email")), f"{ev}: email")
    d.set("description", _text(cfg.get("description")), f"{ev}: description")
    if not d.set("timezone", _text(cfg.get("timezone")), f"{ev}: timezone"):
        d.stand_in(
            "timezone",
            "UTC",
            "Jekyll: none given (Jekyll takes the build machine's zone)",
            "[site] timezone: Jekyll reads dates written without an offset in the time zone of the machine"
            " that builds the site; write that zone (wrote UTC)",
        )
    d.set("language", _language(cfg.get("lang")), f"{ev}: lang")  # the first found wins
    d.set("language", _language(cfg.get("locale")), f"{ev}: locale")
    source = _text(cfg.get("source"))
    folder = _relative_dir(source) if source else "."
    if folder is None:
        d.warnings.append(f"{ev}: source {source!r} is outside the site; used the site folder")
    folder = folder or "."
    d.set("dir", folder, f"{ev}: source" if folder != "." else "Jekyll: the site folder itself")
    d.set("taxonomies", ("tags", "categories"), "Jekyll's tags and categories")
    inside = _under(folder, d.site.files)
    found = sorted({f[: f.index("_posts/") + 6] for f in inside if _is_post(f) and "_posts" in f.split("/")[:-1]})
    if found:  # a section is a folder at the top of dir; Jekyll's _posts/ may be anywhere: all of them
        d.default("sections", (), f"every _posts/ folder, as Jekyll reads them (found: {', '.join(found)})")
    else:
        d.stand_in(
            "sections",
            (),
            "every _posts/ folder (none found)",
            "[content] sections: no _posts/ folder with Markdown found; Jekyll's posts are in _posts/",
        )
    written = _text(cfg.get("permalink"))
    default = dialect("jekyll").permalink
    if written is None:
        _permalink(d, JEKYLL_STYLES["date"], "Jekyll's default style, date", _translate_colon, default)
    else:
        where = f"{ev}: permalink {written}" if written in JEKYLL_STYLES else f"{ev}: permalink {written!r}"
        _permalink(d, JEKYLL_STYLES.get(written, written), where, _translate_colon, default)


# -- Hugo --------------------------------------------------------------------------------------


def _adopt_hugo(d: _Draft) -> None:
    cfg, origin = _hugo_config(d)
    params = _table(cfg.get("params"))

    def at(key: str) -> str:  # where a key was read: "hugo.toml: params.author"
        return f"{origin.get(key.split('.', 1)[0].lower(), d.ev)}: {key}"

    d.set("title", _text(cfg.get("title")), at("title"))
    d.set("url", _text(cfg.get("baseurl")), at("baseURL"))
    _person(d, params.get("author"), at("params.author"))  # the first found wins
    _person(d, cfg.get("author"), at("author"))
    d.set("description", _text(params.get("description")), at("params.description"))
    d.set("timezone", _text(cfg.get("timezone")), at("timeZone"))
    d.set("timezone", "UTC", "Hugo's default")
    for key, name in (("languagecode", "languageCode"), ("defaultcontentlanguage", "defaultContentLanguage")):
        d.set("language", _language(cfg.get(key)), at(name))
    given = _text(cfg.get("contentdir"))
    folder = _relative_dir(given) if given else None
    if given and folder is None:
        d.warnings.append(f"{at('contentDir')} {given!r} is outside the site; used content")
    d.set("dir", folder, at("contentDir"))
    folder = folder or "content"
    d.set("dir", folder, "Hugo's default contentDir")
    taxonomies = cfg.get("taxonomies")
    if isinstance(taxonomies, Mapping):
        keys = tuple(dict.fromkeys(v for v in map(_text, taxonomies.values()) if v))
        d.values["taxonomies"] = Value(keys, f"{origin['taxonomies']}: [taxonomies]")
    d.set("taxonomies", ("tags", "categories"), "Hugo's default taxonomies")
    main = params.get("mainsections", cfg.get("mainsections"))
    listed = [main] if isinstance(main, str) else main if isinstance(main, list) else []
    d.set("sections", tuple(s for s in map(_text, listed) if s), at("params.mainSections"))
    if "sections" not in d.values:
        _biggest_section(d, folder)
    _hugo_permalink(d, cfg, origin.get("permalinks", d.ev))


def _hugo_config(d: _Draft) -> tuple[dict[str, Any], dict[str, str]]:
    """The evidence file over config/_default/ (the config folder: a file per root key, like
    params.toml), keys lowercased (Hugo's keys are case-insensitive); and the file each root key
    came from."""
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name in ("config", "hugo", "params", "permalinks", "taxonomies"):
        for ext in ("toml", "yaml", "json"):
            rel = f"config/_default/{name}.{ext}"
            if rel in d.site.texts and rel != d.ev:
                part = _lower(d.parse(rel))
                part = part if name in ("config", "hugo") else {name: part}
                merged.update(part)
                origin.update(dict.fromkeys(part, rel))
    top = _lower(d.parse(d.ev))
    merged.update(top)
    origin.update(dict.fromkeys(top, d.ev))
    return merged, origin


def _biggest_section(d: _Draft, folder: str) -> None:
    """Hugo's default main section: the one with the most pages; but every folder when the
    content folder itself holds more posts than that section."""
    counts: dict[str, int] = {}
    loose = 0
    for rel in _under(folder, d.site.files):
        top, _, rest = rel.partition("/")
        if _is_post(rel) and posixpath.basename(rel).rsplit(".", 1)[0] not in ("_index", "index"):
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


def _hugo_permalink(d: _Draft, cfg: Mapping[str, Any], ev: str) -> None:
    sections = d.values["sections"].value
    names = [s.lower() for s in sections] if isinstance(sections, tuple) else []
    default = dialect("hugo").permalink.rstrip("/") + (".html" if cfg.get("uglyurls") is True else "/")
    found: list[tuple[str, str]] = []  # (where, pattern), for each main section
    perm = cfg.get("permalinks")
    if isinstance(perm, list):  # the array form (Hugo 0.161): [[permalinks]] pattern, target.path
        for i, entry in enumerate(map(_table, perm)):
            pattern, path = _text(entry.get("pattern")), _text(_table(entry.get("target")).get("path")) or ""
            if pattern and ("target" not in entry or any(f"/{n}/" in path.lower() + "/" for n in names)):
                found.append((f"{ev}: permalinks[{i}].pattern", pattern))
                break
    elif isinstance(perm, Mapping):
        page = perm.get("page")
        table, where = (page, "permalinks.page") if isinstance(page, Mapping) else (perm, "permalinks")
        taxonomies = d.values["taxonomies"].value  # their permalinks are the term pages', not the posts'
        for name in names or [k for k in table if k not in taxonomies and k not in ("section", "taxonomy", "term")]:
            pattern = _text(table.get(name)) or _text(table.get("/" + name))
            if pattern:
                found.append((f"{ev}: {where}.{name}", pattern))
        if len({p for _, p in found}) > 1:
            d.checks.append(
                f"[site] permalink: the sections have different permalinks in {ev}; syndicate has one for all"
                f" (wrote that of {found[0][0].rsplit('.', 1)[-1]})"
            )
    if found:
        _permalink(d, found[0][1], f"{found[0][0]} = {found[0][1]!r}", _translate_colon, default)
    else:
        d.set("permalink", default, "Hugo's default: the post's folder and file name (or slug)")


# -- Zola --------------------------------------------------------------------------------------


def _adopt_zola(d: _Draft) -> None:
    ev, cfg = d.ev, d.parse(d.ev)
    code = _text(cfg.get("default_language")) or "en"
    own = _table(_table(cfg.get("languages")).get(code))  # a multilingual site's [languages.<default>]
    for key in ("title", "description"):  # the first found wins
        d.set(key, _text(cfg.get(key)), f"{ev}: {key}")
        d.set(key, _text(own.get(key)), f"{ev}: languages.{code}.{key}")
    d.set("url", _text(cfg.get("base_url")), f"{ev}: base_url")
    _person(d, cfg.get("author"), f"{ev}: author")  # Zola 0.19's; else a theme's extra.author
    _person(d, _table(cfg.get("extra")).get("author"), f"{ev}: extra.author")
    d.set("language", _language(cfg.get("default_language")), f"{ev}: default_language")
    d.set("timezone", "UTC", "Zola reads dates without an offset as UTC")
    d.set("dir", "content", "Zola's content folder")
    where = "taxonomies" if "taxonomies" in cfg else f"languages.{code}.taxonomies"
    raw = cfg.get("taxonomies", own.get("taxonomies"))
    names = [_text(_table(t).get("name")) for t in raw] if isinstance(raw, list) else []
    if not d.set("taxonomies", tuple(dict.fromkeys(n for n in names if n)), f"{ev}: {where}"):
        d.default("taxonomies", (), f"{ev} has no taxonomies: no tag feeds")
    found = (f.split("/", 1)[0] for f in _under("content", d.site.files) if f.endswith("/_index.md"))
    if not d.set("sections", tuple(sorted(set(found))), "the folders of content/ with an _index.md"):
        d.default("sections", (), "no section with an _index.md: every folder")
    d.set("permalink", dialect("zola").permalink, "Zola: the section's path and the page's slug")


# -- Eleventy ----------------------------------------------------------------------------------

# A quoted JavaScript string; a backslash is matched only as the start of an escape, so that no
# text makes the match backtrack without end (a run of backslashes would, with two ways to read it).
_STRING = r"(?P<q>[\"'`])(?P<s>(?:\\.|(?!(?P=q))[^\\])*)(?P=q)"
_LIQUID = {  # an Eleventy permalink's {{ … }} → syndicate's placeholder (under generator = "eleventy")
    "page.fileslug": "{filename}",  # the file name without a leading date
    "page.filepathstem": "/{path}/{name}",  # the folders and the file name, its date kept
    "title | slugify": "{title}",
    "title | slug": "{title}",
}


def _eleventy_dirs(config: str, package: str) -> tuple[str, str]:
    """(input folder, data folder), relative to the site, from the config's text (not run):
    ``dir: {input, data}``, ``setInputDirectory(…)``, else ``--input`` in package.json."""
    text = _strip_js_comments(config)
    block = re.search(r"\bdir\s*:\s*\{(.*?)\}", text, re.S)
    inner = block.group(1) if block else ""
    input_dir = _js_string(inner, r"\binput\s*:\s*") or _js_string(text, r"\bsetInputDirectory\s*\(\s*")
    data = _js_string(inner, r"\bdata\s*:\s*") or _js_string(text, r"\bsetDataDirectory\s*\(\s*")
    if not input_dir:
        flag = re.search(r"--input[= ]+[\"']?([^\s\"'&;|]+)", package)
        input_dir = flag.group(1) if flag else None
    folder = _relative_dir(input_dir or ".") or "."
    return folder, _relative_dir(posixpath.join(folder, data or "_data")) or _join(folder, "_data")


def _eleventy_post_folder(input_dir: str, files: tuple[str, ...]) -> str | None:
    counts = dict.fromkeys(("posts", "blog"), 0)
    for rel in _under(input_dir, files):
        top, _, rest = rel.partition("/")
        if top in counts and rest and _is_post(rel):
            counts[top] += 1
    best = max(counts, key=lambda n: (counts[n], n == "posts"))
    return best if counts[best] else None


def _adopt_eleventy(d: _Draft) -> None:
    ev, texts = d.ev, d.site.texts
    input_dir, data_dir = _eleventy_dirs(texts[ev], texts.get("package.json", ""))
    for name in ("metadata.json", "site.json", "metadata.js", "metadata.mjs"):
        rel = _join(data_dir, name)
        if rel in texts and name.endswith(".json"):
            _site_data(d, rel, d.parse(rel))
        elif rel in texts:
            _site_data(d, f"{rel} (read, not run)", _js_site_data(texts[rel]))
    prefix = (_js_string(_strip_js_comments(texts[ev]), r"\bpathPrefix\s*:\s*") or "").strip("/")
    url = d.values.get("url")
    if prefix and url:
        d.values["url"] = Value(f"{str(url.value).rstrip('/')}/{prefix}/", f"{url.source} + {ev}: pathPrefix")
    d.set("timezone", "UTC", "Eleventy reads dates without an offset as UTC")
    d.set("dir", input_dir, f"{ev}: dir.input" if input_dir != "." else "Eleventy's input folder: the site")
    d.set("taxonomies", ("tags",), "Eleventy's tags")
    folder = _eleventy_post_folder(input_dir, d.site.files)
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
        _permalink(d, pattern, f"{where}: permalink {pattern!r}", _translate_liquid, default)
    elif pattern is not None:
        d.checks.append(f"[site] permalink: {where} has permalink: {json.dumps(pattern)}; wrote Eleventy's default")
    d.set("permalink", default, "Eleventy's default: the post's folder and file name")


def _site_data(d: _Draft, rel: str, data: Mapping[str, Any]) -> None:
    for key in ("title", "url", "description"):
        d.set(key, _text(data.get(key)), f"{rel}: {key}")
    d.set("language", _language(data.get("language")), f"{rel}: language")
    _person(d, data.get("author"), f"{rel}: author")


def _js_site_data(text: str) -> dict[str, Any]:
    """title, url, description, language and author of a ``_data/metadata.js``: string values
    only, read from the text."""
    text = _strip_js_comments(text)
    out: dict[str, Any] = {k: _js_string(text, rf"\b{k}\s*:\s*") for k in ("title", "url", "description", "language")}
    block = re.search(r"\bauthor\s*:\s*\{(.*?)\}", text, re.S)
    inner = block.group(1) if block else ""
    out["author"] = (
        {"name": _js_string(inner, r"\bname\s*:\s*"), "email": _js_string(inner, r"\bemail\s*:\s*")}
        if block
        else _js_string(text, r"\bauthor\s*:\s*")
    )
    return out


# -- Astro -------------------------------------------------------------------------------------


def _adopt_astro(d: _Draft) -> None:
    ev, texts = d.ev, d.site.texts
    config = _strip_js_comments(texts[ev])
    site, base = _js_string(config, r"\bsite\s*:\s*"), (_js_string(config, r"\bbase\s*:\s*") or "").strip("/")
    d.set("url", f"{site.rstrip('/')}/{base}/" if site and base else site, f"{ev}: site" + " + base" * bool(base))
    for rel in _ASTRO_CONSTS:
        consts = _strip_js_comments(texts.get(rel, ""))
        for key, name in (("title", "SITE_TITLE"), ("description", "SITE_DESCRIPTION")):
            d.set(key, _js_string(consts, rf"\b{name}\s*(?::\s*\w+\s*)?=\s*"), f"{rel}: {name}")
    d.set("timezone", "UTC", "Astro reads dates without an offset as UTC")
    d.set("taxonomies", ("tags",), "the blog template's tags")
    candidates = {
        "/".join(f.split("/")[:3]) for f in d.site.files if f.startswith("src/content/") and f.count("/") >= 3
    }
    for rel in _ASTRO_CONTENT:  # a content config's glob({ base: "./src/content/blog" })
        for m in re.finditer(r"\bbase\s*:\s*" + _STRING, _strip_js_comments(texts.get(rel, ""))):
            candidates.add(_relative_dir(m.group("s")) or "src/content")
    counts = {c: sum(map(_is_post, _under(c, d.site.files))) for c in sorted(candidates)}
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
    mdx = sum(1 for f in _under(best, d.site.files) if f.lower().endswith(".mdx"))
    if mdx:
        d.checks.append(
            f"[content] dir: {best}/ holds {mdx} .mdx files, which are not Markdown: syndicate leaves them out"
        )
    _astro_permalink(d, posixpath.basename(best))


def _astro_permalink(d: _Draft, collection: str) -> None:
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


# -- Pelican -----------------------------------------------------------------------------------

_PELICAN_DATE = {
    **{"%Y": "{year}", "%m": "{month}", "%d": "{day}", "%y": "{short_year}", "%j": "{y_day}"},
    **{"%H": "{hour}", "%M": "{minute}", "%S": "{second}", "%-m": "{i_month}", "%-d": "{i_day}"},
}
_COMPUTED = object()  # a setting assigned something other than a literal: only running it would tell


def _adopt_pelican(d: _Draft) -> None:
    conf = {k: (v, d.ev) for k, v in _python_literals(d.site, d.ev).items()}
    if "publishconf.py" in d.site.texts:  # `make publish` reads it after pelicanconf.py: its values win
        conf.update({k: (v, "publishconf.py") for k, v in _python_literals(d.site, "publishconf.py").items()})

    def get(key: str) -> tuple[Any, str]:
        value, rel = conf.get(key, (None, d.ev))
        return (None, f"{rel}: {key} (computed: init runs no code)") if value is _COMPUTED else (value, f"{rel}: {key}")

    for key, name in (("title", "SITENAME"), ("url", "SITEURL"), ("author", "AUTHOR"), ("description", "SITESUBTITLE")):
        d.set(key, _text(get(name)[0]), get(name)[1])
    siteurl, where = get("SITEURL")
    if "url" not in d.values and (siteurl == "" or "computed" in where):
        d.stand_in(
            "url",
            EXAMPLE_URL,
            f"{where}: write the site's address",
            f"[site] url: {where} gives no address; write the site's address",
        )
    d.set("timezone", _text(get("TIMEZONE")[0]), get("TIMEZONE")[1])
    d.set("language", _language(get("DEFAULT_LANG")[0]), get("DEFAULT_LANG")[1])
    d.set("language", "en", "Pelican's default")
    path, where = get("PATH")
    folder = _relative_dir(_text(path)) if _text(path) else None
    if _text(path) and folder is None:
        d.warnings.append(f"{where} {path!r} is outside the site or absolute; used content")
    d.set("dir", folder, where)
    d.set(
        "dir",
        "content" if any(f.startswith("content/") for f in d.site.files) else None,
        "pelican-quickstart's content folder",
    )
    d.set("dir", ".", "Pelican's default: the site folder")
    d.set("taxonomies", ("tags", "category"), "Pelican's Tags and Category")
    _pelican_sections(d, get)
    value, where = get("ARTICLE_URL")
    pattern = _text(value)
    source = f"{where} = {pattern!r}" if pattern else "Pelican's default ARTICLE_URL, '{slug}.html'"
    _permalink(d, "/" + (pattern or "{slug}.html").lstrip("/"), source, _translate_pelican, "/{slug}.html")
    source_of_slug, where = get("SLUGIFY_SOURCE")
    d.set("slug_source", {"title": "title", "basename": "filename"}.get(str(source_of_slug)), where)
    names, where = get("FILENAME_METADATA")
    if isinstance(names, str) and names:
        try:
            groups = set(re.compile(names).groupindex)
        except (re.error, RecursionError, OverflowError) as e:
            groups = {f"none: not a regular expression ({e})"}
        if groups and groups <= {"date", "slug"}:
            d.set("filename_metadata", names, where)
        else:
            d.warnings.append(
                f"{where} reads {', '.join(sorted(groups - {'date', 'slug'}))} from file names; syndicate reads only"
                " date and slug: left out"
            )


def _pelican_sections(d: _Draft, get: Callable[[str], tuple[Any, str]]) -> None:
    """ARTICLE_PATHS, when it names folders; else all (the dialect leaves out Pelican's pages/)."""
    articles, where = get("ARTICLE_PATHS")
    paths = [p.strip("/") for p in articles if isinstance(p, str)] if isinstance(articles, list | tuple) else []
    if paths and all(paths):
        tops = tuple(dict.fromkeys(p.split("/", 1)[0] for p in paths))
        d.set("sections", tops, where)
        if any("/" in p for p in paths):
            d.checks.append(
                f"[content] sections: {where} names deeper folders; a section is a top folder: wrote {tops}"
            )
        return
    pages, where = get("PAGE_PATHS")
    d.default("sections", (), "every folder, as Pelican's ARTICLE_PATHS [''] (but pages/, Pelican's PAGE_PATHS)")
    if isinstance(pages, list | tuple) and [str(p).strip("/") for p in pages] != [dialect("pelican").pages_folder]:
        d.checks.append(
            f"[content] sections: {where} is {list(pages)!r}; syndicate takes pages/ for Pelican's pages: name the"
            " folders of articles in sections"
        )


def _python_literals(site: SiteFiles, rel: str) -> dict[str, Any]:
    """NAME = <literal> assignments of a Python settings file, read with ast, never run (a name
    assigned anything else maps to _COMPUTED)."""
    import ast

    shown = printable(site.shown_prefix + rel)
    try:
        tree = ast.parse(site.texts[rel], filename=rel)
    except SyntaxError as e:
        raise ConfigError(
            f"line {e.lineno or 1}: not valid Python ({e.msg}); it is read, not run", path=shown
        ) from None
    except (ValueError, MemoryError) as e:  # NUL bytes; a tree too big
        raise ConfigError(f"not valid Python ({e}); it is read, not run", path=shown) from None
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            try:
                value = _COMPUTED if isinstance(node, ast.AugAssign) else ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                value = _COMPUTED
            out.update({t.id: value for t in targets if isinstance(t, ast.Name) and t.id.isupper()})
    return out


_ADOPTERS: dict[str, Callable[[_Draft], None]] = {
    "syndicate": _adopt_syndicate,
    "jekyll": _adopt_jekyll,
    "hugo": _adopt_hugo,
    "zola": _adopt_zola,
    "eleventy": _adopt_eleventy,
    "astro": _adopt_astro,
    "pelican": _adopt_pelican,
}


# ---------------------------------------------------------------------------------------------
# Permalinks: a generator's pattern → syndicate's {placeholders}

Translator = Callable[[str], tuple[str | None, list[str]]]


def _permalink(d: _Draft, pattern: str, source: str, translate: Translator, default: str) -> None:
    """Take the translation of ``pattern``; when there is none, warn and take the generator's
    default (``default``, already in syndicate's placeholders)."""
    done, bad = translate(pattern)
    why = f"uses {', '.join(bad)}, which syndicate has no placeholder for" if bad else _path_problem(done or "")
    if done is not None and why is None:
        d.set("permalink", done, source)
        return
    d.stand_in(
        "permalink",
        default,
        f"the generator's default: {source} could not be translated",
        "[site] permalink: write a pattern that gives the posts' live URLs (README: [site] permalink)",
    )
    d.warnings.append(f"permalink {pattern!r} ({source.split(' = ')[0]}) {why}; wrote the generator's default")


def _path_problem(path: str) -> str | None:
    if any(seg in (".", "..") for seg in path.split("/")) or any(c in path for c in "\\?#") or "//" in path:
        return "is not a plain path under the site"
    if not re.search(r"\{(slug|name|title|filename)\}", path):
        return "names no post (no slug, name, title or file name in it)"
    return None


_GO_LAYOUT = {  # Go's time layout, which Hugo's permalinks may use too: :2006 is the year…
    **{"2006": "{year}", "06": "{short_year}", "01": "{month}", "1": "{i_month}", "02": "{day}", "2": "{i_day}"},
    **{"002": "{y_day}", "15": "{hour}", "04": "{minute}", "05": "{second}"},
}
# Tokens that core.permalinks would take for another (:monthname for {month}): another URL, so refused here.
_LOSSY = frozenset({"monthname", "weekday", "weekdayname"})


def _translate_colon(pattern: str) -> tuple[str | None, list[str]]:
    """Jekyll's and Hugo's ``:name`` tokens → ``{name}``, as core.permalinks reads them (its
    ``{title}`` is Jekyll's ``:title`` under generator = "jekyll"); the tokens it has no
    placeholder for are returned."""
    bad = [
        m.group(0) for m in re.finditer(r":([A-Za-z_]+)(\[[^\]]*\])?", pattern) if m.group(2) or m.group(1) in _LOSSY
    ]
    bad += [m.group(0) for m in re.finditer(r":(\d+)", pattern) if m.group(1) not in _GO_LAYOUT]
    if "{" in pattern or "}" in pattern:
        bad.append("a literal { or }")
    if bad:
        return None, bad
    done = normal_template(re.sub(r":(\d+)", lambda m: _GO_LAYOUT[m.group(1)], pattern), PERMALINK_FIELDS)
    bad = re.findall(r"(?<![A-Za-z0-9]):[a-z_]+", done)
    bad += ["{" + n + "}" for n in sorted(set(re.findall(r"\{([^{}]*)\}", done)) - PERMALINK_FIELDS)]
    return (None, bad) if bad else ("/" + done.lstrip("/"), [])


def _translate_pelican(pattern: str) -> tuple[str | None, list[str]]:
    """Pelican's ``{slug}``, ``{category}``, ``{date:%Y}`` → syndicate's placeholders."""
    bad: list[str] = []

    def one(m: re.Match[str]) -> str:
        name, spec = m.group(1), m.group(2)
        if name in ("slug", "category") and spec is None:
            return "{" + name + "}"
        parts = re.split(r"(%-?[A-Za-z])", spec or "")
        codes = parts[1::2]
        if name != "date" or not codes or any(c not in _PELICAN_DATE for c in codes):
            bad.append(m.group(0))
            return ""
        return "".join(_PELICAN_DATE[p] if i % 2 else p for i, p in enumerate(parts))

    done = re.sub(r"\{([A-Za-z_]+)(?::([^{}]*))?\}", one, pattern)
    return (None, bad) if bad else (done, [])


def _translate_liquid(pattern: str) -> tuple[str | None, list[str]]:
    """An Eleventy permalink's ``{{ page.fileSlug }}`` and the like → syndicate's placeholders."""
    bad = ["a {% tag %}"] if "{%" in pattern else []

    def one(m: re.Match[str]) -> str:
        expr = " ".join(m.group(1).split()).lower()
        if expr not in _LIQUID:
            bad.append(m.group(0))
        return _LIQUID.get(expr, "")

    done = re.sub(r"\{\{\s*(.*?)\s*\}\}", one, pattern).removesuffix("index.html")
    return (None, bad) if bad else (re.sub(r"/{2,}", "/", "/" + done), [])


# ---------------------------------------------------------------------------------------------
# Finishing: stand-ins for what is missing, values checked

_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


def _finish(d: _Draft, zone_ok: Callable[[str], bool]) -> Adopted:
    v = d.values

    def none(what: str) -> str:
        return f"{d.ev} names no {what}" if d.ev else f"no {what} found (no generator's config)"

    if "title" not in v:
        d.stand_in(
            "title",
            d.site.name,
            f"the site folder's name: {none('title')}",
            f"[site] title: {none('title')}; wrote the folder's name, {d.site.name!r}",
        )
    url = v.get("url")
    problem = None if url is None or url.check else _url_problem(str(url.value))
    if url is None or problem:
        said = none("site URL") if url is None else f"{url.source} is {str(url.value)!r}, {problem}"
        d.stand_in(
            "url", EXAMPLE_URL, f"{said}: write the site's address", f"[site] url: {said}; write the site's address"
        )
    elif not url.check:
        v["url"] = Value(str(url.value).rstrip("/") + "/", url.source)
    if "author" not in v:
        d.stand_in(
            "author",
            UNKNOWN_AUTHOR,
            f"{none('author')}: write the name the feeds show",
            f"[site] author: {none('author')}; replace {UNKNOWN_AUTHOR!r} with the name the feeds should show",
        )
    zone = v.setdefault("timezone", Value("UTC", "syndicate's default"))
    if not zone_ok(str(zone.value)):
        said = f"{zone.source} is {str(zone.value)!r}, not a time zone name like 'Europe/Berlin'"
        d.stand_in("timezone", "UTC", said, f"[site] timezone: {said}; wrote UTC")
    v.setdefault("language", Value("en", "syndicate's default"))
    email = v.get("email")
    if email is not None and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", str(email.value)):
        d.warnings.append(f"{email.source}: {str(email.value)!r} is not an email address; left out")
        del v["email"]
    v.setdefault("dir", Value("content", "syndicate's default"))
    v.setdefault("taxonomies", Value(("tags",), "syndicate's default"))
    v.setdefault("sections", Value((), "every folder"))
    v.setdefault("permalink", Value("/{slug}/", "syndicate's default"))
    outputs, deploy = _outputs(d.site.generator)
    return Adopted(
        d.site.generator,
        d.ev,
        output_dir=outputs.get("output_dir"),
        output_index=outputs.get("output_index"),
        output_opml=outputs.get("output_opml"),
        feeds_rss=outputs.get("feeds_rss"),
        feeds_atom=outputs.get("feeds_atom"),
        feeds_json=outputs.get("feeds_json"),
        deploy=deploy,
        title=v["title"],
        url=v["url"],
        author=v["author"],
        timezone=v["timezone"],
        language=v["language"],
        permalink=v["permalink"],
        dir=v["dir"],
        taxonomies=v["taxonomies"],
        sections=v["sections"],
        description=v.get("description"),
        email=v.get("email"),
        slug_source=v.get("slug_source"),
        filename_metadata=v.get("filename_metadata"),
        checks=tuple(dict.fromkeys(d.checks)),
        warnings=tuple(dict.fromkeys(d.warnings)),
    )


def _outputs(generator: str) -> tuple[dict[str, Value], str]:
    """[output] and [feeds] names for an adopted site: a folder of syndicate's own, its page in
    feeds/, and feed names none of the generator's own feeds take; and how they join the deploy."""
    if generator not in GENERATOR_OUTPUT:
        return {}, ""
    folder, taken = GENERATOR_OUTPUT[generator]
    name = NAMES[generator]
    out: dict[str, Value] = {
        "output_dir": Value(".syndicate/public", f"syndicate's own folder, apart from {name}'s {folder}/"),
        "output_index": Value("feeds/index.html", f"not over {name}'s home page"),
        "output_opml": Value("feeds/feeds.opml", "beside that page"),
    }
    for fmt, choices in FEED_NAME_CHOICES.items():
        pick = next(c for c in choices if c not in taken)
        said = f"not {', '.join(sorted(taken & set(choices)))}: {name} writes those" if taken & set(choices) else ""
        out[f"feeds_{fmt}"] = Value(pick, said or f"no {name} feed has this name")
    deploy = (
        f"to deploy the feeds with the site, build it with {name}, then `syndicate build --out {folder}`:"
        f" it adds syndicate's own files to {folder}/ and never writes over one of {name}'s"
    )
    return out, deploy


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an absolute http(s) URL"
    if any(c.isspace() or not c.isprintable() for c in url) or parts.query or parts.fragment:
        return "not a plain site address"
    return None


# ---------------------------------------------------------------------------------------------
# What is written and printed (pure)

KEYS = (  # (section, key, what the key means), in the order written
    ("site", "title", ""),
    ("site", "url", ""),
    ("site", "author", ""),
    ("site", "email", ""),
    ("site", "timezone", ""),
    ("site", "language", ""),
    ("site", "description", ""),
    ("site", "permalink", "a post's URL, relative to url"),
    ("content", "dir", "relative to the site folder"),
    ("content", "generator", "one of: " + ", ".join(GENERATORS)),
    ("content", "taxonomies", "front-matter keys that become feeds"),
    ("content", "sections", "folders under dir that hold posts; [] = all"),
    ("content", "slug_source", "a post without a slug: its {slug} from the title or filename"),
    ("content", "filename_metadata", "what a file name says: (?P<date>…), (?P<slug>…)"),
    ("feeds", "rss", "file name of the RSS feeds"),
    ("feeds", "atom", "file name of the Atom feeds"),
    ("feeds", "json", "file name of the JSON feeds"),
    ("output", "dir", "where `syndicate build` writes, relative to the site"),
    ("output", "index", "syndicate's page listing the feeds, in the output folder"),
    ("output", "opml", "every feed in one OPML file"),
)


def _rows(a: Adopted) -> list[tuple[str, str, str, Value]]:
    """(section, key, what the key means, its value) for each key written."""
    rows: list[tuple[str, str, str, Value]] = []
    for section, key, meaning in KEYS:
        if key == "generator":
            said = f"{a.evidence} says so" if a.evidence else "no generator's config found"
            rows.append((section, key, meaning, Value(a.generator, said)))
        elif (value := getattr(a, key if section in ("site", "content") else f"{section}_{key}")) is not None:
            rows.append((section, key, meaning, value))
    return rows


def render_config(a: Adopted) -> str:
    """config/syndicate.toml for an adopted site: every key with a comment that says where its
    value came from, or CHECK and what to do."""
    head = (
        f"# Written by `syndicate init` for this {NAMES[a.generator]} site, from {a.evidence}."
        if a.evidence
        else "# Written by `syndicate init`: no generator's config was found, so this is a plain syndicate site."
    )
    lines = [head, "# Each comment says where the value came from; look at the lines marked CHECK."]
    if a.deploy:
        lines.append(f"# Deploy: {a.deploy}.")
    lines.append("")
    rows = _rows(a)
    width = min(60, max(len(f"{key} = {_toml_value(v.value)}") for _, key, _, v in rows))
    section = ""
    for sec, key, meaning, value in rows:
        if sec != section:
            lines += [""] * bool(section) + [f"[{sec}]"]
            section = sec
        said = ("CHECK: " if value.check else "") + value.source
        comment = f"{meaning}; {said}" if meaning else said
        lines.append(f"{key} = {_toml_value(value.value)}".ljust(width) + f"  # {printable(comment)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: str | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(map(_toml_string, value)) + "]"
    return _toml_string(value)


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped; a lone surrogate
    (YAML's "\\ud800") becomes U+FFFD, which TOML can hold."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append({"\n": "\\n", "\t": "\\t"}.get(ch, f"\\u{code:04x}"))
        else:
            out.append("\ufffd" if 0xD800 <= code <= 0xDFFF else ch)
    return "".join(out) + '"'


def report(a: Adopted, written: str) -> list[str]:
    """What `syndicate init` prints on stdout: one line per value with where it came from, the
    file written, then what to check (the warnings, :attr:`Adopted.warnings`, go to stderr)."""
    rows = [
        ("generator", NAMES[a.generator], a.evidence)
        if a.evidence
        else ("generator", "none found", "a plain syndicate site")
    ]
    for section, key, _, value in _rows(a):
        if key != "generator":
            shown = ", ".join(value.value) if isinstance(value.value, tuple) else value.value
            if value.value == ():
                shown = "[] (all)" if key == "sections" else "[] (none)"
            label = key if section in ("site", "content") else f"{section}.{key}"
            rows.append((label, _cut(printable(shown), 44), ("CHECK: " * value.check) + printable(value.source)))
    label_width = max(len(label) for label, _, _ in rows) + 1
    width = max(len(value) for _, value, _ in rows)
    out = [f"{label:<{label_width}}{value:<{width}}  ({source})" for label, value, source in rows]
    deploy = [f"deploy: {a.deploy}"] if a.deploy else []
    return [
        *out,
        f"{'wrote':<{label_width}}{printable(written)}",
        *(f"check: {printable(c)}" for c in a.checks),
        *deploy,
    ]


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Small readers (pure)


def _parse(site: SiteFiles, rel: str) -> dict[str, Any]:
    """A TOML, YAML or JSON config text → a mapping; any failure is a ConfigError naming the file."""
    text, shown = site.texts[rel], printable(site.shown_prefix + rel)
    try:
        if rel.endswith(".toml"):
            return tomllib.loads(text)
        if not rel.endswith(".json"):
            return _yaml(text, shown)
        data = json.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", path=shown) from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"line {e.lineno}: not valid JSON: {e.msg}", path=shown) from None
    except RecursionError:
        raise ConfigError("nested too deeply to be read", path=shown) from None
    if not isinstance(data, dict):
        raise ConfigError("must hold a JSON object ({…})", path=shown)
    return data


def _yaml(text: str, shown: str) -> dict[str, Any]:
    """YAML with the reader posts use (safe C loader, aliases refused before anything is built)."""
    from .core.frontmatter import YamlProblem, safe_yaml

    try:
        data = safe_yaml(text)
    except YamlProblem as e:
        if e.alias:
            message = f"line {e.line + 1}: uses a YAML alias (*name), which syndicate does not read; write it out"
        else:
            message = f"line {e.line + 1}: not valid YAML: {e.problem}"
        raise ConfigError(message, path=shown) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("must hold `key: value` lines", path=shown)
    return {str(k): v for k, v in data.items()}


def _person(d: _Draft, value: Any, where: str) -> bool:
    """An author given as a name or as a mapping with ``name`` (and ``email``); True when found."""
    if isinstance(value, Mapping):
        d.set("email", _text(value.get("email")), f"{where}.email")
        return d.set("author", _text(value.get("name")), f"{where}.name")
    return d.set("author", _text(value), where)


def _lower(value: Any, depth: int = 4) -> Any:
    """Mapping keys lowercased, ``depth`` levels down (Hugo's keys are case-insensitive)."""
    if depth and isinstance(value, Mapping):
        return {str(k).lower(): _lower(v, depth - 1) for k, v in value.items()}
    return value


def _table(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    """A config value as text: strings (trimmed) and numbers; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return value.strip() or None if isinstance(value, str) else None


def _language(value: Any) -> str | None:
    """A language tag (``en``, ``en-US``) from ``en_US``, ``en-us``…; None for anything else."""
    tag = (_text(value) or "").replace("_", "-")
    if not _LANG.match(tag):
        return None
    first, *rest = tag.split("-")
    return "-".join([first.lower(), *(r.upper() if len(r) == 2 else r for r in rest)])


def _relative_dir(path: str | None) -> str | None:
    """A folder relative to the site, normalized ("./src/" → "src", "" → "."); None when it is
    absolute or leads out of the site."""
    if path is None or path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        return None
    norm = posixpath.normpath(path.replace("\\", "/"))
    return None if norm == ".." or norm.startswith("../") else norm


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"


def _under(folder: str, files: Iterable[str]) -> list[str]:
    """The files under ``folder``, relative to it."""
    if folder in ("", "."):
        return list(files)
    lead = folder.rstrip("/") + "/"
    return [f[len(lead) :] for f in files if f.startswith(lead)]


def _is_post(rel: str) -> bool:
    return is_post_file(posixpath.basename(rel))


def _js_string(text: str, lead: str) -> str | None:
    """The string literal after the regular expression ``lead`` (None: none, or a template with
    ``${…}`` in it, which only running the code could tell)."""
    m = re.search(lead + _STRING, text, re.S)
    if not m or (m.group("q") == "`" and "${" in m.group("s")):
        return None
    return m.group("s").strip() or None


def _strip_js_comments(text: str) -> str:
    """JavaScript without its comments (strings kept: ``"**/*.md"`` is no comment), so that a
    commented-out ``// site: "…"`` is not taken for the real one."""
    out: list[str] = []
    i, n, quote = 0, len(text), ""
    while i < n:
        ch = text[i]
        if quote:
            step = 2 if ch == "\\" else 1
            out.append(text[i : i + step])
            quote = "" if ch == quote else quote
            i += step
        elif ch in "\"'`":
            quote = ch
            out.append(ch)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
        else:
            out.append(ch)
            i += 1
    return "".join(out)
