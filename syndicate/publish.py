"""Delivering posts: the shell around :mod:`syndicate.planning`.

One run, in this order (what makes "exactly once" hold through crashes):

1. lock the ledger and check it is the one this site published with (:mod:`syndicate.ledger`);
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
import os
import random
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import requests

from . import ledger
from .build import (
    BuildReport,
    ContentWatch,
    Prepared,
    RenderMemo,
    Workers,
    finish,
    make_contents,
    prepare,
    write_outputs,
)
from .cache import PostCache
from .channels.base import Channel, ImageSource, Payload
from .config import load_settings
from .errors import ConfigError, DeliveryFailed, KeyTaken
from .feeds import IncrementalPlan
from .fetch import public_session
from .ledger import state_path
from .model import Post, Problem, Settings, TargetSettings
from .planning import (
    BASELINE,
    DEAD,
    FAILED,
    OPEN_STATES,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    WEBSUB_PREFIX,
    Delivery,
    DeliveryState,
    Failure,
    Plan,
    after_failure,
    due,
    due_at,
    plan_pings,
    plan_posts,
)
from .render.jsonfeed import json_item
from .store import LedgerIdentity, SQLiteStore, Store, lock

Clock = Callable[[], datetime]
Echo = Callable[[str], None]

__all__ = ["PublishReport", "Secrets", "publish", "retry", "state_path"]


class Secrets:
    """Secrets read from the environment, and a redactor that keeps them out of every message."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self.values: set[str] = set()

    def get(self, target: TargetSettings, key: str) -> str:
        name = getattr(target, key)
        value = self.environ.get(name, "")
        if not value:
            raise ConfigError(f"target {target.name!r}: environment variable {name} ({key}) is not set")
        self.values.add(value)
        if value.startswith("whsec_"):
            self.values.add(value.removeprefix("whsec_"))
        return value

    def redact(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "***")
        return text


@dataclass
class Attempt:
    delivery: Delivery
    outcome: DeliveryState  # SENT, FAILED or DEAD
    detail: str = ""
    disable_target: bool = False
    back_off: bool = False  # the target asked us to wait (rate limit): leave its other deliveries for later


@dataclass
class PublishReport:
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

    @property
    def failed(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome in (FAILED, DEAD)]


SNAPSHOT_BATCH = 1000
BACK_OFF_AFTER = 2  # retryable failures in a row after which a target's other deliveries wait for a later run
UNEXPECTED_DETAIL = 300  # characters of an unexpected error's message that are kept


def json_snapshot(post: Post) -> str:
    """What the ledger keeps of a post, for its `post.deleted`: its JSON Feed item without the
    content (a receiver needs to know which post went, not its body again)."""
    item = json_item(post)
    item.pop("content_html", None)
    return json.dumps(item, ensure_ascii=False, sort_keys=True)


class Channels:
    """Channels made on first use, one per target; a target that cannot be set up is reported once."""

    def __init__(
        self, settings: Settings, site_dir: Path, secrets: Secrets, session: requests.Session, clock_id: int = 0
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.session = session
        self.clock_id = clock_id
        static = settings.content.static
        fetcher = public_session(frozenset(settings.content.fetch_allow))
        self.images = ImageSource(settings.site.url, (site_dir / static) if static else None, fetcher)
        self.made: dict[str, Channel] = {}
        self.broken: dict[str, str] = {}

    def get(self, target_name: str) -> Channel | None:
        if target_name in self.made:
            return self.made[target_name]
        if target_name in self.broken:
            return None
        try:
            channel = self._make(target_name)
        except ConfigError as e:
            self.broken[target_name] = self.secrets.redact(str(e))
            return None
        self.made[target_name] = channel
        return channel

    def _make(self, name: str) -> Channel:
        from .channels.websub import WebSubChannel

        if name.startswith(WEBSUB_PREFIX):
            return WebSubChannel(name.removeprefix(WEBSUB_PREFIX), self.session)
        target = self.settings.target(name)
        if target is None:
            raise ConfigError(f"target {name!r} is no longer in the config; its deliveries wait until it is back")
        if target.kind == "webhook":
            from .channels.webhook import WebhookChannel

            return WebhookChannel(target, self.secrets.get(target, "secret_env"), self.session)
        if target.kind == "mastodon":
            from .channels.mastodon import MastodonChannel

            return MastodonChannel(target, self.secrets.get(target, "token_env"), requests.Session(), self.images)
        from .channels.bluesky import BlueskyChannel

        return BlueskyChannel(target, self.secrets.get(target, "password_env"), self.images, self.clock_id)

    def close(self) -> None:
        for channel in self.made.values():
            channel.close()
        self.images.session.close()


def _payload(d: Delivery, live: dict[str, Post], known_snapshots: dict[str, str]) -> Payload | None:
    if d.target.startswith(WEBSUB_PREFIX):
        return Payload(item={}, topic=d.post_id)
    if d.event == "post.deleted":
        snapshot = json.loads(known_snapshots.get(d.post_id, "{}") or "{}")
        return Payload(item=snapshot or {"id": d.post_id})
    post = live.get(d.post_id)
    if post is None:
        return None  # not live now (made a draft, dated later): wait
    return Payload(item=json_item(post), post=post)


def publish(
    site_dir: Path,
    *,
    clock: Clock,
    dry_run: bool = False,
    target: str | None = None,
    post: str | None = None,
    backfill: bool = False,
    since: datetime | None = None,
    rebaseline: bool = False,
    out_dir: Path | None = None,
    use_cache: bool = True,
    echo: Echo = lambda line: None,
    rng: random.Random | None = None,
    secrets: Secrets | None = None,
    wall: Clock | None = None,
    take_lock: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
    cache: PostCache | None = None,
    memo: RenderMemo | None = None,
    watch: ContentWatch | None = None,
    planner: IncrementalPlan | None = None,
    floor: bool = True,
) -> PublishReport:
    """Build the feeds, then deliver what is due. ``--dry-run`` writes and sends nothing.

    ``clock`` decides what is published (``--now`` can move it); ``wall`` is the real time,
    for what receivers check (webhook timestamps) and for the ledger's retry times. With
    ``floor``, posts the ledger has seen live stay live although ``clock`` is earlier (a
    clock that stepped back). Raises ConfigError, LedgerLostError, StoreError, LockedError,
    OutputError.
    """
    wall = wall or clock
    rng = rng or random.Random()
    secrets = secrets or Secrets()
    settings = load_settings(site_dir)
    if target is not None:
        target = check_target(settings, target)
    state = state_path(site_dir, settings)
    out = out_dir if out_dir is not None else site_dir / "public"
    now = clock()
    if floor and (until := ledger.announced_until(site_dir, settings)) is not None:
        now = max(now, until)
    existed = state.is_file()
    if not existed and not (rebaseline or backfill):  # refuse before a new, empty ledger is made
        ledger.check(state, False, LedgerIdentity("", 0, 0, True), ledger.read_marks(site_dir, out))
    with lock(state) if take_lock and not dry_run else nullcontext():
        store = SQLiteStore(state, readonly=dry_run)
        try:
            identity = store.identity()
            if not (rebaseline or backfill):
                ledger.check(state, existed, identity, ledger.read_marks(site_dir, out))
            prepared = prepare(
                site_dir,
                now,
                out_dir=out_dir,
                use_cache=use_cache,
                cache=cache,
                memo=memo,
                watch=watch,
                planner=planner,
                write=not dry_run,
                settings=settings,
            )
            changed = prepared.changed()
            build = prepared.report if dry_run else write_outputs(prepared)
            report = PublishReport(build, now=now)
            live = {p.id: p for p in prepared.report.live(now)}
            post_id = _resolve_post(post, prepared.report.posts) if post else None
            rows = store.deliveries() if dry_run else store.delivery_keys()
            plan = _plan(store, prepared, now, wall(), live, rows, settings, backfill, since, rebaseline)
            digests = (
                {prepared.feed_url(rel): prepared.digest(rel) for rel in prepared.files if prepared.is_feed(rel)}
                if settings.hubs
                else {}
            )
            pings = plan_pings(wall(), digests, {prepared.feed_url(rel) for rel in changed}, settings.hubs, rows)
            plan.skip.update(pings.skip)
            new = plan.new + pings.new
            report.planned = sum(1 for d in new if d.state != BASELINE)
            report.baseline = sum(1 for d in plan.new if d.state == BASELINE)  # posts, not feed pings
            deleting = {d.post_id for d in plan.new if d.event == "post.deleted"}
            deleting |= {d.post_id for d in rows if d.event == "post.deleted" and d.state in OPEN_STATES}
            snapshots = store.snapshots(deleting)
            snapshots.update({p.post_id: p.snapshot for p in plan.posts if p.snapshot})

            if dry_run:
                report.build = finish(prepared)
                _preview(report, plan, rows, new, live, snapshots, settings, site_dir, secrets, wall(), target, post_id)
                return report

            # record intents before anything leaves the machine
            at = wall()
            store.add_targets(plan.new_targets, at)
            store.add_deliveries(new)
            for delivery_id, why in plan.skip.items():
                store.set_state([delivery_id], SKIPPED, why, at)
            store.set_state(plan.promote, PENDING, None, at)
            store.save_posts(plan.posts)
            todo = due(store.open_deliveries(), wall(), target=target, post=post_id)
            if new or plan.skip or plan.promote or plan.posts or plan.new_targets or todo or rebaseline:
                identity = replace(identity, generation=store.bump_generation())
                ledger.write_marks(site_dir, out, identity, store.newest_published())
            _deliver(report, store, todo, live, snapshots, settings, site_dir, secrets, wall, rng, echo, should_stop)
            later = wall()
            report.next_attempt = min(
                (when for d in store.open_deliveries() if d.state != SENDING and (when := due_at(d, later))),
                default=None,
            )
        finally:
            store.close()
    return report


def _plan(
    store: Store,
    prepared: Prepared,
    now: datetime,
    at: datetime,
    live: dict[str, Post],
    rows: list[Delivery],
    settings: Settings,
    backfill: bool,
    since: datetime | None,
    rebaseline: bool,
) -> Plan:
    known = store.known_posts()
    # The ledger keeps a snapshot of each new or edited post (its summary is made from its
    # HTML): on every core when there are many (a first run on a big site), a batch at a
    # time, the HTML forgotten again after each batch.
    fresh = [p for p in live.values() if (k := known.get(p.id)) is None or k.deleted or k.revision != p.revision]
    snaps: dict[str, str] = {}
    workers = Workers()
    try:
        for i in range(0, len(fresh), SNAPSHOT_BATCH):
            batch = fresh[i : i + SNAPSHOT_BATCH]
            made = [p for p in batch if not p.content.ready]
            make_contents(batch, workers, settings.content.render_timeout)
            snaps.update((p.id, json_snapshot(p)) for p in batch if not p.content.failed)
            for p in made:
                p.content.release()
    finally:
        workers.close()
    _drop_unrenderable(prepared.report, live)
    return plan_posts(
        now=now,
        posts=prepared.report.posts,
        snapshot=lambda p: snaps.get(p.id) or json_snapshot(p),
        unreadable_sources={p.path for p in prepared.report.rejected},
        known=known,
        targets=settings.targets,
        known_targets=set() if rebaseline else set(store.known_targets()),
        deliveries=rows,
        backfill=backfill,
        since=since,
        at=at,
    )


def _drop_unrenderable(build: BuildReport, live: dict[str, Post]) -> None:
    """Posts whose HTML could not be made are rejected (a problem line), never sent and never
    taken for removed."""
    failed = [p for p in live.values() if p.content.failed]
    for post in failed:
        build.problems.append(Problem(post.source, post.content.failed or "cannot be rendered"))
        del live[post.id]
    if failed:
        gone = {p.id for p in failed}
        build.posts = [p for p in build.posts if p.id not in gone]


def _preview(
    report: PublishReport,
    plan: Plan,
    rows: list[Delivery],
    new: list[Delivery],
    live: dict[str, Post],
    snapshots: dict[str, str],
    settings: Settings,
    site_dir: Path,
    secrets: Secrets,
    now: datetime,
    target: str | None,
    post_id: str | None,
) -> None:
    """What a real run would send, as the final texts, into ``report.previews``."""
    pending = [d for d in rows if d.id not in plan.skip] + [d for d in new if d.state != BASELINE]
    pending = [replace(d, state=PENDING) if d.id in plan.promote else d for d in pending]
    channels = Channels(settings, site_dir, secrets, requests.Session())
    try:
        for d in due(pending, now, target=target, post=post_id):
            if d.state in (SENDING, SENT):
                continue
            payload = _payload(d, live, snapshots)
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
    report: PublishReport,
    store: Store,
    todo: list[Delivery],
    live: dict[str, Post],
    snapshots: dict[str, str],
    settings: Settings,
    site_dir: Path,
    secrets: Secrets,
    wall: Clock,
    rng: random.Random,
    echo: Echo,
    should_stop: Callable[[], bool],
) -> None:
    """Attempt each due delivery once. One delivery's trouble never stops the others: a target
    that is disabled, cannot be set up, rate limits us or keeps failing is left for a later run."""
    disabled = {name for name, reason in store.known_targets().items() if reason}
    make_contents((live[d.post_id] for d in todo if d.post_id in live), None, settings.content.render_timeout)
    _drop_unrenderable(report.build, live)
    waiting: dict[str, int] = {}  # target → retryable failures in a row
    session = requests.Session()
    session.headers["User-Agent"] = "syndicate"
    channels = Channels(settings, site_dir, secrets, session, store.identity().clock_id)
    try:
        for d in todo:
            if should_stop():
                break  # asked to stop: the delivery in flight is done, the rest wait
            if d.target in disabled:
                continue
            if waiting.get(d.target, 0) >= BACK_OFF_AFTER:
                report.deferred[d.target] = report.deferred.get(d.target, 0) + 1
                continue
            payload = _payload(d, live, snapshots)
            if payload is None:
                continue
            channel = channels.get(d.target)
            if channel is None:
                report.waiting[d.target] = report.waiting.get(d.target, 0) + 1
                continue
            attempt = _attempt(store, channel, d, payload, wall, settings, rng, secrets, report.warnings)
            report.attempts.append(attempt)
            echo(_line(attempt))
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
    report.warnings.extend(secrets.redact(w) for w in channels.images.warnings)


def _attempt(
    store: Store,
    channel: Channel,
    d: Delivery,
    payload: Payload,
    clock: Clock,
    settings: Settings,
    rng: random.Random,
    secrets: Secrets,
    warnings: list[str],
) -> Attempt:
    """One attempt: compose, record the intent (durable before the request leaves), send, record
    the outcome. Whatever goes wrong — the receiver, the network, a bug in a client library —
    ends as an outcome in the ledger with its reason, never as a delivery stuck in ``sending``."""
    try:
        outgoing = channel.compose(d, payload)
    except DeliveryFailed as e:
        store.mark_sending(d.id, clock())
        return _failed(store, d, e.failure, clock, settings, rng, secrets)
    except Exception as e:  # a bug in composing: recorded and retried, never a traceback
        store.mark_sending(d.id, clock())
        return _failed(store, d, _unexpected(e, secrets), clock, settings, rng, secrets)
    d = store.mark_sending(d.id, clock(), outgoing.digest, channel.keyed)
    for _ in range(2):
        try:
            receipt = channel.send(d, outgoing, payload, clock(), store.attempts(d.id))
        except KeyTaken as e:
            warnings.append(secrets.redact(f"{d.target}: {e}; sending under a new key"))
            d = store.new_key(d.id, clock())
            continue
        except DeliveryFailed as e:
            return _failed(store, d, e.failure, clock, settings, rng, secrets)
        except Exception as e:  # the outcome is unknown: the next attempt reconciles under the same key
            failure = replace(_unexpected(e, secrets), unknown_outcome=True)
            return _failed(store, d, failure, clock, settings, rng, secrets)
        store.mark_sent(d.id, receipt.remote_id, receipt.remote_url, clock())
        return Attempt(d, SENT, receipt.remote_url or receipt.note)
    return _failed(store, d, Failure("its new remote key was taken too"), clock, settings, rng, secrets)


def _unexpected(e: Exception, secrets: Secrets) -> Failure:
    text = " ".join(str(e).split())[:UNEXPECTED_DETAIL]
    return Failure(secrets.redact(f"unexpected error: {type(e).__name__}" + (f": {text}" if text else "")))


def _failed(
    store: Store,
    d: Delivery,
    failure: Failure,
    clock: Clock,
    settings: Settings,
    rng: random.Random,
    secrets: Secrets,
) -> Attempt:
    failure = replace(failure, message=secrets.redact(failure.message))
    d = store.get(d.id)
    state, next_at, message = after_failure(d, failure, clock(), settings.delivery, rng)
    store.mark_failed(d.id, state, next_at, message, clock(), failure.unknown_outcome)
    detail = (
        message if state == DEAD else f"{message}; next try {next_at:%Y-%m-%d %H:%M:%S} UTC" if next_at else message
    )
    return Attempt(
        d,
        state,
        detail,
        failure.disable_target,
        back_off=failure.retry_after is not None,
    )


def _line(a: Attempt) -> str:
    d = a.delivery
    target = d.target.removeprefix(WEBSUB_PREFIX)
    what = d.post_id
    return f"{a.outcome:<6}  {target}  {d.event}  {what}" + (f"  {a.detail}" if a.detail else "")


def _resolve_post(ref: str, posts: list[Post]) -> str:
    """--post takes an id, a URL, a slug or a file path."""
    for p in posts:
        if ref in (p.id, p.url, p.slug, p.source) or p.source.endswith("/" + ref):
            return p.id
    raise ConfigError(f"no post {ref!r}; give its id, URL, slug or file (see `syndicate posts`)")


def resolve_post(site_dir: Path, settings: Settings, ref: str, known: dict[str, str] | None = None) -> str:
    """The post id that ``--post REF`` means, the same way for every command: an id or URL the
    ledger knows, else the id, URL, slug or file of a post in the content folder (ConfigError)."""
    if known and ref in known:
        return ref
    prepared = prepare(site_dir, datetime.now(UTC), render=False, settings=settings)
    return _resolve_post(ref, prepared.report.posts)


def check_target(settings: Settings, name: str) -> str:
    """What ``--target NAME`` is called in the ledger: a configured target's name, or a WebSub hub's
    URL (ConfigError for anything else)."""
    if settings.target(name) is not None:
        return name
    if name.removeprefix(WEBSUB_PREFIX) in settings.hubs:
        return WEBSUB_PREFIX + name.removeprefix(WEBSUB_PREFIX)
    names = ", ".join([t.name for t in settings.targets] + list(settings.hubs)) or "none configured"
    raise ConfigError(f"no target called {name!r}; targets: {names}")


def retry(site_dir: Path, *, clock: Clock, target: str | None = None, post: str | None = None) -> int:
    """Make failed and dead deliveries due now (and re-enable targets that had been disabled);
    the next `publish`, or a running `syndicate run` within seconds, sends them."""
    settings = load_settings(site_dir)
    if target is not None:
        target = check_target(settings, target)
    post_id = resolve_post(site_dir, settings, post) if post else None
    state = state_path(site_dir, settings)
    marks = ledger.read_marks(site_dir, site_dir / "public")
    if not state.is_file():  # nothing was ever recorded, or the ledger is lost (then say so)
        ledger.check(state, False, LedgerIdentity("", 0, 0, True), marks)
        return 0
    store = SQLiteStore(state)
    try:
        ledger.check(state, True, store.identity(), marks)
        return store.requeue(target, post_id, clock())
    finally:
        store.close()
