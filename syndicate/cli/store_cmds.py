"""`store`: the delivery ledger's home (`store migrate`: a site's SQLite ledger into PostgreSQL)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import EXIT_OK, main, one_line_errors, site_option


@main.group("store")
def store_group() -> None:
    """Move the delivery ledger between stores (SQLite, PostgreSQL)."""


@store_group.command("migrate")
@site_option
@click.option(
    "--to",
    "url",
    required=True,
    metavar="URL",
    help="The PostgreSQL database: postgresql://USER@HOST:PORT/DB (no password in it).",
)
@click.option(
    "--password-env",
    metavar="NAME",
    default=None,
    help="The environment variable holding the password.  [default: [store] password_env, else libpq's"
    " PGPASSWORD or ~/.pgpass]",
)
@click.option(
    "--name",
    metavar="SITE",
    default=None,
    help="The site's name in the database.  [default: [store] site, else the site's [site] url]",
)
def migrate_cmd(site: Path, url: str, password_env: str | None, name: str | None) -> None:
    """Copy the site's SQLite ledger into a PostgreSQL database.

    \b
    Every table is copied in one transaction (deliveries with their ids and
    attempts, the record-key counters, the posts, targets and the ledger's id),
    so nothing is sent again once the config names the database:
      [store]
      url = "postgresql://USER@HOST:PORT/DB"
    Refused when the database already holds a ledger for this site. The SQLite
    file is left as it was (a backup; delete it once publish works).
    """
    from ..config import load_settings, output_dir, postgres_url_problem, shown_config
    from ..deliver import ledger
    from ..deliver.postgres_store import copy_ledger, password_of, where_of
    from ..deliver.sqlite_store import SQLiteStore
    from ..deliver.store import lock
    from ..errors import ConfigError

    with one_line_errors():
        settings = load_settings(site)
        why = postgres_url_problem(url)
        if why:
            raise ConfigError(f"--to {why}".replace("[store] password_env", "--password-env"))
        store = settings.store
        env = password_env if password_env is not None else store.password_env if store else ""
        if password_env is not None and not password_env.isidentifier():
            raise ConfigError(f"--password-env must be an environment variable's name, not {password_env!r}")
        password = password_of(env)
        name = name or ledger.site_name(settings)
        path = ledger.state_path(site, settings)
        if not path.is_file():
            raise ConfigError(
                f"no SQLite ledger at {path} to copy: this site has not published with one (a site that starts"
                " on PostgreSQL needs no migration: name the url in [store] and publish)"
            )
        with lock(path):  # no publish writes the file while it is copied
            sqlite = SQLiteStore(path)  # brings an old ledger to the newest columns first
            try:
                ledger.check(path, True, sqlite.identity(), ledger.read_marks(site, output_dir(site, settings)))
                counts = copy_ledger(sqlite.db, url, password, name)
                identity = sqlite.identity()
            finally:
                sqlite.close()
    lines = [
        f"copied {path} to {where_of(url, name)}: ledger {identity.id[:8]},"
        f" {counts['deliveries']} deliveries, {counts['attempts']} attempts, {counts['posts']} posts,"
        f" {counts['targets']} targets",
        f"now name it in {shown_config(site)} (publish then uses it; {path} is no longer read):",
        "  [store]",
        f'  url = "{url}"',
    ]
    if env:
        lines.append(f'  password_env = "{env}"')
    if name != settings.site.url:
        lines.append(f'  site = "{name}"')
    click.echo("\n".join(lines))
    sys.exit(EXIT_OK)
