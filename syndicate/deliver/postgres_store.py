"""The ledger in PostgreSQL (``[store] url``): the tables of the SQLite ledger with a ``site``
column first in every key, so many sites share one database and every query names its site.
Implements :class:`syndicate.deliver.store.Store` with psycopg 3, every method one committed
transaction; the schema is ours, plain SQL in ``migrations/postgres/NNNN_*.sql``, applied in
order under an advisory lock (two processes starting at once migrate once) and recorded in
``schema_version``.

The site's delivery lock (:func:`site_lock`) is a session-level advisory lock held by a
connection of its own, which the server drops with the session when the holder dies, even by
SIGKILL; taking it raises the site's fencing token (``sites.lock_token``), and a store opened
under the lock checks in every write that the token is still the site's: a process that lost
its lock (its lock connection cut, another process locked the site since) cannot record
anything more. `syndicate run` holds its site by a :class:`Lease` instead (a row with an expiry
by the database's clock, which a standby takes once it has expired), on the same token.

Only :class:`StoreError` leaves this module (``LockedError`` for a lock, ``ConfigError`` for a
password variable that is not set); a URL in any message is shown without its password.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any, cast, overload
from urllib.parse import urlsplit, urlunsplit

from ..core.lanes import Tally
from ..core.planning import DEAD, FAILED, HELD, PENDING, SENDING, SENT, Delivery, DeliveryState, KnownPost
from ..errors import ConfigError, LockedError, StoreError
from .store import (
    _EPOCH,
    _STATES,
    AttemptRow,
    LedgerIdentity,
    _leaving,
    _leaving_json,
    _micros,
    _social,
    tally_sql,
)

if TYPE_CHECKING:
    import psycopg

LEDGER_SCHEMA = 2  # what meta 'schema' says, as in the SQLite ledger (the SQL schema has its own versions)
MIGRATE_LOCK = 0x73796E6469636174  # the advisory lock (bigint) every migration takes: "syndicat"
LOCK_SPACE = 0x73796E64  # a site's delivery lock: (LOCK_SPACE, sites.n), two int4 keys
CONNECT_TIMEOUT = 10  # seconds
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_DELIVERY = (
    "id, post_id, target, event, revision, state, created_at, attempts, next_attempt_at, last_error,"
    " remote_id, remote_url, updated_at, key_seq"
)
_ORDER = 'ORDER BY created_at, id COLLATE "C"'  # the SQLite ledger's order: text compared byte by byte


def shown_url(url: str) -> str:
    """The URL as messages show it: without a password (in the user part or the query)."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rsplit("@", 1)[-1]
        user = parts.username
    except ValueError:
        return "the [store] url"
    netloc = f"{user}@{host}" if user else host
    query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("password="))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def password_of(env: str) -> str | None:
    """The password from the environment variable ``[store] password_env`` names (None without
    one: libpq then reads PGPASSWORD or ~/.pgpass)."""
    if not env:
        return None
    value = os.environ.get(env)
    if not value:
        raise ConfigError(
            f"[store] password_env names {env}, which is not set here; set it to the database password,"
            " or remove password_env to use libpq's PGPASSWORD or ~/.pgpass"
        )
    return value


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "[store] url needs psycopg, which is not installed: pip install 'syndicate[postgres]'"
        ) from None
    return psycopg


def _one_line(e: BaseException, password: str | None) -> str:
    text = " ".join(str(e).split())
    if password:
        text = text.replace(password, "***")
    return text.removeprefix("connection failed: ")


def _wrap(e: BaseException, where: str, doing: str, password: str | None) -> StoreError:
    """The one line for a psycopg error: what failed, and what to do."""
    text = _one_line(e, password)
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        hint = (
            "the password is wrong or missing: set the variable [store] password_env names (or PGPASSWORD, or"
            " ~/.pgpass) to the database user's password"
        )
    elif "does not exist" in low and "database" in low:
        hint = "create the database (createdb), or name an existing one in [store] url"
    elif "connection" in low or "connect" in low or "timeout" in low or "server closed" in low:
        hint = "check [store] url, that PostgreSQL is running and that it takes connections from this machine"
    elif "permission denied" in low:
        hint = "grant the [store] url's user the rights on this database (it creates its tables at the first run)"
    else:
        hint = "the database refused it; see the PostgreSQL server's log"
    return StoreError(f"{where}: cannot {doing}: {text}; {hint}")


def connect(url: str, password: str | None, where: str) -> psycopg.Connection[Any]:
    """A connection in autocommit (each method opens its own transaction), on UTC."""
    pg = _psycopg()
    try:
        conn: psycopg.Connection[Any] = pg.connect(
            url,
            password=password,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="syndicate",
            options="-c TimeZone=UTC",
        )
    except pg.Error as e:
        raise _wrap(e, where, "connect to the delivery ledger", password) from None
    return conn


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped, in order."""
    folder = resources.files("syndicate.deliver.migrations.postgres")
    out = []
    for item in folder.iterdir():
        found = _MIGRATION.match(item.name)
        if found:
            out.append((int(found.group(1)), item.name, item.read_text(encoding="utf-8")))
    return sorted(out)


def migrate_on(conn: psycopg.Connection[Any]) -> None:
    """Apply the migrations this database lacks, each in one transaction with its schema_version
    row, under an advisory lock: a second process starting at once waits and then finds them done."""
    known = migrations()
    if _has_versions(conn) and _version(conn) >= known[-1][0]:
        return _newer(conn, known)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_version")}
        for version, name, sql in known:
            if version not in done:
                conn.execute(sql.encode())  # no parameters: several statements in one go
                conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)", (version, name))
    _newer(conn, known)


def _has_versions(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def _newer(conn: psycopg.Connection[Any], known: list[tuple[int, str, str]]) -> None:
    version = _version(conn)
    if version > known[-1][0]:
        raise StoreError(
            f"the database's ledger schema is version {version}, newer than this syndicate knows ({known[-1][0]}):"
            " upgrade syndicate on this machine"
        )


def migrate(url: str, password: str | None) -> None:
    """Bring the database at ``url`` to the newest schema (what every read-write open does)."""
    where = shown_url(url)
    conn = connect(url, password, where)
    try:
        migrate_on(conn)
    except _psycopg().Error as e:
        raise _wrap(e, where, "create or update the ledger's tables", password) from None
    finally:
        conn.close()


def where_of(url: str, site: str) -> str:
    return f"{shown_url(url)} (site {site!r})"


@contextlib.contextmanager
def site_lock(url: str, password: str | None, site: str) -> Iterator[int]:
    """Hold the site's delivery lock, or raise LockedError at once; yields the fencing token.

    A session-level ``pg_try_advisory_lock`` on a connection of its own: the server drops it when
    that session ends (the process exits or is killed, or its connection is cut). Taking it raises
    the site's token, which every write of a store opened with it checks."""
    where = where_of(url, site)
    pg = _psycopg()
    conn = connect(url, password, where)
    try:
        try:
            migrate_on(conn)
            conn.execute("INSERT INTO sites (site) VALUES (%s) ON CONFLICT DO NOTHING", (site,))
            n = _one(conn.execute("SELECT n FROM sites WHERE site=%s", (site,)).fetchone())[0]
            got = _one(conn.execute("SELECT pg_try_advisory_lock(%s::int4, %s::int4)", (LOCK_SPACE, n)).fetchone())
            leased = _one(
                conn.execute(
                    "SELECT lock_pid, lock_host, lease_id IS NOT NULL AND lease_expires > now() FROM sites"
                    " WHERE site=%s",
                    (site,),
                ).fetchone()
            )
            if not got[0] or leased[2]:  # a publish holds the lock, or a `syndicate run` the lease
                pid, host = leased[0], leased[1]
                holder = f"{pid} on {host}" if pid else "unknown"
                raise LockedError(
                    f"another syndicate (pid {holder}) is delivering for this site; wait for it to finish, or stop it"
                    " first"
                )
            token = _one(
                conn.execute(
                    "UPDATE sites SET lock_token=lock_token+1, lock_pid=%s, lock_host=%s, locked_at=now()"
                    " WHERE site=%s RETURNING lock_token",
                    (os.getpid(), socket.gethostname(), site),
                ).fetchone()
            )[0]
        except pg.Error as e:
            raise _wrap(e, where, "take the site's delivery lock", password) from None
        yield int(token)
    finally:
        with contextlib.suppress(Exception):
            conn.close()  # the session ends: the server lets go of the lock


def _boottime() -> float:
    """Seconds on a clock that goes on while the process is stopped (SIGSTOP) and while the machine
    sleeps (``CLOCK_BOOTTIME``; ``CLOCK_MONOTONIC`` stops during a suspend on Linux)."""
    boot = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boot) if boot is not None else time.monotonic()


@dataclass(frozen=True)
class Holder:
    """Who holds a site, as the database says: a `syndicate run`'s lease (``expires`` set), a
    `publish` (the session lock: no expiry), or nobody (``pid`` None)."""

    pid: int | None
    host: str | None
    expires: datetime | None  # by the database's clock
    ours: bool

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}" if self.pid else "nobody"


class LeaseLine:
    """The connection a lease is kept on. Each `syndicate run` has one of its own; `syndicate host`
    gives the leases of all its sites one line (per database), which they take turns on: a look
    is one short transaction every third of a lease, so a host of 200 sites holds one connection
    for its leases, not 200 (PostgreSQL allows 100 by default)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.conn: psycopg.Connection[Any] | None = None
        self.sites: set[str] = set()  # sites whose row this connection has made sure of

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
        self.sites.clear()


class Lease:
    """A `syndicate run`'s hold on a site: the row ``sites`` (lease_id, lease_expires, lock_pid,
    lock_host), with its expiry by PostgreSQL's clock (``now()``), never this host's. Taking it
    (only when it is free or expired, and no `publish` holds the session lock) raises the fencing
    token, which every write of a store opened with :attr:`token` checks; the holder renews it
    (:meth:`renew`) and lets go of it on a clean stop (:meth:`release`). :meth:`valid` says
    whether this process may still deliver: until ``ttl`` after the start of its last successful
    take or renewal, on a clock that runs on while the process is stopped (the database's expiry
    is later still: its ``now()`` was read after that start). A connection of its own, opened
    again after an error."""

    def __init__(
        self, url: str, password: str | None, site: str, ttl: float, name: str = "", line: LeaseLine | None = None
    ) -> None:
        self.url, self.site, self.ttl = url, site, ttl
        self.name = name or socket.gethostname()  # the holder as others see it (`host --name`, else this machine's)
        self.where = where_of(url, site)
        self.id = secrets.token_hex(8)  # this holder, apart from a later process with the same pid
        self.token: int | None = None  # the fencing token while this process holds the lease
        self._until = 0.0  # _boottime() until which it may deliver
        self.expires: datetime | None = None  # the lease's expiry in the database, as last taken or renewed
        self.nudges = 0  # writes beside the holder (sites.nudges), as last taken or renewed
        self._password = password
        self._psycopg = _psycopg()
        self._shared = line is not None  # a host's line: its connection outlives this lease
        self._line = line if line is not None else LeaseLine()

    def valid(self) -> bool:
        return self.token is not None and _boottime() < self._until

    def _run(self, doing: str, work: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        line = self._line
        with line.lock:
            try:
                if line.conn is None or line.conn.closed:
                    line.close()
                    line.conn = connect(self.url, self._password, self.where)
                    migrate_on(line.conn)
                if self.site not in line.sites:
                    line.conn.execute("INSERT INTO sites (site) VALUES (%s) ON CONFLICT DO NOTHING", (self.site,))
                    line.sites.add(self.site)
                return work(line.conn)
            except self._psycopg.Error as e:
                line.close()  # opened again by the next look, whoever's it is
                raise _wrap(e, self.where, doing, self._password) from None

    def _holder(self, conn: psycopg.Connection[Any]) -> Holder:
        pid, host, expires, lease_id = _one(
            conn.execute(
                "SELECT lock_pid, lock_host, CASE WHEN lease_expires > now() THEN lease_expires END, lease_id"
                " FROM sites WHERE site=%s",
                (self.site,),
            ).fetchone()
        )
        return Holder(pid, host, expires, lease_id == self.id and expires is not None)

    def holder(self) -> Holder:
        """Who holds the site now (read from the database)."""
        return self._run("read the site's lease", self._holder)  # type: ignore[no-any-return]

    def writes(self) -> tuple[int, int]:
        """The site's fencing token and nudges now: a `publish` that took the site's lock (or a lease
        taken) raised the one, a write beside the holder the other. What a daemon that let go of the
        lease, holding delivery for a lost ledger, watches for the way on (`publish --rebaseline`)."""
        row = self._run(
            "read the site's lease",
            lambda conn: _one(
                conn.execute("SELECT lock_token, nudges FROM sites WHERE site=%s", (self.site,)).fetchone()
            ),
        )
        return int(row[0]), int(row[1])

    def take(self) -> Holder | None:
        """Take the lease if nobody holds the site (None: taken, :attr:`token` raised); else who does.
        The row is locked while it is decided, so two standbys never both take it; a `publish`
        holding the session lock keeps it (its try-lock inside this transaction fails)."""
        started = _boottime()

        def work(conn: psycopg.Connection[Any]) -> tuple[int | None, Holder | None]:
            with conn.transaction():
                n = _one(conn.execute("SELECT n FROM sites WHERE site=%s FOR UPDATE", (self.site,)).fetchone())[0]
                free = _one(
                    conn.execute("SELECT pg_try_advisory_xact_lock(%s::int4, %s::int4)", (LOCK_SPACE, n)).fetchone()
                )[0]
                row = conn.execute(
                    "UPDATE sites SET lock_token=lock_token+1, lease_id=%s, lock_pid=%s, lock_host=%s, locked_at=now(),"
                    " lease_expires=now() + make_interval(secs => %s) WHERE site=%s AND %s"
                    " AND (lease_id IS NULL OR lease_expires <= now()) RETURNING lock_token, lease_expires, nudges",
                    (self.id, os.getpid(), self.name, float(self.ttl), self.site, bool(free)),
                ).fetchone()
                if row:
                    self.expires, self.nudges = row[1], int(row[2])
                    return int(row[0]), None
                return None, self._holder(conn)

        token, holder = self._run("take the site's lease", work)
        if token is not None:
            self.token, self._until = token, started + self.ttl
        return holder  # type: ignore[no-any-return]

    def renew(self) -> Holder | None:
        """Extend the lease to ``ttl`` from the database's now: None when done; else it is no longer
        this process's (expired, or taken by another: who holds it now), and :attr:`token` is None."""
        if self.token is None:
            return self.holder()
        started = _boottime()

        def work(conn: psycopg.Connection[Any]) -> Holder | None:
            row = conn.execute(
                "UPDATE sites SET lease_expires=now() + make_interval(secs => %s) WHERE site=%s AND lease_id=%s"
                " AND lock_token=%s AND lease_expires > now() RETURNING lease_expires, nudges",
                (float(self.ttl), self.site, self.id, self.token),
            ).fetchone()
            if row:
                self.expires, self.nudges = row[0], int(row[1])
                return None
            return self._holder(conn)

        holder = self._run("renew the site's lease", work)
        if holder is None:
            self._until = started + self.ttl
        else:
            self.token, self._until = None, 0.0
        return holder  # type: ignore[no-any-return]

    def release(self) -> None:
        """Let go of the lease (a clean stop): a standby takes it at its next look, not after the ttl."""
        if self.token is not None:
            token, self.token, self._until = self.token, None, 0.0
            with contextlib.suppress(StoreError):
                self._run(
                    "let go of the site's lease",
                    lambda conn: conn.execute(
                        "UPDATE sites SET lease_id=NULL, lease_expires=NULL WHERE site=%s AND lease_id=%s"
                        " AND lock_token=%s",
                        (self.site, self.id, token),
                    ),
                )
        self.close()

    def close(self) -> None:
        if not self._shared:
            with self._line.lock:
                self._line.close()


@overload
def _text(value: str) -> str: ...
@overload
def _text(value: None) -> None: ...
@overload
def _text(value: str | None) -> str | None: ...
def _text(value: str | None) -> str | None:
    """PostgreSQL's text cannot hold NUL, which a receiver's answer (kept as an attempt's detail) may:
    it becomes U+FFFD, so one strange answer never stops a run."""
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def _one(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    if row is None:
        raise StoreError("the database returned no row where one was expected")
    return row


def _row(r: Sequence[Any]) -> Delivery:
    return Delivery(
        id=r[0],
        post_id=r[1],
        target=r[2],
        event=r[3],
        revision=r[4],
        state=_STATES[r[5]],
        created_at=r[6],
        attempts=r[7],
        next_attempt_at=r[8],
        last_error=r[9],
        remote_id=r[10],
        remote_url=r[11],
        updated_at=r[12],
        key_seq=r[13],
    )


class PostgresStore:
    """One site's ledger in a PostgreSQL database, every method one committed transaction.

    ``token``: the fencing token of the site's lock this process holds (:func:`site_lock`);
    every write then checks it is still the site's. ``readonly``: nothing is written or
    created (a database without our tables reads as an empty ledger)."""

    def __init__(
        self, url: str, password: str | None, site: str, *, readonly: bool = False, token: int | None = None
    ) -> None:
        self.site = site
        self.where = where_of(url, site)
        self.readonly = readonly
        self.token = token
        self._password = password
        self._psycopg = _psycopg()
        self.db = connect(url, password, self.where)
        self.absent = False  # read-only, and the database has no ledger tables yet
        try:
            if readonly:
                self.absent = not _has_versions(self.db)
                self.db.execute("SET default_transaction_read_only = on")
            else:
                migrate_on(self.db)
                with self.db.transaction():
                    self.db.execute("INSERT INTO sites (site) VALUES (%s) ON CONFLICT DO NOTHING", (site,))
                    self.db.execute(
                        "INSERT INTO meta (site, key, value) VALUES (%s, 'ledger_id', %s), (%s, 'clock_id', %s),"
                        " (%s, 'generation', '0'), (%s, 'schema', %s) ON CONFLICT DO NOTHING",
                        (site, uuid.uuid4().hex, site, str(secrets.randbelow(1024)), site, site, str(LEDGER_SCHEMA)),
                    )
        except self._psycopg.Error as e:
            self.db.close()
            raise self._wrap(e, "open the delivery ledger") from None
        except BaseException:
            self.db.close()
            raise

    def _wrap(self, e: BaseException, doing: str) -> StoreError:
        return _wrap(e, self.where, doing, self._password)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()

    def server_time(self) -> datetime:
        """The database's clock now (``clock_timestamp()``, not the transaction's ``now()``): what
        every host signs and schedules with (see publish's ``_database_wall``)."""
        try:
            row = self.db.execute("SELECT clock_timestamp()").fetchone()
        except self._psycopg.Error as e:
            raise self._wrap(e, "read the database's clock") from None
        return cast(datetime, _one(row)[0])

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """One transaction around the writes inside (each one's fencing check runs in it, as a
        savepoint): a run killed or refused half-way through leaves none of them."""
        try:
            with self.db.transaction():
                yield
        except self._psycopg.Error as e:
            raise self._wrap(e, "write the delivery ledger") from None

    @contextlib.contextmanager
    def _tx(self, doing: str = "write the delivery ledger") -> Iterator[psycopg.Cursor[Any]]:
        try:
            with self.db.transaction(), self.db.cursor() as cur:
                if self.token is not None:
                    row = cur.execute("SELECT lock_token FROM sites WHERE site=%s FOR SHARE", (self.site,)).fetchone()
                    if row is None or row[0] != self.token:
                        raise LockedError(
                            f"{self.where}: another syndicate took this site's delivery lock while this one held it"
                            " (its connection to the database was cut?); this run stops and records nothing more"
                        )
                else:  # a write beside the holder (`retry`): the holder's lease keeper notices it
                    cur.execute("UPDATE sites SET nudges=nudges+1 WHERE site=%s", (self.site,))
                yield cur
        except self._psycopg.Error as e:
            raise self._wrap(e, doing) from None

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        if self.absent:
            return []
        try:
            return list(self.db.execute(sql, args).fetchall())
        except self._psycopg.Error as e:
            raise self._wrap(e, "read the delivery ledger") from None

    # identity
    def identity(self) -> LedgerIdentity:
        meta = dict(self._query("SELECT key, value FROM meta WHERE site=%s", (self.site,)))
        rows = self._query(
            "SELECT EXISTS (SELECT 1 FROM targets WHERE site=%s) OR EXISTS (SELECT 1 FROM posts WHERE site=%s)"
            " OR EXISTS (SELECT 1 FROM deliveries WHERE site=%s)",
            (self.site,) * 3,
        )
        empty = not rows or not rows[0][0]
        return LedgerIdentity(
            meta.get("ledger_id", ""), int(meta.get("clock_id", "0")), int(meta.get("generation", "0")), empty
        )

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE site=%s AND key=%s", (self.site, key))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        with self._tx() as cur:
            if value is None:
                cur.execute("DELETE FROM meta WHERE site=%s AND key=%s", (self.site, key))
            else:
                cur.execute(
                    "INSERT INTO meta (site, key, value) VALUES (%s, %s, %s)"
                    " ON CONFLICT (site, key) DO UPDATE SET value=EXCLUDED.value",
                    (self.site, key, value),
                )

    def bump_generation(self) -> int:
        with self._tx() as cur:
            row = cur.execute(
                "UPDATE meta SET value=(value::bigint + 1)::text WHERE site=%s AND key='generation' RETURNING value",
                (self.site,),
            ).fetchone()
        return int(row[0]) if row else 0

    # targets
    def known_targets(self) -> dict[str, str | None]:
        return dict(self._query("SELECT name, disabled_reason FROM targets WHERE site=%s", (self.site,)))

    def add_targets(self, names: Iterable[str], now: datetime) -> None:
        names = list(names)
        with self._tx() as cur:
            cur.executemany(
                "INSERT INTO targets (site, name, first_seen) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [(self.site, n, now) for n in names],
            )

    def disable_target(self, name: str, reason: str) -> None:
        with self._tx() as cur:
            cur.execute(
                "UPDATE targets SET disabled_reason=%s WHERE site=%s AND name=%s", (_text(reason), self.site, name)
            )

    def enable_target(self, name: str) -> None:
        with self._tx() as cur:
            cur.execute("UPDATE targets SET disabled_reason=NULL WHERE site=%s AND name=%s", (self.site, name))

    # posts
    def known_posts(self) -> dict[str, KnownPost]:
        """Every post the ledger remembers, without its snapshot (see :meth:`snapshots`)."""
        rows = self._query(
            "SELECT post_id, source, url, title, revision, deleted, published, social, leaving FROM posts"
            " WHERE site=%s",
            (self.site,),
        )
        return {
            r[0]: KnownPost(r[0], r[1], r[2], r[3], r[4], "", bool(r[5]), r[6], _social(r[7]), _leaving(r[8]))
            for r in rows
        }

    def snapshots(self, post_ids: Iterable[str]) -> dict[str, str]:
        ids = list(post_ids)
        if not ids:
            return {}
        return dict(
            self._query("SELECT post_id, snapshot FROM posts WHERE site=%s AND post_id = ANY(%s)", (self.site, ids))
        )

    def newest_published(self) -> datetime | None:
        rows = self._query(
            "SELECT MAX(published) FROM posts WHERE site=%s AND NOT deleted AND published IS NOT NULL", (self.site,)
        )
        return rows[0][0] if rows else None

    def save_posts(self, posts: Iterable[KnownPost]) -> None:
        """Insert or update posts; a post given without a snapshot keeps the one stored."""
        posts = list(posts)

        def social(p: KnownPost) -> str | None:
            return json.dumps(dict(p.social), sort_keys=True) if p.social else None

        with self._tx() as cur:
            cur.executemany(
                "INSERT INTO posts (site, post_id, source, url, title, revision, snapshot, deleted, published,"
                " social, leaving) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (site, post_id) DO UPDATE SET source=EXCLUDED.source, url=EXCLUDED.url,"
                " title=EXCLUDED.title, revision=EXCLUDED.revision, snapshot=EXCLUDED.snapshot,"
                " deleted=EXCLUDED.deleted, published=EXCLUDED.published, social=EXCLUDED.social,"
                " leaving=EXCLUDED.leaving",
                [
                    (
                        self.site,
                        p.post_id,
                        _text(p.source),
                        _text(p.url),
                        _text(p.title),
                        p.revision,
                        p.snapshot,
                        bool(p.deleted),
                        p.published,
                        social(p),
                        _leaving_json(p.leaving),
                    )
                    for p in posts
                    if p.snapshot
                ],
            )
            cur.executemany(
                "UPDATE posts SET source=%s, url=%s, title=%s, revision=%s, deleted=%s,"
                " published=COALESCE(%s, published), social=COALESCE(%s, social), leaving=%s"
                " WHERE site=%s AND post_id=%s",
                [
                    (
                        _text(p.source),
                        _text(p.url),
                        _text(p.title),
                        p.revision,
                        bool(p.deleted),
                        p.published,
                        social(p),
                        _leaving_json(p.leaving),
                        self.site,
                        p.post_id,
                    )
                    for p in posts
                    if not p.snapshot
                ],
            )

    # deliveries
    def deliveries(self) -> list[Delivery]:
        return [
            _row(r) for r in self._query(f"SELECT {_DELIVERY} FROM deliveries WHERE site=%s {_ORDER}", (self.site,))
        ]

    def delivery_keys(self, post_ids: Collection[str] | None = None) -> list[Delivery]:
        """Every delivery (or those of these posts) with only what planning reads (dates not loaded)."""
        sql = "SELECT id, post_id, target, event, revision, state, attempts FROM deliveries WHERE site=%s"
        if post_ids is None:
            rows = self._query(sql, (self.site,))
        else:
            rows = self._query(sql + " AND post_id = ANY(%s)", (self.site, sorted(post_ids)))
        return [Delivery(r[0], r[1], r[2], r[3], r[4], _STATES[r[5]], _EPOCH, r[6]) for r in rows]

    def link_rows(self) -> list[Delivery]:
        sql = (
            "SELECT id, post_id, target, event, revision, state, attempts, remote_url FROM deliveries"
            " WHERE site=%s AND (remote_url IS NOT NULL OR event = 'post.deleted'"
            " OR (event = 'post.published' AND state = 'skipped'))"
        )
        return [
            Delivery(r[0], r[1], r[2], r[3], r[4], _STATES[r[5]], _EPOCH, r[6], remote_url=r[7])
            for r in self._query(sql, (self.site,))
        ]

    def deliveries_of(self, post_id: str, target: str) -> list[Delivery]:
        sql = f"SELECT {_DELIVERY} FROM deliveries WHERE site=%s AND post_id=%s AND target=%s {_ORDER}"
        return [_row(r) for r in self._query(sql, (self.site, post_id, target))]

    def open_deliveries(self) -> list[Delivery]:
        sql = f"SELECT {_DELIVERY} FROM deliveries WHERE site=%s AND state IN ('pending', 'sending', 'failed') {_ORDER}"
        return [_row(r) for r in self._query(sql, (self.site,))]

    def get(self, delivery_id: str) -> Delivery:
        rows = self._query(f"SELECT {_DELIVERY} FROM deliveries WHERE site=%s AND id=%s", (self.site, delivery_id))
        if not rows:
            raise StoreError(f"no delivery {delivery_id}")
        return _row(rows[0])

    def attempts(self, delivery_id: str) -> list[AttemptRow]:
        rows = self._query(
            "SELECT n, started_at, digest, finished_at, outcome, detail, text FROM attempts"
            " WHERE site=%s AND delivery_id=%s ORDER BY n",
            (self.site, delivery_id),
        )
        return [AttemptRow(r[0], r[1] or _EPOCH, r[2], r[3], r[4], r[5], r[6] or "") for r in rows]

    def add_deliveries(self, rows: Iterable[Delivery]) -> None:
        rows = list(rows)
        with self._tx() as cur:
            cur.executemany(
                "INSERT INTO deliveries (site, id, post_id, target, event, revision, state, created_at, attempts,"
                " next_attempt_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s)"
                " ON CONFLICT DO NOTHING",
                [
                    (
                        self.site,
                        d.id,
                        d.post_id,
                        d.target,
                        d.event,
                        d.revision,
                        str(d.state),
                        d.created_at,
                        d.next_attempt_at,
                        d.updated_at,
                    )
                    for d in rows
                ],
            )

    def set_state(self, ids: Iterable[str], state: DeliveryState, reason: str | None, now: datetime) -> None:
        ids = list(ids)
        with self._tx() as cur:
            cur.executemany(
                "UPDATE deliveries SET state=%s, last_error=COALESCE(%s, last_error), updated_at=%s,"
                " next_attempt_at=%s WHERE site=%s AND id=%s",
                [(str(state), _text(reason), now, now if state == PENDING else None, self.site, i) for i in ids],
            )

    def _give_key(self, cur: psycopg.Cursor[Any], delivery_id: str, target: str, now: datetime) -> None:
        """The next key of this target: after every key it ever had, and not before ``now``. The
        counter row is locked by the statement, so two processes giving keys at once take turns."""
        row = cur.execute(
            "INSERT INTO key_seqs AS k (site, target, last) VALUES (%(site)s, %(target)s, GREATEST(%(now)s,"
            " (SELECT COALESCE(MAX(key_seq), 0) + 1 FROM deliveries WHERE site=%(site)s AND target=%(target)s)))"
            " ON CONFLICT (site, target) DO UPDATE SET last=GREATEST(k.last + 1, EXCLUDED.last) RETURNING last",
            {"site": self.site, "target": target, "now": _micros(now)},
        ).fetchone()
        seq = _one(row)[0]
        cur.execute("UPDATE deliveries SET key_seq=%s WHERE site=%s AND id=%s", (seq, self.site, delivery_id))

    def mark_sending(
        self, delivery_id: str, now: datetime, digest: str = "", keyed: bool = False, text: str = ""
    ) -> Delivery:
        """Record the intent before the network call (see :meth:`SQLiteStore.mark_sending`)."""
        with self._tx() as cur:
            row = cur.execute(
                "SELECT target, key_seq FROM deliveries WHERE site=%s AND id=%s FOR UPDATE", (self.site, delivery_id)
            ).fetchone()
            if row is None:
                raise StoreError(f"no delivery {delivery_id}")
            target, key_seq = row
            if keyed and key_seq is None:
                self._give_key(cur, delivery_id, target, now)
            cur.execute(
                "UPDATE deliveries SET state=%s, attempts=attempts+1, updated_at=%s WHERE site=%s AND id=%s",
                (str(SENDING), now, self.site, delivery_id),
            )
            cur.execute(
                "INSERT INTO attempts (site, delivery_id, n, started_at, digest, text) VALUES (%s, %s,"
                " (SELECT COALESCE(MAX(n), 0) + 1 FROM attempts WHERE site=%s AND delivery_id=%s), %s, %s, %s)",
                (self.site, delivery_id, self.site, delivery_id, now, _text(digest), _text(text) or None),
            )
        return self.get(delivery_id)

    def new_key(self, delivery_id: str, now: datetime) -> Delivery:
        """Give a delivery a fresh key (its old one turned out to be taken by something that is not ours)."""
        delivery = self.get(delivery_id)
        with self._tx() as cur:
            self._give_key(cur, delivery_id, delivery.target, now)
        return self.get(delivery_id)

    def _finish(
        self, cur: psycopg.Cursor[Any], delivery_id: str, outcome: str, detail: str | None, now: datetime
    ) -> None:
        cur.execute(
            "UPDATE attempts SET finished_at=%s, outcome=%s, detail=%s WHERE site=%s AND delivery_id=%s AND n="
            "(SELECT MAX(n) FROM attempts WHERE site=%s AND delivery_id=%s)",
            (now, outcome, _text(detail), self.site, delivery_id, self.site, delivery_id),
        )

    def mark_sent(self, delivery_id: str, remote_id: str | None, remote_url: str | None, now: datetime) -> None:
        with self._tx() as cur:
            cur.execute(
                "UPDATE deliveries SET state=%s, remote_id=%s, remote_url=%s, next_attempt_at=NULL, updated_at=%s,"
                " last_error=NULL WHERE site=%s AND id=%s",
                (str(SENT), _text(remote_id), _text(remote_url), now, self.site, delivery_id),
            )
            self._finish(cur, delivery_id, str(SENT), remote_url or remote_id, now)

    def mark_failed(
        self,
        delivery_id: str,
        state: DeliveryState,
        next_at: datetime | None,
        error: str,
        now: datetime,
        unknown: bool = False,
    ) -> None:
        assert state in (FAILED, DEAD, PENDING, HELD)
        with self._tx() as cur:
            cur.execute(
                "UPDATE deliveries SET state=%s, next_attempt_at=%s, last_error=%s, updated_at=%s"
                " WHERE site=%s AND id=%s",
                (str(state), next_at, _text(error), now, self.site, delivery_id),
            )
            self._finish(cur, delivery_id, "unknown" if unknown else str(state), error, now)

    def tally(self, now: datetime, late_before: datetime) -> list[Tally]:
        """Per target and state: how many, the oldest due and how many are late (core/lanes.py)."""
        rows = self._query(tally_sql("%s", "site=%s"), (now, now, late_before, self.site))
        return [Tally(r[0], r[1], int(r[2]), r[3], int(r[4] or 0)) for r in rows]

    def requeue(self, target: str | None, post: str | None, now: datetime) -> int:
        """Make failed and dead deliveries (matching the filters) due now (see :meth:`SQLiteStore.requeue`)."""
        states = [str(FAILED), str(DEAD)] + ([str(HELD)] if post else [])  # held: only a post named
        where, args = f"site=%s AND state IN ({', '.join(['%s'] * len(states))})", [self.site, *states]
        if target:
            where += " AND target=%s"
            args.append(target)
        if post:
            where += " AND post_id=%s"
            args.append(post)
        with self._tx() as cur:
            count = cur.execute(
                "UPDATE deliveries SET attempts=CASE WHEN state=%s THEN 0 ELSE attempts END, state=%s,"
                f" next_attempt_at=%s, updated_at=%s WHERE {where}",
                [str(DEAD), str(PENDING), now, now, *args],
            ).rowcount
            if target:
                cur.execute("UPDATE targets SET disabled_reason=NULL WHERE site=%s AND name=%s", (self.site, target))
            else:
                cur.execute("UPDATE targets SET disabled_reason=NULL WHERE site=%s", (self.site,))
        return int(count)

    # throttles: origins that answered 429, for every site in the database (migration 0003)
    def throttle(self, origin: str, seconds: float, now: datetime) -> datetime:
        """Deliveries to ``origin`` wait until the database's clock plus ``seconds`` (or a later time
        already kept), from every site and host; returns until when (``now`` is not used: the
        database's clock decides)."""
        with self._tx() as cur:
            row = cur.execute(
                "INSERT INTO throttles AS t (origin, until, site, told_at) VALUES (%(origin)s,"
                " clock_timestamp() + make_interval(secs => %(secs)s), %(site)s, clock_timestamp())"
                " ON CONFLICT (origin) DO UPDATE SET until=GREATEST(t.until, EXCLUDED.until),"
                " site=EXCLUDED.site, told_at=EXCLUDED.told_at RETURNING until",
                {"origin": _text(origin), "secs": max(0.0, float(seconds)), "site": self.site},
            ).fetchone()
            cur.execute("DELETE FROM throttles WHERE until < clock_timestamp() - interval '1 day'")
        return cast(datetime, _one(row)[0])

    def throttles(self, now: datetime) -> dict[str, datetime]:
        """Origin → until when its deliveries wait, for the throttles not over by the database's
        clock (``now`` is not used)."""
        if self.absent or (self.readonly and not self._has_throttles()):
            return {}
        return dict(self._query("SELECT origin, until FROM throttles WHERE until > clock_timestamp()"))

    def lift(self, origins: Iterable[str]) -> None:
        """Forget these origins' throttles, for every site (`syndicate retry`: the user's word)."""
        names = [_text(o) for o in origins]
        with self._tx() as cur:
            cur.execute("DELETE FROM throttles WHERE origin = ANY(%s)", (names,))

    def _has_throttles(self) -> bool:
        rows = self._query("SELECT to_regclass('throttles') IS NOT NULL")
        return bool(rows and rows[0][0])

    # Bluesky sessions, sealed by deliver/sessions.py, for every site in the database (migration 0004)
    def session(self, service: str, handle: str) -> tuple[bytes, datetime] | None:
        """The sealed session kept for this account and when its access token expires."""
        if self.absent:
            return None
        rows = self._query("SELECT sealed, expires FROM sessions WHERE service=%s AND handle=%s", (service, handle))
        return (bytes(rows[0][0]), rows[0][1]) if rows else None

    def save_session(self, service: str, handle: str, sealed: bytes, expires: datetime) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO sessions (service, handle, sealed, expires, saved_at) VALUES (%s, %s, %s, %s, now())"
                " ON CONFLICT (service, handle) DO UPDATE SET sealed=EXCLUDED.sealed, expires=EXCLUDED.expires,"
                " saved_at=EXCLUDED.saved_at",
                (_text(service), _text(handle), sealed, expires),
            )

    # for `syndicate store migrate`
    def holds_site(self) -> bool:
        """Whether the database holds anything of this site (its ledger id or any row)."""
        if self.absent:
            return False
        return bool(self.meta("ledger_id")) or not self.identity().empty


def exists(url: str, password: str | None, site: str) -> bool:
    """Whether the database holds this site's ledger (its id was recorded); False for a database
    without our tables."""
    store = PostgresStore(url, password, site, readonly=True)
    try:
        return store.meta("ledger_id") is not None
    finally:
        store.close()


def tally_every_site(url: str, password: str | None, late_after: timedelta) -> tuple[datetime, dict[str, list[Tally]]]:
    """`syndicate status --store`: the database's clock, and every site it holds (one that has no
    delivery yet too) with the aggregate of its deliveries (:meth:`PostgresStore.tally`), in one
    read-only transaction: one query over every site, whatever their number. Nothing is created:
    a database without our tables holds no site."""
    where = shown_url(url)
    pg = _psycopg()
    conn = connect(url, password, where)
    try:
        now = cast(datetime, _one(conn.execute("SELECT clock_timestamp()").fetchone())[0])
        if not _has_versions(conn):
            return now, {}
        conn.execute("SET default_transaction_read_only = on")
        with conn.transaction():
            sites: dict[str, list[Tally]] = {r[0]: [] for r in conn.execute("SELECT site FROM sites ORDER BY site")}
            sql = tally_sql("%s", "TRUE", site="site")
            for r in conn.execute(sql, (now, now, now - late_after)).fetchall():
                sites.setdefault(r[0], []).append(Tally(r[1], r[2], int(r[3]), r[4], int(r[5] or 0)))
    except pg.Error as e:
        raise _wrap(e, where, "read the delivery ledgers", password) from None
    finally:
        conn.close()
    return now, sites


# `syndicate store migrate`: a site's SQLite ledger copied into the database
# Not copied, deliberately: throttles (minutes long; the next 429 says it again) and sessions (a
# session is remade once, one createSession, rather than copied over a fresher one in the database).
_COPIED = {  # table → its columns, the same in both ledgers (the site column added here)
    "meta": ("key", "value"),
    "targets": ("name", "first_seen", "disabled_reason"),
    "posts": ("post_id", "source", "url", "title", "revision", "snapshot", "deleted", "published", "social", "leaving"),
    "deliveries": (
        "id",
        "post_id",
        "target",
        "event",
        "revision",
        "state",
        "created_at",
        "attempts",
        "next_attempt_at",
        "last_error",
        "remote_id",
        "remote_url",
        "updated_at",
        "key_seq",
    ),
    "attempts": ("delivery_id", "n", "started_at", "digest", "finished_at", "outcome", "detail", "text"),
}
_TIMES = {"first_seen", "published", "created_at", "next_attempt_at", "updated_at", "started_at", "finished_at"}


def _moment(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    at = datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def copy_ledger(sqlite_db: Any, url: str, password: str | None, site: str) -> dict[str, int]:
    """Copy every row of an open SQLite ledger (``sqlite3.Connection``, migrated to the newest
    columns, locked by the caller) into the database as ``site``, in one transaction: all of it
    or nothing. Refused (ConfigError) when the database already holds anything of that site.
    The key counters start after the largest key each target was given. Returns rows per table."""
    where = where_of(url, site)
    pg = _psycopg()
    conn = connect(url, password, where)
    counts: dict[str, int] = {}
    try:
        migrate_on(conn)
        with conn.transaction():
            conn.execute("INSERT INTO sites (site) VALUES (%s) ON CONFLICT DO NOTHING", (site,))
            conn.execute("SELECT 1 FROM sites WHERE site=%s FOR UPDATE", (site,))  # one copy at a time
            held = _one(
                conn.execute(
                    "SELECT (SELECT value FROM meta WHERE site=%s AND key='ledger_id'),"
                    " EXISTS (SELECT 1 FROM deliveries WHERE site=%s) OR EXISTS (SELECT 1 FROM posts WHERE site=%s)"
                    " OR EXISTS (SELECT 1 FROM targets WHERE site=%s)",
                    (site,) * 4,
                ).fetchone()
            )
            if held[0] is not None or held[1]:
                ledger = f" (ledger {str(held[0])[:8]})" if held[0] else ""
                raise ConfigError(
                    f"{where} already holds a ledger for this site{ledger}; nothing was copied. If it is this"
                    " site's, name the url in [store] and publish; else give the site another name with --name"
                    " (and [store] site), or delete the site's rows there first"
                )
            for table, columns in _COPIED.items():
                rows = sqlite_db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
                fixed = [
                    tuple(
                        _moment(v) if c in _TIMES else bool(v) if c == "deleted" else v
                        for c, v in zip(columns, r, strict=True)
                    )
                    for r in rows
                ]
                with conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO {table} (site, {', '.join(columns)})"
                        f" VALUES (%s, {', '.join(['%s'] * len(columns))})",
                        [(site, *r) for r in fixed],
                    )
                counts[table] = len(rows)
            conn.execute(
                "INSERT INTO key_seqs (site, target, last) SELECT site, target, MAX(key_seq) FROM deliveries"
                " WHERE site=%s AND key_seq IS NOT NULL GROUP BY site, target",
                (site,),
            )
    except pg.Error as e:
        raise _wrap(e, where, "copy the ledger into the database", password) from None
    finally:
        conn.close()
    return counts
