"""Small pure readers of config values: TOML/YAML/JSON texts, JavaScript string literals read
without running them, and values coerced to text, tables, language tags and folders."""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.model import printable
from ..core.sources import is_post_file
from ..errors import ConfigError
from .model import SiteFiles

# A quoted JavaScript string; a backslash is matched only as the start of an escape, so that no
# text makes the match backtrack without end (a run of backslashes would, with two ways to read it).
JS_STRING = r"(?P<q>[\"'`])(?P<s>(?:\\.|(?!(?P=q))[^\\])*)(?P=q)"


_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


def parse_config(site: SiteFiles, rel: str) -> dict[str, Any]:
    """A TOML, YAML or JSON config text → a mapping; any failure is a ConfigError naming the file."""
    text, shown = site.texts[rel], printable(site.shown_prefix + rel)
    try:
        if rel.endswith(".toml"):
            return tomllib.loads(text)
        if not rel.endswith(".json"):
            return parse_yaml(text, shown)
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


def parse_yaml(text: str, shown: str) -> dict[str, Any]:
    """YAML with the reader posts use (safe C loader, aliases refused before anything is built)."""
    from ..core.frontmatter import YamlProblem, safe_yaml

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


def lower_keys(value: Any, depth: int = 4) -> Any:
    """Mapping keys lowercased, ``depth`` levels down (Hugo's keys are case-insensitive)."""
    if depth and isinstance(value, Mapping):
        return {str(k).lower(): lower_keys(v, depth - 1) for k, v in value.items()}
    return value


def as_table(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_text(value: Any) -> str | None:
    """A config value as text: strings (trimmed) and numbers; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return value.strip() or None if isinstance(value, str) else None


def as_language(value: Any) -> str | None:
    """A language tag (``en``, ``en-US``) from ``en_US``, ``en-us``…; None for anything else."""
    tag = (as_text(value) or "").replace("_", "-")
    if not _LANG.match(tag):
        return None
    first, *rest = tag.split("-")
    return "-".join([first.lower(), *(r.upper() if len(r) == 2 else r for r in rest)])


def relative_dir(path: str | None) -> str | None:
    """A folder relative to the site, normalized ("./src/" → "src", "" → "."); None when it is
    absolute or leads out of the site."""
    if path is None or path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        return None
    norm = posixpath.normpath(path.replace("\\", "/"))
    return None if norm == ".." or norm.startswith("../") else norm


def join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"


def under(folder: str, files: Iterable[str]) -> list[str]:
    """The files under ``folder``, relative to it."""
    if folder in ("", "."):
        return list(files)
    lead = folder.rstrip("/") + "/"
    return [f[len(lead) :] for f in files if f.startswith(lead)]


def is_post(rel: str) -> bool:
    return is_post_file(posixpath.basename(rel))


def js_string(text: str, lead: str) -> str | None:
    """The string literal after the regular expression ``lead`` (None: none, or a template with
    ``${…}`` in it, which only running the code could tell)."""
    m = re.search(lead + JS_STRING, text, re.S)
    if not m or (m.group("q") == "`" and "${" in m.group("s")):
        return None
    return m.group("s").strip() or None


def strip_js_comments(text: str) -> str:
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
