"""A post file's text → its front matter (a mapping) and its body, in each form the static site
generators write. Pure.

- YAML between ``---`` lines (Jekyll, Hugo, Eleventy, Astro, syndicate);
- TOML between ``+++`` lines (Hugo, Zola);
- JSON: an object at the very top of the file (Hugo);
- Pelican's Markdown metadata: ``Key: value`` lines up to the first blank line, read as
  Python-Markdown's ``meta`` extension reads them (which is what Pelican does): split at the
  first colon, indented lines continue a value, an optional ``---`` line before and a ``---``
  or ``...`` line after. For a Pelican site a ``---`` block is this, never YAML.

Keys are folded to lower case (Hugo and Pelican read them so; ``pubDate`` and ``pubdate`` are one
key to every generator that reads both). Each form has the same limits: at most 64 KiB, no YAML
aliases, one :class:`ContentError` with the line for any problem.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

import yaml
from frontmatter.default_handlers import YAMLHandler

from ..errors import ContentError

MAX_FRONT_MATTER_BYTES = 64 * 1024
Form = Literal["yaml", "toml", "json", "pelican"]

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SafeLoader(_Base):  # type: ignore[valid-type, misc]
    """YAML's safe loader (the C one where built), but a timestamp that is no real time
    (``2024-13-01``) stays text, for the date reader to name it with its line."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)

_YAML_FENCE: re.Pattern[str] = YAMLHandler.FM_BOUNDARY  # "^-{3,}\s*$", multiline: python-frontmatter's grammar
_TOML_FENCE = re.compile(r"^\+{3}[ \t]*$", re.MULTILINE)  # its TOMLHandler's, which needs the toml package
# Pelican's own metadata names (its Markdown reader takes any `Key: value`, but outside a
# Pelican site a file is taken for a Pelican header only when its first line is one of these:
# "Note: …" starts a body).
PELICAN_KEYS = frozenset(
    {"title", "date", "modified", "tags", "category", "slug", "author", "authors", "summary", "status", "lang"}
    | {"translation", "save_as", "url", "template", "keywords", "description", "image", "cover", "series"}
)
# Python-Markdown's meta extension (markdown/extensions/meta.py), which Pelican's Markdown reader
# uses: its four patterns, as there. Tabs are expanded to 4 spaces first (its whitespace step).
_META_KEY = re.compile(r"^[ ]{0,3}([A-Za-z0-9_-]+):\s*(.*)")
_META_MORE = re.compile(r"^[ ]{4,}(.*)")
_META_BEGIN = re.compile(r"^-{3}(\s.*)?")
_META_END = re.compile(r"^(-{3}|\.{3})(\s.*)?")
# The keys Pelican takes once (the first line wins); any other key written twice, or continued
# on an indented line, is a list to Pelican, joined here with spaces.
PELICAN_ONCE = frozenset({"tags", "date", "modified", "status", "category", "author", "save_as", "url", "authors"})
PELICAN_ONCE |= {"slug"}


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The front matter of one file, where it is (for line numbers), and the body after it."""

    form: Form
    text: str  # the front matter as written, without its fences
    first_line: int  # the line number of its first line
    body: str
    cut_at: int | None = None  # Pelican: a `---` header ended by a line that is no `key: value`, here

    def line_of(self, key: str, exact: bool = False) -> int | None:
        """The line where ``key`` is set (any case, unless ``exact``), or None."""
        name = re.escape(key)
        pattern = {
            "yaml": rf"^[ \t]*['\"]?{name}['\"]?[ \t]*:",
            "pelican": rf"^[ ]{{0,3}}{name}:",
            "toml": rf"^[ \t]*['\"]?{name}['\"]?[ \t]*=",
            "json": rf"^[ \t]*\"{name}\"[ \t]*:",
        }[self.form]
        m = re.search(pattern, self.text, re.MULTILINE | (0 if exact else re.IGNORECASE))
        if not m:
            return None
        return self.first_line + self.text.count("\n", 0, m.start())


NO_FRONT_MATTER_PELICAN = "no metadata: start the file with `Title: …` and `Date: …` lines, then a blank line"
NO_FRONT_MATTER = (
    "no front matter: start the file with a '---' line, title: and date:, then '---' "
    "(or TOML between '+++' lines, or a JSON object)"
)


def split(path: str, text: str, pelican: bool = False) -> FrontMatter:
    """Find the front matter (any form) and the body; ``pelican``: a Pelican site's, whose
    ``---`` block and header of any key are Pelican's metadata. Raises ContentError."""
    if pelican and not text.startswith(("+++", "{")):
        fm = _pelican(text)
        if fm.text.strip() or _META_BEGIN.match(text):
            return fm
        raise ContentError(path, NO_FRONT_MATTER_PELICAN, line=1)
    if text.startswith("---"):
        return _fenced(path, text, _YAML_FENCE, "yaml", "---")
    if text.startswith("+++"):
        return _fenced(path, text, _TOML_FENCE, "toml", "+++")
    if text.startswith("{"):
        return _json(path, text)
    m = _META_KEY.match(text.split("\n", 1)[0].expandtabs(4))
    if m and m.group(1).lower() in PELICAN_KEYS:
        return _pelican(text)
    raise ContentError(path, NO_FRONT_MATTER, line=1)


def _fenced(path: str, text: str, fence: re.Pattern[str], form: Form, mark: str) -> FrontMatter:
    if not fence.match(text):
        raise ContentError(path, NO_FRONT_MATTER, line=1)
    start = text.find("\n") + 1 if "\n" in text else len(text)
    close = fence.search(text, start)
    if not close:
        raise ContentError(path, f"front matter is never closed: add a '{mark}' line after it", line=1)
    body_start = text.find("\n", close.start())
    body = text[body_start + 1 :] if body_start >= 0 else ""
    return FrontMatter(form, text[start : close.start()], 2, body)


def _json(path: str, text: str) -> FrontMatter:
    head = text[: MAX_FRONT_MATTER_BYTES + 1]
    try:
        _, end = json.JSONDecoder().raw_decode(head)
    except json.JSONDecodeError as e:
        if len(head) > MAX_FRONT_MATTER_BYTES:
            raise ContentError(
                path, f"front matter is larger than {MAX_FRONT_MATTER_BYTES // 1024} KiB", line=1
            ) from None
        raise ContentError(path, f"front matter is not valid JSON: {e.msg}", line=e.lineno) from None
    except RecursionError:
        raise ContentError(path, "front matter is nested too deeply", line=1) from None
    rest = text[end:]
    body = rest.split("\n", 1)[1] if "\n" in rest else ""
    return FrontMatter("json", text[:end], 1, body)


def _pelican(text: str) -> FrontMatter:
    """Python-Markdown's metadata block: an optional ``---`` line, then ``Key: value`` lines (an
    indented line continues the last) up to a blank line or a ``---``/``...`` line, which are
    dropped; any other line ends it and is the body's first."""
    lines = text.split("\n")
    fenced = bool(_META_BEGIN.match(lines[0]))
    start = n = 1 if fenced else 0
    cut: int | None = None
    while n < len(lines):
        line = lines[n].expandtabs(4)
        if not line.strip() or _META_END.match(line):
            body = lines[n + 1 :]
            break
        if _META_KEY.match(line) or (n > start and _META_MORE.match(line)):
            n += 1
            continue
        body = lines[n:]  # no metadata line: the body starts here
        cut = n + 1 if fenced and n > start else None
        break
    else:
        body = []
    return FrontMatter("pelican", "\n".join(lines[start:n]), start + 1, "\n".join(body), cut)


def load(path: str, fm: FrontMatter, fold: bool = True) -> dict[str, Any]:
    """The front matter as a mapping, its keys in lower case (``fold``; Pelican's header always).
    Raises ContentError."""
    if len(fm.text.encode("utf-8")) > MAX_FRONT_MATTER_BYTES:
        raise ContentError(
            path, f"front matter is larger than {MAX_FRONT_MATTER_BYTES // 1024} KiB", line=fm.first_line
        )
    if fm.form == "yaml":
        meta = _yaml(path, fm)
    elif fm.form == "toml":
        meta = _toml(path, fm)
    elif fm.form == "json":
        meta = _json_value(path, fm)
    else:
        meta = _pelican_meta(fm)
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise ContentError(path, "front matter must be `key: value` lines, not a list or text", line=fm.first_line)
    if fold or fm.form == "pelican":
        return fold_keys(path, fm, meta)
    return {str(k): v for k, v in meta.items()}


def fold_keys(path: str, fm: FrontMatter, meta: dict[Any, Any]) -> dict[str, Any]:
    """Keys in lower case; two spellings of one key (``Date`` and ``date``) are an error."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        name = str(key).lower()
        if name in out:
            raise ContentError(
                path,
                f"front matter sets {name!r} twice (as {key!r} too); keep one",
                line=fm.line_of(str(key), exact=True),
            )
        out[name] = value
    return out


class YamlProblem(Exception):
    """Why YAML text was refused; lines count from 0 within the text, for the caller to place."""

    def __init__(self, line: int, problem: str, alias: bool = False, context: tuple[str, int] | None = None) -> None:
        super().__init__(problem)
        self.line, self.problem, self.alias, self.context = line, problem, alias, context


def safe_yaml(text: str) -> Any:
    """YAML by the safe (C) loader, aliases refused before anything is built: a few bytes of
    aliases can expand to billions of nodes. The one YAML reader of posts and of generators'
    configs. Raises YamlProblem."""
    flat = _flat_yaml(text)
    if flat is not _NOT_FLAT:
        return flat
    try:
        if "*" in text:
            for event in yaml.parse(text, Loader=SafeLoader):
                if isinstance(event, yaml.AliasEvent):
                    raise YamlProblem(event.start_mark.line if event.start_mark else 0, "alias", alias=True)
        return yaml.load(text, Loader=SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        context, context_mark = getattr(e, "context", None), getattr(e, "context_mark", None)
        where = (context, context_mark.line) if context and context_mark is not None else None
        raise YamlProblem(
            mark.line if mark is not None else 0, getattr(e, "problem", None) or "syntax error", False, where
        ) from None
    except RecursionError:
        raise YamlProblem(0, "nested too deeply") from None


# The front matter most posts have, `key: value` lines, read without building YAML's events and
# nodes in Python (a third of the time it takes to read a post): each line a plain key, then a
# plain, quoted or empty scalar or a one-line list of them; a plain scalar's type (text, date,
# number, true/false, null) is the one YAML's resolver gives, made by the same constructor as
# yaml.load. Anything else (indented lines, comments, escapes, block scalars, tags, anchors,
# nested flow, ``key:value``, tabs, characters YAML refuses or reads as line breaks) goes to
# yaml.load: tests/test_frontmatter_fast.py holds this to it over generated documents.
_NOT_FLAT = object()
_FLAT_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]{0,99}):(?: +(.*))?")
_FLAT_QUOTED = re.compile(r"\"([^\"\\]*)\" *|'([^']*)' *")
_FLAT_ITEM = re.compile(r" *(?:\"([^\"\\,]*)\"|'([^',]*)'|([^\s\-?:,\[\]{}#&*!|>'\"%@`][^:,\[\]{}#]*?)) *")
_FLAT_PLAIN_START = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`]")
# A character that is not one of YAML's printable ones, or one it reads as a line break or white
# space (tab, CR, NEL, LS, PS), or a byte order mark: never read here.
_FLAT_REFUSED = re.compile(r"[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029]")
_SCALARS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("str", "null", "bool", "int", "float", "timestamp"))


class _Scalars(yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """SafeLoader's resolver and scalar constructors, without a parser (they keep no state)."""

    yaml_constructors = SafeLoader.yaml_constructors
    yaml_implicit_resolvers = SafeLoader.yaml_implicit_resolvers


_SCALAR = _Scalars()
_KEYS: dict[str, Any] = {}  # a key as written → as YAML reads it (`yes` is True)


def _flat_yaml(text: str) -> Any:
    """``text`` as yaml.load reads it when it is flat (see above), else _NOT_FLAT."""
    if not text.replace("\n", " ").isprintable() if text.isascii() else _FLAT_REFUSED.search(text):
        return _NOT_FLAT  # (in ASCII, what Python prints is what YAML reads as printable, but tab)
    out: dict[Any, Any] = {}
    for line in text.split("\n"):
        if not line:
            continue
        m = _FLAT_LINE.fullmatch(line)
        if m is None:
            return _NOT_FLAT
        key = _KEYS.get(m.group(1), _NOT_FLAT)
        if key is _NOT_FLAT:
            key = _plain(m.group(1))
            if len(_KEYS) < 1000:  # a few dozen names in a site: each resolved once
                _KEYS[m.group(1)] = key
        raw = (m.group(2) or "").rstrip(" ")
        if key is _NOT_FLAT:
            return _NOT_FLAT
        if raw.startswith("[") and raw.endswith("]"):
            inside = raw[1:-1]
            items: list[Any] = []
            for part in inside.split(",") if inside.strip(" ") else ():
                item = _FLAT_ITEM.fullmatch(part)
                if item is None:
                    return _NOT_FLAT
                quoted = item.group(1) if item.group(1) is not None else item.group(2)
                items.append(quoted if quoted is not None else _plain(item.group(3)))
            if _NOT_FLAT in items:
                return _NOT_FLAT
            value: Any = items
        elif raw[:1] in ("'", '"'):
            quoted_value = _FLAT_QUOTED.fullmatch(raw)
            if quoted_value is None:
                return _NOT_FLAT
            value = quoted_value.group(1) if quoted_value.group(1) is not None else quoted_value.group(2)
        elif not raw or (_FLAT_PLAIN_START.match(raw) and ": " not in raw and " #" not in raw and raw[-1] != ":"):
            value = _plain(raw)
            if value is _NOT_FLAT:
                return _NOT_FLAT
        else:
            return _NOT_FLAT
        out[key] = value  # a key written twice: the last one, as yaml.load
    return out if out else _NOT_FLAT


def _plain(text: str) -> Any:
    """A plain scalar as YAML's SafeLoader makes it: the tag its resolver gives, then its constructor."""
    tag = _SCALAR.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag not in _SCALARS:
        return _NOT_FLAT  # <<, =, and the like
    return _SCALAR.yaml_constructors[tag](_SCALAR, yaml.ScalarNode(tag, text))


def _yaml(path: str, fm: FrontMatter) -> Any:
    try:
        return safe_yaml(fm.text)
    except YamlProblem as e:
        line = fm.first_line + e.line
        if e.alias:
            raise ContentError(
                path, "front matter uses a YAML alias (*name); write the value out instead", line=line
            ) from None
        if e.problem == "nested too deeply":
            raise ContentError(path, "front matter is nested too deeply", line=fm.first_line) from None
        problem = e.problem
        if e.context is not None:
            problem += f" ({e.context[0]} at line {fm.first_line + e.context[1]})"
        raise ContentError(path, f"front matter is not valid YAML: {problem}", line=line) from None


_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def _toml(path: str, fm: FrontMatter) -> dict[str, Any]:
    try:
        meta = tomllib.loads(fm.text)
    except tomllib.TOMLDecodeError as e:
        m = _TOML_LINE.search(str(e))
        last = fm.first_line + fm.text.rstrip("\n").count("\n")  # "at end of document": its last line
        line = fm.first_line + int(m.group(1)) - 1 if m else last
        reason = _TOML_LINE.sub("", str(e)).strip()
        raise ContentError(path, f"front matter is not valid TOML: {reason}", line=line) from None
    except RecursionError:
        raise ContentError(path, "front matter is nested too deeply", line=fm.first_line) from None
    return {k: _toml_value(v) for k, v in meta.items()}


def _toml_value(value: Any) -> Any:
    """A TOML local time (``10:00``) is no date; everything else is as YAML would give it."""
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _toml_value(v) for k, v in value.items()}
    return value


def _json_value(path: str, fm: FrontMatter) -> Any:
    try:
        return json.loads(fm.text)
    except (json.JSONDecodeError, RecursionError):  # raw_decode read it already: unreachable in practice
        raise ContentError(path, "front matter is not valid JSON", line=fm.first_line) from None


def _pelican_meta(fm: FrontMatter) -> dict[str, Any]:
    """The header as Pelican reads it: keys in lower case; a key Pelican takes once keeps its
    first line, any other's lines are joined."""
    values: dict[str, list[str]] = {}
    last: str | None = None
    for line in fm.text.split("\n"):
        line = line.expandtabs(4)
        m = _META_KEY.match(line)
        if m:
            last = m.group(1).lower()
            values.setdefault(last, []).append(m.group(2).strip())
        elif last is not None and (more := _META_MORE.match(line)):
            values[last].append(more.group(1).strip())
    return {k: v[0] if k in PELICAN_ONCE else " ".join(x for x in v if x) for k, v in values.items()}


def type_name(value: object) -> str:
    """What a value is called in a message: "a list", "true/false", "a date"."""
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
