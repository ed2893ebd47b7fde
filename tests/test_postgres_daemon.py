"""`syndicate run` on a real PostgreSQL 15 (``[store] url``) holds its site by a lease: two daemons
for one site (two checkouts, as on two machines) and one database, a webhook receiver on 127.0.0.1
that counts what it gets. One delivers, the other stands by; SIGKILL the holder and the standby
takes over once the lease has expired; SIGSTOP it past its lease and the standby takes over, and
the old one, resumed, records and sends nothing and says it lost the lease; a `publish` while a
daemon holds the lease exits 5 naming it; a clean stop lets go of the lease at once. The lease
lasts 2 s here (30 s by default)."""

from __future__ import annotations

import io
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syndicate.deliver.postgres_store import Lease, PostgresStore
from syndicate.serve.lease import LeaseKeeper
from syndicate.serve.log import EventLog
from tests.conftest import CONFIG, Site
from tests.httpd import Answer, Recorder, recorder
from tests.pg import PASSWORD, Cluster
from tests.test_daemon import Running, start, stop
from tests.test_metrics import samples, value
from tests.test_postgres_publish import ENV, SITE_NAME, hook, ids_per_post, store_section

TTL = 2.0


def lease_section(url: str) -> str:
    return store_section(url) + f"lease = {TTL:g}\n"


def machine(root: Path, rec: Recorder, url: str) -> Site:
    """A checkout of the site (its own folder, output and cache), as on a machine of its own."""
    site = Site(root)
    site.content.mkdir(parents=True, exist_ok=True)
    site.config(CONFIG + hook(rec.url) + lease_section(url))
    return site


def post(sites: list[Site], n: int) -> None:
    for site in sites:
        site.post(f"p{n}.md", f"---\ntitle: Post {n}\ndate: 2024-06-{n:02d}\n---\nBody {n}.\n")


def said(run: Running, kind: str, text: str) -> bool:
    return any(text in e["message"] for e in run.events(kind))


def health(run: Running) -> tuple[int, dict[str, object]]:
    code, _, body = run.get("/healthz")
    return code, json.loads(body)


def known(url: str) -> list[str]:
    """The posts the site's ledger in the database knows."""
    store = PostgresStore(url, PASSWORD, SITE_NAME, readonly=True)
    try:
        return sorted(store.known_posts())
    finally:
        store.close()


def each_once(rec: Recorder, count: int) -> bool:
    got = ids_per_post(rec)
    return len(got) == count and len(rec.requests) == count and all(len(ids) == 1 for ids in got.values())


@pytest.fixture
def two(tmp_path: Path, pg_url: str) -> Iterator[tuple[Recorder, Site, Site]]:
    with recorder() as rec:
        yield rec, machine(tmp_path / "a", rec, pg_url), machine(tmp_path / "b", rec, pg_url)


def holder_then_standby(a: Site, b: Site) -> tuple[Running, Running]:
    first = start(a, env=ENV)
    first.wait_for(lambda: said(first, "lease", "took this site's lease"), what="the first to take the lease")
    second = start(b, env=ENV)
    second.wait_for(lambda: said(second, "standby", f"another syndicate (pid {first.proc.pid} on "), what="standby")
    return first, second


def test_one_delivers_the_standby_takes_over_after_a_sigkill(two: tuple[Recorder, Site, Site], pg_url: str) -> None:
    rec, a, b = two
    first, second = holder_then_standby(a, b)
    try:
        post([a, b], 1)
        post([a, b], 2)
        first.wait_for(lambda: each_once(rec, 2), what="two posts, each once")
        time.sleep(1.0)  # the standby looks every ttl/3: it sends nothing
        assert each_once(rec, 2) and not second.events("delivered")
        code, shown = health(second)
        assert code == 503 and shown["status"] == "standby", shown
        assert shown["lease"]["role"] == "standby" and f"pid {first.proc.pid} on " in shown["lease"]["holder"]  # type: ignore[index]
        code, shown = health(first)
        assert code == 200 and shown["lease"]["role"] == "holder" and shown["lease"]["expires"], shown  # type: ignore[index]
        assert value(samples(first.get("/metrics")[2].decode()), "syndicate_lease_takeovers_total") == 0  # free: taken
        refused = a.run("publish", env=ENV)
        assert refused.code == 5 and f"another syndicate (pid {first.proc.pid} on " in refused.err, refused
        assert "is delivering for this site" in refused.err

        killed = time.monotonic()
        assert stop(first, signal.SIGKILL) == -signal.SIGKILL
        post([b], 3)
        second.wait_for(lambda: said(second, "lease", "took this site's lease"), timeout=TTL + 10, what="takeover")
        waited = time.monotonic() - killed
        assert waited >= TTL / 2, f"taken {waited:.2f} s after the kill: before the lease expired"
        second.wait_for(lambda: each_once(rec, 3), what="the third post, once, from the standby")
        second.wait_for(lambda: bool(second.events("delivered")), what="the standby to log it")
        code, shown = health(second)
        assert code == 200 and shown["lease"]["role"] == "holder", shown  # type: ignore[index]
        scraped = samples(second.get("/metrics")[2].decode())  # the ledger in the database, as /metrics reads it
        assert value(scraped, "syndicate_lease_takeovers_total") == 1 and value(scraped, "syndicate_ledger_up") == 1
        assert value(scraped, "syndicate_deliveries", target="hooks", kind="webhook", state="sent") == 3
    finally:
        stop(first, signal.SIGKILL)
        assert stop(second) == 0
    assert not any("Traceback" in line for line in first.raw + second.raw)
    started = time.monotonic()  # a clean stop let go of the lease: publish goes on at once
    done = b.run("publish", env=ENV)
    assert done.code == 0 and "published: 0 sent" in done.out, done
    assert time.monotonic() - started < 10 and each_once(rec, 3)


def test_a_paused_holder_is_taken_over_and_once_resumed_sends_nothing(
    two: tuple[Recorder, Site, Site], pg_url: str
) -> None:
    rec, a, b = two
    first, second = holder_then_standby(a, b)
    try:
        first.proc.send_signal(signal.SIGSTOP)
        second.wait_for(lambda: said(second, "lease", "took this site's lease"), timeout=TTL + 10, what="takeover")
        post([a, b], 1)  # the paused one has it too: it would send it, once resumed, if nothing stopped it
        second.wait_for(lambda: each_once(rec, 1), what="the post, once")
        first.proc.send_signal(signal.SIGCONT)
        first.wait_for(lambda: said(first, "lease", "lost this site's lease"), what="the old holder to say so")
        assert said(first, "lease", f"pid {second.proc.pid} on ")
        post([a, b], 2)
        second.wait_for(lambda: each_once(rec, 2), what="the next post, once")
        first.wait_for(lambda: len(first.events("built")) >= 2, what="the old holder to build the new post")
        time.sleep(1.0)
        assert each_once(rec, 2) and not first.events("delivered"), "the resumed one sent nothing"
        code, shown = health(first)
        assert code == 503 and shown["status"] == "standby", shown
    finally:
        first.proc.send_signal(signal.SIGCONT)
        assert stop(first) == 0 and stop(second) == 0
    assert not any("Traceback" in line for line in first.raw + second.raw)


def test_a_holder_cut_off_from_the_database_stops_delivering_then_takes_the_lease_again(
    tmp_path: Path, pg_url: str, pg_cluster: Cluster
) -> None:
    with recorder() as rec:
        a = machine(tmp_path / "a", rec, pg_url)
        run = start(a, env=ENV)
        run.wait_for(lambda: said(run, "lease", "took this site's lease"), what="the lease")
        db = pg_url.rsplit("/", 1)[1]
        try:
            pg_cluster.admin("ALTER ROLE syndicate NOLOGIN")
            pg_cluster.admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname='{db}'")
            run.wait_for(lambda: said(run, "lease", "cannot reach the lease: "), what="the renewal to fail")
            run.wait_for(lambda: said(run, "lease", "delivering stopped"), timeout=TTL + 10, what="the expiry")
            code, shown = health(run)
            lease = shown["lease"]
            assert code == 503 and lease["role"] == "standby" and "cannot connect" in lease["problem"], shown  # type: ignore[index]
            assert PASSWORD not in json.dumps(shown) + "\n".join(run.raw)
        finally:
            pg_cluster.admin("ALTER ROLE syndicate LOGIN")
        run.wait_for(lambda: said(run, "lease", "the database answers again"), what="the database back")
        run.wait_for(lambda: len([e for e in run.events("lease") if "took" in e["message"]]) == 2, what="again")
        post([a], 1)
        run.wait_for(lambda: each_once(rec, 1), what="the post, once")
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)


def test_a_daemon_started_while_the_database_refuses_it_holds_delivery_until_it_answers(
    tmp_path: Path, pg_url: str, pg_cluster: Cluster
) -> None:
    with recorder() as rec:
        a = machine(tmp_path / "a", rec, pg_url)
        pg_cluster.admin("ALTER ROLE syndicate NOLOGIN")
        try:
            run = start(a, env=ENV)
            run.wait_for(lambda: said(run, "held", "cannot connect to the delivery ledger"), what="held")
            assert health(run)[1]["status"] == "held"
        finally:
            pg_cluster.admin("ALTER ROLE syndicate LOGIN")
        post([a], 1)  # the next cycle takes the ledger, then the lease (a new ledger: p1 its baseline)
        run.wait_for(lambda: said(run, "resumed", "is this site's again: delivering"), what="resumed")
        run.wait_for(lambda: bool(known(pg_url)), what="the ledger to record p1")
        post([a], 2)
        run.wait_for(lambda: each_once(rec, 1), what="the next post, once")
        assert said(run, "lease", "took this site's lease") and stop(run) == 0


def test_a_ledger_deleted_from_the_database_while_running_holds_delivery(
    tmp_path: Path, pg_url: str, pg_cluster: Cluster
) -> None:
    with recorder() as rec:
        a = machine(tmp_path / "a", rec, pg_url)
        run = start(a, env=ENV)
        try:
            post([a], 1)
            run.wait_for(lambda: each_once(rec, 1) and (a.root / ".syndicate" / "published.json").exists())
            db = pg_url.rsplit("/", 1)[1]
            tables = ("meta", "deliveries", "posts", "targets", "attempts")  # in one transaction
            pg_cluster.admin(";".join(f"DELETE FROM {t} WHERE site='{SITE_NAME}'" for t in tables), db=db)
            post([a], 2)
            run.wait_for(lambda: said(run, "held", "lost while running: the delivery ledger"), what="held")
            # why, as the site's marks tell it: the ledger is missing (rows gone between cycles) or is
            # not the one it published with (gone while a cycle ran, the ledger's id made anew)
            assert said(run, "held", "but this site has published before")
            time.sleep(0.5)
            assert each_once(rec, 1) and health(run)[1]["status"] == "held", "the new post waits"
        finally:
            assert stop(run) == 0


def test_a_daemon_whose_config_gains_a_store_delivers_nothing_until_restarted(tmp_path: Path, pg_url: str) -> None:
    with recorder() as rec:
        site = Site(tmp_path / "s")
        site.content.mkdir(parents=True)
        site.config(CONFIG + hook(rec.url))  # the SQLite ledger
        run = start(site, env=ENV)
        try:
            site.config(CONFIG + hook(rec.url) + lease_section(pg_url))
            post([site], 1)
            run.wait_for(lambda: said(run, "held", "the config names another delivery ledger"), what="held")
            time.sleep(0.5)
            assert not rec.requests
            site.config(CONFIG + hook(rec.url))
            run.wait_for(lambda: each_once(rec, 1), what="the post, once back on the file")
            assert said(run, "resumed", "the config names the delivery ledger")
        finally:
            assert stop(run) == 0


def test_retry_beside_the_holder_is_sent_within_a_renewal(tmp_path: Path, pg_url: str) -> None:
    with recorder(Answer(status=500)) as rec:
        a = machine(tmp_path / "a", rec, pg_url)
        a.config(CONFIG + hook(rec.url) + "\n[delivery]\nretry_schedule = [3600]\n" + lease_section(pg_url))
        run = start(a, env=ENV)
        try:
            post([a], 1)
            run.wait_for(lambda: bool(run.events("retry")), what="the failed delivery")
            assert a.run("retry", env=ENV).code == 0
            run.wait_for(lambda: bool(run.events("delivered")), timeout=TTL + 10, what="the retry, sent")
            assert len(rec.requests) == 2 and len(ids_per_post(rec)["https://example.com/blog/p1/"]) == 1
        finally:
            assert stop(run) == 0


def test_retry_beside_a_holder_with_a_long_lease_is_sent_within_seconds(tmp_path: Path, pg_url: str) -> None:
    """As on SQLite (the file's mtimes, every 2 s): the holder reads the site's nudges between its
    renewals, so a long lease (renewed every 20 s here) does not delay a `retry`."""
    with recorder(Answer(status=500)) as rec:
        a = machine(tmp_path / "a", rec, pg_url)
        long_lease = store_section(pg_url) + "lease = 60\n"
        a.config(CONFIG + hook(rec.url) + "\n[delivery]\nretry_schedule = [3600]\n" + long_lease)
        run = start(a, env=ENV)
        try:
            post([a], 1)
            run.wait_for(lambda: bool(run.events("retry")), what="the failed delivery")
            assert a.run("retry", env=ENV).code == 0
            run.wait_for(lambda: bool(run.events("delivered")), timeout=8, what="the retry, sent within seconds")
            assert len(rec.requests) == 2 and len(ids_per_post(rec)["https://example.com/blog/p1/"]) == 1
        finally:
            assert stop(run) == 0


def test_a_holder_past_its_own_deadline_but_renewed_in_time_delivers_again(pg_url: str) -> None:
    out = io.StringIO()
    taken: list[bool] = []
    keeper = LeaseKeeper(Lease(pg_url, PASSWORD, SITE_NAME, 30.0), EventLog(stream=out), lambda: taken.append(True))
    try:
        keeper.look()
        assert taken and keeper.delivering() and keeper.token is not None
        keeper.lease._until = 0.0  # its own clock passed the lease (a pause, a slow database) ...
        keeper._note_expired()
        assert not keeper.delivering() and keeper.token is None and "delivering stopped" in out.getvalue()
        keeper.look()  # ... but the database's had not: renewed, under the same token
        assert keeper.delivering() and "renewed this site's lease before anyone took it" in out.getvalue()
        assert len(taken) == 1 and keeper.health()["role"] == "holder"
    finally:
        keeper.stop()


def test_a_daemon_an_hour_behind_signs_with_the_databases_clock_and_says_so_once(tmp_path: Path, pg_url: str) -> None:
    """`syndicate run` under libfaketime an hour behind: every webhook it sends passes a Standard
    Webhooks receiver's 5-minute check, and its log says once (not every cycle) that its clock is off."""
    from standardwebhooks import Webhook

    from tests.test_postgres_publish import SECRET, skewed_env

    with recorder() as rec:
        site = machine(tmp_path / "a", rec, pg_url)
        run = start(site, env={**ENV, **skewed_env(-3600)})
        try:
            run.wait_for(lambda: said(run, "lease", "took this site's lease"), what="the lease")
            for n in (1, 2):
                post([site], n)
                run.wait_for(lambda n=n: each_once(rec, n), what=f"post {n}, once")  # type: ignore[misc]
        finally:
            assert stop(run) == 0
    for request in rec.requests:
        Webhook(SECRET).verify(request.body, request.headers)  # raises when out of its 5 minutes
    off = [e for e in run.events("warning") if "this machine's clock is 3600 s behind the database's" in e["message"]]
    assert len(off) == 1, run.raw[-30:]
    assert not any("Traceback" in line for line in run.raw)
