"""The `Store` contract (syndicate/deliver/store.py), held to by both stores: the SQLite file and
a site's rows in a real PostgreSQL 15 (tests/pg.py). Every method of the protocol (and
``enable_target``) is called here, on each store, with the same
expectations: aware UTC datetimes in and out, every change visible to another connection as
soon as the method returns (committed), ``key_seq`` unique and increasing per target, only
StoreError raised."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syndicate.core.lanes import lanes, waited
from syndicate.core.planning import DEAD, FAILED, HELD, PENDING, SENDING, SENT, SKIPPED, Delivery, KnownPost
from syndicate.deliver.store import Store, StoreError

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens (another connection to) one ledger: a SQLite file, or a site in a fresh database."""
    opened: list[Store] = []
    if request.param == "sqlite":
        from syndicate.deliver.sqlite_store import SQLiteStore

        def make() -> Store:
            opened.append(SQLiteStore(tmp_path / "state.db"))
            return opened[-1]
    else:
        from syndicate.deliver.postgres_store import PostgresStore
        from tests.pg import PASSWORD

        url = request.getfixturevalue("pg_url")

        def make() -> Store:
            opened.append(PostgresStore(url, PASSWORD, "https://example.com/"))
            return opened[-1]

    yield make
    for store in opened:
        store.close()


def row(n: int, target: str = "hooks", post: str | None = None, at: datetime = T0) -> Delivery:
    return Delivery(
        id=f"msg_{n:04d}",
        post_id=post or f"https://example.com/{n}/",
        target=target,
        event="post.published",
        revision="r1",
        state=PENDING,
        created_at=at,
        next_attempt_at=at,
        updated_at=at,
    )


def known(n: int, snapshot: str = "{}", published: datetime | None = T0, deleted: bool = False) -> KnownPost:
    return KnownPost(
        f"https://example.com/{n}/",
        f"content/{n}.md",
        f"https://example.com/{n}/",
        f"Post {n}",
        "r1",
        snapshot,
        deleted,
        published,
        (("sky", "d1"),),
        (("*", T0),),
    )


def test_identity_generation_and_meta(opener: Opener) -> None:
    store, other = opener(), opener()
    first = store.identity()
    assert first.id and 0 <= first.clock_id < 1024 and first.generation == 0 and first.empty
    assert other.identity() == first, "one ledger, whoever opens it"
    assert store.bump_generation() == 1 and other.identity().generation == 1
    assert store.meta("word") is None
    store.set_meta("word", "2026-11-26T12:00:00+00:00")
    assert other.meta("word") == "2026-11-26T12:00:00+00:00"
    store.set_meta("word", "again")
    assert other.meta("word") == "again"
    store.set_meta("word", None)
    assert other.meta("word") is None


def test_targets(opener: Opener) -> None:
    store, other = opener(), opener()
    store.add_targets(["hooks", "sky"], T0)
    store.add_targets(["hooks"], T0 + timedelta(days=1))  # known already: kept as it was
    assert other.known_targets() == {"hooks": None, "sky": None}
    assert not other.identity().empty
    store.disable_target("hooks", "410 Gone")
    assert other.known_targets()["hooks"] == "410 Gone"
    store.enable_target("hooks")
    assert other.known_targets()["hooks"] is None


def test_posts_snapshots_and_the_newest_published(opener: Opener) -> None:
    store, other = opener(), opener()
    assert other.newest_published() is None and other.known_posts() == {}
    store.save_posts([known(1, '{"a": 1}', T0), known(2, '{"b": 2}', T0 + timedelta(hours=1))])
    posts = other.known_posts()
    assert set(posts) == {"https://example.com/1/", "https://example.com/2/"}
    got = posts["https://example.com/1/"]
    assert got.snapshot == "" and got.title == "Post 1" and got.social == (("sky", "d1"),)
    assert got.leaving == (("*", T0),) and got.published == T0 and got.published.utcoffset() == timedelta(0)
    assert other.snapshots(["https://example.com/1/", "https://example.com/9/"]) == {
        "https://example.com/1/": '{"a": 1}'
    }
    assert other.newest_published() == T0 + timedelta(hours=1)
    # without a snapshot: the stored one stays, and so do the date and the digests when none is given
    bare = KnownPost("https://example.com/2/", "content/2.md", "https://example.com/2/", "New title", "r2", "", True)
    store.save_posts([bare])
    again = other.known_posts()["https://example.com/2/"]
    assert (again.title, again.revision, again.deleted) == ("New title", "r2", True)
    assert again.published == T0 + timedelta(hours=1) and again.social == (("sky", "d1"),) and again.leaving == ()
    assert other.snapshots(["https://example.com/2/"]) == {"https://example.com/2/": '{"b": 2}'}
    assert other.newest_published() == T0, "a retracted post is not the newest published"


def test_deliveries_are_read_in_every_way_publish_reads_them(opener: Opener) -> None:
    store, other = opener(), opener()
    rows = [row(3, at=T0 + timedelta(seconds=1)), row(1), row(2, target="sky", post="https://example.com/1/")]
    store.add_deliveries(rows)
    store.add_deliveries([row(1)])  # planned again after a crash: ignored
    every = other.deliveries()
    assert [d.id for d in every] == ["msg_0001", "msg_0002", "msg_0003"], "by creation time, then id"
    assert every[0] == row(1) and every[0].created_at.utcoffset() == timedelta(0)
    keys = other.delivery_keys()
    assert sorted(d.id for d in keys) == ["msg_0001", "msg_0002", "msg_0003"]
    assert {d.id for d in other.delivery_keys(["https://example.com/1/"])} == {"msg_0001", "msg_0002"}
    assert other.delivery_keys([]) == []
    assert [d.id for d in other.deliveries_of("https://example.com/1/", "sky")] == ["msg_0002"]
    assert [d.id for d in other.open_deliveries()] == ["msg_0001", "msg_0002", "msg_0003"]
    assert other.get("msg_0002").target == "sky"
    with pytest.raises(StoreError, match="no delivery msg_9999"):
        other.get("msg_9999")
    store.set_state(["msg_0003"], SKIPPED, "removed before it was sent", T0)
    got = other.get("msg_0003")
    assert got.state == SKIPPED and got.last_error == "removed before it was sent" and got.next_attempt_at is None
    store.set_state(["msg_0003"], PENDING, None, T0 + timedelta(minutes=1))
    got = other.get("msg_0003")
    assert got.state == PENDING and got.next_attempt_at == T0 + timedelta(minutes=1)
    assert got.last_error == "removed before it was sent", "no reason given: the last one is kept"
    assert other.link_rows() == []


def test_attempts_outcomes_keys_and_requeue(opener: Opener) -> None:
    store, other = opener(), opener()
    store.add_deliveries([row(1, "sky"), row(2, "sky"), row(3, "hooks")])
    with pytest.raises(StoreError, match="no delivery"):
        store.mark_sending("msg_0404", T0, "d", keyed=True)
    first = store.mark_sending("msg_0001", T0, "digest-1", keyed=True, text="Hello")
    assert first.state == SENDING and first.attempts == 1 and first.key_seq is not None
    second = store.mark_sending("msg_0002", T0, "digest-2", keyed=True)
    assert second.key_seq is not None and second.key_seq > first.key_seq, "increasing per target"
    assert store.mark_sending("msg_0003", T0, "digest-3").key_seq is None, "unkeyed channels get none"
    assert other.get("msg_0001").key_seq == first.key_seq
    (attempt,) = other.attempts("msg_0001")
    assert (attempt.n, attempt.started_at, attempt.digest, attempt.text) == (1, T0, "digest-1", "Hello")
    assert attempt.finished_at is None and attempt.outcome is None, "killed here: the outcome is unknown"
    later = T0 + timedelta(seconds=5)
    store.mark_sent("msg_0001", "at://did/post/1", "https://sky.example/post/1", later)
    sent = other.get("msg_0001")
    assert sent.state == SENT and sent.remote_url == "https://sky.example/post/1" and sent.next_attempt_at is None
    (attempt,) = other.attempts("msg_0001")
    assert (attempt.finished_at, attempt.outcome, attempt.detail) == (later, "sent", "https://sky.example/post/1")
    assert [d.id for d in other.link_rows()] == ["msg_0001"]
    assert [d.id for d in other.open_deliveries()] == ["msg_0002", "msg_0003"]
    renewed = store.new_key("msg_0002", T0)
    assert renewed.key_seq is not None and renewed.key_seq > second.key_seq, "a fresh key is never an old one"
    store.mark_failed("msg_0002", FAILED, later + timedelta(minutes=5), "timed out", later, unknown=True)
    failed = other.get("msg_0002")
    assert (failed.state, failed.next_attempt_at, failed.last_error) == (
        FAILED,
        later + timedelta(minutes=5),
        "timed out",
    )
    assert other.attempts("msg_0002")[-1].outcome == "unknown"
    store.mark_sending("msg_0003", later, "digest-3")
    store.mark_failed("msg_0003", DEAD, None, "410 Gone", later)
    assert [a.n for a in other.attempts("msg_0003")] == [1, 2] and other.attempts("msg_0003")[-1].outcome == "dead"
    store.add_targets(["sky", "hooks"], T0)
    store.disable_target("hooks", "410 Gone")
    assert store.requeue("hooks", None, later) == 1
    queued = other.get("msg_0003")
    assert (queued.state, queued.attempts, queued.next_attempt_at) == (PENDING, 0, later), "dead starts again"
    assert other.known_targets()["hooks"] is None, "requeue enables the target again"
    assert store.requeue(None, "https://example.com/2/", later) == 1
    assert other.get("msg_0002").attempts == 1, "a failed delivery keeps its count"
    assert store.requeue(None, None, later) == 0


def test_a_held_send_is_queued_again_only_when_its_post_is_named(opener: Opener) -> None:
    """HELD (a send's outcome lost on a blind target) waits for the user's word: a bare `retry`
    or one for the whole target leaves it; one naming its post queues it, keeping its count."""
    store, other = opener(), opener()
    store.add_deliveries([row(1, "chat")])
    store.mark_sending("msg_0001", T0, "digest-1", text="Hello")
    store.mark_failed("msg_0001", HELD, None, "no answer; check the channel", T0, unknown=True)
    held = other.get("msg_0001")
    assert (held.state, held.next_attempt_at, held.attempts) == (HELD, None, 1)
    assert other.attempts("msg_0001")[-1].outcome == "unknown"
    assert other.open_deliveries() == []
    later = T0 + timedelta(seconds=5)
    assert store.requeue(None, None, later) == 0 and store.requeue("chat", None, later) == 0
    assert store.requeue("chat", held.post_id, later) == 1
    queued = other.get("msg_0001")
    assert (queued.state, queued.attempts, queued.next_attempt_at) == (PENDING, 1, later)


def test_keys_stay_unique_after_a_clock_step_back(opener: Opener) -> None:
    store = opener()
    store.add_deliveries([row(n, "sky") for n in range(1, 6)])
    seqs = [store.mark_sending(f"msg_{n:04d}", T0 - timedelta(days=n), "d", keyed=True).key_seq for n in range(1, 6)]
    given = [s for s in seqs if s is not None]
    assert len(given) == 5 and given == sorted(given) and len(set(given)) == 5


def test_a_nul_in_a_receivers_answer_is_kept_as_a_message_and_stops_nothing(opener: Opener) -> None:
    store, other = opener(), opener()
    store.add_deliveries([row(1)])
    store.mark_sending("msg_0001", T0, "d")
    store.mark_failed("msg_0001", FAILED, T0, "HTTP 500: bad\x00byte", T0)
    got = other.get("msg_0001").last_error
    assert got is not None and got.replace("\x00", "\ufffd") == "HTTP 500: bad\ufffdbyte"
    assert other.attempts("msg_0001")[-1].outcome == "failed"


def test_the_tally_counts_each_lane_with_its_oldest_due_and_its_late_deliveries(opener: Opener) -> None:
    store, other = opener(), opener()
    hour_ago, minutes_ago = T0 - timedelta(hours=1), T0 - timedelta(minutes=5)
    store.add_deliveries([row(1, at=hour_ago), row(2, at=minutes_ago), row(3, "sky", at=minutes_ago), row(4)])
    store.add_deliveries([row(5, at=hour_ago), row(6, at=hour_ago), row(7, at=hour_ago), row(8, at=hour_ago)])
    store.mark_sending("msg_0004", T0)
    store.mark_sent("msg_0004", None, None, T0)
    store.mark_sending("msg_0005", hour_ago)
    store.mark_failed("msg_0005", FAILED, T0 + timedelta(minutes=5), "500", hour_ago)  # not due yet
    store.mark_sending("msg_0006", hour_ago)
    store.mark_failed("msg_0006", FAILED, T0 - timedelta(minutes=40), "500", hour_ago)  # due 40 min ago: late
    store.mark_sending("msg_0007", hour_ago)
    store.mark_failed("msg_0007", DEAD, None, "410 Gone", hour_ago)
    store.set_state(["msg_0008"], SKIPPED, "removed before it was sent", T0)
    got = {(t.target, t.state): t for t in other.tally(T0, T0 - timedelta(minutes=30))}
    assert {key: t.count for key, t in got.items()} == {
        ("hooks", "pending"): 2,
        ("hooks", "sent"): 1,
        ("hooks", "failed"): 2,
        ("hooks", "dead"): 1,
        ("hooks", "skipped"): 1,
        ("sky", "pending"): 1,
    }
    assert got["hooks", "pending"].oldest_due == hour_ago and got["hooks", "pending"].late == 1
    assert got["hooks", "failed"].oldest_due == T0 - timedelta(minutes=40) and got["hooks", "failed"].late == 1
    assert got["sky", "pending"].oldest_due == minutes_ago and got["sky", "pending"].late == 0
    assert got["hooks", "sent"].oldest_due is None and got["hooks", "dead"].late == 0
    [hooks, sky] = lanes(other.tally(T0, T0 - timedelta(minutes=30)))
    assert (hooks.target, hooks.count("pending"), hooks.count("failed"), hooks.late) == ("hooks", 2, 2, 2)
    assert hooks.oldest_due == hour_ago and waited(hooks, T0) == 3600.0
    assert (sky.oldest_due, waited(sky, T0), sky.count("sent")) == (minutes_ago, 300.0, 0)


def test_throttles_are_kept_only_raised_and_lifted(opener: Opener) -> None:
    """An origin that answered 429 waits until a time each store gives (PostgreSQL: by its own
    clock), seen by another connection at once; a later, shorter 429 never shortens it; `lift`
    forgets it."""
    store, other = opener(), opener()
    now = datetime.now(UTC)
    until = store.throttle("https://social.example", 30, now)
    assert until.tzinfo is not None and timedelta(seconds=25) < until - now < timedelta(seconds=35)
    assert other.throttles(now) == {"https://social.example": until}
    assert store.throttle("https://social.example", 1, now) == until
    store.throttle("http://127.0.0.1:8080", 0, now)
    assert set(other.throttles(now)) == {"https://social.example"}, "a wait that is over is not listed"
    store.lift(["https://social.example"])
    assert other.throttles(now) == {}


def test_a_sealed_session_is_kept_per_service_and_handle(opener: Opener) -> None:
    """The store keeps what it is given (sealed bytes, never a token) and the expiry, per PDS and
    handle; a later save replaces it."""
    store, other = opener(), opener()
    assert store.session("https://pds.example", "a.test") is None
    store.save_session("https://pds.example", "a.test", b"\x01sealed\x00bytes", T0)
    store.save_session("https://pds.example", "b.test", b"\x01other", T0)
    assert other.session("https://pds.example", "a.test") == (b"\x01sealed\x00bytes", T0)
    store.save_session("https://pds.example", "a.test", b"\x01anew", T0 + timedelta(hours=2))
    assert other.session("https://pds.example", "a.test") == (b"\x01anew", T0 + timedelta(hours=2))
    assert other.session("https://other.example", "a.test") is None
