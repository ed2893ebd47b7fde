"""A generator's permalink pattern -> syndicate's {placeholders}, or the generator's default
with a warning when it cannot be translated."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from ..core.model import PERMALINK_FIELDS
from ..core.permalinks import normal_template
from .draft import Draft
from .model import Value

_LIQUID = {  # an Eleventy permalink's {{ … }} → syndicate's placeholder (under generator = "eleventy")
    "page.fileslug": "{filename}",  # the file name without a leading date
    "page.filepathstem": "/{path}/{name}",  # the folders and the file name, its date kept
    "title | slugify": "{title}",
    "title | slug": "{title}",
}


_PELICAN_DATE = {
    **{"%Y": "{year}", "%m": "{month}", "%d": "{day}", "%y": "{short_year}", "%j": "{y_day}"},
    **{"%H": "{hour}", "%M": "{minute}", "%S": "{second}", "%-m": "{i_month}", "%-d": "{i_day}"},
}


Translator = Callable[[str], tuple[str | None, list[str]]]


def translated(pattern: str, translate: Translator) -> tuple[str | None, str]:
    """(the pattern in syndicate's placeholders, "") or (None, why it cannot be)."""
    done, bad = translate(pattern)
    why = f"uses {', '.join(bad)}, which syndicate has no placeholder for" if bad else _path_problem(done or "")
    return (done, "") if done is not None and why is None else (None, why or "")


def take_permalink(d: Draft, pattern: str, source: str, translate: Translator, default: str) -> None:
    """Take the translation of ``pattern``; when there is none, warn and take the generator's
    default (``default``, already in syndicate's placeholders)."""
    done, why = translated(pattern, translate)
    if done is not None:
        d.set("permalink", done, source)
        return
    d.stand_in(
        "permalink",
        default,
        f"the generator's default: {source} could not be translated",
        "[site] permalink: write a pattern that gives the posts' live URLs (see docs/reference/config.md)",
    )
    d.warnings.append(f"permalink {pattern!r} ({source.split(' = ')[0]}) {why}; wrote the generator's default")


def take_folder_permalink(d: Draft, folder: str, pattern: str, source: str, translate: Translator) -> None:
    """A folder's own pattern ([site.permalinks]); one that cannot be translated is left out,
    with a warning and a check line (its posts get [site] permalink)."""
    done, why = translated(pattern, translate)
    if done is not None:
        d.permalinks[folder] = Value(done, source)
        return
    d.warnings.append(f"permalink {pattern!r} ({source}) {why}; its posts get [site] permalink")
    d.checks.append(f"[site.permalinks]: write the pattern of the posts in {folder}/ (their live URLs)")


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


def translate_colon(pattern: str) -> tuple[str | None, list[str]]:
    """Jekyll's and Hugo's ``:name`` tokens → ``{name}``, as core.permalinks reads them (its
    ``{title}`` is Jekyll's ``:title`` under generator = "jekyll"); the tokens it has no
    placeholder for are returned."""
    bad = [
        # [^[\]]: a bracket ends at the next one, so an unclosed ":a[" never scans to the end again
        m.group(0)
        for m in re.finditer(r":([A-Za-z_]+)(\[[^[\]]*\])?", pattern)
        if m.group(2) or m.group(1) in _LOSSY
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


def translate_pelican(pattern: str) -> tuple[str | None, list[str]]:
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


def translate_liquid(pattern: str, dates: Mapping[str, str] | None = None) -> tuple[str | None, list[str]]:
    """An Eleventy permalink's ``{{ page.fileSlug }}`` and the like → syndicate's placeholders;
    ``dates``: the config's date filters init could read (lower-cased name → placeholders), for
    ``{{ page.date | slugDate }}``."""
    bad = ["a {% tag %}"] if "{%" in pattern else []
    known = {**_LIQUID, **{f"page.date | {name}": made for name, made in (dates or {}).items()}}

    def one(m: re.Match[str]) -> str:
        expr = " | ".join(" ".join(part.split()) for part in m.group(1).lower().split("|"))
        if expr not in known:
            bad.append(m.group(0))
        return known.get(expr, "")

    # No brace inside: an expression ends at the next one, so "{{" and spaces never end scans
    # that go to the end and back (``\{\{\s*(.*?)\s*\}\}`` was cubic: 3,000 spaces, 22 s).
    done = _LIQUID_EXPR.sub(one, pattern).removesuffix("index.html")
    if "{{" in done or "}}" in done:
        bad.append("an unclosed {{ or a brace inside {{ }}")
    return (None, bad) if bad else (re.sub(r"/{2,}", "/", "/" + done), [])


_LIQUID_EXPR = re.compile(r"\{\{([^{}]*)\}\}")
