"""The delivery ledger: SQLite behind a small interface, so another store can follow.

Contract (any implementation):
- every datetime in and out is timezone-aware UTC;
- a method returns only after its change is durable (committed), so the caller can rely
  on the order *intent recorded → network call → outcome recorded*;
- methods raise :class:`StoreError` (a ``SyndicateError``) and nothing else;
- the store holds no policy: :mod:`syndicate.planning` decides, the store saves.

Nothing secret is ever stored: rows hold ids, states, URLs and error messages that were
already redacted by the caller.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from .errors import SyndicateError
from .planning import BASELINE, DEAD, FAILED, PENDING, SENDING, SENT, Delivery, KnownPost

SCHEMA = """
CREATE TABLE IF NOT EXISTS targets (
    name TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL,
    disabled_reason TEXT
);
CREATE TABLE IF NOT EXISTS posts (
    post_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    revision TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    post_id TEXT NOT NULL,
    target TEXT NOT NULL,
    event TEXT NOT NULL,
    revision TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error TEXT,
    remote_id TEXT,
    remote_url TEXT,
    updated_at TEXT,
    UNIQUE (post_id, target, event, revision)
);
CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS posts_id ON posts (post_id);
"""


class StoreError(SyndicateError):
    """The ledger cannot be read or written."""


class LockedError(SyndicateError):
    """Another syndicate process is delivering for this site."""


class Store(Protocol):
    def known_targets(self) -> dict[str, str | None]: ...
    def add_targets(self, names: Iterable[str], now: datetime) -> None: ...
    def disable_target(self, name: str, reason: str) -> None: ...
    def known_posts(self) -> dict[str, KnownPost]: ...
    def save_posts(self, posts: Iterable[KnownPost]) -> None: ...
    def deliveries(self) -> list[Delivery]: ...
    def add_deliveries(self, rows: Iterable[Delivery]) -> None: ...
    def set_state(self, ids: Iterable[str], state: str, reason: str | None, now: datetime) -> None: ...
    def mark_sending(self, delivery_id: str, now: datetime) -> Delivery: ...
    def mark_sent(self, delivery_id: str, remote_id: str | None, remote_url: str | None, now: datetime) -> None: ...
    def mark_failed(
        self, delivery_id: str, state: str, next_at: datetime | None, error: str, now: datetime
    ) -> None: ...
    def requeue(self, target: str | None, post: str | None, now: datetime) -> int: ...


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _row(r: sqlite3.Row) -> Delivery:
    created = _dt(r["created_at"])
    assert created is not None
    return Delivery(
        id=r["id"],
        post_id=r["post_id"],
        target=r["target"],
        event=r["event"],
        revision=r["revision"],
        state=r["state"],
        created_at=created,
        attempts=r["attempts"],
        next_attempt_at=_dt(r["next_attempt_at"]),
        last_error=r["last_error"],
        remote_id=r["remote_id"],
        remote_url=r["remote_url"],
        updated_at=_dt(r["updated_at"]),
    )


class SQLiteStore:
    """The default store: one SQLite file (WAL), every method one committed transaction."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        try:
            if readonly:
                if not path.exists():
                    self.db = sqlite3.connect(":memory:")
                else:
                    self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
            self.db.row_factory = sqlite3.Row
            if not readonly or not path.exists():
                self.db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"{path}: cannot open the delivery ledger: {e}") from e

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: {e}") from e

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: {e}") from e

    # targets
    def known_targets(self) -> dict[str, str | None]:
        return {r["name"]: r["disabled_reason"] for r in self._query("SELECT * FROM targets")}

    def add_targets(self, names: Iterable[str], now: datetime) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO targets (name, first_seen) VALUES (?, ?)", [(n, _ts(now)) for n in names]
            )

    def disable_target(self, name: str, reason: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE targets SET disabled_reason=? WHERE name=?", (reason, name))

    def enable_target(self, name: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE targets SET disabled_reason=NULL WHERE name=?", (name,))

    # posts
    def known_posts(self) -> dict[str, KnownPost]:
        """Every post the ledger remembers, without its snapshot (see :meth:`snapshots`)."""
        return {
            r["post_id"]: KnownPost(
                r["post_id"], r["source"], r["url"], r["title"], r["revision"], "", bool(r["deleted"])
            )
            for r in self._query("SELECT post_id, source, url, title, revision, deleted FROM posts")
        }

    def snapshots(self, post_ids: Iterable[str]) -> dict[str, str]:
        """The remembered JSON Feed item of each post (for post.deleted)."""
        out: dict[str, str] = {}
        for post_id in post_ids:
            for r in self._query("SELECT snapshot FROM posts WHERE post_id=?", (post_id,)):
                out[post_id] = r["snapshot"]
        return out

    def save_posts(self, posts: Iterable[KnownPost]) -> None:
        """Insert or update posts; a post given without a snapshot keeps the one stored."""
        posts = list(posts)
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO posts VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (p.post_id, p.source, p.url, p.title, p.revision, p.snapshot, int(p.deleted))
                    for p in posts
                    if p.snapshot
                ],
            )
            db.executemany(
                "UPDATE posts SET source=?, url=?, title=?, revision=?, deleted=? WHERE post_id=?",
                [(p.source, p.url, p.title, p.revision, int(p.deleted), p.post_id) for p in posts if not p.snapshot],
            )

    # deliveries
    def deliveries(self) -> list[Delivery]:
        return [_row(r) for r in self._query("SELECT * FROM deliveries ORDER BY created_at, id")]

    def delivery_keys(self) -> list[Delivery]:
        """Every delivery with only what planning reads (ids, keys, states): fast on big ledgers.

        Dates are not loaded (``created_at`` is the epoch); use :meth:`deliveries` for them.
        """
        sql = "SELECT id, post_id, target, event, revision, state FROM deliveries"
        return [Delivery(r[0], r[1], r[2], r[3], r[4], r[5], _EPOCH) for r in self._query(sql)]

    def open_deliveries(self) -> list[Delivery]:
        """Deliveries not yet settled: pending, sending or failed."""
        sql = "SELECT * FROM deliveries WHERE state IN ('pending', 'sending', 'failed') ORDER BY created_at, id"
        return [_row(r) for r in self._query(sql)]

    def get(self, delivery_id: str) -> Delivery:
        rows = self._query("SELECT * FROM deliveries WHERE id=?", (delivery_id,))
        if not rows:
            raise StoreError(f"no delivery {delivery_id}")
        return _row(rows[0])

    def add_deliveries(self, rows: Iterable[Delivery]) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO deliveries (id, post_id, target, event, revision, state, created_at,"
                " attempts, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                [
                    (
                        d.id,
                        d.post_id,
                        d.target,
                        d.event,
                        d.revision,
                        d.state,
                        _ts(d.created_at),
                        _ts(d.next_attempt_at),
                        _ts(d.updated_at),
                    )
                    for d in rows
                ],
            )

    def set_state(self, ids: Iterable[str], state: str, reason: str | None, now: datetime) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE deliveries SET state=?, last_error=COALESCE(?, last_error), updated_at=?,"
                " next_attempt_at=CASE WHEN ?='pending' THEN ? ELSE NULL END WHERE id=?",
                [(state, reason, _ts(now), state, _ts(now), i) for i in ids],
            )

    def mark_sending(self, delivery_id: str, now: datetime) -> Delivery:
        """Record the intent before the network call: attempts + 1, state ``sending``."""
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET state=?, attempts=attempts+1, updated_at=? WHERE id=?",
                (SENDING, _ts(now), delivery_id),
            )
        return self.get(delivery_id)

    def mark_sent(self, delivery_id: str, remote_id: str | None, remote_url: str | None, now: datetime) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET state=?, remote_id=?, remote_url=?, next_attempt_at=NULL, updated_at=?,"
                " last_error=NULL WHERE id=?",
                (SENT, remote_id, remote_url, _ts(now), delivery_id),
            )

    def mark_failed(self, delivery_id: str, state: str, next_at: datetime | None, error: str, now: datetime) -> None:
        assert state in (FAILED, DEAD, PENDING)
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET state=?, next_attempt_at=?, last_error=?, updated_at=? WHERE id=?",
                (state, _ts(next_at), error, _ts(now), delivery_id),
            )

    def requeue(self, target: str | None, post: str | None, now: datetime) -> int:
        """Put dead deliveries (matching the filters) back in the queue, attempts reset."""
        sql = "UPDATE deliveries SET state=?, attempts=0, next_attempt_at=?, updated_at=? WHERE state=?"
        args: list[object] = [PENDING, _ts(now), _ts(now), DEAD]
        if target:
            sql += " AND target=?"
            args.append(target)
        if post:
            sql += " AND post_id=?"
            args.append(post)
        with self._tx() as db:
            count = db.execute(sql, args).rowcount
            if target:
                db.execute("UPDATE targets SET disabled_reason=NULL WHERE name=?", (target,))
            else:
                db.execute("UPDATE targets SET disabled_reason=NULL")
        return count


__all__ = [
    "BASELINE",
    "DEAD",
    "FAILED",
    "PENDING",
    "SENDING",
    "SENT",
    "LockedError",
    "SQLiteStore",
    "Store",
    "StoreError",
    "lock",
]


@contextlib.contextmanager
def lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the site's state, or raise LockedError at once.

    Two processes delivering for one site could both send a post; the OS lock is released
    when the holder exits, even by SIGKILL, so a crash never leaves a stale lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise LockedError(
                f"another syndicate (pid {holder}) is delivering for this site; wait for it to finish, or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
