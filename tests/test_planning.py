"""The pure delivery decisions: baseline, new, edited, removed; retry schedule; giving up."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from syndicate.core.model import Content, DeliverySettings, Post, TargetSettings
from syndicate.core.planning import (
    BASELINE,
    DEAD,
    FAILED,
    HELD,
    PENDING,
    SENDING,
    SENT,
    Delivery,
    KnownPost,
    Plan,
    after_failure,
    due,
    held_by_a_crash,
    plan_pings,
    plan_posts,
)
from syndicate.errors import Failure

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
HOOK = TargetSettings(
    name="hook",
    kind="webhook",
    url="http://x",
    secret_env="S",
    events=("post.published", "post.updated", "post.deleted"),
)
MASTO = TargetSettings(name="masto", kind="mastodon", instance="http://m", token_env="T")


def post(n: int, **kw: object) -> Post:
    base = Post(
        source=f"content/{n}.md",
        id=f"https://e.com/{n}/",
        url=f"https://e.com/{n}/",
        slug=str(n),
        title=f"Post {n}",
        published=NOW - timedelta(days=10 - n),
        updated=NOW - timedelta(days=10 - n),
        tags=(),
        revision="r1",
        content=Content(html="<p>x</p>", summary="s"),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def known(p: Post, deleted: bool = False) -> KnownPost:
    return KnownPost(p.id, p.source, p.url, p.title, p.revision, "{}", deleted)


def run(
    live: list[Post],
    known_posts: dict[str, KnownPost],
    rows: list[Delivery],
    targets: tuple[TargetSettings, ...] = (HOOK, MASTO),
    known_targets: set[str] | None = None,
    unreadable: set[str] | None = None,
    backfill: bool = False,
    since: datetime | None = None,
) -> Plan:
    return plan_posts(
        now=NOW,
        posts=live,
        snapshot=lambda p: "{}",
        unreadable_sources=unreadable or set(),
        known=known_posts,
        targets=targets,
        known_targets={t.name for t in targets} if known_targets is None else known_targets,
        deliveries=rows,
        backfill=backfill,
        since=since,
    )


def test_first_run_records_existing_posts_as_baseline_and_sends_nothing() -> None:
    plan = run([post(1), post(2)], {}, [], known_targets=set())
    assert sorted(plan.new_targets) == ["hook", "masto"]
    assert {d.state for d in plan.new} == {BASELINE} and len(plan.new) == 4


def test_backfill_sends_them_and_since_limits_it() -> None:
    plan = run([post(1), post(5)], {}, [], known_targets=set(), backfill=True, since=NOW - timedelta(days=6))
    states = {(d.post_id, d.target): d.state for d in plan.new}
    assert states[("https://e.com/5/", "hook")] == PENDING
    assert states[("https://e.com/1/", "hook")] == BASELINE


def test_backfill_later_promotes_baseline_rows() -> None:
    first = run([post(1)], {}, [], known_targets=set())
    again = run([post(1)], {}, first.new, backfill=True)
    assert sorted(again.promote) == sorted(d.id for d in first.new)


def test_a_new_post_goes_to_every_target_once() -> None:
    plan = run([post(1)], {}, [])
    assert {(d.target, d.state) for d in plan.new} == {("hook", PENDING), ("masto", PENDING)}
    again = run([post(1)], {}, plan.new)
    assert again.new == []


def test_syndicate_false_or_a_list_of_targets() -> None:
    assert run([post(1, syndicate=())], {}, []).new == []
    only = run([post(1, syndicate=("masto",))], {}, [])
    assert [d.target for d in only.new] == ["masto"]


def test_a_new_target_gets_a_baseline_while_old_targets_carry_on() -> None:
    rows = [replace(d, state=SENT) for d in run([post(1)], {}, [], targets=(HOOK,)).new]
    plan = run([post(1), post(2)], {}, rows, known_targets={"hook"})
    states = {(d.post_id, d.target): d.state for d in plan.new}
    assert states == {
        ("https://e.com/1/", "masto"): BASELINE,
        ("https://e.com/2/", "masto"): BASELINE,
        ("https://e.com/2/", "hook"): PENDING,
    }


def test_an_edit_sends_post_updated_to_webhooks_that_asked_and_reposts_nowhere() -> None:
    p = post(1)
    rows = [replace(d, state=SENT) for d in run([p], {}, []).new]
    edited = replace(p, revision="r2")
    plan = run([edited], {p.id: known(p)}, rows)
    assert [(d.target, d.event) for d in plan.new] == [("hook", "post.updated")]
    # a second edit supersedes an unsent first one
    plan2 = run([replace(p, revision="r3")], {p.id: known(edited)}, [*rows, replace(plan.new[0], state=FAILED)])
    assert plan.new[0].id in plan2.skip and [d.event for d in plan2.new] == ["post.updated"]


def test_a_removed_post_sends_post_deleted_and_unsent_deliveries_are_skipped() -> None:
    p, q = post(1), post(2)
    rows = [replace(d, state=SENT) for d in run([p], {}, []).new] + run([q], {}, []).new
    plan = run([], {p.id: known(p), q.id: known(q)}, rows)
    assert [(d.post_id, d.target, d.event) for d in plan.new] == [
        (p.id, "hook", "post.deleted"),
        (p.id, "masto", "post.deleted"),  # its status is deleted (on_delete = "delete", the default)
    ]
    assert {rows[i].id for i in (2, 3)} == set(plan.skip)  # q was never sent: nothing to retract
    assert {k.post_id for k in plan.posts if k.deleted} == {p.id, q.id}


def test_a_post_whose_file_is_broken_is_not_treated_as_removed() -> None:
    p = post(1)
    rows = [replace(d, state=SENT) for d in run([p], {}, []).new]
    plan = run([], {p.id: known(p)}, rows, unreadable={p.source})
    assert plan.new == [] and plan.skip == {} and plan.posts == []


def test_pings_once_per_hub_and_feed_version() -> None:
    feed, other = "https://e.com/feed.xml", "https://e.com/tags/a/feed.xml"
    first = plan_pings(NOW, {feed: "abc", other: "x"}, {feed}, ["https://hub1", "https://hub2"], [])
    assert sorted((d.post_id, d.state) for d in first.new) == sorted([(feed, PENDING), (other, BASELINE)] * 2)
    assert plan_pings(NOW, {feed: "abc", other: "x"}, set(), ["https://hub1"], first.new).new == []
    # a new version is pinged even when this run did not write it (e.g. `syndicate build` did)
    again = plan_pings(NOW, {feed: "def", other: "x"}, set(), ["https://hub1"], first.new)
    assert [(d.post_id, d.state) for d in again.new] == [(feed, PENDING)]
    assert set(again.skip) == {d.id for d in first.new if d.post_id == feed and d.target == "websub:https://hub1"}


def _delivery(attempts: int) -> Delivery:
    return Delivery("msg_x", "p", "hook", "post.published", "", PENDING, NOW, attempts=attempts)


def test_retries_follow_the_standard_webhooks_schedule_with_jitter() -> None:
    rng = random.Random(1)
    settings = DeliverySettings()
    for attempts, base in [(1, 5), (2, 300), (3, 1800), (4, 7200), (5, 18000), (6, 36000), (7, 36000)]:
        state, next_at, _ = after_failure(_delivery(attempts), Failure("HTTP 503"), NOW, settings, rng)
        assert state == FAILED and next_at is not None
        assert base * 0.8 <= (next_at - NOW).total_seconds() <= base * 1.2


def test_retry_after_is_honoured_and_permanent_errors_and_the_last_attempt_are_dead() -> None:
    rng = random.Random(1)
    settings = DeliverySettings()
    _, next_at, _ = after_failure(_delivery(1), Failure("429", retry_after=120), NOW, settings, rng)
    assert next_at is not None and (next_at - NOW).total_seconds() >= 120
    assert after_failure(_delivery(1), Failure("HTTP 404", permanent=True), NOW, settings, rng)[0] == DEAD
    state, next_at, why = after_failure(_delivery(8), Failure("HTTP 503"), NOW, settings, rng)
    assert state == DEAD and next_at is None and why == "gave up after 8 attempts; last: HTTP 503"
    once = DeliverySettings(max_attempts=1)
    why = after_failure(_delivery(1), Failure("HTTP 503"), NOW, once, rng)[2]
    assert why == "gave up after 1 attempt; last: HTTP 503"  # it said "1 attempts"


def test_a_rate_limit_waits_as_told_and_never_uses_up_the_attempts() -> None:
    """A 429 says "not now", not "this fails": past max_attempts it is still tried again after the
    wait the target asked for (a target that rate limits a burst never kills the deliveries)."""
    rng = random.Random(1)
    failure = Failure("rate limited", retry_after=30, rate_limited=True)
    state, next_at, why = after_failure(_delivery(8), failure, NOW, DeliverySettings(), rng)
    assert state == FAILED and next_at is not None and (next_at - NOW).total_seconds() >= 30
    assert why == "rate limited"


def test_due_takes_open_rows_whose_time_has_come_and_interrupted_sends() -> None:
    later = NOW + timedelta(minutes=5)
    rows = [
        replace(_delivery(1), id="a", state=FAILED, next_attempt_at=later),
        replace(_delivery(1), id="b", state=FAILED, next_attempt_at=NOW),
        replace(_delivery(1), id="c", state=SENDING),
        replace(_delivery(1), id="d", state=SENT),
        replace(_delivery(0), id="e", state=DEAD),
    ]
    assert [d.id for d in due(rows, NOW)] == ["b", "c"]
    assert [d.id for d in due(rows, later)] == ["a", "b", "c"]


def test_a_lost_send_on_a_blind_target_is_held_not_retried() -> None:
    """Discord and Telegram give no idempotency key and cannot be read back: a send whose answer
    never came may have made a message, so it waits for the user's word (HELD), never retried."""
    rng = random.Random(1)
    settings = DeliverySettings()
    lost = Failure("no answer within 10 s", unknown_outcome=True)
    state, next_at, why = after_failure(_delivery(1), lost, NOW, settings, rng, blind=True)
    assert state == HELD and next_at is None and why.startswith("no answer within 10 s; ") and "check the" in why
    assert after_failure(_delivery(1), lost, NOW, settings, rng)[0] == FAILED, "a target that can look retries"
    edit = replace(_delivery(1), event="post.updated", revision="0/1/abc")
    assert after_failure(edit, lost, NOW, settings, rng, blind=True)[0] == FAILED, "an edit is the same request again"
    assert after_failure(_delivery(1), Failure("HTTP 503"), NOW, settings, rng, blind=True)[0] == FAILED
    assert due([replace(_delivery(1), state=HELD)], NOW) == [], "held is never due by itself"


def test_a_send_left_in_sending_by_a_crash_is_held_on_a_blind_target_only() -> None:
    crashed = replace(_delivery(1), state=SENDING)
    assert held_by_a_crash(crashed, blind=True)
    assert not held_by_a_crash(crashed, blind=False)
    assert not held_by_a_crash(replace(crashed, event="post.deleted"), blind=True)
    assert not held_by_a_crash(replace(crashed, state=FAILED), blind=True)


def test_a_retracted_post_whose_send_is_held_is_skipped_and_its_copy_looked_after() -> None:
    """The held send never goes out now; the copy it may have made is for post.deleted to delete."""
    p = post(1)
    rows = [replace(d, state=HELD, attempts=1) for d in run([p], {}, [], targets=(MASTO,)).new]
    assert rows[0].may_have_landed
    plan = run([], {p.id: known(p)}, rows, targets=(MASTO,))
    assert list(plan.skip) == [rows[0].id]
    assert [d.event for d in plan.new] == ["post.deleted"]


MENTIONS = TargetSettings(name="mentions", kind="webmention")


def _links(*urls: str) -> Content:
    return Content(html="".join(f'<a href="{u}">x</a>' for u in urls), summary="s")


def _sent(rows: list[Delivery]) -> list[Delivery]:
    return [replace(d, state=SENT, attempts=1) for d in rows]


def test_a_webmention_per_link_and_version_then_every_link_told_again_on_edit_and_removal() -> None:
    a, b, c = "https://a.example/", "https://b.example/", "https://c.example/"
    first = post(1, content=_links(a, b, a))
    rows = _sent(run([first], {}, [], targets=(MENTIONS,)).new)
    assert sorted(d.revision.split("\x1f")[1] for d in rows) == [a, b] and {d.event for d in rows} == {"webmention"}
    assert run([first], {first.id: known(first)}, rows, targets=(MENTIONS,)).new == [], "once per version"

    edited = replace(first, revision="r2", content=_links(a, c))  # b removed, c added
    again = run([edited], {first.id: known(first)}, rows, targets=(MENTIONS,)).new
    assert sorted(d.revision.split("\x1f")[1] for d in again) == [a, b, c]
    rows += _sent(again)

    gone = run([], {first.id: known(edited)}, rows, targets=(MENTIONS,))
    told = sorted(d.revision.split("\x1f")[1] for d in gone.new)
    assert told == [a, b, c] and all(d.revision.startswith("gone:0:") for d in gone.new)


def test_posts_published_before_the_webmention_target_are_told_nothing() -> None:
    first = post(1, content=_links("https://a.example/"))
    assert run([first], {}, [], targets=(MENTIONS,), known_targets=set()).new == []


def test_a_post_back_after_its_webmentions_were_retracted_tells_its_links_again() -> None:
    a = "https://a.example/"
    first = post(1, content=_links(a))
    rows = _sent(run([first], {}, [], targets=(MENTIONS,)).new)
    rows += _sent(run([], {first.id: known(first)}, rows, targets=(MENTIONS,)).new)
    back = run([first], {first.id: known(first, deleted=True)}, rows, targets=(MENTIONS,)).new
    assert [d.revision for d in back] == [f"1:r1\x1f{a}"]
