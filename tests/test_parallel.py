"""A cold build of many posts parses them on every core, with the same result as one core."""

from __future__ import annotations

import shutil
from pathlib import Path

from syndicate import app
from tests.conftest import Site


def test_parallel_and_serial_parsing_give_identical_feeds(site: Site, tmp_path: Path) -> None:
    for n in range(app.PARALLEL_MIN + 12):
        tags = f"[t{n % 5}, shared]" if n % 7 else "[shared"  # every 7th post is broken
        site.post(
            f"p{n:03d}.md",
            f"---\ntitle: Post {n}\ndate: 2024-01-{n % 28 + 1:02d} {n % 24:02d}:00\ntags: {tags}\n---\nBody *{n}*.\n",
        )
    parallel = site.run("build", "--no-cache", "--out", str(tmp_path / "parallel"))
    assert parallel.code == 1 and parallel.err.count(": error: ") == 9
    serial_site = Site(tmp_path / "serial")
    shutil.copytree(site.root / "content", serial_site.content)
    shutil.copytree(site.root / "config", serial_site.root / "config")
    # with the threshold out of reach, parsing stays in this one process
    serial = serial_site.run("build", "--out", str(tmp_path / "serial-out"), env={"SYNDICATE_PARALLEL_MIN": "100000"})
    assert serial.err == parallel.err
    a = {
        p.relative_to(tmp_path / "parallel"): p.read_bytes() for p in (tmp_path / "parallel").rglob("*") if p.is_file()
    }
    b = {
        p.relative_to(tmp_path / "serial-out"): p.read_bytes()
        for p in (tmp_path / "serial-out").rglob("*")
        if p.is_file()
    }
    assert a == b and len(a) > 20
