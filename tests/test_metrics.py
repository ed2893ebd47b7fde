"""`/metrics` of a running `syndicate run` (a real process, a real webhook receiver on 127.0.0.1),
scraped and read with prometheus-client's own parser, before and after a post is delivered: what
an operator's dashboard would show changes as the delivery happens. The scrape shown on
docs/running/metrics.md is this one, its timings aside."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import docblocks
from tests.conftest import CONFIG, REPO, Site
from tests.httpd import Recorder, recorder
from tests.test_daemon import Running, hook_config, start, stop

SITE = "https://example.com/"
PAGE = REPO / "docs" / "running" / "metrics.md"
# Timings, and what counts cycles (how many a saved file makes): not the same from run to run.
VARIES = re.compile(r"^(syndicate_(cycle_seconds|due_to_sent_seconds|builds_total|oldest_due_seconds)\S*) \S+$", re.M)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(run: Running, accept: str = "") -> tuple[str, str]:
    code, headers, body = run.get("/metrics", {"Accept": accept} if accept else None)
    assert code == 200 and headers["cache-control"] == "no-store", (code, headers)
    return headers["content-type"], body.decode()


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


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
