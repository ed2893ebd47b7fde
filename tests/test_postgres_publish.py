"""`publish` with the ledger in a real PostgreSQL 15 (``[store] url``), driven through the real
command line against real HTTP receivers on 127.0.0.1 that count what they get: once per post,
through two runs at once, SIGKILLs mid-delivery and a move from SQLite (`store migrate`); the
[store] section checked, and every database trouble one line without the password."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate.config import parse_settings
from syndicate.core.planning import PENDING, Delivery
from syndicate.deliver.postgres_store import PostgresStore, copy_ledger
from syndicate.deliver.sqlite_store import SQLiteStore
from syndicate.errors import ConfigError
from tests.conftest import CONFIG, FAKETIME_LIB, NOW, Site
from tests.httpd import Answer, Recorder, recorder
from tests.peers.fixtures import new_webhook_secret
from tests.pg import PASSWORD

SECRET = new_webhook_secret()
ENV = {"HOOK_SECRET": SECRET, "LEDGER_PASSWORD": PASSWORD}
SITE_NAME = "https://example.com/"  # the default [store] site: the site's [site] url


def hook(url: str) -> str:
    return f"""
[[targets]]
name = "hooks"
kind = "webhook"
url = "{url}"
secret_env = "HOOK_SECRET"
events = ["post.published"]
timeout = 10
"""


def store_section(url: str) -> str:
    return f'\n[store]\nurl = "{url}"\npassword_env = "LEDGER_PASSWORD"\n'


def write_posts(site: Site, count: int, start: int = 1) -> None:
    for n in range(start, start + count):
        site.post(f"p{n}.md", f"---\ntitle: Post {n}\ndate: 2024-06-{n:02d}\n---\nBody {n}.\n")


def ids_per_post(rec: Recorder) -> dict[str, set[str]]:
    """Post URL → the webhook-ids it arrived with (one id: delivered once, as receivers count)."""
    out: dict[str, set[str]] = defaultdict(set)
    for r in list(rec.requests):
        out[json.loads(r.body)["data"]["url"]].add(r.headers["webhook-id"])
    return dict(out)


def publish(site: Site, env: dict[str, str] | None = None) -> tuple[int, str]:
    run = site.run("publish", env={**ENV, **(env or {})})
    assert "Traceback" not in run.err, run.err
    return run.code, run.out + run.err


def ledger_rows(url: str) -> list[Delivery]:
    store = PostgresStore(url, PASSWORD, SITE_NAME, readonly=True)
    try:
        return store.deliveries()
    finally:
        store.close()


def test_publish_records_in_postgres_and_sends_each_post_once(site: Site, pg_url: str) -> None:
    with recorder() as rec:
        site.config(CONFIG + hook(rec.url) + store_section(pg_url))
        write_posts(site, 3)
        code, out = publish(site, {})
        assert code == 0, out
        assert "3 recorded as baseline" in out, "no flood on the first run, as with SQLite"
        code, out = publish(site)
        assert code == 0 and not rec.requests, out
        write_posts(site, 2, start=4)
        code, out = site.run("publish", "--dry-run", env=ENV).code, ""
        assert code == 0 and not rec.requests, "a dry run sends nothing"
        code, out = publish(site)
        assert code == 0 and "published: 2 sent" in out, out
        code, out = publish(site)
        assert code == 0 and "published: 0 sent" in out, out
        assert sorted(ids_per_post(rec)) == ["https://example.com/blog/p4/", "https://example.com/blog/p5/"]
        assert all(len(ids) == 1 for ids in ids_per_post(rec).values()) and len(rec.requests) == 2
    rows = ledger_rows(pg_url)
    assert sorted(d.state for d in rows) == ["baseline"] * 3 + ["sent"] * 2
    assert not (site.root / ".syndicate" / "state.db").exists(), "nothing went to the SQLite file"
    status = site.run("status", env=ENV)
    assert status.code == 0 and "3 baseline, 2 sent" in status.out, status
    assert site.run("retry", env=ENV).code == 0


def test_two_publish_runs_at_once_one_delivers_the_other_is_told(site: Site, pg_url: str) -> None:
    with recorder(default=Answer(delay=0.5)) as rec:
        site.config(CONFIG + hook(rec.url) + store_section(pg_url))
        assert publish(site)[0] == 0  # the first run: a ledger, nothing to send
        write_posts(site, 3)
        first = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "publish", "--now", NOW.isoformat()],
            cwd=site.root,
            env={**os.environ, **ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not rec.requests:  # the first is delivering (and holds the lock)
                assert time.monotonic() < deadline and first.poll() is None, first.communicate()
                time.sleep(0.05)
            code, out = publish(site)
            assert code == 5, out
            assert f"another syndicate (pid {first.pid} on " in out
            assert "is delivering for this site; wait for it to finish, or stop it first" in out
            out1, err1 = first.communicate(timeout=120)
        finally:
            first.kill()
        assert first.returncode == 0, out1 + err1
    assert "published: 3 sent" in out1
    assert len(rec.requests) == 3 and all(len(ids) == 1 for ids in ids_per_post(rec).values())


def test_sigkill_mid_delivery_then_a_rerun_delivers_each_post_once(site: Site, pg_url: str) -> None:
    rng = random.Random(24)
    posts = 6
    with recorder(default=Answer(delay=0.25)) as rec:
        site.config(CONFIG + hook(rec.url) + store_section(pg_url))
        assert publish(site)[0] == 0
        write_posts(site, posts)
        kills = 0
        for _ in range(4):
            proc = subprocess.Popen(
                [sys.executable, "-m", "syndicate", "publish", "--now", NOW.isoformat()],
                cwd=site.root,
                env={**os.environ, **ENV},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            seen, deadline = len(rec.requests), time.monotonic() + 60
            while len(rec.requests) == seen and proc.poll() is None:  # until it is delivering
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3))  # before, during or after a request's answer
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=60)
            assert proc.stderr is not None
            err = proc.stderr.read().decode()
            proc.stderr.close()
            assert "Traceback" not in err, err
        for _ in range(5):  # then clean runs until nothing is open
            site.run("retry", env=ENV)
            code, out = publish(site)
            assert code in (0, 4), out
            if not any(d.state in ("pending", "sending", "failed") for d in ledger_rows(pg_url)):
                break
        got = ids_per_post(rec)
    assert kills >= 3, "the runs were killed while delivering"
    assert len(got) == posts, sorted(got)
    assert all(len(ids) == 1 for ids in got.values()), got  # a repeat carries the same webhook-id
    assert sorted(d.state for d in ledger_rows(pg_url)) == ["sent"] * posts


def test_migrate_a_sqlite_ledger_then_publish_sends_nothing_again(site: Site, pg_url: str) -> None:
    with recorder() as rec:
        site.config(CONFIG + hook(rec.url))
        assert publish(site)[0] == 0
        write_posts(site, 3)
        code, out = publish(site)
        assert code == 0 and "published: 3 sent" in out, out
        before = SQLiteStore(site.root / ".syndicate" / "state.db", readonly=True)
        try:
            identity, rows = before.identity(), before.deliveries()
        finally:
            before.close()
        site.config(CONFIG + hook(rec.url) + store_section(pg_url))  # [store] named before the move
        code, out = publish(site)
        assert code == 6 and "holds nothing of this site, but this site has published with the SQLite" in out, out
        assert f"copy it there first with `syndicate store migrate --to {pg_url}`" in out
        site.config(CONFIG + hook(rec.url))
        moved = site.run("store", "migrate", "--to", pg_url, "--password-env", "LEDGER_PASSWORD", env=ENV)
        assert moved.code == 0, moved
        assert f"ledger {identity.id[:8]}, 3 deliveries, 3 attempts, 3 posts, 1 targets" in moved.out
        assert f'url = "{pg_url}"' in moved.out and 'password_env = "LEDGER_PASSWORD"' in moved.out
        again = site.run("store", "migrate", "--to", pg_url, "--password-env", "LEDGER_PASSWORD", env=ENV)
        assert again.code == 2 and "already holds a ledger for this site" in again.err, again
        site.config(CONFIG + hook(rec.url) + store_section(pg_url))
        code, out = publish(site)
        assert code == 0 and "published: 0 sent" in out, out
        assert len(rec.requests) == 3, "nothing re-sent after the move"
        write_posts(site, 1, start=4)
        code, out = publish(site)
        assert code == 0 and "published: 1 sent" in out, out
        assert len(rec.requests) == 4 and all(len(ids) == 1 for ids in ids_per_post(rec).values())
    moved_rows = {d.id: d for d in ledger_rows(pg_url)}
    assert all(moved_rows[d.id] == d for d in rows), "every row as it was, ids and dates included"
    store = PostgresStore(pg_url, PASSWORD, SITE_NAME, readonly=True)
    try:
        assert store.identity().id == identity.id and store.identity().clock_id == identity.clock_id
    finally:
        store.close()


def test_migrated_key_counters_go_on_after_the_largest_key(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "state.db"
    lite = SQLiteStore(path)
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    rows = [Delivery(f"msg_{n}", f"https://e.com/{n}/", "sky", "post.published", "r1", PENDING, now) for n in range(3)]
    lite.add_deliveries(rows)
    far = datetime(2030, 1, 1, tzinfo=UTC)  # keys given by a clock far ahead: the counter must pass them
    keys = [lite.mark_sending(d.id, far, "d", keyed=True).key_seq for d in rows[:2]]
    counts = copy_ledger(lite.db, pg_url, PASSWORD, "blog")
    lite.close()
    assert counts == {"meta": 4, "targets": 0, "posts": 0, "deliveries": 3, "attempts": 2}
    store = PostgresStore(pg_url, PASSWORD, "blog")
    try:
        got = store.mark_sending("msg_2", now, "d", keyed=True).key_seq
        assert got is not None and all(k is not None and got > k for k in keys)
        assert [a.digest for a in store.attempts("msg_0")] == ["d"]
    finally:
        store.close()


def test_the_store_section_is_checked() -> None:
    def refused(store: str) -> str:
        with pytest.raises(ConfigError) as e:
            parse_settings(CONFIG + store)
        return str(e.value)

    line = refused('[store]\nurl = "postgresql://ann:hunter22@db.lan/ledger"\n')
    assert "hunter22" not in line
    assert "put it in an environment variable named by [store] password_env" in line
    assert "hunter22" not in refused('[store]\nurl = "postgresql://ann@db.lan/ledger?password=hunter22"\n')
    assert "did you mean 'password_env'" in refused('[store]\nurl = "postgresql://db/l"\npasword_env = "X"\n')
    assert "must be a postgresql:// URL" in refused('[store]\nurl = "mysql://ann@db/l"\n')
    assert "must name a host and a database" in refused('[store]\nurl = "postgresql://ann@db.lan"\n')
    assert "[store] url is required" in refused('[store]\npassword_env = "X"\n')
    assert "environment variable's name" in refused('[store]\nurl = "postgresql://db/l"\npassword_env = "A B"\n')
    assert "[store] lease must be seconds from 1 to 3600" in refused('[store]\nurl = "postgresql://db/l"\nlease = 0\n')
    assert parse_settings(CONFIG + '[store]\nurl = "postgresql://db/l"\nlease = 5\n').store.lease == 5  # type: ignore[union-attr]
    ok = parse_settings(CONFIG + '[store]\nurl = "postgresql://ann@db.lan:5433/ledger"\n')
    assert ok.store is not None and ok.store.url == "postgresql://ann@db.lan:5433/ledger"
    assert parse_settings(CONFIG).store is None, "no [store]: the SQLite ledger, as before"


def test_check_says_whether_the_database_answers(site: Site, pg_url: str) -> None:
    write_posts(site, 1)
    site.config(CONFIG + hook("http://127.0.0.1:9/") + store_section(pg_url))
    unset = site.run("check", env={"HOOK_SECRET": SECRET})
    assert unset.code == 2 and "[store] password_env names LEDGER_PASSWORD, which is not set here" in unset.err
    offline = site.run("check", env=ENV)
    assert offline.code == 0 and "store:" not in offline.out, offline
    online = site.run("check", "--connect", env=ENV)
    assert online.code == 0, online
    assert f"store: {pg_url} (site '{SITE_NAME}'): connected; no ledger of this site yet" in online.out
    wrong = site.run("check", "--connect", env={**ENV, "LEDGER_PASSWORD": "guess-" + PASSWORD})
    assert wrong.code == 6 and "password authentication failed" in wrong.err, wrong
    assert "guess-" not in wrong.out + wrong.err
    with_password = pg_url.replace("syndicate@", f"syndicate:{PASSWORD}@")
    site.config(CONFIG + hook("http://127.0.0.1:9/") + f'\n[store]\nurl = "{with_password}"\n')
    refused = site.run("check", env=ENV)
    assert refused.code == 2 and PASSWORD not in refused.out + refused.err
    assert "put it in an environment variable named by [store] password_env" in refused.err


def test_a_wrong_password_or_no_server_stops_publish_with_one_line(site: Site, pg_url: str) -> None:
    write_posts(site, 1)
    site.config(CONFIG + hook("http://127.0.0.1:9/") + store_section(pg_url))
    code, out = publish(site, {"LEDGER_PASSWORD": "guess-" + PASSWORD})
    assert code == 6 and "guess-" not in out, out
    assert out.strip().splitlines()[-1].startswith(f"error: {pg_url} (site '{SITE_NAME}'): cannot connect")
    site.config(CONFIG + hook("http://127.0.0.1:9/") + store_section(pg_url.rsplit(":", 1)[0] + ":1/x"))
    code, out = publish(site)
    assert code == 6 and "that PostgreSQL is running" in out and PASSWORD not in out, out


@pytest.mark.parametrize("command", ["status", "retry"])
def test_a_wrong_password_or_no_server_is_one_line_in_status_and_retry(site: Site, pg_url: str, command: str) -> None:
    """The database's counterpart of a corrupt SQLite file (test_delivery_promise): one line, exit 6,
    in each command that reads the ledger (publish above, check and run in their own tests)."""
    write_posts(site, 1)
    site.config(CONFIG + hook("http://127.0.0.1:9/") + store_section(pg_url))
    assert publish(site)[0] == 0  # the site has published: its ledger is in the database
    for env, url, why in (
        ({**ENV, "LEDGER_PASSWORD": "guess-" + PASSWORD}, pg_url, "the password is wrong or missing"),
        (ENV, pg_url.rsplit(":", 1)[0] + ":1/x", "that PostgreSQL is running"),
    ):
        site.config(CONFIG + hook("http://127.0.0.1:9/") + store_section(url))
        run = site.run(command, env=env)
        assert run.code == 6 and "Traceback" not in run.err, run
        assert "guess-" not in run.out + run.err and PASSWORD not in run.out + run.err
        [line] = [x for x in run.err.splitlines() if x.startswith("error:")]
        assert line.startswith(f"error: {url} (site '{SITE_NAME}'): cannot connect") and why in line, line


def test_without_psycopg_the_store_is_one_line_saying_what_to_install(site: Site, tmp_path: Path) -> None:
    shim = tmp_path / "no-psycopg"
    shim.mkdir()
    (shim / "psycopg.py").write_text("raise ImportError('psycopg is not installed here')\n")
    env = {**ENV, "PYTHONPATH": f"{shim}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    write_posts(site, 1)
    site.config(CONFIG + hook("http://127.0.0.1:9/") + store_section("postgresql://syndicate@127.0.0.1:9/ledger"))
    line = "[store] url needs psycopg, which is not installed: pip install 'syndicate[postgres]'"
    check = site.run("check", "--connect", env=env)
    assert check.code == 2 and line in check.err and "Traceback" not in check.err, check
    run = site.run("publish", env=env)
    assert run.code == 2 and line in run.err and "Traceback" not in run.err, run
    build = site.run("build", env=env)
    assert build.code == 0, "a build goes on without the ledger's links"


def skewed_env(seconds: int) -> dict[str, str]:
    """The environment that puts a process's wall clock ``seconds`` off under libfaketime
    (tests/conftest.py), its monotonic clocks left alone: a host whose clock is wrong (no NTP, a
    bad RTC) has it wrong in CLOCK_REALTIME only, and a monotonic clock moved back an hour on a
    machine up for less than that would read below zero."""
    return {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": f"{seconds:+d}", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@pytest.mark.parametrize(("store", "skew"), [("postgres", -3600), ("postgres", 3600), ("sqlite", -3600)])
def test_a_host_an_hour_off_signs_and_schedules_with_the_databases_clock(
    site: Site, pg_url: str, store: str, skew: int
) -> None:
    """A `publish` under libfaketime an hour off: with [store] url its webhook passes a Standard
    Webhooks receiver's 5-minute check and a retry is due at the database's time plus the
    backoff, with one line saying the clock is off; with SQLite the host's clock is the ledger's
    (the signature is an hour off and refused)."""
    from standardwebhooks import Webhook

    skewed = skewed_env(skew)
    with recorder(Answer(status=500)) as rec:
        extra = store_section(pg_url) if store == "postgres" else ""
        site.config(CONFIG + "\n[delivery]\nretry_schedule = [600]\n" + hook(rec.url) + extra)
        assert publish(site, skewed)[0] == 0  # the first run: a ledger, nothing to send
        write_posts(site, 1)
        started = datetime.now(UTC)
        code, out = publish(site, skewed)
        assert code == 4 and "1 to retry" in out, out  # 4: a delivery failed
        (request,) = rec.requests
        if store == "sqlite":
            with pytest.raises(Exception, match=r"too old|too new"):
                Webhook(SECRET).verify(request.body, request.headers)
            (row,) = [
                d
                for d in SQLiteStore(site.root / ".syndicate" / "state.db", readonly=True).deliveries()
                if d.state == "failed"
            ]
            assert "clock is" not in out
        else:
            Webhook(SECRET).verify(request.body, request.headers)  # raises when out of its 5 minutes
            way = "behind" if skew < 0 else "ahead of"
            assert f"this machine's clock is 3600 s {way} the database's" in out, out
            (row,) = [d for d in ledger_rows(pg_url) if d.state == "failed"]
        assert row.next_attempt_at is not None
        # due at the database's time plus the backoff (600 s, jittered by ±20 %); SQLite: the host's
        wait = (row.next_attempt_at - started).total_seconds() - (skew if store == "sqlite" else 0)
        assert 600 * 0.8 - 5 <= wait <= 600 * 1.2 + 5, (store, row.next_attempt_at, started)


def test_retry_from_a_host_an_hour_ahead_makes_it_due_by_the_databases_clock(site: Site, pg_url: str) -> None:
    """`syndicate retry` on a machine an hour ahead makes the delivery due now by the database's
    clock (the time the ledger keeps, not the machine's), and the next `publish` sends it."""
    with recorder(Answer(status=500)) as rec:
        site.config(CONFIG + "\n[delivery]\nretry_schedule = [600]\n" + hook(rec.url) + store_section(pg_url))
        assert publish(site)[0] == 0
        write_posts(site, 1)
        assert publish(site)[0] == 4  # failed: retried in ten minutes
        retried = site.run("retry", env={**ENV, **skewed_env(3600)})
        assert retried.code == 0, retried
        (row,) = [d for d in ledger_rows(pg_url) if d.state == "pending"]
        assert row.next_attempt_at is not None
        assert abs((row.next_attempt_at - datetime.now(UTC)).total_seconds()) < 60, "due now by the database's clock"
        code, out = publish(site)
        assert code == 0 and "published: 1 sent" in out, out
        assert len(rec.requests) == 2
