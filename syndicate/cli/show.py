"""How the commands print what they found: counts in words, aligned tables."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from ..builder.report import BuildReport
from ..core.model import printable


def build_lines(report: BuildReport, moment: datetime, out_dir: Path, seconds: str) -> str:
    """What `build` prints on stdout after a build (the problems go to stderr first)."""
    tally = report.tally(moment)
    counts = post_counts(report, moment)
    lines = [f"built {plural(tally.feeds, 'feed')} ({report.files} files) from {counts} in {seconds} s"]
    unchanged = report.files - len(report.written) - len(report.refused)
    removed = f", {len(report.removed)} removed" if report.removed else ""
    refused = f", {len(report.refused)} left alone (not syndicate's)" if report.refused else ""
    lines.append(f"{out_dir}/: {len(report.written)} written, {unchanged} unchanged{removed}{refused}")
    if tally.scheduled:
        when, source = tally.scheduled[0]
        lines.append(f"next scheduled: {when:%Y-%m-%d %H:%M} UTC  {printable(source)}")
    return "\n".join(lines)


def post_counts(report: BuildReport, now: datetime) -> str:
    tally = report.tally(now)
    parts = [plural(tally.live, "published post")]
    if tally.drafts:
        parts.append(plural(tally.drafts, "draft"))
    if tally.scheduled:
        parts.append(f"{len(tally.scheduled)} scheduled")
    if tally.expired:
        parts.append(f"{tally.expired} expired")
    if tally.rejected:
        parts.append(plural(tally.rejected, "rejected file"))
    return ", ".join(parts)


def plural(n: int, noun: str) -> str:
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun[:-1]}ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else f"{n} {noun}s"


def width(text: str) -> int:
    """Columns a string takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def print_table(rows: Sequence[tuple[str, ...]], max_width: int = 48) -> None:
    """Print rows as aligned columns; the last column is never cut (URLs stay whole)."""

    def cut(text: str) -> str:
        """Long cells lose their end, but a URL loses its middle: two feed URLs that differ only at
        the end (two feeds of one WebSub hub) must not look the same."""
        if width(text) <= max_width:
            return text
        if "://" not in text:
            while width(text) + 1 > max_width:
                text = text[:-1]
            return text + "…"
        head, tail = text[: max_width // 2], text[-(max_width // 2) :]
        while width(head) + width(tail) + 1 > max_width:
            head, tail = head[:-1], tail[1:]
        return head + "…" + tail

    cells = [[cut(c) for c in row[:-1]] + [row[-1]] for row in rows]
    widths = [max(width(r[i]) for r in cells) for i in range(len(rows[0]) - 1)]
    for row in cells:
        padded = [c + " " * (widths[i] - width(c)) for i, c in enumerate(row[:-1])]
        click.echo("  ".join([*padded, row[-1]]).rstrip())
