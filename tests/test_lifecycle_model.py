"""A post's life on social, as a model: hypothesis writes sequences of edits, body-only edits,
removals, drafts and restorations, with every delivery's outcome chosen at random (sent,
failed, or no answer — landed or not), and the pure planner plus a simulated network (that
behaves as the channels do: Mastodon edits in place, Bluesky reposts, deletions delete what
the ledger says was or may have been made) must end, once the network is reliable again,
with every live post holding exactly one copy per target with its latest text, and every
retracted post none."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.core.model import Content, Post, TargetSettings
from syndicate.core.planning import (
    FAILED,
    OPEN_STATES,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    Delivery,
    KnownPost,
    due,
    held,
    plan_posts,
    syndication_links,
)
from syndicate.core.social import social_digest
from tests.test_planning import NOW, post

MASTO = TargetSettings(name="masto", kind="mastodon", instance="http://m", token_env="T")
SKY = TargetSettings(name="sky", kind="bluesky", handle="a.test", password_env="P", on_edit="repost")
TARGETS = (MASTO, SKY)
POSTS = 3

ACTIONS = st.sampled_from(["edit", "body", "remove", "draft", "restore", "none"])
OUTCOMES = st.sampled_from(["sent", "sent", "sent", "failed", "lost-landed", "lost-not-landed"])


@dataclass
class World:
    """The ledger's rows, the posts the ledger remembers, and what each network holds."""

    rows: dict[str, Delivery] = field(default_factory=dict)
    known: dict[str, KnownPost] = field(default_factory=dict)
    remote: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # object → (post, target, digest)
    made_by: dict[str, str] = field(default_factory=dict)  # delivery id → the object its attempt made
    serial: int = 0

    def make(self, d: Delivery, digest: str) -> str:
        if d.id not in self.made_by:
            self.serial += 1
            self.made_by[d.id] = f"obj{self.serial}"
        self.remote[self.made_by[d.id]] = (d.post_id, d.target, digest)
        return self.made_by[d.id]


def run_once(world: World, posts: list[Post], outcomes: list[str], clock: int) -> None:
    """One `publish`: plan, record, then try every due delivery with the outcome given."""
    now = NOW + timedelta(minutes=clock)
    plan = plan_posts(
        now=now,
        posts=posts,
        snapshot=lambda p: "{}",
        unreadable_sources=set(),
        known=world.known,
        targets=TARGETS,
        known_targets={t.name for t in TARGETS},
        deliveries=list(world.rows.values()),
    )
    for d in plan.new:
        world.rows[d.id] = d
    for delivery_id in plan.skip:
        world.rows[delivery_id] = replace(world.rows[delivery_id], state=SKIPPED)
    for k in plan.posts:
        world.known[k.post_id] = k
    live = {p.id: p for p in posts if p.is_live(now)}
    target_of = {t.name: t for t in TARGETS}
    for d in due([r for r in world.rows.values() if r.state in OPEN_STATES], now + timedelta(days=365)):
        outcome = outcomes.pop(0) if outcomes else "sent"
        target = target_of[d.target]
        p = live.get(d.post_id)
        if d.event != "post.deleted" and p is None:
            continue  # not live now: waits (as publish does)
        d = replace(d, attempts=d.attempts + 1, state=SENDING)
        world.rows[d.id] = d
        if outcome in ("failed", "lost-not-landed"):
            world.rows[d.id] = replace(d, state=FAILED if outcome == "failed" else SENDING)
            continue
        earlier = held(world.rows.values(), d)
        remote_id = _apply(world, d, target, p, earlier)
        world.rows[d.id] = replace(d, state=SENT, remote_id=remote_id, remote_url=remote_id) if outcome == "sent" else d


def _apply(world: World, d: Delivery, target: TargetSettings, p: Post | None, earlier: list[Delivery]) -> str | None:
    """What the network does for one attempt, as the channels ask it."""
    made = [world.made_by[r.id] for r in earlier if r.id in world.made_by]
    if d.event == "post.deleted":
        for obj in made:
            world.remote.pop(obj, None)
        return None
    assert p is not None
    digest = social_digest(p, target)
    if d.event == "post.updated" and target.edits == "update":
        status = next((r for r in earlier if r.event == "post.published" and r.id in world.made_by), None)
        if status is None or world.made_by[status.id] not in world.remote:
            return None
        world.remote[world.made_by[status.id]] = (d.post_id, d.target, digest)  # PUT: same id
        world.made_by[d.id] = world.made_by[status.id]
        return world.made_by[status.id]
    obj = world.make(d, digest)  # a new status or record (or the one this delivery's earlier attempt made)
    if d.event == "post.updated":  # a Bluesky repost: the old records go
        for old in made:
            if old != obj:
                world.remote.pop(old, None)
    elif target.edits == "update" or target.edits == "repost":
        world.remote[obj] = (d.post_id, d.target, digest)  # found by the retry: brought up to date
    return obj


def base(n: int) -> Post:
    return replace(post(n), published=NOW - timedelta(days=5), content=Content(html="<p>x</p>", summary="s"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.tuples(st.integers(0, POSTS - 1), ACTIONS), min_size=1, max_size=12),
    outcomes=st.lists(OUTCOMES, max_size=80),
)
def test_every_live_post_ends_with_one_copy_with_its_latest_text_and_a_retracted_one_with_none(
    steps: list[tuple[int, str]], outcomes: list[str]
) -> None:
    world = World()
    current: dict[int, Post | None] = {n: base(n) for n in range(POSTS)}
    edits: dict[int, int] = dict.fromkeys(range(POSTS), 0)
    clock = 0
    run_once(world, [p for p in current.values() if p], [], clock)  # the first run: sent at once
    for n, action in steps:
        p = current[n]
        if action == "edit" and p is not None:
            edits[n] += 1
            current[n] = replace(p, title=f"Post {n} edit {edits[n]}", revision=f"r{n}.{edits[n]}.{clock}")
        elif action == "body" and p is not None:
            current[n] = replace(p, revision=p.revision + "b")
        elif action == "remove":
            current[n] = None
        elif action == "draft" and p is not None:
            current[n] = replace(p, draft=True, revision=p.revision + "d")
        elif action == "restore":
            current[n] = replace(base(n), title=f"Post {n} edit {edits[n]}", revision=f"r{n}.{edits[n]}.back{clock}")
        clock += 1
        run_once(world, [q for q in current.values() if q], outcomes, clock)
    for _ in range(4):  # the network is reliable again
        clock += 1
        run_once(world, [q for q in current.values() if q], [], clock)
    for n, p in current.items():
        for target in TARGETS:
            copies = [
                digest
                for (post_id, name, digest) in world.remote.values()
                if post_id == f"https://e.com/{n}/" and name == target.name
            ]
            if p is None or p.draft:
                assert copies == [], (n, target.name, "a retracted post still has a copy")
            else:
                assert copies == [social_digest(p, target)], (n, target.name, copies)
    links = syndication_links(world.rows.values())
    for n, p in current.items():
        there = dict(links.get(f"https://e.com/{n}/", ()))
        if p is None or p.draft:
            assert there == {}
        else:
            assert set(there) == {"masto", "sky"} and all(url in world.remote for url in there.values())
    assert not [r for r in world.rows.values() if r.state == PENDING]
