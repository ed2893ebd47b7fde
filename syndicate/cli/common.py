"""What every command shares: the `syndicate` group, its options, errors → exit codes and one
line, the dates given on the command line, problems as people read them."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, NoReturn

import click

from .. import __version__
from ..builder.report import BuildReport
from ..core.model import Links, Settings
from ..core.uploads import Bucket
from ..errors import BucketError, LockedError, OutputError, StoreError, SyndicateError, UnsafePathError
from .plain import EXIT_BUSY as EXIT_BUSY
from .plain import EXIT_CONFIG as EXIT_CONFIG
from .plain import EXIT_DELIVERY as EXIT_DELIVERY
from .plain import EXIT_LEDGER as EXIT_LEDGER
from .plain import EXIT_OK as EXIT_OK
from .plain import EXIT_OUTPUT as EXIT_OUTPUT
from .plain import EXIT_REJECTED as EXIT_REJECTED
from .plain import build_exit as build_exit
from .plain import clock_and_floor, plural
from .plain import output_place as output_place
from .plain import place as place
from .plain import problem_lines as problem_lines
from .plain import shown as shown

if TYPE_CHECKING:
    from ..builder.bucket import UploadReport


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
        writable = isinstance(e, OutputError | UnsafePathError) and not isinstance(e, BucketError)
        hint = "; check that the output folder is writable" if writable else ""
        fail(exit_code(e), f"{e}{hint}")


def out_target(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | str | None:
    """``--out``: a folder (a Path), or a bucket ``s3://bucket/prefix/`` (kept as text)."""
    if value is None or value.startswith("s3://"):
        return value
    if Path(value).is_file():
        raise click.BadParameter(f"{value!r} is a file, not a folder", param_hint="--out")
    return Path(value)


OUT_HELP = (
    "Where the feeds go: a folder, or a bucket as s3://BUCKET/PREFIX/ (built in .syndicate/, then"
    " uploaded; [output] endpoint and region, credentials from the AWS environment variables or"
    " profile).  [default: [output] url, else [output] dir, else SITE/public]"
)


def upload_target(site: Path, out: Path | str | None) -> tuple[Bucket | None, Path | None]:
    """The bucket a command uploads to (``--out s3://…``, else ``[output] url``), and the folder it
    builds in: a bucket's staging folder under .syndicate/, or ``--out`` as given."""
    if isinstance(out, Path):
        return None, out
    from ..config import bucket_of, load_settings, staging_dir

    with one_line_errors():
        bucket = bucket_of(load_settings(site), out)
    if bucket is None:
        return None, None
    return bucket, staging_dir(site, bucket) if out is not None else None


def upload_lines(site: Path, settings: Settings, out_dir: Path, bucket: Bucket) -> tuple[list[str], list[str], bool]:
    """Upload the build in ``out_dir`` to ``bucket`` (BucketError: its line, exit 3): (lines for
    stdout, lines for stderr, whether an object in the way was left alone)."""
    from ..builder.bucket import upload

    with one_line_errors():
        done = upload(settings, out_dir, bucket)
    errors = refused_lines(done)
    if not done.listed:
        line = f"{bucket.url} holds this build already (no request)"
    else:
        deleted = f", deleted {plural(len(done.deleted), 'object')}" if done.deleted else ""
        line = (
            f"uploaded {plural(len(done.uploaded), 'object')} to {bucket.url}{deleted}"
            f" ({plural(done.requests, 'request')}, {done.seconds:.2f} s)"
        )
    return [line], errors, bool(done.refused)


def refused_lines(done: UploadReport) -> list[str]:
    """One line per object in the bucket that syndicate left alone (it did not upload it)."""
    return [
        f"error: {done.bucket.url}{rel} {why}; it was left alone: delete it, or choose another prefix"
        for rel, why in sorted(done.refused.items())
    ]


def parse_date(value: str, option: str, example: str) -> datetime:
    """The one reader of dates given on the command line: ISO 8601, ``Z`` for UTC; a date or
    time without an offset is UTC (docs/reference/commands.md)."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like {example}", param_hint=option) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_now(value: str | None) -> datetime:
    """``--now``, else the clock (to the second)."""
    if not value:
        return datetime.now(UTC).replace(microsecond=0)
    return parse_date(value, "--now", "2026-12-24T09:00:00+01:00")


def moment_of(site: Path, value: str | None) -> datetime:
    """``--now``, else the clock, but never before the newest post the ledger has seen live: a
    clock that stepped back (a VM restored, NTP) does not take posts that went out off the feeds."""
    return moment_and_floor(site, value)[0]


def moment_and_floor(site: Path, value: str | None) -> tuple[datetime, datetime | None]:
    """(:func:`moment_of`, the ledger's floor it applied: None with ``--now`` or no ledger)."""
    if value:
        return parse_now(value), None
    with one_line_errors():
        return clock_and_floor(site)
    raise AssertionError("unreachable")


def fail(code: int, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def run_build(site: Path, out: Path | None, now: datetime, *, write: bool, use_cache: bool) -> BuildReport:
    progress = None
    if sys.stderr.isatty():

        def progress(done: int, total: int) -> None:
            if total >= 500 and (done % 250 == 0 or done == total):
                click.echo(f"\rreading posts {done}/{total}", err=True, nl=done == total)

    from ..builder.pipeline import build  # here: `syndicate --help` needs none of the build

    def links(settings: Settings) -> Mapping[str, Links]:
        from ..deliver.ledger import syndication_of  # only when feeds are rendered

        return syndication_of(site, settings)

    with one_line_errors():
        return build(site, now, out_dir=out, write=write, use_cache=use_cache, progress=progress, links=links)
    raise AssertionError("unreachable")


def report_problems(site: Path, report: BuildReport, *, every: bool = False) -> None:
    """One line per problem (errors and warnings), then the build's notes, on stderr (see
    :func:`problem_lines`)."""
    for line in problem_lines(site, report, every=every):
        click.echo(line, err=True)


def _site(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    """``--site`` given to the command, else to `syndicate` itself (before the command), else the
    site the current folder is in, found as git finds a repository (docs/reference/commands.md)."""
    if value is not None:
        return value
    given = ctx.find_root().params.get("site")
    if isinstance(given, Path):
        return given
    from ..config import CONFIG_PATH
    from ..detect import find_site

    try:
        here = Path.cwd().resolve()
    except OSError:  # the current folder was deleted: the command says what is missing
        return Path(".")
    found = find_site(here, CONFIG_PATH)
    return Path(".") if found is None or found == here else found


SITE_HELP = (
    "The site folder: holds config/syndicate.toml and content/.  [default: the folder, this one or"
    " above, that holds config/syndicate.toml or a generator's config]"
)
site_option = click.option(
    "--site", type=click.Path(file_okay=False, path_type=Path), default=None, callback=_site, help=SITE_HELP
)
now_option = click.option(
    "--now",
    metavar="DATETIME",
    help="Pretend it is this moment (ISO 8601) when deciding which posts are published; "
    "for previewing scheduled posts.",
)


class Commands(click.Group):
    """The commands, each module imported when its command is asked for (`syndicate build` needs
    neither the delivery commands nor the daemon: a quarter of the imports of a one-post rebuild).
    tests/test_cli.py holds WHERE to what the modules register."""

    WHERE: ClassVar[dict[str, str]] = {
        "build": "site_cmds",
        "check": "site_cmds",
        "feeds": "site_cmds",
        "posts": "site_cmds",
        "publish": "delivery_cmds",
        "status": "delivery_cmds",
        "retry": "delivery_cmds",
        "init": "init_cmd",
        "run": "run_cmd",
        "host": "host_cmd",
        "store": "store_cmds",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands.keys() | self.WHERE.keys())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.WHERE:
            importlib.import_module(f"{__package__}.{self.WHERE[cmd_name]}")  # registers it on `main`
        return super().get_command(ctx, cmd_name)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    try:
        os.getcwd()
    except OSError:
        fail(EXIT_CONFIG, "the current folder no longer exists (deleted or moved): cd into the site again")
