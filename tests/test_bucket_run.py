"""`syndicate run` with a bucket output (`--out s3://…` or `[output] url`), against moto's S3 server
behind the counting proxy (tests/s3proxy.py), with the real daemon in a subprocess and a webhook
receiver on 127.0.0.1 that looks in the bucket when it is called: a post saved while it runs
reaches the bucket, then the receiver, once (an object in the way is said once, the rest goes on);
a 412 from another writer is one line, /healthz degraded and nothing sent, the retry uploads and
sends once, and a cycle that changed nothing then makes no request; behind a CDN
(tests/test_live.py's), nothing is sent until it serves the new feeds, and SIGTERM ends that wait
at once (the next start sends once)."""

from __future__ import annotations

import http.server
import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import CONFIG, Site
from tests.peers.fixtures import require_modules
from tests.s3proxy import Proxy
from tests.test_bucket import BUCKET, ENV, POSTS, PREFIX, URL, Moto, _feeds, _local
from tests.test_bucket import moto as moto  # the fixtures
from tests.test_bucket import moto_server as moto_server
from tests.test_bucket import s3 as s3
from tests.test_daemon import Running, start, stop
from tests.test_live import ENV as LIVE_ENV
from tests.test_live import Call, Cdn, _all_live
from tests.test_live import _site as _live_site
from tests.test_live import cdn as cdn  # the fake CDN and the hub and webhook receiver
from tests.test_live import receivers as receivers

NEW = "---\ntitle: D\ndate: 2024-01-04 12:00\ntags: [red]\n---\nDelta.\n"


@dataclass
class Hook:
    """A webhook receiver that notes, for each call, what the bucket's feed.xml held then."""

    url: str = ""
    calls: list[bytes | None] = field(default_factory=list)


@pytest.fixture
def hook(moto: Moto) -> Iterator[Hook]:
    state = Hook()
    client = moto.client()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                try:
                    data: bytes | None = client.get_object(Bucket=BUCKET, Key=PREFIX + "feed.xml")["Body"].read()
                except client.exceptions.NoSuchKey:
                    data = None
                state.calls.append(data)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _site(tmp_path: Path, s3: Proxy, hook: Hook, output: str = "") -> Site:
    site = Site(tmp_path / "site")
    site.content.mkdir(parents=True)
    # example.com is not on 127.0.0.1: no live check here (tests/test_live.py is about it)
    config = CONFIG + f'\n[output]\nendpoint = "{s3.url}"\nverify_live = false\n{output}'
    config += f'\n[[targets]]\nname = "hooks"\nkind = "webhook"\nurl = "{hook.url}"\nsecret_env = "HOOK_SECRET"\n'
    site.config(config)
    for name, text in POSTS.items():
        site.post(name, text)
    return site


def _health(run: Running) -> dict[str, object]:
    body: dict[str, object] = json.loads(run.get("healthz")[2])
    return body


def _cycles(run: Running) -> int:
    return int(str(_health(run).get("cycles", 0)))


def _settled(run: Running) -> None:
    """Wait until a cycle that started now has finished (SIGHUP: a full cycle)."""
    before = _cycles(run)
    run.proc.send_signal(signal.SIGHUP)
    run.wait_for(lambda: _cycles(run) > before, what="a cycle after SIGHUP")


def test_a_post_saved_while_it_runs_reaches_the_bucket_then_the_webhook_once(
    s3: Proxy, moto: Moto, hook: Hook, tmp_path: Path
) -> None:
    site = _site(tmp_path, s3, hook, f'url = "{URL}"\n')
    moto.client().put_object(Bucket=BUCKET, Key=PREFIX + "tags/green/atom.xml", Body=b"hand-made")
    run = start(site, env=ENV)
    try:
        serving = run.events("serving")[0]["message"]
        assert ".syndicate/bucket/" in serving and f"a preview: readers get the feeds from {URL}" in serving
        run.wait_for(lambda: len(_feeds(moto)) == 14, what="the first upload")
        assert run.events("uploaded")[0]["message"].startswith(f"13 objects to {URL} (")
        # an object syndicate did not upload, at a key it wants: left alone, said once, the rest goes on
        [refused] = run.events("error")
        assert refused["message"] == (
            f"{URL}tags/green/atom.xml is an object syndicate did not upload (it was there before, or was changed"
            " since); it was left alone: delete it, or choose another prefix"
        )
        assert hook.calls == []  # the posts there at the first start are the baseline
        site.post("d.md", NEW)
        run.wait_for(lambda: len(hook.calls) == 1, what="the webhook")
        [seen] = hook.calls
        assert seen is not None and b"Delta" in seen  # called once the new feed was in the bucket
        # while an object is in the way a cycle lists the bucket again (to say it, once), and does nothing more
        _settled(run)
        s3.log.clear()
        _settled(run)
        assert [(method, status) for method, _, status in s3.log] == [("GET", 200)]
        assert len(hook.calls) == 1 and len(run.events("error")) == 1
        assert _health(run)["status"] == "ok"
    finally:
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)
    assert ENV["AWS_SECRET_ACCESS_KEY"] not in "\n".join(run.raw)
    local = _local(site, tmp_path / "local")
    assert _feeds(moto) == local | {"tags/green/atom.xml": b"hand-made"}
    assert not (site.root / "public").exists()


def test_a_412_from_another_writer_sends_nothing_and_the_retry_uploads_and_sends_once(
    s3: Proxy, moto: Moto, hook: Hook, tmp_path: Path
) -> None:
    site = _site(tmp_path, s3, hook)
    run = start(site, "--out", URL, env=ENV)
    try:
        run.wait_for(lambda: bool(_feeds(moto)), what="the first upload")
        staging = next((site.root / ".syndicate" / "bucket").iterdir())
        client = moto.client()
        wrote: list[str] = []

        def other_writer(method: str, path: str) -> None:
            # another syndicate (a second host) uploads the same build first, once
            if method == "PUT" and path.endswith("/tags/red/feed.xml") and not wrote:
                wrote.append(path)
                body = (staging / "tags" / "red" / "feed.xml").read_bytes()
                client.put_object(Bucket=BUCKET, Key=PREFIX + "tags/red/feed.xml", Body=body)

        s3.hook = other_writer
        site.post("d.md", NEW)
        run.wait_for(lambda: bool(run.events("error")), what="the failed upload")
        [error] = run.events("error")
        assert f"{URL}tags/red/feed.xml was changed by another writer" in error["message"]
        assert "(HTTP 412)" in error["message"] and "nothing was sent; tried again after 2 s" in error["message"]
        health = _health(run)
        assert health["status"] == "degraded" and "HTTP 412" in str(health["last_error"])
        assert hook.calls == []
        # the retry lists the bucket again: the other writer's object is the build's, learned; the rest is put
        run.wait_for(lambda: len(hook.calls) == 1, what="the webhook after the retry")
        [seen] = hook.calls
        assert seen is not None and b"Delta" in seen
        run.wait_for(lambda: _health(run)["status"] == "ok", what="ok again")
        assert [e["message"] for e in run.events("recovered")] == ["a cycle succeeded again after 1 failed"]
        # the upload complete, a cycle that changed nothing makes no request to the service
        s3.hook = None
        _settled(run)
        s3.log.clear()
        _settled(run)
        assert s3.log == []
        assert len(hook.calls) == 1 and len(run.events("error")) == 1
    finally:
        s3.hook = None
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)
    assert _feeds(moto) == _local(site, tmp_path / "local")


def test_run_sends_only_once_the_cdn_serves_the_new_feeds(
    s3: Proxy, cdn: Cdn, receivers: tuple[str, list[Call]], tmp_path: Path
) -> None:
    base, calls = receivers
    site = _live_site(tmp_path, s3, cdn, base)
    run = start(site, "--out", URL, env=LIVE_ENV)
    try:
        run.wait_for(lambda: len(calls) == 12, what="the first pings (the site's feeds and each tag's)")
        calls.clear()
        cdn.stale_for = 1.0
        started = time.monotonic()
        site.post("d.md", NEW)
        run.wait_for(lambda: len(calls) == 7, what="the webhook and the pings")
        assert sorted(c.kind for c in calls) == ["hook"] + ["ping"] * 6  # the site's three feeds and red's
        _all_live(calls)
        assert min(c.at for c in calls) - started >= cdn.stale_for  # they waited for the CDN
        # a CDN that does not update: SIGTERM ends the wait at once, nothing sent; the next start sends once
        calls.clear()
        cdn.stale_for = 3600
        site.post("e.md", NEW.replace("title: D", "title: E").replace("Delta", "Echo").replace("01-04", "01-05"))
        run.wait_for(lambda: bool(cdn.changed), what="the check to begin")
        asked = time.monotonic()
        assert stop(run) == 0
        assert time.monotonic() - asked < 3  # verify_timeout is 10 s
        assert calls == []
        said = [e["message"] for e in run.events("stopping")]
        assert said[0] == "finishing the delivery in flight"
        assert said[1].startswith("stopped while waiting for the feeds to be live; nothing was sent")
        with cdn.lock:
            cdn.stale_for, cdn.changed = 0.0, {}
        run = start(site, "--out", URL, env=LIVE_ENV)
        run.wait_for(lambda: len(calls) == 7, what="the webhook and the pings after the restart")
        assert sorted(c.kind for c in calls) == ["hook"] + ["ping"] * 6
        assert all(c.stored is not None and b"Echo" in c.stored and c.served == c.stored for c in calls)
        time.sleep(0.5)
        assert len(calls) == 7
    finally:
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)


def test_run_with_a_bucket_needs_credentials_at_the_start(site: Site, tmp_path: Path) -> None:
    require_modules("uploading to a bucket", "obstore")
    bare = {k: "" for k in ENV} | {"HOME": str(tmp_path / "home"), "AWS_PROFILE": "", "AWS_SHARED_CREDENTIALS_FILE": ""}
    site.config(CONFIG + f'\n[output]\nurl = "{URL}"\n')
    run = site.run("run", "--port", "0", env=bare)
    assert run.code == 3
    assert run.err.strip().splitlines()[-1].startswith("error: no AWS credentials to upload with")
    run = site.run("run", "--port", "0", "--preview", "--out", URL, env=ENV)
    assert run.code == 2
    assert "--preview uploads nothing" in run.err
    daemon = start(site, "--out", "pub", env=bare)  # a folder, as `publish --out DIR`: no bucket, no credentials
    try:
        assert daemon.events("serving")[0]["message"].endswith("from pub")
        assert (site.root / "pub" / "feed.xml").is_file() and not daemon.events("uploaded")
    finally:
        assert stop(daemon) == 0
