"""The `syndicate` command. Maps errors to exit codes and one-line messages.

Exit codes (every command):
    0  done, nothing wrong
    1  done, but some posts were rejected (their problems are printed; feeds still written)
    2  usage or configuration error: nothing was done
    3  the output folder could not be written (or the port bound, for `run`)
    4  publish: some deliveries failed (they will be retried) or are dead
    5  another syndicate is delivering for this site
    6  the delivery ledger is missing, unreadable or not this site's: nothing was sent
"""

from __future__ import annotations

import os
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import click

from . import __version__
from .build import BuildReport, build
from .errors import LockedError, OutputError, StoreError, SyndicateError, UnsafePathError
from .model import Problem, printable
from .planning import DeliveryState

EXIT_OK, EXIT_REJECTED, EXIT_CONFIG, EXIT_OUTPUT, EXIT_DELIVERY, EXIT_BUSY, EXIT_LEDGER = 0, 1, 2, 3, 4, 5, 6


def exit_code(error: SyndicateError) -> int:
    """The one place that maps an error to the exit code every command documents."""
    if isinstance(error, LockedError):
        return EXIT_BUSY
    if isinstance(error, StoreError):  # LedgerLostError too
        return EXIT_LEDGER
    if isinstance(error, OutputError | UnsafePathError):
        return EXIT_OUTPUT
    return EXIT_CONFIG  # ConfigError, and a ContentError that stops a command (no content folder)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Any error syndicate raises on purpose ends the command with its one line and exit code."""
    try:
        yield
    except SyndicateError as e:
        hint = "; check that the output folder is writable" if isinstance(e, OutputError | UnsafePathError) else ""
        _fail(exit_code(e), f"{e}{hint}")


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date like 2026-12-24T09:00:00+01:00", param_hint="--now"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _moment(site: Path, value: str | None) -> datetime:
    """``--now``, else the clock, but never before the newest post the ledger has seen live: a
    clock that stepped back (a VM restored, NTP) does not take posts that went out off the feeds."""
    if value:
        return _now(value)
    from . import ledger
    from .config import load_settings

    with one_line_errors():
        until = ledger.announced_until(site, load_settings(site))
    now = _now(None)
    return max(now, until) if until is not None else now


def _fail(code: int, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _shown(site: Path, problem: Problem) -> str:
    """A problem, its path relative to the site when the site is here, else absolute."""
    if site.resolve() == Path.cwd().resolve():
        return str(problem)
    moved = Problem(f"{site.resolve()}/{problem.path}", problem.message, problem.line, problem.severity)
    return str(moved)


def _run_build(site: Path, out: Path | None, now: datetime, *, write: bool, use_cache: bool) -> BuildReport:
    progress = None
    if sys.stderr.isatty():

        def progress(done: int, total: int) -> None:
            if total >= 500 and (done % 250 == 0 or done == total):
                click.echo(f"\rreading posts {done}/{total}", err=True, nl=done == total)

    with one_line_errors():
        return build(site, now, out_dir=out, write=write, use_cache=use_cache, progress=progress)
    raise AssertionError("unreachable")


def _report_problems(site: Path, report: BuildReport) -> None:
    for problem in sorted(report.problems, key=lambda p: (p.path, p.line or 0)):
        click.echo(_shown(site, problem), err=True)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)


def _counts(report: BuildReport, now: datetime) -> str:
    tally = report.tally(now)
    parts = [_plural(tally.live, "published post")]
    if tally.drafts:
        parts.append(_plural(tally.drafts, "draft"))
    if tally.scheduled:
        parts.append(f"{len(tally.scheduled)} scheduled")
    if tally.rejected:
        parts.append(_plural(tally.rejected, "rejected file"))
    return ", ".join(parts)


def _plural(n: int, noun: str) -> str:
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun[:-1]}ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else f"{n} {noun}s"


def _site(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    """``--site`` given to the command, else to `syndicate` itself (before the command), else "."."""
    if value is not None:
        return value
    given = ctx.find_root().params.get("site")
    return given if isinstance(given, Path) else Path(".")


SITE_HELP = "The site folder: holds config/syndicate.toml and content/.  [default: .]"
site_option = click.option(
    "--site", type=click.Path(file_okay=False, path_type=Path), default=None, callback=_site, help=SITE_HELP
)
now_option = click.option(
    "--now",
    metavar="DATETIME",
    help="Pretend it is this moment (ISO 8601) when deciding which posts are published; "
    "for previewing scheduled posts.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="syndicate")
@click.option("--site", type=click.Path(file_okay=False, path_type=Path), default=None, help=SITE_HELP)
def main(site: Path | None) -> None:
    """Build RSS, Atom and JSON feeds from a folder of Markdown posts.

    \b
    Exit codes: 0 ok · 1 some posts rejected (the rest built) ·
                2 usage or config error · 3 output not writable ·
                4 some deliveries failed · 5 another syndicate is delivering ·
                6 the delivery ledger is missing, unreadable or not this site's
    """


@main.command("build")
@site_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the feeds.  [default: SITE/public]",
)
@click.option("--no-cache", is_flag=True, help="Re-read every post instead of reusing .syndicate/cache.db.")
@now_option
def build_cmd(site: Path, out: Path | None, no_cache: bool, now: str | None) -> None:
    """Write the feeds: RSS, Atom and JSON Feed for the site and each tag.

    RSS 2.0, Atom 1.0 and JSON Feed 1.1, for the whole site and for every tag,
    plus index.html (feed autodiscovery) and feeds.opml (subscribe to all).
    Files whose bytes did not change are left alone. Exits 1 when a post was
    rejected: its problem is printed and the other posts are still published.
    """
    moment = _moment(site, now)
    report = _run_build(site, out, moment, write=True, use_cache=not no_cache)
    _report_problems(site, report)
    out_dir = out if out is not None else site / "public"
    tally = report.tally(moment)
    click.echo(
        f"built {_plural(tally.feeds, 'feed')} ({report.files} files) from {_counts(report, moment)}"
        f" in {report.seconds:.2f} s"
    )
    unchanged = report.files - len(report.written)
    removed = f", {len(report.removed)} removed" if report.removed else ""
    click.echo(f"{out_dir}/: {len(report.written)} written, {unchanged} unchanged{removed}")
    if tally.scheduled:
        when, source = tally.scheduled[0]
        click.echo(f"next scheduled: {when:%Y-%m-%d %H:%M} UTC  {source}")
    sys.exit(EXIT_REJECTED if report.rejected else EXIT_OK)


@main.command("check")
@site_option
@now_option
def check_cmd(site: Path, now: str | None) -> None:
    """Check the config and every post without writing anything.

    Prints one line per problem (file:line: error|warning: what to fix) and exits 1
    if any post would be rejected.
    """
    moment = _moment(site, now)
    report = _run_build(site, None, moment, write=False, use_cache=True)
    _report_problems(site, report)
    for name, why in sorted(report.settings.missing_secrets(os.environ).items()):
        click.echo(f"warning: target {name!r}: {why}; publish cannot deliver to it until it is", err=True)
    status = "problems found" if report.rejected else "ok"
    click.echo(f"{status}: {_counts(report, moment)}, {_plural(len(report.feeds), 'feed')}")
    sys.exit(EXIT_REJECTED if report.rejected else EXIT_OK)


@main.command("feeds")
@site_option
@now_option
def feeds_cmd(site: Path, now: str | None) -> None:
    """List every feed: its posts, newest post and URLs.

    Reads the posts but writes nothing; the URLs are where `build` output is served.
    """
    moment = _moment(site, now)
    report = _run_build(site, None, moment, write=False, use_cache=True)
    _report_problems(site, report)
    rows = [("FEED", "POSTS", "NEWEST (UTC)", "RSS / ATOM / JSON FEED")]
    for feed in report.feeds:
        newest = f"{feed.posts[0].published:%Y-%m-%d %H:%M}" if feed.posts else "-"
        name = "(all posts)" if feed.tag is None else feed.tag
        rows.append((name, str(len(feed.posts)), newest, feed.links.urls["rss"]))
        rows.extend(("", "", "", feed.links.urls[fmt]) for fmt in ("atom", "json"))
    _table(rows)
    sys.exit(EXIT_REJECTED if report.rejected else EXIT_OK)


def _width(text: str) -> int:
    """Columns a string takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(rows: Sequence[tuple[str, ...]], max_width: int = 48) -> None:
    """Print rows as aligned columns; the last column is never cut (URLs stay whole)."""

    def cut(text: str) -> str:
        """Long cells lose their end, but a URL loses its middle: two feed URLs that differ only at
        the end (two feeds of one WebSub hub) must not look the same."""
        if _width(text) <= max_width:
            return text
        if "://" not in text:
            while _width(text) > max_width:
                text = text[:-2] + "…"
            return text
        head, tail = text[: max_width // 2], text[-(max_width // 2) :]
        while _width(head) + _width(tail) + 1 > max_width:
            head, tail = head[:-1], tail[1:]
        return head + "…" + tail

    cells = [[cut(c) for c in row[:-1]] + [row[-1]] for row in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(rows[0]) - 1)]
    for row in cells:
        padded = [c + " " * (widths[i] - _width(c)) for i, c in enumerate(row[:-1])]
        click.echo("  ".join([*padded, row[-1]]).rstrip())


@main.command("posts")
@site_option
@now_option
def posts_cmd(site: Path, now: str | None) -> None:
    """List every post: status, date, title, tags, URL."""
    moment = _moment(site, now)
    report = _run_build(site, None, moment, write=False, use_cache=True)
    _report_problems(site, report)
    rows = [("STATUS", "DATE (UTC)", "TITLE", "TAGS", "URL")]
    for post in sorted(report.posts, key=lambda p: p.published, reverse=True):
        status = "draft" if post.draft else ("scheduled" if post.published > moment else "published")
        rows.append((status, f"{post.published:%Y-%m-%d %H:%M}", post.title, ", ".join(post.tags), post.url))
    rejected = {p.path: p for p in sorted(report.rejected, key=lambda p: (p.path, p.line or 0))}
    for path, problem in rejected.items():
        rows.append(("rejected", "-", printable(problem.message), "", printable(path)))
    _table(rows)
    sys.exit(EXIT_REJECTED if report.rejected else EXIT_OK)


def _parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-01-01", param_hint="--since") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@main.command("publish")
@site_option
@click.option("--dry-run", is_flag=True, help="Print exactly what would be sent where, and change nothing.")
@click.option("--target", "target", metavar="NAME", help="Deliver only to this target.")
@click.option("--post", "post", metavar="ID", help="Deliver only this post (its id, URL, slug or file).")
@click.option(
    "--backfill",
    is_flag=True,
    help="Also send posts published before a target was added (normally recorded as baseline, not sent).",
)
@click.option("--since", metavar="DATE", help="With --backfill: only posts published on or after DATE.")
@click.option(
    "--rebaseline",
    is_flag=True,
    help="Record every live post not delivered yet as baseline (not sent): to go on after the ledger was lost.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the feeds go.  [default: SITE/public]",
)
@click.option(
    "--now",
    "now",
    metavar="WHEN",
    help="Decide what is published as if it were WHEN (ISO 8601; no offset = UTC). Later than the clock only"
    " with --dry-run: sending a scheduled post early cannot be undone.",
)
def publish_cmd(
    site: Path,
    dry_run: bool,
    target: str | None,
    post: str | None,
    backfill: bool,
    since: str | None,
    rebaseline: bool,
    out: Path | None,
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
    Secrets come from the environment variables the config names.
    """
    from .publish import publish

    if since and not backfill:
        raise click.UsageError("--since only works with --backfill (it limits which older posts are sent)")
    if rebaseline and backfill:
        raise click.UsageError("--rebaseline records posts as not to send, --backfill sends them: choose one")
    fixed = _now(now) if now else None
    real = datetime.now(UTC)
    if fixed is not None and fixed > real + timedelta(seconds=1) and not dry_run:
        raise click.UsageError(
            f"--now {fixed.isoformat()} is later than the clock: posts scheduled before it would be sent now,"
            " which cannot be undone. Preview it with --dry-run; to retry what failed, run `syndicate retry`"
        )

    def clock() -> datetime:
        return fixed or datetime.now(UTC)

    with one_line_errors():
        report = publish(
            site,
            clock=clock,
            dry_run=dry_run,
            target=target,
            post=post,
            backfill=backfill,
            since=_parse_since(since),
            rebaseline=rebaseline,
            out_dir=out,
            echo=click.echo,
            wall=lambda: datetime.now(UTC),
            floor=fixed is None,
        )
    _report_problems(site, report.build)
    for line in report.setup_errors:
        name = line.split(":", 1)[0]
        count = report.waiting.get(name, 0)
        waits = f"; {_plural(count, 'delivery')} wait{'s' if count == 1 else ''} for it" if count else ""
        click.echo(f"error: {line}{waits}", err=True)
    for line in report.warnings:
        click.echo(f"warning: {line}", err=True)
    moment = report.now or clock()
    if dry_run:
        click.echo(f"dry run: {_counts(report.build, moment)}; nothing written, nothing sent")
        if report.baseline:
            click.echo(f"{report.baseline} already-published post deliveries would be recorded as baseline (not sent)")
        for delivery, text in report.previews:
            click.echo(f"\n--- {delivery.target}  {delivery.event}  {delivery.post_id}")
            click.echo(text)
        if not report.previews:
            if not report.build.settings.targets and not report.build.settings.hubs:
                click.echo("nothing to send: no target is configured (see [[targets]] in the README)")
            else:
                click.echo("nothing to send")
        sys.exit(EXIT_REJECTED if report.build.rejected else EXIT_OK)
    sent = sum(1 for a in report.attempts if a.outcome == DeliveryState.SENT)
    failed = sum(1 for a in report.attempts if a.outcome == DeliveryState.FAILED)
    dead = sum(1 for a in report.attempts if a.outcome == DeliveryState.DEAD)
    written = len(report.build.written)
    summary = f"published: {sent} sent, {failed} to retry, {dead} dead"
    if report.waiting:
        summary += f", {sum(report.waiting.values())} waiting for a target that cannot be set up"
    summary += f"; feeds: {_plural(written, 'file')} written"
    if report.baseline:
        summary += f"; {report.baseline} recorded as baseline (not sent; --backfill sends them)"
    click.echo(summary)
    for name, count in sorted(report.deferred.items()):
        click.echo(f"{name}: {count} more left for a later run (it is failing or asked us to wait)", err=True)
    if failed or dead or report.setup_errors or report.deferred:
        click.echo("see `syndicate status` for what failed and when it is retried", err=True)
        sys.exit(EXIT_DELIVERY)
    sys.exit(EXIT_REJECTED if report.build.rejected else EXIT_OK)


@main.command("status")
@site_option
@click.option("--target", "target", metavar="NAME", help="Only this target (or WebSub hub URL).")
@click.option("--post", "post", metavar="ID", help="Only this post (its id, URL, slug or file).")
@click.option("--all", "show_all", is_flag=True, help="Also list baseline and skipped deliveries.")
def status_cmd(site: Path, target: str | None, post: str | None, show_all: bool) -> None:
    """Show what went where: post × target, state, remote URL, attempts, next retry, last error."""
    from . import ledger
    from .config import load_settings
    from .planning import BASELINE, PENDING, SKIPPED, WEBSUB_PREFIX
    from .publish import check_target, resolve_post
    from .store import SQLiteStore

    with one_line_errors():
        settings = load_settings(site)
        if target:
            check_target(settings, target)
        path = ledger.state_path(site, settings)
        existed = path.is_file()
        store = SQLiteStore(path, readonly=True)
        try:
            ledger.check(path, existed, store.identity(), ledger.read_marks(site, site / "public"))
            rows = store.deliveries()
            titles = {k.post_id: k.title for k in store.known_posts().values()}
            disabled = {name: why for name, why in store.known_targets().items() if why}
        finally:
            store.close()
        post_id = resolve_post(site, settings, post, titles) if post else None
    if target:
        rows = [d for d in rows if d.target.removeprefix(WEBSUB_PREFIX) == target or d.target == target]
    if post_id:
        rows = [d for d in rows if d.post_id == post_id]
    hidden = [d for d in rows if d.state in (BASELINE, SKIPPED)]
    if not show_all:
        rows = [d for d in rows if d.state not in (BASELINE, SKIPPED)]
    if not rows and not hidden:
        click.echo("nothing delivered yet" + ("" if target or post else ": run `syndicate publish`"))
        return
    blocked = settings.missing_secrets(os.environ)
    table = [("POST", "TARGET", "EVENT", "STATE", "TRIES", "NEXT RETRY (UTC)", "REMOTE / LAST ERROR")]
    for d in sorted(rows, key=lambda d: (titles.get(d.post_id, d.post_id), d.target, d.event)):
        nxt = (
            f"{d.next_attempt_at:%Y-%m-%d %H:%M:%S}"
            if d.next_attempt_at and d.state in (DeliveryState.PENDING, DeliveryState.FAILED)
            else "-"
        )
        last = d.remote_url or d.remote_id or "" if d.state == DeliveryState.SENT else d.last_error or ""
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
        _table(table, max_width=40)
    counts: dict[str, int] = {}
    for d in rows + ([] if show_all else hidden):
        counts[d.state] = counts.get(d.state, 0) + 1
    click.echo("\n" + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    for name, why in sorted(disabled.items()):
        click.echo(f"target {name} is disabled: {why}; `syndicate retry --target {name}` re-enables it")


@main.command("retry")
@site_option
@click.option("--target", "target", metavar="NAME", help="Only deliveries to this target.")
@click.option("--post", "post", metavar="ID", help="Only this post (id, URL, slug or file).")
def retry_cmd(site: Path, target: str | None, post: str | None) -> None:
    """Retry what failed, now: failed and dead deliveries become due at once.

    Dead ones start their attempts again. Also re-enables targets that were
    disabled (a webhook that answered 410). The next `publish` sends them; a
    running `syndicate run` notices and sends them within seconds.
    """
    from .publish import retry

    with one_line_errors():
        count = retry(site, clock=lambda: datetime.now(UTC), target=target, post=post)
    noun = "delivery" if count == 1 else "deliveries"
    click.echo(
        f"{count} failed or dead {noun} due now; `syndicate publish` sends them (a running `syndicate run` does"
        " within seconds)"
    )


@main.command("run")
@site_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve the feeds on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the feeds go.  [default: SITE/public]",
)
@click.option("--log-format", type=click.Choice(["human", "json"]), default="human", show_default=True)
@click.option("--poll", is_flag=True, help="Poll for changes every second (for file systems that give no events).")
@click.option("--access-log", is_flag=True, help="Log every HTTP request too.")
def run_cmd(site: Path, host: str, port: int, out: Path | None, log_format: str, poll: bool, access_log: bool) -> None:
    """Watch the site, publish on change and on time, and serve the feeds.

    \b
    Rebuilds and delivers (like `publish`) when a post or the config is saved,
    when a scheduled post's date comes, and when a retry is due. Serves the output
    folder at http://HOST:PORT/ for feed readers (ETag, 304, gzip, WebSub Link
    headers; /healthz). SIGTERM or Ctrl-C finishes the delivery in flight and
    exits 0; SIGHUP reloads the config. One line per event on stderr.
    """
    from .daemon import Daemon
    from .log import EventLog
    from .publish import Secrets

    secrets = Secrets()
    log = EventLog(log_format, redact=secrets.redact)
    daemon = Daemon(site, host=host, port=port, log=log, out_dir=out, poll=poll, access_log=access_log, secrets=secrets)
    with one_line_errors():
        try:
            daemon.run()
        except OSError as e:
            _fail(EXIT_OUTPUT, f"cannot serve on {host}:{port}: {e.strerror or e}; pick another --port")
    sys.exit(EXIT_OK)
