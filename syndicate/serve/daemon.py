"""`syndicate run`: watch the site, build and deliver on change and on time, serve the feeds.

Threads:

- the *worker* runs one cycle at a time (the same build and delivery as `publish`); any
  request to run sets an event, so a save during a cycle causes exactly one more cycle and
  no trigger is ever lost;
- watchdog (inotify, or polling where a file system gives no events) reports the paths
  that changed; a file closed after writing starts a cycle 1 ms later, one renamed into place or
  deleted 5 ms later, other events after a short quiet period (debounce); bursts make one request;
- APScheduler wakes the worker at each scheduled post's date and at the ledger's next
  retry time; after a restart both are rebuilt from content and ledger by the first cycle;
- the HTTP server serves the output folder (see :mod:`syndicate.serve.server`); with a bucket
  (``--out s3://…`` or ``[output] url``) that is the staging folder each cycle uploads from (as
  `publish` does: :mod:`syndicate.builder.bucket`), served as the author's preview;
- the main thread starts the server at once when the output folder holds a build of ours
  (the first cycle then catches up in the worker, /healthz saying "starting"); on a folder
  with nothing of ours it runs the first cycle before any other thread exists (so a big
  site's first build may fork its workers) and serves after. Then it waits for SIGTERM/SIGINT
  (finish the delivery in flight, exit 0) and SIGHUP (reload the config: the next cycle reads
  it; a bad one is logged and the last good state keeps serving).

The site's lock is held for the daemon's whole life, so a second daemon or a `publish`
on the same site is refused with a clear message. With a PostgreSQL store (``[store]``) the
site is held by a lease instead (serve/lease.py, a thread of its own): a second daemon there
stands by (it builds and serves its feeds, delivers nothing) and takes over once the lease has
expired; a `publish` is refused.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from ..builder.bucket import check_ready
from ..builder.cache import PostCache
from ..builder.discover import ContentWatch
from ..builder.owned import RECORD
from ..builder.report import STATE_DIR, refused_line
from ..builder.skip import IncrementalRender
from ..config import CONFIG_PATH, load_settings, stand_ins
from ..core.dialects import Dialect, dialect, prune_folder
from ..core.feeds import IncrementalPlan
from ..core.model import Problem, Settings, printable
from ..core.planning import DEAD, FAILED, HELD, SENT
from ..core.uploads import Bucket
from ..deliver import ledger
from ..deliver.postgres_store import Lease, LeaseLine
from ..deliver.publish import Kept, LedgerMemo, PublishReport, Request, World, publish
from ..deliver.registry import preload
from ..deliver.retractions import held_line, retraction
from ..deliver.secrets import Secrets
from ..deliver.store import LedgerIdentity, lock
from ..errors import (
    BucketError,
    ConfigError,
    LedgerLostError,
    LockedError,
    OutputError,
    StoreError,
    SyndicateError,
)
from ..site import Site
from .lease import LeaseKeeper
from .log import EventLog
from .metrics import Exposition, LedgerTally, SiteMetrics
from .server import FeedServer, ServerState, make_server
from .slots import TURN, Slots

RETRY_FLOOR = timedelta(seconds=60)  # a retry that is due but cannot run is not hammered
SAFETY_NET = timedelta(minutes=10)  # a full cycle even if no event came (lost inotify events)
SELF_CHECK = 2.0  # seconds between looks at the disk: output files, watched folders, the ledger
FAILED_CYCLE_RETRY = (2.0, 60.0)  # after a failed cycle, the next is tried after 2 s, doubling up to 60 s
STALE_AFTER = 120.0  # seconds a cycle may run before /healthz calls the daemon stale
QUIET = 2.0  # seconds without a cycle before the last one's manifest is made (a save's cycle does not wait for it)
UPLOAD_RETRY = "nothing was sent; tried again after 2 s, doubling up to a minute"  # after an upload that failed
CATCHING_UP = "catching up: the feeds on disk are served as the last run left them while the first build runs"


# A file closed after writing, or renamed into place, is complete: act at once, after a few ms to
# gather the other events of the same save, or of the same burst: files that go together (a branch
# switched, `rm`) must reach the retraction guard in one cycle. A file closed after writing is a
# save: 1 ms (5 ms was a quarter of a save's 20 ms budget at 10,000 posts; an event after it makes
# one more cycle). Other events wait for quiet (debounce).
COMPLETE = ("closed", "moved", "deleted")
GATHER = 0.005
SAVED = 0.001
FULL_SCAN = ("start", "watching", "periodic", "config reloaded")  # causes that look at every post file again


class _Changes(FileSystemEventHandler):
    def __init__(
        self,
        watch: ContentWatch,
        on_change: Callable[[str], None],
        roots: set[str] | None = None,
        on_root_gone: Callable[[], None] = lambda: None,
        ignored: Callable[[str], bool] = lambda path: False,
        shallow: set[str] | None = None,
    ) -> None:
        self.watch = watch
        self.on_change = on_change
        self.roots = roots or set()
        self.on_root_gone = on_root_gone
        self.ignored = ignored  # in a folder that never holds posts (node_modules, _site): no cycle
        self.shallow = shallow or set()  # roots watched without their sub-folders (each watched apart)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type in ("deleted", "moved") and str(event.src_path) in self.roots:
            self.on_root_gone()  # a watch on a folder that is gone sees nothing again, even a new one there
            return
        if self.ignored(str(event.src_path)) and (event.event_type != "moved" or self.ignored(str(event.dest_path))):
            return
        if event.is_directory and event.event_type in ("created", "moved"):
            made = str(event.dest_path if event.event_type == "moved" else event.src_path)
            if made.rsplit("/", 1)[0] in self.shallow and not self.ignored(made + "/-"):
                self.on_root_gone()  # a new top-level folder of a shallow root: watch it too
        if event.is_directory and event.event_type == "modified":
            return  # a folder's entries changed: the events of the files themselves say which
        paths = [str(event.src_path)]
        if event.event_type == "moved":
            paths.append(str(event.dest_path))
        for path in paths:
            self.watch.note(path, event.is_directory)
        names = [p.rsplit("/", 1)[-1] for p in paths]
        if all(n.startswith(".") or n.endswith(("~", ".swp", ".tmp")) for n in names):
            return  # editor temp files and our own atomic-write temporaries (noted, but no cycle)
        self.on_change(event.event_type)


def _watch_plan(content: Path, settings: Settings) -> list[tuple[Path, bool]]:
    """What to watch of the content folder: all of it, or (when it holds folders that never
    hold posts: a Jekyll or Eleventy site is its own content folder, with node_modules and
    _site in it) the folder itself and each other sub-folder whole, so that no watch is spent on
    packages or the generator's output."""
    d = dialect(settings.content.generator)
    try:
        folders = [e for e in os.scandir(content) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return [(content, True)]
    kept = [Path(e.path) for e in folders if not prune_folder(d, e.name, True)]
    if len(kept) == len(folders):
        return [(content, True)]
    return [(content, False), *((sub, True) for sub in sorted(kept))]


def _ignored(content: str, d: Dialect, path: str) -> bool:
    """Is this path in a folder of the content folder that never holds posts?"""
    if not path.startswith(content + "/"):
        return False
    parts = path[len(content) + 1 :].split("/")[:-1]
    return any(prune_folder(d, part, i == 0) for i, part in enumerate(parts))


class Daemon:
    """`syndicate run`: one process that builds on every change, serves the output folder,
    publishes scheduled posts when they come due and retries what failed, holding the ledger
    lock all along. ``run()`` returns on SIGTERM/SIGINT after the delivery in flight."""

    def __init__(
        self,
        site: Site,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        log: EventLog,
        poll: bool = False,
        debounce: float = 0.1,
        access_log: bool = False,
        secrets: Secrets | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        scheduler: BackgroundScheduler | None = None,
        slots: Slots | None = None,
        holder: str = "",
        lease_line: Callable[[str, str | None], LeaseLine] | None = None,
    ) -> None:
        # its folder, and where its build goes: the folder it started with, whatever a reload says (site.py)
        self.site = replace(site, out_arg=site.out)
        self.site_dir = site.dir
        self.host = host
        self.port = port
        self.log = log
        self.out_dir = site.out
        self.bucket: Bucket | None = site.bucket  # where each cycle uploads the output folder (builder/bucket.py)
        self.poll = poll
        self.debounce = debounce
        self.access_log = access_log
        self.preview = (
            site.preview
        )  # `run --preview`: feeds on the local address, in a folder of their own; nothing delivered
        self.secrets = secrets or Secrets()
        self.clock = clock
        self.stop = threading.Event()
        self._wake = threading.Event()
        self._reasons: set[str] = set()
        self._mx = threading.Lock()
        self._due: float | None = None  # monotonic time the file events noted so far make a cycle
        self.memo = IncrementalRender()
        self.watch = ContentWatch()
        self.planner = IncrementalPlan()
        self.cache = PostCache(site.dir / STATE_DIR / "cache.db")
        self._ledger_memo = LedgerMemo()  # what publish keeps of the ledger this process holds
        self._later: list[Callable[[], None]] = []  # the last cycle's manifest, made once the daemon is quiet
        self._quiet_since = 0.0  # monotonic time the last cycle ended
        self._problems: set[Problem] = set()
        self._setup_errors: set[str] = set()
        self._refused: set[str] = set()  # output files left alone (not syndicate's), said once each
        self._refused_keys: set[str] = set()  # objects in the bucket left alone (not syndicate's), said once each
        self._config_broken = False  # the last cycle stopped at a config that does not read
        self.health: dict[str, Any] = {"status": "starting"}
        # `host` shares one scheduler and a few cycle slots among its sites; each site's jobs carry its name
        self._own_scheduler = scheduler is None
        self.scheduler = scheduler if scheduler is not None else BackgroundScheduler(timezone=UTC)
        self._jobs = f"{site.name}:" if site.name else ""
        self._slots = slots
        self._yielded = False  # the last cycle gave its slot up with deliveries left (`host`)
        self._holder = holder  # how the lease names this process's machine ("": its host name)
        self._lease_line = lease_line  # `host`: the connection its sites' leases share, per database
        self._at_exit = contextlib.ExitStack()  # what start() took, let go by close()
        self._busy = threading.Lock()  # held by a cycle; the self-check looks only between cycles
        self._busy_since: float | None = None
        self._failures = 0  # cycles in a row that failed
        self._cycles = 0  # cycles that finished, since the start (on /healthz)
        self._retry_at = 0.0  # monotonic time of the next try after a failed cycle
        self._ledger_path: Path | None = None
        self._ledger_id: tuple[int, int] | None = None  # (device, inode) of the ledger this daemon locked
        self._ledger_lock = contextlib.ExitStack()  # holds the ledger's lock while the daemon delivers
        self._held: str | None = None  # why delivery is held (a lost ledger); the feeds are still built and served
        self._stand_ins: list[str] = []  # config values init could not find: delivery waits for them too
        self._ledger_seen: tuple[int, int] | None = None  # the ledger's mtimes after our last cycle
        self._watched: list[tuple[Path, tuple[int, int] | None]] = []
        self._observer: BaseObserver | None = None
        self._rewatch = False  # SIGHUP: watch the folders anew
        self._leaving: set[tuple[str, str]] = set()  # retractions waiting out their window, said once each
        self._guarded: set[tuple[str, str]] = set()  # retractions the guard holds, said once
        self._place: ledger.Place | None = None  # where the ledger this daemon started with is
        self._keeper: LeaseKeeper | None = None  # the lease on a [store] (serve/lease.py); None: the SQLite lock
        self._moved = False  # the config names another ledger since the start: said once, nothing delivered
        self._took_over = threading.Event()  # set by the lease keeper: the next cycle forgets what it kept
        self._clock_off = False  # on a [store]: this machine's clock is off from the database's, as said (publish)
        self.metrics = SiteMetrics("")  # what /metrics says of this site (serve/metrics.py), made for it in run()

    @property
    def kept(self) -> Kept:
        """What this process keeps between its cycles (it holds the ledger lock all along)."""
        return Kept(
            self.cache,
            self.memo,
            self.watch,
            self.planner,
            holds_lock=True,
            ledger=self._ledger_memo,
            later=self._later,
            token=self._keeper.token if self._keeper is not None else None,
            clock_off=self._clock_off,
        )

    @property
    def world(self) -> World:
        return World(
            self.clock,
            wall=self.clock,
            secrets=self.secrets,
            should_stop=self._stop_delivering,
            should_yield=self._yield,
        )

    def _yield(self) -> bool:
        """`host`: this cycle has had its turn (it delivered for TURN seconds) and other sites wait for a
        slot: it stops after the delivery in flight and takes its place at the back of the line."""
        started = self._busy_since
        if self._slots is None or started is None or time.monotonic() - started < TURN or not self._slots.waiting():
            return False
        self._yielded = True
        return True

    def _stop_delivering(self) -> bool:
        """Asked to stop, or (on a [store]) the lease was not renewed in time: no more sends."""
        return self.stop.is_set() or (self._keeper is not None and not self._keeper.delivering())

    # -- triggers -------------------------------------------------------------------------

    def request(self, reason: str) -> None:
        if reason in FULL_SCAN:
            self.watch.rescan_all()
        with self._mx:
            self._reasons.add(reason)
        self._wake.set()

    def _changed(self, kind: str) -> None:
        """A file event: a cycle once no other event came for a while (the last event's wait);
        the worker waits it out itself (a timer thread per event cost a save ~1 ms and a thread hop)."""
        wait = min(SAVED if kind == "closed" else GATHER, self.debounce) if kind in COMPLETE else self.debounce
        with self._mx:
            self._due = time.monotonic() + wait
        self._wake.set()

    def _gathered(self) -> None:
        """Wait until the file events noted so far are due (a later event moves the time), then make
        them a reason; a stop ends the wait at once."""
        while not self.stop.is_set():
            with self._mx:
                due = self._due
                if due is None:
                    return
                left = due - time.monotonic()
                if left <= 0:
                    self._due = None
                    self._reasons.add("file changed")
                    return
            self._wake.wait(left)
            self._wake.clear()

    # -- the worker -----------------------------------------------------------------------

    def _worker(self) -> None:
        while not self.stop.is_set():
            if not self._wake.wait(timeout=0.5):
                if self._later and time.monotonic() - self._quiet_since >= QUIET:
                    self._idle_work()
                continue
            self._wake.clear()
            self._gathered()
            with self._mx:
                reasons, self._reasons = self._reasons, set()
            self._guarded_cycle(", ".join(sorted(reasons)) or "wake")

    def _idle_work(self) -> None:
        """What the last cycle left for a quiet moment (the manifest a later `build` reads to tell
        that nothing changed); it fails as a cycle fails, and the next cycle leaves it again."""
        with self._busy:
            work, self._later[:] = list(self._later), []
            try:
                for job in work:
                    job()
            except Exception as e:  # the tail of the last cycle: failed as a cycle fails
                self._failed(f"cycle failed: {type(e).__name__}: {e}", "failing")

    def _guarded_cycle(self, reason: str) -> None:
        try:
            if self._slots is None:
                self.cycle(reason)
                return
            with self._slots:  # `host`: a few cycles at once, whatever the number of sites
                self.cycle(reason)
            if self._yielded:  # it gave its turn up with deliveries left: in line again for the rest
                self._yielded = False
                self.request("its turn again")
        except Exception as e:  # a bug must not kill the daemon; it is logged and the next cycle tries again
            self._failed(f"cycle failed: {type(e).__name__}: {e}", "failing")

    def cycle(self, reason: str) -> PublishReport | None:
        gc.disable()  # no collector pause inside a cycle (a save's latency); it runs between cycles
        with self._busy:
            self._busy_since = time.monotonic()
            report = None
            try:
                report = self._cycle(reason)
                return report
            finally:
                self.metrics.cycle_done(time.monotonic() - self._busy_since, report)
                self._busy_since = None
                self._quiet_since = time.monotonic()
                self._ledger_seen = _mtimes(self._ledger_path)  # our own writes are not news
                gc.enable()

    def _failed(self, message: str, status: str) -> None:
        """A cycle that did not finish: say so (log, /healthz), forget what this process remembers of
        the disk (the next cycle looks at everything again, as at start), and try again soon. The same
        failure again is not logged again: /healthz keeps saying it."""
        if message != self.health.get("last_error"):
            self.log.event("error", message)
        self._failures += 1
        low, high = FAILED_CYCLE_RETRY
        self._retry_at = time.monotonic() + min(high, low * 2 ** (self._failures - 1))
        self.health = {**self.health, "status": status, "last_error": message, "failures": self._failures}
        self.memo = IncrementalRender()
        self.planner = IncrementalPlan()
        self.cache = PostCache(self.site_dir / STATE_DIR / "cache.db")
        self._ledger_memo.clear()
        self._later.clear()
        self.watch.rescan_all()

    def _ledger_replaced(self) -> bool:
        """True when the ledger this process locked is no longer the file at its path (deleted, or
        another put in its place): the lock is let go and delivery is held, said once."""
        if self._held is not None or self._ledger_path is None or self._ledger_id is None:
            return False
        if _file_id(self._ledger_path) == self._ledger_id:
            return False
        self._let_go()
        self._take_ledger(load_settings(self.site_dir), cause="deleted or replaced while running: ")
        return self._held is not None

    # -- the ledger: locked while delivering; lost, delivery waits and the feeds go on -------------

    def _take_ledger(self, settings: Settings, cause: str = "") -> bool:
        """Lock the ledger if it is the one this site published with (see deliver.ledger), and deliver
        (True). A ledger lost, emptied, replaced or unreadable holds delivery instead, said once with
        the commands that go on; the daemon does not hold the lock then, so that `syndicate publish
        --rebaseline` (or --backfill) can run, and the next cycle takes the ledger again. Raises
        LockedError (another syndicate delivers for this site)."""
        assert self._place is not None
        try:
            if self._keeper is not None:  # a [store]: the lease (a thread of its own) says when to deliver
                try:
                    existed = self._place.exists()
                except StoreError as e:  # the database does not answer (yet): held, tried again each cycle
                    raise LedgerLostError(str(e)) from None
                self._check_ledger(settings, existed)
                self._keeper.pause(False)
            else:
                assert self._ledger_path is not None
                path = self._ledger_path
                # Before locking, which would create an empty ledger; then again, on the file locked.
                self._check_ledger(settings, path.is_file())
                self._ledger_lock.enter_context(lock(path))
                self._ledger_id = _file_id(path)
                self._check_ledger(settings, True)
        except LedgerLostError as e:
            if self._held is None:  # said once; what it said stays on /healthz until delivery resumes
                self._held = f"{cause}{e}"
                # on /healthz at once, before the lease is let go below: the last cycle's "ok" would
                # read as "standby" (another process delivers) until this cycle ends
                self.health = {**self.health, "status": "held", "problem": self._held}
                ways = "is back or one of these has run" if "\n  syndicate publish" in self._held else "can be read"
                self.log.event(
                    "held",
                    f"{self._held}\nthe feeds are still built and served; delivery resumes when the ledger {ways}",
                )
            self._let_go()
            if self._keeper is not None:  # let go of the lease: `publish --rebaseline` may run
                self._keeper.pause(True)
            return False
        except LockedError:
            self._let_go()
            if self._held is None:
                raise
            return False  # `syndicate publish --rebaseline` is running now: the next cycle takes the ledger
        if self._held is not None:
            self.log.event("resumed", f"the delivery ledger {self._place.shown} is this site's again: delivering")
            self._held = None
            self.planner = IncrementalPlan()  # planned against another ledger: plan anew
            self._ledger_memo.clear()
            self.watch.rescan_all()
        return True

    def _note_moved(self, settings: Settings) -> None:
        """A config that names another ledger than the one this daemon holds ([store] added, removed
        or changed; [state] path changed) holds delivery until a restart, said once."""
        if self.preview or self._place is None:
            return
        moved = ledger.place(self.site_dir, settings) != self._place
        if moved and not self._moved:
            self.log.event("held", ledger.STORE_CHANGED)
        elif self._moved and not moved:
            self.log.event("resumed", f"the config names the delivery ledger {self._place.shown} again: delivering")
        self._moved = moved

    def _lease_taken(self) -> None:
        """The lease keeper took the site (from its thread): a cycle, which delivers."""
        self._took_over.set()
        self.metrics.lease_taken(over=self._keeper is not None and self._keeper.took_over)
        self.request("lease taken")

    def _note_stand_ins(self, lines: list[str]) -> None:
        """Values `init` could not find (CHANGE ME, change-me.invalid) hold delivery until replaced."""
        if lines and lines != self._stand_ins:
            self.log.event(
                "held",
                "nothing is delivered while the config holds stand-ins; the feeds are still built and served:"
                + "".join(f"\n  {line}" for line in lines),
            )
        elif self._stand_ins and not lines:
            self.log.event("resumed", "the config holds no stand-in any more: delivering")
            self.watch.rescan_all()
        self._stand_ins = lines

    def _let_go(self) -> None:
        self._ledger_lock.close()
        self._ledger_lock = contextlib.ExitStack()
        self._ledger_id = None

    def _recovered(self) -> None:
        if self._failures:
            self.log.event("recovered", f"a cycle succeeded again after {self._failures} failed")
        self._failures = 0

    # ~70 lines: the checks before a cycle (the ledger still ours), the cycle, and how each way it
    # can end is logged and reported on /healthz; kept together so no ending is left unhandled.
    def _cycle(self, reason: str) -> PublishReport | None:
        started = time.perf_counter()
        self._ledger_replaced()
        if self._took_over.is_set():  # the lease was taken: another process wrote the ledger meanwhile
            self._took_over.clear()
            self.planner = IncrementalPlan()
            self._ledger_memo.clear()
            self.watch.rescan_all()
        try:
            settings = load_settings(self.site_dir)
            self._note_moved(settings)
            if self._held is not None and not self.preview and not self._moved:
                self._take_ledger(settings)
            self._note_stand_ins(
                stand_ins(settings) if (settings.targets or settings.hubs) and not self.preview else []
            )
            kept = self.kept
            deliver = self._held is None and not self._stand_ins and not self.preview and not self._moved
            deliver = deliver and (self._keeper is None or kept.token is not None)  # standing by: build only
            request = Request(deliver=deliver, feeds_url=self._preview_url)
            report = publish(self.site.with_settings(settings), request, self.world, kept)
            self._clock_off = kept.clock_off  # said once, again only after the clock was right between
        except ConfigError as e:
            self.log.event("config", f"{e}; still serving the last good feeds")
            self.health = {**self.health, "status": "degraded", "last_error": str(e)}
            self._config_broken = True
            return None
        except SyndicateError as e:
            if isinstance(e, LockedError) and self._keeper is not None:
                self._keeper.lost()  # the token check refused a write: the lease is another's (said there)
                self.request("lease lost")  # a cycle that builds only, as a standby
                return None
            # A ledger that went while this cycle ran is said the same way as one that went
            # between cycles: what the daemon says must not depend on when it noticed.
            if isinstance(e, LedgerLostError) and self._keeper is not None and self._held is None:
                self._take_ledger(load_settings(self.site_dir), cause="lost while running: ")
                if self._held is not None:
                    return self._cycle(reason)
            if not self._ledger_replaced():
                if isinstance(e, BucketError) and self.stop.is_set():  # the live check, cut short by SIGTERM
                    self.log.event("stopping", str(e))
                elif isinstance(e, BucketError):  # the upload or the live check: nothing was sent
                    self._failed(f"{e} ({UPLOAD_RETRY})", "degraded")
                else:
                    self._failed(str(e), "failing")
                return None
            return self._cycle(reason)  # held now: the feeds are built all the same
        if self._config_broken:
            self.log.event("recovered", "the config reads again; building with it")
            self._config_broken = False
        self._recovered()
        build = report.build
        self.server_state.settings = build.settings
        problems = {p for p in build.problems if p.severity in ("error", "warning")}
        for problem in sorted(problems - self._problems, key=lambda p: (p.path, p.line or 0)):
            self.log.event("rejected" if problem.severity == "error" else "warning", str(problem), path=problem.path)
        still = {p.path for p in problems}
        for path in sorted({p.path for p in self._problems if p.severity == "error"} - still):
            self.log.event("fixed", f"{printable(path)}: no problem any more", path=printable(path))
        self._problems = problems
        for rel in sorted(build.refused.keys() - self._refused):
            line = refused_line(build.settings, str(self.out_dir / rel), rel, build.refused[rel])
            self.log.event("error", line, path=rel)
        self._refused = set(build.refused)
        self._note_upload(report)
        for line in sorted(set(report.setup_errors) - self._setup_errors):
            self.log.event("error", line)
        self._setup_errors = set(report.setup_errors)
        for line in report.warnings:
            self.log.event("warning", line)
        self._note_retractions(report)
        live = self.planner.live  # a pass over every post at 100,000 posts took 35-70 ms
        if build.written or build.removed or "start" in reason.split(", "):
            self.log.event(
                "built",
                f"{len(build.written)} written, {len(build.removed)} removed, {build.files} files, "
                f"{live} posts ({reason}) in {time.perf_counter() - started:.3f} s",
                written=len(build.written),
                files=build.files,
            )
        for a in report.attempts:
            d = a.delivery
            kind = {SENT: "delivered", FAILED: "retry", DEAD: "dead", HELD: "lost"}[a.outcome]
            self.log.event(
                kind, f"{d.target} {d.event} {d.post_id} {a.detail}".rstrip(), target=d.target, post=d.post_id
            )
        self._schedule(report)
        self._cycles += 1
        self.health = {
            "status": "ok" if self._held is None and not self._stand_ins else "held",
            **({"problem": self._held or "; ".join(self._stand_ins)} if self._held or self._stand_ins else {}),
            "cycles": self._cycles,
            "last_cycle": self.clock().isoformat(timespec="seconds"),
            "cycle_seconds": round(time.perf_counter() - started, 3),
            "posts": live,
            "rejected": len({p.path for p in build.rejected}),
            "next_retry": report.next_attempt.isoformat(timespec="seconds") if report.next_attempt else None,
            "retractions_waiting": len(report.leaving),
            "retractions_held": len(report.held),
        }
        if any(why in reason for why in FULL_SCAN):
            # What a full cycle leaves (every post, the plan) lives long: keep it out of the
            # garbage collector's scans, which otherwise pause a save's cycle by tens of ms. The
            # first leaves next to no garbage (39 unreachable objects among 1.1 million at 100k
            # posts) and collecting it would take 1-2 s, which a save just after the start would
            # wait for: it is frozen as it is; later ones collect only what came since.
            if self._cycles > 1:
                gc.collect()
            gc.freeze()
        return report

    def _note_upload(self, report: PublishReport) -> None:
        """Say what the upload to the bucket did (when it made requests), and each object in the
        bucket left alone (not syndicate's), once."""
        done = report.upload
        if done is None:
            return
        if done.listed and (done.uploaded or done.deleted):
            deleted = f", {len(done.deleted)} deleted" if done.deleted else ""
            self.log.event(
                "uploaded",
                f"{len(done.uploaded)} objects to {done.bucket.url}{deleted} ({done.requests} requests,"
                f" {done.seconds:.2f} s)",
                uploaded=len(done.uploaded),
                requests=done.requests,
            )
        for rel in sorted(done.refused.keys() - self._refused_keys):
            line = f"{done.bucket.url}{rel} {done.refused[rel]}; it was left alone: delete it, or choose another prefix"
            self.log.event("error", line, path=rel)
        if done.listed:  # a run that made no request knows nothing new of the bucket
            self._refused_keys = set(done.refused)

    def _note_retractions(self, report: PublishReport) -> None:
        """Say once each when a post starts waiting out its window, and when the guard holds."""
        waiting = {(r.post_id, r.target) for r in report.leaving}
        for r in sorted(report.leaving, key=lambda r: (r.due, r.url)):
            if (r.post_id, r.target) not in self._leaving:
                self.log.event("leaving", f"{retraction(r)} unless it comes back", post=r.post_id)
        self._leaving = waiting
        held = {(r.post_id, r.target) for r in report.held}
        if held and held != self._guarded:
            line = held_line(report.held, report.live_known, report.guard_limit, self._guard_percent(report))
            self.log.event("held", line)
        self._guarded = held

    @staticmethod
    def _guard_percent(report: PublishReport) -> int:
        return report.build.settings.delivery.max_retractions_percent

    def _schedule(self, report: PublishReport) -> None:
        now = self.clock()
        wanted: dict[str, datetime] = {}
        change = self.planner.next_change  # the soonest post to go live or expire (a pass over every post was 0.1 s)
        if change is not None:
            wanted["scheduled"] = change
        if report.next_attempt is not None:
            wanted["retry"] = (
                max(report.next_attempt, now + RETRY_FLOOR) if report.next_attempt <= now else report.next_attempt
            )
        if report.next_retraction is not None:  # no file event comes when a post's window ends
            wanted["retraction"] = report.next_retraction
        for job in self.scheduler.get_jobs():
            name = job.id.removeprefix(self._jobs)
            if job.id.startswith(self._jobs) and name != "periodic" and name not in wanted:
                job.remove()
        reasons = {"retry": "retry due", "retraction": "retraction due"}
        for job_id, when in wanted.items():
            reason = reasons.get(job_id, "scheduled post due")
            self.scheduler.add_job(
                self.request,
                "date",
                run_date=when,
                args=[reason],
                id=f"{self._jobs}{job_id}",
                replace_existing=True,
                misfire_grace_time=None,
            )

    # -- lifetime ------------------------------------------------------------------------

    def _make_observer(self, settings: Settings) -> BaseObserver:
        content = self.site_dir / settings.content.dir
        folders = [content, self.site_dir / CONFIG_PATH.parent]
        plan = _watch_plan(content, settings)
        shallow = {str(content)} if any(not deep for _, deep in plan) else set()
        ignored = partial(_ignored, str(content), dialect(settings.content.generator))
        handler = _Changes(self.watch, self._changed, {str(f) for f in folders}, self._root_gone, ignored, shallow)
        self._watched = [(folder, _file_id(folder)) for folder in folders]
        watches = [*plan, (folders[1], True)]
        if not self.poll:
            try:
                observer: BaseObserver = Observer()
                for folder, deep in watches:
                    if folder.is_dir():
                        observer.schedule(handler, str(folder), recursive=deep)
                observer.start()
                return observer
            except OSError as e:
                self.log.event("watch", f"file events unavailable ({e}); polling every second instead")
        observer = PollingObserver(timeout=1)
        for folder, deep in watches:
            if folder.is_dir():
                observer.schedule(handler, str(folder), recursive=deep)
        observer.start()
        return observer

    def _root_gone(self) -> None:
        self._rewatch = True  # the main thread's self-check watches again
        self.request("folders replaced")

    def _watch(self, why: str | None = None) -> None:
        """(Re)start watching the content and config folders: at start, when one of them was replaced
        (`rm -rf content && mkdir content` leaves a watch on a folder that is gone), and on SIGHUP."""
        try:
            settings = load_settings(self.site_dir)
        except ConfigError:
            if self._observer is not None:
                return  # a broken config: keep the watches we have; the cycle reports it
            settings = self.server_state.settings
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        self._observer = self._make_observer(settings)
        if why:
            self.log.event("watch", f"watching the folders again ({why})")
            self.watch.rescan_all()  # what changed before the new watches began, no event tells
            self.request("folders replaced")

    def self_check(self) -> None:
        """Between cycles, every few seconds: is the disk as this process believes it is?

        - an output file deleted or changed by someone else (`rm -rf public`, a disk freed after
          it filled up) → a cycle that looks at every file and writes what is missing;
        - a watched folder gone or replaced → watch again, and a full cycle;
        - the ledger changed by another process (`syndicate retry`) → a cycle, which sends it (the
          file's mtimes; on a [store], ``sites.nudges`` as the lease keeper last read it);
        - on a [store], the file checks (the ledger deleted or replaced, its mtimes) have nothing to
          look at: a ledger lost in the database is found by each cycle's check of its id against
          the site's marks, and a lease lost by the keeper;
        - the last cycle failed → try again (after 2 s, doubling up to a minute).
        """
        if not self._busy.acquire(blocking=False):
            return  # a cycle is running: it is the one looking at the disk now
        try:
            reasons = []
            if self._rewatch:
                self._rewatch = False
                self._watch("a watched folder was deleted, moved or reloaded")
            elif any(_file_id(folder) != ident for folder, ident in self._watched):
                self._watch("a watched folder was replaced")
            if self.memo.stats and not self.memo.matches_disk(self.out_dir):
                self.watch.rescan_all()
                reasons.append("output changed")
            if self._ledger_path is not None and _mtimes(self._ledger_path) != self._ledger_seen:
                self._ledger_seen = _mtimes(self._ledger_path)
                self._ledger_memo.clear()  # another process wrote to it: read it again
                reasons.append("ledger changed")
            if self._keeper is not None and self._keeper.changed.is_set():  # the same, on a [store]
                self._keeper.changed.clear()
                self._ledger_memo.clear()
                reasons.append("ledger changed")
            if self._failures and time.monotonic() >= self._retry_at:
                self._retry_at = time.monotonic() + FAILED_CYCLE_RETRY[1]  # until the cycle reports back
                reasons.append("retry after a failed cycle")
        finally:
            self._busy.release()
        for reason in reasons:
            self.request(reason)

    def report_health(self) -> dict[str, Any]:
        """What /healthz says: "ok" only when the last cycle succeeded and none is stuck."""
        health = dict(self.health)
        if health.get("status") != "starting" and health.get("problem") == CATCHING_UP:
            del health["problem"]  # the first cycle failed: what failed is said instead
        busy = self._busy_since
        if busy is not None and time.monotonic() - busy > STALE_AFTER:
            health.update(status="stale", problem=f"a cycle has been running for {time.monotonic() - busy:.0f} s")
        elif self._worker_thread is not None and not self._worker_thread.is_alive() and not self.stop.is_set():
            health.update(status="failing", problem="the worker thread stopped")
        if self._keeper is not None:  # a [store]: who holds the site, till when; a standby is not "ok"
            health["lease"] = self._keeper.health()
            if health.get("status") == "ok" and not self._keeper.delivering():
                health["status"] = "standby"
        return health

    _worker_thread: threading.Thread | None = None
    _server: FeedServer | None = None
    _preview_url = ""  # the feeds' base under --preview, once the server has its port

    def _check_ledger(self, settings: Settings, existed: bool) -> None:
        """Raise LedgerLostError for a ledger that cannot be read, or, when the site has targets, one
        it did not publish with (a site without targets has nothing to skip or repeat)."""
        where = self._place or ledger.place(self.site_dir, settings)
        identity = LedgerIdentity("", 0, 0, True)
        if existed:
            try:
                identity = where.identity()
            except LedgerLostError:
                raise
            except StoreError as e:
                raise LedgerLostError(str(e)) from None
        if settings.targets:
            where.check(existed, identity, ledger.read_marks(self.site_dir, self.out_dir))

    def run(self) -> None:
        """`syndicate run`: until SIGTERM/SIGINT. Raises ConfigError, OutputError, LockedError,
        LedgerLostError, StoreError, OSError (the socket)."""
        settings = self.prepare()
        with contextlib.ExitStack() as at_exit:
            at_exit.callback(self.close)
            self.open_ledger(settings)
            self.server_state = self.state_for(settings)
            server = make_server(self.host, self.port, self.server_state)
            self.port = server.server_address[1]
            if self.preview:
                shown = f"[{self.host}]" if ":" in self.host else self.host
                self._preview_url = f"http://{shown}:{self.port}/"
            self._install_signals()
            # An output folder a build of ours left is served at once, and the first cycle catches
            # up behind it in the worker thread (/healthz says "starting" until it is done); its
            # workers, if it needs any (a lost cache), are spawned, as every later cycle's are.
            # A folder with nothing of ours in it has nothing to serve: the first cycle runs
            # before any other thread exists, so a big first build can fork its workers (see
            # builder.workers.Workers), and the server starts once the feeds are on disk.
            early = (self.out_dir / RECORD).is_file()
            if not early:
                self._guarded_cycle("start")
            server.start()
            self._server = server  # stopped by close(), once the delivery in flight is done
            self.start(first_done=not early)
            base = f"http://{self.host}:{self.port}/"
            index = settings.output.index.removesuffix("index.html")
            every = f" (all feeds: {base}{index})" if settings.output.index else ""
            said = " (preview: feed links on this address; nothing is delivered)" if self.preview else ""
            said += " (catching up: the feeds on disk are served while the first build runs)" if early else ""
            if self.bucket is not None:
                said += f" (a preview: readers get the feeds from {self.bucket.url}, uploaded after each change)"
            self.log.event("serving", f"feeds at {base}{settings.feeds.rss}{every} from {self.out_dir}{said}", url=base)
            while not self.stop.wait(SELF_CHECK):
                self.self_check()

    def prepare(self) -> Settings:
        """Before anything is taken: the config, the bucket, the content folder, the secrets, the lease.
        Raises ConfigError, OutputError (a bucket that cannot be reached)."""
        settings = load_settings(self.site_dir)
        if self.bucket is not None:  # built in its staging folder, uploaded by each cycle (builder/bucket.py)
            check_ready(self.bucket)  # no obstore, no credentials: said now (exit 3), not by every cycle
        if not (self.site_dir / settings.content.dir).is_dir():
            raise ConfigError(f"content folder {settings.content.dir!r} not found in {self.site_dir}")
        for target in settings.targets:  # fail fast on missing secrets, naming the variable only
            try:
                self.secrets.get(target)
            except ConfigError as e:
                self.log.event("error", f"{e}; its deliveries wait until it is set")
        preload(t.kind for t in settings.targets)  # import now, not in the first delivery
        _warm(settings)  # and load the parser and the renderer now, not in the first save
        self._place = ledger.place(self.site_dir, settings)
        tally = None if self.preview else LedgerTally(self._place, self.clock)
        self.metrics = SiteMetrics(ledger.site_name(settings), tally, self.report_health)
        if isinstance(self._place, ledger.PostgresPlace) and settings.store is not None and not self.preview:
            place = self._place
            password = place.password()
            line = self._lease_line(place.url, password) if self._lease_line is not None else None
            lease = Lease(place.url, password, place.site, settings.store.lease, self._holder, line)
            self._keeper = LeaseKeeper(lease, self.log, self._lease_taken)
        else:
            self._ledger_path = ledger.state_path(self.site_dir, settings)
        return settings

    def open_ledger(self, settings: Settings) -> None:
        """Take the ledger (its lock, or on a [store] the lease's first look) and make the output
        folder; close() lets go of both. Raises LockedError, LedgerLostError, StoreError, OutputError."""
        self._at_exit.callback(self._let_go)  # the ledger's lock, if held, goes when the daemon stops
        if not self.preview:  # a preview delivers nothing: it leaves the ledger to `publish`
            self._take_ledger(settings)
        if self._keeper is not None:  # its first look now: the first cycle delivers or stands by
            self._at_exit.callback(self._keeper.stop)  # a clean stop lets go of the lease at once
            self._keeper.start()
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # not "cannot serve on HOST:PORT", which run_cmd says of the socket
            raise OutputError(f"cannot make the output folder {self.out_dir}: {e.strerror or e}") from None

    def state_for(self, settings: Settings) -> ServerState:
        """What the feed server reads of this site (its folder, its settings, its /healthz)."""
        return ServerState(
            self.out_dir,
            settings,
            health=self.report_health,
            log_request=(lambda m, p, s: self.log.event("request", f"{m} {p} {s}")) if self.access_log else None,
            metrics=Exposition(lambda: [self.metrics]).render,
            served=self.metrics.request_served,
        )

    def start(self, *, first_done: bool) -> None:
        """The threads: the watch, the worker, the scheduler's jobs; and the first cycle, in the
        worker (``first_done``: it ran already, before any thread existed)."""
        if not first_done:
            self.health = {"status": "starting", "problem": CATCHING_UP}
            self._watch()  # before the first cycle: a save while it runs makes one more
        self._worker_thread = threading.Thread(
            target=self._worker, name=f"worker {self.site.name}".rstrip(), daemon=True
        )
        self._worker_thread.start()
        if self._own_scheduler:
            self.scheduler.start()
        self.scheduler.add_job(
            self.request,
            "interval",
            seconds=SAFETY_NET.total_seconds(),
            args=["periodic"],
            id=f"{self._jobs}periodic",
            replace_existing=True,
        )
        if not first_done:
            self.request("start")
        else:
            self._watch()
            self.request("watching")  # what changed while the first cycle ran, before anything watched

    def close(self) -> None:
        """Stop: finish the delivery in flight, leave the last manifest, let go of the ledger and the lease."""
        self.stop.set()
        worker = self._worker_thread
        if worker is None:  # it never started: let go of what open_ledger took, say nothing
            if self._server is not None:
                self._server.stop()
            self._at_exit.close()
            return
        in_flight = self._busy_since is not None
        self.log.event("stopping", "finishing the delivery in flight" if in_flight else "nothing in flight")
        if self._observer is not None:
            self._observer.stop()
        if self._own_scheduler:
            self.scheduler.shutdown(wait=False)
        else:
            for job in self.scheduler.get_jobs():
                if job.id.startswith(self._jobs):
                    job.remove()
        self._wake.set()
        if worker is not None:
            worker.join(timeout=120)
            if not worker.is_alive():
                self._idle_work()  # the manifest of the last cycle, for the next build
        if self._server is not None:
            self._server.stop()
        if self._observer is not None:
            self._observer.join(timeout=5)
        self._at_exit.close()
        self.log.event("stopped", "bye")

    def reload(self) -> None:
        """SIGHUP: the next cycle reads the config again, and the folders are watched anew."""
        self._rewatch = True
        self.request("config reloaded")

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum: int, frame: FrameType | None) -> None:
            self.stop.set()

        def reload(signum: int, frame: FrameType | None) -> None:
            self.log.event("reload", "SIGHUP: reading the config again and watching the folders anew")
            self.reload()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)


def _warm(settings: Settings) -> None:
    """Parse and render a small post and a feed of it, so that the first save after a start does not
    load the YAML parser, the Markdown renderer, feedgen and lxml (10-30 ms at 10,000 posts, more
    than the rest of the save) before its feeds are written; a start that renders no feed (the
    output is as the last run left it) would otherwise leave them to that save."""
    from ..core.feeds import plan_feeds
    from ..core.posts import parse_post
    from ..core.render import render_feed

    try:
        post = parse_post("warm-up.md", b"---\ntitle: Warm up\ndate: 2024-01-01\n---\nA *post*.\n", settings).post
        if post is not None:
            render_feed(plan_feeds([post], settings, post.published)[0], settings)
    except Exception:  # a warm-up only: the real posts say what is wrong with them
        return


def _file_id(path: Path | None) -> tuple[int, int] | None:
    """(device, inode) of a file or folder, None when it is not there."""
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _mtimes(ledger_path: Path | None) -> tuple[int, int] | None:
    """When the ledger (and its write-ahead log) last changed: another process wrote to it."""
    if ledger_path is None:
        return None
    stamps = []
    for path in (ledger_path, ledger_path.with_name(ledger_path.name + "-wal")):
        try:
            stamps.append(path.stat().st_mtime_ns)
        except OSError:
            stamps.append(0)
    return stamps[0], stamps[1]
