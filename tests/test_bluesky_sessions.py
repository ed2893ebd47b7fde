"""Bluesky sessions kept in the store, sealed, and refreshed: against a real @atproto/pds on
127.0.0.1 (tests/peers), reached through a recording proxy that counts ``createSession``, with
the ledger in SQLite and in a real PostgreSQL 15 (tests/pg.py). Every run is a fresh `publish`
(fresh objects, as a new process makes them)."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from syndicate.deliver.publish import PublishReport, Request, World, publish
from syndicate.deliver.secrets import Secrets
from syndicate.deliver.sessions import unseal
from syndicate.site import Site as SiteValue
from tests.conftest import CONFIG, NOW, Site
from tests.peers.fixtures import BlueskyPds
from tests.pg import PASSWORD, Cluster

CREATE = "/xrpc/com.atproto.server.createSession"
HOP = {"connection", "transfer-encoding", "keep-alive", "content-length"}


@contextmanager
def counting_proxy(upstream: str) -> Iterator[tuple[str, Counter[str]]]:
    """A reverse proxy on 127.0.0.1 to ``upstream`` that counts the paths it forwards."""
    seen: Counter[str] = Counter()
    target = urlsplit(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            seen[self.path.split("?", 1)[0]] += 1
            conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP | {"host"}}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            finally:
                conn.close()

        do_GET = do_POST = _forward

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def run(site: Site, password: str) -> PublishReport:
    world = World(lambda: NOW, wall=lambda: datetime.now(UTC), secrets=Secrets({"BSKY_PASSWORD": password}))
    return publish(SiteValue.open(site.root), Request(), world)


def write(site: Site, n: int) -> None:
    site.post(f"p{n}.md", f"---\ntitle: Post {n}\ndate: 2024-06-{n:02d}\n---\nBody {n}.\n")


class Ledger:
    """The sessions table of one store, as raw as the store keeps it."""

    def __init__(self, site: Site, cluster: Cluster | None, url: str | None) -> None:
        self.site, self.cluster, self.db = site, cluster, urlsplit(url).path.lstrip("/") if url else ""

    def raw(self) -> bytes:
        """Every byte the table's rows are kept in (SQLite: the database file and its log)."""
        if self.cluster is None:
            files = [self.site.root / ".syndicate" / name for name in ("state.db", "state.db-wal")]
            return b"".join(f.read_bytes() for f in files if f.exists())
        return self.cluster.admin("SELECT string_agg(s::text, E'\\n') FROM sessions s", self.db).encode()

    def row(self, service: str, handle: str) -> tuple[bytes, datetime]:
        if self.cluster is None:
            import sqlite3

            db = sqlite3.connect(self.site.root / ".syndicate" / "state.db")
            try:
                sealed, expires = db.execute(
                    "SELECT sealed, expires FROM sessions WHERE service=? AND handle=?", (service, handle)
                ).fetchone()
            finally:
                db.close()
            return bytes(sealed), datetime.fromisoformat(expires)
        hexed, epoch = self.cluster.admin(
            f"SELECT encode(sealed, 'hex') || ' ' || extract(epoch FROM expires) FROM sessions"
            f" WHERE service='{service}' AND handle='{handle}'",
            self.db,
        ).split()
        return bytes.fromhex(hexed), datetime.fromtimestamp(float(epoch), UTC)

    def expire(self) -> None:
        """As if the access token had expired: the stored expiry an hour ago."""
        if self.cluster is None:
            import sqlite3

            db = sqlite3.connect(self.site.root / ".syndicate" / "state.db")
            with db:
                db.execute("UPDATE sessions SET expires=?", ((datetime.now(UTC) - timedelta(hours=1)).isoformat(),))
            db.close()
        else:
            self.cluster.admin("UPDATE sessions SET expires = now() - interval '1 hour'", self.db)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_one_create_session_for_many_runs_sealed_in_the_store_and_refreshed(
    kind: str, tmp_path: Path, bluesky_pds: BlueskyPds, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle, password, _did = bluesky_pds.create_account()
    cluster: Cluster | None = request.getfixturevalue("pg_cluster") if kind == "postgres" else None
    url = cluster.url(cluster.fresh()) if cluster is not None else None
    monkeypatch.setenv("LEDGER_PASSWORD", PASSWORD)
    with counting_proxy(bluesky_pds.base_url) as (service, seen):
        site = Site(tmp_path / "site")
        site.content.mkdir(parents=True)
        store = f'\n[store]\nurl = "{url}"\npassword_env = "LEDGER_PASSWORD"\n' if url else ""
        target = f'\n[[targets]]\nname = "sky"\nkind = "bluesky"\nservice = "{service}"\nhandle = "{handle}"\n'
        site.config(CONFIG + target + 'password_env = "BSKY_PASSWORD"\n' + store)
        ledger = Ledger(site, cluster, url)
        run(site, password)  # the first run: a ledger, nothing to send, no session
        assert not seen[CREATE]
        for n in (1, 2, 3):  # three runs, each with fresh objects, each sending a post
            write(site, n)
            report = run(site, password)
            assert [a.outcome for a in report.attempts] == ["sent"], report.attempts
        assert seen[CREATE] == 1, f"one createSession for three runs, not {seen[CREATE]}"
        sealed, expires = ledger.row(service, handle)
        session = unseal(password, service, handle, sealed)
        assert session is not None and expires > datetime.now(UTC)
        access, refresh = session.split(":::")[2:4]
        raw = ledger.raw()
        assert raw and access.encode() not in raw and refresh.encode() not in raw, "no token in clear"
        assert password.encode() not in raw
        assert unseal("another password", service, handle, sealed) is None

        ledger.expire()  # the access token expired: refreshSession, not createSession
        write(site, 4)
        report = run(site, password)
        assert [a.outcome for a in report.attempts] == ["sent"], report.attempts
        assert seen[CREATE] == 1
        sealed, expires = ledger.row(service, handle)
        refreshed = unseal(password, service, handle, sealed)
        assert refreshed is not None and expires > datetime.now(UTC), "refreshed and kept"
        assert refreshed.split(":::")[3] != refresh, "a new refresh token: refreshSession was made"

        # a revoked session (deleted by the account): the refresh fails, so one createSession
        from atproto import Client  # type: ignore[import-untyped,unused-ignore]

        other = Client(base_url=bluesky_pds.base_url)
        try:
            other.com.atproto.server.delete_session(headers={"Authorization": f"Bearer {refreshed.split(':::')[3]}"})
        finally:
            other.request.close()
        ledger.expire()
        write(site, 5)
        report = run(site, password)
        assert [a.outcome for a in report.attempts] == ["sent"], report.attempts
        assert seen[CREATE] == 2, "a refresh that failed: createSession once"
        write(site, 6)
        run(site, password)
        assert seen[CREATE] == 2, "and kept again"

        # another password (an app password now): the kept session cannot be read with it, so one
        # createSession, and the session kept anew under the new password
        other = Client(base_url=bluesky_pds.base_url)
        try:
            other.login(handle, password, fetch_bsky_profile=False)
            app = other.com.atproto.server.create_app_password({"name": "syndicate"}).password
        finally:
            other.request.close()
        write(site, 7)
        report = run(site, app)
        assert [a.outcome for a in report.attempts] == ["sent"], report.attempts
        assert seen[CREATE] == 3
        sealed, _ = ledger.row(service, handle)
        assert unseal(app, service, handle, sealed) is not None and unseal(password, service, handle, sealed) is None


def test_store_migrate_leaves_sessions_and_throttles_behind(tmp_path: Path, pg_url: str) -> None:
    """Deliberately: a session is remade once (one createSession of ~100 a day) rather than copied
    over a fresher one another site keeps in the database; a throttle lasts minutes."""
    from syndicate.deliver.postgres_store import PostgresStore, copy_ledger
    from syndicate.deliver.sqlite_store import SQLiteStore

    lite = SQLiteStore(tmp_path / "state.db")
    now = datetime.now(UTC)
    lite.save_session("https://pds.example", "a.test", b"\x01sealed", now + timedelta(hours=2))
    lite.throttle("https://pds.example", 600, now)
    counts = copy_ledger(lite.db, pg_url, PASSWORD, "blog")
    lite.close()
    assert "sessions" not in counts and "throttles" not in counts
    store = PostgresStore(pg_url, PASSWORD, "blog", readonly=True)
    try:
        assert store.session("https://pds.example", "a.test") is None and store.throttles(now) == {}
    finally:
        store.close()
