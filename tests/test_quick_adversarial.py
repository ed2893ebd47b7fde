"""Attacks on the stamp (syndicate/quick.py) as a user, an editor, a co-author, a file system or
a hand-edited `.syndicate/quick.json` would make them: the stamp must never answer what the full
`syndicate build` would not, never hang, crash, follow a link or write over a file it did not write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from syndicate import quick
from tests import test_quick as base
from tests.conftest import Site, faked

run = base.run  # the fixture: `syndicate ARGS` through the command's entry point, from the site folder
Outcome = base.Outcome
replayed = base.replayed


def _stamp(site: Site) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((site.root / quick.STAMP).read_text(encoding="ascii"))
    return data


def _plant(site: Site, stamp: object) -> None:
    (site.root / quick.STAMP).write_text(json.dumps(stamp), encoding="ascii")


def test_a_stamp_that_is_a_fifo_is_not_waited_for(site: Site) -> None:
    base.write_site(site)
    (site.root / ".syndicate").mkdir()
    os.mkfifo(site.root / quick.STAMP)
    cmd = [sys.executable, "-m", "syndicate", "build"]
    done = subprocess.run(cmd, cwd=site.root, capture_output=True, text=True, timeout=30)
    assert "written" in done.stdout, done.stderr


def test_a_stamp_that_is_a_link_is_not_followed(site: Site, run: Callable[..., Outcome], tmp_path: Any) -> None:
    """A link planted in `.syndicate` would have syndicate read a file outside the site."""
    run("build")
    assert replayed("build")
    outside = tmp_path / "elsewhere.json"
    (site.root / quick.STAMP).rename(outside)
    (site.root / quick.STAMP).symlink_to(outside)
    assert not replayed("build")


def test_a_stamp_over_the_size_limit_is_not_read(
    site: Site, run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sparse file of gigabytes (`truncate -s 8G`) must not be read into memory."""
    run("build")
    monkeypatch.setattr(quick, "MAX_STAMP_BYTES", (site.root / quick.STAMP).stat().st_size - 1, raising=False)
    assert not replayed("build")


def test_a_stamp_nested_too_deep_is_ignored(site: Site, run: Callable[..., Outcome]) -> None:
    run("build")
    (site.root / quick.STAMP).write_text("[" * 100_000, encoding="ascii")
    assert not replayed("build")  # no RecursionError
    assert "written" in run("build")[1]


@pytest.mark.parametrize(
    "field, value",
    [
        *[("stdout", 5), ("stderr", [1]), ("stdout", "\udcff"), ("stderr", "\udcff")],
        *[("code", 10**30), ("code", 300), ("code", -1), ("code", "0"), ("code", True)],
    ],
)
def test_a_stamp_with_a_wrong_type_runs_the_full_build(
    site: Site, run: Callable[..., Outcome], field: str, value: object
) -> None:
    """Whatever the stamp says, no traceback, and no exit code the full command never gives."""
    run("build")
    _plant(site, {**_stamp(site), field: value})
    assert not replayed("build")


def test_a_stamp_that_names_no_config_never_holds(site: Site, run: Callable[..., Outcome]) -> None:
    """A stamp planted (or committed by a co-author) with nothing to check would print whatever it
    says, exit 0 and build nothing: a stamp must vouch for the config the full command reads, by
    its stat (inode and ctime: nobody writes that stamp but a build of this very file)."""
    from syndicate.config import CONFIG_PATH

    run("build")
    empty = quick._hash([])
    planted = {
        **_stamp(site),
        **{"config": {}, "state": {}, "folders_are": {}, "files": [], "signatures": empty, "folders": []},
        **{"outputs": [], "output_stats": empty, "terms": [], "window": [None, None], "floor": None},
        **{"stdout": "all is well\n", "stderr": "", "code": 0},
    }
    _plant(site, planted)
    assert not replayed("build")
    assert str(CONFIG_PATH) == quick.CONFIG  # the file quick.py looks for is the one the full command reads


def test_a_link_planted_at_the_stamps_temporary_name_is_not_written_through(
    site: Site, run: Callable[..., Outcome], tmp_path: Any
) -> None:
    """The stamp is written to `quick.json.<pid>.tmp` first: a link there (pids are easy to
    guess) must not have a build write over a file syndicate did not write."""
    victim = tmp_path / "precious.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (site.root / ".syndicate").mkdir()
    tmp = site.root / f"{quick.STAMP}.{os.getpid()}.tmp"
    tmp.symlink_to(victim)
    run("build")
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert not (site.root / quick.STAMP).is_symlink()
    assert tmp.is_symlink()  # left as it was: not syndicate's


def test_a_site_reached_through_a_link_that_now_leads_elsewhere_runs_the_full_build(
    site: Site, run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """`syndicate --site current build` from elsewhere prints the site's real path; the site moved
    (`mv v1 v2`, the link re-pointed: no file's stat changes) prints another one."""
    current = tmp_path / "current"
    current.symlink_to(site.root)
    monkeypatch.chdir(tmp_path)
    run("--site", "current", "build")
    assert str(site.root) in run("--site", "current", "build")[2]
    assert replayed("--site", "current", "build")
    moved = tmp_path / "moved"
    site.root.rename(moved)
    current.unlink()
    current.symlink_to(moved)
    assert not replayed("--site", "current", "build")
    assert str(moved) in run("--site", "current", "build")[2]


def test_an_output_folder_moved_among_the_posts_runs_the_full_build(
    site: Site, run: Callable[..., Outcome], tmp_path: Any
) -> None:
    """The full command refuses an output folder inside the content folder (exit 2), even a hidden
    one reached through a link: the scan does not list hidden names, and no output file changed."""
    out = tmp_path / "out"
    run("build", "--out", str(out))
    assert replayed("build", "--out", str(out))
    out.rename(site.content / ".out")
    out.symlink_to(site.content / ".out")
    assert not replayed("build", "--out", str(out))
    assert run("build", "--out", str(out))[0] == 2


def test_a_name_with_an_escape_sequence_is_printed_as_the_full_command_prints_it(
    site: Site, run: Callable[..., Outcome]
) -> None:
    """The full command names a scheduled post printably (the escape sequence escaped); the
    stamp replays those very lines."""
    date = base._date(timedelta(days=29))  # the next one scheduled
    post = f"---\ntitle: Red\nslug: red\ndate: {date}\n---\nRed.\n"
    site.post("later/\x1b[31mred.md", post)
    run("build")
    full = run("build")
    assert "later/\\x1b[31mred.md" in full[1] and "\x1b" not in full[1], full
    assert replayed("build")
    again = run("build")
    assert base.same(full, again), (full, again)


def test_a_ledger_that_is_a_link_gets_no_stamp(site: Site, run: Callable[..., Outcome], tmp_path: Any) -> None:
    """The full command reads the ledger every time (its floor for the clock, the syndication
    links): when it is a link, what it leads to changes and the link's own stat does not."""
    ledger = tmp_path / "ledger.db"
    ledger.write_bytes(b"")
    (site.root / ".syndicate").mkdir()
    (site.root / ".syndicate" / "state.db").symlink_to(ledger)
    run("build")
    run("build")
    ledger.write_bytes(b"SQLite format 3\x00")
    assert not replayed("build")


def test_a_ledger_changed_just_before_the_build_gets_no_stamp(site: Site, run: Callable[..., Outcome]) -> None:
    """A ledger written in the same clock tick as the build read it (a `syndicate publish` just
    before) may be written again with the same stat: as for a post or the config, no stamp."""
    (site.root / ".syndicate").mkdir()
    ledger = site.root / ".syndicate" / "state.db"
    ledger.write_bytes(b"")
    soon = time.time_ns() + 60_000_000_000  # RACY_NS is 0 here: "within the window" is "from now on"
    os.utime(ledger, ns=(soon, soon))
    run("build")
    assert not (site.root / quick.STAMP).exists()


def test_files_saved_just_before_a_long_build_get_no_stamp(
    site: Site, run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Racy is measured from when the build read the files, not from when it wrote the stamp: the
    config (and the posts) saved just before a build that then runs longer than RACY_NS could be
    saved again in the same clock tick (a coarse file system: 1 s, 2 s) with the same size after
    the build read them."""
    from syndicate.cli import site_cmds

    real = site_cmds.run_build  # type: ignore[attr-defined]

    def long(*args: object, **kwargs: object) -> object:
        report = real(*args, **kwargs)  # type: ignore[arg-type]
        time.sleep(0.6)
        return report

    monkeypatch.setattr(site_cmds, "run_build", long)
    monkeypatch.setattr(quick, "RACY_NS", 400_000_000)
    config = site.root / "config" / "syndicate.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("Test Site", "Test Sits"), encoding="utf-8")
    run("build")
    assert not (site.root / quick.STAMP).exists()


def _command(site: Site, env: dict[str, str]) -> Outcome:
    """The real command, the clock 10 s ahead (the files just written are not racy)."""
    cmd = faked([sys.executable, "-m", "syndicate", "build"], "+10s")
    done = subprocess.run(cmd, cwd=site.root, capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    return done.returncode, done.stdout, done.stderr


def test_a_stamp_left_with_another_file_name_encoding_is_not_taken(site: Site, run: Callable[..., Outcome]) -> None:
    """With `PYTHONUTF8=0 LC_ALL=C` (a cron job, a service) file names decode as ASCII: café.md is
    no valid name then, and the stamp that build leaves must not answer a UTF-8 run, which
    publishes café.md (the folder's listing is the same bytes)."""
    site.post("café.md", base.POST.format(title="Café", date=base._date(timedelta(days=-1)), tag="c"))
    ascii_run = _command(site, {"PYTHONUTF8": "0", "LC_ALL": "C", "LANG": "C"})
    assert "not valid UTF-8" in ascii_run[2], ascii_run
    assert (site.root / quick.STAMP).exists()
    assert not replayed("build")
    assert "not valid UTF-8" not in run("build")[2]


def test_a_stream_set_to_ascii_gets_what_the_full_command_prints(site: Site) -> None:
    """click.echo writes UTF-8 to a stream set to ASCII (PYTHONIOENCODING=ascii); the stamp's
    lines must not end in a UnicodeEncodeError."""
    base.write_site(site)
    site.post("later/café.md", base.POST.format(title="Café", date=base._date(timedelta(days=20)), tag="c"))
    _command(site, {})
    (site.root / quick.STAMP).unlink()
    full = _command(site, {"PYTHONIOENCODING": "ascii"})  # the full command: it leaves a stamp
    assert "café.md" in full[1] and (site.root / quick.STAMP).exists(), full
    again = _command(site, {"PYTHONIOENCODING": "ascii"})
    assert base.same(full, again), (full, again)


def test_a_manifest_another_build_saved_meanwhile_gets_no_stamp(
    site: Site, run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two builds at once: a slow one that read one.md before it was edited, and a fast one after.
    The slow one writes its (old) files and saves its manifest after the fast one saved its own,
    before the fast one writes its stamp: the stamp must not pair the fast one's scan (the edited
    post) with the slow one's outputs, which the full command would rebuild."""
    from syndicate.builder import pipeline
    from syndicate.builder.cache import PostCache
    from syndicate.builder.manifest import manifest_key

    run("build")
    cache_path = site.root / ".syndicate" / "cache.db"
    key = manifest_key(site.public)
    old = json.loads(PostCache(cache_path).meta(key) or "{}")
    old_bytes = {rel: (site.public / rel).read_bytes() for rel in old["outputs"]}
    one = site.content / "one.md"
    one.write_text(one.read_text(encoding="utf-8").replace("Some words", "Other words"), encoding="utf-8")
    real = pipeline._with_manifest

    def slow_build_finishes_meanwhile(*args: Any) -> Any:
        for rel, data in old_bytes.items():
            (site.public / f"{rel}.tmp").write_bytes(data)
            os.replace(site.public / f"{rel}.tmp", site.public / rel)
        other = PostCache(cache_path)
        stats = {rel: quick.out_stat(str(site.public / rel)) for rel in old_bytes}
        other.put_meta(key, json.dumps({**old, "outputs": stats}))
        other.save()
        return real(*args)

    monkeypatch.setattr(pipeline, "_with_manifest", slow_build_finishes_meanwhile)
    assert "written" in run("build")[1]
    monkeypatch.setattr(pipeline, "_with_manifest", real)
    assert b"Other words" not in (site.public / "feed.json").read_bytes()  # the slow build's
    assert not replayed("build")
    run("build")
    assert b"Other words" in (site.public / "feed.json").read_bytes()


def test_a_post_added_and_the_folders_mtime_set_back_runs_the_full_build(
    site: Site, run: Callable[..., Outcome]
) -> None:
    """The stamp tells an unchanged folder by its stat instead of listing it: `touch -d` can set its
    mtime back after a post was added, but not its ctime."""
    run("build")
    assert replayed("build")
    before = os.stat(site.content)
    site.post("four.md", base.POST.format(title="Four", date=base._date(timedelta(days=-1)), tag="c"))
    os.utime(site.content, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert not replayed("build")
    run("build")
    assert "Four" in (site.public / "feed.xml").read_text(encoding="utf-8")
