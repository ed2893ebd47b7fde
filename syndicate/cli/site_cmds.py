"""`build`, `check`, `feeds`, `posts`: the site as it is now."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import click

from ..builder.report import BuildReport
from ..core.model import Problem, Settings, printable
from .common import (
    EXIT_CONFIG,
    EXIT_LEDGER,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_REJECTED,
    OUT_HELP,
    build_exit,
    main,
    moment_and_floor,
    moment_of,
    now_option,
    one_line_errors,
    out_target,
    problem_lines,
    report_problems,
    run_build,
    site_option,
    upload_lines,
    upload_target,
)
from .show import build_lines, plural, post_counts, print_table


@main.command("build")
@site_option
@click.option("--out", metavar="DIR|s3://BUCKET/PREFIX/", default=None, callback=out_target, help=OUT_HELP)
@click.option("--no-cache", is_flag=True, help="Re-read every post instead of reusing .syndicate/cache.db.")
@now_option
def build_cmd(site: Path, out: Path | str | None, no_cache: bool, now: str | None) -> None:
    """Write the feeds: RSS, Atom and JSON Feed for the site and each tag.

    RSS 2.0, Atom 1.0 and JSON Feed 1.1, for the whole site and for every tag,
    plus index.html (feed autodiscovery) and feeds.opml (subscribe to all).
    Files whose bytes did not change are left alone. Exits 1 when a post was
    rejected: its problem is printed and the other posts are still published.
    """
    from .stamp import leave_stamp, read_before

    bucket, folder = upload_target(site, out)
    before = read_before(site)
    moment, floor = moment_and_floor(site, now)
    report = run_build(site, folder, moment, write=True, use_cache=not no_cache)
    from ..config import output_dir

    out_dir = output_dir(site, report.settings, folder)
    for line in problem_lines(site, report):
        click.echo(line, err=True)
    click.echo(build_lines(report, moment, out_dir, f"{report.seconds:.2f}"))
    if bucket is not None:  # the stamp knows nothing of the bucket: such a build never leaves one
        from .. import quick

        quick.remove_stamp(str(site))
        lines, errors, refused = upload_lines(site, report.settings, out_dir, bucket)
        click.echo("\n".join(lines))
        for line in errors:
            click.echo(line, err=True)
        sys.exit(EXIT_OUTPUT if refused else build_exit(report))
    if report.seen is not None:
        leave_stamp(site, report, moment, floor, out_dir, before)
    sys.exit(build_exit(report))


@main.command("check")
@site_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The folder a build would write to, for files in the way (a generator's output, before"
    " `build --out` adds the feeds).  [default: [output] dir, else SITE/public]",
)
@click.option(
    "--connect",
    is_flag=True,
    help="Also connect to the [store] database and say whether it answers and holds this site's ledger.",
)
@now_option
def check_cmd(site: Path, out: Path | None, connect: bool, now: str | None) -> None:
    """Check the config and every post without writing anything.

    Prints one line per problem (file:line: error|warning: what to fix); exits 2
    if the config holds a stand-in `init` wrote (CHANGE ME, change-me.invalid)
    or [store] password_env names a variable that is not set, 6 if --connect
    cannot reach the [store] database, 3 if a file syndicate did not write is in
    the way, 1 if a post would be rejected. For a bucket ([output] url) it says
    whether publish waits for the feeds to be live at their public URLs before
    it sends anything (live check: on or off, and why).
    """
    moment = moment_of(site, now)
    report = run_build(site, None, moment, write=False, use_cache=True)
    report.problems.extend(_alt_warnings(site, report, moment))
    from ..builder.pipeline import in_the_way
    from ..config import output_dir

    with one_line_errors():  # --out that is no folder of its own (ConfigError)
        report.refused = in_the_way(site, report, out)
        report.out = str(output_dir(site, report.settings, out))
    report_problems(site, report, every=True)
    for name, why in sorted(report.settings.missing_secrets(os.environ).items()):
        click.echo(f"warning: target {name!r}: {why}; publish cannot deliver to it until it is", err=True)
    for name, why in _secret_problems(report.settings):
        click.echo(f"warning: target {name!r}: {why}; publish cannot deliver to it until it does", err=True)
    for t in report.settings.targets:
        secret = os.environ.get(getattr(t, t.secret_key), "") if t.kind == "slack" else ""
        if secret:
            from ..deliver.channels.slack import secret_problem

            problem = secret_problem(t, secret)
            if problem:
                click.echo(f"warning: {problem}; publish cannot deliver to it until it does", err=True)
        if t.send_only:
            click.echo(
                f"note: target {t.name!r} is an incoming webhook: it can only send; an edited or deleted post"
                " is not carried over, and a message whose answer was lost waits for `syndicate retry`",
                err=True,
            )
    from ..config import shown_config, stand_ins

    unfinished = stand_ins(report.settings)
    for line in unfinished:
        click.echo(f"{shown_config(site)}: error: {line}; publish and run deliver nothing until then", err=True)
    for line in _published_config(site, report):
        click.echo(f"warning: {line}", err=True)
    from ..deliver.ledger import lost

    store_code = _check_store(site, report.settings, connect)
    if report.settings.store is None or (connect and store_code == EXIT_OK):  # offline: not the database
        gone = lost(site, report.settings, Path(report.out))
        if gone:
            click.echo(f"warning: {gone}", err=True)
    for line in _live_lines(report.settings):
        click.echo(line)
    status = "problems found" if report.rejected or report.refused or unfinished or store_code else "ok"
    click.echo(f"{status}: {post_counts(report, moment)}, {plural(len(report.feeds), 'feed')}")
    sys.exit(EXIT_CONFIG if unfinished else store_code or build_exit(report))


def _secret_problems(settings: Settings) -> list[tuple[str, str]]:
    """(target, why) for each secret that is set but cannot be what its kind needs (a Discord
    webhook URL, a Telegram bot token): said by the variable's name, never its value."""
    from ..core.model import SECRET_KEYS

    out = []
    for t in settings.targets:
        if t.kind not in ("discord", "telegram"):
            continue  # the others' secrets are checked when they are used
        from ..deliver.registry import secret_problem

        key = SECRET_KEYS[t.kind]
        value = os.environ.get(getattr(t, key), "")
        why = secret_problem(t, value) if value else None
        if why:
            out.append((t.name, f"environment variable {getattr(t, key)} ({key}) {why}"))
    return out


def _live_lines(settings: Settings) -> list[str]:
    """For a bucket output ([output] url): whether publish waits for the feeds to be live at their
    public URLs before it sends anything, and why; whether a purge command runs first."""
    from ..config import bucket_of
    from ..core.uploads import live_check

    bucket = bucket_of(settings)
    if bucket is None:
        return []
    check, why = live_check(settings, bucket)
    lines = [f"live check: {'on' if check else 'off'} ({why})"]
    if settings.output.purge_command:
        lines.append(f"purge: {settings.output.purge_command[0]!r} runs with the changed URLs before anything is sent")
    return lines


def _check_store(site: Path, settings: Settings, connect: bool) -> int:
    """[store]: its password variable is set; with ``connect``, the database answers (a line saying
    whether it holds this site's ledger). The exit code it calls for (0: nothing wrong)."""
    if settings.store is None:
        if connect:
            click.echo("store: the SQLite ledger (no [store] section): nothing to connect to")
        return EXIT_OK
    from ..config import shown_config
    from ..deliver import ledger
    from ..errors import ConfigError, StoreError

    where = ledger.place(site, settings)
    try:
        assert isinstance(where, ledger.PostgresPlace)
        where.password()
    except ConfigError as e:
        click.echo(f"{shown_config(site)}: error: {e.message}", err=True)
        return EXIT_CONFIG
    if not connect:
        return EXIT_OK
    try:
        identity = where.identity()
    except StoreError as e:
        click.echo(f"error: {e}", err=True)
        return EXIT_LEDGER
    except ConfigError as e:  # psycopg is not installed
        click.echo(f"{shown_config(site)}: error: {e.message}", err=True)
        return EXIT_CONFIG
    held = f"this site's ledger {identity.id[:8]}" if identity.id else "no ledger of this site yet (publish makes it)"
    click.echo(f"store: {where.shown}: connected; {held}")
    return EXIT_OK


def _published_config(site: Path, report: BuildReport) -> list[str]:
    """A Jekyll site whose own build would publish config/syndicate.toml (see adopt/jekyll.py)."""
    content = report.settings.content
    if content.generator != "jekyll" or content.dir.strip("./") != "":
        return []
    from ..adopt.jekyll import CONFIG_PUBLISHED, excludes_config
    from ..adopt.readers import parse_yaml
    from ..adopt.shell import read_text
    from ..errors import ConfigError

    for name in ("_config.yml", "_config.yaml"):
        try:
            text = read_text(site, name)
            if text is not None:
                published = not excludes_config(parse_yaml(text, name).get("exclude"))
                return [CONFIG_PUBLISHED.format(ev=name)] if published else []
        except ConfigError:
            return []  # `syndicate init` and Jekyll itself say what is wrong with it
    return []


_NO_ALT = ("discord", "telegram")  # an embed's image and a photo message have no place for alt text


def _alt_warnings(site: Path, report: BuildReport, now: datetime) -> list[Problem]:
    """A warning for each image that Mastodon or Bluesky would get without alt text (a screen
    reader says nothing of it), for the posts still to be sent: new or edited since the
    ledger last saw them, live or scheduled. Their HTML is made for this (the others' is not)."""
    from ..builder.workers import Workers, make_contents
    from ..core.images import missing_alt, post_images
    from ..deliver.ledger import known_revisions

    socials = [t for t in report.settings.targets if t.social and t.images > 0 and t.kind not in _NO_ALT]
    if not socials:
        return []
    seen = known_revisions(site, report.settings)
    posts = [
        p
        for p in report.posts
        if (p.is_live(now) or p.is_scheduled(now))
        and seen.get(p.id) != p.revision
        and any(p.goes_to(t.name) for t in socials)
    ]
    workers = Workers()
    try:
        make_contents(posts, workers, report.settings.content.render_timeout)
    finally:
        workers.close()
    out: list[Problem] = []
    for post in posts:
        if post.content.failed:
            continue
        count = max(t.images for t in socials if post.goes_to(t.name))
        thumb = post.image.url if post.image else None
        images = post_images(post.content_html, post.url, thumb, post.image_alt, limit=count)
        for url in missing_alt(images):
            hint = "add thumb_alt" if thumb is not None and url == images[0].url else "write ![what it shows](…)"
            why = f"image {url} has no alt text; Mastodon and Bluesky show it without a description ({hint})"
            out.append(Problem(post.source, why, None, "warning"))
    return out


@main.command("feeds")
@site_option
@now_option
def feeds_cmd(site: Path, now: str | None) -> None:
    """List every feed: its posts, newest post and URLs.

    Reads the posts but writes nothing; the URLs are where `build` output is served.
    """
    moment = moment_of(site, now)
    report = run_build(site, None, moment, write=False, use_cache=True)
    report_problems(site, report)
    rows = [("FEED", "POSTS", "NEWEST (UTC)", "RSS / ATOM / JSON FEED")]
    for feed in report.feeds:
        newest = f"{feed.posts[0].published:%Y-%m-%d %H:%M}" if feed.posts else "-"
        name = "(all posts)" if feed.tag is None else feed.name
        rows.append((name, str(len(feed.posts)), newest, feed.links.urls["rss"]))
        rows.extend(("", "", "", feed.links.urls[fmt]) for fmt in ("atom", "json"))
    print_table(rows)
    sys.exit(EXIT_REJECTED if report.rejected else EXIT_OK)


@main.command("posts")
@site_option
@now_option
def posts_cmd(site: Path, now: str | None) -> None:
    """List every post: status, date, title, tags, URL."""
    moment = moment_of(site, now)
    report = run_build(site, None, moment, write=False, use_cache=True)
    report_problems(site, report)
    rows = [("STATUS", "DATE (UTC)", "TITLE", "TAGS", "URL")]
    for post in sorted(report.posts, key=lambda p: p.published, reverse=True):
        status = (
            "draft"
            if post.draft
            else "scheduled"
            if post.is_scheduled(moment)
            else "expired"
            if post.is_expired(moment)
            else "published"
        )
        rows.append((status, f"{post.published:%Y-%m-%d %H:%M}", post.title, ", ".join(post.tags), post.url))
    rejected = {p.path: p for p in sorted(report.rejected, key=lambda p: (p.path, p.line or 0))}
    for path, problem in rejected.items():
        rows.append(("rejected", "-", printable(problem.message), "", printable(path)))
    print_table(rows)
    sys.exit(EXIT_REJECTED if report.rejected else EXIT_OK)
