"""The delivery ledger's contract: the ``Store`` protocol that publish uses, its rows, and the lock;
:mod:`syndicate.deliver.sqlite_store` (a file beside the site, the default) and
:mod:`syndicate.deliver.postgres_store` (``[store] url``: many sites in one database) implement it,
and ``tests/test_store_contract.py`` holds both to it.

Contract (any implementation):
- every datetime in and out is timezone-aware UTC;
- a method returns only after its change is durable (committed), so the caller can rely
  on the order *intent recorded → network call → outcome recorded*;
- methods raise :class:`StoreError` (a ``SyndicateError``) and nothing else;
- the store holds no policy: :mod:`syndicate.core.planning` decides, the store saves. It does
  enforce one invariant itself: a delivery's ``key_seq`` (what a Bluesky record key is made
  from) is unique per target, given out in increasing order and never reused, so two
  deliveries can never share a remote key, however many are planned in one run;
- every attempt is kept with what was sent (a digest) and how it ended, so reconciliation
  can tell a remote object made by *this* delivery from any other;
- a *throttle* (an origin, ``scheme://host[:port]``, that answered 429, and until when) is
  kept for every site the store holds (PostgreSQL: every site in the database, on every host;
  its times by the database's clock), and only raised, never shortened, by a later one.

Nothing secret is ever stored: rows hold ids, states, URLs, digests and error messages that
were already redacted by the caller, and a Bluesky session only sealed (encrypted by the caller,
:mod:`syndicate.deliver.sessions`), keyed by its PDS and handle, for every site the store holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ..core.lanes import Tally
from ..core.planning import Delivery, DeliveryState, KnownPost
from ..errors import LockedError, StoreError

__all__ = ["AttemptRow", "LedgerIdentity", "LockedError", "Store", "StoreError", "lock"]


# The aggregate both stores make for `status --store` and /metrics (core/lanes.py): per target and
# state, how many; of the open ones due by ``now``, the earliest due time and how many were due
# before the cutoff ("late"). A pending or sending delivery is due at once (core.planning.due_at).
# One query, one pass over the site's rows; its parameters are (now, now, late_before), then the site's.
def tally_sql(p: str, where: str, site: str = "") -> str:
    """The aggregate in a store's parameter style (``p``), over the rows ``where`` picks,
    ``site`` the column to group by too (the query over every site of a database)."""
    due = f"(state IN ('pending', 'sending') OR (state = 'failed' AND COALESCE(next_attempt_at, created_at) <= {p}))"
    return (
        f"SELECT {site + ', ' if site else ''}target, state, COUNT(*),"
        f" MIN(CASE WHEN {due} THEN COALESCE(next_attempt_at, created_at) END),"
        f" SUM(CASE WHEN {due} AND COALESCE(next_attempt_at, created_at) <= {p} THEN 1 ELSE 0 END)"
        f" FROM deliveries WHERE {where} GROUP BY {site + ', ' if site else ''}target, state"
    )


# The column forms both stores share (a state's text, the JSON of a post's digests and leaving marks).
_STATES = {state.value: state for state in DeliveryState}  # a dict lookup per row, not an enum call
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _social(value: str | None) -> tuple[tuple[str, str], ...]:
    try:
        got = json.loads(value) if value else {}
    except ValueError:
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in got.items())) if isinstance(got, dict) else ()


def _leaving(value: str | None) -> tuple[tuple[str, datetime], ...]:
    try:
        got = json.loads(value) if value else {}
    except ValueError:
        return ()
    if not isinstance(got, dict):
        return ()
    out = []
    for key, when in got.items():
        try:
            at = datetime.fromisoformat(str(when))
        except ValueError:
            continue
        out.append((str(key), at if at.tzinfo else at.replace(tzinfo=UTC)))
    return tuple(sorted(out))


def _leaving_json(marks: tuple[tuple[str, datetime], ...]) -> str | None:
    return json.dumps({key: when.isoformat() for key, when in marks}, sort_keys=True) if marks else None


def _micros(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


@dataclass(frozen=True)
class AttemptRow:
    """One attempt of one delivery, as the ledger keeps it."""

    n: int  # 1 for the first attempt
    started_at: datetime
    digest: str  # what was sent (the channel's digest of its request); "" when nothing was composed
    finished_at: datetime | None = None  # None: the outcome was never learned (killed mid-request)
    outcome: str | None = None  # sent | failed | dead | unknown (no answer: it may have been carried out)
    detail: str | None = None
    text: str = ""  # what a social attempt showed (its status or post text); "" for the others


@dataclass(frozen=True)
class LedgerIdentity:
    """Which ledger this is: its id never changes; ``generation`` grows with every run that changed it."""

    id: str
    clock_id: int  # 0..1023, for the record keys this ledger makes
    generation: int
    empty: bool  # no target, post or delivery recorded yet


class Store(Protocol):
    """The ledger, as :mod:`syndicate.deliver.publish` uses it (see the module docstring for the contract)."""

    def identity(self) -> LedgerIdentity: ...
    def bump_generation(self) -> int: ...
    def meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str | None) -> None: ...
    def known_targets(self) -> dict[str, str | None]: ...
    def add_targets(self, names: Iterable[str], now: datetime) -> None: ...
    def disable_target(self, name: str, reason: str) -> None: ...
    def enable_target(self, name: str) -> None: ...
    def known_posts(self) -> dict[str, KnownPost]: ...
    def snapshots(self, post_ids: Iterable[str]) -> dict[str, str]: ...
    def newest_published(self) -> datetime | None: ...
    def save_posts(self, posts: Iterable[KnownPost]) -> None: ...
    def deliveries(self) -> list[Delivery]: ...
    def delivery_keys(self, post_ids: Collection[str] | None = None) -> list[Delivery]: ...
    def deliveries_of(self, post_id: str, target: str) -> list[Delivery]: ...
    def link_rows(self) -> list[Delivery]: ...
    def open_deliveries(self) -> list[Delivery]: ...
    def get(self, delivery_id: str) -> Delivery: ...
    def attempts(self, delivery_id: str) -> list[AttemptRow]: ...
    def add_deliveries(self, rows: Iterable[Delivery]) -> None: ...
    def atomic(self) -> contextlib.AbstractContextManager[None]:
        """The writes made inside it are one transaction: all of them or none (a run killed, or
        refused by the fencing token, half-way through leaves none)."""
        ...

    def set_state(self, ids: Iterable[str], state: DeliveryState, reason: str | None, now: datetime) -> None: ...
    def mark_sending(
        self, delivery_id: str, now: datetime, digest: str = "", keyed: bool = False, text: str = ""
    ) -> Delivery: ...
    def new_key(self, delivery_id: str, now: datetime) -> Delivery: ...
    def mark_sent(self, delivery_id: str, remote_id: str | None, remote_url: str | None, now: datetime) -> None: ...
    def mark_failed(
        self,
        delivery_id: str,
        state: DeliveryState,
        next_at: datetime | None,
        error: str,
        now: datetime,
        unknown: bool = False,
    ) -> None: ...
    def requeue(self, target: str | None, post: str | None, now: datetime) -> int: ...
    def tally(self, now: datetime, late_before: datetime) -> list[Tally]: ...
    def throttle(self, origin: str, seconds: float, now: datetime) -> datetime: ...
    def throttles(self, now: datetime) -> dict[str, datetime]: ...
    def lift(self, origins: Iterable[str]) -> None: ...
    def session(self, service: str, handle: str) -> tuple[bytes, datetime] | None: ...
    def save_session(self, service: str, handle: str, sealed: bytes, expires: datetime) -> None: ...
    def server_time(self) -> datetime | None: ...
    def close(self) -> None: ...


@contextlib.contextmanager
def lock(ledger: Path) -> Iterator[None]:
    """Hold an exclusive lock on the site's ledger, or raise LockedError at once.

    Two processes delivering for one site could both send a post. The lock is an OS lock
    (``flock``) on the ledger file itself, so it cannot be stolen by deleting a lock file:
    whoever deletes the ledger to get past it meets a missing ledger, which `publish`
    refuses when the site has published before. After locking, the file that is locked
    must still be the one at the path (it may have been replaced in between); otherwise
    the lock is taken again. The OS drops the lock when the holder exits, even by SIGKILL,
    so a crash never leaves a stale lock. The holder's pid is written next to the ledger
    (``<ledger>.pid``), for the message only.
    """
    ledger.parent.mkdir(parents=True, exist_ok=True)
    pid_file = ledger.with_name(ledger.name + ".pid")
    for _ in range(10):
        try:
            fd = os.open(ledger, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(f"{ledger}: cannot open the delivery ledger: {e.strerror or e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                holder = pid_file.read_text(errors="replace").strip() or "another process"
            except OSError:
                holder = "another process"
            raise LockedError(
                f"another syndicate (pid {holder}) is delivering for this site; wait for it to finish, or stop it first"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(ledger).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # replaced between open and lock: lock the file that is there now
    else:
        raise LockedError(f"{ledger} keeps being replaced; is another program writing it?")
    try:
        with contextlib.suppress(OSError):
            pid_file.write_text(str(os.getpid()))
        yield
    finally:
        os.close(fd)
