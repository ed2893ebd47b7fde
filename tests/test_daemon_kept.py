"""What the daemon keeps between its cycles instead of reading it again must stay what reading it
again would give."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syndicate.builder import parse, workers
from syndicate.builder.cache import PostCache
from syndicate.builder.discover import ContentWatch
from syndicate.builder.pipeline import build
from syndicate.builder.skip import IncrementalRender
from syndicate.config import load_settings
from syndicate.core import planning
from syndicate.core.feeds import IncrementalPlan
from syndicate.deliver import ledger
from syndicate.deliver.publish import Kept, LedgerMemo, Request, World, publish
from syndicate.deliver.secrets import Secrets
from syndicate.deliver.sqlite_store import SQLiteStore
from syndicate.errors import SyndicateError
from syndicate.site import Site as SiteValue
from tests.conftest import AT_ONCE, CONFIG, Site
from tests.httpd import recorder
from tests.peers.fixtures import new_webhook_secret

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _post(site: Site, name: str, date: str) -> None:
    site.post(f"{name}.md", f"---\ntitle: {name}\ndate: {date} 12:00\n---\nx\n")


def test_what_the_daemon_keeps_of_its_ledger_is_what_reading_it_gives_after_every_run(site: Site) -> None:
    """The newest date the ledger has seen live (a clock set back keeps those posts on): read once,
    then raised by the posts each run records; a post moved earlier or retracted reads it again.
    The posts the ledger knows: read once, then kept as each run records them."""
    site.config(CONFIG + AT_ONCE)
    memo = LedgerMemo()
    kept = Kept(holds_lock=True, ledger=memo)
    settings = load_settings(site.root)
    newest: list[datetime | None] = []

    def run() -> None:
        publish(SiteValue.open(site.root), Request(), World(lambda: NOW), kept)
        truth = ledger.announced_until(site.root, settings)
        assert (memo.floor if memo.has_floor else truth) == truth
        newest.append(truth)
        store = SQLiteStore(ledger.state_path(site.root, settings), readonly=True)
        try:
            assert memo.posts == store.known_posts()
        finally:
            store.close()

    _post(site, "a", "2024-01-01")
    run()
    _post(site, "b", "2024-06-01")
    run()  # raised by the new post
    _post(site, "b", "2024-02-01")
    run()  # the newest moved earlier
    site.post("b.md", "---\ntitle: b again\ndate: 2024-02-01 12:00\n---\nedited\n")
    run()  # edited: a new revision
    (site.content / "b.md").unlink()
    run()  # the newest retracted
    run()
    assert [d.date().isoformat() if d else None for d in newest] == [
        "2024-01-01",
        "2024-06-01",
        "2024-02-01",
        "2024-02-01",
        "2024-01-01",
        "2024-01-01",
    ]


HOOK_TARGET = """
[[targets]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
secret_env = "SYNDICATE_TEST_NO_SUCH_SECRET"
events = ["post.published", "post.updated", "post.deleted"]
"""


def test_a_run_of_the_lock_holder_plans_only_the_posts_that_changed(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's delivery planning looked at every post on every save (1.3 s at 100,000 posts):
    now the first run plans every post, and each later one the posts saved or removed since (the
    plan is the same: tests/test_incremental_delivery.py); what the ledger records is unchanged."""
    site.config(CONFIG + AT_ONCE + HOOK_TARGET)
    planned: list[tuple[list[str], list[str]]] = []
    full = planning.plan_posts

    def spy(**given: Any) -> planning.Plan:
        planned.append((sorted(p.slug for p in given["posts"]), sorted(given["known"])))
        return full(**given)

    monkeypatch.setattr(planning, "plan_posts", spy)
    watch = ContentWatch()  # what the daemon keeps; its file watcher notes each path saved
    cache = PostCache(site.root / ".syndicate" / "cache.db")
    kept = Kept(cache, IncrementalRender(), watch, IncrementalPlan(), holds_lock=True, ledger=LedgerMemo())

    def run() -> tuple[list[str], list[str]]:
        publish(SiteValue.open(site.root), Request(), World(lambda: NOW), kept)
        return planned[-1]

    for name in ("a", "b", "c"):
        _post(site, name, "2024-01-01")
    assert run()[0] == ["a", "b", "c"]  # the first run: every post
    assert run()[0] == ["a", "b", "c"]  # and the next, as the ledger learned its target
    _post(site, "d", "2024-02-01")
    watch.note(str(site.content / "d.md"))
    assert run() == (["d"], [])
    site.post("b.md", "---\ntitle: b again\ndate: 2024-01-01 12:00\n---\nedited\n")
    watch.note(str(site.content / "b.md"))
    assert run() == (["b"], ["https://example.com/blog/b/"])
    (site.content / "c.md").unlink()
    watch.note(str(site.content / "c.md"))
    assert run() == ([], ["https://example.com/blog/c/"])
    assert run() == ([], [])  # nothing changed: nothing to plan
    store = SQLiteStore(ledger.state_path(site.root, load_settings(site.root)), readonly=True)
    try:
        rows = sorted((d.post_id.rsplit("/", 2)[1], d.event, d.state) for d in store.delivery_keys())
    finally:
        store.close()
    assert rows == [
        ("a", "post.published", "baseline"),
        ("b", "post.published", "baseline"),
        ("b", "post.updated", "pending"),
        ("c", "post.published", "baseline"),
        ("d", "post.published", "pending"),
    ]


def test_the_lock_holder_records_what_runs_that_plan_every_post_record(tmp_path: Path) -> None:
    """Two sites, the same saves: one published as the daemon does (what it keeps, planning what
    changed), the other by runs that plan every post. Their ledgers hold the same deliveries, the
    WebSub pings of the changed feeds among them, in the same states."""
    sites = [Site(tmp_path / "kept"), Site(tmp_path / "full")]
    secrets = Secrets({"HOOK_SECRET": new_webhook_secret()})
    with recorder() as hook:
        watch = ContentWatch()
        cache = PostCache(sites[0].root / ".syndicate" / "cache.db")
        kept = Kept(cache, IncrementalRender(), watch, IncrementalPlan(), holds_lock=True, ledger=LedgerMemo())
        target = HOOK_TARGET.replace("http://127.0.0.1:9/hook", f"{hook.url}/hook").replace(
            "SYNDICATE_TEST_NO_SUCH_SECRET", "HOOK_SECRET"
        )
        for s in sites:
            s.content.mkdir(parents=True)
            s.config(CONFIG + AT_ONCE + target + f'\n[websub]\nhubs = ["{hook.url}/hub"]\n')

        def save(name: str, text: str | None) -> list[list[tuple[object, ...]]]:
            for s in sites:
                if text is None:
                    (s.content / name).unlink()
                else:
                    s.post(name, text)
            watch.note(str(sites[0].content / name))
            publish(SiteValue.open(sites[0].root), Request(), World(lambda: NOW, secrets=secrets), kept)
            publish(SiteValue.open(sites[1].root), Request(), World(lambda: NOW, secrets=secrets))
            return [_rows(s) for s in sites]

        for name in ("a", "b", "c"):
            kept_rows, full_rows = save(f"{name}.md", f"---\ntitle: {name}\ndate: 2024-01-01 12:00\n---\nx\n")
        for name, text in [
            ("d.md", "---\ntitle: d\ndate: 2024-02-01 12:00\ntags: [t]\n---\nnew\n"),
            ("b.md", "---\ntitle: b again\ndate: 2024-01-01 12:00\n---\nedited\n"),
            ("c.md", None),
            ("e.md", "---\ntitle: e\ndate: 2024-03-01 12:00\ntags: [t]\n---\nnew\n"),
        ]:
            kept_rows, full_rows = save(name, text)
            assert kept_rows == full_rows
    assert ("https://example.com/blog/c/", "hook", "post.deleted") in {r[:3] for r in kept_rows}
    assert any(event == "feed.updated" for _, _, event, *_ in kept_rows)


def _rows(site: Site) -> list[tuple[object, ...]]:
    store = SQLiteStore(ledger.state_path(site.root, load_settings(site.root)), readonly=True)
    try:
        return sorted((d.post_id, d.target, d.event, d.revision, d.state, d.attempts) for d in store.delivery_keys())
    finally:
        store.close()


def test_a_target_added_to_the_config_reads_no_post_again_and_renders_no_feed(site: Site) -> None:
    """bench/latency.py adds a webhook target: the daemon read every post again and rendered every
    feed again (76 s at 100,000 posts), for feeds that do not depend on targets. Now only a post
    that names targets (syndicate:) is read again (what it names may exist now), no feed is
    rendered again and no feed file is written."""
    site.config(CONFIG)
    for name in ("a", "b"):
        site.post(f"{name}.md", f"---\ntitle: {name}\ndate: 2024-01-01 12:00\ntags: [t]\n---\nx\n")
    site.post("c.md", "---\ntitle: c\ndate: 2024-01-02 12:00\nsyndicate: [hook]\n---\nx\n")
    watch = ContentWatch()
    kept = Kept(PostCache(site.root / ".syndicate" / "cache.db"), IncrementalRender(), watch, IncrementalPlan())
    kept.holds_lock, kept.ledger = True, LedgerMemo()
    first = publish(SiteValue.open(site.root), Request(), World(lambda: NOW), kept).build
    assert any("'hook' is not a target" in p.message for p in first.problems)
    public = site.root / "public"
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in public.rglob("*") if p.is_file()}
    site.config(CONFIG + HOOK_TARGET)
    watch.note(str(site.root / "config" / "syndicate.toml"))
    again = publish(SiteValue.open(site.root), Request(), World(lambda: NOW), kept).build
    assert again.parsed == 1 and not any("'hook' is not a target" in p.message for p in again.problems)
    assert kept.memo is not None and kept.memo.rendered == 0
    feeds = {p: s for p, s in before.items() if p.name in ("feed.xml", "atom.xml", "feed.json")}
    assert len(feeds) == 6 and all((p.stat().st_ino, p.stat().st_mtime_ns) == s for p, s in feeds.items())


def test_a_saves_feeds_are_written_before_the_ledger_is_opened(site: Site) -> None:
    """The daemon's feeds need nothing of the ledger (it keeps the syndication links), so they are
    written before it is opened and checked, which cost a save 1-7 ms; nothing is sent before the
    check. A ledger that cannot be read still stops the run, after the feeds are on disk."""
    site.config(CONFIG + AT_ONCE + HOOK_TARGET)
    _post(site, "a", "2024-01-01")
    watch, cache, memo = ContentWatch(), PostCache(site.root / ".syndicate" / "cache.db"), LedgerMemo()
    render, plan = IncrementalRender(), IncrementalPlan()

    def kept() -> Kept:  # as the daemon makes it for each cycle
        return Kept(cache, render, watch, plan, holds_lock=True, ledger=memo)

    publish(SiteValue.open(site.root), Request(), World(lambda: NOW), kept())
    state = ledger.state_path(site.root, load_settings(site.root))
    state.write_bytes(b"not a ledger" * 100)
    _post(site, "b", "2024-02-01")
    watch.note(str(site.content / "b.md"))
    with pytest.raises(SyndicateError):
        publish(SiteValue.open(site.root), Request(), World(lambda: NOW), kept())
    assert "<title>b</title>" in (site.root / "public" / "feed.xml").read_text()


def test_the_first_save_after_a_start_makes_the_html_of_the_saved_post_only(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start whose feeds are all on disk renders nothing, so the lock holder's first save made the
    HTML of the site feed's 19 other posts before its files were written (the slowest save of a
    run: 148 ms against 23 at 10,000 posts). The holder makes those entries after the start's files
    are written; the save then makes the saved post's HTML alone, and writes what a build writes."""
    site.config(CONFIG + AT_ONCE)
    for n in range(25):
        _post(site, f"p{n:02}", f"2024-01-{n + 1:02}")
    assert not build(site.root, NOW, write=True).rejected  # the feeds on disk, their prints in the cache
    made: list[str] = []
    make = parse.make_html  # what workers.make_contents calls

    def spy(job: Any) -> Any:
        html = make(job)
        made.append(html if isinstance(html, str) else html[0])
        return html

    monkeypatch.setattr(workers, "make_html", spy)
    watch = ContentWatch()
    cache = PostCache(site.root / ".syndicate" / "cache.db")
    later: list[Callable[[], None]] = []  # what the daemon does when idle (the manifest)
    kept = Kept(cache, IncrementalRender(), watch, IncrementalPlan(), True, ledger=LedgerMemo(), later=later)
    publish(SiteValue.open(site.root), Request(), World(lambda: NOW), kept)  # the start: nothing rendered
    made.clear()
    site.post("new.md", "---\ntitle: new\ndate: 2024-02-01 12:00\n---\nfresh words\n")
    watch.note(str(site.content / "new.md"))
    report = publish(SiteValue.open(site.root), Request(), World(lambda: NOW), kept)
    assert made == ["<p>fresh words</p>"]
    assert report.build.written == ["atom.xml", "feed.json", "feed.xml"]
    assert b"<title>new</title>" in (site.root / "public" / "feed.xml").read_bytes()
