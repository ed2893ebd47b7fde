"""The ledger in SQLite: one file beside the site (``.syndicate/state.db``), WAL, every change
committed before the method returns. Implements :class:`syndicate.deliver.store.Store`."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from ..core.lanes import Tally
from ..core.planning import CLOCK_SLACK, DEAD, FAILED, HELD, PENDING, SENDING, SENT, Delivery, DeliveryState, KnownPost
from ..errors import StoreError
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

LEDGER_SCHEMA = 2  # 1: the first ledgers (no meta table); 2: meta, attempts, key_seq, posts.published

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
    deleted INTEGER NOT NULL DEFAULT 0,
    published TEXT,
    social TEXT,
    leaving TEXT
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
    key_seq INTEGER,
    UNIQUE (post_id, target, event, revision)
);
CREATE TABLE IF NOT EXISTS attempts (
    delivery_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    digest TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT,
    detail TEXT,
    text TEXT,
    PRIMARY KEY (delivery_id, n)
);
CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS throttles (origin TEXT PRIMARY KEY, until TEXT NOT NULL, told_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    service TEXT NOT NULL,
    handle TEXT NOT NULL,
    sealed BLOB NOT NULL,
    expires TEXT NOT NULL,
    PRIMARY KEY (service, handle)
);
"""
# Added after the first ledgers: made on open (a ledger of schema 1 gains them in place).
_COLUMNS = (
    ("deliveries", "key_seq", "INTEGER"),
    ("posts", "published", "TEXT"),
    ("posts", "social", "TEXT"),  # JSON: social target → digest of the post's text there
    ("attempts", "text", "TEXT"),  # the text a social attempt sent, for previews of edits and deletions
    ("posts", "leaving", "TEXT"),  # JSON: "*" (the whole post) or a target → when it was seen leaving
)
_UNIQUE_KEYS = (
    "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_key ON deliveries (target, key_seq) WHERE key_seq IS NOT NULL"
)


KEYS_AT_ONCE = 500  # post ids in one query (SQLite allows 999 parameters in older versions)


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
        state=_STATES[r["state"]],
        created_at=created,
        attempts=r["attempts"],
        next_attempt_at=_dt(r["next_attempt_at"]),
        last_error=r["last_error"],
        remote_id=r["remote_id"],
        remote_url=r["remote_url"],
        updated_at=_dt(r["updated_at"]),
        key_seq=r["key_seq"] if "key_seq" in r.keys() else None,  # noqa: SIM118 (sqlite3.Row has no __contains__)
    )


def unreadable(path: Path, e: BaseException) -> StoreError:
    """The one line for a ledger SQLite cannot read (not a database, cut short, locked forever)."""
    return StoreError(
        f"{path}: the delivery ledger cannot be read ({e}); restore it from a backup, or move it away and"
        " run `syndicate publish --rebaseline` (nothing was sent)"
    )


def not_writable(path: Path, e: BaseException) -> StoreError:
    """A ledger in a folder this process cannot write (a read-only file system, a sandbox that left it
    out, another owner): SQLite writes beside a ledger (its -wal and -shm files) even to read it."""
    return StoreError(
        f"{path}: cannot open the delivery ledger ({e}): its folder {path.parent} is not writable here"
        " (a read-only file system, or another user's folder); SQLite writes beside the ledger even to read it"
    )


def _wrap(path: Path, e: sqlite3.Error) -> StoreError:
    if type(e) is sqlite3.DatabaseError:  # "file is not a database", "database disk image is malformed"
        return unreadable(path, e)
    return StoreError(f"{path}: {e}")


class SQLiteStore:
    """The default store: one SQLite file (WAL), every method one committed transaction."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        try:
            if readonly:
                if not path.exists():
                    self.db = sqlite3.connect(":memory:")
                    self.db.executescript(SCHEMA)
                else:
                    self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
                    self.db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # a corrupt file fails here
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                self._migrate()
            self.db.row_factory = sqlite3.Row
        except sqlite3.DatabaseError as e:
            if getattr(e, "sqlite_errorname", "") == "SQLITE_CANTOPEN" and not os.access(path.parent, os.W_OK):
                raise not_writable(path, e) from e  # the ledger may be fine: do not say "restore it"
            raise unreadable(path, e) from e
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"{path}: cannot open the delivery ledger: {e}") from e

    def _migrate(self) -> None:
        self.db.executescript(SCHEMA)
        for table, column, kind in _COLUMNS:
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        self.db.execute(_UNIQUE_KEYS)
        self.db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('ledger_id', ?), ('clock_id', ?), ('generation', '0'), ('schema', ?)",
            (uuid.uuid4().hex, str(secrets.randbelow(1024)), str(LEDGER_SCHEMA)),
        )
        self.db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(LEDGER_SCHEMA),))

    def server_time(self) -> datetime | None:
        """None: a file has no clock of its own; this host's is the ledger's."""
        return None

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        with self._tx():
            yield

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self.db.in_transaction:  # inside atomic(): its transaction holds this write too
            yield self.db
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            raise _wrap(self.path, e) from e

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as e:
            if "no such" in str(e) and self.readonly:
                return []  # a ledger older than this table or column, read before a publish migrates it
            raise _wrap(self.path, e) from e
        except sqlite3.Error as e:
            raise _wrap(self.path, e) from e

    # identity
    def identity(self) -> LedgerIdentity:
        meta = {r["key"]: r["value"] for r in self._query("SELECT key, value FROM meta")}
        counts = self._query(  # whether any row is there, not how many (a count read 200,000 rows: 5 ms)
            "SELECT EXISTS (SELECT 1 FROM targets) OR EXISTS (SELECT 1 FROM posts) OR EXISTS (SELECT 1 FROM deliveries)"
        )
        empty = not counts or counts[0][0] == 0
        return LedgerIdentity(
            meta.get("ledger_id", ""), int(meta.get("clock_id", "0")), int(meta.get("generation", "0")), empty
        )

    def meta(self, key: str) -> str | None:
        """A value kept in the ledger's meta table (None: not there)."""
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        """Keep a value in the meta table (None removes it)."""
        with self._tx() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key=?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def bump_generation(self) -> int:
        with self._tx() as db:
            db.execute("UPDATE meta SET value=CAST(value AS INTEGER) + 1 WHERE key='generation'")
        return self.identity().generation

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
        rows = self._query("SELECT * FROM posts")
        return {
            r["post_id"]: KnownPost(
                r["post_id"],
                r["source"],
                r["url"],
                r["title"],
                r["revision"],
                "",
                bool(r["deleted"]),
                _dt(r["published"]) if "published" in r.keys() else None,  # noqa: SIM118
                _social(r["social"] if "social" in r.keys() else None),  # noqa: SIM118
                _leaving(r["leaving"] if "leaving" in r.keys() else None),  # noqa: SIM118
            )
            for r in rows
        }

    def snapshots(self, post_ids: Iterable[str]) -> dict[str, str]:
        """The remembered JSON Feed item of each post (for post.deleted)."""
        out: dict[str, str] = {}
        for post_id in post_ids:
            for r in self._query("SELECT snapshot FROM posts WHERE post_id=?", (post_id,)):
                out[post_id] = r["snapshot"]
        return out

    def newest_published(self) -> datetime | None:
        """The date of the newest post the ledger has seen live and not retracted."""
        rows = self._query("SELECT published FROM posts WHERE deleted=0 AND published IS NOT NULL")
        dates = [d for d in (_dt(r["published"]) for r in rows) if d is not None]
        return max(dates, default=None)

    def save_posts(self, posts: Iterable[KnownPost]) -> None:
        """Insert or update posts; a post given without a snapshot keeps the one stored."""
        posts = list(posts)
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO posts"
                " (post_id, source, url, title, revision, snapshot, deleted, published, social, leaving)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.post_id,
                        p.source,
                        p.url,
                        p.title,
                        p.revision,
                        p.snapshot,
                        int(p.deleted),
                        _ts(p.published),
                        json.dumps(dict(p.social), sort_keys=True) if p.social else None,
                        _leaving_json(p.leaving),
                    )
                    for p in posts
                    if p.snapshot
                ],
            )
            db.executemany(
                "UPDATE posts SET source=?, url=?, title=?, revision=?, deleted=?,"
                " published=COALESCE(?, published), social=COALESCE(?, social), leaving=? WHERE post_id=?",
                [
                    (
                        p.source,
                        p.url,
                        p.title,
                        p.revision,
                        int(p.deleted),
                        _ts(p.published),
                        json.dumps(dict(p.social), sort_keys=True) if p.social else None,
                        _leaving_json(p.leaving),
                        p.post_id,
                    )
                    for p in posts
                    if not p.snapshot
                ],
            )

    # deliveries
    def deliveries(self) -> list[Delivery]:
        return [_row(r) for r in self._query("SELECT * FROM deliveries ORDER BY created_at, id")]

    def delivery_keys(self, post_ids: Collection[str] | None = None) -> list[Delivery]:
        """Every delivery (or those of these posts) with only what planning reads (ids, keys,
        states): fast on big ledgers. Dates are not loaded (``created_at`` is the epoch); use
        :meth:`deliveries` for them.
        """
        sql = "SELECT id, post_id, target, event, revision, state, attempts FROM deliveries"
        if post_ids is None:
            rows = self._query(sql)
        else:  # the key's index, a few hundred posts a query
            ids, rows = sorted(post_ids), []
            for i in range(0, len(ids), KEYS_AT_ONCE):
                part = ids[i : i + KEYS_AT_ONCE]
                rows += self._query(f"{sql} WHERE post_id IN ({', '.join('?' * len(part))})", part)
        return [Delivery(r[0], r[1], r[2], r[3], r[4], _STATES[r[5]], _EPOCH, r[6]) for r in rows]

    def link_rows(self) -> list[Delivery]:
        """What :func:`syndicate.core.planning.syndication_links` reads: the rows of social posts
        that made something (with its URL) or ended a life (dates not loaded)."""
        sql = (
            "SELECT id, post_id, target, event, revision, state, attempts, remote_url FROM deliveries"
            " WHERE remote_url IS NOT NULL OR event = 'post.deleted'"
            " OR (event = 'post.published' AND state = 'skipped')"
        )
        return [
            Delivery(r[0], r[1], r[2], r[3], r[4], _STATES[r[5]], _EPOCH, r[6], remote_url=r[7])
            for r in self._query(sql)
        ]

    def deliveries_of(self, post_id: str, target: str) -> list[Delivery]:
        """Every delivery of one post to one target, oldest first."""
        sql = "SELECT * FROM deliveries WHERE post_id=? AND target=? ORDER BY created_at, id"
        return [_row(r) for r in self._query(sql, (post_id, target))]

    def open_deliveries(self) -> list[Delivery]:
        """Deliveries not yet settled: pending, sending or failed."""
        sql = "SELECT * FROM deliveries WHERE state IN ('pending', 'sending', 'failed') ORDER BY created_at, id"
        return [_row(r) for r in self._query(sql)]

    def get(self, delivery_id: str) -> Delivery:
        rows = self._query("SELECT * FROM deliveries WHERE id=?", (delivery_id,))
        if not rows:
            raise StoreError(f"no delivery {delivery_id}")
        return _row(rows[0])

    def attempts(self, delivery_id: str) -> list[AttemptRow]:
        rows = self._query("SELECT * FROM attempts WHERE delivery_id=? ORDER BY n", (delivery_id,))
        return [
            AttemptRow(
                r["n"],
                _dt(r["started_at"]) or _EPOCH,
                r["digest"],
                _dt(r["finished_at"]),
                r["outcome"],
                r["detail"],
                (r["text"] if "text" in r.keys() else None) or "",  # noqa: SIM118
            )
            for r in rows
        ]

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

    def set_state(self, ids: Iterable[str], state: DeliveryState, reason: str | None, now: datetime) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE deliveries SET state=?, last_error=COALESCE(?, last_error), updated_at=?,"
                " next_attempt_at=CASE WHEN ?='pending' THEN ? ELSE NULL END WHERE id=?",
                [(state, reason, _ts(now), state, _ts(now), i) for i in ids],
            )

    def _give_key(self, db: sqlite3.Connection, delivery_id: str, target: str, now: datetime) -> None:
        """The next key of this target: after every key it ever had, and not before ``now``."""
        (last,) = db.execute("SELECT MAX(key_seq) FROM deliveries WHERE target=?", (target,)).fetchone()
        seq = max(_micros(now), (last or 0) + 1)
        db.execute("UPDATE deliveries SET key_seq=? WHERE id=?", (seq, delivery_id))

    def mark_sending(
        self, delivery_id: str, now: datetime, digest: str = "", keyed: bool = False, text: str = ""
    ) -> Delivery:
        """Record the intent before the network call: attempts + 1, state ``sending``, what is sent
        (``digest``, and the ``text`` a social post shows), and — for a ``keyed`` delivery that has
        none yet — its unique ``key_seq``."""
        with self._tx() as db:
            row = db.execute("SELECT target, key_seq FROM deliveries WHERE id=?", (delivery_id,)).fetchone()
            if row is None:
                raise StoreError(f"no delivery {delivery_id}")
            target, key_seq = row
            if keyed and key_seq is None:
                self._give_key(db, delivery_id, target, now)
            db.execute(
                "UPDATE deliveries SET state=?, attempts=attempts+1, updated_at=? WHERE id=?",
                (SENDING, _ts(now), delivery_id),
            )
            db.execute(
                "INSERT INTO attempts (delivery_id, n, started_at, digest, text) VALUES"
                " (?, (SELECT COALESCE(MAX(n), 0) + 1 FROM attempts WHERE delivery_id=?), ?, ?, ?)",
                (delivery_id, delivery_id, _ts(now), digest, text or None),
            )
        return self.get(delivery_id)

    def new_key(self, delivery_id: str, now: datetime) -> Delivery:
        """Give a delivery a fresh key (its old one turned out to be taken by something that is not ours)."""
        delivery = self.get(delivery_id)
        with self._tx() as db:
            self._give_key(db, delivery_id, delivery.target, now)
        return self.get(delivery_id)

    def _finish(
        self, db: sqlite3.Connection, delivery_id: str, outcome: str, detail: str | None, now: datetime
    ) -> None:
        db.execute(
            "UPDATE attempts SET finished_at=?, outcome=?, detail=? WHERE delivery_id=? AND n="
            "(SELECT MAX(n) FROM attempts WHERE delivery_id=?)",
            (_ts(now), outcome, detail, delivery_id, delivery_id),
        )

    def mark_sent(self, delivery_id: str, remote_id: str | None, remote_url: str | None, now: datetime) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET state=?, remote_id=?, remote_url=?, next_attempt_at=NULL, updated_at=?,"
                " last_error=NULL WHERE id=?",
                (SENT, remote_id, remote_url, _ts(now), delivery_id),
            )
            self._finish(db, delivery_id, SENT, remote_url or remote_id, now)

    def mark_failed(
        self,
        delivery_id: str,
        state: DeliveryState,
        next_at: datetime | None,
        error: str,
        now: datetime,
        unknown: bool = False,
    ) -> None:
        """The attempt failed (``unknown``: it got no answer, so it may still have been carried out)."""
        assert state in (FAILED, DEAD, PENDING, HELD)
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET state=?, next_attempt_at=?, last_error=?, updated_at=? WHERE id=?",
                (state, _ts(next_at), error, _ts(now), delivery_id),
            )
            self._finish(db, delivery_id, "unknown" if unknown else state, error, now)

    def tally(self, now: datetime, late_before: datetime) -> list[Tally]:
        """Per target and state: how many, the oldest due and how many are late (core/lanes.py)."""
        moments = (now.isoformat(), now.isoformat(), late_before.isoformat())  # ISO text sorts as time does
        rows = self._query(tally_sql("?", "1"), moments)
        return [Tally(r[0], r[1], int(r[2]), _dt(r[3]), int(r[4] or 0)) for r in rows]

    def requeue(self, target: str | None, post: str | None, now: datetime) -> int:
        """Make failed and dead deliveries (matching the filters) due now; dead ones start their attempts
        again; held ones (an outcome lost on a blind target) only when a post is named, as the
        user's word for that post. Targets that were disabled are enabled again. Returns how many
        were queued."""
        states = [str(FAILED), str(DEAD)] + ([str(HELD)] if post else [])
        where, args = f"state IN ({', '.join('?' * len(states))})", states
        if target:
            where += " AND target=?"
            args.append(target)
        if post:
            where += " AND post_id=?"
            args.append(post)
        with self._tx() as db:
            count = db.execute(
                "UPDATE deliveries SET attempts=CASE WHEN state=? THEN 0 ELSE attempts END, state=?,"
                f" next_attempt_at=?, updated_at=? WHERE {where}",
                [DEAD, PENDING, _ts(now), _ts(now), *args],
            ).rowcount
            if target:
                db.execute("UPDATE targets SET disabled_reason=NULL WHERE name=?", (target,))
            else:
                db.execute("UPDATE targets SET disabled_reason=NULL")
        return int(count)

    # throttles: origins that answered 429 (this site's only: the file is this site's)
    def throttle(self, origin: str, seconds: float, now: datetime) -> datetime:
        """Deliveries to ``origin`` wait until ``now`` + ``seconds`` (or a later time already kept);
        returns until when. Throttles over for a day are forgotten."""
        until = now + timedelta(seconds=max(0.0, seconds))
        with self._tx() as db:
            rows = db.execute("SELECT origin, until, told_at FROM throttles").fetchall()
            earlier = _waits(rows, now).get(origin)
            until = max(until, earlier) if earlier is not None else until
            db.execute(
                "INSERT OR REPLACE INTO throttles (origin, until, told_at) VALUES (?, ?, ?)",
                (origin, _ts(until), _ts(now)),
            )
            db.executemany(
                "DELETE FROM throttles WHERE origin=?",
                [(r[0],) for r in rows if (_dt(r[1]) or now) < now - FORGET_THROTTLES],
            )
        return until

    def throttles(self, now: datetime) -> dict[str, datetime]:
        """Origin → until when its deliveries wait, for the throttles not over at ``now``. One told
        at a time after ``now`` was told by a clock that was ahead: over (as ``planning.due_at``
        judges a failure recorded then), so a clock stepped back never makes deliveries wait longer."""
        return _waits(self._query("SELECT origin, until, told_at FROM throttles"), now)

    def lift(self, origins: Iterable[str]) -> None:
        """Forget these origins' throttles (`syndicate retry`: the user's word to try now)."""
        with self._tx() as db:
            db.executemany("DELETE FROM throttles WHERE origin=?", [(o,) for o in origins])

    # Bluesky sessions, sealed by deliver/sessions.py
    def session(self, service: str, handle: str) -> tuple[bytes, datetime] | None:
        """The sealed session kept for this account and when its access token expires."""
        rows = self._query("SELECT sealed, expires FROM sessions WHERE service=? AND handle=?", (service, handle))
        expires = _dt(rows[0][1]) if rows else None
        return (bytes(rows[0][0]), expires) if rows and expires is not None else None

    def save_session(self, service: str, handle: str, sealed: bytes, expires: datetime) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO sessions (service, handle, sealed, expires) VALUES (?, ?, ?, ?)",
                (service, handle, sealed, _ts(expires)),
            )


FORGET_THROTTLES = timedelta(days=1)


def _waits(rows: Iterable[Sequence[str]], now: datetime) -> dict[str, datetime]:
    """The throttles of these rows (origin, until, told_at) not over at ``now``."""
    out = {}
    for origin, until_text, told_text in rows:
        until, told = _dt(until_text), _dt(told_text)
        if until is not None and until > now and (told is None or told <= now + CLOCK_SLACK):
            out[origin] = until
    return out


def remembered(known: dict[str, KnownPost], posts: Iterable[KnownPost]) -> None:
    """Bring ``known`` (what :meth:`SQLiteStore.known_posts` returned) to what it would return after
    :meth:`SQLiteStore.save_posts` of ``posts``: the same statements, applied in memory (the
    values go through the same text forms, so they compare and print the same)."""
    for p in posts:
        social = json.dumps(dict(p.social), sort_keys=True) if p.social else None
        old = known.get(p.post_id)
        if p.snapshot:  # INSERT OR REPLACE: every column anew
            published, kept_social = _ts(p.published), social
        elif old is not None:  # UPDATE: the date and the digests kept when none is given
            published = _ts(p.published) or _ts(old.published)
            kept_social = social or (json.dumps(dict(old.social), sort_keys=True) if old.social else None)
        else:
            continue  # an UPDATE of a row that is not there
        known[p.post_id] = KnownPost(
            p.post_id,
            p.source,
            p.url,
            p.title,
            p.revision,
            "",
            bool(p.deleted),
            _dt(published),
            _social(kept_social),
            _leaving(_leaving_json(p.leaving)),
        )
