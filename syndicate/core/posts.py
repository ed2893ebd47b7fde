"""One post file's bytes → a :class:`Post`, or the reason it cannot be published. Pure.

Everything a writer can get wrong in a file ends here as a :class:`ContentError` with the
file and, where known, the line. Nothing in this module reads files or the clock.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..errors import ContentError
from . import frontmatter
from .bodies import XML_ILLEGAL, clean_text, prepared, relative
from .dates import parse_when, read_when
from .dialects import GENERATORS, README_NAMES, Dialect, FieldKeys, date_in_path, dialect, file_name, keep_slug
from .frontmatter import FrontMatter, type_name
from .hints import close_match
from .markup import HTML_BODY, render_body
from .model import PERMALINK_FIELDS, TEMPLATE_FIELDS, Content, Image, Post, Problem, RenderArgs, Settings, media_type
from .permalinks import UrlFacts, expand, normal_template, own_url, pattern_for, placeholders, template_problem, values
from .slugs import slug_problem, tag_key
from .sources import written_in_html

MAX_TAG_LENGTH = 100
MAX_TAGS = 100

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


@dataclass
class ParseResult:
    """A post file parsed: the post, or None when an error rejected it (or it is no post: a
    problem of severity "skipped" says why); problems of every kind."""

    post: Post | None
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FileTimes:
    """A file's times, for Eleventy's ``date: Last Modified`` and ``date: Created`` (UTC)."""

    modified: datetime
    created: datetime


class _Skip(Exception):
    """The file is no post (a redirect stub, excluded from collections): why."""


@dataclass
class _Doc:
    """Where things are in one file, for line numbers in messages."""

    path: str
    fm: FrontMatter
    problems: list[Problem]
    aliases: dict[str, str] = field(default_factory=dict)  # field → the key [content] fields reads it from

    def line_of(self, key: str) -> int | None:
        return self.fm.line_of(self.aliases.get(key, key))

    def example(self, key: str, value: str = "…", bare: bool = False) -> str:
        """How to write ``key`` in this file's front matter: ``title: …`` in YAML, ``title = "…"`` in
        TOML, ``"title": "…"`` in JSON, ``Title: …`` in Pelican's metadata."""
        name = self.aliases.get(key, key)
        quoted = value if bare else f'"{value}"'
        form = self.fm.form
        if form == "toml":
            return f"{name} = {quoted}"
        if form == "json":
            return f'"{name}": "{value}"'
        if form == "pelican":
            return f"{name.capitalize()}: {value}"
        return f"{name}: {value}"

    def fail(self, key: str | None, message: str) -> ContentError:
        return ContentError(self.path, message, line=self.line_of(key) if key else None)

    def warn(self, key: str | None, message: str) -> None:
        line = self.line_of(key) if key else None
        self.problems.append(Problem(self.path, message, line, "warning"))


def _text(doc: _Doc, meta: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = meta.get(key)
    if value is None:
        if required:
            raise doc.fail(
                key if key in meta else None, f"{key} is missing; add `{doc.example(key)}` to the front matter"
            )
        return None
    if isinstance(value, bool):
        raise doc.fail(key, f"{key} must be text, not true/false; put it in quotes")
    if not isinstance(value, str | int | float):
        raise doc.fail(key, f"{key} must be text, not {type_name(value)}")
    text = " ".join(str(value).split())
    if XML_ILLEGAL.search(text):
        doc.warn(key, f"removed control characters from {key}")
        text = XML_ILLEGAL.sub("", text)
    if not text and required:
        raise doc.fail(key, f"{key} is empty")
    return text or None


def _reader(d: Dialect, key: str) -> str:
    """Whose reading of a date written as text: the generator's (Pelican's ``date`` has its own)."""
    return "pelican-date" if d.name == "pelican" and key == "date" else d.name


def _when(doc: _Doc, meta: dict[str, Any], key: str, tz: Any, d: Dialect) -> datetime | None:
    if meta.get(key) is None:
        return None
    try:
        return parse_when(meta[key], tz, _reader(d, key))
    except ValueError as e:
        raise doc.fail(key, f"{key}: {e}") from None


def _bool(doc: _Doc, meta: dict[str, Any], key: str) -> bool:
    value = meta.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise doc.fail(key, f"{key} must be true or false, not {value!r}")
    return value


def _image(doc: _Doc, meta: dict[str, Any], key: str, settings: Settings, post_url: str) -> Image | None:
    ref = _text(doc, meta, key)
    if not ref:
        return None
    if ref.startswith("/"):
        url = urljoin(settings.site.url, ref)
    elif _SCHEME.match(ref):
        url = ref
    else:
        url = urljoin(settings.content.media_url or post_url, ref)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        doc.warn(key, f"{key} {ref!r} is not an http(s) URL or a path; left out")
        return None
    return Image(url=url, mime_type=media_type(parts.path))


# What a post may set for one target of each kind, in `syndicate: {name: {…}}`.
SOCIAL_OPTIONS = {"mastodon": ("text", "visibility"), "bluesky": ("text",), "slack": ("text",), "webhook": ()}
SOCIAL_OPTIONS |= {"discord": ("text",), "telegram": ("text",)}
VISIBILITIES = ("public", "unlisted", "private", "direct")

Social = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


def _syndicate(doc: _Doc, meta: dict[str, Any], settings: Settings) -> tuple[tuple[str, ...] | None, Social]:
    """Where the post goes, and its own options per target.

    `syndicate: false` → nowhere; a list or comma-separated names → only those; absent/true →
    every target; a mapping of target names → every target, but ``false`` ones, each with its
    options (``{text: "…{url}", visibility: unlisted}``). An unknown target or option is a
    warning and left out: the post still goes where it can."""
    raw = meta.get("syndicate")
    if raw is None or raw is True:
        return None, ()
    if raw is False:
        return (), ()
    if isinstance(raw, dict):
        return None, _social(doc, raw, settings)
    if isinstance(raw, str):
        names = [n.strip() for n in raw.split(",") if n.strip()]
    elif isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        names = [n.strip() for n in raw if n.strip()]
    else:
        raise doc.fail("syndicate", "syndicate must be true, false, a list of target names or a mapping of them")
    for name in names:
        _known_target(doc, name, settings)
    return tuple(dict.fromkeys(names)), ()


def _known_target(doc: _Doc, name: str, settings: Settings) -> str | None:
    """The kind of the target called ``name``, or None (and a warning) when there is none."""
    target = settings.target(name)
    if target is None:
        known = ", ".join(sorted(t.name for t in settings.targets)) or "none"
        doc.warn("syndicate", f"syndicate: {name!r} is not a target in the config; known: {known}")
        return None
    return target.kind


def _social(doc: _Doc, raw: dict[Any, Any], settings: Settings) -> Social:
    out: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for key, value in raw.items():
        name = str(key)
        kind = _known_target(doc, name, settings)
        if kind is None:
            continue
        if value is True or value is None:
            continue
        if value is False:
            out.append((name, (("send", "no"),)))
            continue
        if not isinstance(value, dict):
            doc.warn("syndicate", f"syndicate: {name}: must be true, false or options like {{text: …}}; left out")
            continue
        options: list[tuple[str, str]] = []
        for option, setting in value.items():
            where = f"syndicate: {name}: {option}"
            allowed = SOCIAL_OPTIONS[kind]
            if option not in allowed:
                hint = f"a {kind} target takes {', '.join(allowed)}" if allowed else f"a {kind} target takes none"
                doc.warn("syndicate", f"{where} is not an option ({hint}); left out")
            elif not isinstance(setting, str) or not setting.strip():
                doc.warn("syndicate", f"{where} must be text; left out")
            elif option == "visibility" and setting not in VISIBILITIES:
                doc.warn("syndicate", f"{where} must be one of {', '.join(VISIBILITIES)}; left out")
            elif option == "text" and (why := template_problem(setting, TEMPLATE_FIELDS)):
                doc.warn("syndicate", f"{where} {why}; left out")
            else:
                options.append((str(option), setting.strip() if option == "visibility" else setting))
        if options:
            out.append((name, tuple(options)))
    return tuple(out)


def post_id(raw_id: str | None, url: str, site_url: str) -> str:
    """The permanent id: the permalink, or front-matter `id` made into a URI."""
    if raw_id is None:
        return url
    if _SCHEME.match(raw_id):
        return raw_id  # already a URI: "tag:…", "urn:uuid:…", "https://…"
    import uuid  # here: it loads platform, ~3 ms of a one-post rebuild whose post has no raw id

    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, site_url + '#' + raw_id)}"


def parse_post(path: str, data: bytes, settings: Settings, times: FileTimes | None = None) -> ParseResult:
    """Parse one post file. ``path`` is how messages name it (relative to the site); ``times``
    are the file's, for a generator whose dates may name them (Eleventy)."""
    problems: list[Problem] = []
    try:
        post = _parse(path, data, settings, problems, times)
    except ContentError as e:
        problems.append(Problem(e.path, e.message, e.line, "error"))
        return ParseResult(None, problems)
    except _Skip as e:
        return ParseResult(None, [Problem(path, str(e), None, "skipped")])
    return ParseResult(post, problems)


# The keys each field is read from, first found wins: syndicate's own name first, then the
# generators' (all lower case: front matter keys are folded, see core/frontmatter.py).
_K = FieldKeys()
# What syndicate reads (a key close to one of these but unknown is likely a typo) and what the
# generators use that syndicate does not (quiet).
READ_KEYS = frozenset(
    {"title", "slug", "id", "lang", "draft", "status", "content_warning", "syndicate", "thumb_alt", "image_alt"}
    | {"tags", "categories", "category", "tag", "taxonomies", "permalink", "url", "path", "series"}
    | set(_K.date + _K.updated + _K.expiry + _K.summary + _K.image + _K.author + _K.publish)
    | {"redirect", "redirect_to", "redirect_from", "aliases", "eleventyexcludefromcollections", "headless"}
)
# The keys a typo is most likely of, offered in "did you mean".
SUGGESTED = frozenset(
    {"title", "date", "updated", "tags", "categories", "slug", "summary", "description", "draft", "author"}
    | {"image", "thumb", "lang", "id", "content_warning", "syndicate", "permalink"}
)
PELICAN_CUT = (
    "Pelican's header ends here: this line is no `key: value` (Pelican reads no YAML lists or blocks), "
    "so it and the lines up to the body are published as text; write `key: a, b` on one line"
)
FILE_TIME_DATES = {"last modified": "modified", "git last modified": "modified", "created": "created"}
FILE_TIME_DATES |= {"git created": "created"}
_STUB_KEYS = frozenset({"redirect", "redirect_to", "redirect_from", "aliases", "layout", "title", "url", "permalink"})
_STUB_KEYS |= {"sitemap", "type", "date"}


def _first(meta: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` the front matter sets (to anything but empty)."""
    return next((k for k in keys if meta.get(k) is not None), None)


def _date_key(meta: dict[str, Any], keys: FieldKeys) -> str | None:
    return next((k for k in keys.date if meta.get(k) is not None and not isinstance(meta[k], bool)), None)


def _file_time(doc: _Doc, key: str, value: object, times: FileTimes | None) -> datetime | None:
    """Eleventy's ``date: Last Modified`` / ``Created``: the file's own time."""
    if not isinstance(value, str) or value.strip().lower() not in FILE_TIME_DATES:
        return None
    if times is None:
        raise doc.fail(key, f"{key}: {value!r} needs the file's times, which are not known here")
    which = FILE_TIME_DATES[value.strip().lower()]
    doc.problems.append(Problem(doc.path, f"date is the file's {which} time ({value.strip()})", None, "note"))
    return (times.modified if which == "modified" else times.created).replace(microsecond=0)


def _naive_zone(d: Dialect, value: object, tz: Any) -> Any:
    """The zone a date written without an offset is in: the site's, or UTC where the generator
    says so (Eleventy, Zola, Astro; Jekyll for an unquoted YAML time, which Ruby reads as UTC)."""
    if d.naive_utc or (d.name == "jekyll" and isinstance(value, datetime)):
        return UTC
    return tz


def _dates(
    doc: _Doc, meta: dict[str, Any], tz: Any, d: Dialect, hints: tuple[str, ...], times: FileTimes | None
) -> tuple[datetime, datetime, datetime]:
    """(published, updated, published as the generator holds it): a date key, else a date in
    ``hints`` (the file's path, its own URL key; a note says so); ``updated`` defaults to it and is never before it.
    The third is in the date's own offset where the generator keeps it (Hugo, Pelican), else in
    the site's zone: what {year}, {month}, {day} are taken from."""
    key = _date_key(meta, d.keys)
    published = None
    held: datetime | None = None
    if key is not None:
        published = _file_time(doc, key, meta[key], times)
        if published is None:
            zone = _naive_zone(d, meta[key], tz)
            published = _when(doc, meta, key, zone, d)
            if d.date_as_written and published is not None:
                held = read_when(meta[key], zone, _reader(d, key))
    if published is None:
        where, found = next(
            ((i, f) for i, hint in enumerate(hints) if hint and (f := date_in_path(hint.lstrip("/")))), (0, None)
        )
        if found is None:
            raise doc.fail(
                "date" if "date" in meta else None,
                f"date is missing; add `{doc.example('date', 'YYYY-MM-DD', bare=True)}`"
                " (or start the file name with YYYY-MM-DD-)",
            )
        shown = "{:04d}-{:02d}-{:02d}".format(*found)
        in_what = "its URL" if where else "the file's path"
        try:
            published = datetime(*found, tzinfo=_naive_zone(d, None, tz)).astimezone(UTC)
        except ValueError:
            raise doc.fail(None, f"the date in {in_what}, {shown}, is not a real date") from None
        except OverflowError:
            raise doc.fail(None, f"the date in {in_what}, {shown}, is out of range") from None
        source = f"its own `{d.url_key}` ({hints[where]})" if where else "the file's path"
        doc.problems.append(Problem(doc.path, f"date {shown} taken from {source}", None, "note"))
    ukey = _first(meta, d.keys.updated)
    updated = published
    if ukey is not None:
        zone = _naive_zone(d, meta[ukey], tz)
        updated = _file_time(doc, ukey, meta[ukey], times) or _when(doc, meta, ukey, zone, d) or published
    if updated < published:
        doc.warn(ukey, f"{ukey} is before date; using date")
        updated = published
    try:
        return published, updated, held or published.astimezone(tz)
    except (OverflowError, ValueError):
        raise doc.fail(
            key, f"{key or 'date'}: {published.isoformat()} is out of range in the site's time zone"
        ) from None


def _jekyll_title(doc: _Doc, rel: str) -> str:
    """Jekyll's title for a post without one (``Utils.titleize_slug``): the file name without its
    date, each hyphenated word capitalized."""
    title = " ".join(w.capitalize() for w in file_name(rel).rstrip(".").split("-"))
    doc.problems.append(Problem(doc.path, f"title {title!r} taken from the file name, as Jekyll does", None, "note"))
    return " ".join(title.split()) or file_name(rel)


def _mapped(doc: _Doc, meta: dict[str, Any], fields: tuple[tuple[str, str], ...], d: Dialect) -> dict[str, Any]:
    """[content] fields: a field the site keeps under a key of its own (``newstitle``) is read
    from that key before any other; a post without that key reads the field as usual."""
    keys = d.keys
    others = {"date": keys.date, "updated": keys.updated, "summary": keys.summary, "author": keys.author}
    others |= {"image": keys.image, "tags": ("tags", "tag")}
    out = dict(meta)
    for name, key in fields:
        if out.get(key) is None:
            continue
        value = out.pop(key)
        for other in others.get(name, ()):
            out.pop(other, None)
        out[name] = value
        doc.aliases[name] = key
    return out


def _from_name(settings: Settings, rel: str, group: str) -> str | None:
    """What [content] filename_metadata takes from the file name (Pelican's FILENAME_METADATA)."""
    pattern = settings.content.filename_metadata
    if not pattern:
        return None
    m = re.match(pattern, rel.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    value = m.groupdict().get(group) if m else None
    return value or None


def _flag(doc: _Doc, meta: dict[str, Any], key: str) -> bool:
    """true/false, also written as text (Pelican's header has only text)."""
    value = meta.get(key)
    if doc.fm.form == "pelican" and isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    return _bool(doc, meta, key)


def _is_draft(doc: _Doc, meta: dict[str, Any]) -> bool:
    """``draft: true``; Jekyll's ``published: false``; Pelican's ``Status: draft``. A hidden or
    skipped Pelican article and an Eleventy page out of its collections are no posts."""
    status = meta.get("status")
    if isinstance(status, str):
        word = status.strip().lower()
        if word in ("hidden", "skip"):
            raise _Skip(f"Status: {word}: the generator lists it nowhere")
        if word == "draft":
            return True
        if word not in ("published", ""):
            doc.warn("status", f"status {status!r} is not draft, published or hidden; taken as published")
    if _flag(doc, meta, "eleventyexcludefromcollections"):
        raise _Skip("eleventyExcludeFromCollections: in no collection, so in no feed")
    if meta.get("permalink") is False:
        raise _Skip("permalink: false: the generator writes no page for it")
    if _flag(doc, meta, "headless"):
        raise _Skip("headless: the generator writes no page for it")
    draft = _flag(doc, meta, "draft")
    if isinstance(meta.get("published"), bool) and meta["published"] is False:
        draft = True
    return draft


def _is_stub(meta: dict[str, Any], body: str) -> bool:
    """Front matter with only a redirect (``redirect``, ``redirect_to``, ``redirect_from``,
    ``aliases``, ``layout: redirect``) and no text: a generator's redirect page."""
    marked = meta.keys() & {"redirect", "redirect_to", "redirect_from", "aliases"} or meta.get("layout") == "redirect"
    if body.strip() or not marked:
        return False
    return meta.keys() <= _STUB_KEYS


def _terms_of(doc: _Doc, meta: dict[str, Any], key: str, d: Dialect) -> list[object]:
    """The raw terms of one taxonomy key: a list, or text split on commas (Jekyll: on spaces)."""
    singular = {"categories": "category", "tags": "tag"}.get(key) if d.name == "jekyll" else None
    if singular and meta.get(singular) is not None:
        raw = meta[singular]  # Jekyll: the singular key wins, and is not split
        if isinstance(raw, str | int | float) and not isinstance(raw, bool):
            return [raw]
    else:
        raw = meta.get(key)
        table = meta.get("taxonomies")
        if raw is None and isinstance(table, dict):  # Zola: [taxonomies] tags = [...]
            raw = {str(k).lower(): v for k, v in table.items()}.get(key)
            key = f"taxonomies.{key}"
    if raw is None:
        return []
    if isinstance(raw, str):
        return list(raw.split() if d.split_words else raw.split(","))
    if isinstance(raw, list):
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise doc.fail(key, f"{key} must be a list or comma-separated text, not {type_name(raw)}")
    return [raw]


def _terms(doc: _Doc, meta: dict[str, Any], key: str, d: Dialect, extra: tuple[str, ...]) -> tuple[str, ...]:
    items = [*extra, *_terms_of(doc, meta, key, d)]
    seen: dict[str, str] = {}
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            noun = "tag" if key == "tags" else f"one of {key}"
            raise doc.fail(key, f"each {noun} must be text, not {type_name(item)}")
        term = " ".join(XML_ILLEGAL.sub("", str(item)).split())
        if not term or term in d.collection_tags:
            continue
        if len(term) > MAX_TAG_LENGTH:
            doc.warn(key, f"{key}: {term[:20]!r}… is longer than {MAX_TAG_LENGTH} characters; left out")
            continue
        seen.setdefault(tag_key(term), term)
    if len(seen) > MAX_TAGS:
        raise doc.fail(key, f"{len(seen)} {key}; at most {MAX_TAGS} per post")
    return tuple(seen.values())


def _taxonomies(
    doc: _Doc, meta: dict[str, Any], settings: Settings, d: Dialect, rel: str
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    folders = tuple(rel.split("/")[:-1])
    for key in settings.content.taxonomies or d.taxonomies:
        extra: tuple[str, ...] = ()
        if d.name == "jekyll" and key == "categories":
            extra = tuple(f for f in folders[: folders.index("_posts")] if f) if "_posts" in folders else ()
        if d.name == "pelican" and key == "category" and meta.get("category") is None and folders:
            extra = (folders[0],)  # USE_FOLDER_AS_CATEGORY
        terms = _terms(doc, meta, key, d, extra)
        if terms:
            out.append((key, terms))
    return tuple(out)


def _author(doc: _Doc, meta: dict[str, Any], keys: FieldKeys) -> str | None:
    key = _first(meta, keys.author)
    if key is None:
        return None
    value = meta[key]
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, list):
        names = [v.get("name") if isinstance(v, dict) else v for v in value]
        value = ", ".join(str(n) for n in names if isinstance(n, str | int | float) and not isinstance(n, bool))
    return _text(doc, {key: value}, key)


def _image_ref(meta: dict[str, Any], d: Dialect) -> tuple[str | None, dict[str, Any]]:
    """The image key and a one-key view of its value: Hugo's ``images`` list gives its first, a
    ``cover``/``image`` mapping its ``image``/``src``/``url``."""
    key = _first(meta, d.keys.image)
    if key is None:
        return None, {}
    value = meta[key]
    if not d.adopted:
        return key, {key: value}  # syndicate's own: text only, as ever
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = next((value[k] for k in ("image", "src", "url") if isinstance(value.get(k), str)), None)
    return key, {key: value}


def _unknown_keys(doc: _Doc, meta: dict[str, Any], d: Dialect, taxonomies: tuple[str, ...]) -> None:
    """A key no generator uses that looks like one syndicate reads: a typo, said so."""
    known = SUGGESTED | set(taxonomies)
    quiet = READ_KEYS | known | d.own_keys
    for key in meta:
        if key in quiet or key in _EVERY_GENERATOR_KEY:
            continue
        close = close_match(key, known, cutoff=0.75)
        if close:
            doc.warn(key, f"unknown key {key!r}; did you mean {close!r}? (it is ignored)")


_EVERY_GENERATOR_KEY = frozenset().union(*(dialect(n).own_keys for n in GENERATORS))


def _url(
    doc: _Doc, meta: dict[str, Any], settings: Settings, d: Dialect, facts: UrlFacts
) -> tuple[str, dict[str, str]]:
    """The post's URL path (from its own URL key, else the permalink) and the placeholder values."""
    filled = values(d, facts)
    own_key = d.url_key if d.url_key and meta.get(d.url_key) is not None else None
    if own_key is not None:
        path, why = own_url(meta[own_key], d, filled, facts.rel)
        if path is None:
            raise doc.fail(own_key, f"{own_key} {why}")
        return path, filled
    link = pattern_for(facts.rel, settings.site.permalink, settings.site.permalinks)
    template = normal_template(link, PERMALINK_FIELDS) if d.adopted else link
    for name in ("slug", "name", "title", "filename"):
        if name in placeholders(template) and not filled[name]:
            raise doc.fail("slug" if "slug" in meta else None, f"cannot make a URL from its {name}; add `slug: …`")
    path = expand(template, filled, d.lower_paths)
    if path is None:
        bad = next(k for k in placeholders(template) if any(p in (".", "..") for p in filled.get(k, "").split("/")))
        raise doc.fail(bad if bad in meta else None, f"its {bad} would make the URL leave its folder ('..'); change it")
    return path, filled


# ~70 lines: the front matter field by field, in the order a reader checks a post (title,
# dates, slug and URL, the rest), then its revision: one flat sequence.
def _parse(
    path: str,
    data: bytes,
    settings: Settings,
    problems: list[Problem],
    times: FileTimes | None = None,
) -> Post:
    d = dialect(settings.content.generator)
    text = clean_text(path, data, problems)
    try:
        fm = frontmatter.split(path, text, pelican=d.name == "pelican")
    except ContentError:
        if file_name(path, strict=True).lower() in README_NAMES:
            raise _Skip("a README without front matter, not a post") from None
        if written_in_html(path):  # a whole page (a rendered preview beside index.md) or a resource
            raise _Skip("an HTML file without front matter (a page or a resource of its own), not a post") from None
        raise
    doc = _Doc(path, fm, problems)
    if fm.cut_at is not None:
        problems.append(Problem(path, PELICAN_CUT, fm.cut_at, "warning"))
    meta = frontmatter.load(path, fm, fold=d.adopted)
    if settings.content.fields:
        meta = _mapped(doc, meta, settings.content.fields, d)
    rel = relative(path, settings.content.dir)
    if _is_stub(meta, fm.body) and (d.adopted or meta.get("title") is None or _date_key(meta, d.keys) is None):
        # a plain site's stub is skipped only where it would be rejected: a post it published stays
        raise _Skip("a redirect page (only redirect/aliases), not a post")
    if d.render_key and meta.get(d.render_key) is False:
        raise _Skip(f"{d.render_key} = false: {d.name.capitalize()} writes no page for it")
    draft = _is_draft(doc, meta) if d.adopted else _bool(doc, meta, "draft")

    title: str | None = None
    if d.name == "jekyll" and meta.get("title") is None:
        title = _jekyll_title(doc, rel)
    else:
        title = _text(doc, meta, "title", required=True)
    assert title is not None
    own = meta.get(d.url_key) if d.url_key else None
    tz = settings.site.tz
    hints = (_from_name(settings, rel, "date") or rel, own if isinstance(own, str) else "")
    if (
        d.undated_is_page
        and _date_key(meta, d.keys) is None
        and not any(date_in_path(h.lstrip("/")) for h in hints if h)
    ):
        raise _Skip(f"a page without a date ({d.name.capitalize()}'s feeds list only dated pages), not a post")
    published, updated, held = _dates(doc, meta, tz, d, hints, times)
    pkey = _first(meta, d.keys.publish)
    live_from = _when(doc, meta, pkey, tz, d) if pkey and _date_key(meta, d.keys) != pkey else None
    ekey = _first(meta, d.keys.expiry)
    expires = _when(doc, meta, ekey, tz, d) if ekey else None

    slug_key = _text(doc, meta, "slug") or _from_name(settings, rel, "slug")
    if d.name == "syndicate":
        why = slug_problem(slug_key or keep_slug(file_name(rel, strict=True)))
        if why:
            raise doc.fail("slug" if "slug" in meta else None, why)
    terms = _taxonomies(doc, meta, settings, d, rel)
    categories = next((t for k, t in terms if k in ("categories", "category")), ())
    if d.name == "jekyll" and not categories:
        categories = _terms(doc, meta, "categories", d, ())
    facts = UrlFacts(rel, title, slug_key, held, categories, settings.content.slug_source)
    link, filled = _url(doc, meta, settings, d, facts)
    url = settings.site.url + link.lstrip("/")
    slug = slug_key or filled["name"]

    raw_id = _text(doc, meta, "id")
    author = _author(doc, meta, d.keys)
    lang = _text(doc, meta, "lang")
    if lang and not _LANG.match(lang):
        doc.warn("lang", f"lang {lang!r} is not a language tag like 'en' or 'pt-BR'; left out")
        lang = None

    summary = next((s for k in d.keys.summary if (s := _text(doc, meta, k))), None)
    merged: dict[str, str] = {}
    for _, ts in terms:
        for t in ts:
            merged.setdefault(tag_key(t), t)
    tags = tuple(merged.values())
    image_key, image_meta = _image_ref(meta, d)
    image = _image(doc, image_meta, image_key, settings, url) if image_key else None
    content_warning = _text(doc, meta, "content_warning")
    syndicate, social = _syndicate(doc, meta, settings)
    _unknown_keys(doc, meta, d, tuple(k for k, _ in terms) + (settings.content.taxonomies or d.taxonomies))
    body, found = prepared(path, fm, rel, d, settings.site.url, {}, settings.content.site)  # links: see builder/load.py
    if found.warning():
        doc.warn(None, found.warning() or "")
    make = partial(render_body, body, url, *body_args(path, settings.render_args))
    shown = (image.url, image.mime_type, image.length) if image else None
    seen: tuple[object, ...] = (title, url, summary, tags, shown, published.isoformat(), updated.isoformat())
    seen += (author, lang, content_warning)
    extra = [t for t in terms if t[0] != "tags"], live_from, expires
    if any(extra):  # only what a dialect adds: a post without it keeps the revision it always had
        seen += (json.dumps(extra, default=str),)
    digest = hashlib.sha256(json.dumps(seen).encode())
    digest.update(fm.body.encode("utf-8", "surrogatepass"))
    revision = digest.hexdigest()[:16]

    return Post(
        source=path,
        id=post_id(raw_id, url, settings.site.url),
        url=url,
        slug=slug,
        title=title,
        published=published,
        updated=updated,
        tags=tags,
        revision=revision,
        content=Content(make, summary=summary or None),
        image=image,
        author=author,
        lang=lang,
        draft=draft,
        image_alt=_text(doc, meta, "thumb_alt") or _text(doc, meta, "image_alt"),
        content_warning=content_warning,
        syndicate=syndicate,
        social=social,
        live_from=live_from,
        expires=expires,
        terms=terms,
        refs=found.refs,
        names_targets=meta.get("syndicate") not in (None, True, False),
    )


def body_args(source: str, args: RenderArgs) -> RenderArgs:
    """How a post's body is made HTML: the site's Markdown renderer, or none for a post written in
    HTML (its engine is :data:`syndicate.core.markup.HTML_BODY`; sanitized and made absolute all the same)."""
    return (HTML_BODY, *args[1:]) if written_in_html(source) else args
