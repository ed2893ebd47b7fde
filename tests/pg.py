"""A real PostgreSQL 15 for the tests: one cluster per pytest session, a fresh database per test.

The cluster is Debian's (``/usr/lib/postgresql/15/bin``), made with ``initdb`` in a temporary
folder as the ``postgres`` user (initdb refuses root), listening on 127.0.0.1 at a free port with
a socket folder of its own, with password authentication for TCP (so a wrong password is a real
refusal). A database migrated once is the template of every test's database (``CREATE DATABASE
… TEMPLATE`` copies it in milliseconds). Without the binaries the tests are skipped locally and
fail under ``CI=true``: CI must not pass by skipping them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(os.environ.get("SYNDICATE_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "syndicate"
PASSWORD = "s3cret-for-tests"
_names = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


def _run(*cmd: str) -> None:
    subprocess.run(_as_postgres(*cmd), capture_output=True, text=True, timeout=120, check=True)


@dataclass
class Cluster:
    """A running PostgreSQL: its port, its folder, and the URL of a database in it."""

    folder: Path
    port: int

    def url(self, db: str, *, password: bool = False) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{db}"

    def admin(self, sql: str, db: str = "postgres") -> str:
        """Run SQL as the superuser (in database ``db``); its output, trimmed."""
        out = subprocess.run(
            _as_postgres(str(BIN / "psql"), "-h", str(self.folder), "-p", str(self.port), "-U", "postgres",
                         "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", sql),
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return out.stdout.strip()

    def fresh(self, template: str | None = "ledger_template") -> str:
        """A new database (a copy of the migrated template), by name."""
        name = f"t{os.getpid()}_{next(_names)}"
        self.admin(f"CREATE DATABASE {name} OWNER {USER}" + (f" TEMPLATE {template}" if template else ""))
        return name


def start_cluster() -> Iterator[Cluster]:
    if not (BIN / "initdb").exists():
        reason = f"PostgreSQL 15 is not installed ({BIN}/initdb missing: apt-get install -y postgresql)"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(reason + "; CI must not skip the PostgreSQL tests")
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="syndicate-pg-"))
    os.chmod(folder, 0o700)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", _free_port()
    pwfile = folder / "pw"
    pwfile.write_text("postgres\n")
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres", "postgres")
    _run(str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
         f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
    _run(str(BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o", options, "start")
    cluster = Cluster(folder, port)
    try:
        cluster.admin(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        cluster.admin(f"CREATE DATABASE ledger_template OWNER {USER}")
        from syndicate.deliver.postgres_store import migrate

        migrate(cluster.url("ledger_template"), PASSWORD)
        yield cluster
    finally:
        subprocess.run(
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"),
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
