"""`/metrics` of a running `syndicate run` (a real process, a real webhook receiver on 127.0.0.1),
scraped and read with prometheus-client's own parser, before and after a post is delivered: what
an operator's dashboard would show changes as the delivery happens. The scrape shown on
docs/running/metrics.md is this one, its timings aside."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from syndicate.deliver.ledger import SQLitePlace
from syndicate.deliver.sqlite_store import SQLiteStore
from syndicate.deliver.store import Store
from syndicate.serve.metrics import Exposition, LedgerTally, SiteMetrics
from tests import docblocks
from tests.conftest import CONFIG, REPO, Site
from tests.httpd import Recorder, recorder
from tests.test_daemon import Running, hook_config, start, stop
from tests.test_store_contract import T0, row

SITE = "https://example.com/"
PAGE = REPO / "docs" / "running" / "metrics.md"
# Timings, and what counts cycles (how many a saved file makes): not the same from run to run.
VARIES = re.compile(r"^(syndicate_(cycle_seconds|due_to_sent_seconds|builds_total|oldest_due_seconds)\S*) \S+$", re.M)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(run: Running, accept: str = "") -> tuple[str, str]:
    code, headers, body = run.get("/metrics", {"Accept": accept} if accept else None)
    assert code == 200 and headers["cache-control"] == "no-store", (code, headers)
    return headers["content-type"], body.decode()


def samples_of(text: str) -> Iterable[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value for s in samples_of(text)}


def value(got: Samples, name: str, **labels: str) -> float:
    return got.get((name, frozenset({"site": SITE, **labels}.items())), 0.0)


@pytest.fixture
def daemon(sample_site: Site) -> Iterator[tuple[Running, Recorder, Site]]:
    """The sample site with two webhook targets: `hooks` (a receiver that takes everything) and
    `later`, whose secret is not set (its deliveries wait, due, in the ledger)."""
    with recorder() as rec:
        hooks = hook_config(rec.url)[len(CONFIG) :]
        later = hook_config("http://127.0.0.1:9/")[len(CONFIG) :].replace('"hooks"', '"later"')
        config = sample_site.root / "config" / "syndicate.toml"
        sample_site.config(config.read_text() + hooks + later.replace("HOOK_SECRET", "LATER_SECRET_UNSET"))
        run = start(sample_site)
        try:
            yield run, rec, sample_site
        finally:
            assert stop(run) == 0
            assert not any("Traceback" in line for line in run.raw)


def test_a_scrape_before_and_after_a_delivery_shows_what_changed(daemon: tuple[Running, Recorder, Site]) -> None:
    run, rec, site = daemon
    kind, text = scrape(run)
    assert kind == "text/plain; version=0.0.4; charset=utf-8"
    before = samples(text)
    for target in ("hooks", "later"):  # the first run records the posts already out as baseline
        lane = {"target": target, "kind": "webhook"}
        assert value(before, "syndicate_deliveries", **lane, state="baseline") == 4
        assert value(before, "syndicate_deliveries", **lane, state="sent") == 0
        assert value(before, "syndicate_oldest_due_seconds", **lane) == 0
    assert value(before, "syndicate_ledger_up") == 1 and value(before, "syndicate_status", status="ok") == 1
    assert value(before, "syndicate_builds_total", outcome="ok") >= 1
    assert value(before, "syndicate_cycle_seconds_count") >= 1
    assert value(before, "syndicate_lease_takeovers_total") == 0
    assert value(before, "syndicate_delivery_attempts_total", target="hooks", kind="webhook", outcome="sent") == 0

    assert run.get("feed.xml")[0] == 200 and run.get("feed.xml")[0] == 200 and run.get("nope.xml")[0] == 404
    site.post("2026-01-01-live.md", "---\ntitle: Live\ndate: 2026-01-01\n---\nWritten while it ran.\n")
    run.wait_for(lambda: len(rec.requests) == 1, what="the webhook")
    run.wait_for(lambda: bool(run.events("delivered")), what="the delivered line (logged after the ledger)")
    after = samples(scrape(run)[1])
    hooks = {"target": "hooks", "kind": "webhook"}
    assert value(after, "syndicate_deliveries", **hooks, state="sent") == 1  # not 5 s later: the cycle said so
    assert value(after, "syndicate_deliveries", **hooks, state="pending") == 0
    assert value(after, "syndicate_delivery_attempts_total", **hooks, outcome="sent") == 1
    assert value(after, "syndicate_due_to_sent_seconds_count", kind="webhook") == 1
    assert 0 <= value(after, "syndicate_due_to_sent_seconds_sum", kind="webhook") < 30
    assert value(after, "syndicate_builds_total", outcome="ok") > value(before, "syndicate_builds_total", outcome="ok")
    assert value(after, "syndicate_feed_requests_total", status="200") == 2, "/healthz and /metrics not counted"
    assert value(after, "syndicate_feed_requests_total", status="404") == 1
    later = {"target": "later", "kind": "webhook"}
    assert value(after, "syndicate_deliveries", **later, state="pending") == 1  # its secret is not set: it waits
    waited = value(after, "syndicate_oldest_due_seconds", **later)
    time.sleep(1.0)
    again = samples(scrape(run)[1])
    assert waited > 0 and value(again, "syndicate_oldest_due_seconds", **later) >= waited + 0.9, "it keeps growing"

    kind, text = scrape(run, "application/openmetrics-text; version=1.0.0")
    assert kind.startswith("application/openmetrics-text") and text.endswith("# EOF\n")
    assert run.get("/metrics", method="HEAD")[2] == b""


def test_the_scrape_on_the_metrics_page_is_what_the_daemon_answers(daemon: tuple[Running, Recorder, Site]) -> None:
    run, _rec, site = daemon
    site.post("2026-01-01-live.md", "---\ntitle: Live\ndate: 2026-01-01\n---\nWritten while it ran.\n")
    run.wait_for(lambda: bool(run.events("delivered")), what="the delivery")
    assert run.get("feed.xml")[0] == 200
    [block] = docblocks.checked_blocks(PAGE, "test_metrics.py")
    shown = VARIES.sub(r"\1 …", block.text)
    got = VARIES.sub(r"\1 …", scrape(run)[1])
    assert shown == got, f"docs/running/metrics.md shows another scrape; this one is:\n{got}"


def test_one_exposition_reports_each_site_it_is_given_and_two_share_nothing(tmp_path: Path) -> None:
    """What `syndicate host` will do: one process, many sites, each series labelled with its site."""
    clock = lambda: T0  # noqa: E731
    sites = []
    for name, pending in (("a", 1), ("b", 2)):
        store = SQLiteStore(tmp_path / f"{name}.db")
        store.add_deliveries([row(n, at=T0 - timedelta(minutes=n)) for n in range(1, pending + 1)])
        store.close()
        sites.append(SiteMetrics(f"https://{name}.example/", LedgerTally(SQLitePlace(tmp_path / f"{name}.db"), clock)))
    a, b = sites
    a.request_served(200)
    b.request_served(404)
    b.lease_taken(over=True)
    b.lease_taken(over=False)  # a first take, of a free lease: no takeover
    text = Exposition(lambda: sites).render("")[1].decode()
    assert text.count("# TYPE syndicate_deliveries gauge") == 1, "one family, a series per site"
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples_of(text)}

    def of(name: str, site: str, **labels: str) -> float:
        return got[(name, tuple(sorted({"site": f"https://{site}.example/", **labels}.items())))]

    lane = {"target": "hooks", "kind": "unknown", "state": "pending"}  # no cycle yet: no kinds from a config
    assert of("syndicate_deliveries", "a", **lane) == 1 and of("syndicate_deliveries", "b", **lane) == 2
    assert 120 <= of("syndicate_oldest_due_seconds", "b", target="hooks", kind="unknown") < 121
    assert of("syndicate_feed_requests_total", "a", status="200") == 1
    assert ("syndicate_feed_requests_total", (("site", "https://a.example/"), ("status", "404"))) not in got
    assert of("syndicate_lease_takeovers_total", "b") == 1 and of("syndicate_lease_takeovers_total", "a") == 0
    alone = Exposition(lambda: [SiteMetrics("https://c.example/")]).render("")[1].decode()
    assert "a.example" not in alone and 'site="https://c.example/"' in alone, "a registry of its own"


class CountingPlace(SQLitePlace):
    """A real SQLite ledger that counts how often it is opened (each open: one aggregate query)."""

    opened = 0

    def open(self, *, readonly: bool = False, token: int | None = None) -> Store:
        type(self).opened += 1
        return super().open(readonly=readonly, token=token)


def test_the_ledger_is_read_once_however_many_scrapes_until_it_is_stale_or_a_cycle_wrote(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "state.db").close()
    tally = LedgerTally(CountingPlace(tmp_path / "state.db"), lambda: T0, ttl=0.3)
    exposition = Exposition(lambda: [SiteMetrics("https://example.com/", tally)])
    for _ in range(5):
        exposition.render("")
    assert CountingPlace.opened == 1
    tally.forget()  # what a cycle that recorded something does
    exposition.render("")
    exposition.render("")
    assert CountingPlace.opened == 2
    time.sleep(0.35)
    exposition.render("")
    assert CountingPlace.opened == 3
