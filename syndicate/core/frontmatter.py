"""A post file's text → its front matter (a mapping) and its body, in each form the static site
generators write. Pure.

- YAML between ``---`` lines (Jekyll, Hugo, Eleventy, Astro, syndicate);
- TOML between ``+++`` lines (Hugo, Zola);
- JSON: an object at the very top of the file (Hugo);
- Pelican's Markdown metadata: ``Key: value`` lines up to the first blank line.

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
# Pelican's own metadata names (its Markdown reader takes any `Key: value`, but a file is taken
# for a Pelican header only when its first line is one of these: "Note: …" starts a body).
PELICAN_KEYS = frozenset(
    {"title", "date", "modified", "tags", "category", "slug", "author", "authors", "summary", "status", "lang"}
    | {"translation", "save_as", "url", "template", "keywords", "description", "image", "cover", "series"}
)
_PELICAN_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)[ \t]*:[ \t]*(.*)$")


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The front matter of one file, where it is (for line numbers), and the body after it."""

    form: Form
    text: str  # the front matter as written, without its fences
    first_line: int  # the line number of its first line
    body: str

    def line_of(self, key: str, exact: bool = False) -> int | None:
        """The line where ``key`` is set (any case, unless ``exact``), or None."""
        name = re.escape(key)
        pattern = {
            "yaml": rf"^[ \t]*['\"]?{name}['\"]?[ \t]*:",
            "pelican": rf"^{name}[ \t]*:",
            "toml": rf"^[ \t]*['\"]?{name}['\"]?[ \t]*=",
            "json": rf"^[ \t]*\"{name}\"[ \t]*:",
        }[self.form]
        m = re.search(pattern, self.text, re.MULTILINE | (0 if exact else re.IGNORECASE))
        if not m:
            return None
        return self.first_line + self.text.count("\n", 0, m.start())


NO_FRONT_MATTER = (
    "no front matter: start the file with a '---' line, title: and date:, then '---' "
    "(or TOML between '+++' lines, or a JSON object)"
)


def split(path: str, text: str) -> FrontMatter:
    """Find the front matter (any form) and the body. Raises ContentError."""
    if text.startswith("---"):
        return _fenced(path, text, _YAML_FENCE, "yaml", "---")
    if text.startswith("+++"):
        return _fenced(path, text, _TOML_FENCE, "toml", "+++")
    if text.startswith("{"):
        return _json(path, text)
    first = text.split("\n", 1)[0]
    m = _PELICAN_LINE.match(first)
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
    """``Key: value`` lines up to the first blank line (an indented line continues the last)."""
    lines = text.split("\n")
    n = 0
    while n < len(lines) and lines[n].strip():
        if not _PELICAN_LINE.match(lines[n]) and not lines[n][:1].isspace():
            break  # the body starts without a blank line
        n += 1
    return FrontMatter("pelican", "\n".join(lines[:n]), 1, "\n".join(lines[n + 1 :] if n < len(lines) else []))


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
    meta: dict[str, Any] = {}
    last: str | None = None
    for line in fm.text.split("\n"):
        m = _PELICAN_LINE.match(line)
        if m and not line[:1].isspace():
            last = m.group(1)
            meta[last] = m.group(2).strip()
        elif last is not None:
            meta[last] = f"{meta[last]} {line.strip()}".strip()
    return meta


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
