"""The daemon plans only the posts that may have something to plan (``IncrementalPosts``), and
its plan must be the one :func:`plan_posts` gives with every post: hypothesis writes sequences of
edits, files touched, removals, renames, drafts, opt-outs, scheduled and expiring posts, files
that cannot be read, posts whose HTML cannot be made, clock moves (back too), a target the ledger
learns, the user's word, and every delivery's outcome, and each run's two plans are compared."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from syndicate.core.model import Content, Post
from syndicate.core.planning import (
    DEAD,
    FAILED,
    OPEN_STATES,
    SENT,
    SKIPPED,
    Delivery,
    IncrementalPosts,
    KnownPost,
    Plan,
    Retracting,
    plan_posts,
)
from tests.test_planning import HOOK, MASTO, NOW, post

SLOTS = 8  # files; more than the guard's floor (5) can go at once
TARGETS = (HOOK, MASTO)
ACTIONS = st.sampled_from(
    [
        "edit",
        "touch",
        "remove",
        "restore",
        "rename",
        "draft",
        "opt-out",
        "opt-in",
        "schedule",
        "expire",
        "unreadable",
        "unrenderable",
        "remove-all",
        "tick",
        "back",
        "word",
        "learn-target",
    ]
)
OUTCOMES = st.sampled_from([SENT, SENT, FAILED, DEAD, "wait"])
SLOT = st.one_of(st.integers(0, 2), st.integers(0, SLOTS - 1))  # a few files often: actions meet


@dataclass
class Ledger:
    rows: dict[str, Delivery] = field(default_factory=dict)
    known: dict[str, KnownPost] = field(default_factory=dict)
    targets: set[str] = field(default_factory=lambda: {HOOK.name})  # masto is new to it at first


def _base(n: int) -> Post:
    return replace(post(n), published=NOW - timedelta(days=5, minutes=n))


def _normal(plan: Plan) -> tuple[object, ...]:
    """A plan without the order of its lists (the ledger does not keep one)."""
    return (
        sorted(plan.new, key=lambda d: d.id),
        sorted(plan.skip.items()),
        sorted(plan.promote),
        sorted(plan.posts, key=lambda k: k.post_id),
        sorted(plan.new_targets),
        sorted(plan.waiting, key=lambda r: (r.post_id, r.target)),
        sorted(plan.held, key=lambda r: (r.post_id, r.target)),
        plan.live_known,
    )


def _changed(p: Post, n: int, action: str, now: datetime, k: int) -> Post | None:
    """The slot's post after one action on its file."""
    if action == "edit":
        return replace(p, title=f"{p.title}+", revision=f"{p.revision}+", content=Content(html=f"<p>{k}</p>"))
    if action == "touch":  # the file saved as it was: a new object, the same post
        return replace(p, content=Content(html=p.content.html))
    if action == "rename":  # a new slug: a new URL and id
        url = f"https://e.com/{n}-{k}/"
        return replace(p, id=url, url=url)
    if action == "draft":
        return replace(p, draft=True)
    if action == "opt-out":
        return replace(p, syndicate=(HOOK.name,) if k % 2 else ())
    if action == "opt-in":
        return replace(p, syndicate=None, draft=False)
    if action == "schedule":
        return replace(p, published=now + timedelta(minutes=1 + k), updated=now + timedelta(minutes=1 + k))
    if action == "expire":
        return replace(p, expires=now + timedelta(minutes=k))
    if action == "unrenderable":
        content = Content(html="")
        content.fail("too slow")
        return replace(p, content=content)
    return p


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(steps=[(1, "unreadable", 0), (1, "remove", 0)], outcomes=[], window=0)  # gone once it can be read
@given(
    steps=st.lists(st.tuples(SLOT, ACTIONS, st.integers(0, 400)), min_size=1, max_size=30),
    outcomes=st.lists(OUTCOMES, max_size=120),
    window=st.sampled_from([0, 300]),
)
def test_planning_only_what_changed_gives_the_plan_of_every_post(
    steps: list[tuple[int, str, int]], outcomes: list[str], window: int
) -> None:
    world = Ledger()
    slots: dict[int, Post | None] = {n: _base(n) for n in range(SLOTS)}
    unreadable: set[int] = set()
    planner = IncrementalPosts()
    clock = timedelta(0)
    word: datetime | None = None
    for n, action, k in [(0, "none", 0), *steps]:
        now = NOW + clock
        p = slots[n]
        if action == "tick":
            clock += timedelta(minutes=k)
        elif action == "back":
            clock -= timedelta(minutes=k % 30)
        elif action == "word":
            word = now
        elif action == "learn-target":
            world.targets.add(MASTO.name)
        elif action == "remove":  # an unreadable file too: now it is gone
            slots[n], unreadable = None, unreadable - {n}
        elif action == "remove-all":
            slots = dict.fromkeys(slots)
        elif action == "unreadable":
            slots[n], unreadable = None, unreadable | {n}
        elif action == "restore":
            slots[n], unreadable = _base(n), unreadable - {n}
        elif p is not None:
            slots[n] = _changed(p, n, action, now, k)
        now = NOW + clock
        posts = [p for p in slots.values() if p is not None]
        # the shell: a post whose HTML cannot be made is dropped from the run, its file counted unreadable
        dropped = {p.id for p in posts if p.is_live(now) and p.content.failed}
        sources = {f"content/{n}.md" for n in unreadable} | {p.source for p in posts if p.id in dropped}
        how = Retracting(timedelta(seconds=window), 10, word)
        given = dict(
            now=now,
            snapshot=lambda p: "{}",
            unreadable_sources=sources,
            targets=TARGETS,
            known_targets=set(world.targets),
            retracting=how,
        )
        full = plan_posts(
            posts=[p for p in posts if p.id not in dropped],
            known=world.known,
            deliveries=list(world.rows.values()),
            **given,  # type: ignore[arg-type]
        )
        ids = planner.which(posts, now, (TARGETS, frozenset(world.targets), how))
        rows = [d for d in world.rows.values() if ids is None or d.post_id in ids]
        mine = planner.plan(ids, posts=posts, known=world.known, dropped=dropped, deliveries=rows, **given)
        assert _normal(mine) == _normal(full), (action, n, ids)
        # what the shell does with the plan: record it, remember the posts, then deliver
        for d in full.new:
            world.rows[d.id] = d
        for delivery_id in full.skip:
            world.rows[delivery_id] = replace(world.rows[delivery_id], state=SKIPPED)
        world.targets |= set(full.new_targets)
        before = {k.post_id: world.known.get(k.post_id) for k in full.posts}
        world.known.update((k.post_id, k) for k in full.posts)
        planner.recorded(mine, before, world.known, dropped)
        live = {p.id for p in posts if p.is_live(now) and p.id not in dropped}
        for d in sorted(world.rows.values(), key=lambda d: d.id):
            if d.state not in OPEN_STATES or (d.event != "post.deleted" and d.post_id not in live):
                continue
            outcome = outcomes.pop(0) if outcomes else SENT
            if outcome != "wait":
                world.rows[d.id] = replace(d, state=outcome, attempts=d.attempts + 1)  # type: ignore[arg-type]
