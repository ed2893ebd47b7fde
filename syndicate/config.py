"""config/syndicate.toml → frozen :class:`Settings`, checked key by key.

Every mistake becomes one :class:`ConfigError` naming the file, the key and what to write
instead; unknown keys are refused (with a "did you mean") because a typo silently ignored
is a setting silently lost.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .core.addresses import allow_problem
from .core.dialects import GENERATORS, dialect
from .core.feeds import taxonomy_folders
from .core.hints import close_match
from .core.images import SOCIAL_IMAGE_LIMIT
from .core.model import (
    CONTENT_FIELDS,
    EVENTS,
    MAX_RETRY_DELAY,
    ON_DELETE,
    ON_EDIT,
    PERMALINK_FIELDS,
    RENDERERS,
    TEMPLATE_FIELDS,
    ContentSettings,
    DeliverySettings,
    FeedSettings,
    OutputSettings,
    Settings,
    SiteSettings,
    StoreSettings,
    TargetSettings,
    printable,
)
from .core.permalinks import normal_template, template_problem, unknown_tokens
from .core.slugs import slug_problem
from .core.uploads import Bucket, parse_s3_url
from .errors import ConfigError, ContentError
from .files import name_problem, read_limited

CONFIG_PATH = Path("config") / "syndicate.toml"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Characters no config value may hold: the control characters but tab and newline (XML cannot
# carry most of them, a feed would fail to render; the others, DEL and C1, are invisible
# mistakes such as a mis-decoded Windows quote) and U+FFFE/U+FFFF, which XML forbids too.
UNSAFE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def unsafe_character(text: str) -> str | None:
    """How a message names the first character of ``text`` a config value may not hold
    ("a control character U+0007"), or None when there is none."""
    bad = UNSAFE_TEXT.search(text)
    if bad is None:
        return None
    code = ord(bad.group())
    return f"a control character U+{code:04X}" if code < 0xFFFE else f"the noncharacter U+{code:04X}"


def _unsafe_text(raw: dict[str, Any], path: str) -> None:
    """Every text of the file, keys included, free of characters a feed or a message cannot
    carry: one line naming the key and the character."""

    def walk(value: object, where: str) -> None:
        if isinstance(value, str):
            what = unsafe_character(value)
            if what:
                raise ConfigError(f"{where} contains {what}; remove it", path=path)
        elif isinstance(value, dict):
            for key, item in value.items():
                what = unsafe_character(key)
                if what:
                    raise ConfigError(f"{where} {key!r}: the key contains {what}; remove it", path=path)
                table = isinstance(item, dict) and where.startswith("[") and " " not in where  # [site.permalinks]
                named = f"[{where[1:-1]}.{key}]" if table else None
                walk(item, named or (f"{where} {key}" if where else f"[{key}]"))
        elif isinstance(value, list):
            for i, item in enumerate(value, 1):
                name = item.get("name") if isinstance(item, dict) else None
                label = repr(name) if isinstance(name, str) and not unsafe_character(name) else f"#{i}"
                walk(item, f"[{where}] {label}" if isinstance(item, dict) else where)

    walk(raw, "")


def _absolute_url(value: str, where: str, path: str) -> str:
    hint = f"{where} must be an absolute http(s) URL like https://example.com/, not {value!r}"
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ConfigError(f"{hint} (it holds spaces or control characters)", path=path)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError as e:
        raise ConfigError(f"{hint} ({e})", path=path) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(hint, path=path)
    if parts.query or parts.fragment:
        raise ConfigError(f"{where} must not have a query or fragment: {value!r}", path=path)
    return value if value.endswith("/") else value + "/"


def _section(raw: dict[str, Any], name: str, cls: type, path: str) -> dict[str, Any]:
    section = raw.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"[{name}] must be a table", path=path)
    known = {f.name for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, value in section.items():
        if key not in known:
            hint = close_match(key, known)
            also = f"; did you mean {hint!r}?" if hint else f"; known keys: {', '.join(sorted(known))}"
            raise ConfigError(f"unknown key {key!r} in [{name}]{also}", path=path)
        default = next(f for f in fields(cls) if f.name == key).default
        want: type = str if default is None or default is MISSING else type(default)
        if isinstance(default, tuple):
            item = type(default[0]) if default else str
            noun = "whole numbers" if item is int else "strings"
            if not isinstance(value, list) or not all(isinstance(v, item) and not isinstance(v, bool) for v in value):
                raise ConfigError(f"[{name}] {key} must be a list of {noun}", path=path)
            value = tuple(value)
        elif want is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"[{name}] {key} must be a whole number, not {value!r}", path=path)
        elif want is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"[{name}] {key} must be a number, not {value!r}", path=path)
            value = float(value)
        elif not isinstance(value, want):
            raise ConfigError(f"[{name}] {key} must be {want.__name__}, not {value!r}", path=path)
        out[key] = value
    return out


def parse_settings(text: str, path: str = str(CONFIG_PATH)) -> Settings:
    """TOML text → Settings, every key checked (one section at a time), so that nothing that
    passes here can fail later. Pure apart from looking up the time zone database and checking
    that the Markdown extensions named can be loaded."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", path=path) from e
    except RecursionError:
        raise ConfigError("not valid TOML: nested too deeply", path=path) from None
    allowed = {"site", "feeds", "content", "websub", "targets", "delivery", "state", "output", "store"}
    for key in raw:
        if key not in allowed:
            hint = close_match(key, allowed)
            raise ConfigError(f"unknown section [{key}]" + (f"; did you mean [{hint}]?" if hint else ""), path=path)
    _unsafe_text(raw, path)
    content = _content(raw, path)
    feeds = _feeds(raw, path)
    output = _output(raw, path, content)
    _feed_folders(feeds, content, output, path)
    return Settings(
        site=_site(raw, path, content.generator),
        feeds=feeds,
        content=content,
        hubs=_hubs(raw, path),
        targets=_targets(raw.get("targets", []), path),
        delivery=_delivery(raw, path),
        state_path=_state_path(raw, path),
        output=output,
        store=_store(raw, path),
    )


def _site(raw: dict[str, Any], path: str, generator: str = "syndicate") -> SiteSettings:
    """[site]: title, url and author required; a real time zone, a language tag, a permalink under
    the site (in our ``{name}`` syntax or the generators' ``:name``; the generator's by default)."""
    section = raw.get("site", {})
    given = section.get("permalinks", {}) if isinstance(section, dict) else {}
    if not isinstance(given, dict):
        raise ConfigError(
            '[site.permalinks] must be a table of folder = pattern, like "_posts/news" = "/news/{year}/{slug}/"',
            path=path,
        )
    if isinstance(section, dict):  # a table of its own, read below
        raw = {**raw, "site": {k: v for k, v in section.items() if k != "permalinks"}}
    site = _section(raw, "site", SiteSettings, path)
    for required in ("title", "url", "author"):
        if not str(site.get(required, "")).strip():
            raise ConfigError(f"[site] {required} is required", path=path)
    site["url"] = _absolute_url(site["url"], "[site] url", path)
    try:
        ZoneInfo(site.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"[site] timezone {site.get('timezone')!r} is not a time zone name like 'Europe/Paris' or 'UTC'", path=path
        ) from None
    if not _LANG.match(site.get("language", "en")):
        raise ConfigError(
            f"[site] language {site['language']!r} must be a language tag like 'en' or 'pt-BR'", path=path
        )
    link = site.get("permalink", dialect(generator).permalink)
    _permalink_problem(link, "[site] permalink", generator, path)
    site["permalinks"] = _permalinks(given, generator, path)
    site["permalink"] = link
    return SiteSettings(**site)


def _permalink_problem(link: str, where: str, generator: str, path: str) -> None:
    """A permalink pattern (``[site] permalink`` or one of ``[site.permalinks]``): a path under the
    site, placeholders that exist, one that names the post."""
    if any(seg in (".", "..") for seg in link.split("/")) or "\\" in link or "//" in link or "?" in link or "#" in link:
        raise ConfigError(f"{where} {link!r} must be a path under the site, like /blog/{{slug}}/", path=path)
    adopted = dialect(generator).adopted  # a generator's ":year" syntax; syndicate's own sites: "{year}" only
    read = normal_template(link, PERMALINK_FIELDS) if adopted else link
    names = set(_PLACEHOLDER.findall(read))
    leftover = unknown_tokens(read) if adopted else []
    if names - PERMALINK_FIELDS or leftover:
        unknown = sorted(names - PERMALINK_FIELDS) + leftover
        raise ConfigError(
            f"{where} uses {', '.join(unknown)}; available: {', '.join(sorted(PERMALINK_FIELDS))}", path=path
        )
    if not names & {"slug", "name", "title", "filename"}:
        raise ConfigError(
            f"{where} {link!r} must contain {{slug}} (or {{name}}, {{title}}, {{filename}}): "
            "without one, every post would have the same URL",
            path=path,
        )


def _permalinks(given: dict[str, Any], generator: str, path: str) -> tuple[tuple[str, str], ...]:
    """[site.permalinks]: folder (under the content folder) = pattern, each checked as [site]
    permalink is; folders written ``./a/`` or ``a`` are one."""
    out: dict[str, str] = {}
    for folder, link in given.items():
        name = folder.strip().removeprefix("./").strip("/")
        if not name or folder.startswith("/") or "\\" in folder or any(p in ("", ".", "..") for p in name.split("/")):
            raise ConfigError(
                f'[site.permalinks] {folder!r} must be a folder under the content folder, like "_posts/news"',
                path=path,
            )
        if not isinstance(link, str):
            raise ConfigError(f"[site.permalinks] {folder!r} must be a pattern (a string), not {link!r}", path=path)
        if name in out:
            raise ConfigError(f"[site.permalinks] names the folder {name!r} twice", path=path)
        _permalink_problem(link, f"[site.permalinks] {folder!r}", generator, path)
        out[name] = link
    return tuple(sorted(out.items()))


def _feeds(raw: dict[str, Any], path: str) -> FeedSettings:
    """[feeds]: sizes in range, plain and distinct file names that no other output uses."""
    feeds = _section(raw, "feeds", FeedSettings, path)
    if not 1 <= feeds.get("items", 20) <= 1000:
        raise ConfigError("[feeds] items must be between 1 and 1000", path=path)
    if not 20 <= feeds.get("summary_length", 280) <= 5000:
        raise ConfigError("[feeds] summary_length must be between 20 and 5000", path=path)
    if feeds.get("url"):
        feeds["url"] = _absolute_url(feeds["url"], "[feeds] url", path)
    for key in ("rss", "atom", "json", "tags_dir"):
        if key in feeds and slug_problem(feeds[key]):
            raise ConfigError(f"[feeds] {key} must be a plain file or folder name, not {feeds[key]!r}", path=path)
    defaults = FeedSettings()
    names_used = [feeds.get(k, getattr(defaults, k)) for k in ("rss", "atom", "json")]
    if len(set(names_used)) < 3:
        raise ConfigError("[feeds] rss, atom and json must be three different file names", path=path)
    for key in ("rss", "atom", "json"):
        if feeds.get(key) == feeds.get("tags_dir", defaults.tags_dir):
            raise ConfigError(f"[feeds] {key} = {feeds[key]!r} is a name syndicate writes for another file", path=path)
    why = template_problem(feeds.get("tag_title", defaults.tag_title), frozenset({"site", "tag"}))
    if why:
        raise ConfigError(f"[feeds] tag_title {why}", path=path)
    return FeedSettings(**feeds)


def _fields(mapped: object, adopted: bool, path: str) -> tuple[tuple[str, str], ...]:
    """[content] fields = { title = "newstitle" }: known fields, each from one plain key of its own."""
    if not isinstance(mapped, dict):
        raise ConfigError('[content] fields must be a table, like fields = { title = "newstitle" }', path=path)
    out: dict[str, str] = {}
    for field, key in mapped.items():
        if field not in CONTENT_FIELDS:
            hint = close_match(field, CONTENT_FIELDS)
            also = f"did you mean {hint!r}? " if hint else ""
            raise ConfigError(
                f"[content] fields: {field!r} is not a field; {also}fields: {', '.join(CONTENT_FIELDS)}", path=path
            )
        if not isinstance(key, str) or not key.strip() or key != key.strip() or not key.isprintable():
            raise ConfigError(
                f'[content] fields: {field} must be the front-matter key to read it from, like "news{field}"',
                path=path,
            )
        key = key.lower() if adopted else key  # a generator's keys are read in any case
        if key in out.values():
            raise ConfigError(f"[content] fields: two fields are read from {key!r}; give each its own", path=path)
        out[field] = key
    return tuple(sorted(out.items()))


def _site_values(given: object, path: str) -> tuple[tuple[str, str], ...]:
    """[content] site = { repository = "https://…" }: what ``{{ site.<key> }}`` in a post stands for."""
    if not isinstance(given, dict):
        raise ConfigError('[content] site must be a table, like site = { repository = "https://…" }', path=path)
    for key, value in given.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,99}", key) or key in ("url", "baseurl"):
            why = "comes from [site] url" if key in ("url", "baseurl") else "is not a plain key like repository"
            raise ConfigError(f"[content] site: {key!r} {why}", path=path)
        if not isinstance(value, str) or len(value) > 2000 or not value.isprintable():
            raise ConfigError(f"[content] site: {key} must be a line of text (what {{{{ site.{key} }}}} is)", path=path)
    return tuple(sorted(given.items()))


def _content(raw: dict[str, Any], path: str) -> ContentSettings:
    """[content]: a known renderer whose extensions load, fetch_allow hosts, a sane render timeout."""
    section = raw.get("content")
    mapped: object = None
    values: object = None
    if isinstance(section, dict) and "site" in section:
        values = section["site"]
        section = {k: v for k, v in section.items() if k != "site"}
        raw = {**raw, "content": section}
    if isinstance(section, dict) and "fields" in section:
        mapped = section["fields"]
        raw = {**raw, "content": {k: v for k, v in section.items() if k != "fields"}}
    content = _section(raw, "content", ContentSettings, path)
    if content.get("renderer", "cmark") not in RENDERERS:
        raise ConfigError(f"[content] renderer must be one of {', '.join(RENDERERS)}", path=path)
    if content.get("renderer") == "markdown":
        why = markdown_problem(content.get("markdown_extensions", ContentSettings().markdown_extensions))
        if why:
            raise ConfigError(f"[content] markdown_extensions: {why}", path=path)
    why = allow_problem(content.get("fetch_allow", ()))
    if why:
        raise ConfigError(f'[content] {why}; write host names like "media.lan" or "media.lan:8080"', path=path)
    if not 0.1 <= content.get("render_timeout", 5.0) <= 600:
        raise ConfigError("[content] render_timeout must be between 0.1 and 600 seconds", path=path)
    if content.get("media_url"):
        content["media_url"] = _absolute_url(content["media_url"], "[content] media_url", path)
    if content.get("slug_source", "") not in ("", "title", "filename"):
        raise ConfigError('[content] slug_source must be "title", "filename" or "" (the generator\'s rule)', path=path)
    pattern = content.get("filename_metadata", "")
    if pattern:
        try:
            groups = set(re.compile(pattern).groupindex)
        except re.error as e:
            raise ConfigError(f"[content] filename_metadata is not a valid regex: {e}", path=path) from None
        if not groups or groups - {"date", "slug"}:
            raise ConfigError("[content] filename_metadata may name only (?P<date>…) and (?P<slug>…)", path=path)
    generator = content.get("generator", "syndicate")
    if generator not in GENERATORS:
        hint = close_match(str(generator).lower(), GENERATORS)
        also = f"; did you mean {hint!r}?" if hint else ""
        raise ConfigError(f"[content] generator must be one of {', '.join(GENERATORS)}{also}", path=path)
    for key in ("taxonomies", "sections"):
        for name in content.get(key, ()):
            if slug_problem(name) or name != name.strip():
                raise ConfigError(f'[content] {key}: {name!r} must be a plain name, like "categories"', path=path)
    taxonomies = content.get("taxonomies", ())
    if len({t.lower() for t in taxonomies}) < len(taxonomies):
        raise ConfigError("[content] taxonomies names a key twice", path=path)
    content["taxonomies"] = tuple(t.lower() for t in taxonomies)
    if mapped is not None:
        content["fields"] = _fields(mapped, generator != "syndicate", path)
    if values is not None:
        content["site"] = _site_values(values, path)
    folder = content.get("dir", "content")
    if Path(folder).is_absolute() or ".." in Path(folder).parts or "\\" in folder:
        raise ConfigError(f'[content] dir {folder!r} must be a folder inside the site, like "content"', path=path)
    return ContentSettings(**content)


def _output(raw: dict[str, Any], path: str, content: ContentSettings) -> OutputSettings:
    """[output]: a folder that is neither the site itself nor holds or lies in its posts; the two
    pages at plain relative paths (or "" for none)."""
    _no_credentials(raw.get("output"), path)
    section = raw.get("output", {})
    verify = section.get("verify_live") if isinstance(section, dict) else None
    if verify is not None and not isinstance(verify, bool):
        raise ConfigError(f"[output] verify_live must be true or false, not {verify!r}", path=path)
    if isinstance(section, dict):
        raw = {**raw, "output": {k: v for k, v in section.items() if k != "verify_live"}}
    output = _section(raw, "output", OutputSettings, path)
    if verify is not None:
        output["verify_live"] = verify
    _bucket_keys(output, path)
    folder = output.get("dir", OutputSettings().dir)
    parts = [p for p in folder.replace("\\", "/").split("/") if p not in ("", ".")]
    if not folder.strip() or "\x00" in folder or "\\" in folder or not parts:
        raise ConfigError(
            f'[output] dir {folder!r} must be a folder of its own, like "public" or ".syndicate/public"', path=path
        )
    if any(not c.isprintable() for c in folder) or len(folder) > 1024 or any(len(p.encode()) > 255 for p in parts):
        raise ConfigError(
            f"[output] dir {folder[:60]!r}{'…' * (len(folder) > 60)} must be a folder name the file system takes:"
            " printable, each part at most 255 bytes, 1024 characters in all",
            path=path,
        )
    if not Path(folder).is_absolute():
        inside = "/".join(parts)
        posts = "/".join(p for p in content.dir.split("/") if p not in ("", "."))
        for mine, why in ((posts, "the posts"), ("config", "the config")):
            if mine and (inside == mine or mine.startswith(inside + "/") or inside.startswith(mine + "/")):
                raise ConfigError(
                    f"[output] dir {folder!r} would mix the feeds with {why} ({mine}/); choose a folder of its own",
                    path=path,
                )
    pages = {}
    for key in ("index", "opml"):
        rel = output.get(key, getattr(OutputSettings(), key))
        if rel and any(slug_problem(seg) for seg in rel.split("/")):
            raise ConfigError(
                f'[output] {key} must be a plain path in the output folder like "feeds/index.html", or "" for none;'
                f" not {rel!r}",
                path=path,
            )
        pages[key] = rel
    if pages["index"] and pages["index"] == pages["opml"]:
        raise ConfigError("[output] index and opml must be two different files", path=path)
    for pattern in output.get("take_over", ()):
        segments = pattern.split("/")
        if (
            not pattern
            or pattern.startswith("/")
            or any(seg in ("", ".", "..") for seg in segments)
            or any(not c.isprintable() or c == "\\" for c in pattern)
            or len(pattern) > 1024
        ):
            raise ConfigError(
                f'[output] take_over: {pattern[:80]!r} must be a path in the output folder like "index.xml" or'
                ' "tags/*/index.xml"',
                path=path,
            )
    return OutputSettings(**output)


_CREDENTIAL = re.compile(r"access|secret|token|password|credential|(^|_)key($|_)", re.IGNORECASE)
CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, or AWS_PROFILE with a profile"
    " in ~/.aws/credentials"
)


def _no_credentials(section: object, path: str) -> None:
    """A credential in [output] is refused by its key alone (its value is never shown): the config
    file is committed and shared, and a bucket's key must not be."""
    if isinstance(section, dict):
        for key in section:
            if isinstance(key, str) and _CREDENTIAL.search(key):
                raise ConfigError(
                    f"[output] {key}: credentials are never read from the config file; {CREDENTIALS_HINT}",
                    path=path,
                )


def _bucket_keys(output: dict[str, Any], path: str) -> None:
    """[output] url (s3://bucket/prefix/), endpoint (an http(s) base URL), region, the Cache-Control values."""
    url = output.get("url", "")
    if url:
        try:
            parse_s3_url(url)
        except ValueError as e:
            raise ConfigError(f"[output] url {url[:80]!r} {e}", path=path) from None
    endpoint = output.get("endpoint", "")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise ConfigError(
                f'[output] endpoint {endpoint[:80]!r} must be the service\'s base URL like "https://s3.example.com"'
                " (no credentials in it)",
                path=path,
            )
        if parts.query or parts.fragment or parts.path not in ("", "/"):
            raise ConfigError(f"[output] endpoint {endpoint[:80]!r} must have no path, query or fragment", path=path)
    region = output.get("region", "")
    if region and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", region):
        raise ConfigError(
            f'[output] region {region[:80]!r} must be a region name like "us-east-1" or "auto"', path=path
        )
    if output.get("content_encoding", "") not in ("", "gzip"):
        raise ConfigError(
            f'[output] content_encoding must be "gzip" or "" (none: the CDN compresses), not'
            f" {output['content_encoding'][:40]!r}",
            path=path,
        )
    for key in ("feed_cache_control", "page_cache_control"):
        value = output.get(key, "")
        if len(value) > 512 or not all(c.isprintable() for c in value):
            raise ConfigError(f"[output] {key} must be one line of at most 512 characters", path=path)
    for key, most in (("verify_timeout", 3600.0), ("verify_interval", 600.0), ("purge_timeout", 3600.0)):
        seconds = output.get(key, 1.0)
        if not 0 < seconds <= most:
            raise ConfigError(f"[output] {key} must be a number of seconds above 0, at most {most:g}", path=path)
    command = output.get("purge_command", ())
    if command and (not command[0] or any("\x00" in part for part in command)):
        raise ConfigError(
            '[output] purge_command must be a program and its arguments, like ["purge-cdn", "--zone", "blog"]',
            path=path,
        )


def bucket_of(settings: Settings, out: str | None = None) -> Bucket | None:
    """The bucket a build is uploaded to: ``--out s3://…`` when given, else ``[output] url``
    (None: the output is a folder). Raises ConfigError for an ``--out`` URL that names no bucket."""
    url = out if out is not None else settings.output.url
    if not url:
        return None
    try:
        bucket, prefix = parse_s3_url(url)
    except ValueError as e:
        raise ConfigError(f"--out {url[:80]!r} {e}") from None
    return Bucket(bucket, prefix, settings.output.endpoint, settings.output.region)


def staging_dir(site_dir: Path, bucket: Bucket) -> Path:
    """The folder a build for a bucket is written to before it is uploaded (under .syndicate/)."""
    where = hashlib.sha256(f"{bucket.endpoint}\n{bucket.url}".encode()).hexdigest()[:10]
    return site_dir / ".syndicate" / "bucket" / f"{bucket.bucket}-{where}"


# What `syndicate init` writes where it found nothing (and the URL an older init wrote): a feed,
# a toot or a webhook that links to a stand-in is worse than none, so `check` fails on them and
# `publish` and the daemon deliver nothing until they are replaced.
STAND_IN = "CHANGE ME"
STAND_IN_URL = "https://change-me.invalid/"  # .invalid: a name reserved never to resolve (RFC 2606)
_OLD_STAND_IN_URLS = frozenset({"https://example.org/"})


def stand_ins(settings: Settings) -> list[str]:
    """One line per [site] value that is a stand-in, naming the key and what to write."""
    site = settings.site
    out = []
    host = (urlsplit(site.url).hostname or "").rstrip(".").lower()
    if host == "invalid" or host.endswith(".invalid") or site.url in _OLD_STAND_IN_URLS:
        out.append(f"[site] url is {site.url!r}, a stand-in: write the address the site is served from")
    wanted = {"title": "the site's title", "author": "the name the feeds show", "description": "a line about the site"}
    for key, what in wanted.items():
        value = getattr(site, key, None)
        if isinstance(value, str) and STAND_IN.lower() in value.lower():
            out.append(f"[site] {key} is {value!r}, a stand-in: write {what}")
    return out


def output_dir(site_dir: Path, settings: Settings, out: Path | None = None) -> Path:
    """The output folder: ``--out`` when given, else ``[output] dir`` (relative to the site).
    Raises ConfigError for a folder given as a path (``--out``, an absolute ``[output] dir``)
    that is the site itself or holds or lies in its posts or its config, as the config refuses a
    relative ``[output] dir``: the feeds would be written among the posts."""
    if out is None and settings.output.url and (bucket := bucket_of(settings)) is not None:
        return staging_dir(site_dir, bucket)  # built here, then uploaded (builder/bucket.py)
    if out is None:
        folder = Path(settings.output.dir)
        if not folder.is_absolute():
            return site_dir / folder  # checked by parse_settings
        out = folder
    _own_folder(site_dir, settings, out)
    _utf8_folder(out, "--out" if out != Path(settings.output.dir) else "[output] dir")
    return out


def _utf8_folder(folder: Path, what: str) -> None:
    """A folder whose path is not valid UTF-8 cannot be named in the cache, the ledger or a message
    that others read (each keeps text): refused at once, before anything is written."""
    path = str(folder.absolute())
    if name_problem(path):
        raise ConfigError(f"{what} {printable(path)} is not valid UTF-8; rename it or choose another folder")


def _own_folder(site_dir: Path, settings: Settings, out: Path) -> None:
    real = out.resolve()
    site = site_dir.resolve()
    what = "--out" if out != Path(settings.output.dir) else "[output] dir"
    if real == site:
        raise ConfigError(f"{what} {out} is the site folder itself; choose a folder of its own, like public")
    for mine, why in ((site_dir / settings.content.dir, "the posts"), (site_dir / "config", "the config")):
        folder = mine.resolve()
        if folder == site:
            continue  # a generator that keeps its posts at the top of the site (Jekyll, Eleventy)
        holds = real in folder.parents and site in real.parents  # a folder of the site around it
        if real == folder or folder in real.parents or holds:
            raise ConfigError(f"{what} {out} would mix the feeds with {why} ({mine}); choose a folder of its own")


def _feed_folders(feeds: FeedSettings, content: ContentSettings, output: OutputSettings, path: str) -> None:
    """Each taxonomy's feeds get a folder of their own: two may not share one, nor may one take a
    feed file's name; the pages may not take a feed's path or a taxonomy's folder."""
    folders = taxonomy_folders(feeds, content)
    for key in ("index", "opml"):
        rel = getattr(output, key)
        for name in ("rss", "atom", "json"):
            if rel == getattr(feeds, name):
                raise ConfigError(
                    f"[feeds] {name} = {rel!r} is a name syndicate writes for another file ([output] {key})", path=path
                )
        if rel.split("/")[0] in (feeds.tags_dir, *folders.values()):
            raise ConfigError(f"[output] {key} = {rel!r} is in a folder of taxonomy feeds", path=path)
    taken = {feeds.rss, feeds.atom, feeds.json, output.index.split("/")[0], output.opml.split("/")[0]} - {""}
    seen: dict[str, str] = {}
    for taxonomy, folder in folders.items():
        if folder in taken:
            raise ConfigError(f"[content] taxonomy {taxonomy!r}: its folder {folder!r} is a file's name", path=path)
        if folder in seen:
            raise ConfigError(
                f"[content] taxonomies {seen[folder]!r} and {taxonomy!r} would share the folder {folder!r}; "
                "set [feeds] tags_dir to another name",
                path=path,
            )
        seen[folder] = taxonomy


def _hubs(raw: dict[str, Any], path: str) -> tuple[str, ...]:
    """[websub] hubs: absolute URLs, nothing else in the section."""
    websub = raw.get("websub", {})
    if isinstance(websub, dict) and set(websub) - {"hubs"}:
        raise ConfigError(
            f"unknown key {sorted(set(websub) - {'hubs'})[0]!r} in [websub]; it takes hubs = [...]", path=path
        )
    hubs = websub.get("hubs", []) if isinstance(websub, dict) else None
    if not isinstance(hubs, list) or not all(isinstance(h, str) for h in hubs):
        raise ConfigError("[websub] hubs must be a list of URLs", path=path)
    for hub in hubs:
        _absolute_url(hub, f"[websub] hub {hub!r}", path)
    return tuple(hubs)


def _delivery(raw: dict[str, Any], path: str) -> DeliverySettings:
    """[delivery]: attempts, a retry schedule, the window before a deletion and the guard, within bounds."""
    delivery = _section(raw, "delivery", DeliverySettings, path)
    if not 1 <= delivery.get("max_attempts", 8) <= 50:
        raise ConfigError("[delivery] max_attempts must be between 1 and 50", path=path)
    if any((not isinstance(d, int)) or not 0 <= d <= MAX_RETRY_DELAY for d in delivery.get("retry_schedule", ())):
        raise ConfigError(
            f"[delivery] retry_schedule must be a list of seconds, each from 0 to {MAX_RETRY_DELAY} (30 days)",
            path=path,
        )
    if not 0 <= delivery.get("delete_after", 300) <= MAX_RETRY_DELAY:
        raise ConfigError(
            f"[delivery] delete_after must be seconds from 0 (at once) to {MAX_RETRY_DELAY} (30 days)", path=path
        )
    if not 0 <= delivery.get("max_retractions_percent", 10) <= 100:
        raise ConfigError("[delivery] max_retractions_percent must be between 0 and 100", path=path)
    return DeliverySettings(**delivery)


def _state_path(raw: dict[str, Any], path: str) -> str:
    """[state] path: a file name (the ledger), nothing else in the section."""
    state = raw.get("state", {})
    if not isinstance(state, dict) or set(state) - {"path"} or not isinstance(state.get("path", ""), str):
        raise ConfigError('[state] takes one key, path = "…/state.db"', path=path)
    ledger = state.get("path", "")
    if ledger and (ledger.endswith(("/", "\\")) or Path(ledger).name in ("", ".", "..") or "\x00" in ledger):
        raise ConfigError(f'[state] path {ledger!r} must name a file, like ".syndicate/state.db"', path=path)
    return state.get("path") or ".syndicate/state.db"


def _store(raw: dict[str, Any], path: str) -> StoreSettings | None:
    """[store]: the ledger in PostgreSQL. A postgresql:// URL with a host and a database and no
    password in it (a config file is read, copied and committed: a password goes in the
    environment variable ``password_env`` names, or libpq's PGPASSWORD or ~/.pgpass)."""
    if "store" not in raw:
        return None
    store = _section(raw, "store", StoreSettings, path)
    url = store.get("url", "")
    if not url:
        raise ConfigError('[store] url is required, like url = "postgresql://syndicate@db:5432/ledger"', path=path)
    why = postgres_url_problem(url)
    if why:
        raise ConfigError(f"[store] url {why}", path=path)
    env = store.get("password_env", "")
    if env and not _ENV_NAME.match(env):
        raise ConfigError(f"[store] password_env must be an environment variable's name, not {env!r}", path=path)
    name = store.get("site", "")
    if name != name.strip() or (name and not name.isprintable()) or len(name) > 200:
        raise ConfigError('[store] site must be a name of printable characters (at most 200), like "blog"', path=path)
    if not 1 <= store.get("lease", 30.0) <= 3600:
        raise ConfigError("[store] lease must be seconds from 1 to 3600 (an hour), like lease = 30", path=path)
    return StoreSettings(**store)


def postgres_url_problem(url: str) -> str | None:
    """What is wrong with a [store] url (None: nothing): a postgresql:// URL with a host and a
    database and no password in it; the message never repeats the password."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError as e:
        return f"is not a URL like postgresql://user@host:5432/db ({e})"
    if parts.scheme not in ("postgresql", "postgres"):
        shown = f"{parts.scheme}://…" if parts.scheme else "something else"
        return f"must be a postgresql:// URL like postgresql://user@host:5432/db, not {shown}"
    if parts.password is not None or "password" in parse_qs(parts.query):
        return (
            "holds a password: remove it from the URL and put it in an environment variable named by"
            " [store] password_env (or in libpq's PGPASSWORD or ~/.pgpass)"
        )
    if not parts.hostname or not parts.path.strip("/"):
        return "must name a host and a database, like postgresql://user@host:5432/db"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "holds spaces or control characters"
    return None


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HANDLE = re.compile(
    r"^(?=.{3,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


def markdown_problem(extensions: tuple[str, ...]) -> str | None:
    """Why Python-Markdown cannot load these extensions (None: it can)."""
    import markdown

    try:
        markdown.Markdown(extensions=list(extensions))
    except Exception as e:  # an ImportError, an AttributeError, whatever a broken extension raises
        return f"{type(e).__name__}: {' '.join(str(e).split())[:200]}; check the names (see Python-Markdown's docs)"
    return None


_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KIND_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required keys, optional keys) beyond name, kind, timeout
    "webhook": (("url", "secret_env"), ("events",)),
    "mastodon": (
        ("instance", "token_env"),
        ("template", "visibility", "max_characters", "on_edit", "on_delete", "images"),
    ),
    "bluesky": (("handle", "password_env"), ("service", "template", "on_edit", "on_delete", "images")),
    "discord": (("url_env",), ("template", "on_edit", "on_delete", "images")),
    "telegram": (("chat", "token_env"), ("api", "template", "on_edit", "on_delete", "images")),
    "slack": ((), ("channel", "token_env", "url_env", "api", "template", "on_edit", "on_delete")),
    "webmention": ((), ()),
}
_ONE_IMAGE = frozenset({"discord", "telegram"})  # an embed's image, a photo message: one at most
_TELEGRAM_CHAT = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?[1-9][0-9]{0,15})$")
_SLACK_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{8,20}$")
SLACK_API = "https://slack.com/api"


# ~65 lines: each key of a [[targets]] table is checked in the order docs/reference/config.md lists them,
# with the message that names it; cutting it would split one table's rules in two.
def _targets(raw: object, path: str) -> tuple[TargetSettings, ...]:
    """[[targets]]: unique names, a known kind with the keys it needs (and no other), secrets
    named by environment variable, events, visibility, templates, limits and timeouts in range."""
    if not isinstance(raw, list):
        raise ConfigError("targets must be written as [[targets]] tables", path=path)
    out: list[TargetSettings] = []
    for i, entry in enumerate(raw, 1):
        if not isinstance(entry, dict):
            raise ConfigError(f"[[targets]] #{i} must be a table", path=path)
        name = entry.get("name")
        where = f"[[targets]] {name!r}" if isinstance(name, str) else f"[[targets]] #{i}"
        if not isinstance(name, str) or not _TARGET_NAME.match(name):
            raise ConfigError(f"{where}: name must be a short name of letters, digits, '-', '_' or '.'", path=path)
        if any(t.name == name for t in out):
            raise ConfigError(f"{where}: two targets are called {name!r}", path=path)
        kind = entry.get("kind")
        if kind not in _KIND_KEYS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(_KIND_KEYS)}, not {kind!r}", path=path)
        required, optional = _KIND_KEYS[kind]
        allowed = {"name", "kind", "timeout", *required, *optional}
        values = _section(
            {"t": {k: v for k, v in entry.items() if k in allowed and k not in ("timeout", "images")}},
            "t",
            TargetSettings,
            path,
        )
        for key in entry:
            if key not in allowed:
                other = next((k for k, (r, o) in _KIND_KEYS.items() if key in r or key in o), None)
                hint = f"; {key} is for {other} targets" if other else ""
                close = close_match(key, allowed)
                hint = hint or (f"; did you mean {close!r}?" if close else "")
                raise ConfigError(f"{where}: unknown key {key!r}{hint}", path=path)
        for key in required:
            if not str(entry.get(key, "")).strip():
                raise ConfigError(f"{where}: {key} is required for a {kind} target", path=path)
        for key in ("secret_env", "token_env", "password_env", "url_env"):
            if key in values and not _ENV_NAME.match(values[key]):
                raise ConfigError(
                    f"{where}: {key} names an environment variable (like MY_SECRET), never the secret itself",
                    path=path,
                )
        if "url" in values:
            _absolute_url(values["url"], f"{where} url", path)  # checked, kept as written
        for key in ("instance", "service", "api"):
            if key in values:
                values[key] = _absolute_url(values[key], f"{where} {key}", path).rstrip("/")
        events = values.get("events", ("post.published",))
        bad = [e for e in events if e not in EVENTS]
        if bad or not events:
            raise ConfigError(f"{where}: events must be some of {', '.join(EVENTS)}", path=path)
        if values.get("visibility", "public") not in ("public", "unlisted", "private", "direct"):
            raise ConfigError(f"{where}: visibility must be public, unlisted, private or direct", path=path)
        if "template" in values:
            why = template_problem(values["template"], TEMPLATE_FIELDS)
            if why:
                raise ConfigError(f"{where}: template {why}", path=path)
        if values.get("on_edit", ON_EDIT.get(kind, ("",))[0]) not in ON_EDIT.get(kind, ("",)):
            choices = " or ".join(repr(c) for c in ON_EDIT[kind])
            raise ConfigError(f"{where}: on_edit must be {choices} (what an edit of a post does here)", path=path)
        if values.get("on_delete", "delete") not in ON_DELETE:
            raise ConfigError(f"{where}: on_delete must be 'delete' or 'ignore'", path=path)
        chars = values.get("max_characters", 0)
        if chars != 0 and not 50 <= chars <= 100_000:
            raise ConfigError(f"{where}: max_characters must be 0 (ask the instance) or 50 to 100000", path=path)
        if "images" in allowed:
            most = 1 if kind in _ONE_IMAGE else SOCIAL_IMAGE_LIMIT
            count = entry.get("images", most)
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= most:
                raise ConfigError(
                    f"{where}: images must be a whole number from 0 to {most}"
                    f" (how many images a post carries), not {count!r}",
                    path=path,
                )
            values["images"] = count
        if "handle" in values and not _HANDLE.match(values["handle"]):
            raise ConfigError(
                f"{where}: handle {values['handle']!r} must be a domain name like alice.bsky.social (no @, no spaces)",
                path=path,
            )
        if "chat" in values and not _TELEGRAM_CHAT.match(values["chat"]):
            raise ConfigError(
                f"{where}: chat {values['chat']!r} must be a channel's @username (5 to 32 letters, digits"
                " or _) or a numeric chat id like -1001234567890",
                path=path,
            )
        if kind == "slack":
            _slack(values, where, path)
        timeout = entry.get("timeout", 10.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.1 <= float(timeout) <= 300:
            raise ConfigError(f"{where}: timeout must be between 0.1 and 300 seconds", path=path)
        values["timeout"] = float(timeout)
        values.setdefault("service", "https://bsky.social" if kind == "bluesky" else "")
        values.setdefault("api", "https://api.telegram.org" if kind == "telegram" else "")
        out.append(TargetSettings(**values))
    return tuple(out)


def _slack(values: dict[str, Any], where: str, path: str) -> None:
    """A slack target: a bot token and a channel ID (send, edit, delete), or an incoming webhook
    (send only: it names its own channel, and can neither edit nor delete)."""
    if bool(values.get("token_env")) == bool(values.get("url_env")):
        raise ConfigError(
            f"{where}: give token_env (a bot token: send, edit, delete) or url_env (an incoming webhook: send only)"
            + (", not both" if values.get("token_env") else ""),
            path=path,
        )
    if values.get("url_env"):
        if values.get("channel"):
            raise ConfigError(f"{where}: an incoming webhook posts to its own channel; remove channel", path=path)
        for key, wrong in (("on_edit", "update"), ("on_delete", "delete")):
            if values.get(key) == wrong:
                raise ConfigError(
                    f"{where}: an incoming webhook cannot edit or delete a message; {key} must be 'ignore'"
                    " (or use token_env, a bot token)",
                    path=path,
                )
    elif not _SLACK_CHANNEL.match(values.get("channel", "")):
        raise ConfigError(
            f"{where}: channel must be the channel's ID like C0123456789 (in Slack: the channel's details,"
            f" at the bottom), not {values.get('channel', '')!r}",
            path=path,
        )
    values.setdefault("api", SLACK_API)
    values["images"] = 1  # one image block: the thumbnail, else the body's first image


MAX_CONFIG_BYTES = 1024 * 1024


def shown_config(site_dir: Path) -> str:
    """The config file as messages name it: relative when the site is the current folder."""
    path = site_dir / CONFIG_PATH
    return str(CONFIG_PATH) if site_dir.resolve() == Path.cwd().resolve() else str(path.absolute())


def load_settings(site_dir: Path) -> Settings:
    """Read ``config/syndicate.toml`` under ``site_dir`` (a regular file of at most 1 MiB: a FIFO
    put there never hangs a command) and check what only the disk can tell."""
    path = site_dir / CONFIG_PATH
    _utf8_folder(site_dir, "the site folder")
    shown = shown_config(site_dir)
    if not path.exists() and not path.is_symlink():
        from .detect import detect_generator  # only here: a configured site never pays for it

        found = detect_generator(site_dir)
        if found is not None and found[0] != "syndicate":
            name, evidence = found
            raise ConfigError(
                f"no config file; this looks like a {name.capitalize()} site ({evidence}): "
                "run `syndicate init` to adopt it as it is",
                path=shown,
            )
        raise ConfigError(
            f"no config file; run `syndicate init` to write {CONFIG_PATH} for the posts here (its [site] section:"
            " docs/reference/config.md), or pass --site DIR for a site elsewhere",
            path=shown,
        )
    try:
        text = read_limited(str(path.resolve()), MAX_CONFIG_BYTES, shown, "the config").decode("utf-8")
    except ContentError as e:
        raise ConfigError(e.message, path=shown) from None
    except UnicodeDecodeError:
        raise ConfigError("not valid UTF-8", path=shown) from None
    settings = parse_settings(text, shown)
    static = settings.content.static
    if static and not (site_dir / static).is_dir():
        raise ConfigError(
            f"[content] static folder {site_dir / static} not found; create it or remove the key", path=shown
        )
    ledger = Path(settings.state_path) if Path(settings.state_path).is_absolute() else site_dir / settings.state_path
    if ledger.is_dir():
        raise ConfigError(f"[state] path {settings.state_path!r} is a folder; name a file in it", path=shown)
    return settings
