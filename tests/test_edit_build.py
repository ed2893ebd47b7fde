"""A rebuild after a few posts were edited in place makes only their feeds again (builder/edit.py):
whatever the edits, it must leave what the whole build leaves, byte for byte, and say the same."""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate import command, quick
from syndicate.builder import pipeline
from syndicate.builder.owned import RECORD
from syndicate.builder.report import BuildReport
from syndicate.cli.common import problem_lines
from syndicate.cli.show import build_lines

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CONFIG = """\
[site]
title = "Edits"
url = "https://example.com/"
author = "Ed"
permalink = "/blog/{slug}/"

[feeds]
items = 3
"""
TAGS = ["Python", "Feeds", "Go", "Rust"]
POSTS = 12


def post_text(n: int, *, title: str = "", day: int = 0, tags: tuple[str, ...] = (), draft: bool = False) -> str:
    """Post ``n``: its day of May (a later one when ``day`` is given), its tags, a body."""
    tags = tags or (TAGS[n % 4], TAGS[(n * 3) % 4])
    when = f"2026-05-{(day or n + 1):02d}T10:00:00Z"
    return (
        f'---\ntitle: "{title or f"Post {n}"}"\ndate: {when}\ntags: [{", ".join(tags)}]\n'
        f"draft: {'true' if draft else 'false'}\n---\n\nThe body of post {n}, with *emphasis*.\n"
    )


def make_site(root: Path) -> Path:
    (root / "config").mkdir(parents=True)
    (root / "config" / "syndicate.toml").write_text(CONFIG, encoding="utf-8")
    (root / "content").mkdir()
    for n in range(POSTS):
        (root / "content" / f"p{n:02d}.md").write_text(post_text(n), encoding="utf-8")
    return root


@contextmanager
def watching() -> Iterator[list[bool]]:
    """Each build's answer from the edit path (True: it made the build)."""
    taken: list[bool] = []
    real = vars(pipeline)["edited_build"]

    def spy(*args: Any, **kwargs: Any) -> BuildReport | None:
        report: BuildReport | None = real(*args, **kwargs)
        taken.append(report is not None)
        return report

    vars(pipeline)["edited_build"] = spy
    try:
        yield taken
    finally:
        vars(pipeline)["edited_build"] = real


def build(root: Path) -> BuildReport:
    return pipeline.build(root, NOW)


def outputs(root: Path) -> dict[str, bytes]:
    out = root / "public"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != RECORD}


def said(root: Path, report: BuildReport) -> tuple[str, list[str]]:
    """What the command prints for this build (its time and folder aside)."""
    return build_lines(report, NOW, Path("public"), "T"), [
        line.replace(str(root), "SITE") for line in problem_lines(root, report)
    ]


KINDS = ["body", "body", "title", "touch", "same", "warn", "tags", "date", "later", "draft", "broken"]


def edit(root: Path, n: int, kind: str, round_: int) -> None:
    path = root / "content" / f"p{n:02d}.md"
    text = path.read_text(encoding="utf-8")
    if kind == "body":
        path.write_text(text + f"More in round {round_}.\n", encoding="utf-8")
    elif kind == "title":
        path.write_text(text.replace('title: "', f'title: "R{round_} ', 1), encoding="utf-8")
    elif kind == "touch":
        st_ = path.stat()
        os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000 * (round_ + 1)))
    elif kind == "warn":  # a key syndicate does not know: a warning, the post still in place
        path.write_text(text.replace("draft:", f"titel: typo {round_}\ndraft:", 1), encoding="utf-8")
    elif kind == "same":
        path.write_text(text, encoding="utf-8")  # the same bytes again: a new stat, nothing to write
    elif kind == "tags":
        path.write_text(post_text(n, tags=("Go", f"New{round_}")), encoding="utf-8")
    elif kind == "date":
        path.write_text(post_text(n, day=28 - round_), encoding="utf-8")
    elif kind == "later":  # scheduled: live after NOW
        path.write_text(post_text(n).replace("2026-05-", "2026-07-", 1), encoding="utf-8")
    elif kind == "draft":
        path.write_text(post_text(n, draft=True), encoding="utf-8")
    else:
        path.write_text("---\ntitle: [unclosed\n---\nbroken\n", encoding="utf-8")


Round = list[tuple[int, str]]


def placing(text: str) -> list[str]:
    """The front-matter lines that decide where a post shows (all but its title and a misspelt key)."""
    head = text.split("\n---\n", 1)[0].splitlines()
    return [line for line in head if not line.startswith(("title:", "titel:"))]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(st.tuples(st.integers(0, POSTS - 1), st.sampled_from(KINDS)), min_size=1, max_size=3), max_size=3)
)
def test_an_edit_build_leaves_what_the_whole_build_leaves(rounds: list[Round]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        site = make_site(Path(tmp) / "site")
        build(site)
        broken: set[int] = set()
        for i, edits in enumerate(rounds):
            texts = {n: (site / "content" / f"p{n:02d}.md").read_text(encoding="utf-8") for n, _ in edits}
            for n, kind in edits:
                edit(site, n, kind, i)
            whole = Path(tmp) / f"whole-{i}"
            shutil.copytree(site, whole)  # new inodes: the copy's build takes the whole way
            with watching() as taken:
                report = build(site)
            with watching() as whole_taken:
                whole_report = build(whole)
            assert whole_taken == [False]
            assert outputs(site) == outputs(whole)
            assert sorted(report.written) == sorted(whole_report.written)
            assert said(site, report) == said(whole, whole_report)
            after = {n: (site / "content" / f"p{n:02d}.md").read_text(encoding="utf-8") for n, _ in edits}
            broken = {n for n in broken | after.keys() if "[unclosed" in after.get(n, "[unclosed")}
            in_place = not broken & after.keys() and all(placing(texts[n]) == placing(after[n]) for n in after)
            assert taken == [in_place] or (not in_place and taken in ([], [False]))
            again = build(site)
            assert again.written == [] and outputs(site) == outputs(whole)


def test_an_edited_post_rewrites_only_the_feeds_that_show_it(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    build(site)
    before = {rel: (site / "public" / rel).stat().st_ino for rel in outputs(site)}
    edit(site, POSTS - 1, "body", 0)  # the newest post: the site's feeds and its two tags'
    with watching() as taken:
        report = build(site)
    assert taken == [True]
    shows = [
        f"{folder}{name}"
        for folder in ("", "tags/feeds/", "tags/rust/")
        for name in ("atom.xml", "feed.json", "feed.xml")
    ]
    assert sorted(report.written) == sorted(shows)
    after = {rel: (site / "public" / rel).stat().st_ino for rel in outputs(site)}
    assert {rel for rel in before if before[rel] != after[rel]} == set(shows)
    assert "More in round 0." in (site / "public" / "feed.json").read_text(encoding="utf-8")


def test_a_post_read_by_another_build_since_the_last_one_is_not_missed(tmp_path: Path) -> None:
    """A build into another folder reads an edited post into the cache (its row now newer than the
    last build of public/): the next build of public/ must still show that edit, with its own."""
    site = make_site(tmp_path / "site")
    build(site)
    edit(site, POSTS - 1, "body", 0)
    pipeline.build(site, NOW, out_dir=tmp_path / "elsewhere")
    edit(site, POSTS - 2, "body", 1)
    with watching() as taken:
        build(site)
    assert taken == [False]  # the whole way
    shown = (site / "public" / "feed.json").read_text(encoding="utf-8")
    assert "More in round 0." in shown and "More in round 1." in shown


def test_an_output_file_changed_by_hand_sends_the_build_the_whole_way(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    build(site)
    (site / "public" / "tags" / "go" / "feed.xml").unlink()
    edit(site, POSTS - 1, "body", 0)
    with watching() as taken:
        report = build(site)
    assert taken == [False]
    assert "tags/go/feed.xml" in report.written


def test_an_edit_build_killed_anywhere_leaves_what_the_next_build_mends(tmp_path: Path) -> None:
    """SIGKILL at random moments of edit builds (after the parse, amid the writes, before the cache
    is saved): the next build leaves exactly what a fresh whole build of the same posts does."""
    site = make_site(tmp_path / "site")
    for n in range(POSTS, 40):  # enough posts that a build takes a while to kill inside
        (site / "content" / f"p{n:02d}.md").write_text(post_text(n % 28), encoding="utf-8")
    build(site)
    rng = random.Random(7)
    cmd = [sys.executable, "-m", "syndicate", "build", "--now", NOW.isoformat()]
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    for trial in range(12):
        edit(site, rng.choice([25, 26, 27]), "body", trial)  # the newest: shown in the site's feeds
        proc = subprocess.Popen(cmd, cwd=site, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.6))
        proc.kill()
        proc.wait(timeout=30)
    done = subprocess.run(cmd, cwd=site, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    fresh = tmp_path / "fresh"
    shutil.copytree(site / "content", fresh / "content")
    shutil.copytree(site / "config", fresh / "config")
    pipeline.build(fresh, NOW, use_cache=False)
    assert outputs(site) == outputs(fresh)
    again = subprocess.run(cmd, cwd=site, env=env, capture_output=True, text=True, timeout=120)
    assert "0 written" in again.stdout, again.stdout


def test_the_cache_keeps_one_plan_per_feed_and_none_for_a_feed_gone(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    build(site)

    def planned() -> set[str]:
        db = sqlite3.connect(site / ".syndicate" / "cache.db")
        try:
            return {feed for (feed,) in db.execute("SELECT feed FROM feed_plans")}
        finally:
            db.close()

    tags = {f"tags\x1f{t.lower()}" for t in TAGS}
    assert planned() == {""} | tags  # the site's feed and each tag's
    for n in range(POSTS):  # no post is tagged Go any more: its feed is gone, and so is its plan
        (site / "content" / f"p{n:02d}.md").write_text(post_text(n, tags=("Rust",)), encoding="utf-8")
    build(site)
    assert planned() == {"", "tags\x1frust"}


def test_why_an_edit_build_takes_the_whole_way_is_one_line_whatever_the_file_is_called(tmp_path: Path) -> None:
    """SYNDICATE_TRACE names the post that sent the build the whole way: a name with a newline and a
    bidirectional override is printed escaped, as every other line names files."""
    site = make_site(tmp_path / "site")
    odd = site / "content" / "odd\nname \u202eevil.md"
    odd.write_text(post_text(3), encoding="utf-8")
    build(site)
    odd.write_text(post_text(3) + "more\n", encoding="utf-8")
    env = {**os.environ, "SYNDICATE_TRACE": "1"}
    cmd = [sys.executable, "-m", "syndicate", "build", "--now", NOW.isoformat()]
    done = subprocess.run(cmd, cwd=site, env=env, capture_output=True, text=True, timeout=120)
    whole = [line for line in done.stderr.splitlines() if "the whole build:" in line]
    assert len(whole) == 1 and "\\u202eevil" in whole[0], done.stderr  # one line, escaped
    assert not any(line.startswith("name ") for line in done.stderr.splitlines()), done.stderr
    assert "\u202e" not in done.stderr


@contextmanager
def the_command(site: Path) -> Iterator[Callable[[], tuple[int, str, str, bool]]]:
    """`syndicate build` through the command's entry point (syndicate/command.py) in this process,
    from the site's folder, the files the test writes older than the stamp (RACY_NS 0): (exit code,
    stdout with the time left out, stderr, whether the content folder was scanned)."""
    real_scan, racy, argv, here = vars(pipeline)["scan"], quick.RACY_NS, sys.argv, os.getcwd()
    scans: list[int] = []

    def scan(*args: Any, **kwargs: Any) -> Any:
        scans.append(1)
        return real_scan(*args, **kwargs)

    def run() -> tuple[int, str, str, bool]:
        scans.clear()
        out, err = io.TextIOWrapper(io.BytesIO(), "utf-8"), io.TextIOWrapper(io.BytesIO(), "utf-8")
        sys.argv, quick.ARGV = ["syndicate", "build"], None
        with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as ended:
            command.main()
        said = []
        for stream in (out, err):
            stream.seek(0)
            said.append(re.sub(r" in \d+\.\d\d s$", " in T s", stream.read(), flags=re.M))
        return int(ended.value.code or 0), said[0], said[1], bool(scans)

    vars(pipeline)["scan"], quick.RACY_NS = scan, 0
    os.chdir(site)
    try:
        yield run
    finally:
        vars(pipeline)["scan"], quick.RACY_NS, sys.argv = real_scan, racy, argv
        os.chdir(here)


def with_others(root: Path) -> Path:
    """A site with a file that is no post and a post in a sub-folder (a scan lists it after the
    folder's own files, the inputs' hash by name), beside the posts :func:`edit` changes."""
    make_site(root)
    (root / "content" / "README.md").write_text("# not a post\n", encoding="utf-8")
    (root / "content" / "a").mkdir()
    (root / "content" / "a" / "inner.md").write_text(post_text(1, title="Inner"), encoding="utf-8")
    return root


def test_a_rebuild_after_an_edit_finds_it_from_the_stamp_without_a_scan(tmp_path: Path) -> None:
    """The stamp the last build left names the chunks of post files whose stats changed: the edited
    post is found in them, and the build makes its feeds without listing or stat-ing the others."""
    site = with_others(tmp_path / "site")
    with the_command(site) as run:
        assert run()[3]  # the first build scans, and leaves the stamp
        edit(site, POSTS - 1, "body", 0)
        code, out, err, scanned = run()
    assert (code, scanned) == (0, False), (out, err)
    assert err == "note: skipped 1 file that is not a post; `syndicate check` lists it\n"
    assert "9 written" in out, out
    assert "More in round 0." in (site / "public" / "feed.json").read_text(encoding="utf-8")
    with the_command(site) as run:
        code, out, err, scanned = run()  # nothing changed: told by the stamp that build left
        assert (code, scanned) == (0, False) and "0 written" in out, out
        assert quick.replay(["build"]) is not None
        quick.RACY_NS = 2_000_000_000  # an edit saved right before the build, as bench/build.py times it
        edit(site, POSTS - 1, "body", 1)
        code, out, err, scanned = run()
    assert (code, scanned) == (0, False) and "9 written" in out, out
    assert not (site / quick.STAMP).exists()  # a later save in the same clock tick could keep the stat


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(st.tuples(st.integers(0, POSTS - 1), st.sampled_from(KINDS)), min_size=1, max_size=3), max_size=3)
)
def test_an_edit_found_from_the_stamp_leaves_what_the_whole_build_leaves(rounds: list[Round]) -> None:
    """As the test above of the scan's way, through the command with the stamp of the build before
    each round: the same bytes, the same lines, and no scan exactly when the post stayed in place."""
    with tempfile.TemporaryDirectory() as tmp:
        site = with_others(Path(tmp) / "site")
        broken: set[int] = set()
        with the_command(site) as run:
            run()
            for i, edits in enumerate(rounds):
                assert (site / quick.STAMP).exists()
                texts = {n: (site / "content" / f"p{n:02d}.md").read_text(encoding="utf-8") for n, _ in edits}
                for n, kind in edits:
                    edit(site, n, kind, i)
                whole = Path(tmp) / f"whole-{i}"
                shutil.copytree(site, whole, ignore=shutil.ignore_patterns("quick.json"))  # new inodes: the whole way
                code, out, err, scanned = run()
                os.chdir(whole)
                whole_said = run()
                os.chdir(site)
                assert outputs(site) == outputs(whole)
                assert (code, out, err) == whole_said[:3]
                after = {n: (site / "content" / f"p{n:02d}.md").read_text(encoding="utf-8") for n, _ in edits}
                broken = {n for n in broken | after.keys() if "[unclosed" in after.get(n, "[unclosed")}
                in_place = not broken & after.keys() and all(placing(texts[n]) == placing(after[n]) for n in after)
                assert scanned == (not in_place), (edits, in_place)
                again = run()  # leaves the stamp the next round starts from
                assert "0 written" in again[1] and outputs(site) == outputs(whole)
