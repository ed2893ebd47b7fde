"""`syndicate run` on a PostgreSQL store: the site is held by a lease (see
:class:`syndicate.deliver.postgres_store.Lease`), kept by a thread of its own.

The holder renews it every third of its length; a standby looks as often and takes it once it
has expired (or was let go by a clean stop), which raises the fencing token. A holder that could
not renew in time stops delivering at once (:meth:`LeaseKeeper.delivering` turns false by its
own clock, whatever the database says) and goes on building and serving its feeds as a standby;
one that finds the lease taken (it was paused, or cut off from the database) says so and stands
by: every write it would still try is refused by the token check.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..deliver.postgres_store import Holder, Lease
from ..errors import StoreError
from .log import EventLog

# Between renewals, how often the keeper reads the site's nudges (and, holding delivery, its
# token): a `retry` beside the holder is sent within seconds, as the file's mtimes make it on
# SQLite (the daemon's self-check, every 2 s), not within a third of the lease (10 s by default).
GLANCE = 2.0  # seconds


class LeaseKeeper:
    """Takes, renews and lets go of the lease; says each change once in the log; what /healthz shows."""

    def __init__(self, lease: Lease, log: EventLog, on_taken: Callable[[], None]) -> None:
        self.lease = lease
        self.log = log
        self.on_taken = on_taken  # called (from the keeper's thread) when this process took the lease
        self.holder: Holder | None = None  # as last read
        self._trouble: str | None = None  # the database error said last (said once)
        self._stood_by = False  # "standby" said since the last change
        self._stopped_delivering = False  # "stopped delivering" said since the last take
        self.took_over = False  # the last take was from another holder (this process stood by before it)
        self.changed = threading.Event()  # another process wrote the ledger (`retry`): read it again
        self._paused = False  # delivery is held (a lost ledger): the lease is let go and not taken
        self._writes: tuple[int, int] | None = None  # while paused: the site's token and nudges, as last read
        self._stop = threading.Event()
        self._mx = threading.Lock()  # one look at a time: the thread's, or the daemon's first
        self._thread: threading.Thread | None = None

    def delivering(self) -> bool:
        """Whether this process may deliver now: it holds the lease and renewed it in time."""
        return self.lease.valid()

    @property
    def token(self) -> int | None:
        return self.lease.token if self.lease.valid() else None

    def look(self) -> None:
        """Renew the lease (holder) or try to take it (standby); say what changed."""
        with self._mx:
            self._look()

    def pause(self, paused: bool) -> None:
        """Hold delivery (a lost ledger: let go of the lease, so that `publish --rebaseline` can run,
        and take it no more), or go on (take it at the next look, which is now)."""
        with self._mx:
            if paused == self._paused:
                return
            self._paused = paused
            if paused:
                self.lease.release()
                self._writes = self._read_writes()
        if not paused and self._thread is not None:
            self.look()

    def _read_writes(self) -> tuple[int, int] | None:
        try:
            return self.lease.writes()
        except StoreError:
            return None  # the database does not answer: the daemon's own check of the ledger says so

    def glance(self) -> None:
        """Between renewals: has another process written the ledger (`retry`: sites.nudges)? One
        read of the site's row; a database that does not answer is the next renewal's to say."""
        with self._mx:
            if self._paused:
                self._look_paused()
                return
            if not self.lease.valid():
                return  # a standby: the ledger is not its to deliver from
            writes = self._read_writes()
            if writes is not None and writes[1] != self.lease.nudges:
                self.lease.nudges = writes[1]
                self.changed.set()

    def _look_paused(self) -> None:
        """Delivery held: the way on (`publish --rebaseline` or `--backfill`, which take the site's
        lock; `retry`), or the database answering again, asks the daemon to look at the ledger
        again (`changed`), as the file's mtimes do on SQLite."""
        writes = self._read_writes()
        if writes is not None and writes != self._writes:
            self.changed.set()
        self._writes = writes

    def _look(self) -> None:
        lease = self.lease
        if self._paused:
            self._look_paused()
            return
        held = lease.token is not None
        nudges = lease.nudges
        try:
            holder = lease.renew() if held else lease.take()
        except StoreError as e:
            if str(e) != self._trouble:
                self._trouble = str(e)
                left = " (it is still this process's for a few seconds)" if lease.valid() else ""
                self.log.event("lease", f"cannot reach the lease: {e}; trying again every {lease.ttl / 3:.0f} s{left}")
            self._note_expired()
            return
        if self._trouble is not None:
            self._trouble = None
            self.log.event("lease", "the database answers again")
        if holder is None:  # this process holds the site
            if held and lease.nudges != nudges:
                self.changed.set()
            if held and self._stopped_delivering:  # renewed after this process's own deadline, before the database's
                self._stopped_delivering = False
                self.log.event("lease", "renewed this site's lease before anyone took it: delivering again")
            self.holder = Holder(os.getpid(), lease.name, lease.expires, True)
            if not held:
                self.took_over = self._stood_by
                self._stood_by = self._stopped_delivering = False
                self.log.event(
                    "lease",
                    f"took this site's lease (fencing token {lease.token}; it lasts {lease.ttl:g} s, renewed every"
                    f" {lease.ttl / 3:.0f} s by the database's clock): delivering",
                )
                self.on_taken()
            return
        self.holder = holder
        if held:
            why = f"{holder} took it" if holder.pid and holder.expires else "it expired before this process renewed it"
            self.log.event(
                "lease",
                f"lost this site's lease: {why} (this process was paused, or cut off from the database, for longer"
                " than the lease); it records and sends nothing more, builds and serves the feeds, and stands by",
            )
            self._stood_by = True
            return
        if not self._stood_by:
            self._stood_by = True
            until = f" until {holder.expires:%Y-%m-%d %H:%M:%S} UTC (database time)" if holder.expires else ""
            self.log.event(
                "standby",
                f"another syndicate ({holder}) holds this site{until}: this one builds and serves the feeds, delivers"
                f" nothing, and takes over when that lease expires (looking every {lease.ttl / 3:.0f} s)",
            )

    def _note_expired(self) -> None:
        if self.lease.token is not None and not self.lease.valid() and not self._stopped_delivering:
            self._stopped_delivering = True
            self.log.event(
                "lease",
                "could not renew this site's lease before it expired: delivering stopped (the feeds are still built"
                " and served); delivery resumes once the lease is taken again",
            )

    def start(self) -> None:
        """Look now (the daemon's first cycle knows whether it delivers), then every third of the lease."""
        self.look()
        self._thread = threading.Thread(target=self._loop, name="lease", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        every = self.lease.ttl / 3
        due = time.monotonic() + every
        while not self._stop.wait(min(GLANCE, max(0.0, due - time.monotonic()))):
            try:
                if time.monotonic() >= due:
                    due = time.monotonic() + every
                    self.look()
                else:
                    self.glance()
            except Exception as e:  # a bug must not end the keeping silently: the lease then expires
                self.log.event("error", f"the lease keeper failed: {type(e).__name__}: {e}")

    def lost(self) -> None:
        """A write was refused by the token check: look now (says it lost the lease)."""
        self.look()

    def stop(self) -> None:
        """A clean stop: let go of the lease at once (a standby takes it at its next look)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._mx:
            self.lease.release()

    def health(self) -> dict[str, Any]:
        """The lease on /healthz: this process's role, the holder, and when its lease expires."""
        holder = self.holder
        role = "holder" if self.lease.valid() else "standby"
        out: dict[str, Any] = {"role": role, "ttl": self.lease.ttl}
        if holder is not None and holder.pid:
            out["holder"] = str(holder)
            if holder.expires is not None:
                out["expires"] = holder.expires.isoformat(timespec="seconds")
        if self._trouble:
            out["problem"] = self._trouble
        return out
