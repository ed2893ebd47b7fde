"""`syndicate run`: watch the site, build and deliver on change and on time, serve the feeds.

Threads:

- the *worker* runs one cycle at a time (the same build and delivery as `publish`); any
  request to run sets an event, so a save during a cycle causes exactly one more cycle and
  no trigger is ever lost;
- watchdog (inotify, or polling where a file system gives no events) reports the paths
  that changed; a file closed after writing or renamed into place starts a cycle 5 ms
  later, other events after a short quiet period (debounce); bursts make one request;
- APScheduler wakes the worker at each scheduled post's date and at the ledger's next
  retry time; after a restart both are rebuilt from content and ledger by the first cycle;
- the HTTP server serves the output folder (see :mod:`syndicate.server`);
- the main thread runs the first cycle before any other thread exists (so a big site's
  first build may fork its workers), then waits for SIGTERM/SIGINT (finish the delivery in flight, exit 0) and
  SIGHUP (reload the config: the next cycle reads it; a bad one is logged and the last good
  state keeps serving).

The site's lock is held for the daemon's whole life, so a second daemon or a `publish`
on the same site is refused with a clear message.
"""

from __future__ import annotations

import gc
import importlib
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from .app import STATE_DIR, ContentWatch, RenderMemo
from .cache import PostCache
from .config import CONFIG_PATH, load_settings
from .errors import ConfigError, OutputError, SyndicateError
from .feeds import IncrementalPlan
from .log import EventLog
from .model import Problem, Settings
from .publish import PublishReport, Secrets, publish, state_path
from .server import ServerState, make_server
from .store import lock

RETRY_FLOOR = timedelta(seconds=60)  # a retry that is due but cannot run is not hammered
SAFETY_NET = timedelta(minutes=10)  # a full cycle even if no event came (lost inotify events)


# A file closed after writing, or renamed into place, is complete: act at once (a few ms to
# gather the other events of the same save). Other events wait for quiet (debounce).
COMPLETE = ("closed", "moved", "deleted")
GATHER = 0.005
FULL_SCAN = ("start", "watching", "periodic", "config reloaded")  # causes that look at every post file again


class _Changes(FileSystemEventHandler):
    def __init__(self, watch: ContentWatch, on_change: Callable[[bool], None]) -> None:
        self.watch = watch
        self.on_change = on_change

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
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
        self.on_change(event.event_type in COMPLETE)


class Daemon:
    def __init__(
        self,
        site_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        log: EventLog,
        out_dir: Path | None = None,
        poll: bool = False,
        debounce: float = 0.1,
        access_log: bool = False,
        secrets: Secrets | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.site_dir = site_dir
        self.host = host
        self.port = port
        self.log = log
        self.out_dir = out_dir if out_dir is not None else site_dir / "public"
        self.poll = poll
        self.debounce = debounce
        self.access_log = access_log
        self.secrets = secrets or Secrets()
        self.clock = clock
        self.stop = threading.Event()
        self._wake = threading.Event()
        self._reasons: set[str] = set()
        self._mx = threading.Lock()
        self._timer: threading.Timer | None = None
        self.memo = RenderMemo()
        self.watch = ContentWatch()
        self.planner = IncrementalPlan()
        self.cache = PostCache(site_dir / STATE_DIR / "cache.db")
        self._problems: set[Problem] = set()
        self._setup_errors: set[str] = set()
        self.health: dict[str, Any] = {"status": "starting"}
        self.scheduler = BackgroundScheduler(timezone=UTC)

    # -- triggers -------------------------------------------------------------------------

    def request(self, reason: str) -> None:
        if reason in FULL_SCAN:
            self.watch.rescan_all()
        with self._mx:
            self._reasons.add(reason)
        self._wake.set()

    def _changed(self, complete: bool) -> None:
        with self._mx:
            if self._timer is not None:
                self._timer.cancel()
            wait = min(GATHER, self.debounce) if complete else self.debounce
            self._timer = threading.Timer(wait, self.request, args=("file changed",))
            self._timer.daemon = True
            self._timer.start()

    # -- the worker -----------------------------------------------------------------------

    def _worker(self) -> None:
        while not self.stop.is_set():
            if not self._wake.wait(timeout=0.5):
                continue
            self._wake.clear()
            with self._mx:
                reasons, self._reasons = self._reasons, set()
            self._guarded_cycle(", ".join(sorted(reasons)) or "wake")

    def _guarded_cycle(self, reason: str) -> None:
        try:
            self.cycle(reason)
        except Exception as e:  # a bug must not kill the daemon; it is logged and the next cycle tries again
            self.log.event("error", f"cycle failed: {type(e).__name__}: {e}")

    def cycle(self, reason: str) -> PublishReport | None:
        gc.disable()  # no collector pause inside a cycle (a save's latency); it runs between cycles
        try:
            return self._cycle(reason)
        finally:
            gc.enable()

    def _cycle(self, reason: str) -> PublishReport | None:
        started = time.perf_counter()
        try:
            report = publish(
                self.site_dir,
                clock=self.clock,
                wall=self.clock,
                out_dir=self.out_dir,
                take_lock=False,
                should_stop=self.stop.is_set,
                cache=self.cache,
                memo=self.memo,
                secrets=self.secrets,
                watch=self.watch,
                planner=self.planner,
            )
        except ConfigError as e:
            self.log.event("config", f"{e}; still serving the last good feeds")
            self.health.update(status="degraded", last_error=str(e))
            return None
        except (OutputError, SyndicateError) as e:
            self.log.event("error", str(e))
            self.health.update(status="degraded", last_error=str(e))
            return None
        build = report.build
        self.server_state.settings = build.settings
        problems = set(build.problems)
        for problem in sorted(problems - self._problems, key=lambda p: (p.path, p.line or 0)):
            self.log.event("rejected" if problem.severity == "error" else "warning", str(problem), path=problem.path)
        self._problems = problems
        for line in sorted(set(report.setup_errors) - self._setup_errors):
            self.log.event("error", line)
        self._setup_errors = set(report.setup_errors)
        live = len(build.live(self.clock()))
        if build.written or build.removed or reason == "start":
            self.log.event(
                "built",
                f"{len(build.written)} written, {len(build.removed)} removed, {build.files} files, "
                f"{live} posts ({reason}) in {time.perf_counter() - started:.3f} s",
                written=len(build.written),
                files=build.files,
            )
        for a in report.attempts:
            d = a.delivery
            kind = {"sent": "delivered", "failed": "retry", "dead": "dead"}[a.outcome]
            self.log.event(
                kind, f"{d.target} {d.event} {d.post_id} {a.detail}".rstrip(), target=d.target, post=d.post_id
            )
        self._schedule(report)
        self.health = {
            "status": "ok",
            "last_cycle": self.clock().isoformat(timespec="seconds"),
            "posts": live,
            "rejected": len({p.path for p in build.rejected}),
            "next_retry": report.next_attempt.isoformat(timespec="seconds") if report.next_attempt else None,
        }
        if any(why in reason for why in FULL_SCAN):
            # What a full cycle leaves (every post, the plan) lives long: keep it out of the
            # garbage collector's scans, which otherwise pause a save's cycle by tens of ms.
            gc.collect()
            gc.freeze()
        return report

    def _schedule(self, report: PublishReport) -> None:
        now = self.clock()
        wanted: dict[str, datetime] = {}
        for post in report.build.scheduled(now):
            wanted[f"post:{post.id}"] = post.published
        if report.next_attempt is not None:
            wanted["retry"] = (
                max(report.next_attempt, now + RETRY_FLOOR) if report.next_attempt <= now else report.next_attempt
            )
        for job in self.scheduler.get_jobs():
            if (job.id.startswith("post:") and job.id not in wanted) or (job.id == "retry" and "retry" not in wanted):
                job.remove()
        for job_id, when in wanted.items():
            reason = "retry due" if job_id == "retry" else "scheduled post due"
            self.scheduler.add_job(
                self.request,
                "date",
                run_date=when,
                args=[reason],
                id=job_id,
                replace_existing=True,
                misfire_grace_time=None,
            )

    # -- lifetime ------------------------------------------------------------------------

    def _observer(self, settings: Settings) -> BaseObserver:
        handler = _Changes(self.watch, self._changed)
        folders = [self.site_dir / settings.content.dir, self.site_dir / CONFIG_PATH.parent]
        if not self.poll:
            try:
                observer: BaseObserver = Observer()
                for folder in folders:
                    observer.schedule(handler, str(folder), recursive=True)
                observer.start()
                return observer
            except OSError as e:
                self.log.event("watch", f"file events unavailable ({e}); polling every second instead")
        observer = PollingObserver(timeout=1)
        for folder in folders:
            observer.schedule(handler, str(folder), recursive=True)
        observer.start()
        return observer

    def run(self) -> None:
        """Until SIGTERM/SIGINT. Raises ConfigError, LockedError, OSError (port in use)."""
        settings = load_settings(self.site_dir)
        if not (self.site_dir / settings.content.dir).is_dir():
            raise ConfigError(f"content folder {settings.content.dir!r} not found in {self.site_dir}")
        for target in settings.targets:  # fail fast on missing secrets, naming the variable only
            key = {"webhook": "secret_env", "mastodon": "token_env", "bluesky": "password_env"}[target.kind]
            try:
                self.secrets.get(target, key)
            except ConfigError as e:
                self.log.event("error", f"{e}; its deliveries wait until it is set")
        for kind in sorted({t.kind for t in settings.targets}):
            importlib.import_module(f"syndicate.channels.{kind}")  # import now, not in the first delivery
        with lock(state_path(self.site_dir, settings).with_name("lock")):
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.server_state = ServerState(
                self.out_dir,
                settings,
                health=lambda: self.health,
                log_request=(lambda m, p, s: self.log.event("request", f"{m} {p} {s}")) if self.access_log else None,
            )
            server = make_server(self.host, self.port, self.server_state)
            self.port = server.server_address[1]
            self._install_signals()
            # The first cycle runs before any other thread exists, so a big site's first build
            # can fork its workers (see app.Workers); the feeds are on disk before serving.
            self._guarded_cycle("start")
            serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
            serving.start()
            worker = threading.Thread(target=self._worker, name="worker", daemon=True)
            worker.start()
            self.scheduler.start()
            self.scheduler.add_job(
                self.request, "interval", seconds=SAFETY_NET.total_seconds(), args=["periodic"], id="periodic"
            )
            observer = self._observer(settings)
            base = f"http://{self.host}:{self.port}/"
            self.log.event("serving", f"feeds at {base}feed.xml (all feeds: {base}) from {self.out_dir}", url=base)
            self.request("watching")  # what changed while the first cycle ran, before anything watched
            try:
                while not self.stop.wait(0.5):
                    pass
            finally:
                self.log.event("stopping", "finishing the delivery in flight")
                observer.stop()
                self.scheduler.shutdown(wait=False)
                if self._timer is not None:
                    self._timer.cancel()
                self._wake.set()
                worker.join(timeout=120)
                server.shutdown()
                server.server_close()
                observer.join(timeout=5)
                self.log.event("stopped", "bye")

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum: int, frame: FrameType | None) -> None:
            self.stop.set()

        def reload(signum: int, frame: FrameType | None) -> None:
            self.log.event("reload", "SIGHUP: reading the config again")
            self.request("config reloaded")

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
