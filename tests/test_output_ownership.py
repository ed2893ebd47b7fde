"""Issue 20, point 1: syndicate never creates, replaces or deletes a file of its output folder that
it did not write. Each test fails on the main before the record (.syndicate-files) existed."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from syndicate.builder.owned import RECORD, Ownership
from tests.conftest import CONFIG, Site


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` → a hash of its bytes (the record excluded)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != RECORD
    }


def _generator_output(folder: Path) -> dict[str, str]:
    """A generator's built site, as Hugo and Jekyll leave one: a home page, their own feeds."""
    files = {
        "index.html": "<!doctype html><title>My blog</title><p>Home page made by the generator",
        "index.xml": "<rss version='2.0'><channel><title>Hugo's own feed</title></channel></rss>",
        "feed.xml": "<feed xmlns='http://www.w3.org/2005/Atom'><title>jekyll-feed</title></feed>",
        "tags/python/index.html": "<p>the generator's tag page",
        "tags/python/index.xml": "<rss version='2.0'><channel><title>python</title></channel></rss>",
        "blog/hello/index.html": "<p>the post's page",
    }
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return _tree(folder)


def _post(site: Site, name: str = "hello", tags: str = "[python]") -> None:
    site.post(f"{name}.md", f"---\ntitle: Hello {name}\ndate: 2024-01-01\ntags: {tags}\n---\nbody of {name}\n")


def test_build_into_a_generators_output_changes_none_of_its_files_and_says_which_it_left(site: Site) -> None:
    _post(site)
    theirs = _generator_output(site.public)
    run = site.run("build")
    assert run.code == 3, run.err
    after = _tree(site.public)
    assert {rel: after[rel] for rel in theirs} == theirs  # not one byte of the generator's output changed
    # syndicate's own files are there beside them, but its feed.xml and index.html are not
    assert {"atom.xml", "feed.json", "tags/python/atom.xml", "tags/python/feed.xml", "feeds.opml"} <= after.keys()
    lines = run.err.splitlines()
    assert "public/feed.xml: was not written by syndicate (it was there before, or was changed since); left alone:" in (
        lines[0] + lines[1]
    )
    assert any(line.startswith("public/index.html: ") and "set [output] index" in line for line in lines)
    assert any(line.startswith("public/feed.xml: ") and "set [feeds] rss to another name" in line for line in lines)
    assert "2 left alone (not syndicate's)" in run.out
    # and again with nothing changed: the same lines, the same exit code, still nothing touched
    again = site.run("build")
    assert (again.code, again.err) == (3, run.err) and _tree(site.public) == after


def test_check_names_the_files_in_the_way_before_a_build(site: Site) -> None:
    _post(site)
    site.public.mkdir()
    (site.public / "index.html").write_text("the generator's home page")
    run = site.run("check")
    assert run.code == 3
    assert "public/index.html: was not written by syndicate" in run.err
    assert run.out.startswith("problems found:")
    assert (site.public / "index.html").read_text() == "the generator's home page"
    # the way out the line gives: another path for syndicate's page
    site.config(CONFIG + '\n[output]\nindex = "feeds/index.html"\n')
    assert site.run("check").code == 0
    built = site.run("build")
    assert built.code == 0 and (site.public / "feeds" / "index.html").is_file()
    page = (site.public / "feeds" / "index.html").read_text()
    assert 'href="../feed.xml"' in page and 'href="../tags/python/atom.xml"' in page and 'href="../feeds.opml"' in page
    assert (site.public / "index.html").read_text() == "the generator's home page"


def test_a_file_syndicate_wrote_and_someone_changed_is_not_written_over(site: Site) -> None:
    _post(site)
    assert site.run("build").code == 0
    mine = site.public / "tags" / "python" / "atom.xml"
    mine.write_text("edited by hand")
    _post(site, "second")
    run = site.run("build")
    assert run.code == 3 and "public/tags/python/atom.xml: was not written by syndicate" in run.err
    assert mine.read_text() == "edited by hand"
    assert "second" in (site.public / "tags" / "python" / "feed.xml").read_text()  # the others are written
    mine.unlink()  # the user moves it away: syndicate's comes back
    assert site.run("build").code == 0 and "second" in mine.read_text()


def test_a_stale_tag_feed_is_removed_only_when_syndicate_wrote_its_bytes(site: Site) -> None:
    _post(site, "a", "[python, rust]")
    assert site.run("build").code == 0
    rust = site.public / "tags" / "rust"
    (rust / "atom.xml").write_text("someone's own file now")
    _post(site, "a", "[python]")  # the tag goes: its feeds are stale
    run = site.run("build")
    assert run.code == 0
    assert (rust / "atom.xml").read_text() == "someone's own file now"
    assert not (rust / "feed.xml").exists() and not (rust / "feed.json").exists()
    assert "2 removed" in run.out


def test_a_renamed_feed_takes_its_old_files_away_but_not_one_changed_since(site: Site) -> None:
    """[feeds] rss renamed: the old feed.xml (the site's and each tag's) stayed in the output folder,
    frozen, still listed as syndicate's, and went out with every deploy (a newcomer's trial)."""
    _post(site, "a", "[python, rust]")
    assert site.run("build").code == 0
    (site.public / "tags" / "rust" / "feed.xml").write_text("someone's own file now")
    renamed = CONFIG.replace("items = 20", 'items = 20\nrss = "rss.xml"')
    site.config(renamed + '\n[output]\nopml = "subscriptions.opml"\n')
    run = site.run("build")
    assert run.code == 0, run.err
    assert (site.public / "rss.xml").is_file() and (site.public / "tags" / "python" / "rss.xml").is_file()
    assert not (site.public / "feed.xml").exists() and not (site.public / "tags" / "python" / "feed.xml").exists()
    assert not (site.public / "feeds.opml").exists() and (site.public / "subscriptions.opml").is_file()
    assert (site.public / "tags" / "rust" / "feed.xml").read_text() == "someone's own file now"
    assert "3 removed" in run.out, run.out
    again = site.run("build")
    assert again.code == 0 and "removed" not in again.out, again.out


def test_a_record_that_names_a_file_outside_the_output_folder_never_deletes_it(site: Site, tmp_path: Path) -> None:
    """The record is a file in a folder others write too (a theme's static files are copied into
    Hugo's public/): a line naming ``../x``, or a file behind a link out of the folder, with the
    digest of that file's bytes, must not make a build delete it."""
    _post(site)
    assert site.run("build").code == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the output folder's")
    (site.public / "away").symlink_to(outside)
    mark = hashlib.sha256(b"not the output folder's").hexdigest()[:16]
    with (site.public / RECORD).open("a") as record:
        record.write(f'["../../outside/keep.txt", "{mark}"]\n["away/keep.txt", "{mark}"]\n')
    behind = site.root.parent / "keep.txt"
    behind.write_text("not the output folder's")
    with (site.public / RECORD).open("a") as record:
        record.write(f'["../../keep.txt", "{mark}"]\n')
    _post(site, "second")  # a build with work to do, which takes away what it no longer makes
    run = site.run("build")
    assert run.code == 0, run.err
    assert (outside / "keep.txt").is_file() and behind.is_file()


def test_an_output_folder_from_before_the_record_is_still_syndicates(site: Site) -> None:
    """An upgrade: the last build's manifest vouches for the files it wrote, until the record exists."""
    _post(site)
    assert site.run("build").code == 0
    (site.public / RECORD).unlink()
    _post(site, "second")
    run = site.run("build")
    assert run.code == 0, run.err
    assert "second" in (site.public / "feed.xml").read_text()
    assert (site.public / RECORD).is_file()
    _post(site, "third")  # later builds go by the record, which now holds every file
    assert (
        site.run("build").code == 0
        and "third" in (site.public / "index.html").read_text() + (site.public / "feed.xml").read_text()
    )


def test_a_claim_recorded_before_a_crash_keeps_both_the_old_bytes_and_the_new_ones_ours(tmp_path: Path) -> None:
    """The record's line is written before the file: killed between the two, the next build still
    knows the old bytes (not yet replaced) and the new ones (if the rename happened) as its own."""
    out = tmp_path / "out"
    out.mkdir()
    Ownership(out).claim({"feed.xml": b"old"})
    (out / "feed.xml").write_bytes(b"old")
    assert Ownership(out).claim({"feed.xml": b"new"}) == {}  # then the process dies before the write
    after_crash = Ownership(out)
    assert after_crash.release("feed.xml")  # the old bytes: still ours
    (out / "feed.xml").write_bytes(b"new")
    assert Ownership(out).release("feed.xml")  # the new bytes: ours too
    (out / "feed.xml").write_bytes(b"neither")
    assert not Ownership(out).release("feed.xml")
    assert Ownership(out).claim({"feed.xml": b"newer"}) == {
        "feed.xml": "was not written by syndicate (it was there before, or was changed since)"
    }


def test_a_record_line_cut_short_does_not_lose_the_others(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    Ownership(out).claim({"a.xml": b"A", "b.xml": b"B"})
    with (out / RECORD).open("a") as f:
        f.write('["c.xml", "abc')  # a crash in the middle of a line
    (out / "a.xml").write_bytes(b"A")
    (out / "b.xml").write_bytes(b"B")
    kept = Ownership(out)
    assert kept.release("a.xml") and kept.release("b.xml")


def test_the_output_folder_and_pages_come_from_the_config(site: Site) -> None:
    _post(site)
    site.config(CONFIG + '\n[output]\ndir = "dist/feeds"\nindex = ""\nopml = "all.opml"\n')
    run = site.run("build")
    assert run.code == 0, run.err
    out = site.root / "dist" / "feeds"
    assert (out / "feed.xml").is_file() and (out / "all.opml").is_file()
    assert not (out / "index.html").exists() and not site.public.exists()


def test_output_settings_that_would_mix_the_feeds_with_the_posts_are_refused(site: Site) -> None:
    for value, words in (
        ('dir = "content"', "[output] dir 'content' would mix the feeds with the posts"),
        ('dir = "."', "[output] dir '.' must be a folder of its own"),
        ('dir = "content/public"', "would mix the feeds with the posts"),
        ('index = "../index.html"', "[output] index must be a plain path"),
        ('index = "tags/index.html"', "[output] index = 'tags/index.html' is in a folder of taxonomy feeds"),
        ('index = "x.html"\nopml = "x.html"', "[output] index and opml must be two different files"),
        ('dir = "bell\\u0007"', "[output] dir contains a control character U+0007"),  # was built into, silently
        (f'dir = "{"a" * 5000}"', "each part at most 255 bytes"),  # was a traceback (File name too long)
    ):
        site.config(CONFIG + f"\n[output]\n{value}\n")
        run = site.run("check")
        assert run.code == 2 and words in run.err and len(run.err.splitlines()) == 1, (value, run.err)


def test_files_left_alone_by_the_parallel_renderer_are_counted_once(site: Site) -> None:
    # thepugautomatic.com (129 feeds, rendered by worker processes) with Eleventy's own atom.xml in
    # dist/ printed "388 written, -1 unchanged, 1 left alone"
    for i in range(50):
        _post(site, f"p{i}", f"[t{i}]")
    (site.public / "tags" / "t7").mkdir(parents=True)
    (site.public / "tags" / "t7" / "atom.xml").write_text("<feed>the generator's</feed>")
    run = site.run("build", env={"SYNDICATE_PARALLEL_MIN": "2"})
    assert run.code == 3, run.err
    assert "built 51 feeds (155 files)" in run.out
    assert "public/: 154 written, 0 unchanged, 1 left alone (not syndicate's)" in run.out
    assert (site.public / "tags" / "t7" / "atom.xml").read_text() == "<feed>the generator's</feed>"


def test_out_may_not_be_the_site_or_hold_or_lie_in_its_posts_or_config(site: Site) -> None:
    """`[output] dir = "content"` was refused, `build --out content` wrote the feeds among the posts."""
    _post(site)
    before = sorted(p.name for p in site.content.iterdir())
    for out, why in (("content", "the posts"), ("content/feeds", "the posts"), (".", "the site folder itself")):
        for command in ("build", "check"):
            run = site.run(command, "--out", out)
            assert run.code == 2 and why in run.err and "choose a folder of its own" in run.err, (out, run)
    assert sorted(p.name for p in site.content.iterdir()) == before
    assert site.run("build", "--out", str(site.root.parent / "elsewhere")).code == 0  # a folder of its own


def test_a_kept_record_is_read_again_only_after_another_writer(tmp_path: Path) -> None:
    """A daemon keeps its record between cycles (one stat instead of reading it): its own claims
    and compactions keep it current; a claim by another process makes it read the file again."""
    kept = Ownership(tmp_path)
    assert not kept.is_current()  # no record yet
    kept.claim({"feed.xml": b"one"})
    assert kept.is_current()
    other = Ownership(tmp_path)
    other.claim({"tags/a/feed.xml": b"two"})
    assert not kept.is_current() and "tags/a/feed.xml" not in kept.digests
    kept = Ownership(tmp_path)
    assert kept.is_current() and "tags/a/feed.xml" in kept.digests
    for n in range(200):
        kept.claim({"feed.xml": f"{n}".encode()})
    kept.compact({"feed.xml": hashlib.sha256(b"199").hexdigest()[:16]})
    assert kept.is_current() and kept.lines == len(Ownership(tmp_path).digests) == 2
    assert kept.digests == Ownership(tmp_path).digests


def test_a_temporary_file_is_always_new_never_a_file_or_a_link_at_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every write goes through files.new_temp (tempfile's mkstemp without loading tempfile): a
    name taken by someone's file, or by a link to a file outside, is passed over, not opened."""
    from syndicate import files

    outside = tmp_path / "outside.txt"
    outside.write_text("not ours", encoding="utf-8")
    folder = tmp_path / "public"
    folder.mkdir()
    (folder / f".feed.xml.{'00' * 6}.tmp").write_text("someone's", encoding="utf-8")
    (folder / f".feed.xml.{'01' * 6}.tmp").symlink_to(outside)
    names = [bytes([0] * 6), bytes([1] * 6), bytes([2] * 6)]
    monkeypatch.setattr(os, "urandom", lambda n: names.pop(0))
    fd, path = files.new_temp(folder, ".feed.xml.")
    with os.fdopen(fd, "wb") as f:
        f.write(b"ours")
    assert path == str(folder / f".feed.xml.{'02' * 6}.tmp")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert outside.read_text(encoding="utf-8") == "not ours"
    assert (folder / f".feed.xml.{'00' * 6}.tmp").read_text(encoding="utf-8") == "someone's"
    monkeypatch.setattr(os, "urandom", lambda n: bytes(n))  # every name taken: an error, nothing opened
    with pytest.raises(FileExistsError):
        files.new_temp(folder, ".feed.xml.")


def test_the_record_read_in_one_parse_is_the_record_read_line_by_line(tmp_path: Path) -> None:
    """owned.py parses the whole record at once, and line by line when a line does not read (cut
    short by a crash) or holds two values: the claims are the same either way."""
    from syndicate.builder import owned

    lines = [json.dumps([f"tags/t{n}/feed.xml", f"d{n}"]) for n in range(50)]
    lines += [json.dumps(["tags/t3/feed.xml", None]), json.dumps([7, "x"]), json.dumps(["x"]), '"ab"']
    cases = {
        "written by syndicate": lines,
        "a line cut short": [*lines, '["tags/t9/atom.xml", "d'],
        "a line of two values": [*lines, '["tags/a/feed.xml", "e"], ["tags/b/feed.xml", "f"]'],
    }
    for name, record in cases.items():
        (tmp_path / owned.RECORD).write_text("# header\n" + "\n".join(record) + "\n", encoding="utf-8")
        read = owned.Ownership(tmp_path)
        one_by_one: dict[str, set[str]] = {}
        for line in record:
            try:
                rel, dig = json.loads(line)
            except (ValueError, TypeError):
                continue
            if isinstance(rel, str) and dig is None:
                one_by_one.pop(rel, None)
            elif isinstance(rel, str) and isinstance(dig, str):
                one_by_one.setdefault(rel, set()).add(dig)
        assert read.digests == one_by_one, name
        assert "tags/t3/feed.xml" not in read.digests and read.digests["a"] == {"b"}, name
