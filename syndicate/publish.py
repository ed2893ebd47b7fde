"""Delivering posts: build, plan, record intents, send, record outcomes (the shell around
:mod:`syndicate.planning`).

The order is what makes "exactly once" hold through crashes:

1. render the feeds and compute which files will change (nothing written yet);
2. plan and *record* every new delivery (and WebSub ping) in the ledger;
3. write the feeds;
4. for each due delivery: mark it ``sending`` (committed) → network call → mark the outcome.

A process killed anywhere leaves either no intent (the next run plans it again) or an
intent in ``pending``/``sending``/``failed``: the next run retries it under the same
idempotency key (webhook-id, Idempotency-Key, Bluesky record key checked with getRecord),
so the receiver sees it once.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import requests

from . import app
from .cache import PostCache
from .channels.base import Channel, DeliveryFailed, ImageSource, Payload
from .config import load_settings
from .errors import ConfigError
from .feeds import IncrementalPlan
from .model import Post, Settings, TargetSettings
from .planning import (
    DEAD,
    SENDING,
    SENT,
    SKIPPED,
    WEBSUB_PREFIX,
    Delivery,
    Failure,
    after_failure,
    due,
    plan_pings,
    plan_posts,
)
from .render.jsonfeed import json_item
from .store import SQLiteStore, lock

Clock = Callable[[], datetime]
Echo = Callable[[str], None]


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
    outcome: str  # sent | failed | dead
    detail: str = ""
    disable_target: bool = False


@dataclass
class PublishReport:
    build: app.BuildReport
    attempts: list[Attempt] = field(default_factory=list)
    planned: int = 0
    baseline: int = 0
    previews: list[tuple[Delivery, str]] = field(default_factory=list)
    setup_errors: list[str] = field(default_factory=list)
    next_attempt: datetime | None = None  # the earliest retry still waiting in the ledger

    @property
    def failed(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome in ("failed", "dead")]


def state_path(site_dir: Path, settings: Settings) -> Path:
    path = Path(settings.state_path)
    return path if path.is_absolute() else site_dir / path


SNAPSHOT_BATCH = 1000


def json_snapshot(post: Post) -> str:
    """What the ledger keeps of a post, for its `post.deleted`: its JSON Feed item without the
    content (a receiver needs to know which post went, not its body again)."""
    item = json_item(post)
    item.pop("content_html", None)
    return json.dumps(item, ensure_ascii=False, sort_keys=True)


class Channels:
    """Channels made on first use, one per target; a target that cannot be set up is reported once."""

    def __init__(self, settings: Settings, site_dir: Path, secrets: Secrets, session: requests.Session) -> None:
        self.settings = settings
        self.secrets = secrets
        self.session = session
        static = settings.content.static
        self.images = ImageSource(settings.site.url, (site_dir / static) if static else None, session)
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

        return BlueskyChannel(target, self.secrets.get(target, "password_env"), self.images)

    def close(self) -> None:
        for channel in self.made.values():
            channel.close()


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
    out_dir: Path | None = None,
    use_cache: bool = True,
    echo: Echo = lambda line: None,
    rng: random.Random | None = None,
    secrets: Secrets | None = None,
    wall: Clock | None = None,
    take_lock: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
    cache: PostCache | None = None,
    memo: app.RenderMemo | None = None,
    watch: app.ContentWatch | None = None,
    planner: IncrementalPlan | None = None,
) -> PublishReport:
    """Build the feeds, then deliver what is due. ``--dry-run`` writes and sends nothing.

    ``clock`` decides what is published and due (``--now`` can move it); ``wall`` is the
    real time, for what receivers check (webhook timestamps) and for the ledger's retry times.
    """
    wall = wall or clock
    rng = rng or random.Random()
    secrets = secrets or Secrets()
    now = clock()
    settings = load_settings(site_dir)
    if target is not None and settings.target(target) is None:
        names = ", ".join(t.name for t in settings.targets) or "none configured"
        raise ConfigError(f"no target called {target!r}; targets: {names}")
    state = state_path(site_dir, settings)
    with lock(state.with_name("lock")) if take_lock and not dry_run else nullcontext():
        prepared = app.prepare(
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
        # 1. the feeds first: readers see a post as soon as possible. Safe before the ledger:
        # what to deliver is planned from the ledger and the posts, never from what was written.
        build = prepared.report if dry_run else app.write_outputs(prepared)
        report = PublishReport(build)
        live = {p.id: p for p in prepared.report.live(now)}
        post_id = _resolve_post(post, prepared.report.posts) if post else None

        store = SQLiteStore(state, readonly=dry_run)
        try:
            known_targets = store.known_targets()
            known = store.known_posts()
            rows = store.deliveries() if dry_run else store.delivery_keys()
            unreadable = {p.path for p in prepared.report.rejected}
            # The ledger keeps a snapshot of each new or edited post (its summary is made from
            # its HTML): on every core when there are many (a first run on a big site), a batch
            # at a time, the HTML forgotten again after each batch.
            fresh = [
                p for p in live.values() if (k := known.get(p.id)) is None or k.deleted or k.revision != p.revision
            ]
            snaps: dict[str, str] = {}
            workers = app.Workers()
            try:
                for i in range(0, len(fresh), SNAPSHOT_BATCH):
                    batch = fresh[i : i + SNAPSHOT_BATCH]
                    made = [p for p in batch if not p.content.ready]
                    app.make_contents(batch, workers)
                    snaps.update((p.id, json_snapshot(p)) for p in batch)
                    for p in made:
                        p.content.release()
            finally:
                workers.close()
            plan = plan_posts(
                now=now,
                live=list(live.values()),
                snapshot=lambda p: snaps.get(p.id) or json_snapshot(p),
                unreadable_sources=unreadable,
                known=known,
                targets=settings.targets,
                known_targets=set(known_targets),
                deliveries=rows,
                backfill=backfill,
                since=since,
            )
            digests = (
                {prepared.feed_url(rel): prepared.digest(rel) for rel in prepared.files if prepared.is_feed(rel)}
                if settings.hubs
                else {}
            )
            pings = plan_pings(now, digests, {prepared.feed_url(rel) for rel in changed}, settings.hubs, rows)
            plan.skip.update(pings.skip)
            new = plan.new + pings.new
            report.planned = sum(1 for d in new if d.state != "baseline")
            report.baseline = sum(1 for d in plan.new if d.state == "baseline")  # posts, not feed pings
            deleting = {d.post_id for d in plan.new if d.event == "post.deleted"}
            deleting |= {
                d.post_id for d in rows if d.event == "post.deleted" and d.state in ("pending", "failed", "sending")
            }
            snapshots = store.snapshots(deleting)
            snapshots.update({p.post_id: p.snapshot for p in plan.posts if p.snapshot})

            if dry_run:
                prepared_report = app.finish(prepared)
                report.build = prepared_report
                pending = [d for d in rows if d.id not in plan.skip] + [d for d in new if d.state != "baseline"]
                pending = [replace(d, state="pending") if d.id in plan.promote else d for d in pending]
                channels = Channels(settings, site_dir, secrets, requests.Session())
                try:
                    for d in due(pending, now, target=target, post=post_id):
                        if d.state == SENDING or d.state == SENT:
                            continue
                        payload = _payload(d, live, snapshots)
                        if payload is None:
                            continue
                        channel = channels.get(d.target)
                        text = (
                            channel.preview(d, payload) if channel else f"(cannot preview: {channels.broken[d.target]})"
                        )
                        report.previews.append((d, secrets.redact(text)))
                finally:
                    channels.close()
                return report

            # 2. record intents before anything leaves the machine
            store.add_targets(plan.new_targets, now)
            store.add_deliveries(new)
            for delivery_id, why in plan.skip.items():
                store.set_state([delivery_id], SKIPPED, why, now)
            store.set_state(plan.promote, "pending", None, now)
            store.save_posts(plan.posts)
            # 3. deliver
            disabled = {name for name, reason in store.known_targets().items() if reason}
            session = requests.Session()
            session.headers["User-Agent"] = "syndicate"
            channels = Channels(settings, site_dir, secrets, session)
            try:
                for d in due(store.open_deliveries(), now, target=target, post=post_id):
                    if should_stop():
                        break  # asked to stop: the delivery in flight is done, the rest wait
                    if d.target in disabled:
                        continue
                    payload = _payload(d, live, snapshots)
                    if payload is None:
                        continue
                    channel = channels.get(d.target)
                    if channel is None:
                        continue
                    attempt = _attempt(store, channel, d, payload, wall, settings, rng, secrets)
                    report.attempts.append(attempt)
                    echo(_line(attempt))
                    if attempt.disable_target:
                        store.disable_target(d.target, attempt.detail)
                        disabled.add(d.target)
            finally:
                channels.close()
                session.close()
            report.setup_errors = [f"{name}: {why}" for name, why in sorted(channels.broken.items())]
            report.next_attempt = min(
                (
                    d.next_attempt_at
                    for d in store.open_deliveries()
                    if d.state in ("pending", "failed") and d.next_attempt_at
                ),
                default=None,
            )
        finally:
            store.close()
    return report


def _attempt(
    store: SQLiteStore,
    channel: Channel,
    d: Delivery,
    payload: Payload,
    clock: Clock,
    settings: Settings,
    rng: random.Random,
    secrets: Secrets,
) -> Attempt:
    d = store.mark_sending(d.id, clock())  # the intent is durable before the request leaves
    try:
        receipt = channel.deliver(d, payload, clock())
    except DeliveryFailed as e:
        failure = Failure(
            secrets.redact(e.failure.message), e.failure.permanent, e.failure.retry_after, e.failure.disable_target
        )
        state, next_at, message = after_failure(d, failure, clock(), settings.delivery, rng)
        store.mark_failed(d.id, state, next_at, message, clock())
        detail = (
            message if state == DEAD else f"{message}; next try {next_at:%Y-%m-%d %H:%M:%S} UTC" if next_at else message
        )
        return Attempt(d, "dead" if state == DEAD else "failed", detail, failure.disable_target)
    store.mark_sent(d.id, receipt.remote_id, receipt.remote_url, clock())
    return Attempt(d, "sent", receipt.remote_url or receipt.note)


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


def retry(site_dir: Path, *, clock: Clock, target: str | None = None, post: str | None = None) -> int:
    """Put dead deliveries back in the queue (and re-enable targets that had been disabled)."""
    settings = load_settings(site_dir)
    post_id = None
    if post:
        prepared = app.prepare(site_dir, clock())
        post_id = _resolve_post(post, prepared.report.posts)
    store = SQLiteStore(state_path(site_dir, settings))
    try:
        return store.requeue(target, post_id, clock())
    finally:
        store.close()
