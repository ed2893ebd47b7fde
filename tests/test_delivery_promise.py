"""The delivery promise where outside trials broke it: bursts, clocks that step back, a lost or
corrupt ledger, a stolen lock, exceptions inside client libraries, settings that overflow.

Every post reaches every target exactly once; a broken piece (a file, a target, a setting)
gets one clear line and never stops the rest. Each test drives the real command line (or
`publish()` in-process where a fault must be injected) against real receivers on 127.0.0.1.
A test of delivery runs with each store (`both_stores`: the ledger in SQLite, and in
PostgreSQL); a lost, emptied or restored ledger is the file's loss or the database's. What only
a file can suffer (corrupt bytes, a deleted lock file) has its PostgreSQL counterpart in
tests/test_postgres_*.py (a database that does not answer, a lock held by another session).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from atproto import Client  # type: ignore[import-untyped,unused-ignore]

from syndicate.core.model import TargetSettings
from syndicate.core.planning import plan_posts
from syndicate.deliver.fetch import Fetched
from syndicate.deliver.postgres_store import PostgresStore
from syndicate.deliver.sqlite_store import SQLiteStore
from syndicate.deliver.store import StoreError
from tests.conftest import AT_ONCE, CONFIG, Site, both_stores, faked
from tests.httpd import Answer, recorder
from tests.peers.fixtures import BlueskyPds, MastodonMock, WebhookReceiverFactory, new_webhook_secret
from tests.pg import PASSWORD as PG_PASSWORD
from tests.test_daemon import Running, start, stop
from tests.test_planning import post as planned_post

SECRET = new_webhook_secret()
HOOK_ENV = {"HOOK_SECRET": SECRET}


def hook_target(url: str, name: str = "hooks", timeout: float = 5) -> str:
    return f"""
[[targets]]
name = "{name}"
kind = "webhook"
url = "{url}"
secret_env = "HOOK_SECRET"
events = ["post.published", "post.updated", "post.deleted"]
timeout = {timeout}
"""


def write(site: Site, name: str, title: str, date: str = "2024-06-01") -> None:
    site.post(f"{name}.md", f"---\ntitle: {title}\ndate: {date}\n---\nBody of {title}.\n")


def publish(site: Site, *args: str, env: dict[str, str] | None = None, now: datetime | None = None) -> tuple[int, str]:
    run = site.run("publish", *args, env={**HOOK_ENV, **(env or {})}, now=now)
    assert "Traceback" not in run.err, run.err
    return run.code, run.out + run.err


def events(receiver_deliveries: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for d in receiver_deliveries:
        body = json.loads(d["body"])
        out.append((body["type"], body["data"].get("title") or body["data"].get("id")))
    return out


# A process killed at one exact point: a sitecustomize (put first on PYTHONPATH) that ends the
# process, as SIGKILL would, when a store is asked to save posts (the last write of a run's plan).
DIE_IN_SAVE_POSTS = """import os

from syndicate.deliver import postgres_store, sqlite_store


def _die(self, posts):
    if list(posts):
        os._exit(137)


sqlite_store.SQLiteStore.save_posts = _die
postgres_store.PostgresStore.save_posts = _die
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_run_killed_while_it_records_its_plan_leaves_nothing_open_once_the_post_is_gone(
    site: Site, tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """Found by bench/scaleout.py: a host killed between writing a new post's deliveries and the
    post itself left them pending; the post deleted before the next run, no run ever planned it
    again, and they stayed pending for ever (no ledger settled, `status` showed them open)."""
    url = request.getfixturevalue("pg_url") if kind == "postgres" else None
    store_cfg = f'\n[store]\nurl = "{url}"\npassword_env = "LEDGER_PASSWORD"\n' if url else ""
    env = {"LEDGER_PASSWORD": PG_PASSWORD}
    hooks = tmp_path / "die"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(DIE_IN_SAVE_POSTS)
    killer = {**env, "PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")])}
    with recorder() as rec:
        site.config(CONFIG + AT_ONCE + hook_target(rec.url) + store_cfg)
        write(site, "old", "Old")
        assert publish(site, env=env)[0] == 0  # the baseline
        write(site, "new", "New")
        killed = site.run("publish", env={**HOOK_ENV, **killer})
        assert killed.code == 137, killed.err
        (site.content / "new.md").unlink()  # gone before any run planned it again
        assert publish(site, env=env)[0] == 0
        if url is not None:
            store: SQLiteStore | PostgresStore = PostgresStore(url, PG_PASSWORD, "https://example.com/", readonly=True)
        else:
            store = SQLiteStore(site.root / ".syndicate" / "state.db")
        try:
            left = [(d.post_id, d.event, str(d.state)) for d in store.open_deliveries()]
        finally:
            store.close()
        assert left == [], left
        assert rec.requests == []


# ---------------------------------------------------------------- 1. bursts: unique record keys


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_ten_thousand_deliveries_planned_in_one_run_get_ten_thousand_record_keys(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    count = 10_000 if kind == "sqlite" else 2_000  # ~1 ms a key on PostgreSQL: the same test, a fifth of it
    sky = TargetSettings(name="sky", kind="bluesky", handle="me.test", password_env="P")
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    posts = [planned_post(0, id=f"https://e.com/{n}/", url=f"https://e.com/{n}/") for n in range(count)]
    plan = plan_posts(
        now=now,
        posts=posts,
        snapshot=lambda p: "{}",
        unreadable_sources=set(),
        known={},
        targets=(sky,),
        known_targets={"sky"},
        deliveries=[],
    )
    assert len(plan.new) == count and len({d.created_at for d in plan.new}) == 1  # planned at one instant
    if kind == "sqlite":
        store: SQLiteStore | PostgresStore = SQLiteStore(tmp_path / "state.db")
    else:
        store = PostgresStore(request.getfixturevalue("pg_url"), PG_PASSWORD, "https://e.com/")
    try:
        store.add_deliveries(plan.new)
        from syndicate.deliver.channels.bluesky import record_key

        clock_id = store.identity().clock_id
        keys = [record_key(store.mark_sending(d.id, now, "digest", keyed=True), clock_id) for d in plan.new]
        assert len(set(keys)) == count
        assert keys == sorted(keys), "TIDs sort in the order they were given"
        # the ledger itself refuses a second delivery with a key already given
        if isinstance(store, SQLiteStore):
            with pytest.raises(StoreError, match="UNIQUE"), store._tx() as db:
                db.execute(
                    "UPDATE deliveries SET key_seq=(SELECT MIN(key_seq) FROM deliveries) WHERE id=?",
                    (plan.new[-1].id,),
                )
        else:
            with pytest.raises(StoreError, match="deliveries_key"), store._tx() as cur:
                cur.execute(
                    "UPDATE deliveries SET key_seq=(SELECT MIN(key_seq) FROM deliveries) WHERE id=%s",
                    (plan.new[-1].id,),
                )
    finally:
        store.close()


@pytest.fixture
def sky(bluesky_pds: BlueskyPds) -> Iterator[tuple[str, str, str, Client]]:
    handle, password, did = bluesky_pds.create_account()
    client = Client(base_url=bluesky_pds.base_url)
    yield handle, password, did, client
    client.request.close()


def sky_config(pds: BlueskyPds, handle: str) -> str:
    target = f'name = "sky"\nkind = "bluesky"\nservice = "{pds.base_url}"\nhandle = "{handle}"\n'
    return CONFIG + "\n[[targets]]\n" + target + 'password_env = "BSKY_PASSWORD"\n'


def sky_records(client: Client, did: str) -> list[Any]:
    records: list[Any] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"repo": did, "collection": "app.bsky.feed.post", "limit": 100}
        if cursor:
            params["cursor"] = cursor
        out = client.com.atproto.repo.list_records(params)
        records += list(out.records)
        cursor = out.cursor
        if not cursor or not out.records:
            return records


@both_stores
def test_a_burst_of_a_hundred_posts_in_one_run_makes_a_hundred_bluesky_records(
    site: Site, bluesky_pds: BlueskyPds, sky: tuple[str, str, str, Client]
) -> None:
    handle, password, did, client = sky
    site.config(sky_config(bluesky_pds, handle))
    env = {"BSKY_PASSWORD": password}
    assert publish(site, env=env)[0] == 0  # baseline
    for n in range(100):
        write(site, f"burst{n:03d}", f"Burst post {n}")
    code, out = publish(site, env=env)
    assert code == 0, out
    assert out.count("sent    sky") == 100
    per_url = Counter(r.value.embed.external.uri for r in sky_records(client, did))
    assert len(per_url) == 100 and set(per_url.values()) == {1}, "one record per post, none lost"
    status = site.run("status").out
    assert "100 sent" in status.splitlines()[-1]


@both_stores
def test_a_record_under_our_key_that_we_did_not_send_is_not_taken_for_ours(
    site: Site, bluesky_pds: BlueskyPds, sky: tuple[str, str, str, Client]
) -> None:
    """Reconciliation compares what was sent: someone else's record under the key is reported and
    the post goes out under a new key, once."""
    handle, password, did, client = sky
    site.config(sky_config(bluesky_pds, handle))
    env = {"BSKY_PASSWORD": password}
    publish(site, env=env)
    write(site, "mine", "My own post")
    assert publish(site, env=env)[0] == 0
    [record] = sky_records(client, did)
    rkey = record.uri.rsplit("/", 1)[-1]
    # As if our createRecord never arrived and something else wrote a record under that key:
    writer = Client(base_url=bluesky_pds.base_url)
    try:
        writer.login(handle, password, fetch_bsky_profile=False)
        writer.com.atproto.repo.delete_record({"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey})
        other = {"$type": "app.bsky.feed.post", "text": "Somebody else's words", "createdAt": "2024-06-01T00:00:00Z"}
        writer.com.atproto.repo.create_record(
            {"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey, "record": other}
        )
    finally:
        writer.request.close()
    site.ledger("UPDATE deliveries SET state='sending', remote_id=NULL WHERE target='sky' AND state='sent'")
    code, out = publish(site, env=env)
    assert code == 0, out
    assert f"record key {rkey} already holds a record this delivery did not send" in out
    texts = sorted(r.value.text.split("\n")[0] for r in sky_records(client, did))
    assert texts == ["My own post", "Somebody else's words"]
    assert publish(site, env=env)[0] == 0 and len(sky_records(client, did)) == 2, "and only once"


# ---------------------------------------------------------------- 2. time never retracts


@both_stores
def test_a_clock_stepped_back_retracts_nothing_and_the_next_post_goes_out_alone(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(CONFIG + hook_target(receiver.url))
    write(site, "old", "Old, baseline", date="2024-01-01")
    publish(site)
    write(site, "sent", "Really sent", date="2024-06-01")
    publish(site)
    assert events(receiver.deliveries()) == [("post.published", "Really sent")]
    code, out = publish(site, now=datetime(2020, 1, 1, tzinfo=UTC))  # every post is "in the future" now
    assert code == 0 and "post.deleted" not in out
    write(site, "next", "The next post", date="2024-07-01")
    assert publish(site)[0] == 0
    assert events(receiver.deliveries()) == [("post.published", "Really sent"), ("post.published", "The next post")]


@both_stores
@pytest.mark.skipif(shutil.which("faketime") is None and os.environ.get("CI") != "true", reason="needs faketime")
def test_a_real_clock_stepping_back_keeps_what_went_out_in_the_feeds_and_retracts_nothing(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(CONFIG + hook_target(receiver.url))
    publish(site, now=None)
    write(site, "sent", "Sent last year", date="2025-06-01")
    publish(site, now=None)
    env = {**os.environ, **HOOK_ENV, **site.env, "PYTHONWARNINGS": "error"}
    for command in ("build", "publish"):  # under a clock 950 days behind: before the post's date
        cmd = faked([sys.executable, "-m", "syndicate", command], "-950d")
        run = subprocess.run(cmd, cwd=site.root, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0 and "Traceback" not in run.stderr, run
        assert "Sent last year" in (site.public / "feed.xml").read_text(), command
    assert events(receiver.deliveries()) == [("post.published", "Sent last year")]


@both_stores
def test_only_a_post_that_was_really_sent_is_retracted(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(CONFIG + AT_ONCE + hook_target(receiver.url))
    write(site, "old", "Only baseline", date="2024-01-01")
    publish(site)
    write(site, "sent", "Sent, then made a draft", date="2024-06-01")
    publish(site)
    (site.content / "old.md").unlink()
    site.post("sent.md", "---\ntitle: Sent, then made a draft\ndate: 2024-06-01\ndraft: true\n---\nx\n")
    assert publish(site)[0] == 0
    assert events(receiver.deliveries()) == [
        ("post.published", "Sent, then made a draft"),
        ("post.deleted", "Sent, then made a draft"),
    ]


@both_stores
def test_a_post_whose_webhook_got_no_answer_and_then_was_deleted_is_told_deleted(site: Site) -> None:
    """Found by bench/scaleout.py: a receiver that applied a post.published and never answered (the
    connection dropped), the post deleted before the retry: the retry was skipped and no
    post.deleted sent, so the receiver kept a post that is gone."""
    with recorder(Answer(delay=3)) as rec:  # applied on arrival; the answer comes after our timeout
        site.config(CONFIG + AT_ONCE + hook_target(rec.url, timeout=1))
        write(site, "old", "Old")
        assert publish(site)[0] == 0  # the baseline
        write(site, "new", "New")
        publish(site)  # the attempt gets no answer: its outcome is unknown
        (site.content / "new.md").unlink()
        assert publish(site)[0] == 0
        time.sleep(0.5)
        got = [json.loads(r.body)["type"] for r in rec.requests]
    assert got == ["post.published", "post.deleted"], got


@both_stores
def test_now_later_than_the_clock_only_previews(site: Site) -> None:
    with recorder() as rec:
        site.config(CONFIG + hook_target(rec.url))
        publish(site)
        write(site, "soon", "Scheduled", date="2029-01-01")
        later = datetime(2030, 1, 1, tzinfo=UTC)
        run = site.run("publish", now=later, env=HOOK_ENV)
        assert run.code == 2 and "later than the clock" in run.err and "--dry-run" in run.err
        assert "Traceback" not in run.err
        code, out = publish(site, "--dry-run", now=later)
        assert code == 0 and "--- hooks  post.published  https://example.com/blog/soon/" in out
        assert publish(site)[0] == 0
    assert rec.requests == [], "nothing scheduled went out early"


def test_since_without_backfill_is_a_usage_error(site: Site) -> None:
    run = site.run("publish", "--since", "2024-01-01")
    assert run.code == 2 and "--since only works with --backfill" in run.err


# ---------------------------------------------------------------- 3. a lost, empty, replaced or corrupt ledger


@both_stores
def test_a_lost_ledger_is_an_error_that_offers_the_two_ways_on(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(CONFIG + hook_target(receiver.url))
    write(site, "a", "First", date="2024-01-01")
    publish(site)
    write(site, "b", "Second", date="2024-02-01")
    publish(site)
    site.lose_ledger()
    write(site, "c", "Third, written while the ledger was gone", date="2024-03-01")
    code, out = publish(site)
    assert code == 6, out
    assert "the delivery ledger" in out and "is missing" in out and "has published before" in out
    assert (
        "syndicate publish --rebaseline" in out and "syndicate publish --backfill --since 2024-01-31T23:00:01Z" in out
    )
    assert site.run("status").code == 6 and site.run("retry").code == 6
    assert events(receiver.deliveries()) == [("post.published", "Second")], "nothing sent meanwhile"
    code, out = publish(site, "--backfill", "--since", "2024-01-31T23:00:01Z")
    assert code == 0, out
    assert events(receiver.deliveries()) == [
        ("post.published", "Second"),
        ("post.published", "Third, written while the ledger was gone"),
    ]
    assert publish(site)[0] == 0 and len(receiver.deliveries()) == 2, "and each once"


@both_stores
def test_an_emptied_ledger_is_refused_and_rebaseline_goes_on_without_sending(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(CONFIG + hook_target(receiver.url))
    write(site, "a", "First", date="2024-01-01")
    publish(site)
    site.empty_ledger()  # the file truncated; the site's rows deleted but the ledger's id
    write(site, "b", "Second", date="2024-02-01")
    code, out = publish(site)
    assert code == 6 and "is empty" in out
    code, out = publish(site, "--rebaseline")
    assert code == 0 and "recorded as baseline" in out, out
    write(site, "c", "Third", date="2024-03-01")
    assert publish(site)[0] == 0
    assert events(receiver.deliveries()) == [("post.published", "Third")]


@both_stores
def test_a_ledger_restored_from_an_older_backup_is_refused(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(CONFIG + hook_target(receiver.url))
    publish(site)
    restore = site.back_up_ledger()  # the file's online backup, or a copy of the whole database
    write(site, "a", "Sent after the backup", date="2024-01-01")
    publish(site)
    restore()
    code, out = publish(site)
    assert code == 6 and "older than the last publish" in out
    assert len(receiver.deliveries()) == 1, "the post is not sent a second time"


@pytest.mark.parametrize("command", ["status", "publish", "retry", "run"])
def test_a_corrupt_ledger_is_one_clear_line_in_every_command(site: Site, command: str) -> None:
    ledger = site.root / ".syndicate" / "state.db"
    ledger.parent.mkdir(parents=True)
    ledger.write_bytes(b"this is not a database, it is a text file that ended up here\n" * 100)
    if command == "run":  # the daemon goes on serving the feeds and delivers nothing
        daemon = start(site)
        try:
            daemon.wait_for(lambda: bool(daemon.events("held")), what="delivery held")
            assert health(daemon) == (503, health(daemon)[1]) and health(daemon)[1]["status"] == "held"
            assert daemon.get("feed.xml")[0] == 200
        finally:
            assert stop(daemon) == 0
        [line] = [e["message"].splitlines()[0] for e in daemon.events("held")]
        assert "the delivery ledger cannot be read" in line and "restore it from a backup" in line
        assert not any("Traceback" in x for x in daemon.raw)
        return
    run = site.run(command, now=None)
    assert run.code == 6, run
    assert "Traceback" not in run.err
    [line] = [x for x in run.err.splitlines() if x.startswith("error:")]
    assert "the delivery ledger cannot be read" in line and "restore it from a backup" in line


# ---------------------------------------------------------------- 4. the lock


def test_deleting_lock_files_does_not_let_a_second_publisher_in(site: Site) -> None:
    with recorder(default=Answer(204, delay=0.2)) as rec:
        site.config(CONFIG + hook_target(rec.url))
        publish(site)
        env = {**os.environ, **HOOK_ENV, "PYTHONWARNINGS": "error"}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "run", "--port", "0"],
            cwd=site.root,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert daemon.stderr is not None
            for line in daemon.stderr:
                if "serving" in line:
                    break
            for name in ("lock", "state.db.pid"):
                (site.root / ".syndicate" / name).unlink(missing_ok=True)
            run = site.run("publish", now=None, env=HOOK_ENV)
            assert run.code == 5 and "another syndicate" in run.err, run
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
            if daemon.stderr:
                daemon.stderr.close()


# ---------------------------------------------------------------- 6. one delivery's trouble


def test_a_retry_schedule_that_would_overflow_is_refused_by_check(site: Site) -> None:
    site.config(CONFIG + "\n[delivery]\nretry_schedule = [9223372036854775807]\n")
    run = site.run("check")
    assert run.code == 2 and "retry_schedule" in run.err and "Traceback" not in run.err


@both_stores
@pytest.mark.parametrize("value", ["99999999999999999999", "1e400", "nan", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_huge_retry_after_is_a_wait_of_at_most_thirty_days(site: Site, value: str) -> None:
    with recorder(
        Answer(429, headers=(("Retry-After", value),)), Answer(503, headers=(("X-RateLimit-Reset", value),))
    ) as rec:
        site.config(CONFIG + hook_target(rec.url))
        publish(site)
        write(site, "p", "Rate limited")
        write(site, "q", "Rate limited too")
        code, out = publish(site)
        assert code == 4, out
        waits = [
            (r[0] if isinstance(r[0], datetime) else datetime.fromisoformat(r[0])) - datetime.now(UTC)
            for r in site.ledger("SELECT next_attempt_at FROM deliveries WHERE state='failed'")
        ]
        assert waits and all(timedelta(0) < w <= timedelta(days=30, minutes=1) for w in waits)


@both_stores
def test_an_exception_inside_a_client_library_is_a_recorded_failure_and_the_next_post_still_goes(
    site: Site, mastodon_peer: MastodonMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in a trial: a RecursionError inside Mastodon.py's media upload."""
    for name, value in site.env.items():  # the ledger's password, read from the environment
        monkeypatch.setenv(name, value)
    from mastodon import Mastodon

    from syndicate.deliver.publish import Request, World
    from syndicate.deliver.publish import publish as publish_in_process
    from syndicate.deliver.secrets import Secrets
    from syndicate.site import Site as SiteValue
    from tests.test_publish_mastodon import PNG

    site.config(
        CONFIG
        + f'\n[[targets]]\nname = "masto"\nkind = "mastodon"\ninstance = "{mastodon_peer.base_url}"\ntoken_env = "T"\n'
    )
    secrets = Secrets({"T": mastodon_peer.token})
    publish_in_process(SiteValue.open(site.root), Request(), World(lambda: datetime.now(UTC), secrets=secrets))
    site.post("a.md", "---\ntitle: With a picture\ndate: 2024-06-01\nthumb: https://example.com/a.png\n---\nx\n")
    site.post("b.md", "---\ntitle: Without one\ndate: 2024-06-02\n---\nx\n")

    def broken_upload(self: Mastodon, *args: Any, **kwargs: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded while calling a Python object")

    monkeypatch.setattr(Mastodon, "media_post", broken_upload)
    monkeypatch.setattr("syndicate.deliver.channels.base.ImageSource._get", lambda self, url: Fetched(PNG, "image/png"))
    report = publish_in_process(SiteValue.open(site.root), Request(), World(lambda: datetime.now(UTC), secrets=secrets))
    outcomes = {a.delivery.post_id.rsplit("/", 2)[-2]: (a.outcome, a.detail) for a in report.attempts}
    assert outcomes["b"][0] == "sent"
    assert outcomes["a"][0] == "failed" and "unexpected error: RecursionError" in outcomes["a"][1]
    states = dict(site.ledger("SELECT post_id, state FROM deliveries"))
    [(reason,)] = site.ledger("SELECT detail FROM attempts WHERE outcome IN ('failed', 'unknown')")
    assert "sending" not in states.values() and "RecursionError" in reason


@both_stores
def test_a_target_that_hangs_does_not_hold_up_the_others(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    with recorder(default=Answer(204, delay=3)) as slow:
        site.config(CONFIG + hook_target(slow.url, "slow", timeout=0.5) + hook_target(receiver.url, "fast"))
        publish(site)
        for n in range(8):
            write(site, f"p{n}", f"Post {n}", date=f"2024-06-0{n + 1}")
        code, out = publish(site)
        assert code == 4
        assert len(receiver.deliveries()) == 8
        assert len(slow.requests) <= 2, "a target that keeps timing out is left for a later run"
        assert "slow: 6 more left for a later run" in out


@both_stores
def test_one_bad_file_name_does_not_stop_delivery(site: Site, webhook_receiver_factory: WebhookReceiverFactory) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(CONFIG + hook_target(receiver.url))
    publish(site)
    write(site, "good", "A good post")
    (site.content / os.fsdecode(b"bad\xff.md")).write_text("---\ntitle: Bad name\ndate: 2024-06-01\n---\nx\n")
    (site.content / "new\nline.md").write_text("---\ntitle: A newline in the name\ndate: 2024-06-01\n---\nx\n")
    (site.content / "esc\x1b[31mred.md").write_text("---\ntitle: An escape in the name\ndate: 2024-06-01\n---\nx\n")
    code, out = publish(site)
    assert code == 1, out
    assert "content/bad\\xff.md: error: the file name is not valid UTF-8" in out
    assert ("\x1b" not in out and "content/esc\\x1b[31mred.md" not in out) or "\\x1b" in out
    lines = out.splitlines()
    assert not any(line.startswith("line.md") for line in lines), "a newline in a name never starts a line"
    titles = sorted(json.loads(d["body"])["data"]["title"] for d in receiver.deliveries())
    assert "A good post" in titles


# ---------------------------------------------------------------- 7. nothing a post says reaches the host

PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def masto_config(peer: MastodonMock, extra: str = "") -> str:
    return (
        CONFIG
        + extra
        + f'\n[[targets]]\nname = "masto"\nkind = "mastodon"\ninstance = "{peer.base_url}"\ntoken_env = "T"\n'
    )


def media_of_newest(peer: MastodonMock) -> list[Any]:
    from mastodon import Mastodon

    api = Mastodon(access_token=peer.token, api_base_url=peer.base_url, version_check_mode="none")
    try:
        me = api.account_verify_credentials()
        [status] = api.account_statuses(me["id"], limit=1)
        return list(status["media_attachments"])
    finally:
        api.session.close()


@both_stores
def test_a_thumbnail_on_the_hosts_private_network_is_never_fetched(site: Site, mastodon_peer: MastodonMock) -> None:
    with recorder(default=Answer(200, headers=(("Content-Type", "image/png"),), body=PNG_BYTES)) as meta:
        site.config(masto_config(mastodon_peer))
        env = {"T": mastodon_peer.token}
        publish(site, env=env)
        site.post("p.md", f"---\ntitle: Peeking\ndate: 2024-06-01\nthumb: {meta.url}/latest/meta.png\n---\nx\n")
        code, out = publish(site, env=env)
        assert code == 0 and "sent    masto" in out, out
        assert meta.requests == [], "not a single request reached the private address"
        assert "left out" in out and "loopback" in out and "fetch_allow" in out
        assert media_of_newest(mastodon_peer) == [], "the status went out without the picture"


@both_stores
def test_an_allowed_host_is_fetched_and_only_real_image_bytes_are_uploaded(
    site: Site, mastodon_peer: MastodonMock
) -> None:
    with (
        recorder(default=Answer(200, headers=(("Content-Type", "image/jpeg"),), body=PNG_BYTES)) as pics,
        recorder(
            default=Answer(200, headers=(("Content-Type", "image/png"),), body=b"<html>not a picture</html>")
        ) as fake,
    ):
        site.config(masto_config(mastodon_peer, '\n[content]\nfetch_allow = ["127.0.0.1"]\n'))
        env = {"T": mastodon_peer.token}
        publish(site, env=env)
        site.post("a.md", f"---\ntitle: A real picture\ndate: 2024-06-01\nthumb: {pics.url}/a.jpg\n---\nx\n")
        assert publish(site, env=env)[0] == 0
        [media] = media_of_newest(mastodon_peer)
        assert len(pics.requests) == 1
        site.post("b.md", f"---\ntitle: Not a picture\ndate: 2024-06-02\nthumb: {fake.url}/b.png\n---\nx\n")
        code, out = publish(site, env=env)
        assert (code == 0 and "is not an image" in out) or "not an image" in out, out
        assert media_of_newest(mastodon_peer) == []
    assert media["type"] == "image"


def test_fetch_allow_that_is_not_a_host_is_refused_by_check(site: Site) -> None:
    site.config(CONFIG + '\n[content]\nfetch_allow = ["http://media.lan/"]\n')
    run = site.run("check")
    assert run.code == 2 and "fetch_allow" in run.err and "Traceback" not in run.err


# ---------------------------------------------------------------- 8. files outside the site, and odd files


def test_a_link_to_a_file_outside_the_site_is_skipped_with_a_warning(site: Site, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.md").write_text("---\ntitle: A secret\ndate: 2024-06-01\n---\nPrivate words.\n")
    (site.content / "leak.md").symlink_to(outside / "secret.md")
    inside = site.root / "drafts"
    inside.mkdir()
    (inside / "shared.md").write_text("---\ntitle: Linked from inside\ndate: 2024-06-02\n---\nFine.\n")
    (site.content / "shared.md").symlink_to(inside / "shared.md")
    run = site.run("build")
    assert run.code == 0, run
    assert f"content/leak.md: warning: a link to {outside / 'secret.md'}, outside the site: skipped" in run.err
    feed = (site.public / "feed.xml").read_text()
    assert "Private words" not in feed and "A secret" not in feed and "Linked from inside" in feed
    site.config(CONFIG + f'\n[content]\nallow_links_to = ["{outside}"]\n')
    assert site.run("build").code == 0
    assert "A secret" in (site.public / "feed.xml").read_text()


def test_a_fifo_or_a_link_to_one_never_hangs_a_build(site: Site, tmp_path: Path) -> None:
    os.mkfifo(site.content / "pipe.md")
    os.mkfifo(tmp_path / "outside-pipe")
    (site.content / "kmsg.md").symlink_to(tmp_path / "outside-pipe")
    write(site, "ok", "Still built")
    run = site.run("build")  # would block forever reading a FIFO
    assert run.code == 0, run
    assert "content/pipe.md: warning: not a regular file" in run.err
    assert "content/kmsg.md: warning: a link to" in run.err
    assert "Still built" in (site.public / "feed.xml").read_text()


def test_a_huge_file_is_refused_from_its_size_without_being_read(site: Site) -> None:
    big = site.content / "huge.md"
    with big.open("wb") as f:
        f.write(b"---\ntitle: Huge\ndate: 2024-06-01\n---\n")
        f.seek(200 * 1024 * 1024)
        f.write(b"end\n")  # 200 MiB, sparse: nothing to read but what is asked for
    # The peak is measured by a small parent: a child forked from this (large) test process would
    # count this process's pages in its peak (Linux keeps the high-water mark across exec).
    measure = (
        "import os, subprocess, sys;"
        " p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE);"
        " err = p.stderr.read(); _, status, usage = os.wait4(p.pid, 0);"
        " sys.stderr.buffer.write(err); print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", measure, sys.executable, "-m", "syndicate", "check"],
        cwd=site.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    code, peak = map(int, done.stdout.split())
    assert code == 1 and "content/huge.md: error: file is 200 MiB; a post may be at most 4 MiB" in done.stderr
    assert peak < 150 * 1024, f"peak {peak // 1024} MiB: the file was read"


# ---------------------------------------------------------------- 9. one post cannot stall a build


def test_a_post_that_renders_too_slowly_is_rejected_and_the_rest_is_built(site: Site) -> None:
    site.config(CONFIG + '\n[content]\nrenderer = "markdown"\nrender_timeout = 1\n')
    site.post("nested.md", "---\ntitle: Nested\ndate: 2024-06-01\n---\n" + "[a](" * 20_000 + "\n")  # minutes unchecked
    write(site, "ok", "Rendered in time")
    started = datetime.now(UTC)
    run = site.run("build")
    took = datetime.now(UTC) - started
    assert run.code == 1 and "content/nested.md: error: rendering took longer than 1 s" in run.err
    assert took < timedelta(seconds=15)
    assert "Rendered in time" in (site.public / "feed.xml").read_text()
    again = site.run("build")
    assert again.code == 1 and "rendering took longer than 1 s" in again.err, "remembered, not rendered again"


# ---------------------------------------------------------------- 10. the daemon checks its memory of the disk


def daemon_site(site: Site, receiver_url: str) -> None:
    site.config(CONFIG + hook_target(receiver_url))


def health(run: Running) -> tuple[int, dict[str, Any]]:
    status, _, body = run.get("healthz")
    return status, json.loads(body)


def gone(folder: Path) -> None:
    """Remove a folder the running daemon writes to, in one step (it may rebuild it at once:
    a plain rmtree would race with it)."""
    away = folder.with_name(folder.name + ".removed")
    folder.rename(away)
    shutil.rmtree(away)


def test_the_daemon_rewrites_an_output_folder_removed_under_it(sample_site: Site) -> None:
    run = start(sample_site)
    try:
        before = run.get("tags/c-sharp/atom.xml")
        assert before[0] == 200
        gone(sample_site.public)
        run.wait_for(lambda: run.get("tags/c-sharp/atom.xml")[0] == 200, timeout=15, what="the output rebuilt")
        assert run.get("tags/c-sharp/atom.xml")[2] == before[2] and run.get("feed.json")[0] == 200
        assert health(run) == (200, health(run)[1]) and health(run)[1]["status"] == "ok"
    finally:
        assert stop(run) == 0


def test_the_daemon_sees_new_posts_after_the_content_folder_is_replaced(sample_site: Site) -> None:
    run = start(sample_site)
    try:
        shutil.rmtree(sample_site.content)
        sample_site.content.mkdir()
        time.sleep(3)  # the self-check notices the folder is another one and watches it
        sample_site.post("2026-01-03-after.md", "---\ntitle: After the swap\ndate: 2026-01-03\n---\nx\n")
        run.wait_for(lambda: b"After the swap" in run.get("feed.xml")[2], timeout=15, what="the new post")
    finally:
        assert stop(run) == 0


def test_healthz_tells_the_truth_while_cycles_fail_and_the_daemon_repairs_when_the_cause_goes(
    sample_site: Site,
) -> None:
    run = start(sample_site)
    try:
        tags = sample_site.public / "tags"
        blocker = sample_site.root / "blocker"
        blocker.write_text("a file where the tag folders go: every write under it fails\n")
        for _ in range(50):  # the daemon rewrites a folder removed under it, maybe before the file lands
            gone(tags)
            try:
                blocker.rename(tags)
                break
            except IsADirectoryError:
                continue
        assert tags.is_file()
        run.wait_for(lambda: health(run)[0] == 503, timeout=15, what="/healthz to stop saying ok")
        assert health(run)[1]["status"] == "failing" and "tags" in health(run)[1]["last_error"]
        tags.unlink()
        run.wait_for(lambda: run.get("tags/c-sharp/feed.xml")[0] == 200, timeout=20, what="the repair")
        run.wait_for(lambda: health(run)[0] == 200, timeout=10, what="/healthz ok again")
        assert run.events("recovered")
    finally:
        assert stop(run) == 0


@both_stores
def test_the_daemon_holds_delivery_once_its_ledger_is_deleted_keeps_building_and_resumes_after_rebaseline(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    daemon_site(site, receiver.url)
    write(site, "old", "Baseline", date="2024-01-01")
    run = start(site, env=HOOK_ENV)
    try:
        site.lose_ledger()
        write(site, "new", "Written after the ledger went", date="2024-06-01")
        run.wait_for(lambda: health(run)[0] == 503, timeout=15, what="/healthz to say delivery is held")
        status = health(run)[1]
        # the file is seen deleted (its inode); the database's rows are seen gone by the check of the
        # ledger's id against the site's marks
        why = "deleted or replaced while running" if site.pg is None else "lost while running: the delivery ledger"
        assert status["status"] == "held" and why in status["problem"], status
        assert "syndicate publish --rebaseline" in status["problem"]
        # the feeds go on: the post written while the ledger was gone is served
        run.wait_for(lambda: b"Written after the ledger went" in run.get("feed.xml")[2], what="the feed rebuilt")
        assert len(run.events("held")) == 1, "said once"
        assert site.run("publish", now=None, env=HOOK_ENV).code == 6  # not without the user's word
        time.sleep(1)
        assert receiver.deliveries() == []
        # the daemon does not hold the lock while held: the way on can run beside it
        assert site.run("publish", "--rebaseline", now=None, env=HOOK_ENV).code == 0
        run.wait_for(lambda: bool(run.events("resumed")), timeout=15, what="delivery resumed")
        write(site, "later", "Written after the rebaseline", date="2024-06-02")
        run.wait_for(lambda: len(receiver.deliveries()) == 1, timeout=15, what="the next post delivered")
        time.sleep(1.5)
        assert events(receiver.deliveries()) == [("post.published", "Written after the rebaseline")]
        run.wait_for(lambda: health(run)[0] == 200, timeout=10, what="/healthz ok again")
    finally:
        assert stop(run) == 0


@both_stores
def test_the_daemon_starts_with_a_lost_ledger_serves_the_feeds_and_delivers_nothing_until_told(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    daemon_site(site, receiver.url)
    write(site, "old", "Baseline", date="2024-01-01")
    assert publish(site)[0] == 0
    site.lose_ledger()
    shutil.rmtree(site.root / ".syndicate")
    write(site, "new", "Written while the ledger was gone", date="2024-06-01")
    run = start(site, env=HOOK_ENV)
    try:
        run.wait_for(lambda: health(run)[0] == 503, timeout=15, what="/healthz to say delivery is held")
        assert health(run)[1]["status"] == "held" and "is missing" in health(run)[1]["problem"]
        assert b"Written while the ledger was gone" in run.get("feed.xml")[2]
        [held] = run.events("held")
        since = held["message"].split("--backfill --since ")[1].split()[0]  # the second after the last post sent
        code, out = publish(site, "--backfill", "--since", since)
        assert code == 0, out
        run.wait_for(lambda: bool(run.events("resumed")), timeout=15, what="delivery resumed")
        time.sleep(1.5)
        assert events(receiver.deliveries()) == [("post.published", "Written while the ledger was gone")]
    finally:
        assert stop(run) == 0


@both_stores
@pytest.mark.parametrize("command", ["run", "publish"])
def test_a_site_without_targets_runs_without_its_ledger(site: Site, command: str) -> None:
    write(site, "old", "Baseline", date="2024-01-01")
    assert publish(site)[0] == 0
    site.lose_ledger()
    shutil.rmtree(site.root / ".syndicate", ignore_errors=True)  # nothing to deliver, so nothing to protect
    if command == "publish":
        code, out = publish(site)
        assert code == 0, out
        return
    run = start(site)
    try:
        run.wait_for(lambda: health(run)[0] == 200, timeout=15, what="/healthz ok")
        assert b"Baseline" in run.get("feed.xml")[2] and not run.events("held")
    finally:
        assert stop(run) == 0


@both_stores
def test_a_bad_file_name_does_not_stop_the_daemon(site: Site, webhook_receiver_factory: WebhookReceiverFactory) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    daemon_site(site, receiver.url)
    run = start(site, env=HOOK_ENV)
    try:
        bad = site.content / os.fsdecode(b"bad\xff.md")
        bad.write_text("---\ntitle: Bad name\ndate: 2024-06-01\n---\nx\n")
        run.wait_for(lambda: bool(run.events("rejected")), what="the bad name reported")
        assert "bad\\xff.md" in run.events("rejected")[0]["message"]
        bad.unlink()
        write(site, "good", "Delivered anyway")
        run.wait_for(lambda: len(receiver.deliveries()) == 1, timeout=15, what="the good post")
        assert health(run)[1]["status"] == "ok"
    finally:
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)


@both_stores
def test_retry_while_the_daemon_runs_sends_within_seconds(site: Site) -> None:
    with recorder(Answer(404), default=Answer(204)) as rec:
        daemon_site(site, rec.url)
        run = start(site, env=HOOK_ENV)
        try:
            write(site, "p", "Refused once")
            run.wait_for(lambda: bool(run.events("dead")), what="the dead delivery")
            queued = site.run("retry")
            assert queued.code == 0 and queued.out.startswith("1 failed or dead delivery due now")
            run.wait_for(lambda: bool(run.events("delivered")), timeout=10, what="the retried delivery")
        finally:
            assert stop(run) == 0
    assert [r.method for r in rec.requests] == ["POST", "POST"]
