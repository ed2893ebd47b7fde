"""A 429 slows the lanes to that server only: the origin (``scheme://host[:port]``) that answered
it is throttled in the store, for every site the store holds (PostgreSQL: every site in the
database, on every host), and every delivery to it waits until then without an attempt, while
deliveries to other servers go at once. Real HTTP servers on 127.0.0.1 that record what they
get; a real PostgreSQL 15 (tests/pg.py) and the SQLite file."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syndicate.core.origins import origin
from syndicate.deliver.publish import PublishReport, Request, World, publish
from syndicate.deliver.secrets import Secrets
from syndicate.site import Site as SiteValue
from tests.conftest import CONFIG, NOW, Site
from tests.httpd import Answer, Recorder, recorder
from tests.peers.fixtures import new_webhook_secret
from tests.pg import PASSWORD

SECRET = new_webhook_secret()
WAIT = 4  # seconds the throttled server asks for (Retry-After)


def hook(name: str, url: str) -> str:
    return f"""
[[targets]]
name = "{name}"
kind = "webhook"
url = "{url}"
secret_env = "HOOK_SECRET"
events = ["post.published"]
timeout = 10
"""


def make_site(root: Path, extra: str) -> Site:
    site = Site(root)
    site.content.mkdir(parents=True)
    site.config(CONFIG + "\n[delivery]\nretry_schedule = [1]\n" + extra)
    return site


def run(site: Site) -> PublishReport:
    world = World(lambda: NOW, wall=lambda: datetime.now(UTC), secrets=Secrets({"HOOK_SECRET": SECRET}))
    return publish(SiteValue.open(site.root), Request(), world)


def write(site: Site, slug: str) -> None:
    site.post(f"{slug}.md", f"---\ntitle: {slug}\ndate: 2024-06-01\n---\nBody.\n")


def urls(rec: Recorder, prefix: str = "") -> list[str]:
    return [json.loads(r.body)["data"]["url"] for r in rec.requests if r.path.startswith(prefix)]


def attempts(site: Site, pg_url: str | None, name: str) -> tuple[int, int]:
    """Attempt rows and attempts counted of this site's deliveries to the busy server's targets
    (none may be made for a delivery that waits)."""
    from syndicate.deliver.postgres_store import PostgresStore
    from syndicate.deliver.sqlite_store import SQLiteStore

    path = site.root / ".syndicate" / "state.db"
    store = SQLiteStore(path, readonly=True) if pg_url is None else PostgresStore(pg_url, PASSWORD, name, readonly=True)
    try:
        rows = [d for d in store.deliveries() if d.target in ("hooks", "busy")]
        return sum(len(store.attempts(d.id)) for d in rows), sum(d.attempts for d in rows)
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_429_makes_every_delivery_to_that_server_wait_and_the_others_go(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: site A's delivery is answered 429; site B (another site in the same database)
    then sends nothing to that server, says until when, and sends to another server at once.
    SQLite (one site, one file): the same within the site, a second target on that server."""
    pg_url = request.getfixturevalue("pg_url") if kind == "postgres" else None
    monkeypatch.setenv("LEDGER_PASSWORD", PASSWORD)

    def store(name: str) -> str:
        return f'\n[store]\nurl = "{pg_url}"\npassword_env = "LEDGER_PASSWORD"\nsite = "{name}"\n' if pg_url else ""

    limited = Answer(429, headers=(("Retry-After", str(WAIT)),))
    with recorder(limited) as busy, recorder() as other:
        a = make_site(tmp_path / "a", hook("hooks", f"{busy.url}/a") + store("a"))
        b_root = tmp_path / "b" if pg_url else tmp_path / "a"
        b_hooks = hook("busy", f"{busy.url}/b") + hook("other", other.url)
        b = a if not pg_url else make_site(b_root, b_hooks + store("b"))
        if not pg_url:  # one site: its second target on the same server, and a third elsewhere
            a.config(
                CONFIG
                + "\n[delivery]\nretry_schedule = [1]\n"
                + hook("hooks", f"{busy.url}/a")
                + hook("busy", f"{busy.url}/b")
                + hook("other", other.url)
            )
        for site in {a.root: a, b.root: b}.values():
            run(site)  # the first run: posts out already are baseline
            write(site, "new")
        told = run(a)  # A's first delivery is answered 429; in one site, the busy target then waits
        assert [x.outcome for x in told.attempts if x.delivery.target in ("hooks", "busy")] == ["failed"]
        assert len(busy.requests) == 1 and (not pg_url or busy.requests[0].path == "/a")
        before = attempts(b, pg_url, "b")
        report = told if not pg_url else run(b)
        assert len(busy.requests) == 1, "nothing more went to the server that asked to slow down"
        assert urls(other) == ["https://example.com/blog/new/"], "another server's delivery went at once"
        server = origin(busy.url)
        assert server is not None and set(report.throttled) == {server}
        until, count = report.throttled[server]
        assert count == 1 and timedelta(seconds=WAIT - 2) < until - datetime.now(UTC) <= timedelta(seconds=WAIT)
        assert report.next_attempt is not None and report.next_attempt >= until, "it says when it goes"
        assert attempts(b, pg_url, "b") == before, "a wait is not an attempt"
        again = run(b)  # right after: still nothing to that server, no attempt, the same time said
        assert len(busy.requests) == 1 and server in again.throttled and not again.failed
        status = b.run("status", env={"HOOK_SECRET": SECRET, "LEDGER_PASSWORD": PASSWORD})
        waiting = "1 delivery to it waits" if pg_url else "2 deliveries to it wait"  # one site: its failed one too
        line = f"{server} asked to slow down (HTTP 429): {waiting} until {until:%Y-%m-%d %H:%M:%S} UTC"
        assert status.code == 0 and line in status.out, status
        assert "waits: " + server in status.out
        time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.2)
        for site in {a.root: a, b.root: b}.values():
            done = run(site)
            assert not done.throttled and not done.failed, done.attempts
        paths = [r.path for r in busy.requests]
        assert len(paths) == 3 and paths[1:].count(paths[0]) == 1 and set(paths) == {"/a", "/b"}, "then both went"
        assert len(other.requests) == 1


def test_syndicate_retry_lifts_the_wait_of_its_servers(tmp_path: Path) -> None:
    """`syndicate retry` is the user's word to try now: the delivery that was answered 429 and the
    server's wait both go, and the next publish sends at once."""
    with recorder(Answer(429, headers=(("Retry-After", "3600"),))) as busy:
        site = make_site(tmp_path / "a", hook("hooks", busy.url) + hook("again", f"{busy.url}/2"))
        run(site)
        write(site, "new")
        first = run(site)
        assert len(busy.requests) == 1 and first.throttled, "the second target there waits"
        assert site.run("retry", env={"HOOK_SECRET": SECRET}).code == 0
        done = run(site)
        assert not done.throttled and [a.outcome for a in done.attempts] == ["sent", "sent"]
        assert len(busy.requests) == 3


def test_a_throttle_is_only_raised_and_one_told_by_a_clock_that_was_ahead_is_over(tmp_path: Path) -> None:
    """A later, shorter 429 never shortens a wait; a throttle told by a clock that was ahead
    (told_at later than now) is over, as a failure recorded then is; `lift` forgets it."""
    from syndicate.deliver.sqlite_store import SQLiteStore

    store = SQLiteStore(tmp_path / "state.db")
    try:
        now = datetime.now(UTC)
        until = store.throttle("https://social.example", 30, now)
        assert store.throttles(now) == {"https://social.example": until}
        assert store.throttle("https://social.example", 5, now) == until, "a later 429 never shortens it"
        assert store.throttles(now - timedelta(hours=1)) == {}, "told by a clock an hour ahead: over"
        store.lift(["https://social.example"])
        assert store.throttles(now) == {}
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Social.Example:443/api/v1", "https://social.example"),
        ("http://127.0.0.1:8080/hook?token=x", "http://127.0.0.1:8080"),
        ("https://[::1]:8443/x", "https://[::1]:8443"),
        ("http://example.com:80", "http://example.com"),
        ("not a url", None),
    ],
)
def test_an_origin_is_scheme_host_and_port_without_the_default_port(url: str, expected: str | None) -> None:
    assert origin(url) == expected
