"""The values found so far for one site while a generator's config is read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import UNSAFE_TEXT, unsafe_character
from .model import SiteFiles, Value
from .readers import as_text, parse_config, relative_dir


class Draft:
    """The values found so far for one site, with its check and warning lines."""

    def __init__(self, site: SiteFiles) -> None:
        self.site = site
        self.ev = site.evidence
        self.values: dict[str, Value] = {}
        self.permalinks: dict[str, Value] = {}  # [site.permalinks]: folder → its pattern
        self.checks: list[str] = []
        self.warnings: list[str] = []
        self.feeds_taken: dict[str, str] = {}  # a feed file name the generator's config makes → where
        self.output: tuple[str, str] | None = None  # the generator's output folder, when its config moves it
        self.site_values: dict[str, Value] = {}  # [content] site: what {{ site.<key> }} in the posts stands for

    def set(self, key: str, value: str | tuple[str, ...] | None, source: str) -> bool:
        """Take a value found, unless it is empty (None, "", ()) or ``key`` is known already (the
        first found wins); True when taken."""
        if not value or key in self.values:
            return False
        self.values[key] = Value(value, source)
        return True

    def feed_named(self, path: str | None, where: str) -> None:
        """A feed file the generator writes, as its config names it (``categories/{slug}/atom.xml``):
        syndicate's feeds take another name than its last part."""
        name = (path or "").rstrip("/").rsplit("/", 1)[-1]
        if name and "{" not in name:
            self.feeds_taken.setdefault(name, where)

    def output_at(self, path: str | None, where: str) -> None:
        """The generator builds into ``path`` (relative to the site), not its default folder."""
        folder = relative_dir(path.strip().rstrip("/")) if path and path.strip() else None
        if folder and folder != "." and self.output is None:
            self.output = (folder, where)

    def default(self, key: str, value: str | tuple[str, ...], source: str) -> None:
        """Take ``value`` (which may be empty: ``[]`` means all) when nothing was found."""
        self.values.setdefault(key, Value(value, source))

    def stand_in(self, key: str, value: str | tuple[str, ...], source: str, check: str) -> None:
        """A value the user must check, with the line that says so."""
        self.values[key] = Value(value, source, check=True)
        self.checks.append(check)

    def clean(self) -> None:
        """Every value found, free of the characters a config may not hold (a ``title: "My
        Lab\\a"`` in a generator's config): removed, with a warning naming where each was."""

        def cleaned(value: Value) -> Value:
            texts = value.value if isinstance(value.value, tuple) else (value.value,)
            what = next(filter(None, map(unsafe_character, texts)), None)
            if what is None:
                return value
            self.warnings.append(f"{value.source}: removed {what} (a feed cannot carry it)")
            if isinstance(value.value, tuple):
                return Value(tuple(UNSAFE_TEXT.sub("", t) for t in value.value), value.source, value.check)
            return Value(UNSAFE_TEXT.sub("", value.value), value.source, value.check)

        self.values = {key: cleaned(value) for key, value in self.values.items()}
        self.permalinks = {UNSAFE_TEXT.sub("", folder): cleaned(v) for folder, v in self.permalinks.items()}

    def parse(self, rel: str) -> dict[str, Any]:
        return parse_config(self.site, rel)


def person(d: Draft, value: Any, where: str) -> bool:
    """An author given as a name or as a mapping with ``name`` (and ``email``); True when found."""
    if isinstance(value, Mapping):
        d.set("email", as_text(value.get("email")), f"{where}.email")
        return d.set("author", as_text(value.get("name")), f"{where}.name")
    return d.set("author", as_text(value), where)
