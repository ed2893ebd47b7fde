"""`status --store URL`: every site in a PostgreSQL store, every lane (site × target), and what is late.

Reads only the database (no site folder, no config): one read-only transaction, one aggregate
query over every site (:func:`syndicate.deliver.postgres_store.tally_every_site`), judged by the
database's clock, as the hosts that deliver judge what is due.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from ..core.lanes import EVERY_STATE, SHOWN_STATES, Lane, lanes, waited
from .common import EXIT_DELIVERY, EXIT_OK, one_line_errors
from .show import plural, print_table

LATE_AFTER = 15  # minutes: a delivery due longer ago than this is late (`--late-after`)


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _ago(seconds: float) -> str:
    """A wait as people say it: 42 s, 7 min, 3 h 5 min, 2 d 4 h."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def show_store(
    url: str, password_env: str | None, late_after: int, target: str | None, every: bool, as_json: bool
) -> None:
    """Print the lanes of every site in the store at ``url``; exit 4 when a delivery is late."""
    from ..config import postgres_url_problem
    from ..deliver.postgres_store import password_of, shown_url, tally_every_site
    from ..errors import ConfigError

    with one_line_errors():
        why = postgres_url_problem(url)
        if why:
            raise ConfigError(f"--store {why}".replace("[store] password_env", "--password-env"))
        if password_env is not None and not password_env.isidentifier():
            raise ConfigError(f"--password-env must be an environment variable's name, not {password_env!r}")
        if password_env and not os.environ.get(password_env):
            raise ConfigError(
                f"--password-env names {password_env}, which is not set here; set it to the database password,"
                " or leave --password-env out to use libpq's PGPASSWORD or ~/.pgpass"
            )
        password = password_of(password_env or "")
        now, tallies = tally_every_site(url, password, timedelta(minutes=late_after))
    sites = {
        site: [lane for lane in lanes(rows) if target is None or lane.target == target]
        for site, rows in tallies.items()
    }
    late = sum(lane.late for site_lanes in sites.values() for lane in site_lanes)
    if as_json:
        click.echo(_document(now, late_after, sites))
    elif not sites:
        click.echo(
            f"no site in {shown_url(url)} yet: a site's first `syndicate publish` (or `run`) with [store] url adds it"
        )
    else:
        _table(now, late_after, sites, every)
    sys.exit(EXIT_DELIVERY if late else EXIT_OK)


def _table(now: datetime, late_after: int, sites: dict[str, list[Lane]], every: bool) -> None:
    states = EVERY_STATE if every else SHOWN_STATES
    header = ("SITE", "TARGET", *(s.upper() for s in states), "LATE", "OLDEST DUE (UTC)")
    rows: list[tuple[str, ...]] = [header]
    for site, site_lanes in sorted(sites.items()):
        if not site_lanes:
            rows.append((site, "-", *("0" for _ in states), "0", "nothing delivered yet"))
        for lane in site_lanes:
            oldest = f"{lane.oldest_due:%Y-%m-%d %H:%M:%S} ({_ago(waited(lane, now))} ago)" if lane.oldest_due else "-"
            rows.append((site, lane.target, *(str(lane.count(s)) for s in states), str(lane.late), oldest))
    print_table(rows, max_width=60)
    every_lane = [lane for site_lanes in sites.values() for lane in site_lanes]
    totals = ", ".join(
        f"{sum(lane.count(s) for lane in every_lane)} {s}" for s in ("sent", "pending", "failed", "dead")
    )
    late = [(site, lane) for site, site_lanes in sorted(sites.items()) for lane in site_lanes if lane.late]
    summary = f"\n{plural(len(sites), 'site')}, {plural(len(every_lane), 'lane')}: {totals}"
    if not late:
        click.echo(f"{summary}; nothing due for more than {late_after} min")
        return
    count = sum(lane.late for _, lane in late)
    click.echo(f"{summary}; {plural(count, 'delivery')} due for more than {late_after} min:")
    for site, lane in late:
        click.echo(
            f"late: {site} {lane.target}: {lane.late} due, the oldest for {_ago(waited(lane, now))}"
            " (is a syndicate running for this site? see its log and /healthz)"
        )


def _document(now: datetime, late_after: int, sites: dict[str, list[Lane]]) -> str:
    """`status --store --json`: sorted, so that the same ledgers at the same moment print the same bytes."""
    doc: dict[str, Any] = {
        "now": _when(now),
        "late_after_minutes": late_after,
        "sites": {
            site: {
                lane.target: {
                    **{state: lane.count(state) for state in EVERY_STATE},
                    "late": lane.late,
                    "oldest_due": _when(lane.oldest_due),
                    "waited_seconds": round(waited(lane, now), 3),
                }
                for lane in site_lanes
            }
            for site, site_lanes in sites.items()
        },
    }
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True)
