"""Builds are reproducible: same content, same bytes; nothing changed, nothing written."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from syndicate.builder.owned import RECORD
from tests.conftest import Site, faked


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and p.name != RECORD  # the record of what syndicate wrote is no output
    }


def test_second_build_is_byte_identical_and_writes_nothing(sample_site: Site) -> None:
    assert sample_site.run("build").code == 0
    first = snapshot(sample_site.public)
    run = sample_site.run("build")
    assert run.code == 0
    assert snapshot(sample_site.public) == first  # same bytes and same mtimes: not rewritten
    assert "0 written, 29 unchanged" in run.out


MODULES_AFTER = """
import json, runpy, sys
sys.argv = ["syndicate", "build", "--now", "2026-11-26T12:00:00Z"]
try:
    runpy.run_module("syndicate", run_name="__main__")
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def test_a_build_that_changes_nothing_loads_no_parser_renderer_or_pool(sample_site: Site) -> None:
    """What keeps "nothing changed" fast (bench/build.py measures it): the no-change check reads
    stats and the manifest, so YAML, Markdown, the sanitizer, feedgen/lxml and the process pool
    are never imported. A first build needs them all."""
    heavy = {"yaml", "frontmatter", "cmarkgfm", "markdown", "nh3", "feedgen", "lxml", "concurrent.futures.process"}

    def loaded() -> set[str]:
        done = subprocess.run(
            [sys.executable, "-c", MODULES_AFTER], cwd=sample_site.root, capture_output=True, text=True, timeout=60
        )
        report = json.loads(done.stderr.strip().splitlines()[-1])
        assert report["code"] == 0, done.stderr
        return {m for m in report["modules"] if m.split(".")[0] in heavy or m in heavy}

    assert {"yaml", "nh3", "feedgen", "lxml"} <= loaded()  # the first build parses and renders
    assert loaded() == set()  # the second changes nothing


MODULES_AFTER_BUILD = MODULES_AFTER.replace(', "--now", "2026-11-26T12:00:00Z"', "")


def _modules_after_build(site: Site) -> tuple[str, set[str]]:
    """`syndicate build` (from its entry point, the clock 10 s ahead: the files just written are
    older than the stamp's racy window): what it printed and the modules it loaded."""
    cmd = faked([sys.executable, "-c", MODULES_AFTER_BUILD], "+10s")
    done = subprocess.run(cmd, cwd=site.root, capture_output=True, text=True, timeout=60)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    return done.stdout, set(report["modules"])


def test_a_build_after_one_edit_loads_only_what_it_runs(sample_site: Site) -> None:
    """What keeps "one post edited" fast (bench/build.py measures it): the stamp the last build
    left names the edited post, which is parsed and its entries made, without the command line
    (click), the scan's loader or the template engine (a post of syndicate's own dialect has no
    template code, and its patterns cost ~7 ms to compile), nor tempfile or uuid (a few ms of
    imports each, for what a rebuild does not do or does with less)."""
    _modules_after_build(sample_site)
    post = sample_site.content / "2024-09-02-cpp-vs-csharp.md"
    post.write_text(post.read_text().replace("it depends", "it really depends"))
    said, loaded = _modules_after_build(sample_site)
    assert "12 written, 17 unchanged" in said, said
    assert {"yaml", "nh3", "syndicate.builder.edit"} <= loaded  # parsed and rendered, by the edit path
    assert {"click", "syndicate.core.templating", "syndicate.builder.load"}.isdisjoint(loaded)
    assert {"tempfile", "uuid"}.isdisjoint(loaded), loaded & {"tempfile", "uuid"}
    assert (sample_site.root / ".syndicate" / "quick.json").exists()  # for the next build to replay
    assert "0 written" in _modules_after_build(sample_site)[0]


def test_cold_cached_and_no_cache_builds_give_the_same_bytes(sample_site: Site, tmp_path: Path) -> None:
    sample_site.run("build")
    cold = {k: v[0] for k, v in snapshot(sample_site.public).items()}
    assert (sample_site.root / ".syndicate" / "cache.db").exists()
    cached_out = tmp_path / "cached"
    sample_site.run("build", "--out", str(cached_out))
    assert {k: v[0] for k, v in snapshot(cached_out).items()} == cold
    fresh_out = tmp_path / "fresh"
    sample_site.run("build", "--no-cache", "--out", str(fresh_out))
    assert {k: v[0] for k, v in snapshot(fresh_out).items()} == cold


def test_a_copy_of_the_site_elsewhere_builds_the_same_bytes(sample_site: Site, tmp_path: Path) -> None:
    """No absolute paths, file-system order or time stamps leak into the output."""
    sample_site.run("build")
    other = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(sample_site.root / "content", other / "content")
    shutil.copytree(sample_site.root / "config", other / "config")
    for path in (other / "content").rglob("*.md"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    Site(other).run("build")
    assert {k: v[0] for k, v in snapshot(other / "public").items()} == {
        k: v[0] for k, v in snapshot(sample_site.public).items()
    }


def test_editing_one_post_rewrites_only_the_feeds_that_show_it(sample_site: Site) -> None:
    sample_site.run("build")
    before = snapshot(sample_site.public)
    post = sample_site.content / "2024-09-02-cpp-vs-csharp.md"
    post.write_text(post.read_text().replace("it depends", "it really depends"))
    run = sample_site.run("build")
    after = snapshot(sample_site.public)
    changed = sorted(k for k in after if after[k] != before.get(k))
    assert changed == sorted(
        [
            f"{d}{f}"
            for d in ("", "tags/c-plus-plus/", "tags/c-sharp/", "tags/programming/")
            for f in ("atom.xml", "feed.json", "feed.xml")
        ]
    )
    assert "12 written, 17 unchanged" in run.out
    assert "it really depends" in (sample_site.public / "tags/c-sharp/feed.json").read_text()


def test_a_tag_that_disappears_takes_its_feed_files_with_it(sample_site: Site) -> None:
    sample_site.run("build")
    (sample_site.public / "tags" / "c-sharp" / "keep-me.txt").write_text("not ours")
    post = sample_site.content / "2024-09-02-cpp-vs-csharp.md"
    post.write_text(post.read_text().replace("tags: [C++, C#, programming]", "tags: [C++, programming]"))
    run = sample_site.run("build")
    assert "3 removed" in run.out
    assert sorted(p.name for p in (sample_site.public / "tags" / "c-sharp").iterdir()) == ["keep-me.txt"]
    assert not (sample_site.public / "tags" / "c-sharp" / "feed.xml").exists()


def test_deleting_a_post_removes_it_from_the_feeds(sample_site: Site) -> None:
    sample_site.run("build")
    (sample_site.content / "2025-01-20-uber-unicode.md").unlink()
    run = sample_site.run("build")
    assert run.code == 0
    assert "Über Unicode" not in (sample_site.public / "feed.xml").read_text()
    assert not (sample_site.public / "tags" / "日本語").exists()


def test_a_corrupt_cache_is_replaced_not_fatal(sample_site: Site) -> None:
    sample_site.run("build")
    first = {k: v[0] for k, v in snapshot(sample_site.public).items()}
    (sample_site.root / ".syndicate" / "cache.db").write_bytes(b"this is not a database" * 100)
    post = sample_site.content / "2024-09-02-cpp-vs-csharp.md"
    post.touch()
    run = sample_site.run("build")
    assert run.code == 0, run.err
    assert "cache unreadable" in run.err
    assert {k: v[0] for k, v in snapshot(sample_site.public).items()} == first
    assert sample_site.run("build").err == ""  # the cache was rebuilt


def test_a_deleted_output_file_is_written_again(sample_site: Site) -> None:
    sample_site.run("build")
    first = {k: v[0] for k, v in snapshot(sample_site.public).items()}
    (sample_site.public / "tags" / "c-sharp" / "feed.xml").unlink()
    run = sample_site.run("build")
    assert "1 written, 28 unchanged" in run.out
    assert {k: v[0] for k, v in snapshot(sample_site.public).items()} == first


def test_a_settings_change_re_renders_every_feed(sample_site: Site) -> None:
    sample_site.run("build")
    config = sample_site.root / "config" / "syndicate.toml"
    config.write_text(config.read_text().replace('author = "Ada Lab"', 'author = "Ada Lovelace Lab"'))
    run = sample_site.run("build")
    assert "25 written, 4 unchanged" in run.out  # RSS of feeds whose only post has its own author, index.html
    for path in [*sample_site.public.rglob("atom.xml"), *sample_site.public.rglob("feed.json")]:
        assert "Ada Lovelace Lab" in path.read_text(), path


def test_a_rebuild_with_nothing_changed_still_reports_the_problems(sample_site: Site) -> None:
    sample_site.post("broken.md", "---\ntitle: [unclosed\ndate: 2024-01-01\n---\nx\n")
    first = sample_site.run("build")
    again = sample_site.run("build")
    assert first.code == again.code == 1
    assert "content/broken.md:3: error: front matter is not valid YAML" in again.err and again.err == first.err
    assert again.out.splitlines()[0].split(" in ")[0] == first.out.splitlines()[0].split(" in ")[0]
    assert "next scheduled: 2030-01-01 07:00 UTC  content/2030-01-01-from-the-future.md" in again.out


def test_a_scheduled_post_goes_live_when_its_time_comes_with_nothing_else_changed(sample_site: Site) -> None:
    sample_site.run("build")
    assert "A post from the future" not in (sample_site.public / "feed.xml").read_text()
    later = datetime(2030, 1, 1, 7, 0, tzinfo=UTC)
    run = sample_site.run("build", now=later)
    assert "A post from the future" in (sample_site.public / "feed.xml").read_text(), run.out
    assert ": 0 written" not in run.out
    # and back: a clock set before the newest post hides it again
    sample_site.run("build", now=datetime(2025, 1, 1, tzinfo=UTC))
    assert "Über Unicode" not in (sample_site.public / "feed.xml").read_text()


def test_a_feed_file_cut_short_is_rewritten_even_though_its_posts_did_not_change(
    sample_site: Site, tmp_path: Path
) -> None:
    """As after a power cut: the cache says the feed is unchanged, the file on disk disagrees."""
    sample_site.run("build")
    cut = sample_site.public / "tags" / "c-sharp" / "feed.xml"
    cut.write_bytes(cut.read_bytes()[:100])
    sample_site.post("unrelated.md", "---\ntitle: Unrelated\ndate: 2020-01-01\n---\nx\n")  # not in c-sharp
    assert sample_site.run("build").code == 0
    sample_site.run("build", "--no-cache", "--out", str(tmp_path / "fresh"))
    assert cut.read_bytes() == (tmp_path / "fresh" / "tags" / "c-sharp" / "feed.xml").read_bytes()


def test_a_feed_folder_syndicate_did_not_write_is_kept_by_a_rebuild(sample_site: Site) -> None:
    """Issue 20: a file of the output folder that syndicate did not write is never deleted, even
    where syndicate's own stale feeds would be (today's main removed it)."""
    sample_site.run("build")
    stray = sample_site.public / "tags" / "gone"
    stray.mkdir()
    (stray / "feed.xml").write_text("<rss/>")
    run = sample_site.run("build")
    assert run.code == 0 and "removed" not in run.out
    assert (stray / "feed.xml").read_text() == "<rss/>"


def test_a_tag_feed_syndicate_wrote_is_removed_when_its_tag_goes_with_nothing_else_changed(sample_site: Site) -> None:
    post = sample_site.content / "2024-09-02-cpp-vs-csharp.md"
    sample_site.run("build")
    assert (sample_site.public / "tags" / "c-sharp" / "feed.xml").is_file()
    post.write_text(post.read_text().replace("c-sharp", "csharp-renamed").replace("C#", "CSharpRenamed"))
    run = sample_site.run("build")
    assert run.code == 0 and "removed" in run.out
    assert not (sample_site.public / "tags" / "c-sharp").exists()


def test_moving_a_posts_date_alone_re_renders_its_feeds(sample_site: Site, tmp_path: Path) -> None:
    """The post keeps its `updated:`; only `date:` moves. The cached feeds must not be reused."""
    sample_site.run("build")
    post = sample_site.content / "2025-01-20-uber-unicode.md"
    post.write_text(post.read_text().replace("date: 2025-01-20T18:00:00+01:00", "date: 2025-01-19T18:00:00+01:00"))
    assert sample_site.run("build").code == 0
    feed = (sample_site.public / "feed.json").read_text()
    assert '"date_published": "2025-01-19T17:00:00Z"' in feed
    sample_site.run("build", "--no-cache", "--out", str(tmp_path / "fresh"))
    assert {k: v[0] for k, v in snapshot(sample_site.public).items()} == {
        k: v[0] for k, v in snapshot(tmp_path / "fresh").items()
    }


def test_a_cache_written_by_another_syndicate_version_is_not_reused(sample_site: Site) -> None:
    """Upgrading syndicate re-reads every post: a fix in how posts are read or rendered reaches the
    feeds at once, not only when each post's file changes (tidyverse.org's feeds kept template
    code after the fix that removes it, until .syndicate/cache.db was deleted)."""
    sample_site.run("build")
    first = {k: v[0] for k, v in snapshot(sample_site.public).items()}
    db = sqlite3.connect(sample_site.root / ".syndicate" / "cache.db")
    with db:  # as an older syndicate read the posts: another title, stamped with its version
        for path, post in db.execute("SELECT path, post FROM posts WHERE post IS NOT NULL").fetchall():
            data = json.loads(post)
            data["title"] = "Read by an older syndicate"
            db.execute("UPDATE posts SET post = ? WHERE path = ?", (json.dumps(data), path))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('version', '0.0.1')")
    db.close()
    run = sample_site.run("build")
    assert run.code == 0, run.err
    assert "Read by an older syndicate" not in sample_site.run("posts").out
    assert {k: v[0] for k, v in snapshot(sample_site.public).items()} == first
