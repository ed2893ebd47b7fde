"""The console blocks of the README and of every page of the documentation site (docs/) are
real output of the current code.

A block marked ``<!-- runnable -->`` (or ``<!-- runnable: SETUP -->``, a shell line run first,
unseen, with $REPO naming the repository, so a page can start from one of docs/examples/) is
run on a fresh copy of the sample site, command by command, under a clock pinned to 2026-11-26
12:00 UTC (libfaketime, so the scheduled post stays scheduled; an ``export NAME=VALUE`` line
lasts for the block's later commands), and what the commands print (stderr first, as a
terminal shows it) must be the block's lines, with durations, times of day and ports
normalized. The others (the daemon's log, runs against the syndication peers) are marked
``<!-- recorded: … -->`` with where they were recorded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO, faked, offset_to

PAGES = [REPO / "README.md", *sorted(p for p in (REPO / "docs").rglob("*.md") if "examples" not in p.parts)]
BLOCK = re.compile(r"<!-- (runnable(?:: (?P<setup>.*?))?|recorded[^>]*) -->\n```console\n(.*?)```", re.S)
PINNED = "2026-11-26 12:00:00"


def normalize(text: str) -> list[str]:
    text = re.sub(r"\bin \d+\.\d+ s\b", "in N s", text)
    text = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", "TS ", text, flags=re.M)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    return [line.rstrip() for line in text.splitlines()]


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def runnable() -> list[tuple[str, str, str]]:
    return [
        (page.relative_to(REPO).as_posix(), m.group("setup") or "", m.group(3))
        for page in PAGES
        for m in BLOCK.finditer(text(page))
        if m.group(1).startswith("runnable")
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_console_block_is_runnable_or_says_where_it_came_from(page: Path) -> None:
    fences = text(page).count("```console\n")
    marked = len(BLOCK.findall(text(page)))
    assert marked == fences, f"{fences - marked} console block(s) carry no <!-- runnable --> or <!-- recorded --> mark"


def test_most_console_blocks_run() -> None:
    assert len(runnable()) >= 4


@pytest.mark.skipif(shutil.which("faketime") is None and os.environ.get("CI") != "true", reason="needs faketime")
@pytest.mark.parametrize(("page", "setup", "block"), runnable(), ids=lambda v: v.split("\n", 1)[0][:40])
def test_a_runnable_console_block_is_what_the_code_prints(tmp_path: Path, page: str, setup: str, block: str) -> None:
    site = tmp_path / "site"
    shutil.copytree(REPO / "content", site / "content")
    shutil.copytree(REPO / "config", site / "config")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "COLUMNS": "200"}
    env["REPO"] = str(REPO)
    env.pop("SYNDICATE_TRACE", None)
    if setup:
        subprocess.run(["bash", "-c", setup], cwd=site, env=env, check=True, capture_output=True, timeout=120)
    commands: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:].split("  #", 1)[0].strip(), []))
        else:
            commands[-1][1].append(line)
    last_code = 0
    for command, expected in commands:
        if command == "echo $?":
            got = f"{last_code}\n"
        elif m := re.fullmatch(r"export (\w+)=(\S*)", command):  # lasts for the block's later commands
            env[m.group(1)] = m.group(2)
            got = ""
        else:
            done = subprocess.run(
                faked(["bash", "-c", command], offset_to(datetime.fromisoformat(PINNED).replace(tzinfo=UTC))),
                cwd=site,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            last_code = done.returncode
            got = done.stderr + done.stdout
        assert matches(normalize(got), normalize("\n".join(expected))), (page, command, got)


def matches(got: list[str], expected: list[str]) -> bool:
    """Line by line; a line "…" alone in the block stands for any lines the README leaves out."""
    if not expected:
        return not got
    if expected[0] == "…":
        return any(matches(got[i:], expected[1:]) for i in range(len(got) + 1))
    return bool(got) and got[0] == expected[0] and matches(got[1:], expected[1:])
