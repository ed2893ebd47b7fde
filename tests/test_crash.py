"""Exactly once through crashes: `syndicate publish` is killed with SIGKILL at random points
while delivering to a webhook, Mastodon and Bluesky, then rerun until done; at the receivers
every post arrives exactly once.

CI runs a handful of kills; `python bench/crash.py --kills 120` runs many and prints the counts
(SYNDICATE_CRASH_KILLS and SYNDICATE_CRASH_REPORT drive this test from there).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from atproto import Client  # type: ignore[import-untyped,unused-ignore]
from mastodon import Mastodon

from tests.conftest import CONFIG, Site
from tests.peers.fixtures import BlueskyPds, MastodonMock, WebhookReceiverFactory, new_webhook_secret

KILLS = int(os.environ.get("SYNDICATE_CRASH_KILLS", "6"))
REPORT = os.environ.get("SYNDICATE_CRASH_REPORT")
SEED = int(os.environ.get("SYNDICATE_CRASH_SEED", "7"))


def _ledger_counts(site: Site) -> Counter[str]:
    path = site.root / ".syndicate" / "state.db"
    if not path.exists():
        return Counter()
    db = sqlite3.connect(path)
    try:
        return Counter(dict(db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall()))
    finally:
        db.close()


def _write_posts(site: Site, start: int, count: int) -> None:
    for n in range(start, start + count):
        site.post(
            f"p{n:04d}.md",
            f"---\ntitle: Post number {n}\ndate: 2024-06-01 {n % 24:02d}:00\ntags: [crash]\n---\nBody {n}.\n",
        )


def test_sigkill_at_random_points_never_loses_or_doubles_a_post(
    site: Site,
    webhook_receiver_factory: WebhookReceiverFactory,
    mastodon_peer: MastodonMock,
    bluesky_pds: BlueskyPds,
) -> None:
    rng = random.Random(SEED)
    secret = new_webhook_secret()
    receiver = webhook_receiver_factory(secret=secret)
    handle, password, did = bluesky_pds.create_account()
    site.config(
        CONFIG
        + f"""
[[targets]]
name = "hooks"
kind = "webhook"
url = "{receiver.url}"
secret_env = "HOOK_SECRET"

[[targets]]
name = "masto"
kind = "mastodon"
instance = "{mastodon_peer.base_url}"
token_env = "MASTODON_TOKEN"

[[targets]]
name = "sky"
kind = "bluesky"
service = "{bluesky_pds.base_url}"
handle = "{handle}"
password_env = "BSKY_PASSWORD"
"""
    )
    env = {
        **os.environ,
        "HOOK_SECRET": secret,
        "MASTODON_TOKEN": mastodon_peer.token,
        "BSKY_PASSWORD": password,
        "PYTHONWARNINGS": "error",
    }
    # slow the Mastodon API a little so that kills land inside deliveries, not only between them
    mastodon_peer.add_fault(
        {"match": {"methods": ["POST"], "path": "/api/v1/statuses"}, "effect": {"type": "latency", "ms": 150}}
    )
    cmd = [sys.executable, "-m", "syndicate", "publish"]
    assert subprocess.run(cmd, cwd=site.root, env=env, capture_output=True, timeout=120).returncode == 0  # baseline

    posts = 0
    kills = 0
    interrupted = 0  # kills that left a delivery in "sending": an outcome the next run had to reconcile
    runs = 0
    full_run = 3.0  # seconds a run takes when not killed; kills are spread over all of it
    started = time.monotonic()
    while kills < KILLS:
        batch = rng.randint(1, 3)
        _write_posts(site, posts, batch)
        posts += batch
        proc = subprocess.Popen(cmd, cwd=site.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        runs += 1
        t0 = time.monotonic()
        deadline = t0 + rng.uniform(0.2, full_run * 1.1)
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        else:
            full_run = max(1.0, time.monotonic() - t0)
        proc.wait(timeout=60)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert "Traceback" not in err, err
        if _ledger_counts(site)["sending"]:
            interrupted += 1
    # then run to the end, without kills
    for _ in range(10):
        runs += 1
        done = subprocess.run(cmd, cwd=site.root, env=env, capture_output=True, text=True, timeout=300)
        assert "Traceback" not in done.stderr, done.stderr
        open_rows = _ledger_counts(site)
        if done.returncode == 0 and not (open_rows["pending"] or open_rows["sending"] or open_rows["failed"]):
            break
    else:
        raise AssertionError(f"deliveries still open after 10 clean runs: {_ledger_counts(site)}")

    urls = {f"https://example.com/blog/p{n:04d}/" for n in range(posts)}
    # webhook: at least one delivery per post, one webhook-id per post (receivers dedupe by id)
    hooks: dict[str, set[str]] = {}
    raw_hook_deliveries = 0
    for d in receiver.deliveries():
        assert d["verified"], d
        raw_hook_deliveries += 1
        hooks.setdefault(json.loads(d["body"])["data"]["url"], set()).add(str(d["id"]))
    assert set(hooks) == urls
    assert all(len(ids) == 1 for ids in hooks.values()), {u: i for u, i in hooks.items() if len(i) > 1}
    # mastodon: one status per post
    api = Mastodon(access_token=mastodon_peer.token, api_base_url=mastodon_peer.base_url, version_check_mode="none")
    try:
        me = api.account_verify_credentials()
        page: Any = api.account_statuses(me["id"], limit=40)
        statuses = api.fetch_remaining(page)
    finally:
        api.session.close()
    per_url = Counter(next(u for u in urls if u in s["content"]) for s in statuses)
    assert set(per_url) == urls and set(per_url.values()) == {1}, per_url
    # bluesky: one record per post
    client = Client(base_url=bluesky_pds.base_url)
    try:
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
                break
    finally:
        client.request.close()
    per_record = Counter(r.value.embed.external.uri for r in records)
    assert set(per_record) == urls and set(per_record.values()) == {1}, per_record

    summary = {
        "kills": kills,
        "runs": runs,
        "posts": posts,
        "kills_mid_delivery": interrupted,
        "webhook_posts": len(hooks),
        "webhook_http_deliveries": raw_hook_deliveries,
        "webhook_redeliveries_same_id": raw_hook_deliveries - len(hooks),
        "mastodon_statuses": sum(per_url.values()),
        "bluesky_records": sum(per_record.values()),
        "duplicates_at_receivers": 0,
        "lost": 0,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(summary))
    if REPORT:
        Path(REPORT).write_text(json.dumps(summary, indent=2))
