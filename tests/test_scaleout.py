"""Exactly once across many hosts: `syndicate host --store` on a real PostgreSQL, under faults.

S sites, each checked out once per host (as on machines of their own), H `syndicate host`
processes on the same database with a short lease. Every site sends to a webhook receiver of ours
(a Standard Webhooks receiver that verifies each signature and timestamp and answers 5 % 500s,
2 % "applied, then the connection dropped" and some 429s with Retry-After); some also to
mastodon-mock and to a real Bluesky PDS. First a short phase without faults measures deliveries
per second with 1, 2 (and 4) hosts; then, while new posts, title edits and deletions are written
to every copy, a random host is SIGKILLed and restarted every 0.5–3 s, one host is SIGSTOPped for
twice the lease, PostgreSQL is restarted with ``pg_ctl restart -m immediate``, and one host runs
an hour behind (libfaketime). At the end the faults stop, the hosts settle, and every live post
must be at every target exactly once with its latest title, every deleted one nowhere.

CI runs a small version; `python bench/scaleout.py` runs the full one (SYNDICATE_SCALE_*
variables drive this test from there) and prints the summary this test saves as JSON.
"""

from __future__ import annotations

import http.server
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.peers.fixtures import BlueskyPds, MastodonMock, new_webhook_secret
from tests.pg import BIN, PASSWORD, Cluster, _as_postgres

SITES = int(os.environ.get("SYNDICATE_SCALE_SITES", "4"))
HOSTS = int(os.environ.get("SYNDICATE_SCALE_HOSTS", "2"))
KILLS = int(os.environ.get("SYNDICATE_SCALE_KILLS", "10"))
MASTODON_SITES = int(os.environ.get("SYNDICATE_SCALE_MASTODON_SITES", "1"))
BLUESKY_SITES = int(os.environ.get("SYNDICATE_SCALE_BLUESKY_SITES", "0"))
RATES = [int(n) for n in os.environ.get("SYNDICATE_SCALE_RATES", "1").split(",") if n.strip()]
RATE_POSTS = int(os.environ.get("SYNDICATE_SCALE_RATE_POSTS", "2"))  # new posts per site in each throughput phase
WRITE_EVERY = float(os.environ.get("SYNDICATE_SCALE_WRITE_EVERY", "0.3"))  # seconds between writes in the chaos
LEASE = float(os.environ.get("SYNDICATE_SCALE_LEASE", "3"))
SETTLE = float(os.environ.get("SYNDICATE_SCALE_SETTLE", "60"))  # seconds the hosts get to settle at the end
SEED = int(os.environ.get("SYNDICATE_SCALE_SEED", "11"))
REPORT = os.environ.get("SYNDICATE_SCALE_REPORT")
LOGS = os.environ.get("SYNDICATE_SCALE_LOGS")  # a folder to keep every host's log in (one file per incarnation)
OPEN = ("pending", "sending", "failed")
EVENTS = ("post.published", "post.updated", "post.deleted")


# ------------------------------------------------------------------ the webhook receiver


@dataclass
class Arrival:
    site: str
    event: str
    url: str
    title: str
    webhook_id: str
    at: float  # time.time() when it was applied


@dataclass
class Receiver:
    """One Standard Webhooks receiver for every site (keyed by the path, /s000), recording what it
    applied; while ``faulty`` it answers 5 % 500s, 2 % applied-then-dropped and 2 % 429s."""

    url: str
    rng: random.Random
    faulty: bool = True
    applied: list[Arrival] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arrivals(self) -> list[Arrival]:
        with self.lock:
            return list(self.applied)


@contextmanager
def receiver(secret: str, rng: random.Random) -> Iterator[Receiver]:
    from standardwebhooks import Webhook

    hook = Webhook(secret)
    rec: Receiver

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                hook.verify(body, headers)  # the signature, and a timestamp within 5 minutes
            except Exception:
                self._answer(400, "refused (signature or timestamp)")
                return
            with rec.lock:
                roll = rec.rng.random() if rec.faulty else 1.0
            if roll < 0.05:
                self._answer(500, "500")
                return
            if roll < 0.07:
                self._apply(body, headers)
                with rec.lock:
                    rec.tally["applied, then dropped"] += 1
                self.close_connection = True  # no answer: the sender cannot know it was applied
                return
            if roll < 0.09:
                self._answer(429, "429", ("Retry-After", "1"))
                return
            self._apply(body, headers)
            self._answer(204, "204")

        def _apply(self, body: bytes, headers: dict[str, str]) -> None:
            data = json.loads(body)
            item = data.get("data", {})
            arrival = Arrival(
                self.path.strip("/"), data["type"], item.get("url", ""), item.get("title", ""),
                headers["webhook-id"], time.time(),
            )  # fmt: skip
            with rec.lock:
                rec.applied.append(arrival)

        def _answer(self, status: int, what: str, *header: tuple[str, str]) -> None:
            with rec.lock:
                rec.tally[what] += 1
            try:
                self.send_response(status)
                for k, v in header:
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256  # four hosts' sites at once

    server = Server(("127.0.0.1", 0), Handler)
    rec = Receiver(f"http://127.0.0.1:{server.server_address[1]}", rng)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------ the hosts

SLEEP_FIX = """import threading
import time


def _sleep(seconds: float) -> None:
    if seconds > 0:
        threading.Event().wait(seconds)


time.sleep = _sleep
"""


@dataclass
class Host:
    """One `syndicate host` process (one incarnation: a restart is a new Host), its log stamped
    with our clock as it arrives (a host under libfaketime stamps its own an hour off)."""

    index: int
    proc: subprocess.Popen[str]
    started: float
    lines: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None

    def events(self, kind: str | None = None) -> list[tuple[float, dict[str, Any]]]:
        with self.lock:
            return [(t, e) for t, e in self.lines if kind is None or e.get("event") == kind]

    def held_at(self, when: float) -> set[str]:
        """The sites whose lease this host held at ``when`` (by what it said)."""
        held: set[str] = set()
        for t, e in self.events("lease"):
            if t > when:
                break
            if "took this site's lease" in e["message"] or "renewed this site's lease" in e["message"]:
                held.add(e.get("site", ""))
            elif "lost this site's lease" in e["message"] or "could not renew" in e["message"]:
                held.discard(e.get("site", ""))
        return held

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused host would not hear SIGTERM
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=120)
        if self.thread is not None:
            self.thread.join(timeout=10)
        return code


def _read(host: Host) -> None:
    assert host.proc.stderr is not None
    for line in host.proc.stderr:
        now = time.time()
        with host.lock:
            host.raw.append(line.rstrip("\n"))
            try:
                host.lines.append((now, json.loads(line)))
            except json.JSONDecodeError:
                host.lines.append((now, {"event": "unparsed", "message": line}))
    host.proc.stderr.close()


@dataclass
class Fleet:
    """H copies of the S sites, the hosts running them, and every incarnation's log."""

    tmp: Path
    pg_url: str
    env: dict[str, str]
    names: list[str]
    skewed: int | None = None  # the host index that runs an hour behind
    paused: int | None = None  # the host index that is SIGSTOPped now
    running: dict[int, Host] = field(default_factory=dict)
    every: list[Host] = field(default_factory=list)

    def copy(self, index: int) -> Path:
        return self.tmp / f"machine{index}"

    def start(self, index: int) -> Host:
        from tests.test_postgres_publish import skewed_env

        cmd = [sys.executable, "-m", "syndicate", "host", str(self.copy(index)), "--store", self.pg_url,
               "--name", f"machine-{index}", "--port", "0", "--log-format", "json"]  # fmt: skip
        env = {**os.environ, "PYTHONWARNINGS": "error", **self.env}
        if index == self.skewed:
            env.update(skewed_env(-3600))
            env["PYTHONPATH"] = os.pathsep.join([str(self.sleep_fix()), env.get("PYTHONPATH", "")])
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        host = Host(index, proc, time.time())
        host.thread = threading.Thread(target=_read, args=(host,), daemon=True)
        host.thread.start()
        self.running[index] = host
        self.every.append(host)
        return host

    def held(self) -> set[str]:
        """The sites whose lease a running host holds now (by what they said)."""
        return {s for h in self.running.values() for s in h.held_at(time.time())}

    def sleep_fix(self) -> Path:
        """A sitecustomize that makes time.sleep wait on a lock instead: under libfaketime 0.9.10 with
        FAKETIME_DONT_FAKE_MONOTONIC every time.sleep fails with EINVAL (its clock_nanosleep), which
        ends watchdog's thread (its delayed queue sleeps); a lock's timed wait is not intercepted."""
        folder = self.tmp / "faketime-sleep"
        folder.mkdir(exist_ok=True)
        (folder / "sitecustomize.py").write_text(SLEEP_FIX)
        return folder

    def resume(self, host: Host) -> None:
        host.proc.send_signal(signal.SIGCONT)
        self.paused = None

    def up(self) -> list[int]:
        """The hosts that have started (said "serving"), but the paused one."""
        return [i for i, h in sorted(self.running.items()) if i != self.paused and h.events("serving")]

    def stop_all(self) -> None:
        for index in list(self.running):
            self.running.pop(index).stop()

    def write(self, name: str, slug: str, text: str | None) -> None:
        """The same change in every copy (a `git pull` on each machine); None deletes."""
        for index in range(HOSTS):
            path = self.copy(index) / name / "content" / f"{slug}.md"
            if text is None:
                path.unlink(missing_ok=True)
            else:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(text)
                tmp.replace(path)


def site_config(name: str, receiver_url: str, mastodon: str | None, sky: tuple[str, str] | None,
                pg_url: str) -> str:  # fmt: skip
    text = f"""[site]
title = "Site {name}"
url = "https://{name}.example/"
author = "A"
permalink = "/{{slug}}/"

[delivery]
delete_after = 0
retry_schedule = [1, 2]
max_attempts = 50

[[targets]]
name = "hooks"
kind = "webhook"
url = "{receiver_url}/{name}"
secret_env = "HOOK_SECRET"
events = ["post.published", "post.updated", "post.deleted"]
timeout = 5
"""
    if mastodon is not None:
        text += f"""
[[targets]]
name = "masto"
kind = "mastodon"
instance = "{mastodon}"
token_env = "MASTODON_TOKEN_{name.upper()}"
timeout = 3
"""
    if sky is not None:
        text += f"""
[[targets]]
name = "sky"
kind = "bluesky"
service = "{sky[0]}"
handle = "{sky[1]}"
password_env = "BSKY_PASSWORD_{name.upper()}"
on_edit = "repost"
timeout = 5
"""
    return text + f'\n[store]\nurl = "{pg_url}"\npassword_env = "LEDGER_PASSWORD"\nlease = {LEASE:g}\n'


def post_text(title: str) -> str:
    return f"---\ntitle: {title}\ndate: 2024-06-01 10:00\nsummary: Same words.\n---\nBody.\n"


# ------------------------------------------------------------------ mastodon-mock, an account per site


@contextmanager
def mastodon_accounts(tmp: Path, names: list[str]) -> Iterator[tuple[str, dict[str, str]]]:
    """mastodon-mock with one account per site (a host's sites are different people's blogs: one
    account shared by them all would put more statuses between a lost attempt and its reconciling
    than the 200 syndicate looks through); its URL and each site's token."""
    from tests.peers.fixtures import free_port, require_modules, run_peer

    require_modules("mastodon-mock", "mastodon_mock")
    tokens = {name: f"token-{name}-{new_webhook_secret()[6:22]}" for name in names}
    config = tmp / "mastodon-mock.toml"
    config.write_text(
        '[server]\nhost = "127.0.0.1"\nport = 3000\n\n[database]\npath = ":memory:"\n'
        + "".join(
            f'\n[[seed.accounts]]\nusername = "{name}"\ndisplay_name = "{name}"\nbot = true\naccess_token = "{token}"\n'
            for name, token in tokens.items()
        )
    )
    port = free_port()
    argv = [sys.executable, "-m", "mastodon_mock", "serve", "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning"]  # fmt: skip
    with run_peer("mastodon-mock", argv, port=port, log_path=tmp / "mastodon-mock.out"):
        yield f"http://127.0.0.1:{port}", tokens


# ------------------------------------------------------------------ the database


def ledger_rows(pg_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(pg_url, password=PASSWORD, autocommit=True, connect_timeout=5) as conn:
        return list(conn.execute(sql, args).fetchall())


def pg_restart(cluster: Cluster) -> float:
    """``pg_ctl restart -m immediate`` of the session's cluster (as a crash: no checkpoint), waited for."""
    t0 = time.monotonic()
    subprocess.run(
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(cluster.folder / "data"), "-l", str(cluster.folder / "log"),
                     "-m", "immediate", "-w", "restart"),
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return time.monotonic() - t0


# ------------------------------------------------------------------ the scenario


@dataclass
class Book:
    """What was written: each post's latest title, the deleted ones, and when each change was made."""

    titles: dict[tuple[str, str], str] = field(default_factory=dict)  # (site, url) → latest title of a live post
    gone: set[tuple[str, str]] = field(default_factory=set)
    written: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (site, url, event) → first written
    tally: Counter[str] = field(default_factory=Counter)
    serial: int = 0

    def new(self, fleet: Fleet, site: str) -> None:
        self.serial += 1
        slug = f"p{self.serial:05d}"
        url = f"https://{site}.example/{slug}/"
        title = f"Post {self.serial} edit 0 end"
        fleet.write(site, slug, post_text(title))
        self.titles[(site, url)] = title
        self.written[(site, url, "post.published")] = time.time()
        self.tally["new posts"] += 1

    def edit(self, fleet: Fleet, key: tuple[str, str]) -> None:
        site, url = key
        n, e = self.titles[key].split()[1], int(self.titles[key].split()[3]) + 1
        title = f"Post {n} edit {e} end"
        fleet.write(site, url.rstrip("/").rsplit("/", 1)[1], post_text(title))
        self.titles[key] = title
        self.tally["edits"] += 1

    def delete(self, fleet: Fleet, key: tuple[str, str]) -> None:
        site, url = key
        fleet.write(site, url.rstrip("/").rsplit("/", 1)[1], None)
        del self.titles[key]
        self.gone.add(key)
        self.written[(site, url, "post.deleted")] = time.time()
        self.tally["deletions"] += 1


def settled(fleet: Fleet, book: Book, names: list[str]) -> tuple[bool, Counter[str]]:
    """Whether every site's ledger has seen every change and has nothing open."""
    rows = ledger_rows(fleet.pg_url, "SELECT state, count(*) FROM deliveries GROUP BY state")
    states: Counter[str] = Counter({str(s): int(n) for s, n in rows})
    if any(states[s] for s in OPEN):
        return False, states
    seen = {(str(s), str(u)): (str(t), bool(d)) for s, u, t, d in
            ledger_rows(fleet.pg_url, "SELECT site, url, title, deleted FROM posts")}  # fmt: skip
    for (site, url), title in book.titles.items():
        if seen.get((f"https://{site}.example/", url)) != (title, False):
            return False, states
    for site, url in book.gone:
        got = seen.get((f"https://{site}.example/", url))
        if got is not None and not got[1]:
            return False, states
    return True, states


def open_rows(fleet: Fleet) -> str:
    """What is still open, and who holds each site (for a failure's message)."""
    rows = ledger_rows(
        fleet.pg_url,
        "SELECT d.site, d.target, d.event, d.post_id, d.state, d.attempts, d.next_attempt_at, d.last_error,"
        " s.lock_token, s.lock_host, s.lease_expires, now() FROM deliveries d JOIN sites s USING (site)"
        " WHERE d.state IN ('pending', 'sending', 'failed') ORDER BY d.site, d.created_at",
    )
    return "\n".join(" | ".join(str(v) for v in row) for row in rows[:20])


def retry_failed(fleet: Fleet) -> int:
    """`syndicate retry` in each site with a failed delivery due later than a few seconds from now (a
    request that got no answer waits a minute before it is tried again), as an operator would."""
    sql = "SELECT DISTINCT site FROM deliveries WHERE state = 'failed' AND next_attempt_at > now() + interval '4 s'"
    sites = [str(s) for (s,) in ledger_rows(fleet.pg_url, sql)]
    for site in sites:
        name = site.split("//", 1)[1].split(".", 1)[0]
        subprocess.run(
            [sys.executable, "-m", "syndicate", "retry"], cwd=fleet.copy(0) / name,
            env={**os.environ, **fleet.env}, capture_output=True, timeout=60,
        )  # fmt: skip
    return len(sites)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def wait_until(check: Callable[[], bool], timeout: float, what: str, fleet: Fleet) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    tails = "\n".join(line for h in fleet.running.values() for line in h.raw[-15:])
    raise AssertionError(f"timed out waiting for {what}; the hosts' last lines:\n{tails}")


def baselined(fleet: Fleet, count: int) -> bool:
    return int(ledger_rows(fleet.pg_url, "SELECT count(DISTINCT site) FROM posts")[0][0]) >= count


def throughput(fleet: Fleet, book: Book, rec: Receiver, hosts: int) -> dict[str, Any]:
    """Deliveries per second with ``hosts`` hosts and no faults: every site gets RATE_POSTS new posts
    at once, timed from the first write until the last post.published is applied."""
    for index in range(hosts):
        fleet.start(index)
    wait_until(lambda: baselined(fleet, len(fleet.names)), 60 + len(fleet.names), "every site's ledger", fleet)
    wait_until(lambda: fleet.held() >= set(fleet.names), 60 + len(fleet.names), "every site's lease", fleet)
    before = {(a.site, a.url) for a in rec.arrivals() if a.event == "post.published"}
    t0 = time.time()
    for _ in range(RATE_POSTS):
        for name in fleet.names:
            book.new(fleet, name)
    want = len(before) + RATE_POSTS * len(fleet.names)
    done = lambda: len({(a.site, a.url) for a in rec.arrivals() if a.event == "post.published"}) >= want  # noqa: E731
    wait_until(done, 120 + RATE_POSTS * len(fleet.names), f"the posts of the {hosts}-host phase", fleet)
    last = max(a.at for a in rec.arrivals() if a.event == "post.published")
    fleet.stop_all()
    count = RATE_POSTS * len(fleet.names)
    return {"deliveries": count, "seconds": round(last - t0, 2), "per_second": round(count / (last - t0), 1)}


def test_many_hosts_under_kills_pauses_a_database_restart_and_a_wrong_clock_deliver_each_post_once(
    tmp_path: Path, pg_cluster: Cluster, request: pytest.FixtureRequest
) -> None:
    rng = random.Random(SEED)
    started = time.monotonic()
    pg_url = pg_cluster.url(pg_cluster.fresh())
    secret = new_webhook_secret()
    names = [f"s{n:03d}" for n in range(SITES)]
    env = {"HOOK_SECRET": secret, "LEDGER_PASSWORD": PASSWORD}
    pds = request.getfixturevalue("bluesky_pds") if BLUESKY_SITES else None
    sky: dict[str, tuple[str, str]] = {}  # site → (handle, did)
    for name in names[:BLUESKY_SITES]:
        assert pds is not None
        handle, password, did = pds.create_account()
        sky[name] = (handle, did)
        env[f"BSKY_PASSWORD_{name.upper()}"] = password
    with (
        receiver(secret, random.Random(SEED + 1)) as rec,
        mastodon_accounts(tmp_path, names[: max(1, MASTODON_SITES)]) as (masto_url, tokens),
    ):
        mastodon_peer = MastodonMock(masto_url, "", tmp_path / "mastodon-mock.out", 0)  # its faults, for all
        env.update({f"MASTODON_TOKEN_{name.upper()}": token for name, token in tokens.items()})
        fleet = Fleet(tmp_path, pg_url, env, names)
        for index in range(HOSTS):
            for n, name in enumerate(names):
                site = fleet.copy(index) / name
                (site / "content").mkdir(parents=True)
                (site / "config").mkdir()
                masto = masto_url if n < MASTODON_SITES else None
                blue = (pds.base_url, sky[name][0]) if pds is not None and name in sky else None
                (site / "config" / "syndicate.toml").write_text(site_config(name, rec.url, masto, blue, pg_url))
                (site / "content" / "hello.md").write_text(post_text(f"Hello from {name}"))  # baselined, not sent
        book = Book()
        try:
            # 1. Throughput, without faults.
            rec.faulty = False
            rates = {f"{n}_hosts": throughput(fleet, book, rec, n) for n in RATES if n <= HOSTS}
            calm = [a.at - book.written[(a.site, a.url, a.event)] for a in _firsts(rec) if a.event == "post.published"]

            # 2. Chaos: writes, kills, a pause, a database restart, a host an hour behind, flaky receivers.
            rec.faulty = True
            fleet.skewed = HOSTS - 1
            for index in range(HOSTS):
                fleet.start(index)
            chaos_from = time.time()
            mastodon_peer.add_fault({"match": {"methods": ["POST"], "path": "/api/v1/statuses"},
                                     "effect": {"type": "status", "status": 500}, "count": 2})  # fmt: skip
            mastodon_peer.add_fault({"match": {"methods": ["POST"], "path": "/api/v1/statuses"},
                                     "effect": {"type": "ratelimit"}, "count": 2})  # fmt: skip
            mastodon_peer.add_fault({"match": {"methods": ["POST", "PUT"], "path_regex": "^/api/v1/statuses"},
                                     "effect": {"type": "latency", "ms": 3500}, "count": 2})  # fmt: skip
            stop_writing = threading.Event()

            def writer() -> None:
                wr = random.Random(SEED + 2)
                while not stop_writing.wait(wr.uniform(0.5, 1.5) * WRITE_EVERY):
                    roll = wr.random()
                    live = sorted(book.titles)
                    if roll < 0.55 or len(live) < 3:
                        book.new(fleet, wr.choice(names))
                    elif roll < 0.85:
                        book.edit(fleet, wr.choice(live))
                    else:
                        book.delete(fleet, wr.choice(live))

            writing = threading.Thread(target=writer, daemon=True)
            writing.start()
            kills: list[tuple[float, set[str]]] = []
            restart_seconds: float | None = None
            pause: threading.Timer | None = None
            while len(kills) < KILLS:
                time.sleep(rng.uniform(0.5, 3.0))
                wait_until(lambda: bool(fleet.up()), 60 + SITES, "a started host", fleet)  # kill working hosts
                if pause is None and len(kills) == KILLS // 3:  # one host paused for twice the lease
                    fleet.paused = rng.choice(fleet.up())
                    stopped = fleet.running[fleet.paused]
                    stopped.proc.send_signal(signal.SIGSTOP)
                    pause = threading.Timer(2 * LEASE, fleet.resume, args=(stopped,))
                    pause.start()
                if restart_seconds is None and len(kills) == KILLS // 2:
                    restart_seconds = pg_restart(pg_cluster)
                wait_until(lambda: bool(fleet.up()), 60 + SITES, "a started host", fleet)
                victim = rng.choice(fleet.up())
                host = fleet.running.pop(victim)
                when = time.time()
                held = host.held_at(when)
                host.stop(signal.SIGKILL)
                kills.append((when, held))
                fleet.start(victim)
            if pause is not None:
                pause.join()
            stop_writing.set()
            writing.join(timeout=30)
            chaos_seconds = time.time() - chaos_from

            # 3. The faults stop; the hosts settle.
            settling = time.monotonic()
            rec.faulty = False
            mastodon_peer.clear_faults()
            states: Counter[str] = Counter()
            retried = 0
            last_retry = time.monotonic()
            while time.monotonic() - settling < SETTLE:
                ok, states = settled(fleet, book, names)
                if ok:
                    break
                if time.monotonic() - last_retry > 2:
                    retried += retry_failed(fleet)
                    last_retry = time.monotonic()
                time.sleep(0.5)
            else:
                raise AssertionError(f"not settled after {SETTLE:g} s: {states}\n{open_rows(fleet)}")
            settle_seconds = time.monotonic() - settling
            time.sleep(1.0)  # anything sent twice would arrive now
        finally:
            fleet.stop_all()
            if LOGS:
                Path(LOGS).mkdir(parents=True, exist_ok=True)
                for n, host in enumerate(fleet.every):
                    stamped = (f"{t:.3f} {line}" for (t, _), line in zip(host.lines, host.raw, strict=False))
                    (Path(LOGS) / f"{n:04d}-machine{host.index}.log").write_text("\n".join(stamped) + "\n")

        # 4. What arrived where.
        summary = count(fleet, book, rec, (masto_url, tokens), pds, sky)
        resumes, takeovers = _resumes(fleet, rec, book, kills)
        chaos = [a.at - book.written[(a.site, a.url, a.event)] for a in _firsts(rec)
                 if a.at >= chaos_from and (a.site, a.url, a.event) in book.written]  # fmt: skip
        startups = [h.events("serving")[0][0] - h.started for h in fleet.every if h.events("serving")]
        clock_off = sum(
            1 for h in fleet.every for _, e in h.events("warning") if "3600 s behind the database's" in e["message"]
        )
        watch_fallbacks = sum(1 for h in fleet.every for _, e in h.events("watch") if "polling" in e["message"])
        report = {
            "sites": SITES,
            "hosts": HOSTS,
            "mastodon_sites": MASTODON_SITES,
            "bluesky_sites": BLUESKY_SITES,
            "lease_seconds": LEASE,
            **{f"deliveries_per_second_{k}": v["per_second"] for k, v in rates.items()},
            "throughput_phases": rates,
            "calm_due_to_sent_p50_p99": [percentile(calm, 0.5), percentile(calm, 0.99)],
            "kills": len(kills),
            "host_start_to_serving_p50_max": [percentile(startups, 0.5), percentile(startups, 1.0)],
            "pg_restart_seconds": round(restart_seconds or 0, 2),
            "paused_for_seconds": 2 * LEASE,
            **{k: book.tally[k] for k in sorted(book.tally)},
            "chaos_seconds": round(chaos_seconds, 1),
            "receiver": dict(sorted(rec.tally.items())),
            **summary,
            "zombie_writes_refused": sum(
                1 for h in fleet.every for _, e in h.events("lease") if "lost this site's lease" in e["message"]
            ),
            "chaos_due_to_sent_p50_p99": [percentile(chaos, 0.5), percentile(chaos, 0.99)],
            "resume_after_kill_p50_max": [percentile(resumes, 0.5), percentile(resumes, 1.0)],
            "lease_taken_over_after_kill_p50_max": [percentile(takeovers, 0.5), percentile(takeovers, 1.0)],
            "retry_runs_while_settling": retried,
            "settle_seconds": round(settle_seconds, 1),
            "ledger_states": dict(states),
            "watch_fallbacks_to_polling": watch_fallbacks,
            "clock_off_warnings": clock_off,
            "seconds": round(time.monotonic() - started, 1),
        }
        _save(report)
        assert summary["duplicates"] == 0 and summary["lost"] == 0, summary
        assert summary["stale_text"] == 0 and summary["left_after_deletion"] == 0, summary
        assert states["dead"] == 0, states
        assert len(kills) >= KILLS
        assert clock_off >= 1, "no host ran an hour behind (libfaketime missing? apt-get install faketime)"
        tracebacks = [line for h in fleet.every for line in h.raw if "Traceback" in line]
        assert not tracebacks, tracebacks[:3]


def _firsts(rec: Receiver) -> list[Arrival]:
    """The first arrival of each (site, post, event): when a target first had it."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for a in sorted(rec.arrivals(), key=lambda a: a.at):
        if (a.site, a.url, a.event) not in seen:
            seen.add((a.site, a.url, a.event))
            out.append(a)
    return out


def _resumes(
    fleet: Fleet, rec: Receiver, book: Book, kills: list[tuple[float, set[str]]]
) -> tuple[list[float], list[float]]:
    """Per kill and site the killed host held: seconds until that site's next delivery (when one was
    waiting), and until another host said it took that site's lease."""
    firsts = _firsts(rec)
    resumes, takeovers = [], []
    for when, held in kills:
        for site in held:
            waiting = [a for a in firsts if a.site == site and a.at > when
                       and book.written.get((a.site, a.url, a.event), when) < when]  # fmt: skip
            if waiting:
                resumes.append(min(a.at for a in waiting) - when)
            took = [t for h in fleet.every for t, e in h.events("lease")
                    if t > when and e.get("site") == site and "took this site's lease" in e["message"]]  # fmt: skip
            if took:
                takeovers.append(min(took) - when)
    return resumes, takeovers


def count(
    fleet: Fleet,
    book: Book,
    rec: Receiver,
    mastodon: tuple[str, dict[str, str]],
    pds: BlueskyPds | None,
    sky: dict[str, tuple[str, str]],
) -> dict[str, Any]:
    """Every live post at every target once with its latest title; every deleted one nowhere."""
    from tests.test_crash import _records, _statuses

    ids: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    updates: dict[tuple[str, str], list[Arrival]] = defaultdict(list)
    for a in sorted(rec.arrivals(), key=lambda a: a.at):
        ids[(a.site, a.url, a.event)].add(a.webhook_id)
        if a.event == "post.updated":
            updates[(a.site, a.url)].append(a)
    per_title: Counter[tuple[str, str, str]] = Counter()
    for (site, url), got in updates.items():
        for title in {a.title for a in got}:
            per_title[(site, url, title)] = len({a.webhook_id for a in got if a.title == title})
    dup: list[Any] = [k for k, v in ids.items() if k[2] != "post.updated" and len(v) > 1]
    dup += [k for k, v in per_title.items() if v > 1]
    lost: list[Any] = [k for k in book.titles if not ids.get((*k, "post.published"))]
    stale: list[Any] = []
    for key, title in book.titles.items():
        shown = updates[key][-1].title if updates.get(key) else None
        first = next((a.title for a in rec.arrivals() if (a.site, a.url, a.event) == (*key, "post.published")), None)
        if (shown or first) != title:
            stale.append((key, title, shown or first))
    left: list[Any] = [k for k in book.gone if ids.get((*k, "post.published")) and not ids.get((*k, "post.deleted"))]
    # Mastodon: an account per site; a status names its post's URL
    masto_sites = set(fleet.names[:MASTODON_SITES])
    statuses = 0
    per_status: dict[tuple[str, str], list[str]] = defaultdict(list)
    for site in sorted(masto_sites):
        account = MastodonMock(mastodon[0], mastodon[1][site], Path(), 0)
        keys = [k for k in [*book.titles, *book.gone] if k[0] == site]
        for status in _statuses(account):
            statuses += 1
            for key in keys:
                if key[1] in status["content"]:
                    per_status[key].append(status["content"])
    for key, title in book.titles.items():
        if key[0] in masto_sites:
            texts = per_status.get(key, [])
            dup += [("mastodon", key)] * max(0, len(texts) - 1)
            lost += [("mastodon", key)] if not texts else []
            stale += [("mastodon", key)] if len(texts) == 1 and title not in texts[0] else []
    left += [("mastodon", k) for k in book.gone if per_status.get(k)]
    records = 0
    for site, (_handle, did) in sky.items():
        assert pds is not None
        per_record: dict[str, list[Any]] = defaultdict(list)
        for r in _records(pds, did):
            per_record[r.value.embed.external.uri].append(r)
            records += 1
        for key, title in book.titles.items():
            if key[0] == site:
                found = per_record.get(key[1], [])
                dup += [("bluesky", key)] * max(0, len(found) - 1)
                lost += [("bluesky", key)] if not found else []
                stale += [("bluesky", key)] if len(found) == 1 and not found[0].value.text.startswith(title) else []
        left += [("bluesky", k) for k in book.gone if k[0] == site and per_record.get(k[1])]
    webhooks = len(rec.arrivals())
    distinct = sum(len(v) for v in ids.values())
    return {
        "live_posts": len(book.titles),
        "deleted_posts": len(book.gone),
        "webhook_requests_applied": webhooks,
        "webhook_redeliveries_same_id": webhooks - distinct,
        "mastodon_statuses": statuses,
        "bluesky_records": records,
        "duplicates": len(dup),
        "lost": len(lost),
        "stale_text": len(stale),
        "left_after_deletion": len(left),
        "examples": [str(x) for x in (dup + lost + stale + left)[:5]],
    }


def _save(summary: dict[str, Any]) -> None:
    print(json.dumps({"scaleout": summary}))
    if REPORT:
        Path(REPORT).write_text(json.dumps({"scaleout": summary}, indent=2))
