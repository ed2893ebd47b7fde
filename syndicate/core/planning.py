"""What must be delivered where, and when to try again. Pure: ``now`` and the ledger's rows in,
decisions out; the store only saves them.

A delivery is one (post, target, event[, revision]) with a stable id: the webhook-id, the
Mastodon Idempotency-Key and the seed of the Bluesky record key. States::

    pending ─► sending ─► sent
       ▲          │
       └─ failed ◄┤ (retryable, attempts left; next_attempt_at set)
                  ├► dead (permanent error, or attempts used up; reason kept)
                  └► held (the outcome was lost on a target that cannot look: waits for the user's word)

    baseline   published before the target was first seen: never sent (no flood)
    skipped    superseded by a newer edit, or the post was removed before delivery

A retraction waits a grace window (``[delivery] delete_after``) before it is carried out: it is
first *noticed* (the time is kept with the known post, its ``leaving`` marks: ``"*"`` for the
whole post, a target's name for an opt-out of that target) and carried out by a run at or after
that time + the window. A post back within the window loses its mark: nothing was skipped or
deleted. When more retractions come due at once than a small share of the live posts (a branch
switched, a folder not mounted), none is carried out until the user says so (the *guard*).

A post's *life* on a target runs from its ``post.published`` to the retraction that ends it: a
``post.deleted`` (the target was told, or its status or record deleted) or a ``post.published``
skipped before it went out. A post that comes back after its life ended is a new post there,
published again (a new life: the revision ``life:N``). Social edits are ``post.updated`` rows
keyed ``"<life>/<n>/<digest>"``: the n-th edit of the post on that target, to the social text
with that digest (:func:`syndicate.core.social.social_digest`).
"""

from __future__ import annotations

import enum
import random
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import compress
from operator import is_not
from typing import Any

from ..errors import Failure
from .mentions import MENTION_SEP, mention_link, post_links
from .model import MAX_RETRY_DELAY, DeliverySettings, Links, Post, TargetSettings
from .social import social_digest


class DeliveryState(enum.StrEnum):
    """Where one delivery stands; stored as its value. The life of a delivery:

    pending → sending → sent | failed → (sending …) | dead | held;  baseline (recorded, never
    sent; a backfill makes it pending);  skipped (a preview's answer, never stored).
    ``sending`` is kept across a crash: the next run reconciles it under the same remote key,
    or, on a target that gives no key and cannot be read back (``TargetSettings.blind``), holds
    it: ``held`` is never due; `syndicate retry --post` makes it pending (the user's word)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    BASELINE = "baseline"
    SKIPPED = "skipped"
    HELD = "held"


PENDING, SENDING, SENT, FAILED, DEAD, BASELINE, SKIPPED, HELD = DeliveryState  # short names, same members
OPEN_STATES = frozenset({PENDING, SENDING, FAILED})
UNKNOWN_OUTCOME_WAIT = 60  # seconds at least before retrying a request that got no answer (it may still land)
WEBSUB_PREFIX = "websub:"
FEED_EVENT = "feed.updated"
MENTION_EVENT = "webmention"  # one per (version of a post, link): revision "<version>\x1f<link>"


def _mention_version(revision: str) -> str:
    return revision.split(MENTION_SEP, 1)[0]


def tells_gone(d: Delivery) -> bool:
    """Does this delivery say the post went away (made from the ledger's snapshot of it, not the post)?"""
    return d.event == "post.deleted" or (d.event == MENTION_EVENT and d.revision.startswith("gone:"))


@dataclass(frozen=True)
class Delivery:
    """One row of the ledger."""

    id: str
    post_id: str
    target: str
    event: str
    revision: str
    state: DeliveryState
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    updated_at: datetime | None = None
    key_seq: int | None = None  # a number unique per target, given by the ledger at the first attempt (Bluesky rkey)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.post_id, self.target, self.event, self.revision)

    @property
    def life(self) -> int:
        """Which life of the post on its target this row belongs to (see the module docstring)."""
        if self.revision.startswith("life:") and self.revision[5:].isdigit():
            return int(self.revision[5:])
        if self.event == "post.updated" and (edit := edit_of(self.revision)) is not None:
            return edit[0]
        return 0

    @property
    def may_have_landed(self) -> bool:
        """Sent, or tried with an outcome that may have been a success."""
        return self.state == SENT or (self.attempts > 0 and self.state in (SENDING, FAILED, DEAD, SKIPPED, HELD))


def life_tag(life: int) -> str:
    """The revision of a life's ``post.published`` (and of a later life's ``post.deleted``)."""
    return "" if life == 0 else f"life:{life}"


def edit_of(revision: str) -> tuple[int, int, str] | None:
    """(life, n, digest) of a social edit's revision, None for any other revision."""
    parts = revision.split("/")
    if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
        return int(parts[0]), int(parts[1]), parts[2]
    return None


@dataclass(frozen=True)
class KnownPost:
    """What the ledger remembers of a post, to notice edits and removals."""

    post_id: str
    source: str
    url: str
    title: str
    revision: str
    snapshot: str  # the post as a JSON Feed item (JSON text), for post.deleted
    deleted: bool = False  # retracted: its file removed, or made a draft
    published: datetime | None = None  # its date when last seen (None in ledgers older than this field)
    social: tuple[tuple[str, str], ...] = ()  # social target → digest of the post's text there, when last seen
    leaving: tuple[tuple[str, datetime], ...] = ()  # "*" (the whole post) or a target → when it was seen leaving

    def social_digest(self, target: str) -> str | None:
        return next((d for name, d in self.social if name == target), None)


EVERY_TARGET = "*"  # the leaving mark of a whole post (its file gone, a draft, expired)
GUARD_FLOOR = 5  # a run may always retract this many posts without the user's word


@dataclass(frozen=True)
class Retraction:
    """A retraction noticed and not carried out (yet): the post left every target or one."""

    post_id: str
    title: str
    url: str
    target: str  # a target's name, or EVERY_TARGET
    due: datetime  # noticed + delete_after


@dataclass(frozen=True)
class Retracting:
    """How planning treats retractions: the grace window, the guard (the largest share of the
    live posts, in percent, that one run retracts without the user's word; None: no guard) and the
    user's word (every retraction noticed at or before this time may go)."""

    delete_after: timedelta = timedelta(0)
    guard_percent: int | None = None
    allowed_until: datetime | None = None

    def limit(self, live: int) -> int | None:
        """How many posts one run may retract without the user's word (None: any number)."""
        return None if self.guard_percent is None else max(GUARD_FLOOR, live * self.guard_percent // 100)


@dataclass
class Plan:
    """What one run must record before sending anything: new deliveries, deliveries to skip (with
    why), baseline rows a backfill promotes, posts to remember, targets seen for the first time."""

    new: list[Delivery] = field(default_factory=list)
    skip: dict[str, str] = field(default_factory=dict)  # delivery id → why
    promote: list[str] = field(default_factory=list)  # baseline ids a backfill sends after all
    posts: list[KnownPost] = field(default_factory=list)  # to upsert
    new_targets: list[str] = field(default_factory=list)
    waiting: list[Retraction] = field(default_factory=list)  # noticed, inside their window
    held: list[Retraction] = field(default_factory=list)  # due, but held by the guard (too many at once)
    live_known: int = 0  # posts the ledger knows live (not retracted): what the guard's share is of

    @property
    def next_retraction(self) -> datetime | None:
        """When the earliest retraction still waiting comes due (held ones wait for the user)."""
        return min((r.due for r in self.waiting), default=None)


def delivery_id(post_id: str, target: str, event: str, revision: str = "") -> str:
    """Stable across runs and retries: "msg_" + a UUID5 of what the delivery is."""
    return "msg_" + uuid.uuid5(uuid.NAMESPACE_URL, f"{post_id}\x1f{target}\x1f{event}\x1f{revision}").hex


def _new(
    post_id: str, target: str, event: str, revision: str, now: datetime, state: DeliveryState = PENDING
) -> Delivery:
    return Delivery(
        id=delivery_id(post_id, target, event, revision),
        post_id=post_id,
        target=target,
        event=event,
        revision=revision,
        state=state,
        created_at=now,
        next_attempt_at=now if state == PENDING else None,
        updated_at=now,
    )


def plan_posts(
    *,
    now: datetime,
    posts: Sequence[Post],
    snapshot: Callable[[Post], str],
    unreadable_sources: set[str],
    known: Mapping[str, KnownPost],
    targets: Sequence[TargetSettings],
    known_targets: set[str],
    deliveries: Iterable[Delivery],
    backfill: bool = False,
    since: datetime | None = None,
    only: tuple[str | None, str | None] = (None, None),
    at: datetime | None = None,
    social: Callable[[Post], tuple[tuple[str, str], ...]] | None = None,
    retracting: Retracting | None = None,
    live_known: int | None = None,
    links: Callable[[Post], tuple[str, ...]] | None = None,
) -> Plan:
    """Decide the new deliveries for ``posts`` (every accepted post: live, draft or scheduled).

    ``now`` decides which posts are live; ``at`` (default ``now``) is the real time that new
    rows are stamped with and due from, and that retraction windows are measured in.

    - A target seen for the first time gets the posts already published as *baseline*
      (recorded, not sent). ``backfill`` sends them after all (those published at or after
      ``since``, if given), now or on any later run; ``only`` (a post id, a target name) narrows
      it to one post or one target, as ``--post`` and ``--target`` narrow a run.
    - A live post with no ``post.published`` row for a target is new there.
    - A known post whose revision changed gets ``post.updated`` for webhook targets that
      asked for it, once its ``post.published`` was sent; older unsent updates are skipped.
      A social target that edits (``on_edit``) gets one when the post's social text changed
      (``social``: its digests per target; a body-only edit changes none).
    - A known post is *retracted* by its content: its file removed, made a draft, opted out
      of a target (``syndicate:``), or past its expiry date. The retraction is noticed first
      and carried out once ``retracting.delete_after`` has passed since (at once with no
      window), unless the guard holds it: then its unsent deliveries are skipped, and
      ``post.deleted`` goes where ``post.published`` was really sent (not to baseline rows),
      or, on a social target that deletes, wherever a status or record may have been made. A
      post back before that is left as it was. A post whose file could not be read this time
      is not treated as removed, and a known post dated after ``now`` (a clock stepped back)
      stays as it is.
    - A post that comes back after its life on a target ended is published there again.

    ``live_known`` (see :class:`IncrementalPosts`): how many posts the whole ledger knows live,
    when ``known`` holds only some of them.

    A webmention target gets one delivery per (version of the post, link) for a post that is
    new or edited (``links``: the pages a post links to; by default read from its HTML): the
    links it has now and every link an earlier version may have told (a removed link hears the
    post no longer links to it), and once more for each of those when the post is retracted.
    Posts published before the target was first seen are told nothing until they change.
    """
    plan = Plan()
    ledger = _Ledger(deliveries)
    live = [p for p in posts if p.is_live(now)]
    stamp = at or now
    present = {p.id: p for p in posts}
    plan.new_targets = [t.name for t in targets if t.name not in known_targets]
    socials = [t for t in targets if t.social]
    digests = social or (lambda p: tuple((t.name, social_digest(p, t)) for t in socials))
    remember: dict[str, KnownPost] = {}
    for post in live:
        back = backfill and (since is None or post.published >= since) and only[0] in (None, post.id)
        for target in targets:
            _plan_published(plan, ledger, post, target, stamp, back and only[1] in (None, target.name))
        before = known.get(post.id)
        if before is None or before.deleted or before.revision != post.revision:
            for target in targets:
                if target.kind == "webmention" and (target.name not in plan.new_targets or back):
                    _plan_mentions(plan, ledger, post, target, stamp, links)
            now_digests = digests(post) if socials else ()
            if before is not None and not before.deleted:
                for target in targets:
                    _plan_updated(plan, ledger, post, target, stamp)
                for name, digest in now_digests:
                    target = next(t for t in socials if t.name == name)
                    _plan_edit(plan, ledger, post, target, stamp, before.social_digest(name), digest)
            remember[post.id] = KnownPost(
                post.id,
                post.source,
                post.url,
                post.title,
                post.revision,
                snapshot(post),
                published=post.published,
                social=now_digests,
            )
    plan.live_known = sum(1 for k in known.values() if not k.deleted) if live_known is None else live_known
    _plan_retractions(plan, ledger, remember, known, present, unreadable_sources, targets, now, stamp, retracting)
    plan.posts = list(remember.values())
    return plan


def _plan_retractions(
    plan: Plan,
    ledger: _Ledger,
    remember: dict[str, KnownPost],
    known: Mapping[str, KnownPost],
    present: Mapping[str, Post],
    unreadable_sources: set[str],
    targets: Sequence[TargetSettings],
    now: datetime,
    stamp: datetime,
    retracting: Retracting | None,
) -> None:
    """Notice posts leaving (or back), and carry out the retractions whose window has passed,
    unless they are more at once than the guard lets through without the user's word."""
    how = retracting or Retracting()
    due: list[tuple[KnownPost, str, datetime]] = []  # (post, EVERY_TARGET or a target, noticed)
    for before in known.values():
        if before.deleted:
            continue
        still = present.get(before.post_id)
        if still is None and before.source in unreadable_sources:
            continue  # a typo in the file is not a removal
        marks = dict(before.leaving)
        if still is None or still.draft or still.is_expired(now):
            keys = [EVERY_TARGET]
            marks.setdefault(EVERY_TARGET, stamp)
        else:  # it is here: only the targets it left, where there is something to retract
            keys = [t.name for t in targets if not still.goes_to(t.name) and _retracts(ledger, before, t)]
            marks = {key: marks.get(key, stamp) for key in keys}
        if marks != dict(before.leaving):
            remember[before.post_id] = replace(
                remember.get(before.post_id, before), leaving=tuple(sorted(marks.items()))
            )
        for key in keys:
            when = marks[key] + how.delete_after
            if stamp >= when:
                due.append((before, key, marks[key]))
            else:
                plan.waiting.append(Retraction(before.post_id, before.title, before.url, key, when))
    word = how.allowed_until
    unasked = [(b, key, at) for b, key, at in due if word is None or at > word]
    telling = {b.post_id for b, key, _ in unasked if any(_tells(ledger, b, t) for t in _of(targets, key))}
    limit = how.limit(plan.live_known)
    if limit is not None and len(telling) > limit:
        plan.held = [  # the ones that would delete or tell; the rest wait with them, unsaid
            Retraction(b.post_id, b.title, b.url, key, at + how.delete_after)
            for b, key, at in unasked
            if b.post_id in telling
        ]
        held = {(b.post_id, key) for b, key, _ in unasked}
        due = [(b, key, at) for b, key, at in due if (b.post_id, key) not in held]
    for before, key, _at in due:
        for target in _of(targets, key):
            _plan_retraction(plan, ledger, before, target, stamp)
        base = remember.get(before.post_id, before)
        if key == EVERY_TARGET:
            remember[before.post_id] = replace(base, deleted=True, leaving=())
        else:
            rest = tuple((k, at) for k, at in base.leaving if k != key)
            remember[before.post_id] = replace(base, leaving=rest)


def _of(targets: Sequence[TargetSettings], key: str) -> list[TargetSettings]:
    return [t for t in targets if key in (EVERY_TARGET, t.name)]


class _Ledger:
    """The ledger's rows as planning looks them up: by key, and the open ones by (post, target)."""

    def __init__(self, deliveries: Iterable[Delivery]) -> None:
        self.by_key: dict[tuple[str, str, str, str], Delivery] = {}
        self.open: dict[tuple[str, str], list[Delivery]] = {}
        self.rows: dict[tuple[str, str], list[Delivery]] = {}  # every row of (post, target) but webhook updates
        for d in deliveries:
            self.add(d)

    def add(self, d: Delivery) -> None:
        self.by_key[d.key] = d
        if d.state in OPEN_STATES:
            self.open.setdefault((d.post_id, d.target), []).append(d)
        if d.event != "post.updated" or edit_of(d.revision) is not None:
            self.rows.setdefault((d.post_id, d.target), []).append(d)

    def current(self, post_id: str, target: str) -> tuple[int, Delivery | None]:
        """The latest life of a post on a target and its ``post.published`` row (None: never planned)."""
        published = [d for d in self.rows.get((post_id, target), []) if d.event == "post.published"]
        if not published:
            return 0, None
        row = max(published, key=lambda d: d.life)
        return row.life, row

    def ended(self, post_id: str, target: str, life: int) -> bool:
        """Was this life retracted: its ``post.published`` skipped, or a ``post.deleted`` planned?"""
        for d in self.rows.get((post_id, target), []):
            if d.life == life and (d.event == "post.deleted" or (d.event == "post.published" and d.state == SKIPPED)):
                return True
        return False

    def edits(self, post_id: str, target: str) -> list[Delivery]:
        """The social edits of a post on a target, in the order they were planned."""
        rows = [d for d in self.rows.get((post_id, target), []) if d.event == "post.updated"]
        return sorted(rows, key=lambda d: (edit_of(d.revision) or (0, 0, ""))[1])

    def may_hold(self, post_id: str, target: str, life: int) -> bool:
        """May this life of the post have made a status or record (sent, or an outcome never learned)?"""
        rows = self.rows.get((post_id, target), [])
        return any(d.life == life and d.event != "post.deleted" and d.may_have_landed for d in rows)


def _plan_published(
    plan: Plan, ledger: _Ledger, post: Post, target: TargetSettings, now: datetime, wanted: bool
) -> None:
    if "post.published" not in target.events or not post.goes_to(target.name) or target.kind == "webmention":
        return
    life, existing = ledger.current(post.id, target.name)
    if existing is None:
        state = BASELINE if target.name in plan.new_targets and not wanted else PENDING
        d = _new(post.id, target.name, "post.published", "", now, state)
        plan.new.append(d)
        ledger.add(d)
    elif ledger.ended(post.id, target.name, life):  # it came back: a new post there
        d = _new(post.id, target.name, "post.published", life_tag(life + 1), now)
        plan.new.append(d)
        ledger.add(d)
    elif existing.state == BASELINE and wanted:
        plan.promote.append(existing.id)


def _plan_updated(plan: Plan, ledger: _Ledger, post: Post, target: TargetSettings, now: datetime) -> None:
    if target.kind != "webhook" or "post.updated" not in target.events or not post.goes_to(target.name):
        return
    _life, published = ledger.current(post.id, target.name)
    if published is None or published.state not in (SENT, BASELINE):
        return  # the pending post.published will carry the latest text
    for old in ledger.open.get((post.id, target.name), []):
        if old.event == "post.updated":
            plan.skip[old.id] = "superseded by a newer edit"
    key = (post.id, target.name, "post.updated", post.revision)
    if key not in ledger.by_key:
        d = _new(post.id, target.name, "post.updated", post.revision, now)
        plan.new.append(d)
        ledger.add(d)


def _plan_edit(
    plan: Plan,
    ledger: _Ledger,
    post: Post,
    target: TargetSettings,
    now: datetime,
    before: str | None,
    digest: str,
) -> None:
    """The post's social text changed: edit (or repost) what the target holds, once per text.

    Only a sent status is edited (a pending ``post.published`` carries the latest text); an
    older edit not yet sent is skipped (quick edits collapse into the last); an edit already
    planned for this text (a run killed before it remembered the post) is not planned twice."""
    if target.edits == "ignore" or not post.goes_to(target.name) or before is None or before == digest:
        return
    life, published = ledger.current(post.id, target.name)
    if published is None or published.state != SENT or ledger.ended(post.id, target.name, life):
        return
    edits = ledger.edits(post.id, target.name)
    latest = edit_of(edits[-1].revision) if edits else None
    if latest is not None and latest[0] == life and latest[2] == digest:
        return
    for old in ledger.open.get((post.id, target.name), []):
        if old.event == "post.updated":
            plan.skip[old.id] = "superseded by a newer edit"
    n = (latest[1] + 1) if latest is not None else 1
    d = _new(post.id, target.name, "post.updated", f"{life}/{n}/{digest}", now)
    plan.new.append(d)
    ledger.add(d)


def _mentioned(ledger: _Ledger, post_id: str, target: str) -> tuple[int, list[str]]:
    """(how many times the post's webmentions were retracted, the links its current life may have
    told: those of its webmentions sent or tried), in the order they were planned."""
    rows = [d for d in ledger.rows.get((post_id, target), []) if d.event == MENTION_EVENT]
    lives = len({_mention_version(d.revision) for d in rows if d.revision.startswith("gone:")})
    prefix = f"{lives}:"
    told = [mention_link(d.revision) for d in rows if d.revision.startswith(prefix) and d.may_have_landed]
    return lives, list(dict.fromkeys(told))


def _plan_mentions(
    plan: Plan,
    ledger: _Ledger,
    post: Post,
    target: TargetSettings,
    now: datetime,
    links: Callable[[Post], tuple[str, ...]] | None,
) -> None:
    """A new or edited post: a webmention to each link it has, and to each link an earlier version
    told (added, kept and removed links alike); older ones not yet sent are superseded."""
    if not post.goes_to(target.name):
        return
    lives, told = _mentioned(ledger, post.id, target.name)
    version = f"{lives}:{post.revision}"
    for old in ledger.open.get((post.id, target.name), []):
        if old.event == MENTION_EVENT and _mention_version(old.revision) != version:
            plan.skip[old.id] = "superseded by a newer version of the post"
    now_links = links(post) if links is not None else _post_links(post)
    for link in dict.fromkeys([*now_links, *told]):
        _add_mention(plan, ledger, post.id, target, now, version, link)


def _post_links(post: Post) -> tuple[str, ...]:
    return post_links(post.content_html, post.url)


def _add_mention(
    plan: Plan, ledger: _Ledger, post_id: str, target: TargetSettings, now: datetime, version: str, link: str
) -> None:
    revision = f"{version}{MENTION_SEP}{link}"
    if (post_id, target.name, MENTION_EVENT, revision) not in ledger.by_key:
        d = _new(post_id, target.name, MENTION_EVENT, revision, now)
        plan.new.append(d)
        ledger.add(d)


def _retraction(ledger: _Ledger, gone: KnownPost, target: TargetSettings) -> tuple[list[Delivery], bool]:
    """What retracting the post from this target does: the unsent deliveries it skips, and
    whether a ``post.deleted`` goes there (a webhook that asked for it and got the post, or a
    social target that deletes and may hold a status or record of this life)."""
    skips = [old for old in ledger.open.get((gone.post_id, target.name), []) if old.event != "post.deleted"]
    skips += [d for d in ledger.rows.get((gone.post_id, target.name), []) if d.state == HELD]  # never sent now
    if target.kind == "webmention":
        lives, told = _mentioned(ledger, gone.post_id, target.name)
        gone_version = f"gone:{lives}:{gone.revision}"
        rows = ledger.rows.get((gone.post_id, target.name), [])
        planned = any(d.event == MENTION_EVENT and _mention_version(d.revision) == gone_version for d in rows)
        return skips, bool(told) and not planned
    life, published = ledger.current(gone.post_id, target.name)
    if published is None or ledger.ended(gone.post_id, target.name, life):
        return skips, False
    if target.social:
        if not target.deletes or not ledger.may_hold(gone.post_id, target.name, life):
            return skips, False
    elif "post.deleted" not in target.events or not ledger.may_hold(gone.post_id, target.name, life):
        return skips, False  # the target never got it: nothing to retract (a lost answer: it may have)
    return skips, _deleted_key(gone, target, life) not in ledger.by_key


def _deleted_key(gone: KnownPost, target: TargetSettings, life: int) -> tuple[str, str, str, str]:
    revision = gone.revision if life == 0 else life_tag(life)
    return (gone.post_id, target.name, "post.deleted", revision)


def _tells(ledger: _Ledger, gone: KnownPost, target: TargetSettings) -> bool:
    """Would retracting the post from this target tell it or delete something there?"""
    return _retraction(ledger, gone, target)[1]


def _retracts(ledger: _Ledger, gone: KnownPost, target: TargetSettings) -> bool:
    """Is there anything to retract on this target (an unsent delivery, or something to tell)?"""
    skips, tells = _retraction(ledger, gone, target)
    return bool(skips) or tells


def _plan_retraction(plan: Plan, ledger: _Ledger, gone: KnownPost, target: TargetSettings, now: datetime) -> None:
    """The post left this target: nothing unsent goes out, and a target that got it hears it
    went (a webhook that asked for ``post.deleted``) or loses what was made there (a social
    target that deletes: every status or record this life may have made)."""
    skips, tells = _retraction(ledger, gone, target)
    for old in skips:
        plan.skip[old.id] = "the post was removed before delivery"
    if tells and target.kind == "webmention":
        lives, told = _mentioned(ledger, gone.post_id, target.name)
        for link in told:
            _add_mention(plan, ledger, gone.post_id, target, now, f"gone:{lives}:{gone.revision}", link)
    elif tells:
        _post_id, _target, event, revision = _deleted_key(gone, target, ledger.current(gone.post_id, target.name)[0])
        d = _new(gone.post_id, target.name, event, revision, now)
        plan.new.append(d)
        ledger.add(d)


class IncrementalPosts:
    """:func:`plan_posts` for the process that holds the ledger from run to run (the daemon): a run
    plans only the posts that may have something to plan, and gets the plan that a call with every
    post would give (a hypothesis test compares the two over sequences of edits, removals, drafts,
    opt-outs, scheduled posts, outcomes and clock moves).

    A post is planned again when its object changed (added, edited, removed: the loader hands back
    the same object for an unchanged file), while it waits out a retraction window or is held by
    the guard (its ``leaving`` marks), while it is gone but not retracted (its file unreadable), and
    while its HTML cannot be made. Any other post planned nothing the last time and plans nothing
    now, as long as what that depended on is the same: ``inputs`` (the targets, the targets the
    ledger knows, how retractions are treated), which posts are live (the clock has not passed a
    post's date or expiry since), and the ledger, which no other process wrote to (the caller then
    starts a new one). Otherwise every post is planned.

    Use: ``ids = which(posts, now, inputs)`` (None: every post), :meth:`live` and :meth:`plan` with
    those ids, and :meth:`recorded` once the plan is in the ledger. A run that does not get there
    (it failed) makes the next one plan every post.
    """

    FULL_ABOVE = 2000  # posts to plan at once beyond which reading every row of the ledger is as cheap

    def __init__(self) -> None:
        self._given: list[Post] = []  # the posts of the last call, in the order given
        self._by_id: dict[str, Post] = {}
        self._inputs: object = None
        self._since: datetime | None = None  # ``now`` of the last recorded run; None: plan every post
        self._until: datetime | None = None  # the earliest moment after it at which a post's liveness changes
        self._watch: set[str] = set()  # posts planned on every run
        self._ids: set[str] | None = None  # what this run plans (None: every post)
        self._new: list[Post] = []  # the posts this run found new
        self._now: datetime | None = None
        self.live_known = 0  # posts the ledger knows live (not retracted), as of the last recorded run

    def which(self, posts: Sequence[Post], now: datetime, inputs: object) -> set[str] | None:
        """The ids of the posts this run must plan, or None: every post."""
        since, until = self._since, self._until
        self._since = None  # until :meth:`recorded`
        changed = None
        if since is not None and inputs == self._inputs and since <= now and (until is None or now < until):
            changed = _changed(self._given, posts, self._by_id, self.FULL_ABOVE)
        self._given, self._inputs, self._now = list(posts), inputs, now
        if changed is not None:
            gone, new = changed
            for p in gone:
                if self._by_id.get(p.id) is p:
                    del self._by_id[p.id]
            self._by_id.update((p.id, p) for p in new)
            ids = {p.id for p in gone} | {p.id for p in new} | self._watch
            if len(ids) <= self.FULL_ABOVE:
                self._ids, self._new = ids, new
                return ids
        self._by_id = {p.id: p for p in posts}
        self._ids, self._new = None, list(posts)
        return None

    def live(self, ids: Iterable[str], now: datetime) -> dict[str, Post]:
        """The live posts among these ids."""
        return {i: p for i in ids if (p := self._by_id.get(i)) is not None and p.is_live(now)}

    def plan(
        self,
        ids: set[str] | None,
        *,
        posts: Sequence[Post],
        known: Mapping[str, KnownPost],
        dropped: Collection[str] = (),
        **given: Any,
    ) -> Plan:
        """:func:`plan_posts` of every post (``ids`` None), or of these posts only, with the rows of
        the ledger that are theirs (``deliveries``); ``dropped``: posts taken out of this run
        (their HTML could not be made)."""
        if ids is None:
            every = [p for p in posts if p.id not in dropped] if dropped else posts
            return plan_posts(posts=every, known=known, **given)
        ordered = sorted(ids)
        mine = [p for i in ordered if (p := self._by_id.get(i)) is not None and i not in dropped]
        theirs = {i: known[i] for i in ordered if i in known}
        return plan_posts(posts=mine, known=theirs, live_known=self.live_known, **given)

    def recorded(
        self,
        plan: Plan,
        before: Mapping[str, KnownPost | None],
        known: Mapping[str, KnownPost],
        dropped: Collection[str] = (),
    ) -> None:
        """The plan is in the ledger: ``known`` is what the ledger now knows of the posts, ``before``
        what it knew of ``plan.posts`` before; ``dropped``: posts whose HTML could not be made."""
        now, ids = self._now, self._ids
        assert now is not None
        if ids is None:
            self.live_known = sum(1 for k in known.values() if not k.deleted)
            self._until = min((t for p in self._given if (t := p.next_change(now)) is not None), default=None)
            candidates: Iterable[str] = known.keys()
        else:
            for k in plan.posts:
                old, new = before.get(k.post_id), known.get(k.post_id)
                self.live_known += (new is not None and not new.deleted) - (old is not None and not old.deleted)
            later = [t for p in self._new if (t := p.next_change(now)) is not None]
            if later:
                self._until = min(later) if self._until is None else min(self._until, *later)
            candidates = ids  # the watched posts among them
        dropped = set(dropped)
        self._watch = {i for i in [*candidates, *dropped] if self._again(i, known.get(i), dropped)}
        self._since, self._ids, self._new = now, None, []

    def _again(self, post_id: str, known: KnownPost | None, dropped: set[str]) -> bool:
        """Must this post be planned on every run until something changes?"""
        post = self._by_id.get(post_id)
        if post_id in dropped or (post is not None and post.content.failed):
            return True  # its HTML cannot be made: every run drops it again
        if known is None or known.deleted:
            return False
        return bool(known.leaving) or post is None  # waiting, held, or gone but not retracted


def _changed(
    given: list[Post], posts: Sequence[Post], by_id: Mapping[str, Post], limit: int
) -> tuple[list[Post], list[Post]] | None:
    """(the posts of the last call that are not in ``posts``, the posts that were not in it), by
    identity, or None when there are more than ``limit``. The loader keeps its order from call to
    call (a new file's post comes last): the lists are compared side by side at C speed; a post
    taken out of the middle shifts the rest, and then each id is looked up."""
    n = min(len(given), len(posts))
    odd = list(compress(range(n), map(is_not, given, posts)))
    if len(odd) <= limit:
        gone = [given[i] for i in odd] + given[n:]
        new = [posts[i] for i in odd] + list(posts[n:])
        if len(gone) + len(new) <= 2 * limit:
            both = {id(p) for p in gone} & {id(p) for p in new}  # moved, not changed
            return [p for p in gone if id(p) not in both], [p for p in new if id(p) not in both]
    current = {p.id: p for p in posts}
    gone = [p for i, p in by_id.items() if current.get(i) is not p]
    new = [p for i, p in current.items() if by_id.get(i) is not p]
    return (gone, new) if len(gone) + len(new) <= limit else None


def held(rows: Iterable[Delivery], d: Delivery) -> list[Delivery]:
    """The rows of ``d``'s post and target, in ``d``'s life, that may have made a status or
    record (``d`` itself left out): what an edit replaces and a deletion deletes."""
    return [
        r
        for r in rows
        if r.post_id == d.post_id
        and r.target == d.target
        and r.id != d.id
        and r.event != "post.deleted"
        and (r.event == "post.published" or edit_of(r.revision) is not None)
        and r.life == d.life
        and r.may_have_landed
    ]


def plan_pings(
    now: datetime,
    digests: Mapping[str, str],
    changed: set[str],
    hubs: Sequence[str],
    deliveries: Iterable[Delivery],
) -> Plan:
    """One WebSub ping per (hub, feed URL, feed version); ``digests`` maps every feed URL to a
    hash of its bytes, ``changed`` holds the URLs this build rewrites.

    A feed version the ledger has not pinged yet is pinged, whoever wrote it (`build` by
    hand, too). A hub seen for the first time is pinged only for feeds changing now; the
    rest are recorded as baseline. An older ping still waiting for the same feed is skipped.
    """
    plan = Plan()
    rows = [d for d in deliveries if d.event == FEED_EVENT]
    existing = {d.key for d in rows}
    hubs_seen = {d.target for d in rows}
    waiting: dict[tuple[str, str], list[Delivery]] = {}
    for d in rows:
        if d.state in OPEN_STATES:
            waiting.setdefault((d.post_id, d.target), []).append(d)
    for hub in hubs:
        target = WEBSUB_PREFIX + hub
        for topic, digest in sorted(digests.items()):
            if (topic, target, FEED_EVENT, digest) in existing:
                continue
            state = PENDING if target in hubs_seen or topic in changed else BASELINE
            plan.new.append(_new(topic, target, FEED_EVENT, digest, now, state))
            for old in waiting.get((topic, target), []):
                plan.skip[old.id] = "a newer version of the feed is pinged instead"
    return plan


CLOCK_SLACK = timedelta(minutes=1)
HELD_HINT = "the outcome was lost (it may have been posted): check the channel"
LOST_IN_A_CRASH = "the process stopped while this was being sent"


def held_by_a_crash(d: Delivery, blind: bool) -> bool:
    """Is ``d`` a send left in ``sending`` (the process stopped mid-request) on a target that
    cannot look for what it made? Then it is held (``HELD_HINT``), not sent again."""
    return blind and d.state == SENDING and d.attempts > 0 and d.event == "post.published"


def due_at(d: Delivery, now: datetime) -> datetime | None:
    """When an open delivery is due, judged at ``now`` (None: it is not open).

    Robust to a clock that jumped ahead and came back: a pending delivery (never tried, or
    queued again) is due at once, and a failure recorded at a time after ``now`` was recorded
    by a clock that was ahead, so its wait is over now too (else it would wait for that clock).
    """
    if d.state in (SENDING, PENDING):
        return now  # sending: an attempt whose outcome we never learned; reconcile it now
    if d.state != FAILED:
        return None
    if d.next_attempt_at is None or (d.updated_at is not None and d.updated_at > now + CLOCK_SLACK):
        return now
    return d.next_attempt_at


def is_due(d: Delivery, now: datetime) -> bool:
    when = due_at(d, now)
    return when is not None and when <= now


def after_failure(
    d: Delivery,
    failure: Failure,
    now: datetime,
    settings: DeliverySettings,
    rng: random.Random,
    *,
    blind: bool = False,
) -> tuple[DeliveryState, datetime | None, str]:
    """(new state, next attempt, message to keep) after a failed attempt number ``d.attempts``.
    ``blind``: the target gives no idempotency key and cannot be read back (Discord, Telegram), so
    a send whose outcome was lost may have made a message that a retry would make again: it is
    held for the user's word, never retried by itself (an edit or a deletion is the same request
    again, so it is retried as anywhere)."""
    if failure.unknown_outcome and blind and d.event == "post.published":
        return HELD, None, f"{failure.message}; {HELD_HINT}"
    if failure.permanent:
        return DEAD, None, failure.message
    if d.attempts >= settings.max_attempts and not (failure.rate_limited or failure.throttled):
        tries = "1 attempt" if d.attempts == 1 else f"{d.attempts} attempts"
        return DEAD, None, f"gave up after {tries}; last: {failure.message}"
    schedule = settings.retry_schedule or (60,)
    base = schedule[min(max(d.attempts, 1) - 1, len(schedule) - 1)]
    delay = base * rng.uniform(0.8, 1.2)  # jitter: many failed deliveries must not retry in lockstep
    if failure.retry_after is not None and failure.retry_after == failure.retry_after:  # not NaN
        delay = max(delay, failure.retry_after)
    if failure.unknown_outcome:
        delay = max(delay, UNKNOWN_OUTCOME_WAIT)
    return FAILED, now + timedelta(seconds=min(delay, MAX_RETRY_DELAY)), failure.message


def due(
    deliveries: Iterable[Delivery], now: datetime, *, target: str | None = None, post: str | None = None
) -> list[Delivery]:
    """Deliveries to attempt at ``now`` (the real time: retry times are real times), oldest first."""
    rows = [
        d
        for d in deliveries
        if is_due(d, now) and (target is None or d.target == target) and (post is None or d.post_id == post)
    ]
    return sorted(rows, key=lambda d: (d.created_at, d.id))


def syndication_links(rows: Iterable[Delivery]) -> dict[str, Links]:
    """Post id → where its copies live now (the POSSE "syndication links"): for each target, the
    URL of the status or record that the post's current life holds, the latest of its sent
    ``post.published`` and edits (a Bluesky repost has a new URL). A life that ended (the post
    retracted, its copies deleted) has none."""
    lives: dict[tuple[str, str], list[Delivery]] = {}
    for d in rows:
        if d.event == "post.deleted" or d.event == "post.published" or edit_of(d.revision) is not None:
            lives.setdefault((d.post_id, d.target), []).append(d)
    out: dict[str, dict[str, str]] = {}
    for (post_id, target), group in lives.items():
        life = max(d.life for d in group)
        mine = [d for d in group if d.life == life]
        if any(d.event == "post.deleted" for d in mine):
            continue
        sent = [d for d in mine if d.state == SENT and d.remote_url]
        if not sent:
            continue
        latest = max(sent, key=lambda d: (d.event == "post.updated", (edit_of(d.revision) or (0, 0, ""))[1]))
        out.setdefault(post_id, {})[target] = str(latest.remote_url)
    return {post_id: tuple(sorted(links.items())) for post_id, links in sorted(out.items())}
