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


# The values a generator's YAML config may hold once its aliases are expanded: far above any real
# config (Hugo's own docs site: under 2,000), far below what a few lines of nested aliases make.
MAX_YAML_VALUES = 100_000


def parse_yaml(text: str, shown: str) -> dict[str, Any]:
    """YAML with the reader posts use (safe C loader). A config may use anchors and aliases
    (``params: &p …`` then ``*p``, ``<<: *p``), unlike a post: they are counted as expanded on
    the composed graph (linear in the text) and the file is refused past MAX_YAML_VALUES, so a
    few bytes of nested aliases (a "billion laughs") cost nothing."""
    from ..core.frontmatter import YamlProblem, safe_yaml

    try:
        data = safe_yaml(text)
    except YamlProblem as e:
        if not e.alias:
            raise ConfigError(f"line {e.line + 1}: not valid YAML: {e.problem}", path=shown) from None
        data = _yaml_with_aliases(text, shown)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("must hold `key: value` lines", path=shown)
    return {str(k): v for k, v in data.items()}


def _yaml_with_aliases(text: str, shown: str) -> Any:
    import yaml

    from ..core.frontmatter import SafeLoader

    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, set()) > MAX_YAML_VALUES:
            raise ConfigError(
                f"its YAML aliases (*name) expand to over {MAX_YAML_VALUES:,} values; write the values out",
                path=shown,
            )
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"line {line}: not valid YAML: {getattr(e, 'problem', None) or e}", path=shown) from None
    finally:
        loader.dispose()


def _expanded_size(node: Any, sizes: dict[int, int], inside: set[int]) -> int:
    """How many values ``node`` holds with every alias written out: each node counted once per
    place it appears, computed once per node (memo), so the work is linear in the text."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in inside:  # `&a [*a]`: a value inside itself, endless once written out
        return MAX_YAML_VALUES + 1
    inside.add(key)
    total = 1
    if isinstance(node.value, list):
        for item in node.value:
            pairs = item if isinstance(item, tuple) else (item,)
            for part in pairs:
                total += _expanded_size(part, sizes, inside)
                if total > MAX_YAML_VALUES:
                    break
    inside.discard(key)
    sizes[key] = total
    return total


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
    commented-out ``// site: "…"`` is not taken for the real one. Runs of plain code are copied
    whole (a character at a time, a 1 MiB config took seconds)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        m = _JS_SPECIAL.search(text, i)
        j = n if m is None else m.start()
        out.append(text[i:j])
        if j >= n:
            break
        ch = text[j]
        if ch in "\"'`":  # a string, to its closing quote; a backslash takes the next character
            k = j + 1
            while (end := _STRING_END[ch].search(text, k)) is not None and end.group() != ch:
                k = end.end()
            i = n if end is None else end.end()
            out.append(text[j:i])
        elif text.startswith("//", j):
            end_line = text.find("\n", j)
            i = n if end_line < 0 else end_line
        elif text.startswith("/*", j):
            end_comment = text.find("*/", j + 2)
            i = n if end_comment < 0 else end_comment + 2
            out.append(" ")
        else:
            out.append(ch)
            i = j + 1
    return "".join(out)


_JS_SPECIAL = re.compile(r"[\"'`/]")
_STRING_END = {q: re.compile(r"\\[\s\S]|" + q) for q in "\"'`"}
