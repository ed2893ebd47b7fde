"""The core is pure: parsing, selecting, rendering and planning touch no file, clock, socket or
database (docs/dev.md, "Shape"). Checked twice: by what the core modules import (anywhere in
them, functions included), and by running the core under an audit hook that records every file
opened, process started, socket made and database connected while it works."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CORE = REPO / "syndicate" / "core"
ALLOWED = ("syndicate.core", "syndicate.errors")  # what a core module may import of syndicate
FORBIDDEN = {  # what the shell does: files, the clock, the network, processes, storage
    "os",
    "io",
    "pathlib",
    "shutil",
    "tempfile",
    "glob",
    "time",
    "sqlite3",
    "socket",
    "ssl",
    "requests",
    "urllib3",
    "http",
    "subprocess",
    "multiprocessing",
    "mimetypes",
    "fcntl",
    "signal",
    "urllib.request",
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic"}


def core_files() -> list[Path]:
    return [*sorted(CORE.rglob("*.py")), REPO / "syndicate" / "errors.py"]


@pytest.mark.parametrize("path", core_files(), ids=lambda p: p.relative_to(REPO / "syndicate").as_posix())
def test_a_core_module_imports_nothing_of_the_shell_and_reads_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            package = path.relative_to(REPO).with_suffix("").parts[: -node.level]  # a relative import
            names = [".".join((*package, *([node.module] if node.module else [])))]
        elif isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id == "open":
                found.append(f"line {node.lineno}: open()")
            if isinstance(fn, ast.Attribute) and fn.attr in CLOCK_CALLS:
                found.append(f"line {node.lineno}: .{fn.attr}() (a clock)")
            continue
        else:
            continue
        for name in names:
            root = name.split(".")[0]
            if name in FORBIDDEN or root in FORBIDDEN:
                found.append(f"line {node.lineno}: imports {name}")
            if root == "syndicate" and name != "syndicate" and not name.startswith(ALLOWED):
                found.append(f"line {node.lineno}: imports the shell's {name}")
    assert not found, f"{path.name}: " + "; ".join(found)


RUN_THE_CORE = r"""
import json, sys
from datetime import datetime, timezone
from syndicate.config import parse_settings
from syndicate.core import feeds
from syndicate.core import markup
from syndicate.core import planning
from syndicate.core import posts
from syndicate.core import render
from syndicate.core import social
settings = parse_settings(sys.argv[1])  # the shell's part: the config (time zones, extensions)
import cmarkgfm, markdown  # the renderers' libraries load themselves once, as in any build
# loaded by the first feed document a process makes, the first non-ASCII title (xmlfeeds.py, dialects.py)
import anyascii, feedgen.feed, feedgen.ext.base, lxml.etree
seen = []
def hook(event, args):
    if event in ("open", "os.listdir", "os.scandir", "subprocess.Popen", "socket.connect", "socket.__new__",
                 "sqlite3.connect", "os.system", "shutil.copyfile", "time.sleep"):
        seen.append(f"{event} {args[0]!r}"[:160])
sys.addaudithook(hook)
now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
text = '''---
title: "Pure & <simple>"
date: 2025-06-03 10:00
tags: [core, "R&D"]
thumb: pictures/p.webp
---
Some *text* with [a link](/about/) and ![an image](i.avif).

<!--more-->

| a | b |
|---|---|
| 1 | 2 |
'''
made = [posts.parse_post(f"p{i}.md", text.replace("Pure", f"Pure {i}").encode(), settings) for i in range(3)]
live = [r.post for r in made if r.post is not None]
assert len(live) == 3, [r.problems for r in made]
for p in live:
    p.content.html  # the recipe parse_post made renders the body it was given
planned = feeds.plan_feeds(live, settings, now)
out = {}
for feed in planned:
    out.update(render.render_feed(feed, settings))
plan = planning.plan_posts(now=now, posts=live, snapshot=lambda p: json.dumps(p.title), unreadable_sources=set(),
                           known={}, targets=settings.targets, known_targets=set(), deliveries=[], backfill=True)
assert len(plan.new) == 3, plan
social.fit("{title} {summary} {url}", title=live[0].title, url=live[0].url, summary=live[0].summary, tags=live[0].tags,
           limit=500, length=social.mastodon_length)
print(json.dumps({"seen": seen, "files": len(out), "types": sorted({p.image.mime_type for p in live})}))
"""


def test_the_core_opens_no_file_and_makes_no_connection_while_it_works(tmp_path: Path) -> None:
    config = (REPO / "config" / "syndicate.toml").read_text()
    config += '\n[[targets]]\nname = "hooks"\nkind = "webhook"\nurl = "https://hooks.example/"\nsecret_env = "X"\n'
    done = subprocess.run(
        [sys.executable, "-c", RUN_THE_CORE, config], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["seen"] == [], report["seen"]
    assert report["files"] > 6
    assert report["types"] == ["image/webp"]  # from our own table, not the host's /etc/mime.types
