"""What the daemon keeps between its cycles instead of reading it again must stay what reading it
again would give."""

from __future__ import annotations

from datetime import UTC, datetime

from syndicate.config import load_settings
from syndicate.deliver import ledger
from syndicate.deliver.publish import Kept, LedgerMemo, Request, World, publish
from syndicate.deliver.sqlite_store import SQLiteStore
from tests.conftest import AT_ONCE, CONFIG, Site

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
        publish(site.root, Request(), World(lambda: NOW), kept)
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
