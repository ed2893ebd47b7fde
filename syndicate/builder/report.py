"""What a build found and did, as the commands print it; and where a build spends its time."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..core.model import Feed, Post, Problem, Settings
from ..quick import Recorder

STATE_DIR = ".syndicate"
_TRACE = bool(os.environ.get("SYNDICATE_TRACE"))
_t0 = time.perf_counter()


def trace(what: str) -> None:
    """With SYNDICATE_TRACE=1 in the environment: where a build spends its time, on stderr."""
    if _TRACE:
        print(f"trace {time.perf_counter() - _t0:8.3f} s  {what}", file=sys.stderr, flush=True)


Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Tally:
    """What a build found, as `build` and `check` print it."""

    live: int
    drafts: int
    scheduled: tuple[tuple[datetime, str], ...]  # (date, file), soonest first
    rejected: int  # files
    feeds: int
    expired: int = 0  # posts whose expiry date (Hugo's expiryDate) has passed


@dataclass
class BuildReport:
    """Everything a build found and did, for the commands to print: posts (drafts and scheduled
    too), problems, feeds, files written and removed. ``tally`` counts it as of a moment."""

    settings: Settings
    posts: list[Post] = field(default_factory=list)  # every accepted post, drafts and scheduled too
    problems: list[Problem] = field(default_factory=list)
    feeds: list[Feed] = field(default_factory=list)
    files: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # output files left alone: not syndicate's (rel → why)
    out: str = ""  # the output folder this build wrote to
    parsed: int = 0  # files read and parsed (not taken from the cache)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    stored_tally: Tally | None = None  # from the manifest, when nothing changed and no post was loaded
    seen: Recorder | None = None  # what the scan saw and the manifest, for the stamp (syndicate/quick.py)

    def tally(self, now: datetime) -> Tally:
        if self.stored_tally is not None:
            return self.stored_tally
        return Tally(
            live=len(self.live(now)),
            drafts=len(self.drafts()),
            scheduled=tuple((p.goes_live, p.source) for p in self.scheduled(now)),
            rejected=len({p.path for p in self.rejected}),
            feeds=len(self.feeds),
            expired=sum(1 for p in self.posts if p.is_expired(now)),
        )

    @property
    def rejected(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def live(self, now: datetime) -> list[Post]:
        return [p for p in self.posts if p.is_live(now)]

    def scheduled(self, now: datetime) -> list[Post]:
        return sorted((p for p in self.posts if p.is_scheduled(now)), key=lambda p: p.goes_live)

    @property
    def skipped(self) -> list[Problem]:
        """Files that are no posts (section indexes, READMEs, pages), with the reason."""
        return [p for p in self.problems if p.severity == "skipped"]

    @property
    def info(self) -> list[Problem]:
        """How values were found (a date from the file name), for `check`."""
        return [p for p in self.problems if p.severity == "note"]

    def drafts(self) -> list[Post]:
        return [p for p in self.posts if p.draft]


def refused_line(settings: Settings, shown: str, rel: str, why: str) -> str:
    """The line that names a file left alone (``shown``: its path as printed) and what to do."""
    return f"{shown}: {why}; left alone: {refused_advice(settings, rel)}"


def refused_advice(settings: Settings, rel: str) -> str:
    """What to do about a file in the output folder that syndicate wants to write but did not write."""
    name = rel.rsplit("/", 1)[-1]
    if rel == settings.output.index:
        key = '[output] index to another path (or "" for none)'
    elif rel == settings.output.opml:
        key = '[output] opml to another path (or "" for none)'
    elif name in (settings.feeds.rss, settings.feeds.atom, settings.feeds.json):
        which = next(k for k in ("rss", "atom", "json") if getattr(settings.feeds, k) == name)
        key = f"[feeds] {which} to another name" if "/" not in rel else "[feeds] tags_dir to another folder"
    else:
        return "move it away if it is not needed there"
    if rel != settings.output.index and rel != settings.output.opml:  # a feed: perhaps the generator's own
        key += "; or, for syndicate's feed to replace it, name it in [output] take_over"
    return f"move it away if it is not needed there, or set {key}"
