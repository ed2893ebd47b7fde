"""`syndicate build` without the command line: a rebuild whose stamp named the edited posts runs
here (click and every option's machinery cost ~20 ms of a 0.2 s rebuild). It prints with
:mod:`syndicate.cli.plain` and leaves the stamp with :mod:`syndicate.cli.stamp`, as the command line
does; a file of its own so that neither of those needs the other's caller."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..core.model import Links, Settings
from .plain import build_exit, build_lines, clock_and_floor, problem_lines


def _echo(text: str, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` of a line (its escape sequences stripped off a stream that is no terminal)."""
    from .. import quick

    stream = sys.stderr if err else sys.stdout
    stream.write(quick.as_echoed(text + ("\n" if nl else ""), stream))
    stream.flush()


def build_without_click(argv: Sequence[str]) -> int | None:
    """`syndicate build` as the command line runs it (cli/site_cmds.py's ``build_cmd``), for a plain
    build whose stamp named the edited posts (syndicate/quick.py's HINT), without loading the
    command line (click and every option's machinery: ~20 ms of a 0.2 s rebuild): its exit code,
    or None, having done nothing, when the command line must run it: a bucket, an ``--out`` that is
    a file, an output stream click would rewrap, or an error (the command line then says it)."""
    from .. import quick
    from ..config import bucket_of, load_settings, output_dir
    from ..errors import SyndicateError

    key = quick.command_key(argv)
    if key is None or not quick.HINT or quick.ascii_stream(sys.stdout) or quick.ascii_stream(sys.stderr):
        return None
    site = Path(key[0]) if key[0] is not None else Path(".")  # the site the stamp was checked for
    out = None if key[1] is None else Path(key[1])
    if key[1] is not None and (key[1].startswith("s3://") or Path(key[1]).is_file()):
        return None
    from ..builder.pipeline import build
    from .stamp import leave_stamp, read_before

    def links(settings: Settings) -> Mapping[str, Links]:
        from ..deliver.ledger import syndication_of  # only when feeds are rendered

        return syndication_of(site, settings)

    try:
        if out is None and bucket_of(load_settings(site), None) is not None:
            return None
        before = read_before(site)
        moment, floor = clock_and_floor(site)
        report = build(site, moment, out_dir=out, progress=_progress if sys.stderr.isatty() else None, links=links)
    except SyndicateError:
        return None
    out_dir = output_dir(site, report.settings, out)
    for line in problem_lines(site, report):
        _echo(line, err=True)
    _echo(build_lines(report, moment, out_dir, f"{report.seconds:.2f}"))
    if report.seen is not None:
        leave_stamp(site, report, moment, floor, out_dir, before)
    return build_exit(report)


def _progress(done: int, total: int) -> None:
    """cli/common.py's ``run_build`` progress line, on a terminal."""
    if total >= 500 and (done % 250 == 0 or done == total):
        _echo(f"\rreading posts {done}/{total}", err=True, nl=done == total)
