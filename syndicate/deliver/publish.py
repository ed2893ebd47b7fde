"""Delivering posts: the shell around :mod:`syndicate.core.planning`.

One run, in this order (what makes "exactly once" hold through crashes):

1. lock the ledger and check it is the one this site published with (:mod:`syndicate.deliver.ledger`);
2. build and write the feeds (readers see a post at once; what to deliver is planned from the
   ledger and the posts, never from what was written, so a crash here loses nothing);
3. plan, then *record* every new delivery (and WebSub ping) in the ledger;
4. for each due delivery: compose what it sends → record the attempt (``sending``, what is
   sent, the remote key) → network call → record the outcome.

A process killed anywhere leaves either no intent (the next run plans it again) or an
intent in ``pending``/``sending``/``failed``: the next run retries it under the same
idempotency key (webhook-id, Idempotency-Key, a Bluesky record key that the ledger made
unique and checks with getRecord against what was sent), so the receiver sees it once.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from ..builder.bucket import UploadReport
from ..builder.cache import PostCache
from ..builder.discover import ContentWatch
from ..builder.pipeline import UnwrittenBuild, final_report, prepare, write_outputs
from ..builder.report import BuildReport
from ..builder.skip import IncrementalRender
from ..builder.workers import Workers, make_contents
from ..config import load_settings, output_dir, shown_config, stand_ins
from ..core.feeds import IncrementalPlan
from ..core.mentions import post_links
from ..core.model import Links, Post, Problem, Settings
from ..core.origins import target_origin
from ..core.planning import (
    BASELINE,
    DEAD,
    FAILED,
    HELD,
    LOST_IN_A_CRASH,
    OPEN_STATES,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    WEBSUB_PREFIX,
    Delivery,
    DeliveryState,
    IncrementalPosts,
    KnownPost,
    Plan,
    Retracting,
    Retraction,
    after_failure,
    due,
    due_at,
    held,
    held_by_a_crash,
    plan_pings,
    syndication_links,
    tells_gone,
)
from ..core.render.jsonfeed import json_item
from ..core.social import social_digest
from ..core.uploads import Bucket
from ..errors import ConfigError, DeliveryFailed, Failure, KeyTaken
from ..site import Site
from . import ledger
from .channels.base import Channel, Held, Payload
from .ledger import state_path
from .registry import Channels
from .secrets import Secrets
from .sqlite_store import remembered
from .store import LedgerIdentity, Store
from .throttles import DEFAULT_WAIT, Lanes

Clock = Callable[[], datetime]
Echo = Callable[[str], None]

__all__ = [
    "Kept",
    "LedgerMemo",
    "PublishReport",
    "Request",
    "Secrets",
    "World",
    "publish",
    "retry",
    "settle",
    "state_path",
]


@dataclass
class Attempt:
    """One attempt at one delivery and how it ended (SENT, FAILED for a retry, DEAD)."""

    delivery: Delivery
    outcome: DeliveryState  # SENT, FAILED, DEAD or HELD (an outcome lost on a blind target)
    detail: str = ""
    disable_target: bool = False
    back_off: bool = False  # the target asked us to wait (rate limit): leave its other deliveries for later
    at: datetime | None = None  # SENT: when the ledger recorded it sent (the wall clock: the database's on a [store])
    throttle: float | None = None  # seconds its origin asked every sender to wait (HTTP 429)


@dataclass
class PublishReport:
    """What a run did: the build, every attempt, what was planned or recorded as baseline, the
    previews of a dry run, targets that could not be set up, and when the next retry is due."""

    build: BuildReport
    attempts: list[Attempt] = field(default_factory=list)
    planned: int = 0
    baseline: int = 0
    previews: list[tuple[Delivery, str]] = field(default_factory=list)
    setup_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    deferred: dict[str, int] = field(default_factory=dict)  # target → deliveries left for a later run
    waiting: dict[str, int] = field(default_factory=dict)  # target → due deliveries it cannot take (setup_errors)
    next_attempt: datetime | None = None  # the earliest retry still waiting in the ledger
    now: datetime | None = None  # the moment that decided what is published
    leaving: list[Retraction] = field(default_factory=list)  # retractions waiting out their window
    held: list[Retraction] = field(default_factory=list)  # retractions due but held by the guard
    live_known: int = 0  # posts the ledger knows live: what the guard's share is of
    guard_limit: int = 0  # how many posts one run retracts without --allow-deletions
    upload: UploadReport | None = None  # what the upload to the bucket did (a bucket output)
    throttled: dict[str, tuple[datetime, int]] = field(default_factory=dict)  # origin → (until, deliveries waiting)

    @property
    def next_retraction(self) -> datetime | None:
        """When the earliest retraction still waiting comes due."""
        return min((r.due for r in self.leaving), default=None)

    @property
    def failed(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome in (FAILED, DEAD, HELD)]


SNAPSHOT_BATCH = 1000
BACK_OFF_AFTER = 2  # retryable failures in a row after which a target's other deliveries wait for a later run
UNEXPECTED_DETAIL = 300  # characters of an unexpected error's message that are kept


def json_snapshot(post: Post) -> str:
    """What the ledger keeps of a post, for its `post.deleted`: its JSON Feed item without the
    content (a receiver needs to know which post went, not its body again)."""
    item = json_item(post)
    item.pop("content_html", None)
    return json.dumps(item, ensure_ascii=False, sort_keys=True)


def _payload(
    d: Delivery, live: dict[str, Post], known_snapshots: dict[str, str], store: Store, social: bool
) -> Payload | None:
    if d.target.startswith(WEBSUB_PREFIX):
        return Payload(item={}, topic=d.post_id)
    earlier = _held(store, d) if social and d.event != "post.published" else ()
    if tells_gone(d):
        snapshot = json.loads(known_snapshots.get(d.post_id, "{}") or "{}")
        return Payload(item=snapshot or {"id": d.post_id}, held=earlier)
    post = live.get(d.post_id)
    if post is None:
        return None  # not live now (made a draft, dated later): wait
    return Payload(item=json_item(post), post=post, held=earlier)


def _held(store: Store, d: Delivery) -> tuple[Held, ...]:
    """What an edit replaces or a deletion deletes: the statuses or records that this post's
    earlier deliveries to the target made (or may have made), with what they sent."""
    rows = held(store.deliveries_of(d.post_id, d.target), d)
    return tuple(Held(r, tuple(store.attempts(r.id))) for r in rows)


@dataclass(frozen=True)
class Request:
    """What one run is asked to do: the options of `syndicate publish` (a daemon cycle asks for
    the defaults)."""

    dry_run: bool = False  # write nothing, send nothing: say what would be sent
    target: str | None = None  # only this target
    post: str | None = None  # only this post (an id, URL, slug or file)
    backfill: bool = False  # send posts the first run would record as baseline
    since: datetime | None = None  # with backfill: only posts published since
    rebaseline: bool = False  # record every live post as delivered, send nothing
    use_cache: bool = True
    floor: bool = True  # posts the ledger has seen live stay live although the clock is earlier
    deliver: bool = True  # False: build the feeds only, without the ledger (a daemon whose ledger is lost)
    feeds_url: str = ""  # the feeds' own URLs on this base instead of [feeds] url (`run --preview`)
    allow_deletions: bool = False  # carry out retractions the guard holds (more at once than its share)


@dataclass
class World:
    """Everything a run takes from outside, injected: ``clock`` decides what is published (``--now``
    can move it), ``wall`` is the real time, for what receivers check (webhook timestamps) and the
    ledger's retry times; randomness (retry jitter), secrets, where lines go, when to stop."""

    clock: Clock
    wall: Clock | None = None
    rng: random.Random = field(default_factory=random.Random)
    secrets: Secrets = field(default_factory=Secrets)
    echo: Echo = lambda line: None
    should_stop: Callable[[], bool] = lambda: False
    should_yield: Callable[[], bool] = lambda: False  # `host`: others wait for a turn; the rest of the sends wait


@dataclass
class Kept:
    """What a long-running process keeps from one run to the next, so that nothing unchanged is
    redone (the daemon); ``holds_lock``: it holds the ledger lock for its whole life."""

    cache: PostCache | None = None
    memo: IncrementalRender | None = None
    watch: ContentWatch | None = None
    planner: IncrementalPlan | None = None
    holds_lock: bool = False
    links: dict[str, Links] | None = None  # the syndication links as of the last run (a lock holder's only)
    ledger: LedgerMemo | None = None  # what a lock holder keeps of its ledger between runs
    later: list[Callable[[], None]] | None = None  # work for when it is idle: the manifest (see write_outputs)
    token: int | None = None  # a lock holder on a PostgreSQL store: its lease's fencing token (serve/lease.py)
    clock_off: bool = False  # a lock holder: it said its clock is off from the database's (_database_wall)


@dataclass
class LedgerMemo:
    """What a lock holder that delivers keeps of its ledger from one run to the next instead of
    reading it again (nobody else records posts in a ledger while it holds the lock): the date
    of the newest live post and the posts the ledger knows, each kept up to date with what the
    run records. The holder calls ``clear`` when another process may have written to it."""

    floor: datetime | None = None
    has_floor: bool = False
    posts: dict[str, KnownPost] | None = None
    plan: IncrementalPosts = field(default_factory=IncrementalPosts)  # planning only what may have changed
    links: dict[str, Links] | None = None  # the syndication links as of the last run

    def clear(self) -> None:
        self.floor, self.has_floor, self.posts, self.plan, self.links = None, False, None, IncrementalPosts(), None


@dataclass
class _Run:
    """One run's context, made once by :func:`publish` and read by each phase."""

    site: Site
    request: Request
    world: World
    kept: Kept
    settings: Settings
    store: Store
    out: Path
    now: datetime
    target: str | None
    known: dict[str, KnownPost] | None = None  # the ledger's posts, once read by the plan
    known_targets: set[str] = field(default_factory=set)  # the targets the ledger knows (none: a rebaseline)
    retracting: Retracting = field(default_factory=Retracting)  # how retractions are treated, the user's word
    dropped: set[str] = field(default_factory=set)  # posts whose HTML could not be made: out of this run
    lanes: Lanes | None = None  # the origins that asked to slow down, once read by _deliver

    def wall(self) -> datetime:
        return (self.world.wall or self.world.clock)()

    @property
    def site_dir(self) -> Path:
        return self.site.dir


def publish(site: Site, request: Request, world: World, kept: Kept | None = None) -> PublishReport:
    """Build the feeds, then deliver what is due; with ``request.dry_run``, write and send nothing.

    Phases: open the ledger (locked, and the one this site published with) → build → plan →
    record every intent → preview | send → what is next. The site's settings are its config as
    the caller last read it. Raises ConfigError, LedgerLostError, StoreError, LockedError, OutputError.
    """
    site_dir, settings, out = site.dir, site.settings, site.out
    if request.feeds_url:
        settings = replace(settings, feeds=replace(settings.feeds, url=request.feeds_url))
    target = check_target(settings, request.target) if request.target is not None else None
    where = ledger.place(site_dir, settings)
    now = world.clock()
    kept = kept or Kept()
    if request.floor and (until := _floor(site_dir, settings, kept, request)) is not None:
        now = max(now, until)  # a clock that stepped back does not take published posts off
    if not request.deliver:
        built = _build_only(site, settings, request, kept, now)
        _upload(site.bucket, request, settings, out, built)
        return built
    unfinished = stand_ins(settings) if settings.targets or settings.hubs else []
    if unfinished and not request.dry_run:  # a toot that links to a stand-in cannot be taken back
        lines = "".join(f"\n  {line}" for line in unfinished)
        raise ConfigError(
            f"nothing is delivered while the config holds stand-ins; replace them:{lines}", path=shown_config(site_dir)
        )
    if kept.holds_lock and (settings.store is not None) != (kept.token is not None):  # holds the other kind
        raise ConfigError(ledger.STORE_CHANGED, path=shown_config(site_dir))
    existed = where.exists()
    # The user said what the ledger should be; or there is no target, so nothing to skip or repeat.
    trusted = request.rebaseline or request.backfill or not settings.targets
    if not existed and not trusted:  # refuse before a new, empty ledger is made
        where.check(False, LedgerIdentity("", 0, 0, True), ledger.read_marks(site_dir, out))
    with where.lock() if not kept.holds_lock and not request.dry_run else nullcontext(kept.token) as token:
        # A lock holder that knows the syndication links (the daemon) writes the feeds before it
        # opens the ledger: a save's feeds need nothing of it, and nothing is sent before the check.
        early = None
        if (links := _kept_links(kept, request)) is not None and _memo(kept, request) is not None:
            early = _written(_prepare(site, now, request, kept, settings, links), kept)
        store = where.open(readonly=request.dry_run, token=token)
        try:
            world, off = _database_wall(world, store, kept)
            identity = store.identity()
            if not trusted:
                where.check(existed, identity, ledger.read_marks(site_dir, out))
            run = _Run(site, request, world, kept, settings, store, out, now, target)
            run.known_targets = set() if request.rebaseline else set(store.known_targets())
            run.retracting = _retracting(run, run.wall() if request.allow_deletions else _word(store))
            report = _publish(run, identity, early)
            if off is not None:
                report.warnings.insert(0, off)
            report.warnings[:0] = [f"{line} (a real run delivers nothing until then)" for line in unfinished]
            return report
        finally:
            store.close()


CLOCK_BOUND = 60.0  # seconds: far above a synchronized clock's error and a round trip, a fifth of receivers' 5 minutes


def database_clock(store: Store, wall: Clock) -> tuple[Clock, float | None]:
    """``wall`` corrected to the store's clock when it has one (PostgreSQL), and by how many
    seconds (None: the store has none, SQLite; ``wall`` is returned as is). What targets see (a
    webhook's signed timestamp, a record's date) and the due times the ledger keeps then agree
    across hosts, whatever this host's clock says. Measured against the middle of the round trip."""
    before = wall()
    server = store.server_time()
    if server is None:
        return wall, None
    after = wall()
    offset = server - (before + (after - before) / 2)
    return (lambda: wall() + offset), offset.total_seconds()


def _database_wall(world: World, store: Store, kept: Kept) -> tuple[World, str | None]:
    """``world`` with its real time (``wall``) from :func:`database_clock`, measured once per run
    (each daemon cycle), and past ``CLOCK_BOUND`` the line that says so (a lock holder says it
    again only after its clock was right in between). A World without ``wall`` (tests' fixed
    times) is left alone."""
    if world.wall is None:
        return world, None
    wall, seconds = database_clock(store, world.wall)
    if seconds is None:
        return world, None
    line = None
    off = abs(seconds) > CLOCK_BOUND
    if off and not kept.clock_off:
        way = "behind" if seconds > 0 else "ahead of"
        line = (
            f"this machine's clock is {abs(seconds):.0f} s {way} the database's; syndicate signs and"
            " schedules with the database's time (set this machine's clock right: NTP)"
        )
    if kept.holds_lock:
        kept.clock_off = off
    return replace(world, wall=wall), line


def _memo(kept: Kept, request: Request) -> LedgerMemo | None:
    return kept.ledger if kept.holds_lock and request.deliver and not request.dry_run else None


def _floor(site_dir: Path, settings: Settings, kept: Kept, request: Request) -> datetime | None:
    """:func:`ledger.announced_until`, read once by a lock holder that delivers (then kept up to
    date by :func:`_remember` as it records posts), else every run."""
    memo = _memo(kept, request)
    if memo is not None and memo.has_floor:
        return memo.floor
    until = ledger.announced_until(site_dir, settings)
    if memo is not None:
        memo.floor, memo.has_floor = until, True
    return until


def _known(run: _Run) -> dict[str, KnownPost]:
    """The posts the ledger knows: read once by a lock holder that delivers, else every run."""
    memo = _memo(run.kept, run.request)
    if memo is not None and memo.posts is not None:
        return memo.posts
    known = run.store.known_posts()
    if memo is not None:
        memo.posts = dict(known)
    return known


def _remember(run: _Run, plan: Plan) -> dict[str, KnownPost | None]:
    """After ``plan.posts`` were recorded: what the lock holder keeps becomes what reading the ledger
    again would give. The newest date is raised by a later one; a post retracted, or moved earlier
    from the newest date, makes the next run read it from the ledger again. Returns what it kept
    of these posts before."""
    memo = _memo(run.kept, run.request)
    if memo is None or not plan.posts:
        return {}
    known = run.known or {}
    if memo.has_floor:
        floor = memo.floor
        for p in plan.posts:
            old = known.get(p.post_id)
            was = old.published if old is not None and not old.deleted else None
            moved = was is not None and floor is not None and was >= floor and (p.published or was) < was
            if p.deleted or p.published is None or moved:
                memo.floor, memo.has_floor = None, False
                break
            floor = p.published if floor is None else max(floor, p.published)
        else:
            memo.floor = floor
    if memo.posts is None:
        return {}
    before = {p.post_id: memo.posts.get(p.post_id) for p in plan.posts}
    memo.posts = dict(memo.posts)  # not the dict this run planned with
    remembered(memo.posts, plan.posts)
    return before


def _build_only(site: Site, settings: Settings, request: Request, kept: Kept, now: datetime) -> PublishReport:
    """The feeds, built and written as `publish` writes them, with the copies the ledger knows (if
    it can be read), and nothing planned, recorded or sent: the ledger is not even locked."""
    prepared = prepare(
        site.dir,
        now,
        out_dir=site.out_arg,
        use_cache=request.use_cache,
        cache=kept.cache,
        memo=kept.memo,
        watch=kept.watch,
        planner=kept.planner,
        write=True,
        settings=settings,
        links=ledger.syndication_of(site.dir, settings),
    )
    return PublishReport(write_outputs(prepared, kept.later), now=now)


def _build(run: _Run, links: dict[str, Links]) -> UnwrittenBuild:
    return _prepare(run.site, run.now, run.request, run.kept, run.settings, links)


def _prepare(
    site: Site, now: datetime, request: Request, kept: Kept, settings: Settings, links: dict[str, Links]
) -> UnwrittenBuild:
    return prepare(
        site.dir,
        now,
        out_dir=site.out_arg,
        use_cache=request.use_cache,
        cache=kept.cache,
        memo=kept.memo,
        watch=kept.watch,
        planner=kept.planner,
        write=not request.dry_run,
        settings=settings,
        links=links,
    )


Written = tuple[UnwrittenBuild, list[str], BuildReport]  # the build, the files it changes, its report


def _written(prepared: UnwrittenBuild, kept: Kept) -> Written:
    changed = prepared.changed()
    return prepared, changed, write_outputs(prepared, kept.later)


def _upload(bucket: Bucket | None, request: Request, settings: Settings, out: Path, report: PublishReport) -> None:
    """Bring the bucket level with the output folder (a bucket output only; BucketError stops the
    run before anything is sent); a second upload in one run adds to what the first did."""
    if bucket is None or request.dry_run:
        return
    from ..builder.bucket import upload

    done = upload(settings, out, bucket)
    if report.upload is None:
        report.upload = done
        return
    first = report.upload
    first.uploaded = sorted(set(first.uploaded) | set(done.uploaded))
    first.deleted = sorted(set(first.deleted) | set(done.deleted))
    first.refused.update(done.refused)
    first.requests += done.requests
    first.listed = first.listed or done.listed
    first.seconds += done.seconds


def _publish(run: _Run, identity: LedgerIdentity, early: Written | None = None) -> PublishReport:
    store, request = run.store, run.request
    if early is not None:  # written before the ledger was opened, with the links the last run left
        links = _kept_links(run.kept, request) or {}
        prepared, changed, built = early
        report = PublishReport(built, now=run.now)
    else:
        kept_links = _kept_links(run.kept, request)
        links = kept_links if kept_links is not None else _links(run)
        prepared = _build(run, links)
        changed = prepared.changed()
        built = prepared.report if request.dry_run else write_outputs(prepared, run.kept.later)
        report = PublishReport(built, now=run.now)
    _upload(run.site.bucket, request, run.settings, run.out, report)  # the feeds are live before any ping or delivery
    refused = report.build.refused.keys() | (report.upload.refused.keys() if report.upload else set())
    changed = [rel for rel in changed if rel not in refused]  # no hub hears of a file left alone
    post_id = _resolve_post(request.post, prepared.report.posts) if request.post else None
    planner = _incremental(run)
    ids = planner.which(prepared.report.posts, run.now, _inputs(run)) if planner is not None else None
    if planner is not None and ids is not None:  # the posts that may have something to plan, and their rows
        live, rows = planner.live(ids, run.now), store.delivery_keys(ids)
    else:
        live = {p.id: p for p in prepared.report.live(run.now)}
        rows = store.deliveries() if request.dry_run else store.delivery_keys()
    plan, new, snapshots = _plan(run, prepared, changed, live, rows, post_id, ids)
    report.planned = sum(1 for d in new if d.state != BASELINE)
    report.baseline = sum(1 for d in plan.new if d.state == BASELINE)  # posts, not feed pings
    report.leaving, report.held, report.live_known = plan.waiting, plan.held, plan.live_known
    report.guard_limit = _retracting(run, None).limit(plan.live_known) or 0
    if request.dry_run:
        report.build = final_report(prepared)
        _preview(run, report, plan, rows, new, live, snapshots, post_id)
        return report
    _record(run, plan, new)
    before = _remember(run, plan)
    _note_word(run, plan)
    todo = due(store.open_deliveries(), run.wall(), target=run.target, post=post_id)
    if planner is not None and ids is not None:  # what is due of the other posts (retries)
        wanted = {d.post_id for d in todo} - live.keys() - run.dropped
        live.update((i, p) for i, p in planner.live(wanted, run.now).items() if not p.content.failed)
    if new or plan.skip or plan.promote or plan.posts or plan.new_targets or todo or request.rebaseline:
        identity = replace(identity, generation=store.bump_generation())
        memo = _memo(run.kept, request)
        newest = memo.floor if memo is not None and memo.has_floor else store.newest_published()
        ledger.write_marks(run.site_dir, run.out, identity, newest)
    if todo and run.site.bucket is not None:  # live before told: BucketError, nothing sent (deliver/live.py)
        from .live import make_live, stoppable

        pages = [live[d.post_id].url for d in todo if d.post_id in live and d.event != "post.deleted"]
        sleep = stoppable(run.world.should_stop)  # a daemon asked to stop does not wait out verify_timeout
        make_live(run.settings, run.out, run.site.bucket, pages, run.site_dir, run.world.echo, sleep)
    _deliver(run, report, todo, live, snapshots)
    if planner is not None and run.kept.ledger is not None and run.kept.ledger.posts is not None:
        planner.recorded(plan, before, run.kept.ledger.posts, run.dropped)
    _keep_links(run, links)
    if any(a.outcome == SENT for a in report.attempts) or plan.skip:
        fresh = _links(run)
        _keep_links(run, fresh)
        if fresh != links:  # the copies just made (or deleted) show in the JSON Feed and syndication.json now
            again = write_outputs(_build(run, fresh), run.kept.later)
            report.build.written = sorted(set(report.build.written) | set(again.written))
            _upload(run.site.bucket, request, run.settings, run.out, report)
    later = run.wall()
    lanes = run.lanes
    report.next_attempt = min(
        (
            lanes.due_at(d, when) if lanes is not None else when
            for d in store.open_deliveries()
            if d.state != SENDING and (when := due_at(d, later))
        ),
        default=None,
    )
    return report


def _plan(
    run: _Run,
    prepared: UnwrittenBuild,
    changed: list[str],
    live: dict[str, Post],
    rows: list[Delivery],
    post_id: str | None,
    ids: set[str] | None = None,
) -> tuple[Plan, list[Delivery], dict[str, str]]:
    """The new deliveries (posts and WebSub pings) and the snapshots of the posts they are about;
    a backfill covers only the post and the target the run is narrowed to (``--post``, ``--target``).
    With ``ids`` (see :class:`IncrementalPosts`), ``live`` and ``rows`` are those of these posts only."""
    store, settings, request = run.store, run.settings, run.request
    known = run.known = _known(run)
    snaps, socials, links = _snapshots(settings, live, known)
    run.dropped |= _drop_unrenderable(prepared.report, live)
    planner = _incremental(run)
    plan = (planner.plan if planner is not None else IncrementalPosts().plan)(
        ids,
        now=run.now,
        posts=prepared.report.posts,
        dropped=run.dropped,
        snapshot=lambda p: snaps.get(p.id) or json_snapshot(p),
        social=lambda p: socials.get(p.id, ()),
        links=lambda p: links.get(p.id, ()),
        unreadable_sources={p.path for p in prepared.report.rejected},
        known=known,
        targets=settings.targets,
        known_targets=run.known_targets,
        deliveries=rows,
        backfill=request.backfill,
        since=request.since,
        only=(post_id, run.target),
        at=run.wall(),
        retracting=run.retracting,
    )
    digests = (
        {prepared.feed_url(rel): prepared.digest(rel) for rel in prepared.files if prepared.is_feed(rel)}
        if settings.hubs
        else {}
    )
    feed_rows = rows if ids is None else store.delivery_keys(digests.keys()) if digests else []
    pings = plan_pings(run.wall(), digests, {prepared.feed_url(rel) for rel in changed}, settings.hubs, feed_rows)
    plan.skip.update(pings.skip)
    deleting = {d.post_id for d in plan.new if tells_gone(d)}
    unsent = rows if ids is None else store.open_deliveries()  # every post's, not only the planned ones'
    deleting |= {d.post_id for d in unsent if tells_gone(d) and d.state in OPEN_STATES}
    snapshots = store.snapshots(deleting)
    snapshots.update({p.post_id: p.snapshot for p in plan.posts if p.snapshot})
    return plan, plan.new + pings.new, snapshots


ALLOW_DELETIONS = "allow_deletions"  # meta: the user's word (`publish --allow-deletions`), as the time it was given
RETRACTIONS_HELD = "retractions_held"  # meta: the guard held retractions on the last run (for `status`)


def _incremental(run: _Run) -> IncrementalPosts | None:
    """The lock holder's delivery planner, which plans only the posts that may have something to
    plan; None when every post must be planned (no lock holder, a backfill, a rebaseline)."""
    memo = _memo(run.kept, run.request)
    return memo.plan if memo is not None and not run.request.backfill and not run.request.rebaseline else None


def _inputs(run: _Run) -> tuple[object, ...]:
    """What planning depends on besides the posts and the ledger (see :class:`IncrementalPosts`)."""
    return (run.settings.targets, frozenset(run.known_targets), run.retracting)


def _retracting(run: _Run, word: datetime | None) -> Retracting:
    delivery = run.settings.delivery
    return Retracting(timedelta(seconds=delivery.delete_after), delivery.max_retractions_percent, word)


def _word(store: Store) -> datetime | None:
    """The user's word, given with `publish --allow-deletions` while another process held the ledger."""
    value = store.meta(ALLOW_DELETIONS)
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def allow_deletions(site_dir: Path, clock: Clock) -> None:
    """Record the user's word in the ledger for the process that holds it (a running `syndicate
    run`, which notices the ledger changed and carries out what the guard held within seconds)."""
    settings = load_settings(site_dir)
    where = ledger.place(site_dir, settings)
    store = where.open()
    try:
        where.check(True, store.identity(), ledger.read_marks(site_dir, output_dir(site_dir, settings)))
        store.set_meta(ALLOW_DELETIONS, clock().isoformat())
    finally:
        store.close()


def _note_word(run: _Run, plan: Plan) -> None:
    """Keep for `status` whether the guard held retractions; forget the user's word once nothing
    it covers (retractions noticed before it was given) is left."""
    store = run.store
    held = json.dumps({"posts": len({r.post_id for r in plan.held}), "of": plan.live_known}) if plan.held else None
    if store.meta(RETRACTIONS_HELD) != held:
        store.set_meta(RETRACTIONS_HELD, held)
    word = _word(store)
    after = timedelta(seconds=run.settings.delivery.delete_after)
    if word is not None and not any(r.due - after <= word for r in plan.waiting + plan.held):
        store.set_meta(ALLOW_DELETIONS, None)


def _snapshots(
    settings: Settings, live: dict[str, Post], known: dict[str, KnownPost]
) -> tuple[dict[str, str], dict[str, tuple[tuple[str, str], ...]], dict[str, tuple[str, ...]]]:
    """The ledger keeps a snapshot of each new or edited post, and the digest of its text on each
    social target (both made from its HTML); with a webmention target, the links of each (all made
    from its HTML): on every core when there are many (a first run on a big site), a batch at a
    time, the HTML forgotten again after each batch."""
    fresh = [p for p in live.values() if (k := known.get(p.id)) is None or k.deleted or k.revision != p.revision]
    snaps: dict[str, str] = {}
    socials: dict[str, tuple[tuple[str, str], ...]] = {}
    social_targets = [t for t in settings.targets if t.social]
    mentioning = any(t.kind == "webmention" for t in settings.targets)
    links: dict[str, tuple[str, ...]] = {}
    workers = Workers()
    try:
        for i in range(0, len(fresh), SNAPSHOT_BATCH):
            batch = fresh[i : i + SNAPSHOT_BATCH]
            made = [p for p in batch if not p.content.ready]
            make_contents(batch, workers, settings.content.render_timeout)
            for p in batch:
                if not p.content.failed:
                    snaps[p.id] = json_snapshot(p)
                    socials[p.id] = tuple((t.name, social_digest(p, t)) for t in social_targets)
                    if mentioning:
                        links[p.id] = post_links(p.content_html, p.url)
            for p in made:
                p.content.release()
    finally:
        workers.close()
    return snaps, socials, links


def _record(run: _Run, plan: Plan, new: list[Delivery]) -> None:
    """Every intent is in the ledger before anything leaves the machine, in one transaction: a run
    killed half-way must not leave a new post's deliveries without the post (deleted before the
    next run, nothing would ever plan it again, and they would stay pending for ever)."""
    store, at = run.store, run.wall()
    with store.atomic():
        store.add_targets(plan.new_targets, at)
        store.add_deliveries(new)
        for delivery_id, why in plan.skip.items():
            store.set_state([delivery_id], SKIPPED, why, at)
        store.set_state(plan.promote, PENDING, None, at)
        store.save_posts(plan.posts)


def _drop_unrenderable(build: BuildReport, live: dict[str, Post]) -> set[str]:
    """Posts whose HTML could not be made are rejected (a problem line), never sent and never
    taken for removed; returns their ids."""
    failed = [p for p in live.values() if p.content.failed]
    for post in failed:
        build.problems.append(Problem(post.source, post.content.failed or "cannot be rendered"))
        del live[post.id]
    gone = {p.id for p in failed}
    if gone:
        build.posts = [p for p in build.posts if p.id not in gone]
    return gone


def _preview(
    run: _Run,
    report: PublishReport,
    plan: Plan,
    rows: list[Delivery],
    new: list[Delivery],
    live: dict[str, Post],
    snapshots: dict[str, str],
    post_id: str | None,
) -> None:
    """What a real run would send, as the final texts, into ``report.previews``."""
    secrets = run.world.secrets
    pending = [d for d in rows if d.id not in plan.skip] + [d for d in new if d.state != BASELINE]
    pending = [replace(d, state=PENDING) if d.id in plan.promote else d for d in pending]
    channels = Channels(run.settings, run.site_dir, secrets, requests.Session(), run.store.identity().clock_id)
    try:
        for d in due(pending, run.wall(), target=run.target, post=post_id):
            if d.state in (SENDING, SENT):
                continue
            payload = _payload(d, live, snapshots, run.store, _is_social(run.settings, d.target))
            if payload is None:
                continue
            channel = channels.get(d.target)
            try:
                text = channel.preview(d, payload) if channel else f"(cannot preview: {channels.broken[d.target]})"
            except DeliveryFailed as e:
                text = f"(would fail: {e.failure.message})"
            report.previews.append((d, secrets.redact(text)))
    finally:
        channels.close()


def _deliver(
    run: _Run, report: PublishReport, todo: list[Delivery], live: dict[str, Post], snapshots: dict[str, str]
) -> None:
    """Attempt each due delivery once. One delivery's trouble never stops the others: a target
    that is disabled, cannot be set up, rate limits us or keeps failing is left for a later run."""
    store, settings, world = run.store, run.settings, run.world
    disabled = {name for name, reason in store.known_targets().items() if reason}
    make_contents((live[d.post_id] for d in todo if d.post_id in live), None, settings.content.render_timeout)
    run.dropped |= _drop_unrenderable(report.build, live)
    waiting: dict[str, int] = {}  # target → retryable failures in a row
    lanes = run.lanes = Lanes.read(store, settings, run.wall())
    session = requests.Session()
    session.headers["User-Agent"] = "syndicate"
    channels = Channels(settings, run.site_dir, world.secrets, session, store.identity().clock_id, store)
    try:
        for d in todo:
            if world.should_stop() or world.should_yield():
                break  # asked to stop, or to let another site have its turn: the rest wait for the next cycle
            if d.target in disabled:
                continue
            if waiting.get(d.target, 0) >= BACK_OFF_AFTER:
                report.deferred[d.target] = report.deferred.get(d.target, 0) + 1
                continue
            payload = _payload(d, live, snapshots, store, _is_social(settings, d.target))
            if payload is None:
                continue
            if (throttled := lanes.waits(d, run.wall())) is not None:  # not an attempt: nothing recorded
                origin, until = throttled
                report.throttled[origin] = (until, report.throttled.get(origin, (until, 0))[1] + 1)
                continue
            channel = channels.get(d.target)
            if channel is None:
                report.waiting[d.target] = report.waiting.get(d.target, 0) + 1
                continue
            attempt = _attempt(run, channel, d, payload, report.warnings)
            report.attempts.append(attempt)
            world.echo(_line(attempt))
            if attempt.throttle is not None:
                lanes.told(d.target, attempt.throttle, run.wall())
            if attempt.disable_target:
                store.disable_target(d.target, attempt.detail)
                disabled.add(d.target)
            if attempt.outcome == FAILED:
                waiting[d.target] = BACK_OFF_AFTER if attempt.back_off else waiting.get(d.target, 0) + 1
            else:
                waiting[d.target] = 0
    finally:
        channels.close()
        session.close()
    report.setup_errors = [f"{name}: {why}" for name, why in sorted(channels.broken.items())]
    report.warnings.extend(world.secrets.redact(w) for w in channels.images.warnings)


def _attempt(run: _Run, channel: Channel, d: Delivery, payload: Payload, warnings: list[str]) -> Attempt:
    """One attempt: compose, record the intent (durable before the request leaves), send, record
    the outcome. Whatever goes wrong — the receiver, the network, a bug in a client library —
    ends as an outcome in the ledger with its reason, never as a delivery stuck in ``sending``."""
    store, clock, secrets = run.store, run.wall, run.world.secrets
    if held_by_a_crash(d, _is_blind(run.settings, d.target)):  # never sent again without the user's word
        return _failed(run, d, Failure(LOST_IN_A_CRASH, unknown_outcome=True))
    try:
        outgoing = channel.compose(d, payload)
    except DeliveryFailed as e:
        store.mark_sending(d.id, clock())
        return _failed(run, d, e.failure)
    except Exception as e:  # a bug in composing: recorded and retried, never a traceback
        store.mark_sending(d.id, clock())
        return _failed(run, d, _unexpected(e, secrets))
    d = store.mark_sending(d.id, clock(), outgoing.digest, channel.keyed, outgoing.text)
    for _ in range(2):
        try:
            receipt = channel.send(d, outgoing, payload, clock(), store.attempts(d.id))
        except KeyTaken as e:
            warnings.append(secrets.redact(f"{d.target}: {e}; sending under a new key"))
            d = store.new_key(d.id, clock())
            continue
        except DeliveryFailed as e:
            return _failed(run, d, e.failure)
        except Exception as e:  # the outcome is unknown: the next attempt reconciles under the same key
            return _failed(run, d, replace(_unexpected(e, secrets), unknown_outcome=True))
        sent_at = clock()
        store.mark_sent(d.id, receipt.remote_id, receipt.remote_url, sent_at)
        if d.event == "post.published" or not receipt.note:
            return Attempt(d, SENT, receipt.remote_url or receipt.note, at=sent_at)
        return Attempt(d, SENT, receipt.note + (f": {receipt.remote_url}" if receipt.remote_url else ""), at=sent_at)
    return _failed(run, d, Failure("its new remote key was taken too"))


def _unexpected(e: Exception, secrets: Secrets) -> Failure:
    text = " ".join(str(e).split())[:UNEXPECTED_DETAIL]
    return Failure(secrets.redact(f"unexpected error: {type(e).__name__}" + (f": {text}" if text else "")))


def _failed(run: _Run, d: Delivery, failure: Failure) -> Attempt:
    failure = replace(failure, message=run.world.secrets.redact(failure.message))
    d = run.store.get(d.id)
    blind = _is_blind(run.settings, d.target)
    state, next_at, message = after_failure(d, failure, run.wall(), run.settings.delivery, run.world.rng, blind=blind)
    run.store.mark_failed(d.id, state, next_at, message, run.wall(), failure.unknown_outcome)
    detail = (
        message if state == DEAD else f"{message}; next try {next_at:%Y-%m-%d %H:%M:%S} UTC" if next_at else message
    )
    throttle = None
    if failure.throttled:  # the origin's limit: every delivery to it waits what it said (else this one's wait)
        wait = (next_at - run.wall()).total_seconds() if next_at is not None else DEFAULT_WAIT
        throttle = failure.retry_after if failure.retry_after is not None else wait
    back_off = failure.retry_after is not None
    return Attempt(d, state, detail, failure.disable_target, back_off=back_off, throttle=throttle)


def _is_blind(settings: Settings, name: str) -> bool:
    target = settings.target(name)
    return target is not None and target.blind


def _is_social(settings: Settings, name: str) -> bool:
    target = settings.target(name)
    return target is not None and target.social


def _line(a: Attempt) -> str:
    d = a.delivery
    target = d.target.removeprefix(WEBSUB_PREFIX)
    what = d.post_id
    return f"{a.outcome:<6}  {target}  {d.event}  {what}" + (f"  {a.detail}" if a.detail else "")


def _kept_links(kept: Kept, request: Request) -> dict[str, Links] | None:
    """The syndication links as a lock holder's last run left them (None: read them from the ledger).
    The daemon keeps them in its LedgerMemo, which it clears when another process writes the ledger."""
    memo = _memo(kept, request)
    if memo is not None and memo.links is not None:
        return memo.links
    return kept.links if kept.holds_lock else None


def _keep_links(run: _Run, links: dict[str, Links]) -> None:
    run.kept.links = links
    memo = _memo(run.kept, run.request)
    if memo is not None:
        memo.links = links


def _links(run: _Run) -> dict[str, Links]:
    """The syndication links the ledger knows (none for a site with no social target)."""
    if not any(t.social for t in run.settings.targets):
        return {}
    return syndication_links(run.store.link_rows())


def _resolve_post(ref: str, posts: list[Post]) -> str:
    """--post takes an id, a URL, a slug or a file path."""
    for p in posts:
        if ref in (p.id, p.url, p.slug, p.source) or p.source.endswith("/" + ref):
            return p.id
    raise ConfigError(f"no post {ref!r}; give its id, URL, slug or file (see `syndicate posts`)")


def resolve_post(site_dir: Path, settings: Settings, ref: str, known: Mapping[str, KnownPost] | None = None) -> str:
    """The post id that ``--post REF`` means, the same way for every command: an id the ledger
    knows, else the id, URL, slug or file of a post in the content folder, else the URL, file or
    last URL segment of a post the ledger knows that is no longer there (ConfigError)."""
    if known and ref in known:
        return ref
    prepared = prepare(site_dir, datetime.now(UTC), render=False, settings=settings)
    try:
        return _resolve_post(ref, prepared.report.posts)
    except ConfigError:
        for k in (known or {}).values():  # gone from the content folder: its retraction waiting, or done
            if ref in (k.url, k.source) or k.source.endswith("/" + ref) or k.url.rstrip("/").rsplit("/", 1)[-1] == ref:
                return k.post_id
        raise


def check_target(settings: Settings, name: str) -> str:
    """What ``--target NAME`` is called in the ledger: a configured target's name, or a WebSub hub's
    URL (ConfigError for anything else)."""
    if settings.target(name) is not None:
        return name
    if name.removeprefix(WEBSUB_PREFIX) in settings.hubs:
        return WEBSUB_PREFIX + name.removeprefix(WEBSUB_PREFIX)
    names = ", ".join([t.name for t in settings.targets] + list(settings.hubs)) or "none configured"
    raise ConfigError(f"no target called {name!r}; targets: {names}")


def settle(site_dir: Path, *, clock: Clock, target: str, post: str, message_id: str) -> str:
    """The user's word that a held send did arrive, as message ``message_id``: it is recorded as
    sent with that id, so the post's later edits and its deletion reach the message. Returns the
    post's id; ConfigError when the post has no held send to that target."""
    settings = load_settings(site_dir)
    target = check_target(settings, target)
    if not message_id.isascii() or not message_id.isdigit():
        raise ConfigError(f"--sent takes the message's id, a number (not {message_id!r})")
    where = ledger.place(site_dir, settings)
    marks = ledger.read_marks(site_dir, output_dir(site_dir, settings))
    if not where.exists():
        where.check(False, LedgerIdentity("", 0, 0, True), marks)
    store = where.open()
    try:
        where.check(True, store.identity(), marks)
        post_id = resolve_post(site_dir, settings, post, store.known_posts())
        rows = [d for d in store.deliveries_of(post_id, target) if d.state == HELD]
        if not rows:
            raise ConfigError(f"{post_id} has no held send to {target} (see `syndicate status`)")
        store.mark_sent(rows[0].id, message_id, None, database_clock(store, clock)[0]())
        return post_id
    finally:
        store.close()


def retry(site_dir: Path, *, clock: Clock, target: str | None = None, post: str | None = None) -> int:
    """Make failed and dead deliveries due now (and re-enable targets that had been disabled);
    the next `publish`, or a running `syndicate run` within seconds, sends them."""
    settings = load_settings(site_dir)
    if target is not None:
        target = check_target(settings, target)
    post_id = resolve_post(site_dir, settings, post) if post else None
    where = ledger.place(site_dir, settings)
    marks = ledger.read_marks(site_dir, output_dir(site_dir, settings))
    if not where.exists():  # nothing was ever recorded, or the ledger is lost (then say so)
        where.check(False, LedgerIdentity("", 0, 0, True), marks)
        return 0
    store = where.open()
    try:
        where.check(True, store.identity(), marks)
        count = store.requeue(target, post_id, database_clock(store, clock)[0]())  # due by the database's time
        names = [target] if target else [t.name for t in settings.targets] + [WEBSUB_PREFIX + h for h in settings.hubs]
        store.lift(o for name in names if (o := target_origin(settings, name)) is not None)  # the user's word
        return count
    finally:
        store.close()
