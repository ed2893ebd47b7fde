"""Exactly once through crashes, bursts and chaos, counted at the real peers.

- *kills*: `syndicate publish` is killed with SIGKILL at random points while delivering a few
  posts at a time, then rerun until done;
- *burst*: hundreds of new posts at once, with SIGKILLs at random points of the long run;
- *chaos*: SIGKILLs, a clock that steps back and forth (libfaketime), deleted lock files and a
  second publisher started beside the first, and targets answering 429, 503 or too late;
- *lifecycle*: SIGKILLs while a mix of new posts, edits of their titles, deletions and
  restorations is in flight (Mastodon edits in place, Bluesky reposts): at the end every live
  post has exactly one status and one record, with its latest title, and every deleted post none;
- *vanish*: post files moved away for a moment and back (an editor's save, a sync tool, a
  branch switch) while runs deliver, some runs starting with a file away and some killed: no
  copy is deleted or posted again inside ``[delivery] delete_after``.

Each ends with every post exactly once at the webhook receiver (one webhook-id per post),
mastodon-mock (one status) and a real Bluesky PDS (one record). Kills, chaos, lifecycle and
vanish run with each store (the ledger in SQLite, and in PostgreSQL). CI runs small versions
(smaller still on PostgreSQL); `python bench/crash.py --scenario all` runs big ones, the same
size on both stores, and prints the counts (SYNDICATE_CRASH_* variables drive these tests from
there).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from atproto import Client  # type: ignore[import-untyped,unused-ignore]
from mastodon import Mastodon

from tests.conftest import AT_ONCE, CONFIG, Site, both_stores, faked
from tests.peers.fixtures import BlueskyPds, MastodonMock, WebhookReceiverFactory, in_ci, new_webhook_secret

KILLS = int(os.environ.get("SYNDICATE_CRASH_KILLS", "6"))
BURST_POSTS = int(os.environ.get("SYNDICATE_CRASH_BURST_POSTS", "60"))
BURST_KILLS = int(os.environ.get("SYNDICATE_CRASH_BURST_KILLS", "3"))
CHAOS_RUNS = int(os.environ.get("SYNDICATE_CRASH_CHAOS_RUNS", "12"))
LIFE_ROUNDS = int(os.environ.get("SYNDICATE_CRASH_LIFE_ROUNDS", "8"))
VANISH_ROUNDS = int(os.environ.get("SYNDICATE_CRASH_VANISH_ROUNDS", "6"))
REPORT = os.environ.get("SYNDICATE_CRASH_REPORT")
SEED = int(os.environ.get("SYNDICATE_CRASH_SEED", "7"))
PUBLISH = [sys.executable, "-m", "syndicate", "publish"]


@dataclass
class Peers:
    """The three real receivers, the site configured for them, and what each received."""

    site: Site
    receiver: Any
    mastodon: MastodonMock
    pds: BlueskyPds
    did: str
    env: dict[str, str]
    stderr: list[str] = field(default_factory=list)

    def publish(self, *, timeout: float = 300, clock_offset: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            _faked(PUBLISH, clock_offset),
            cwd=self.site.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.stderr.append(done.stderr)
        return done

    def start(self, clock_offset: str | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            _faked(PUBLISH, clock_offset),
            cwd=self.site.root,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def reap(self, proc: subprocess.Popen[bytes]) -> int:
        code = proc.wait(timeout=120)
        assert proc.stderr is not None
        self.stderr.append(proc.stderr.read().decode(errors="replace"))
        proc.stderr.close()
        return code

    def open_rows(self) -> Counter[str]:
        if self.site.pg is None and not (self.site.root / ".syndicate" / "state.db").exists():
            return Counter()  # not yet (connecting would make an empty file)
        return Counter(dict(self.site.ledger("SELECT state, COUNT(*) FROM deliveries GROUP BY state")))

    def finish(self, runs: int = 20) -> int:
        """Retry what failed, now, and publish, until nothing is left open or dead."""
        for n in range(1, runs + 1):
            self.site.run("retry")
            done = self.publish()
            rows = self.open_rows()
            if done.returncode in (0, 1) and not (rows["pending"] or rows["sending"] or rows["failed"] or rows["dead"]):
                return n
        raise AssertionError(f"deliveries still open after {runs} clean runs: {self.open_rows()}")

    def count(self, urls: set[str]) -> dict[str, Any]:
        """What every peer holds, per post URL; asserts each post is there exactly once."""
        hooks: dict[str, set[str]] = {}
        raw = 0
        for d in self.receiver.deliveries():
            if not d["verified"] or not 200 <= d["status"] < 300:
                continue  # refused by the receiver (a skewed clock's timestamp, a scripted 503): not delivered
            raw += 1
            hooks.setdefault(json.loads(d["body"])["data"]["url"], set()).add(str(d["id"]))
        statuses = _statuses(self.mastodon)
        per_status = Counter(next((u for u in urls if u in s["content"]), "?") for s in statuses)
        per_record = Counter(r.value.embed.external.uri for r in _records(self.pds, self.did))
        summary = {
            "posts": len(urls),
            "webhook_posts": len(hooks),
            "webhook_http_deliveries": raw,
            "webhook_redeliveries_same_id": raw - len(hooks),
            "mastodon_statuses": sum(per_status.values()),
            "bluesky_records": sum(per_record.values()),
            "duplicates": sum(1 for ids in hooks.values() if len(ids) > 1)
            + sum(n - 1 for n in per_status.values() if n > 1)
            + sum(n - 1 for n in per_record.values() if n > 1),
            "lost": len(urls - set(hooks)) + len(urls - set(per_status)) + len(urls - set(per_record)),
        }
        assert set(hooks) == urls, ("webhook", sorted(urls - set(hooks)), sorted(set(hooks) - urls))
        assert all(len(ids) == 1 for ids in hooks.values()), {u: i for u, i in hooks.items() if len(i) > 1}
        assert set(per_status) == urls and set(per_status.values()) == {1}, per_status
        assert set(per_record) == urls and set(per_record.values()) == {1}, per_record
        assert not any("Traceback" in err for err in self.stderr), next(e for e in self.stderr if "Traceback" in e)
        return summary


def _faked(cmd: list[str], offset: str | None) -> list[str]:
    """The command under libfaketime, its clock moved by ``offset`` ("-950d", "+5m"), when asked."""
    return faked(cmd, offset) if offset else cmd


def _statuses(peer: MastodonMock) -> list[Any]:
    api = Mastodon(access_token=peer.token, api_base_url=peer.base_url, version_check_mode="none")
    try:
        me = api.account_verify_credentials()
        page: Any = api.account_statuses(me["id"], limit=40)
        return list(api.fetch_remaining(page))
    finally:
        api.session.close()


def _records(pds: BlueskyPds, did: str) -> list[Any]:
    client = Client(base_url=pds.base_url)
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
                return records
    finally:
        client.request.close()


def _peers(
    site: Site,
    factory: WebhookReceiverFactory,
    mastodon: MastodonMock,
    pds: BlueskyPds,
    statuses: list[int] | None = None,
    timeout: float = 10,
    sky_extra: str = "",
    delivery: str = AT_ONCE,
) -> Peers:
    """The site configured for the three peers (its ledger in the store the site was made with)."""
    secret = new_webhook_secret()
    receiver = factory(statuses=statuses or [], secret=secret)
    handle, password, did = pds.create_account()
    site.config(
        CONFIG
        + delivery
        + f"""
[[targets]]
name = "hooks"
kind = "webhook"
url = "{receiver.url}"
secret_env = "HOOK_SECRET"
timeout = {timeout}

[[targets]]
name = "masto"
kind = "mastodon"
instance = "{mastodon.base_url}"
token_env = "MASTODON_TOKEN"
timeout = {timeout}

[[targets]]
name = "sky"
kind = "bluesky"
service = "{pds.base_url}"
handle = "{handle}"
password_env = "BSKY_PASSWORD"
timeout = {timeout}
{sky_extra}
"""
    )
    env = {
        **os.environ,
        "HOOK_SECRET": secret,
        "MASTODON_TOKEN": mastodon.token,
        "BSKY_PASSWORD": password,
        "PYTHONWARNINGS": "error",
        **site.env,
    }
    peers = Peers(site, receiver, mastodon, pds, did, env)
    assert peers.publish().returncode == 0  # the baseline: nothing is sent
    return peers


def _write_posts(site: Site, start: int, count: int) -> set[str]:
    for n in range(start, start + count):
        site.post(
            f"p{n:04d}.md",
            f"---\ntitle: Post number {n}\ndate: 2024-06-01 {n % 24:02d}:{n % 60:02d}\ntags: [crash]\n---\nBody {n}.\n",
        )
    return {f"https://example.com/blog/p{n:04d}/" for n in range(start, start + count)}


def _save(name: str, summary: dict[str, Any]) -> None:
    print(json.dumps({name: summary}))
    if REPORT:
        path = Path(REPORT)
        data = json.loads(path.read_text()) if path.exists() else {}
        data[name] = summary
        path.write_text(json.dumps(data, indent=2))


def _sized(site: Site, count: int, variable: str, least: int) -> int:
    """A scenario's size: CI's small run is smaller still on PostgreSQL (a run there costs more: a
    connection, the lock's session, a round trip per write; test_postgres_publish kills mid-request
    too); bench/crash.py, which sets ``variable``, gets the full size on both stores."""
    return count if site.pg is None or variable in os.environ else max(least, count // 2)


def _report_name(site: Site, name: str) -> str:
    return name if site.pg is None else f"{name}_postgres"


def _kill_within(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """SIGKILL ``proc`` after ``seconds`` unless it ended first; True if it was killed."""
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        return True
    return False


@both_stores
def test_sigkill_at_random_points_never_loses_or_doubles_a_post(
    site: Site,
    webhook_receiver_factory: WebhookReceiverFactory,
    mastodon_peer: MastodonMock,
    bluesky_pds: BlueskyPds,
) -> None:
    rng = random.Random(SEED)
    peers = _peers(site, webhook_receiver_factory, mastodon_peer, bluesky_pds)
    # slow the Mastodon API a little so that kills land inside deliveries, not only between them
    mastodon_peer.add_fault(
        {"match": {"methods": ["POST"], "path": "/api/v1/statuses"}, "effect": {"type": "latency", "ms": 150}}
    )
    urls: set[str] = set()
    kills = interrupted = runs = 0
    full_run = 3.0  # seconds a run takes when not killed; kills are spread over all of it
    started = time.monotonic()
    wanted = _sized(site, KILLS, "SYNDICATE_CRASH_KILLS", least=3)
    while kills < wanted:
        urls |= _write_posts(site, len(urls), rng.randint(1, 3))
        proc = peers.start()
        runs += 1
        t0 = time.monotonic()
        if _kill_within(proc, rng.uniform(0.2, full_run * 1.1)):
            kills += 1
        else:
            full_run = max(1.0, time.monotonic() - t0)
        peers.reap(proc)
        interrupted += bool(peers.open_rows()["sending"])
    runs += peers.finish()
    summary = {
        "kills": kills,
        "runs": runs,
        "kills_mid_delivery": interrupted,
        **peers.count(urls),
        "seconds": round(time.monotonic() - started, 1),
    }
    _save(_report_name(site, "kills"), summary)


def test_a_burst_of_new_posts_under_sigkill_arrives_once_everywhere(
    site: Site,
    webhook_receiver_factory: WebhookReceiverFactory,
    mastodon_peer: MastodonMock,
    bluesky_pds: BlueskyPds,
) -> None:
    rng = random.Random(SEED + 1)
    peers = _peers(site, webhook_receiver_factory, mastodon_peer, bluesky_pds)
    urls = _write_posts(site, 0, BURST_POSTS)
    started = time.monotonic()
    kills = runs = 0
    while kills < BURST_KILLS:
        left = peers.open_rows()["pending"] + peers.open_rows()["sending"] + peers.open_rows()["failed"]
        if runs and not left:
            break  # a run finished before its kill: nothing left to interrupt
        proc = peers.start()
        runs += 1
        # ~1 s to start, ~25 ms a delivery here: a kill anywhere in what is left to do
        kills += _kill_within(proc, rng.uniform(0.5, 1.0 + 0.025 * (left or 3 * BURST_POSTS)))
        peers.reap(proc)
    runs += peers.finish()
    _save(
        "burst",
        {"kills": kills, "runs": runs, **peers.count(urls), "seconds": round(time.monotonic() - started, 1)},
    )


CLOCKS = (None, None, None, "-1h", "-950d", "+5m")  # -950d: before every post's date; a stepped-back clock


@both_stores
@pytest.mark.skipif(shutil.which("faketime") is None and not in_ci(), reason="faketime (apt) not installed")
def test_chaos_of_kills_clock_steps_stolen_locks_and_flaky_targets_ends_with_each_post_once(
    site: Site,
    webhook_receiver_factory: WebhookReceiverFactory,
    mastodon_peer: MastodonMock,
    bluesky_pds: BlueskyPds,
) -> None:
    rng = random.Random(SEED + 2)
    chaos_runs = _sized(site, CHAOS_RUNS, "SYNDICATE_CRASH_CHAOS_RUNS", least=4)
    # the receiver's first answers, scattered over the chaos phase: 503, 429, 500 or a 204
    scripted = [rng.choice([503, 429, 500, 204, 204]) for _ in range(min(24, chaos_runs))]
    peers = _peers(site, webhook_receiver_factory, mastodon_peer, bluesky_pds, statuses=scripted, timeout=2)
    faults = (
        {"type": "status", "status": 503},
        {"type": "ratelimit"},
        {"type": "latency", "ms": 2500},  # past the 2 s timeout: the status is made after we gave up
    )
    urls: set[str] = set()
    tally: Counter[str] = Counter()
    started = time.monotonic()
    for _ in range(chaos_runs):
        urls |= _write_posts(site, len(urls), rng.randint(0, 3))
        clock = rng.choice(CLOCKS)
        tally[f"clock {clock or 'right'}"] += 1
        if rng.random() < 0.4:
            effect = rng.choice(faults)
            tally[f"mastodon {effect['type']}"] += 1
            mastodon_peer.add_fault(
                {"match": {"methods": ["POST"], "path": "/api/v1/statuses"}, "effect": effect, "count": 1}
            )
        if rng.random() < 0.3:  # SQLite's (PostgreSQL's lock is a session's: the second publisher tries it)
            for name in ("lock", "state.db.pid"):
                (site.root / ".syndicate" / name).unlink(missing_ok=True)
            tally["lock files deleted"] += 1
        first = peers.start(clock)
        second = peers.start(rng.choice(CLOCKS)) if rng.random() < 0.3 else None
        if _kill_within(first, rng.uniform(0.3, 4.0) if rng.random() < 0.5 else 60):
            tally["kills"] += 1
        codes = [peers.reap(first)]
        if second is not None:
            codes.append(peers.reap(second))
            tally["second publisher refused" if 5 in codes else "second publisher ran alone"] += 1
        assert not set(codes) - {0, 1, 4, 5, -signal.SIGKILL}, (codes, peers.stderr[-2:])
    settling = time.monotonic()
    mastodon_peer.clear_faults()
    runs = peers.finish()
    summary = {
        "runs": chaos_runs,
        **{key: tally[key] for key in sorted(tally)},
        "final_clean_runs": runs,
        **peers.count(urls),
        "seconds": round(time.monotonic() - started, 1),
        "seconds_to_settle": round(time.monotonic() - settling, 1),
    }
    _save(_report_name(site, "chaos"), summary)


def _life_post(site: Site, n: int, edit: int) -> str:
    site.post(
        f"l{n:04d}.md",
        f"---\ntitle: Post {n} edit {edit} end\ndate: 2024-06-01 {n % 24:02d}:00\nsummary: Same words.\n---\nBody.\n",
    )
    return f"https://example.com/blog/l{n:04d}/"


@both_stores
def test_kills_while_edits_and_deletions_are_in_flight_leave_one_status_with_the_latest_text(
    site: Site,
    webhook_receiver_factory: WebhookReceiverFactory,
    mastodon_peer: MastodonMock,
    bluesky_pds: BlueskyPds,
) -> None:
    rng = random.Random(SEED + 3)
    peers = _peers(site, webhook_receiver_factory, mastodon_peer, bluesky_pds, sky_extra='on_edit = "repost"')
    for method in ("POST", "PUT", "DELETE"):  # slow each kind of request so that kills land inside them
        mastodon_peer.add_fault(
            {
                "match": {"methods": [method], "path_regex": "^/api/v1/statuses"},
                "effect": {"type": "latency", "ms": 120},
            }
        )
    live: dict[int, int] = {}  # post number → its latest edit
    gone: dict[int, int] = {}
    tally: Counter[str] = Counter()
    started = time.monotonic()
    for _ in range(_sized(site, LIFE_ROUNDS, "SYNDICATE_CRASH_LIFE_ROUNDS", least=4)):
        for _new in range(rng.randint(1, 2)):
            n = len(live) + len(gone)
            live[n] = 0
            _life_post(site, n, 0)
            tally["new posts"] += 1
        for n in rng.sample(sorted(live), k=min(len(live), rng.randint(0, 2))):
            live[n] += 1
            _life_post(site, n, live[n])
            tally["edits"] += 1
        if live and rng.random() < 0.4:
            n = rng.choice(sorted(live))
            gone[n] = live.pop(n)
            (site.content / f"l{n:04d}.md").unlink()
            tally["deletions"] += 1
        if gone and rng.random() < 0.3:
            n = rng.choice(sorted(gone))
            live[n] = gone.pop(n) + 1
            _life_post(site, n, live[n])
            tally["restorations"] += 1
        proc = peers.start()
        tally["kills"] += _kill_within(proc, rng.uniform(0.3, 3.0))
        peers.reap(proc)
        tally["kills mid delivery"] += bool(peers.open_rows()["sending"])
    mastodon_peer.clear_faults()
    runs = peers.finish()
    url = {n: f"https://example.com/blog/l{n:04d}/" for n in [*live, *gone]}
    statuses = _statuses(peers.mastodon)
    records = _records(peers.pds, peers.did)
    per_status = {n: [s for s in statuses if u in s["content"]] for n, u in url.items()}
    per_record = {n: [r for r in records if r.value.embed.external.uri == u] for n, u in url.items()}
    stale = (
        [n for n, e in live.items() if f"edit {e} end" not in per_status[n][0]["content"]]
        if all(len(per_status[n]) == 1 for n in live)
        else []
    )
    summary = {
        **{key: tally[key] for key in sorted(tally)},
        "final_clean_runs": runs,
        "live_posts": len(live),
        "deleted_posts": len(gone),
        "mastodon_statuses": len(statuses),
        "bluesky_records": len(records),
        "duplicates": sum(max(0, len(v) - 1) for v in [*per_status.values(), *per_record.values()]),
        "lost": sum(1 for n in live if not per_status[n]) + sum(1 for n in live if not per_record[n]),
        "left_after_deletion": sum(len(per_status[n]) + len(per_record[n]) for n in gone),
        "stale_text": len(stale),
        "seconds": round(time.monotonic() - started, 1),
    }
    _save(_report_name(site, "lifecycle"), summary)
    assert all(len(per_status[n]) == 1 for n in live), {n: len(per_status[n]) for n in live}
    assert all(len(per_record[n]) == 1 for n in live), {n: len(per_record[n]) for n in live}
    assert not any(per_status[n] or per_record[n] for n in gone), {n: len(per_status[n]) for n in gone}
    assert stale == [], stale
    for n, e in live.items():
        assert per_record[n][0].value.text.startswith(f"Post {n} edit {e} end"), (n, per_record[n][0].value.text)
    assert not any("Traceback" in err for err in peers.stderr), next(e for e in peers.stderr if "Traceback" in e)


def _blink(path: Path, seconds: float) -> None:
    """The file away for a moment, then back where it was (a rename-away save)."""
    away = path.with_name(path.name + ".away")  # not a post: the .away suffix is not Markdown
    path.rename(away)
    time.sleep(seconds)
    away.rename(path)


def _ledger_count(site: Site, sql: str) -> int:
    [(count,)] = site.ledger(sql)
    return int(count)


@both_stores
def test_post_files_that_vanish_and_come_back_during_delivery_delete_nothing_and_post_nothing_twice(
    site: Site,
    webhook_receiver_factory: WebhookReceiverFactory,
    mastodon_peer: MastodonMock,
    bluesky_pds: BlueskyPds,
) -> None:
    rng = random.Random(SEED + 4)
    window = "\n[delivery]\ndelete_after = 60\n"  # longer than any blink, shorter than the scenario
    peers = _peers(site, webhook_receiver_factory, mastodon_peer, bluesky_pds, delivery=window)
    mastodon_peer.add_fault(  # slow the statuses a little so that blinks land inside deliveries
        {"match": {"methods": ["POST"], "path": "/api/v1/statuses"}, "effect": {"type": "latency", "ms": 150}}
    )
    urls: set[str] = set()
    tally: Counter[str] = Counter()
    started = time.monotonic()
    rounds = _sized(site, VANISH_ROUNDS, "SYNDICATE_CRASH_VANISH_ROUNDS", least=3)
    for _ in range(rounds):
        urls |= _write_posts(site, len(urls), rng.randint(1, 3))
        files = sorted(site.content.glob("p*.md"))
        early = rng.choice(files) if rng.random() < 0.5 else None
        if early is not None:  # the run starts with this file away: it notices, and must wait
            early.rename(early.with_name(early.name + ".away"))
        proc = peers.start()
        if early is not None:
            time.sleep(rng.uniform(0.8, 2.0))
            early.with_name(early.name + ".away").rename(early)
            tally["runs started with a file away"] += 1
        deadline = time.monotonic() + rng.uniform(0.5, 3.0)
        while proc.poll() is None and time.monotonic() < deadline:
            _blink(rng.choice(files), rng.uniform(0.01, 0.5))
            tally["blinks during a run"] += 1
            time.sleep(rng.uniform(0, 0.2))
        if proc.poll() is None and rng.random() < 0.3:
            proc.send_signal(signal.SIGKILL)
            tally["kills"] += 1
        peers.reap(proc)
        tally["runs that saw a post leaving"] += bool(
            _ledger_count(site, "SELECT COUNT(*) FROM posts WHERE leaving IS NOT NULL")
        )
    mastodon_peer.clear_faults()
    runs = peers.finish()
    deletions = _ledger_count(site, "SELECT COUNT(*) FROM deliveries WHERE event = 'post.deleted'")
    again = _ledger_count(site, "SELECT COUNT(*) FROM deliveries WHERE revision LIKE 'life:%'")
    summary = {
        "rounds": rounds,
        **{key: tally[key] for key in sorted(tally)},
        "final_clean_runs": runs,
        **peers.count(urls),
        "deletions": deletions,
        "posted_again": again,
        "seconds": round(time.monotonic() - started, 1),
    }
    _save(_report_name(site, "vanish"), summary)
    assert deletions == 0 and again == 0, summary
