"""The fenced blocks a docs page marks ``<!-- checked: tests/test_x.py -->``: code shown on a page
(a config, a receiver, a unit file) that the named test checks against its file or the code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Block:
    page: str
    lang: str
    title: str
    text: str


def checked_blocks(page: Path, test: str) -> list[Block]:
    """The blocks of ``page`` that ``test`` (its file name, "test_docs_running.py") checks, in page
    order, each without the indentation it has inside a tab or a list."""
    marked = re.compile(
        rf"^(?P<indent>[ ]*)<!-- checked: tests/{re.escape(test)} -->\n"
        r"(?P=indent)```(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=indent)```$",
        re.M | re.S,
    )
    out = []
    for m in marked.finditer(page.read_text(encoding="utf-8")):
        indent = len(m.group("indent"))
        info = m.group("info").split()
        title = re.search(r'title="([^"]*)"', m.group("info"))
        text = "".join(line[indent:] if line.strip() else "\n" for line in m.group("body").splitlines(keepends=True))
        out.append(Block(page.name, info[0] if info else "", title.group(1) if title else "", text))
    return out
