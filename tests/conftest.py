from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.pg import PASSWORD, USER, Cluster, start_cluster

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
FAKETIME_LIB = "/usr/$LIB/faketime/libfaketime.so.1"  # ld.so expands $LIB, as the faketime wrapper has it


def faked(cmd: list[str], spec: str) -> list[str]:
    """``cmd`` under libfaketime with ``FAKETIME=spec`` ("-950d", "+5m", "-925386" seconds), the
    library loaded directly, not by the `faketime` wrapper: the wrapper keeps a named semaphore and
    a shared-memory segment per process id in /dev/shm, which a run killed by SIGKILL leaves
    behind, and a later wrapper that gets the same pid refuses to start ("sem_open: File exists",
    seen in a clean-clone CI run). Without them each process keeps the same offset on its own."""
    return ["env", f"LD_PRELOAD={FAKETIME_LIB}", f"FAKETIME={spec}", *cmd]


def offset_to(moment: datetime) -> str:
    """The FAKETIME spec that puts the clock at ``moment`` now (and lets it run from there)."""
    return f"{round(moment.timestamp() - datetime.now(UTC).timestamp()):+d}"


CONFIG = """\
[site]
title = "Test Site"
url = "https://example.com/"
author = "Tess Ter"
timezone = "Europe/Paris"
permalink = "/blog/{slug}/"

[feeds]
items = 20
"""

# Retract at once (the behaviour before [delivery] delete_after): for tests about what a
# retraction does, not about when; tests/test_retraction_window.py is about when.
AT_ONCE = """
[delivery]
delete_after = 0
"""


@dataclass
class Run:
    code: int
    out: str
    err: str


STORES = ("sqlite", "postgres")
# A test of the delivery promise, once with each store: `site` is then a site whose ledger is the
# SQLite file, and one whose ledger is in a fresh database of the session's PostgreSQL.
both_stores = pytest.mark.parametrize("site", STORES, indirect=True)


def store_section(url: str) -> str:
    """The [store] section that puts a site's ledger in the database at ``url`` (the password from
    LEDGER_PASSWORD, which `Site.env` holds)."""
    return f'\n[store]\nurl = "{url}"\npassword_env = "LEDGER_PASSWORD"\n'


@dataclass
class Site:
    root: Path
    pg: Cluster | None = None  # the ledger in database ``db`` of this PostgreSQL ([store]), else the SQLite file
    db: str = ""

    @property
    def content(self) -> Path:
        return self.root / "content"

    @property
    def public(self) -> Path:
        return self.root / "public"

    @property
    def store_url(self) -> str | None:
        return self.pg.url(self.db) if self.pg is not None else None

    @property
    def env(self) -> dict[str, str]:
        """What every command of this site needs in its environment (the ledger's password)."""
        return {"LEDGER_PASSWORD": PASSWORD} if self.pg is not None else {}

    def config(self, text: str) -> None:
        """Write the site's config; on PostgreSQL with the [store] section last (unless it has one of
        its own), also when ``text`` is the config read back with more added after our section."""
        if self.store_url is not None:
            section = store_section(self.store_url)
            text = text.replace(section, "")
            if "[store]" not in text:
                text += section
        (self.root / "config").mkdir(exist_ok=True)
        (self.root / "config" / "syndicate.toml").write_text(text, encoding="utf-8")

    # ------------------------------------------------------------ the ledger, whichever store holds it

    def ledger(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` (no parameters; committed when it writes) run on the site's ledger.
        The test's database holds one site, so a query needs no ``site =``; PostgreSQL gives times
        as datetimes where SQLite gives ISO text."""
        if self.pg is None:
            db = sqlite3.connect(self.root / ".syndicate" / "state.db")
            try:
                with db:
                    return db.execute(sql).fetchall()
            finally:
                db.close()
        import psycopg

        with psycopg.connect(self.pg.url(self.db), password=PASSWORD) as conn, conn.cursor() as cur:
            cur.execute(sql.encode())
            return cur.fetchall() if cur.description is not None else []

    def lose_ledger(self) -> None:
        """The ledger gone: the SQLite file deleted, or every row of the site deleted from the database
        (at once, in one transaction; the `sites` row, the anchor of its lock and lease, stays)."""
        if self.pg is None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.root / '.syndicate' / 'state.db'}{suffix}").unlink(missing_ok=True)
            return
        self._delete_rows(keep=("sites",))

    def empty_ledger(self) -> None:
        """The ledger emptied: the SQLite file truncated, or the site's rows deleted from the database
        but its identity (meta: the ledger's id and generation)."""
        if self.pg is None:
            ledger = self.root / ".syndicate" / "state.db"
            for suffix in ("-wal", "-shm"):
                Path(f"{ledger}{suffix}").unlink(missing_ok=True)
            ledger.write_bytes(b"")
            return
        self._delete_rows(keep=("sites", "meta"))

    def back_up_ledger(self) -> Callable[[], None]:
        """A copy of the ledger as it is now (the SQLite file's online backup, or a copy of the whole
        database); returns what restores it in place (with no process using the ledger)."""
        if self.pg is None:
            ledger, backup = self.root / ".syndicate" / "state.db", self.root / "backup.db"
            src, dst = sqlite3.connect(ledger), sqlite3.connect(backup)
            src.backup(dst)
            src.close()
            dst.close()

            def restore_file() -> None:
                for suffix in ("-wal", "-shm"):
                    Path(f"{ledger}{suffix}").unlink(missing_ok=True)
                backup.replace(ledger)

            return restore_file
        pg, db = self.pg, self.db
        copy = pg.fresh(template=db)

        def restore_database() -> None:
            pg.admin(f"DROP DATABASE {db} WITH (FORCE)")
            pg.admin(f"CREATE DATABASE {db} OWNER {USER} TEMPLATE {copy}")

        return restore_database

    def _delete_rows(self, keep: tuple[str, ...]) -> None:
        assert self.pg is not None
        tables = self.pg.admin(
            "SELECT string_agg(table_name, ' ') FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name = 'site'",
            db=self.db,
        ).split()
        self.pg.admin(";".join(f"DELETE FROM {t}" for t in sorted(tables) if t not in keep), db=self.db)

    def post(self, name: str, text: str | bytes) -> Path:
        path = self.content / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def run(self, *args: str, now: datetime | None = NOW, env: dict[str, str] | None = None) -> Run:
        """Run the real command line in a fresh process, as a user would."""
        cmd = [sys.executable, "-m", "syndicate", *args]
        if now is not None and args and args[0] in ("build", "check", "feeds", "posts", "publish"):
            cmd += ["--now", now.isoformat()]
        full_env = {**os.environ, "PYTHONWARNINGS": "error", "COLUMNS": "200", **self.env, **(env or {})}
        result = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=120, env=full_env)
        return Run(result.returncode, result.stdout, result.stderr)


@pytest.fixture
def site(tmp_path: Path, request: pytest.FixtureRequest) -> Site:
    """A site with the test config; its ledger in SQLite, or (parametrized with `both_stores`) in
    a fresh PostgreSQL database."""
    store = getattr(request, "param", "sqlite")
    if store == "postgres":
        cluster: Cluster = request.getfixturevalue("pg_cluster")
        s = Site(tmp_path / "site", cluster, cluster.fresh())
    else:
        assert store == "sqlite", store
        s = Site(tmp_path / "site")
    s.content.mkdir(parents=True)
    s.config(CONFIG)
    return s


@pytest.fixture
def sample_site(tmp_path: Path) -> Site:
    """A copy of the bundled sample site (content/ and config/ of this repository)."""
    root = tmp_path / "sample"
    shutil.copytree(REPO / "content", root / "content")
    shutil.copytree(REPO / "config", root / "config")
    return Site(root)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One real PostgreSQL 15 for the whole session (tests/pg.py); skipped without it, failed under CI."""
    yield from start_cluster()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL (without the password: it is tests.pg.PASSWORD) of a fresh, migrated database."""
    return pg_cluster.url(pg_cluster.fresh())


# Real peers (tests/peers/fixtures.py): imported here, and only here, so each is defined once.
from tests.peers.fixtures import bluesky_pds as bluesky_pds  # noqa: E402
from tests.peers.fixtures import mastodon_peer as mastodon_peer  # noqa: E402
from tests.peers.fixtures import webhook_receiver as webhook_receiver  # noqa: E402
from tests.peers.fixtures import webhook_receiver_factory as webhook_receiver_factory  # noqa: E402
from tests.peers.fixtures import webmention_peer as webmention_peer  # noqa: E402
from tests.peers.fixtures import websub_hub as websub_hub  # noqa: E402
