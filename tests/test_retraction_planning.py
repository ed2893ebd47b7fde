"""The pure decisions of issue 21: a retraction waits its window (``[delivery] delete_after``)
before anything is skipped or deleted, a post back inside it is the same post, and more
retractions at once than the guard's share wait for the user's word."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.core.model import Post
from syndicate.core.planning import (
    EVERY_TARGET,
    SENT,
    SKIPPED,
    Delivery,
    KnownPost,
    Plan,
    Retracting,
    plan_posts,
)
from tests.test_planning import HOOK, MASTO, NOW, known, post

WINDOW = timedelta(seconds=300)
GUARD = Retracting(delete_after=WINDOW, guard_percent=10)


def plan_at(
    at: datetime,
    posts: list[Post],
    ledger: dict[str, KnownPost],
    rows: list[Delivery],
    how: Retracting = GUARD,
) -> Plan:
    return plan_posts(
        now=NOW,
        at=at,
        posts=posts,
        snapshot=lambda p: "{}",
        unreadable_sources=set(),
        known=ledger,
        targets=(HOOK, MASTO),
        known_targets={"hook", "masto"},
        deliveries=rows,
        retracting=how,
    )


def apply(plan: Plan, ledger: dict[str, KnownPost], rows: list[Delivery]) -> None:
    """What the shell does with a plan, with every new delivery sent at once."""
    for k in plan.posts:
        ledger[k.post_id] = k
    rows[:] = [replace(d, state=SKIPPED) if d.id in plan.skip else d for d in rows]
    rows.extend(replace(d, state=SENT, attempts=1) for d in plan.new)


def sent(*posts: Post) -> tuple[dict[str, KnownPost], list[Delivery]]:
    """A ledger where these posts went to both targets."""
    ledger: dict[str, KnownPost] = {}
    rows: list[Delivery] = []
    apply(plan_at(NOW, list(posts), ledger, rows), ledger, rows)
    return ledger, rows


def deletions(plan: Plan) -> list[tuple[str, str]]:
    return [(d.post_id, d.target) for d in plan.new if d.event == "post.deleted"]


def test_a_post_gone_is_noticed_first_and_retracted_only_when_its_window_has_passed() -> None:
    p = post(1)
    ledger, rows = sent(p)
    first = plan_at(NOW, [], ledger, rows)
    assert first.new == [] and first.skip == {}
    assert [k.leaving for k in first.posts] == [((EVERY_TARGET, NOW),)] and not first.posts[0].deleted
    assert first.next_retraction == NOW + WINDOW
    apply(first, ledger, rows)
    assert plan_at(NOW + WINDOW - timedelta(seconds=1), [], ledger, rows).new == []
    due = plan_at(NOW + WINDOW, [], ledger, rows)
    assert deletions(due) == [(p.id, "hook"), (p.id, "masto")]
    assert [(k.deleted, k.leaving) for k in due.posts] == [(True, ())] and due.next_retraction is None


def test_a_post_back_inside_its_window_is_the_same_post_nothing_deleted_nor_posted_again() -> None:
    p = post(1)
    ledger, rows = sent(p)
    apply(plan_at(NOW, [], ledger, rows), ledger, rows)
    back = plan_at(NOW + timedelta(seconds=2), [p], ledger, rows)
    assert back.new == [] and back.skip == {}
    assert [k.leaving for k in back.posts] == [()]
    apply(back, ledger, rows)
    assert plan_at(NOW + 2 * WINDOW, [p], ledger, rows).new == []  # the old mark does not come due later


def test_a_post_back_with_a_new_title_inside_its_window_is_edited_not_reposted() -> None:
    p = post(1)
    ledger, rows = sent(p)
    apply(plan_at(NOW, [], ledger, rows), ledger, rows)
    back = plan_at(NOW + timedelta(seconds=2), [replace(p, revision="r2", title="New")], ledger, rows)
    assert [(d.target, d.event) for d in back.new] == [("hook", "post.updated"), ("masto", "post.updated")]
    assert [k.leaving for k in back.posts] == [()]


def test_unsent_deliveries_wait_inside_the_window_and_are_skipped_after_it() -> None:
    p, q = post(1), post(2)
    ledger, rows = sent(p)
    fresh = plan_at(NOW, [p, q], ledger, [])
    pending = [d for d in fresh.new if d.post_id == q.id]
    for k in fresh.posts:
        ledger[k.post_id] = k
    rows += pending  # q's deliveries recorded, not sent yet
    waiting = plan_at(NOW, [p], ledger, rows)
    assert waiting.skip == {} and waiting.new == []
    apply(waiting, ledger, rows)
    later = plan_at(NOW + WINDOW, [p], ledger, rows)
    assert set(later.skip) == {d.id for d in pending} and later.new == []


def test_no_window_retracts_at_once_as_before() -> None:
    p = post(1)
    ledger, rows = sent(p)
    plan = plan_at(NOW, [], ledger, rows, Retracting())
    assert deletions(plan) == [(p.id, "hook"), (p.id, "masto")] and plan.posts[0].deleted


def test_an_opt_out_of_one_target_waits_for_that_target_only() -> None:
    p = post(1)
    ledger, rows = sent(p)
    out = replace(p, syndicate=("hook",))  # left masto
    first = plan_at(NOW, [out], ledger, rows)
    assert first.new == [] and [k.leaving for k in first.posts] == [(("masto", NOW),)]
    apply(first, ledger, rows)
    due = plan_at(NOW + WINDOW, [out], ledger, rows)
    assert deletions(due) == [(p.id, "masto")] and [k.leaving for k in due.posts] == [()]
    apply(due, ledger, rows)
    assert plan_at(NOW + 3 * WINDOW, [out], ledger, rows).new == []  # once


def twelve() -> tuple[list[Post], dict[str, KnownPost], list[Delivery]]:
    posts = [post(n, published=NOW - timedelta(days=n)) for n in range(1, 13)]
    ledger, rows = sent(*posts)
    return posts, ledger, rows


def test_more_retractions_at_once_than_the_guard_allows_are_all_held_with_the_numbers() -> None:
    posts, ledger, rows = twelve()
    half = posts[:6]  # 6 gone of 12: more than max(5, 10 %)
    apply(plan_at(NOW, half, ledger, rows), ledger, rows)
    held = plan_at(NOW + WINDOW, half, ledger, rows)
    assert held.new == [] and held.skip == {}
    assert len({r.post_id for r in held.held}) == 6 and held.live_known == 12
    assert GUARD.limit(held.live_known) == 5
    assert not any(k.deleted for k in held.posts)


def test_the_users_word_lets_what_it_covers_go_once_and_not_what_is_noticed_later() -> None:
    posts, ledger, rows = twelve()
    apply(plan_at(NOW, posts[:6], ledger, rows), ledger, rows)  # 6 noticed at NOW
    word = NOW + WINDOW
    allowed = replace(GUARD, allowed_until=word)
    went = plan_at(NOW + WINDOW, posts[:6], ledger, rows, allowed)
    assert len(deletions(went)) == 12 and went.held == []  # 6 posts × 2 targets
    apply(went, ledger, rows)
    assert plan_at(NOW + 2 * WINDOW, posts[:6], ledger, rows, allowed).new == []  # never twice
    # the 6 left: gone after the word was given, so the guard holds them again
    apply(plan_at(word + timedelta(seconds=1), [], ledger, rows, allowed), ledger, rows)
    again = plan_at(word + WINDOW + timedelta(seconds=1), [], ledger, rows, allowed)
    assert again.new == [] and len({r.post_id for r in again.held}) == 6


def test_a_few_retractions_go_without_the_word() -> None:
    posts, ledger, rows = twelve()
    apply(plan_at(NOW, posts[:7], ledger, rows), ledger, rows)  # 5 gone of 12: the floor
    assert len(deletions(plan_at(NOW + WINDOW, posts[:7], ledger, rows))) == 10


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.booleans()), min_size=1, max_size=25))
def test_no_sequence_of_absences_deletes_before_the_window_or_twice(steps: list[tuple[int, bool]]) -> None:
    """Any sequence of runs, each `gap` seconds after the last, seeing the file present or not:
    a deletion comes only after the post was seen absent, run after run, for the whole window,
    and each life of the post is deleted at most once."""
    p = post(1)
    ledger, rows = sent(p)
    at = NOW
    absent_since: datetime | None = None
    for gap, present in steps:
        at += timedelta(seconds=gap)
        if present:
            absent_since = None
        elif absent_since is None:
            absent_since = at
        plan = plan_at(at, [p] if present else [], ledger, rows)
        if deletions(plan):
            assert absent_since is not None and at - absent_since >= WINDOW, (at, absent_since)
        apply(plan, ledger, rows)
        for target in ("hook", "masto"):
            mine = [d for d in rows if d.target == target]
            lives = sum(1 for d in mine if d.event == "post.published")
            gone = sum(1 for d in mine if d.event == "post.deleted")
            assert gone <= lives and lives - gone <= 1
    if steps[-1][1]:
        assert ledger[p.id].leaving == () and not ledger[p.id].deleted


def test_known_posts_without_the_field_read_as_not_leaving() -> None:
    assert known(post(1)).leaving == ()
