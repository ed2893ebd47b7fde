"""`syndicate host DIR`: every site under DIR in one process, served on one port.

Each folder of DIR that holds ``config/syndicate.toml`` is a site, named by its folder. Each site
is run as `syndicate run` runs one (:class:`~syndicate.serve.daemon.Daemon`: its own worker,
watch, ledger lock or lease, retries), embedded: the host holds the socket (every site's feeds
on it, by the ``Host`` header: serve/vhosts.py), the signals, one scheduler for every site's
due times and a few cycle slots (``--jobs``) that the sites take turns with, so that a hundred
sites saved at once build a few at a time.

Every two seconds the host looks at DIR again: a new site folder is started, a removed one is
stopped (its delivery in flight finished first), and a site whose config did not read is tried
again once its config file changed; the others go on all along. With ``--store URL`` every site
must keep its ledger in that PostgreSQL database (its ``[store] url``): a site with a ledger of its
own on one machine's disk would be delivered by every host that runs it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

from ..config import CONFIG_PATH, load_settings, shown_config
from ..core.model import printable
from ..deliver.postgres_store import LeaseLine
from ..deliver.secrets import Secrets
from ..errors import ConfigError, SyndicateError
from ..site import Site
from .daemon import SELF_CHECK, Daemon
from .log import EventLog
from .metrics import Exposition
from .server import FeedServer, bind
from .slots import Slots
from .vhosts import VirtualHosts

OK_STATES = ("ok", "standby", "starting", "held")  # a site doing its work (held: waiting for the user's word)


RETRY_BROKEN = 30.0  # seconds before a site that could not start for another reason than its config is tried again


@dataclass
class _Broken:
    """A site that could not start: what was said, the config file's stamp it was said of, and
    (for a cause outside its config: its ledger locked by another process, the database down)
    when it is tried again anyway."""

    message: str
    stamp: tuple[int, int] | None
    retry_at: float | None = None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def site_folders(root: Path) -> dict[str, Path]:
    """The sites under ``root``: its folders (not hidden) that hold config/syndicate.toml, by name."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return {}
    return {
        e.name: Path(e.path)
        for e in entries
        if not e.name.startswith(".") and e.is_dir() and (Path(e.path) / CONFIG_PATH).is_file()
    }


class Host:
    """Runs every site under a folder until SIGTERM/SIGINT (see the module)."""

    def __init__(
        self,
        root: Path,
        *,
        log: EventLog,
        store: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8080,
        jobs: int = 2,
        name: str = "",
        poll: bool = False,
        access_log: bool = False,
        secrets: Secrets | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.root = root
        self.log = log
        self.store = store
        self.host = host
        self.port = port
        self.name = name  # how this host is named to the others, as a lease's holder ("": its host name)
        self.poll = poll
        self.access_log = access_log
        self.secrets = secrets or Secrets()
        self.clock = clock
        self.stop = threading.Event()
        self.sites: dict[str, Daemon] = {}
        self.broken: dict[str, _Broken] = {}
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.slots = Slots(jobs)
        self.exposition = Exposition(lambda: [d.metrics for d in list(self.sites.values())])
        self.app = VirtualHosts(self.health, self.exposition.render)
        self._clashes: dict[str, str] = {}
        self._lines: dict[tuple[str, str | None], LeaseLine] = {}  # one connection per database for every lease

    def _line(self, url: str, password: str | None) -> LeaseLine:
        return self._lines.setdefault((url, password), LeaseLine())

    # -- the sites --------------------------------------------------------------------------

    def look(self) -> None:
        """Start the sites that are new (or whose broken config changed), stop the ones gone."""
        found = site_folders(self.root)
        for name in sorted(self.sites.keys() - found.keys()):
            self._drop(name, "its folder is gone")
        for name in sorted(self.broken.keys() - found.keys()):
            del self.broken[name]
        for name, folder in found.items():
            if name in self.sites:
                continue
            broken = self.broken.get(name)
            due = broken is not None and broken.retry_at is not None and time.monotonic() >= broken.retry_at
            if broken is not None and not due and broken.stamp == _stamp(folder / CONFIG_PATH):
                continue
            self._start(name, folder)
        clashes = self.app.clashes()
        for name in sorted(clashes.keys() - self._clashes.keys()):
            self.sites[name].log.event(
                "error",
                f"serves no feeds: site {clashes[name]!r} has the same feed URL; give one of them another [feeds] url",
            )
        self._clashes = clashes

    def _start(self, name: str, folder: Path) -> None:
        log = self.log.for_site(printable(name))  # a folder's name never starts a line of its own
        stamp = _stamp(folder / CONFIG_PATH)
        daemon: Daemon | None = None
        try:
            settings = load_settings(folder)
            self._check_store(folder, settings.store.url if settings.store is not None else None)
            site = Site.open(folder, name=name, settings=settings)
            daemon = Daemon(
                site,
                log=log,
                poll=self.poll,
                access_log=self.access_log,
                secrets=self.secrets,
                clock=self.clock,
                scheduler=self.scheduler,
                slots=self.slots,
                holder=self.name,
                lease_line=self._line,
            )
            settings = daemon.prepare()
            daemon.open_ledger(settings)
            daemon.server_state = daemon.state_for(settings)
        except Exception as e:  # one site that cannot start never stops the others (a bug: said, as a site's error)
            if daemon is not None:
                daemon.close()
            message = str(e) if isinstance(e, SyndicateError) else f"{type(e).__name__}: {e}"
            config = isinstance(e, ConfigError)
            was = self.broken.get(name)
            if was is None or was.message != message:
                when = "when its config changes" if config else f"every {RETRY_BROKEN:.0f} s"
                log.event("error", f"{message}; the other sites go on, and this one is tried again {when}")
            self.broken[name] = _Broken(message, stamp, None if config else time.monotonic() + RETRY_BROKEN)
            return
        self.broken.pop(name, None)
        self.sites[name] = daemon
        self.app.add(name, daemon.server_state)
        daemon.start(first_done=False)
        log.event("site", f"started from {folder} (feeds at {settings.feeds_url})")

    def _check_store(self, folder: Path, url: str | None) -> None:
        """With ``--store``: the site's ledger must be in that database (ConfigError otherwise)."""
        if self.store is None or url == self.store:
            return
        if url is None:
            raise ConfigError(
                f"keeps its ledger in a file of this machine, but this host shares its sites through {self.store}:"
                f' add [store] url = "{self.store}" to its config (and `syndicate store migrate --to` its ledger)',
                path=shown_config(folder),
            )
        raise ConfigError(
            f"keeps its ledger in {url}, not in this host's {self.store}: run it with a host of that store",
            path=shown_config(folder),
        )

    def _drop(self, name: str, why: str) -> None:
        daemon = self.sites.pop(name)
        self.app.remove(name)
        daemon.log.event("site", f"stopping: {why}")
        daemon.close()

    # -- what the host says -------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        """The host's /healthz: each site's status (and problem), each site that did not start;
        200 while the host serves, 503 when it has sites and none of them is doing its work."""
        sites: dict[str, Any] = {}
        for name, daemon in sorted(self.sites.items()):
            health = daemon.report_health()
            sites[name] = {k: v for k, v in health.items() if k in ("status", "problem", "lease", "posts")}
        for name, broken in sorted(self.broken.items()):
            sites[name] = {"status": "broken", "problem": broken.message}
        working = sum(1 for s in sites.values() if s["status"] in OK_STATES)
        status = "ok" if working == len(sites) else "degraded"
        code = 503 if sites and not working else 200
        return code, {"status": status, "sites": sites, "served": self.app.names()}

    # -- lifetime -----------------------------------------------------------------------------

    def run(self) -> None:
        """Until SIGTERM/SIGINT. Raises OSError (the socket)."""
        server = FeedServer(bind(self.host, self.port), None, app=self.app)
        self.port = server.server_address[1]
        self._install_signals()
        server.start()
        self.scheduler.start()
        try:
            self.look()
            count = len(self.sites)
            self.log.event(
                "serving",
                f"{count} site{'' if count == 1 else 's'} of {self.root} at http://{self.host}:{self.port}/"
                f" (each by its feed URL's host name; /healthz for all)",
                url=f"http://{self.host}:{self.port}/",
            )
            while not self.stop.wait(SELF_CHECK):
                self.look()
                for daemon in list(self.sites.values()):
                    try:
                        daemon.self_check()
                    except Exception as e:  # one site's look at its disk never stops the host
                        daemon.log.event("error", f"self-check failed: {type(e).__name__}: {e}")
        finally:
            for daemon in self.sites.values():  # every site finishes its delivery in flight at once
                daemon.stop.set()
            for name in sorted(self.sites):
                self._drop(name, "the host is stopping")
            self.scheduler.shutdown(wait=False)
            for line in self._lines.values():
                with line.lock:
                    line.close()
            server.stop()
            self.log.event("stopped", "bye")

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum: int, frame: FrameType | None) -> None:
            self.stop.set()

        def reload(signum: int, frame: FrameType | None) -> None:
            self.log.event("reload", "SIGHUP: every site reads its config again and watches its folders anew")
            for daemon in list(self.sites.values()):
                daemon.reload()
            self.broken.clear()  # and every site that did not start is tried again

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
