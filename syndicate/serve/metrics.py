"""``/metrics``: what a Prometheus server scrapes from `syndicate run` (and, site by site, from a
process that runs many), in its text format, made by ``prometheus-client``.

Nothing here is global: each process makes a :class:`Exposition` (its own ``CollectorRegistry``)
over a list of :class:`SiteMetrics`, one per site it runs, every series labelled with the site.
A site's numbers come from two places:

- what its cycles already know, handed over by the daemon (:meth:`SiteMetrics.cycle_done`,
  :meth:`~SiteMetrics.lease_taken`, :meth:`~SiteMetrics.request_served`): counters and histograms
  kept in memory, the cost of a few additions per cycle or request;
- the ledger, for the deliveries by state and the oldest due one: one aggregate query
  (:meth:`syndicate.deliver.store.Store.tally`, one pass over the site's rows), made by a scrape
  and reused by the scrapes of the next :data:`LEDGER_TTL` seconds, never a query per row or per
  scrape. A ledger that cannot be read drops those series and says ``syndicate_ledger_up 0``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ..core.lanes import EVERY_STATE, Lane, lanes, waited
from ..core.planning import SENT, WEBSUB_PREFIX
from ..errors import ConfigError, StoreError

if TYPE_CHECKING:
    from ..deliver.ledger import Place
    from ..deliver.publish import PublishReport

LEDGER_TTL = 5.0  # seconds one read of the ledger's aggregate serves the scrapes that follow
CYCLE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
DELAY_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 43200.0, 86400.0)
STATUSES = ("ok", "starting", "held", "standby", "degraded", "failing", "stale")  # /healthz's (docs/running/health.md)


@dataclass
class _Histogram:
    """Observations counted into fixed buckets (upper bounds), with their sum."""

    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative counts per upper bound, ``+Inf`` last (as Prometheus reads them)."""
        counts = self.counts or [0] * (len(self.bounds) + 1)
        out, running = [], 0
        for bound, n in zip([*(repr(float(b)) for b in self.bounds), "+Inf"], counts, strict=True):
            running += n
            out.append((bound, float(running)))
        return out


class LedgerTally:
    """The site's ledger as /metrics shows it: its lanes, read at most every ``ttl`` seconds."""

    def __init__(self, place: Place, clock: Callable[[], datetime], ttl: float = LEDGER_TTL) -> None:
        self.place = place
        self.clock = clock
        self.ttl = ttl
        self._mx = threading.Lock()
        self._read_at = -ttl - 1.0  # monotonic time of the last read
        self._last: tuple[datetime, list[Lane]] | None = None

    def read(self) -> tuple[datetime, list[Lane]] | None:
        """(the ledger's clock now, its lanes as of a read at most ``ttl`` old); None when it cannot be read."""
        with self._mx:  # two scrapes at once make one query
            if time.monotonic() - self._read_at >= self.ttl:
                self._last = self._query()
                self._read_at = time.monotonic()
            if self._last is None:
                return None
            read_at, found = self._last
            return read_at + timedelta(seconds=time.monotonic() - self._read_at), found  # ages go on growing

    def forget(self) -> None:
        """The ledger changed (a cycle recorded something): the next scrape reads it again."""
        with self._mx:
            self._read_at = -self.ttl - 1.0

    def _query(self) -> tuple[datetime, list[Lane]] | None:
        try:
            if not self.place.exists():
                return None
            store = self.place.open(readonly=True)
            try:
                now = store.server_time() or self.clock()  # due times are the database's, on a [store]
                return now, lanes(store.tally(now, now))
            finally:
                store.close()
        except (StoreError, ConfigError):
            return None


def kind_of(targets: dict[str, str], target: str) -> str:
    """A target's kind, as the config says (``websub`` for a hub; ``unknown`` once it left the config)."""
    if target.startswith(WEBSUB_PREFIX):
        return "websub"
    return targets.get(target, "unknown")


class SiteMetrics:
    """One site's numbers: fed by what runs the site (the daemon), read by :class:`Exposition`.

    ``health``: what /healthz says now (its ``status`` is reported); ``ledger``: where the
    deliveries by state come from (None: none, as for `run --preview`)."""

    def __init__(
        self,
        site: str,
        ledger: LedgerTally | None = None,
        health: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.site = site
        self.ledger = ledger
        self.health = health
        self._mx = threading.Lock()
        self._kinds: dict[str, str] = {}  # target → kind, as of the last cycle's settings
        self._builds: dict[str, int] = {}
        self._attempts: dict[tuple[str, str], int] = {}  # (target, outcome) → attempts
        self._requests: dict[str, int] = {}
        self._takeovers = 0
        self._held = 0
        self._cycles = _Histogram(CYCLE_BUCKETS)
        self._delays: dict[str, _Histogram] = {}  # kind → due → sent

    # -- what the daemon tells -----------------------------------------------------------

    def cycle_done(self, seconds: float, report: PublishReport | None) -> None:
        """A cycle ended after ``seconds``: with its report (built; ``rejected`` when a post was), or
        without one (it failed: the config did not read, a disk, the database, an upload)."""
        with self._mx:
            self._cycles.observe(seconds)
            if report is None:
                self._builds["failed"] = self._builds.get("failed", 0) + 1
                return
            outcome = "rejected" if report.build.rejected else "ok"
            self._builds[outcome] = self._builds.get(outcome, 0) + 1
            self._kinds = {t.name: t.kind for t in report.build.settings.targets}
            self._held = len(report.held)
            if self.ledger is not None and (report.attempts or report.planned or report.baseline):
                self.ledger.forget()  # what it recorded shows at the next scrape, not a few seconds later
            for a in report.attempts:
                key = (a.delivery.target, str(a.outcome))
                self._attempts[key] = self._attempts.get(key, 0) + 1
                if a.outcome == SENT and a.at is not None:
                    d = a.delivery
                    due = d.next_attempt_at or d.created_at
                    kind = kind_of(self._kinds, d.target)
                    self._delays.setdefault(kind, _Histogram(DELAY_BUCKETS)).observe(
                        max(0.0, (a.at - due).total_seconds())
                    )

    def lease_taken(self, over: bool) -> None:
        """This process took the site's lease: ``over`` another holder (it stood by before)."""
        if over:
            with self._mx:
                self._takeovers += 1

    def request_served(self, status: int) -> None:
        """The server answered a request for a file (not /healthz or /metrics) with ``status``."""
        key = str(status)
        with self._mx:
            self._requests[key] = self._requests.get(key, 0) + 1

    # -- what a scrape reads ---------------------------------------------------------------

    def families(self, out: _Families) -> None:
        """Add this site's samples to the families of one scrape."""
        site = self.site
        ledger = self.ledger.read() if self.ledger is not None else None  # outside the lock: it may query
        status = str(self.health().get("status", "")) if self.health is not None else ""
        with self._mx:
            kinds = dict(self._kinds)
            for outcome in ("ok", "rejected", "failed"):
                out.builds.add_metric([site, outcome], self._builds.get(outcome, 0))
            for (target, outcome), n in sorted(self._attempts.items()):
                out.attempts.add_metric([site, target, kind_of(kinds, target), outcome], n)
            for code, n in sorted(self._requests.items()):
                out.requests.add_metric([site, code], n)
            out.takeovers.add_metric([site], self._takeovers)
            out.retractions_held.add_metric([site], self._held)
            out.cycles.add_metric([site], self._cycles.buckets(), self._cycles.total)
            for kind, hist in sorted(self._delays.items()):
                out.delays.add_metric([site, kind], hist.buckets(), hist.total)
        if status:
            for name in STATUSES:
                out.status.add_metric([site, name], 1.0 if name == status else 0.0)
        if self.ledger is None:
            return
        out.ledger_up.add_metric([site], 0.0 if ledger is None else 1.0)
        if ledger is None:
            return
        now, site_lanes = ledger
        for lane in site_lanes:
            kind = kind_of(kinds, lane.target)
            for state in EVERY_STATE:
                out.deliveries.add_metric([site, lane.target, kind, state], lane.count(state))
            out.oldest_due.add_metric([site, lane.target, kind], waited(lane, now))


class _Families:
    """The metric families of one scrape, each filled by every site in turn."""

    def __init__(self) -> None:
        lane = ["site", "target", "kind"]
        self.deliveries = GaugeMetricFamily(
            "syndicate_deliveries", "Deliveries in the ledger, by lane and state.", labels=[*lane, "state"]
        )
        self.oldest_due = GaugeMetricFamily(
            "syndicate_oldest_due_seconds",
            "How long the lane's oldest due delivery has waited (0: none due).",
            labels=lane,
        )
        self.ledger_up = GaugeMetricFamily(
            "syndicate_ledger_up", "1 when the last read of the site's ledger worked.", labels=["site"]
        )
        self.attempts = CounterMetricFamily(
            "syndicate_delivery_attempts",
            "Delivery attempts by outcome (sent, failed, dead).",
            labels=[*lane, "outcome"],
        )
        self.builds = CounterMetricFamily(
            "syndicate_builds", "Cycles (a build and its deliveries) by outcome.", labels=["site", "outcome"]
        )
        self.requests = CounterMetricFamily(
            "syndicate_feed_requests", "Requests for the served files, by HTTP status.", labels=["site", "status"]
        )
        self.takeovers = CounterMetricFamily(
            "syndicate_lease_takeovers",
            "Times this process took the site's lease from another holder.",
            labels=["site"],
        )
        self.retractions_held = GaugeMetricFamily(
            "syndicate_retractions_held", "Retractions the guard holds for publish --allow-deletions.", labels=["site"]
        )
        self.status = GaugeMetricFamily(
            "syndicate_status", "The /healthz status: 1 for the current one.", labels=["site", "status"]
        )
        self.cycles = HistogramMetricFamily("syndicate_cycle_seconds", "How long each cycle took.", labels=["site"])
        self.delays = HistogramMetricFamily(
            "syndicate_due_to_sent_seconds",
            "From when a delivery was due to when it was sent.",
            labels=["site", "kind"],
        )

    def __iter__(self) -> Iterator[Metric]:
        return iter(vars(self).values())


class Exposition(Collector):
    """The /metrics of one process: a registry of its own with one collector over its sites."""

    def __init__(self, sites: Callable[[], Iterable[SiteMetrics]]) -> None:
        self.sites = sites
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def collect(self) -> Iterable[Metric]:
        out = _Families()
        for site in self.sites():
            site.families(out)
        return list(out)

    def render(self, accept: str) -> tuple[str, bytes]:
        """(content type, body) of one scrape, in the format the ``Accept`` header asks for."""
        encoder, content_type = choose_encoder(accept)
        return content_type, encoder(self.registry)


__all__ = ["Exposition", "LedgerTally", "SiteMetrics", "kind_of"]
