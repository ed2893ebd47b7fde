"""A cold build of many posts parses and renders on every core, with the same result as one core."""

from __future__ import annotations

import gc
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from syndicate.builder import workers
from syndicate.builder.owned import RECORD
from syndicate.builder.parse import make_html
from syndicate.builder.pipeline import build
from syndicate.builder.workers import PARALLEL_MIN, Workers
from syndicate.errors import OutputError
from tests.conftest import CONFIG, NOW, Site


def test_parallel_and_serial_parsing_give_identical_feeds(site: Site, tmp_path: Path) -> None:
    for n in range(PARALLEL_MIN + 12):
        tags = f"[t{n % 5}, shared]" if n % 7 else "[shared"  # every 7th post is broken
        site.post(
            f"p{n:03d}.md",
            f"---\ntitle: Post {n}\ndate: 2024-01-{n % 28 + 1:02d} {n % 24:02d}:00\ntags: {tags}\n---\nBody *{n}*.\n",
        )
    # forked workers parse the posts, then render the feeds (a threshold of 2 puts every feed there)
    parallel = site.run("build", "--no-cache", "--out", str(tmp_path / "parallel"), env={"SYNDICATE_PARALLEL_MIN": "2"})
    assert parallel.code == 1 and parallel.err.count(": error: ") == 9
    serial_site = Site(tmp_path / "serial")
    shutil.copytree(site.root / "content", serial_site.content)
    shutil.copytree(site.root / "config", serial_site.root / "config")
    # with the threshold out of reach, parsing stays in this one process
    serial = serial_site.run("build", "--out", str(tmp_path / "serial-out"), env={"SYNDICATE_PARALLEL_MIN": "100000"})
    assert serial.err == parallel.err
    a = {
        p.relative_to(tmp_path / "parallel"): p.read_bytes()
        for p in (tmp_path / "parallel").rglob("*")
        if p.is_file()
        if p.name != RECORD  # its lines come in the order the workers finished
    }
    b = {
        p.relative_to(tmp_path / "serial-out"): p.read_bytes()
        for p in (tmp_path / "serial-out").rglob("*")
        if p.is_file() and p.name != RECORD
    }
    assert a == b and len(a) > 20
    # the record of what syndicate wrote: one header, however many workers appended at once
    record = (tmp_path / "parallel" / RECORD).read_text(encoding="utf-8")
    assert record.startswith("# written by syndicate") and record.count("# written by syndicate") == 1


def test_the_rows_parsing_workers_make_for_the_cache_are_those_this_process_makes(site: Site, tmp_path: Path) -> None:
    for n in range(PARALLEL_MIN + 2):
        extra = f"summary: S{n} & <b>\nthumb: /i/{n}.png\nauthor: Ada\n" if n % 2 else "lang: de\n"
        site.post(
            f"p{n:03d}.md", f"---\ntitle: Post {n} ’\ndate: 2024-01-0{n % 9 + 1}\ntags: [a, b{n}]\n{extra}---\nB.\n"
        )
    site.post("broken.md", "---\ntitle: [\n---\n")
    rows = {}
    for name, threshold in (("parallel", "2"), ("serial", "100000")):
        copy = tmp_path / name
        shutil.copytree(site.root, copy)
        assert Site(copy).run("build", env={"SYNDICATE_PARALLEL_MIN": threshold}).code == 1
        with closing(sqlite3.connect(copy / ".syndicate" / "cache.db")) as db:
            rows[name] = db.execute("SELECT path, render_key, post, problems FROM posts ORDER BY path").fetchall()
    assert rows["parallel"] == rows["serial"] and len(rows["serial"]) == PARALLEL_MIN + 3


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file() and p.name != RECORD}


def test_a_process_with_threads_spawns_its_workers_and_builds_the_same_bytes(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon has threads, so it must not fork: its workers are spawned and sent their jobs."""
    for n in range(30):
        site.post(
            f"p{n:03d}.md",
            f"---\ntitle: Post {n}\ndate: 2024-02-{n % 28 + 1:02d}\ntags: [t{n % 4}]\n---\n[x](/a/{n})\n",
        )
    assert site.run("build", "--no-cache", "--out", str(tmp_path / "inline")).code == 0
    monkeypatch.setattr(workers, "PARALLEL_MIN", 2)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not Workers().forks
        report = build(site.root, NOW, out_dir=tmp_path / "spawned", use_cache=False)
    finally:
        stop.set()
        other.join()
    assert report.parsed == 30 and not report.problems
    assert _files(tmp_path / "spawned") == _files(tmp_path / "inline")


def test_a_write_that_fails_in_a_worker_is_one_clear_line_and_exit_3(site: Site, tmp_path: Path) -> None:
    for n in range(6):
        site.post(f"p{n}.md", f"---\ntitle: Post {n}\ndate: 2024-03-0{n + 1}\ntags: [t{n}]\n---\nBody.\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "tags").write_text("a file where the tags folder should be")
    run = site.run("build", "--out", str(out), env={"SYNDICATE_PARALLEL_MIN": "2"})
    assert run.code == 3, run.err
    assert run.err.startswith("error: cannot write ") and "tags" in run.err and "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1


def _collector(_: int) -> tuple[int, bool]:
    return gc.get_freeze_count(), gc.isenabled()


def test_forked_workers_inherit_a_frozen_heap_and_collect_their_own_garbage() -> None:
    """Their collector never scans (so never copies) the posts they inherit; this process's does
    not collect while results arrive, and collects again after."""
    pool = Workers()
    if not (pool.forks and pool.worth_it(PARALLEL_MIN)):
        pytest.skip("needs fork and two cores")
    try:
        states = pool.map(_collector, list(range(PARALLEL_MIN)))
        assert all(frozen > 0 and enabled for frozen, enabled in states)
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_a_post_a_forked_writer_cannot_render_in_time_is_rejected_and_every_file_counted(site: Site) -> None:
    """Forked writers make the HTML of the posts their feeds show: one too slow to render is rejected,
    the feeds are planned without it, and the files written before that are counted as written."""
    site.config(CONFIG + '\n[content]\nrenderer = "markdown"\nrender_timeout = 1\n')
    site.post("nested.md", "---\ntitle: Nested\ndate: 2024-06-01\ntags: [slow]\n---\n" + "[a](" * 20_000 + "\n")
    for n in range(12):
        site.post(f"p{n:02d}.md", f"---\ntitle: Post {n}\ndate: 2024-05-{n + 1:02d}\ntags: [t{n}]\n---\nBody {n}.\n")
    run = site.run("build", env={"SYNDICATE_PARALLEL_MIN": "2"})
    assert run.code == 1 and "content/nested.md: error: rendering took longer than 1 s" in run.err
    feeds = 1 + 12  # the site's and one per tag; the slow post's tag has no post left
    assert f"{feeds * 3 + 2} written, 0 unchanged" in run.out  # and index.html, feeds.opml
    assert "Nested" not in (site.public / "feed.xml").read_text()
    assert "Post 11" in (site.public / "tags" / "t11" / "feed.xml").read_text()


def test_posts_parsed_on_every_core_are_cached_even_when_the_build_then_fails(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers make each post's cache row; it is saved as soon as they are done (and let go,
    for memory), so a build that cannot write its feeds has still read every post once."""
    for n in range(6):
        site.post(f"p{n}.md", f"---\ntitle: Post {n}\ndate: 2024-03-0{n + 1}\ntags: [t{n}]\n---\nBody.\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "tags").write_text("a file where the tags folder should be")
    monkeypatch.setattr(workers, "PARALLEL_MIN", 2)
    with pytest.raises(OutputError):
        build(site.root, NOW, out_dir=out)
    (out / "tags").unlink()
    assert build(site.root, NOW, out_dir=out).parsed == 0


def test_forked_writers_make_each_posts_html_about_once(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feeds that show the same posts go to the same writer, which keeps a post's entries until the
    last of its feeds that shows it: a post's HTML is made once, but where one writer takes over
    the end of another's feeds."""
    if not (Workers().forks and Workers().cores >= 2):
        pytest.skip("needs fork and two cores")
    for n in range(84):  # two groups of tags no post shares; the site's feed shows the newest group's
        group, k = ("a", n) if n < 40 else ("b", n - 40)
        tags = ", ".join(f"{group}{(k + i) % 10}" for i in range(3))
        date = f"2024-0{1 if group == 'b' else 2}-{k // 24 + 1:02d} {k % 24:02d}:00"
        site.post(f"p{n:02d}.md", f"---\ntitle: Post {n}\ndate: {date}\ntags: [{tags}]\n---\nB.\n")
    made = tmp_path / "made"

    def counted(job: tuple[Callable[[], tuple[str, str]], float]) -> tuple[str, str] | str:
        with made.open("a") as f:  # one short line per append: the workers' lines never mix
            f.write("made\n")
        time.sleep(0.004)  # as long as a real post takes, not less than a worker takes to start
        return make_html(job)

    monkeypatch.setattr(workers, "PARALLEL_MIN", 2)
    monkeypatch.setattr(workers, "make_html", counted)
    report = build(site.root, NOW, use_cache=False)
    assert report.parsed == 84 and not report.problems
    renders = len(made.read_text().splitlines())
    assert 84 <= renders <= 110, renders  # ranges handed out in turn: ~150
    # a writer that may keep the entries of 10 posts only lets go of those needed last: same bytes
    monkeypatch.setattr(workers, "WORKER_ENTRIES", 30)
    assert build(site.root, NOW, out_dir=tmp_path / "tight", use_cache=False).parsed == 84
    assert _files(tmp_path / "tight") == _files(site.public)
