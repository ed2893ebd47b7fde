"""`run`: the daemon."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import (
    EXIT_OK,
    EXIT_OUTPUT,
    fail,
    main,
    one_line_errors,
    out_target,
    site_option,
)


@main.command("run")
@site_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve the feeds on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option(
    "--out",
    metavar="DIR|s3://BUCKET/PREFIX/",
    default=None,
    callback=out_target,
    help="Where the feeds go: a folder, or a bucket as s3://BUCKET/PREFIX/ (built in .syndicate/, uploaded"
    " after each cycle that changed something, and that folder served as a preview).  [default: [output] url,"
    " else [output] dir, else SITE/public; with --preview .syndicate/preview]",
)
@click.option(
    "--log-format",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    help="human: one aligned line per event; json: one JSON object per line, for a log collector.",
)
@click.option("--poll", is_flag=True, help="Poll for changes every second (for file systems that give no events).")
@click.option("--access-log", is_flag=True, help="Log every HTTP request too.")
@click.option(
    "--preview",
    is_flag=True,
    help="Try it out: the feeds' links on http://HOST:PORT/, written to .syndicate/preview/ (not the"
    " deployed folder), and nothing delivered.",
)
def run_cmd(
    site: Path,
    host: str,
    port: int,
    out: Path | str | None,
    log_format: str,
    poll: bool,
    access_log: bool,
    preview: bool,
) -> None:
    """Watch the site, publish on change and on time, and serve the feeds.

    \b
    Rebuilds and delivers (like `publish`) when a post or the config is saved,
    when a scheduled post's date comes, and when a retry is due. Serves the output
    folder at http://HOST:PORT/ for feed readers (ETag, 304, gzip, WebSub Link
    headers; /healthz, and /metrics for Prometheus). With a bucket (--out s3://…
    or [output] url) each cycle uploads what changed before anything is sent, and
    the folder served is a preview. SIGTERM or Ctrl-C finishes the delivery in flight and exits 0;
    SIGHUP reloads the config. One line per event on stderr.
    """
    from ..deliver.secrets import Secrets
    from ..serve.daemon import Daemon
    from ..serve.log import EventLog

    if preview and isinstance(out, str):
        raise click.UsageError("--preview uploads nothing: give it a folder with --out, or leave --out out")
    from ..site import Site

    secrets = Secrets()
    log = EventLog(log_format, redact=secrets.redact)
    with one_line_errors():
        daemon = Daemon(
            Site.open(site, out, preview=preview),
            host=host,
            port=port,
            log=log,
            poll=poll,
            access_log=access_log,
            secrets=secrets,
        )
        try:
            daemon.run()
        except OSError as e:
            fail(EXIT_OUTPUT, f"cannot serve on {host}:{port}: {e.strerror or e}; pick another --port")
    sys.exit(EXIT_OK)
