"""`publish`, `status`, `retry`: what went where, and sending it."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from ..core.model import Links, Settings
from ..core.planning import EVERY_TARGET, Delivery, DeliveryState, KnownPost, Retraction
from ..deliver.retractions import held_line, retraction_list, waiting_line
from ..deliver.throttles import Lanes, throttle_line
from .common import (
    EXIT_DELIVERY,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_REJECTED,
    OUT_HELP,
    build_exit,
    main,
    one_line_errors,
    out_target,
    parse_date,
    parse_now,
    refused_lines,
    report_problems,
    site_option,
)
from .show import plural, post_counts, print_table

HELD_LINE = (
    "held: a send's outcome was lost (it may have been posted); check the channel, then"
    " `syndicate retry --post POST --target NAME` sends it again (or, if it is there, `--sent MESSAGE_ID` records it)"
)


@main.command("publish")
@site_option
@click.option("--dry-run", is_flag=True, help="Print exactly what would be sent where, and change nothing.")
@click.option("--target", "target", metavar="NAME", help="Deliver only to this target.")
@click.option("--post", "post", metavar="ID", help="Deliver only this post (its id, URL, slug or file).")
@click.option(
    "--backfill",
    is_flag=True,
    help="Also send posts published before a target was added (normally recorded as baseline, not sent);"
    " with --post or --target, only that post or that target's.",
)
@click.option("--since", metavar="DATE", help="With --backfill: only posts published on or after DATE.")
@click.option(
    "--rebaseline",
    is_flag=True,
    help="Record every live post not delivered yet as baseline (not sent): to go on after the ledger was lost.",
)
@click.option(
    "--allow-deletions",
    is_flag=True,
    help="Carry out the retractions held because they were more at once than [delivery] max_retractions_percent"
    " (a running `syndicate run` is told, and does).",
)
@click.option("--out", metavar="DIR|s3://BUCKET/PREFIX/", default=None, callback=out_target, help=OUT_HELP)
@click.option(
    "--now",
    "now",
    metavar="WHEN",
    help="Decide what is published as if it were WHEN (ISO 8601; no offset = UTC). Later than the clock only"
    " with --dry-run: sending a scheduled post early cannot be undone.",
)
# ~90 lines: ten of them are its --help text, and every option it refuses is checked here, once.
def publish_cmd(
    site: Path,
    dry_run: bool,
    target: str | None,
    post: str | None,
    backfill: bool,
    since: str | None,
    rebaseline: bool,
    allow_deletions: bool,
    out: Path | str | None,
    now: str | None,
) -> None:
    """Build the feeds, then deliver every new post to every target, once.

    \b
    New means published (not a draft, not dated in the future) and not yet
    delivered to that target. On the first run, and for a newly added target,
    the posts already published are recorded as baseline and not sent; use
    --backfill to send them. Failed deliveries are retried on later runs
    (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), then marked dead;
    `syndicate retry` makes them due at once.
    A post that goes away loses its copies only once it has stayed away for
    [delivery] delete_after; more at once than max_retractions_percent of the
    live posts wait for --allow-deletions (exit 4 until then).
    Secrets come from the environment variables the config names.
    """
    from ..deliver.publish import Request, World, publish
    from ..errors import LockedError

    if since and not backfill:
        raise click.UsageError("--since only works with --backfill (it limits which older posts are sent)")
    if rebaseline and backfill:
        raise click.UsageError("--rebaseline records posts as not to send, --backfill sends them: choose one")
    fixed = parse_now(now) if now else None
    real = datetime.now(UTC)
    if fixed is not None and fixed > real + timedelta(seconds=1) and not dry_run:
        raise click.UsageError(
            f"--now {fixed.isoformat()} is later than the clock: posts scheduled before it would be sent now,"
            " which cannot be undone. Preview it with --dry-run; to retry what failed, run `syndicate retry`"
        )

    def clock() -> datetime:
        return fixed or datetime.now(UTC)

    from ..site import Site

    with one_line_errors():
        opened = Site.open(site, out)
        request = Request(
            dry_run=dry_run,
            target=target,
            post=post,
            backfill=backfill,
            since=parse_date(since, "--since", "2026-01-01") if since else None,
            rebaseline=rebaseline,
            floor=fixed is None,
            allow_deletions=allow_deletions,
        )
        try:
            report = publish(opened, request, World(clock, wall=lambda: datetime.now(UTC), echo=click.echo))
        except LockedError as e:
            if not allow_deletions or dry_run:
                raise
            _tell_the_holder(site, e)
    report_problems(site, report.build)
    for line in report.setup_errors:
        name = line.split(":", 1)[0]
        count = report.waiting.get(name, 0)
        waits = f"; {plural(count, 'delivery')} wait{'s' if count == 1 else ''} for it" if count else ""
        click.echo(f"error: {line}{waits}", err=True)
    for line in report.warnings:
        click.echo(f"warning: {line}", err=True)
    moment = report.now or clock()
    percent = report.build.settings.delivery.max_retractions_percent
    if dry_run:
        click.echo(f"dry run: {post_counts(report.build, moment)}; nothing written, nothing sent")
        if report.baseline:
            click.echo(f"{report.baseline} already-published post deliveries would be recorded as baseline (not sent)")
        if report.leaving:
            click.echo(waiting_line(report.leaving))
        if report.held:
            click.echo("held: " + held_line(report.held, report.live_known, report.guard_limit, percent))
        for delivery, text in report.previews:
            click.echo(f"\n--- {delivery.target}  {delivery.event}  {delivery.post_id}")
            click.echo(text)
        if not report.previews:
            if not report.build.settings.targets and not report.build.settings.hubs:
                click.echo("nothing to send: no target is configured (see [[targets]] in docs/reference/config.md)")
            else:
                click.echo("nothing to send")
        sys.exit(EXIT_REJECTED if report.build.rejected else EXIT_OK)
    sent = sum(1 for a in report.attempts if a.outcome == DeliveryState.SENT)
    failed = sum(1 for a in report.attempts if a.outcome == DeliveryState.FAILED)
    dead = sum(1 for a in report.attempts if a.outcome == DeliveryState.DEAD)
    lost = sum(1 for a in report.attempts if a.outcome == DeliveryState.HELD)
    written = len(report.build.written)
    summary = f"published: {sent} sent, {failed} to retry, {dead} dead" + (f", {lost} held" if lost else "")
    if report.waiting:
        summary += f", {sum(report.waiting.values())} waiting for a target that cannot be set up"
    summary += f"; feeds: {plural(written, 'file')} written"
    if report.upload is not None:
        up = report.upload
        summary += f", {plural(len(up.uploaded), 'object')} uploaded to {up.bucket.url}"
        summary += f", {len(up.deleted)} deleted" if up.deleted else ""
    if report.baseline:
        summary += f"; {report.baseline} recorded as baseline (not sent; --backfill sends them)"
    click.echo(summary)
    for name, count in sorted(report.deferred.items()):
        click.echo(f"{name}: {count} more left for a later run (it is failing or asked us to wait)", err=True)
    for origin, (until, count) in sorted(report.throttled.items()):
        click.echo(throttle_line(origin, until, count))
    if report.leaving:
        click.echo(waiting_line(report.leaving))
    if report.held:
        click.echo("error: " + held_line(report.held, report.live_known, report.guard_limit, percent), err=True)
        sys.exit(EXIT_DELIVERY)
    if lost:
        click.echo(f"{HELD_LINE}; `syndicate status` lists them", err=True)
    if failed or dead or lost or report.setup_errors or report.deferred:
        click.echo("see `syndicate status` for what failed and when it is retried", err=True)
        sys.exit(EXIT_DELIVERY)
    if report.upload is not None and report.upload.refused:
        for line in refused_lines(report.upload):
            click.echo(line, err=True)
        sys.exit(EXIT_OUTPUT)
    sys.exit(build_exit(report.build))


def _tell_the_holder(site: Path, e: Exception) -> NoReturn:
    """`publish --allow-deletions` while another syndicate holds the ledger (a running `syndicate
    run`): the word is recorded in the ledger, where the holder reads it; exit 0."""
    from ..deliver.publish import allow_deletions

    allow_deletions(site, lambda: datetime.now(UTC))
    holder = str(e).split(" is delivering", 1)[0].removeprefix("another syndicate ")
    click.echo(
        f"another syndicate {holder} holds the ledger: told it to carry out the held retractions (a running"
        " `syndicate run` does within seconds; see its log or `syndicate status`)"
    )
    sys.exit(EXIT_OK)


@main.command("status")
@site_option
@click.option("--target", "target", metavar="NAME", help="Only this target (or WebSub hub URL).")
@click.option("--post", "post", metavar="ID", help="Only this post (its id, URL, slug or file).")
@click.option("--all", "show_all", is_flag=True, help="Also list baseline and skipped deliveries.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print it as JSON: each post's deliveries and its syndication links."
)
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    help="Every site in this PostgreSQL database instead (postgresql://USER@HOST:PORT/DB, no password in it):"
    " each lane (site × target) with its counts, its oldest due delivery and how many are late. Reads only"
    " the database, not the site folder; exits 4 when a delivery is late.",
)
@click.option(
    "--password-env",
    metavar="NAME",
    default=None,
    help="With --store: the environment variable holding the password.  [default: libpq's PGPASSWORD or ~/.pgpass]",
)
@click.option(
    "--late-after",
    metavar="MINUTES",
    type=click.IntRange(0),
    default=None,
    help="With --store: a delivery due for longer than this is late.  [default: 15]",
)
def status_cmd(
    site: Path,
    target: str | None,
    post: str | None,
    show_all: bool,
    as_json: bool,
    store_url: str | None,
    password_env: str | None,
    late_after: int | None,
) -> None:
    """Show what went where: post × target, state, remote URL, attempts, next retry, last error.

    With --json, one JSON document: for each post (by URL) its title, its syndication links
    (target → the URL of its copy there, as in syndication.json) and its deliveries.

    \b
    With --store URL, every site in a PostgreSQL store instead, one line per
    lane (site × target): how many deliveries were sent, are pending, being
    sent, failed (to retry) or dead, how many are late (due for longer than
    --late-after minutes, by the database's clock) and since when the oldest
    due one waits. --all adds baseline and skipped; --target keeps one target.
    """
    if store_url is not None:
        if post:
            raise click.UsageError("--post reads a site's posts: with --store, status shows every site's lanes")
        from .store_status import LATE_AFTER, show_store

        show_store(store_url, password_env, LATE_AFTER if late_after is None else late_after, target, show_all, as_json)
        return
    if password_env is not None or late_after is not None:
        raise click.UsageError("--password-env and --late-after go with --store URL")
    from ..config import load_settings, output_dir
    from ..core.planning import BASELINE, PENDING, SKIPPED, WEBSUB_PREFIX, syndication_links
    from ..deliver import ledger
    from ..deliver.publish import check_target, resolve_post

    with one_line_errors():
        settings = load_settings(site)
        if target:
            check_target(settings, target)
        where = ledger.place(site, settings)
        existed = where.exists()
        store = where.open(readonly=True)
        try:
            where.check(existed, store.identity(), ledger.read_marks(site, output_dir(site, settings)))
            rows = store.deliveries()
            known = store.known_posts()
            titles = {k.post_id: k.title for k in known.values()}
            disabled = {name: why for name, why in store.known_targets().items() if why}
            held = store.meta("retractions_held")
            lanes = Lanes.read(store, settings, datetime.now(UTC))
        finally:
            store.close()
        post_id = resolve_post(site, settings, post, known) if post else None
    if target:
        rows = [d for d in rows if d.target.removeprefix(WEBSUB_PREFIX) == target or d.target == target]
    if post_id:
        rows = [d for d in rows if d.post_id == post_id]
    hidden = [d for d in rows if d.state in (BASELINE, SKIPPED)]
    if not show_all:
        rows = [d for d in rows if d.state not in (BASELINE, SKIPPED)]
    if as_json:
        leaving = _retractions(settings, known, post_id, target)
        click.echo(_status_json(rows, known, syndication_links(rows + hidden), leaving, held is not None))
        return
    if not rows and not hidden:
        click.echo("nothing delivered yet" + ("" if target or post else ": run `syndicate publish`"))
        return
    blocked = settings.missing_secrets(os.environ)
    table = [("POST", "TARGET", "EVENT", "STATE", "TRIES", "NEXT RETRY (UTC)", "REMOTE / LAST ERROR")]
    throttled: dict[str, tuple[datetime, int]] = {}  # origin → (until, open deliveries that wait for it)
    for d in sorted(rows, key=lambda d: (titles.get(d.post_id, d.post_id), d.target, d.event)):
        opened = d.state in (DeliveryState.PENDING, DeliveryState.FAILED)
        nxt = f"{d.next_attempt_at:%Y-%m-%d %H:%M:%S}" if d.next_attempt_at and opened else "-"
        last = d.remote_url or d.remote_id or "" if d.state == DeliveryState.SENT else d.last_error or ""
        if opened and (waits := lanes.waits(d, datetime.now(UTC))) is not None:
            origin, until = waits
            throttled[origin] = (until, throttled.get(origin, (until, 0))[1] + 1)
            nxt = f"{lanes.due_at(d, d.next_attempt_at or until):%Y-%m-%d %H:%M:%S}"
            last = last or f"waits: {origin} asked to slow down (HTTP 429)"
        if d.state == PENDING and not last:
            gone = not d.target.startswith(WEBSUB_PREFIX) and settings.target(d.target) is None
            why = "the target is no longer in the config" if gone else blocked.get(d.target)
            last = f"waits: {why}" if why else "waits for the next publish"
        table.append(
            (
                titles.get(d.post_id, d.post_id),
                d.target.removeprefix(WEBSUB_PREFIX),
                d.event,
                d.state,
                str(d.attempts),
                nxt,
                last,
            )
        )
    if len(table) > 1:
        print_table(table, max_width=40)
    counts: dict[str, int] = {}
    for d in rows + ([] if show_all else hidden):
        counts[d.state] = counts.get(d.state, 0) + 1
    click.echo("\n" + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    for d in rows:
        if d.state == DeliveryState.HELD:
            k = known.get(d.post_id)
            ref = k.url if k else d.post_id
            click.echo(
                f"held: {titles.get(d.post_id, d.post_id)!r} on {d.target}: its send's outcome was lost (it may have"
                f" been posted); check the channel; `syndicate retry --post {ref} --target {d.target}` sends it again"
                " (or, if it is there, add `--sent MESSAGE_ID` to record it)"
            )
    for name, why in sorted(disabled.items()):
        click.echo(f"target {name} is disabled: {why}; `syndicate retry --target {name}` re-enables it")
    for origin, (until, count) in sorted(throttled.items()):
        click.echo(throttle_line(origin, until, count))
    _status_retractions(settings, known, held, post_id, target)


def _status_retractions(
    settings: Settings, known: dict[str, KnownPost], held: str | None, post_id: str | None, target: str | None
) -> None:
    """The retractions noticed and not carried out: waiting out [delivery] delete_after, due (the
    next run carries them out), or held by the guard (waiting for `publish --allow-deletions`)."""
    pending = _retractions(settings, known, post_id, target)
    if not pending:
        return
    now = datetime.now(UTC)
    waiting = [r for r in pending if r.due > now]
    due = [r for r in pending if r.due <= now]
    if waiting:
        click.echo(waiting_line(waiting))
    if due and held:
        click.echo(
            f"retractions held, more at once than [delivery] max_retractions_percent lets through:"
            f"{retraction_list(due)}\nrun `syndicate publish --allow-deletions` if they are really gone"
        )
    elif due:
        click.echo(f"retractions due (the next `syndicate publish` carries them out):{retraction_list(due)}")


def _retractions(
    settings: Settings, known: dict[str, KnownPost], post_id: str | None, target: str | None
) -> list[Retraction]:
    """The retractions the ledger noticed and has not carried out, each with when it is due."""
    after = timedelta(seconds=settings.delivery.delete_after)
    return [
        Retraction(k.post_id, k.title, k.url, key, when + after)
        for k in known.values()
        if not k.deleted and (post_id is None or k.post_id == post_id)
        for key, when in k.leaving
        if target is None or key in (EVERY_TARGET, target)
    ]


def _status_json(
    rows: list[Delivery],
    known: dict[str, KnownPost],
    links: dict[str, Links],
    leaving: list[Retraction],
    held: bool,
) -> str:
    """`status --json`: sorted, so that the same ledger prints the same bytes (a retraction says
    when it is due, not whether it is due now: the reader compares with its own clock)."""
    from ..core.planning import WEBSUB_PREFIX

    def when(value: datetime | None) -> str | None:
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None

    posts: dict[str, dict[str, Any]] = {}
    for d in rows:
        if d.target.startswith(WEBSUB_PREFIX):
            continue
        k = known.get(d.post_id)
        entry = posts.setdefault(
            k.url if k else d.post_id,
            {
                "id": d.post_id,
                "title": k.title if k else None,
                "syndication": dict(links.get(d.post_id, ())),
                "deliveries": [],
            },
        )
        entry["deliveries"].append(
            {
                "target": d.target,
                "event": d.event,
                "state": str(d.state),
                "attempts": d.attempts,
                "created": when(d.created_at),
                "next_attempt": when(d.next_attempt_at) if d.state in ("pending", "failed") else None,
                "remote_url": d.remote_url,
                "last_error": d.last_error,
            }
        )
    for entry in posts.values():
        entry["deliveries"].sort(key=lambda r: (r["target"], r["created"] or "", r["event"]))
    retractions = [
        {
            "id": r.post_id,
            "title": r.title,
            "url": r.url,
            "target": None if r.target == EVERY_TARGET else r.target,  # None: every target
            "due": when(r.due),
        }
        for r in sorted(leaving, key=lambda r: (r.due, r.url, r.target))
    ]
    document = {"posts": posts, "retractions": retractions, "retractions_held": held}
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)


@main.command("retry")
@site_option
@click.option("--target", "target", metavar="NAME", help="Only deliveries to this target.")
@click.option("--post", "post", metavar="ID", help="Only this post (id, URL, slug or file).")
@click.option(
    "--sent",
    "sent",
    metavar="MESSAGE_ID",
    help="With --post and --target: the post's held send did arrive, as this message (Discord: its id from"
    " Copy Message ID; Telegram: the number that ends its link). It is recorded as sent, nothing is sent, and"
    " the post's later edits and its deletion reach that message.",
)
def retry_cmd(site: Path, target: str | None, post: str | None, sent: str | None) -> None:
    """Retry what failed, now: failed and dead deliveries become due at once.

    Dead ones start their attempts again. Also re-enables targets that were
    disabled (a webhook that answered 410) and lifts the wait of a server that
    answered 429. The next `publish` sends them; a running `syndicate run`
    notices and sends them within seconds. A held send (its outcome was lost on
    Discord or Telegram: it may have been posted) goes again only when its post
    is named with --post: check the channel first.
    """
    from ..deliver.publish import retry, settle

    if sent is not None:
        if target is None or post is None:
            raise click.UsageError("--sent needs --post and --target: which post's held send arrived, and where")
        with one_line_errors():
            post_id = settle(site, clock=lambda: datetime.now(UTC), target=target, post=post, message_id=sent)
        click.echo(
            f"recorded {post_id} on {target} as sent (message {sent}); its later edits and its deletion reach it"
        )
        return
    with one_line_errors():
        count = retry(site, clock=lambda: datetime.now(UTC), target=target, post=post)
    noun = "delivery" if count == 1 else "deliveries"
    click.echo(
        f"{count} failed or dead {noun} due now; `syndicate publish` sends them (a running `syndicate run` does"
        " within seconds)"
    )
