"""`syndicate host DIR`: every site under a folder in one process, each site's feeds served by the
Host header of its feed URL, sites added and removed while it runs, a broken site reported while
the others go on; with ``--store`` on a real PostgreSQL, two hosts share the sites and each post
reaches each site's webhook receiver once, and a host killed leaves its sites to the other."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Site
from tests.httpd import Recorder, recorder
from tests.test_daemon import Running, _reader, stop
from tests.test_postgres_publish import ENV, hook, ids_per_post

TTL = 2.0


def site_config(name: str, extra: str = "", url: str | None = None) -> str:
    return (
        f'[site]\ntitle = "{name.title()}"\nurl = "{url or f"https://{name}.example/"}"\nauthor = "A"\n'
        'permalink = "/{slug}/"\n' + extra
    )


def make_site(root: Path, name: str, extra: str = "", url: str | None = None) -> Site:
    site = Site(root / name)
    site.content.mkdir(parents=True, exist_ok=True)
    site.config(site_config(name, extra, url))
    site.post("hello.md", f"---\ntitle: Hello from {name}\ndate: 2024-06-01\n---\nBody of {name}.\n")
    return site


def start_host(root: Path, *args: str, env: dict[str, str] | None = None) -> Running:
    cmd = [sys.executable, "-m", "syndicate", "host", str(root), "--port", "0", "--log-format", "json", *args]
    full_env = {**os.environ, "PYTHONWARNINGS": "error", **(env or {})}
    proc = subprocess.Popen(cmd, env=full_env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    run = Running(proc)
    run.thread = threading.Thread(target=_reader, args=(run,), daemon=True)
    run.thread.start()
    run.wait_for(lambda: bool(run.events("serving")), what="the host to serve")
    run.url = run.events("serving")[0]["url"]
    return run


def fetch(run: Running, host: str, path: str) -> tuple[int, bytes]:
    req = urllib.request.Request(run.url + path.lstrip("/"), headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        body = e.read()
        e.close()
        return e.code, body


def built(run: Running, site: str) -> bool:
    return any(e.get("site") == site for e in run.events("built"))


def said(run: Running, kind: str, site: str, text: str) -> bool:
    return any(e.get("site") == site and text in e["message"] for e in run.events(kind))


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    root = tmp_path / "sites"
    root.mkdir()
    return root


def test_each_site_is_served_by_its_host_name_and_a_broken_one_leaves_the_others_going(host_dir: Path) -> None:
    make_site(host_dir, "alpha")
    make_site(host_dir, "beta", url="https://shared.example/beta/")
    broken = make_site(host_dir, "gamma")
    (broken.root / "config" / "syndicate.toml").write_text("[site\n")
    (host_dir / "notes").mkdir()  # a folder without a config is no site
    odd = make_site(host_dir, "odd\nname")  # a name that would start a log line of its own
    (odd.root / "config" / "syndicate.toml").write_text("[site\n")
    run = start_host(host_dir)
    try:
        run.wait_for(lambda: built(run, "alpha") and built(run, "beta"), what="both sites built")
        code, body = fetch(run, "alpha.example", "/feed.xml")
        assert code == 200 and b"Hello from alpha" in body and b"Hello from beta" not in body
        code, body = fetch(run, "ALPHA.example:8443", "/atom.xml")  # any port, any case: the host name decides
        assert code == 200 and b"Hello from alpha" in body
        code, body = fetch(run, "shared.example", "/beta/feed.json")  # the feed URL's path is the site's root
        assert code == 200 and json.loads(body)["items"][0]["title"] == "Hello from beta"
        assert fetch(run, "shared.example", "/feed.json")[0] == 404  # outside beta's path: no site
        assert fetch(run, "nobody.example", "/feed.xml")[0] == 404
        assert fetch(run, "gamma.example", "/feed.xml")[0] == 404

        assert any(e.get("site") == "odd\\nname" for e in run.events("error"))
        assert not any(line.startswith("name") for line in run.raw), "a folder's name started a log line"
        errors = [e for e in run.events("error") if e.get("site") == "gamma"]
        assert len(errors) == 1 and "not valid TOML" in errors[0]["message"]
        assert "the other sites go on" in errors[0]["message"]
        code, body = fetch(run, "127.0.0.1", "/healthz")
        health = json.loads(body)
        assert code == 200 and health["status"] == "degraded", health
        assert health["sites"]["alpha"]["status"] == "ok" and health["sites"]["gamma"]["status"] == "broken"
        assert "notes" not in health["sites"]
        code, body = fetch(run, "alpha.example", "/healthz")  # a site's own /healthz, by its host name
        assert code == 200 and json.loads(body)["status"] == "ok"

        # The broken config fixed: started at the next look, the others untouched.
        broken.config(site_config("gamma"))
        run.wait_for(lambda: built(run, "gamma"), what="the fixed site built")
        code, body = fetch(run, "gamma.example", "/feed.xml")
        assert code == 200 and b"Hello from gamma" in body
        assert len([e for e in run.events("built") if e.get("site") == "alpha"]) == 1, "alpha was built again"
    finally:
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)
    stopped = {e.get("site") for e in run.events("stopped")}
    assert {"alpha", "beta", "gamma", None} <= stopped  # each site, then the host


def test_a_site_added_later_is_started_and_one_removed_is_stopped(host_dir: Path) -> None:
    make_site(host_dir, "alpha")
    run = start_host(host_dir)
    try:
        run.wait_for(lambda: built(run, "alpha"), what="alpha built")
        added = make_site(host_dir, "delta")
        run.wait_for(lambda: built(run, "delta"), what="the added site built")
        assert fetch(run, "delta.example", "/feed.xml")[0] == 200
        added.post("second.md", "---\ntitle: Second of delta\ndate: 2024-06-02\n---\nMore.\n")
        run.wait_for(lambda: b"Second of delta" in fetch(run, "delta.example", "/feed.xml")[1], what="a save")
        added.root.rename(host_dir.parent / "delta-removed")  # as `mv` or a checkout does: at once, whole
        run.wait_for(lambda: said(run, "site", "delta", "stopping: its folder is gone"), what="the site dropped")
        time.sleep(0.5)
        assert not added.root.exists(), "the stopped site wrote into the folder after it was removed"
        shutil.rmtree(host_dir.parent / "delta-removed")
        assert fetch(run, "delta.example", "/feed.xml")[0] == 404
        assert fetch(run, "alpha.example", "/feed.xml")[0] == 200
        health = json.loads(fetch(run, "127.0.0.1", "/healthz")[1])
        assert list(health["sites"]) == ["alpha"] and health["status"] == "ok"
    finally:
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)


def test_a_new_post_reaches_each_sites_receiver_once(host_dir: Path) -> None:
    with recorder() as rec_a, recorder() as rec_b:
        a = make_site(host_dir, "alpha", hook(rec_a.url))
        b = make_site(host_dir, "beta", hook(rec_b.url))
        run = start_host(host_dir, env=ENV)
        try:
            run.wait_for(lambda: built(run, "alpha") and built(run, "beta"), what="both built")
            a.post("new.md", "---\ntitle: New on alpha\ndate: 2024-06-03\n---\nNews.\n")
            b.post("new.md", "---\ntitle: New on beta\ndate: 2024-06-03\n---\nNews.\n")
            run.wait_for(lambda: len(rec_a.requests) == 1 and len(rec_b.requests) == 1, what="one delivery each")
            time.sleep(1.0)
            assert len(rec_a.requests) == 1 and len(rec_b.requests) == 1
            assert json.loads(rec_a.requests[0].body)["data"]["title"] == "New on alpha"
            assert json.loads(rec_b.requests[0].body)["data"]["title"] == "New on beta"
            # The host's /metrics: every site's series, each labelled with its site.
            from prometheus_client.parser import text_string_to_metric_families

            code, body = fetch(run, "127.0.0.1", "/metrics")
            samples = [s for f in text_string_to_metric_families(body.decode()) for s in f.samples]
            sent = {
                s.labels["site"]: s.value
                for s in samples
                if s.name == "syndicate_deliveries" and s.labels["state"] == "sent"
            }
            assert code == 200 and sent == {"https://alpha.example/": 1.0, "https://beta.example/": 1.0}, sent
            code, body = fetch(run, "alpha.example", "/metrics")  # a site's own, by its host name
            assert code == 200 and b'site="https://alpha.example/"' in body and b"beta.example" not in body
        finally:
            assert stop(run) == 0
        # Each site's ledger is its own: `status` in its folder says what went where.
        shown = subprocess.run(
            [sys.executable, "-m", "syndicate", "status"], cwd=a.root, capture_output=True, text=True, timeout=60
        )
        assert shown.returncode == 0 and "hooks" in shown.stdout, shown


def test_a_sites_backfill_does_not_hold_up_another_sites_new_post(host_dir: Path) -> None:
    """One slot (--jobs 1), a site with 30 new posts to a receiver that takes 0.2 s each (6 s in all):
    the other site's post, saved just after, goes out within a turn, not after the 30."""
    from tests.httpd import Answer

    with recorder(default=Answer(delay=0.2)) as slow, recorder() as quick:
        busy = make_site(host_dir, "busy", hook(slow.url))
        other = make_site(host_dir, "other", hook(quick.url))
        run = start_host(host_dir, "--jobs", "1", env=ENV)
        try:
            run.wait_for(lambda: built(run, "busy") and built(run, "other"), what="both built")
            for n in range(30):
                busy.post(f"b{n:02d}.md", f"---\ntitle: Busy {n}\ndate: 2024-06-03\n---\nNews {n}.\n")
            run.wait_for(lambda: len(slow.requests) >= 3, what="the backfill under way")
            saved = time.monotonic()
            other.post("news.md", "---\ntitle: Other news\ndate: 2024-06-03\n---\nNews.\n")
            run.wait_for(lambda: len(quick.requests) == 1, what="the other site's post", timeout=20)
            waited = time.monotonic() - saved
            assert len(slow.requests) < 30, "the other site's post waited for the whole backfill"
            assert waited < 4, f"{waited:.1f} s for a post while another site delivered"
            run.wait_for(lambda: len(slow.requests) == 30, what="the rest of the backfill", timeout=30)
            time.sleep(0.5)
            got = ids_per_post(slow)
            assert len(got) == 30 and all(len(ids) == 1 for ids in got.values()) and len(slow.requests) == 30
        finally:
            assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)


def test_with_a_store_a_site_keeping_its_ledger_on_disk_is_not_run(host_dir: Path, pg_url: str) -> None:
    from tests.test_postgres_publish import store_section

    make_site(host_dir, "alpha", store_section(pg_url))
    make_site(host_dir, "local")  # its ledger would be on each machine: delivered by every host
    run = start_host(host_dir, "--store", pg_url, env=ENV)
    try:
        run.wait_for(lambda: built(run, "alpha"), what="the site in the store built")
        run.wait_for(lambda: bool([e for e in run.events("error") if e.get("site") == "local"]), what="refused")
        line = next(e for e in run.events("error") if e.get("site") == "local")["message"]
        assert f'add [store] url = "{pg_url}"' in line and "store migrate" in line
        assert "LEDGER" not in line and "postgres:" not in line.replace("postgresql:", "")  # no secret
    finally:
        assert stop(run) == 0


def test_the_sites_of_a_host_keep_their_leases_on_one_connection(host_dir: Path, pg_url: str) -> None:
    """PostgreSQL allows 100 connections by default: a host of many sites must not hold one each."""
    import psycopg

    from tests.pg import PASSWORD
    from tests.test_postgres_publish import store_section

    names = [f"site{n}" for n in range(6)]
    for name in names:
        make_site(host_dir, name, store_section(pg_url) + f"lease = {TTL:g}\n")
    run = start_host(host_dir, "--store", pg_url, env=ENV)
    try:
        run.wait_for(lambda: all(built(run, n) for n in names), what="every site built")
        run.wait_for(lambda: all(said(run, "lease", n, "took this site's lease") for n in names), what="the leases")
        time.sleep(TTL)  # a few renewals of each lease
        with psycopg.connect(pg_url, password=PASSWORD, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'syndicate' AND datname = current_database()"
            ).fetchone()
        assert row is not None
        assert row[0] <= 2, f"{row[0]} connections for {len(names)} sites' leases"
    finally:
        assert stop(run) == 0


def shared_sites(root: Path, recs: list[Recorder], pg_url: str, names: list[str]) -> list[Site]:
    from tests.test_postgres_publish import store_section

    return [
        make_site(root, name, hook(rec.url) + store_section(pg_url) + f"lease = {TTL:g}\n")
        for name, rec in zip(names, recs, strict=True)
    ]


def test_two_hosts_share_the_sites_each_post_once_and_one_killed_leaves_its_sites_to_the_other(
    tmp_path: Path, pg_url: str
) -> None:
    names = ["alpha", "beta", "gamma"]
    with recorder() as r1, recorder() as r2, recorder() as r3:
        recs = [r1, r2, r3]
        one = shared_sites(tmp_path / "one", recs, pg_url, names)  # the same sites, checked out on two machines
        two = shared_sites(tmp_path / "two", recs, pg_url, names)
        first = start_host(tmp_path / "one", "--store", pg_url, "--name", "machine-one", env=ENV)
        second = start_host(tmp_path / "two", "--store", pg_url, "--name", "machine-two", env=ENV)
        try:
            first.wait_for(lambda: all(built(first, n) for n in names), what="every site built")
            second.wait_for(lambda: all(built(second, n) for n in names), what="every site built")
            for site in one + two:
                site.post("new.md", "---\ntitle: New\ndate: 2024-06-03\n---\nNews.\n")
            first.wait_for(lambda: all(len(r.requests) == 1 for r in recs), what="one delivery per site", timeout=30)

            def recorded() -> int:  # sent and recorded as sent (a kill before that is a resend with the same id)
                return sum("/new/" in e["message"] for run in (first, second) for e in run.events("delivered"))

            first.wait_for(lambda: recorded() == len(names), what="each delivery recorded")
            holders = {n: json.loads(fetch(first, "127.0.0.1", "/healthz")[1])["sites"][n]["lease"] for n in names}
            assert all(h["role"] in ("holder", "standby") for h in holders.values()), holders
            assert all(
                "machine-one" in h.get("holder", "") or "machine-two" in h.get("holder", "") for h in holders.values()
            )

            assert stop(first, signal.SIGKILL) == -signal.SIGKILL
            for site in two:
                site.post("later.md", "---\ntitle: Later\ndate: 2024-06-04\n---\nMore.\n")
            second.wait_for(
                lambda: all(len(r.requests) == 2 for r in recs),
                what="the later posts, from the survivor",
                timeout=TTL * 3 + 30,
            )
            time.sleep(TTL)
            for rec in recs:
                got = ids_per_post(rec)
                assert len(got) == 2 and all(len(ids) == 1 for ids in got.values()), got
                assert len(rec.requests) == 2
        finally:
            stop(first, signal.SIGKILL)
            assert stop(second) == 0
    assert not any("Traceback" in line for line in second.raw)


def test_host_help_and_a_missing_folder() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "syndicate", "host", "--help"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and "--store URL" in shown.stdout and "Host header" in shown.stdout
    gone = subprocess.run(
        [sys.executable, "-m", "syndicate", "host", "/nonexistent/sites"], capture_output=True, text=True, timeout=60
    )
    assert gone.returncode == 2 and "does not exist" in gone.stderr and "Traceback" not in gone.stderr
