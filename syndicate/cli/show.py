"""How the commands print what they found: counts in words, aligned tables."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import click

from .plain import build_lines as build_lines
from .plain import plural as plural
from .plain import post_counts as post_counts


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
