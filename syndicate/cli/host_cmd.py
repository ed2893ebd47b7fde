"""`host`: every site under a folder, in one process (serve/host.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .common import EXIT_OK, EXIT_OUTPUT, fail, main


def _store(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from ..config import postgres_url_problem

    why = postgres_url_problem(value)
    if why:
        raise click.BadParameter(f"the URL {why}", param_hint="--store")
    return value


@main.command("host")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--store",
    metavar="URL",
    callback=_store,
    help="The PostgreSQL database every site keeps its ledger in (postgresql://user@host:5432/db): a site whose"
    " config names no [store] url, or another, is not run. Hosts on other machines with the same --store share"
    " the sites, each site delivered by one host at a time.  [default: each site's own config]",
)
@click.option(
    "--name",
    metavar="NAME",
    default="",
    help="How this host is named to the others (on /healthz and in `status`, as a lease's holder).  [default: the"
    " machine's host name]",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve the feeds on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option(
    "--jobs",
    default=None,
    type=click.IntRange(1, 256),
    help="Sites that build or deliver at once; the others wait their turn.  [default: the number of CPUs]",
)
@click.option(
    "--log-format",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    help="human: one aligned line per event, the site's name first; json: one JSON object per line, with a site field.",
)
@click.option("--poll", is_flag=True, help="Poll for changes every second (for file systems that give no events: NFS).")
@click.option("--access-log", is_flag=True, help="Log every HTTP request too.")
def host_cmd(
    folder: Path,
    store: str | None,
    name: str,
    host: str,
    port: int,
    jobs: int | None,
    log_format: str,
    poll: bool,
    access_log: bool,
) -> None:
    """Run every site under FOLDER: watch, publish, retry and serve each, as `run` does one.

    \b
    Each folder of FOLDER that holds config/syndicate.toml is a site, named by its
    folder. Sites added later are started, removed ones stopped; a site whose
    config is broken is reported (one line) and tried again when its config
    changes, and the others go on. Every site's feeds are served on one port, by
    the Host header of the site's feed URL ([feeds] url, else [site] url) and its
    path; /healthz answers for every site. SIGTERM or Ctrl-C finishes each site's
    delivery in flight and exits 0; SIGHUP makes every site read its config again.
    """
    from ..deliver.secrets import Secrets
    from ..serve.host import Host
    from ..serve.log import EventLog

    secrets = Secrets()
    log = EventLog(log_format, redact=secrets.redact)
    runner = Host(
        folder,
        log=log,
        store=store,
        host=host,
        port=port,
        jobs=jobs or os.cpu_count() or 2,
        name=name,
        poll=poll,
        access_log=access_log,
        secrets=secrets,
    )
    try:
        runner.run()
    except OSError as e:
        fail(EXIT_OUTPUT, f"cannot serve on {host}:{port}: {e.strerror or e}; pick another --port")
    sys.exit(EXIT_OK)
