"""`syndicate build` with nothing changed is told from the stamp the last build left, before the
rest of syndicate is imported (syndicate/quick.py): it must print what the full command prints,
and it must never be taken when something a build reads has changed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syndicate import command, quick
from tests.conftest import Site, faked

POST = """\
---
title: {title}
date: {date}
tags: [{tag}]
---
Some words about {title}.
"""

Outcome = tuple[int, str, str]


def _date(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_site(site: Site) -> None:
    site.post("one.md", POST.format(title="One", date=_date(-timedelta(days=3)), tag="a"))
    site.post("two.md", POST.format(title="Two", date=_date(-timedelta(days=2)), tag="b"))
    site.post("later/three.md", POST.format(title="Three", date=_date(timedelta(days=30)), tag="a"))
    site.post("broken.md", "---\ntitle: [unclosed\n---\nbody\n")
    site.post("README.md", "# not a post\n")


@pytest.fixture
def run(site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """`syndicate ARGS` in this process, through the command's entry point (syndicate/command.py), from the site folder.
    Files written in the test count as older than the stamp (RACY_NS 0): the tests change them on purpose."""
    monkeypatch.chdir(site.root)
    monkeypatch.setattr(quick, "RACY_NS", 0)
    write_site(site)

    def go(*args: str) -> Outcome:
        monkeypatch.setattr(sys, "argv", ["syndicate", *args])
        monkeypatch.setattr(quick, "ARGV", None)
        capsys.readouterr()
        with pytest.raises(SystemExit) as ended:
            command.main()
        captured = capsys.readouterr()
        return int(ended.value.code or 0), captured.out, captured.err

    return go


def replayed(*args: str, clock: Callable[[], datetime] | None = None) -> bool:
    """Would the stamp answer `syndicate ARGS` now (printing to the captured output)?"""
    return quick.replay(list(args), clock) is not None


def same(a: Outcome, b: Outcome) -> bool:
    timeless = [re.sub(r" in \d+\.\d\d s$", " in … s", text, flags=re.M) for text in (a[1], b[1])]
    return a[0] == b[0] and a[2] == b[2] and timeless[0] == timeless[1]


def test_a_rerun_prints_what_the_full_build_prints(site: Site, run: Callable[..., Outcome]) -> None:
    first = run("build")
    assert first[0] == 1, first  # broken.md is rejected
    stamp = site.root / quick.STAMP
    assert stamp.exists()
    stamp.unlink()
    full = run("build")  # the full command, nothing changed: it writes the stamp again
    assert "0 written" in full[1] and "next scheduled:" in full[1] and "broken.md" in full[2], full
    assert stamp.exists()
    assert replayed("build")
    again = run("build")  # from the stamp
    assert same(full, again), (full, again)


def test_a_build_from_the_command_line_leaves_a_stamp_a_rerun_uses(site: Site) -> None:
    """The real command, twice; the clock 10 s ahead, so that the files just written are older
    than the stamp's racy window."""
    write_site(site)
    cmd = faked([sys.executable, "-m", "syndicate", "build"], "+10s")
    runs = []
    for _ in range(2):
        done = subprocess.run(cmd, cwd=site.root, capture_output=True, text=True, timeout=60)
        runs.append((done.returncode, done.stdout, done.stderr))
        assert (site.root / quick.STAMP).exists(), done.stderr
    assert runs[0][0] == 1 and "0 written" in runs[1][1], runs
    (site.root / quick.STAMP).unlink()
    done = subprocess.run(cmd, cwd=site.root, capture_output=True, text=True, timeout=60)
    assert same((done.returncode, done.stdout, done.stderr), runs[1])


def _file_to_folder(s: Site) -> None:
    os.remove(s.content / "README.md")
    s.post("README.md/six.md", POST.format(title="Six", date=_date(-timedelta(days=1)), tag="c"))


CHANGES: dict[str, Callable[[Site], object]] = {
    "a post edited, same size": lambda s: (s.content / "one.md").write_text(
        (s.content / "one.md").read_text().replace("Some", "Mome")
    ),
    "a post added": lambda s: s.post("four.md", POST.format(title="Four", date=_date(-timedelta(days=1)), tag="c")),
    "a post in a new folder": lambda s: s.post(
        "new/five.md", POST.format(title="Five", date=_date(-timedelta(days=1)), tag="c")
    ),
    "a post in a sub-folder edited, same size": lambda s: (s.content / "later" / "three.md").write_text(
        (s.content / "later" / "three.md").read_text().replace("Some", "Mome")
    ),
    "a post deleted": lambda s: os.remove(s.content / "two.md"),
    "a post renamed": lambda s: (s.content / "two.md").rename(s.content / "deux.md"),
    "a file replaced by a folder of posts": _file_to_folder,
    "a file that is no post added": lambda s: (s.content / "picture.png").write_bytes(b"\x89PNG"),
    "the config edited": lambda s: (s.root / "config" / "syndicate.toml").write_text(
        (s.root / "config" / "syndicate.toml").read_text().replace("Test Site", "Test Sites")
    ),
    "an output file deleted": lambda s: os.remove(s.public / "feed.json"),
    "an output file edited": lambda s: (s.public / "feed.xml").write_bytes(b"<rss/>"),
    "a tag's folder deleted": lambda s: __import__("shutil").rmtree(s.public / "tags" / "b"),
    "a ledger appeared": lambda s: (s.root / ".syndicate" / "state.db").write_bytes(b""),
    "the cache deleted": lambda s: os.remove(s.root / ".syndicate" / "cache.db"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_anything_a_build_reads_changed_runs_the_full_build(
    site: Site, run: Callable[..., Outcome], change: str
) -> None:
    run("build")
    run("build")  # nothing changed
    assert replayed("build")
    CHANGES[change](site)
    assert not replayed("build")
    full = run("build")  # and the full build sees the change, then leaves a new stamp
    assert full[0] in (0, 1, 3), full  # 3: an output file someone else wrote is left alone
    assert replayed("build")


def test_a_post_in_a_folder_that_was_a_file_is_found(site: Site, run: Callable[..., Outcome]) -> None:
    run("build")
    _file_to_folder(site)
    assert "Six" in run("build")[1] or "Six" in (site.public / "feed.xml").read_text()


def test_a_hidden_file_added_changes_nothing(site: Site, run: Callable[..., Outcome]) -> None:
    run("build")
    (site.content / ".one.md.swp").write_bytes(b"editor state")
    assert replayed("build")


def test_another_command_line_or_folder_runs_the_full_build(
    site: Site, run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    run("build")
    assert replayed("build")
    assert not replayed("build", "--out", "elsewhere")
    assert not replayed("build", "--now", "2026-01-01T00:00:00Z")
    assert not replayed("build", "--no-cache")
    assert not replayed("check")
    assert not replayed("--site", ".", "build")  # another way to say it: the full command decides
    monkeypatch.chdir(site.content)
    assert not replayed("--site", "..", "build")
    monkeypatch.setenv("SYNDICATE_TRACE", "1")
    monkeypatch.chdir(site.root)
    assert not replayed("build")


def test_the_clock_decides_like_the_full_build(site: Site, run: Callable[..., Outcome]) -> None:
    run("build")
    now = datetime.now(UTC)
    assert replayed("build", clock=lambda: now)
    # later/three.md goes live in 30 days: then the feeds change
    assert not replayed("build", clock=lambda: now + timedelta(days=31))
    # a clock that stepped back before the newest live post (two.md, 2 days ago)
    assert not replayed("build", clock=lambda: now - timedelta(days=3))


def test_a_post_saved_just_before_the_build_gets_no_stamp(
    site: Site, run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file changed in the same clock tick as the stamp could change again with the same
    stat (size, mtime, ctime): such a build leaves no stamp, the next one runs in full."""
    monkeypatch.setattr(quick, "RACY_NS", 2_000_000_000)
    run("build")
    assert not (site.root / quick.STAMP).exists()
    assert not replayed("build")


def test_a_post_that_is_a_link_gets_no_stamp(site: Site, run: Callable[..., Outcome]) -> None:
    """A link's target can change under an unchanged link."""
    (site.root / "drafts").mkdir()
    (site.root / "drafts" / "linked.md").write_text(
        POST.format(title="Linked", date=_date(-timedelta(days=1)), tag="a"), encoding="utf-8"
    )
    (site.content / "linked.md").symlink_to(site.root / "drafts" / "linked.md")
    run("build")
    assert not (site.root / quick.STAMP).exists()


def test_a_stamp_that_does_not_read_is_ignored(site: Site, run: Callable[..., Outcome]) -> None:
    run("build")
    (site.root / quick.STAMP).write_text('{"format": 1, "version"', encoding="ascii")
    assert not replayed("build")
    assert "0 written" in run("build")[1]
    assert replayed("build")


def test_a_runner_that_is_not_the_command_leaves_no_stamp(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from syndicate.cli.all_commands import main

    write_site(site)
    monkeypatch.chdir(site.root)
    monkeypatch.setattr(quick, "ARGV", None)
    CliRunner().invoke(main, ["build"])
    assert not (site.root / quick.STAMP).exists()


def test_the_static_folder_gone_runs_the_full_build(site: Site, run: Callable[..., Outcome]) -> None:
    """The full build refuses a config whose [content] static folder is missing."""
    config = site.root / "config" / "syndicate.toml"
    config.write_text(config.read_text() + '\n[content]\nstatic = "static"\n', encoding="utf-8")
    (site.root / "static").mkdir()
    run("build")
    assert replayed("build")
    (site.root / "static").rmdir()
    assert not replayed("build")
    assert run("build")[0] == 2


def test_the_same_command_from_another_folder_runs_the_full_build(
    site: Site, run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paths are printed relative to the current folder when the site is there."""
    run("--site", str(site.root), "build")
    assert replayed("--site", str(site.root), "build")
    monkeypatch.chdir(site.content)
    assert not replayed("--site", str(site.root), "build")


NOTHING: dict[str, object] = {
    **{"watched": [], "state_files": [], "folders_are": {}, "out": "public", "outputs": {}, "terms": []},
    **{"window": (None, None), "floor": None, "stdout": "", "stderr": "", "code": 0, "version": "0"},
}  # a stamp of no config, no state, no outputs: for the tests of what write_stamp keeps


def _stamp_with(site: Site, sig: str) -> bool:
    seen = quick.Recorder()
    seen.file(str(site.content / "one.md"), sig)
    seen.manifest = {}
    return quick.write_stamp(str(site.root), argv=["build"], seen=seen, **NOTHING)  # type: ignore[arg-type]


def test_a_file_changed_within_the_racy_window_gets_no_stamp(site: Site) -> None:
    (site.root / ".syndicate").mkdir()
    now = datetime.now(UTC).timestamp()
    recent = f"10:{int((now - 1) * 1e9)}:{int((now - 1) * 1e9)}:1"
    old = f"10:{int((now - 60) * 1e9)}:{int((now - 60) * 1e9)}:1"
    assert not _stamp_with(site, recent)
    assert not (site.root / quick.STAMP).exists()
    assert _stamp_with(site, old)
    assert (site.root / quick.STAMP).exists()


def test_a_config_edited_while_the_build_runs_gets_no_stamp(
    site: Site, run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build read the old config; a stamp taken after it would vouch for the new one."""
    from syndicate.cli import site_cmds

    config = site.root / "config" / "syndicate.toml"
    real = site_cmds.run_build  # type: ignore[attr-defined]

    def edited_meanwhile(*args: object, **kwargs: object) -> object:
        report = real(*args, **kwargs)  # type: ignore[arg-type]
        config.write_text(config.read_text().replace("Test Site", "Test Sites"), encoding="utf-8")
        return report

    monkeypatch.setattr(site_cmds, "run_build", edited_meanwhile)
    run("build")
    assert not (site.root / quick.STAMP).exists()
    monkeypatch.setattr(site_cmds, "run_build", real)
    run("build")
    assert replayed("build")


def test_the_stamp_hashes_the_numbers_of_the_signature_the_build_read(site: Site) -> None:
    """The build records each post by its stat signature (text); the stamp hashes the same numbers
    taken from a stat (no text per file): the two must not drift apart."""
    site.post("one.md", "x")
    st = os.lstat(site.content / "one.md")
    assert quick._numbers(quick.signature(st)) == quick.signed(st)


def test_a_folder_with_the_stat_the_stamp_took_is_not_listed(
    site: Site, run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing 100,000 names took a fifth of a no-change build: a folder whose stat (mtime, ctime)
    is the one the stamp took has had no name added, removed or renamed."""
    run("build")
    listed: list[str] = []
    real = quick.folder_listing

    def counted(name: str) -> str | None:
        listed.append(name)
        return real(name)

    monkeypatch.setattr(quick, "folder_listing", counted)
    assert replayed("build")
    assert listed == []
    (site.content / ".one.md.swp").write_bytes(b"editor state")  # the folder's stat moved: it is listed
    assert replayed("build")
    assert listed == [str(site.content.relative_to(site.root))]


def test_a_folder_changed_just_before_the_build_is_listed(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder changed in the same clock tick as the stamp took its stat could change again with
    the same stat: the stamp keeps no stat for it, so the next build lists it."""
    (site.root / ".syndicate").mkdir()
    site.post("one.md", "x")

    def stamp() -> list[Any]:
        seen = quick.Recorder()
        seen.folder(str(site.content), [("one.md", False)])
        seen.manifest = {}
        assert quick.write_stamp(str(site.root), argv=["build"], seen=seen, **NOTHING)  # type: ignore[arg-type]
        folders: list[Any] = json.loads((site.root / quick.STAMP).read_text(encoding="ascii"))["folders"]
        return folders

    assert stamp() == [[str(site.content), quick.listing([("one.md", False)]), None]]  # just made: racy
    monkeypatch.setattr(quick, "RACY_NS", 0)
    assert stamp()[0][2] == list(quick.signed(os.stat(site.content)))


def test_a_stamp_without_a_folders_stat_lists_it(site: Site, run: Callable[..., Outcome]) -> None:
    run("build")
    path = site.root / quick.STAMP
    stamp = json.loads(path.read_text(encoding="ascii"))
    assert all(was is not None for _, _, was in stamp["folders"])
    stamp["folders"] = [[name, listed, None] for name, listed, _ in stamp["folders"]]
    path.write_text(json.dumps(stamp), encoding="ascii")
    assert replayed("build")
    site.post("four.md", POST.format(title="Four", date=_date(-timedelta(days=1)), tag="c"))
    assert not replayed("build")


def test_the_stamp_is_checked_without_cycle_collection(
    site: Site, run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stamp's names and stats hold no cycles: a collection pass over 100,000 of them is time
    lost (10-15 ms at 100,000 posts). Collection is on again after, whatever the answer."""
    import gc

    run("build")
    collecting: list[bool] = []
    real = quick.read_stamp

    def read(path: str) -> Any:
        collecting.append(gc.isenabled())
        return real(path)

    monkeypatch.setattr(quick, "read_stamp", read)
    assert replayed("build")
    assert gc.isenabled()
    site.post("four.md", POST.format(title="Four", date=_date(-timedelta(days=1)), tag="c"))
    assert not replayed("build")
    assert gc.isenabled()
    assert collecting == [False, False]


def test_paths_are_stored_once_per_folder_and_rebuilt_as_they_were() -> None:
    paths = ["content/a.md", "content/b.md", "content/x/c.md", "content/d.md", "/e.md", "f.md"]
    groups = quick.by_folder(paths)
    assert groups == [
        ["content/", ["a.md", "b.md"]],
        ["content/x/", ["c.md"]],
        ["content/", ["d.md"]],
        ["/", ["e.md"]],
        ["", ["f.md"]],
    ]
    assert [prefix + name for prefix, names in groups for name in names] == paths


def test_the_stats_a_failed_check_took_serve_its_own_build_only(
    site: Site, run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stamp check that fails on an edited post hands the stats it took to the scan of the same
    command (one lstat per post, not two), which writes what a build without the stamp writes; the
    next command in the process starts from none of them."""
    run("build")
    one = site.content / "one.md"
    one.write_text(one.read_text().replace("Some", "Some more"))
    posts = {str(p.relative_to(site.root)) for p in site.content.rglob("*.md")}
    seen: list[str] = []
    real = os.lstat

    def counting(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if str(path) in posts:
            seen.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", counting)
    edited = run("build")
    assert edited[0] == 1 and "written" in edited[1] and "0 written" not in edited[1], edited
    assert {"content/one.md", "content/two.md"} <= set(seen)
    assert len(seen) == len(set(seen)), "each post file stat-ed once"
    assert quick.LSTATS == {}
    assert "more" in (site.public / "feed.json").read_text(encoding="utf-8")
