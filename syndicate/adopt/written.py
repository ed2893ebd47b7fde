"""What `syndicate init` writes and prints (pure): the TOML with a comment on every key, and the
report, one line per value with its source."""

from __future__ import annotations

from ..core.dialects import GENERATORS
from ..core.model import printable
from .model import NAMES, Adopted, Value

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
        if (section, key) == ("site", "permalink"):  # a folder's own pattern, in its own table
            rows += [("site.permalinks", _toml_string(folder), "", v) for folder, v in a.permalinks]
        if (section, key) == ("content", "filename_metadata"):  # {{ site.<key> }}, in its own table
            rows += [("content.site", name, "", v) for name, v in a.site_values]
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
            if section == "site.permalinks":
                label = f"permalink {key.strip(chr(34))}/"
            if section == "content.site":
                label = f"site.{key}"
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
