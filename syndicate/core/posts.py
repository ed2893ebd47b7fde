"""One post file's bytes → a :class:`Post`, or the reason it cannot be published. Pure.

Everything a writer can get wrong in a file ends here as a :class:`ContentError` with the
file and, where known, the line. Nothing in this module reads files or the clock.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import partial
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml
from frontmatter.default_handlers import YAMLHandler

from ..errors import ContentError
from .markup import render_body
from .model import Content, Image, Post, Problem, Settings, media_type
from .slugs import slug_from_filename, slug_problem, tag_key, url_segment

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_FRONT_MATTER_BYTES = 64 * 1024
MAX_TAG_LENGTH = 100
MAX_TAGS = 100

# XML 1.0 forbids these even as character references; HTML readers choke on them too.
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BOUNDARY = YAMLHandler.FM_BOUNDARY  # "^-{3,}\s*$", multiline: python-frontmatter's grammar
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class ParseResult:
    """A post file parsed: the post, or None when an error rejected it; problems of either kind."""

    post: Post | None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Doc:
    """Where things are in one file, for line numbers in messages."""

    path: str
    fm_text: str
    fm_first_line: int  # line number of the first front-matter line
    problems: list[Problem]

    def line_of(self, key: str) -> int | None:
        pattern = re.compile(rf"^{re.escape(key)}\s*:", re.MULTILINE)
        m = pattern.search(self.fm_text)
        if not m:
            return None
        return self.fm_first_line + self.fm_text.count("\n", 0, m.start())

    def fail(self, key: str | None, message: str) -> ContentError:
        return ContentError(self.path, message, line=self.line_of(key) if key else None)

    def warn(self, key: str | None, message: str) -> None:
        line = self.line_of(key) if key else None
        self.problems.append(Problem(self.path, message, line, "warning"))


def _type_name(value: object) -> str:
    return {
        list: "a list",
        dict: "a mapping",
        bool: "true/false",
        int: "a number",
        float: "a number",
        date: "a date",
        datetime: "a date",
        type(None): "empty",
    }.get(type(value), type(value).__name__)


def _text(doc: _Doc, meta: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = meta.get(key)
    if value is None:
        if required:
            raise doc.fail(key if key in meta else None, f"{key} is missing; add `{key}: …` to the front matter")
        return None
    if isinstance(value, bool):
        raise doc.fail(key, f"{key} must be text, not true/false; put it in quotes")
    if not isinstance(value, str | int | float):
        raise doc.fail(key, f"{key} must be text, not {_type_name(value)}")
    text = " ".join(str(value).split())
    if XML_ILLEGAL.search(text):
        doc.warn(key, f"removed control characters from {key}")
        text = XML_ILLEGAL.sub("", text)
    if not text and required:
        raise doc.fail(key, f"{key} is empty")
    return text or None


def parse_when(value: object, tz: Any) -> datetime:
    """A front-matter date → an aware UTC datetime. Raises ValueError with the reason."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time(0, 0))
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"cannot read {value!r} as a date; write YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS][+HH:MM]"
            ) from None
    else:
        raise ValueError(f"must be a date, not {_type_name(value)}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    try:
        return dt.astimezone(UTC).replace(microsecond=0)
    except (OverflowError, ValueError) as e:
        shown = value if isinstance(value, str) else dt.isoformat()
        raise ValueError(f"{shown!r} is out of range") from e


def _when(doc: _Doc, meta: dict[str, Any], key: str, tz: Any) -> datetime | None:
    if meta.get(key) is None:
        return None
    try:
        return parse_when(meta[key], tz)
    except ValueError as e:
        raise doc.fail(key, f"{key}: {e}") from None


def _tags(doc: _Doc, meta: dict[str, Any]) -> tuple[str, ...]:
    raw = meta.get("tags")
    if raw is None:
        return ()
    if isinstance(raw, str):
        items: list[object] = list(raw.split(","))
    elif isinstance(raw, list):
        items = raw
    else:
        raise doc.fail("tags", f"tags must be a list or comma-separated text, not {_type_name(raw)}")
    seen: dict[str, str] = {}
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise doc.fail("tags", f"each tag must be text, not {_type_name(item)}")
        tag = " ".join(XML_ILLEGAL.sub("", str(item)).split())
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            doc.warn("tags", f"tag {tag[:20]!r}… is longer than {MAX_TAG_LENGTH} characters; left out")
            continue
        seen.setdefault(tag_key(tag), tag)
    if len(seen) > MAX_TAGS:
        raise doc.fail("tags", f"{len(seen)} tags; at most {MAX_TAGS} per post")
    return tuple(seen.values())


def _bool(doc: _Doc, meta: dict[str, Any], key: str) -> bool:
    value = meta.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise doc.fail(key, f"{key} must be true or false, not {value!r}")
    return value


def _image(doc: _Doc, meta: dict[str, Any], settings: Settings, post_url: str) -> Image | None:
    key = "thumb" if meta.get("thumb") is not None else "image"
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


def _syndicate(doc: _Doc, meta: dict[str, Any], settings: Settings) -> tuple[str, ...] | None:
    """`syndicate: false` → (), a list or comma-separated names → those, absent/true → None (all)."""
    raw = meta.get("syndicate")
    if raw is None or raw is True:
        return None
    if raw is False:
        return ()
    if isinstance(raw, str):
        names = [n.strip() for n in raw.split(",") if n.strip()]
    elif isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        names = [n.strip() for n in raw if n.strip()]
    else:
        raise doc.fail("syndicate", "syndicate must be true, false, or a list of target names")
    known = {t.name for t in settings.targets}
    for name in names:
        if name not in known:
            doc.warn(
                "syndicate",
                f"syndicate: {name!r} is not a target in the config; known: {', '.join(sorted(known)) or 'none'}",
            )
    return tuple(dict.fromkeys(names))


def post_id(raw_id: str | None, url: str, site_url: str) -> str:
    """The permanent id: the permalink, or front-matter `id` made into a URI."""
    if raw_id is None:
        return url
    if _SCHEME.match(raw_id):
        return raw_id  # already a URI: "tag:…", "urn:uuid:…", "https://…"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, site_url + '#' + raw_id)}"


def permalink(settings: Settings, slug: str, published: datetime) -> str:
    local = published.astimezone(settings.site.tz)
    values = {
        "slug": url_segment(slug),
        "year": f"{local.year:04d}",
        "month": f"{local.month:02d}",
        "day": f"{local.day:02d}",
    }
    path = _PLACEHOLDER.sub(lambda m: values[m.group(1)], settings.site.permalink)
    return settings.site.url + path.lstrip("/")


def _decode(path: str, data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ContentError(
            path, f"not valid UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8", line=line
        ) from None


def _split(path: str, text: str) -> tuple[str, int, str]:
    """front matter, its first line number, body."""
    first = _BOUNDARY.match(text)
    if not first or not text.startswith("---"):
        raise ContentError(
            path, "no front matter: start the file with a '---' line, title: and date:, then '---'", line=1
        )
    start = text.find("\n", first.start()) + 1 if "\n" in text else len(text)
    close = _BOUNDARY.search(text, start)
    if not close:
        raise ContentError(path, "front matter is never closed: add a '---' line after it", line=1)
    fm = text[start : close.start()]
    body_start = text.find("\n", close.start())
    body = text[body_start + 1 :] if body_start >= 0 else ""
    return fm, text.count("\n", 0, start) + 1, body


def post_body(path: str, data: bytes) -> str:
    """The Markdown body of a post file, cleaned exactly as :func:`parse_post` cleans it.

    For making a post's HTML later from its file, without parsing its front matter again.
    Raises ContentError for a file :func:`parse_post` would reject the same way.
    """
    text = XML_ILLEGAL.sub("", _decode(path, data).replace("\r\n", "\n").replace("\r", "\n"))
    return _split(path, text)[2]


def _load_yaml(doc: _Doc) -> dict[str, Any]:
    fm = doc.fm_text
    if len(fm.encode("utf-8")) > MAX_FRONT_MATTER_BYTES:
        raise ContentError(
            doc.path, f"front matter is larger than {MAX_FRONT_MATTER_BYTES // 1024} KiB", line=doc.fm_first_line
        )
    try:
        if "*" in fm:  # aliases can make a few bytes expand to billions of nodes: refuse them
            for event in yaml.parse(fm, Loader=SafeLoader):
                if isinstance(event, yaml.AliasEvent):
                    line = doc.fm_first_line + (event.start_mark.line if event.start_mark else 0)
                    raise ContentError(
                        doc.path, "front matter uses a YAML alias (*name); write the value out instead", line=line
                    )
        meta = yaml.load(fm, Loader=SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = doc.fm_first_line + mark.line if mark is not None else doc.fm_first_line
        problem = getattr(e, "problem", None) or "syntax error"
        context, context_mark = getattr(e, "context", None), getattr(e, "context_mark", None)
        if context and context_mark is not None:
            problem += f" ({context} at line {doc.fm_first_line + context_mark.line})"
        raise ContentError(doc.path, f"front matter is not valid YAML: {problem}", line=line) from None
    except RecursionError:
        raise ContentError(doc.path, "front matter is nested too deeply", line=doc.fm_first_line) from None
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise ContentError(
            doc.path, f"front matter must be `key: value` lines, not {_type_name(meta)}", line=doc.fm_first_line
        )
    return {str(k): v for k, v in meta.items()}


def parse_post(
    path: str,
    data: bytes,
    settings: Settings,
) -> ParseResult:
    """Parse one post file. ``path`` is how messages name it (relative to the site)."""
    problems: list[Problem] = []
    try:
        post = _parse(path, data, settings, problems)
    except ContentError as e:
        problems.append(Problem(e.path, e.message, e.line, "error"))
        return ParseResult(None, problems)
    return ParseResult(post, problems)


def _clean_text(path: str, data: bytes, problems: list[Problem]) -> str:
    """A file's bytes as text feeds can carry: at most 4 MiB, UTF-8 (or refused), newlines as
    ``\\n``, control characters XML forbids removed (a warning)."""
    if len(data) > MAX_FILE_BYTES:
        raise ContentError(path, f"file is {len(data) // 1024 // 1024} MiB; a post may be at most 4 MiB")
    text = _decode(path, data).replace("\r\n", "\n").replace("\r", "\n")
    bad = XML_ILLEGAL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        count = len(XML_ILLEGAL.findall(text))
        first = f"U+{ord(bad.group()):04X}"
        problems.append(
            Problem(
                path, f"removed {count} control character(s) that feeds cannot carry (first {first})", line, "warning"
            )
        )
        text = XML_ILLEGAL.sub("", text)
    return text


def _dates(doc: _Doc, meta: dict[str, Any], tz: Any) -> tuple[datetime, datetime]:
    """(published, updated): ``date`` is required; ``updated`` defaults to it and is never before it."""
    if meta.get("date") is None:
        raise doc.fail("date" if "date" in meta else None, "date is missing; add `date: YYYY-MM-DD`")
    published = _when(doc, meta, "date", tz)
    assert published is not None
    updated = _when(doc, meta, "updated", tz) or published
    if updated < published:
        doc.warn("updated", "updated is before date; using date")
        updated = published
    return published, updated


# ~65 lines: the front matter field by field, in the order a reader checks a post (title,
# dates, slug and URL, the rest), then its revision: one flat sequence.
def _parse(
    path: str,
    data: bytes,
    settings: Settings,
    problems: list[Problem],
) -> Post:
    fm, fm_line, body = _split(path, _clean_text(path, data, problems))
    doc = _Doc(path, fm, fm_line, problems)
    meta = _load_yaml(doc)

    title = _text(doc, meta, "title", required=True)
    assert title is not None
    published, updated = _dates(doc, meta, settings.site.tz)

    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    slug = _text(doc, meta, "slug") or slug_from_filename(stem)
    why = slug_problem(slug)
    if why:
        raise doc.fail("slug" if "slug" in meta else None, why)
    url = permalink(settings, slug, published)

    raw_id = _text(doc, meta, "id")
    author = _text(doc, meta, "author")
    lang = _text(doc, meta, "lang")
    if lang and not _LANG.match(lang):
        doc.warn("lang", f"lang {lang!r} is not a language tag like 'en' or 'pt-BR'; left out")
        lang = None

    summary = _text(doc, meta, "summary") or _text(doc, meta, "description")
    tags = _tags(doc, meta)
    image = _image(doc, meta, settings, url)
    content_warning = _text(doc, meta, "content_warning")
    make = partial(render_body, body, url, *settings.render_args)
    shown = (image.url, image.mime_type, image.length) if image else None
    seen = (title, url, summary, tags, shown, published.isoformat(), updated.isoformat(), author, lang, content_warning)
    digest = hashlib.sha256(json.dumps(seen).encode())
    digest.update(body.encode("utf-8", "surrogatepass"))
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
        draft=_bool(doc, meta, "draft"),
        image_alt=_text(doc, meta, "thumb_alt") or _text(doc, meta, "image_alt"),
        content_warning=content_warning,
        syndicate=_syndicate(doc, meta, settings),
    )
