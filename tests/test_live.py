"""Live before told (syndicate/deliver/live.py): `publish` to a bucket behind a CDN sends nothing
— no WebSub ping, no webhook — until the feeds it uploaded serve their new bytes at their public
URLs. Against moto's S3 server and a fake CDN of our own on 127.0.0.1 in front of it, which keeps
serving a feed's old bytes for a while after it changed (honouring If-None-Match) and has a purge
endpoint; a hub and a webhook receiver record when they were called and what the CDN served then."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from syndicate.config import parse_settings
from syndicate.core.uploads import Bucket, live_check, serves_itself
from syndicate.deliver.live import purge
from syndicate.errors import BucketError, ConfigError
from tests.conftest import CONFIG, NOW, Site
from tests.s3proxy import Proxy
from tests.test_bucket import BUCKET, POSTS, PREFIX, URL, Moto
from tests.test_bucket import ENV as S3_ENV
from tests.test_bucket import moto as moto  # the fixtures
from tests.test_bucket import moto_server as moto_server
from tests.test_bucket import s3 as s3

ENV = {**S3_ENV, "HOOK_SECRET": "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}
NEW = "---\ntitle: D\ndate: 2024-01-04 12:00\ntags: [red]\n---\nDelta.\n"


@dataclass
class Cdn:
    """A caching server in front of the bucket: a path it has served keeps its old bytes for
    ``stale_for`` seconds after it first sees the bucket's object change; ``POST /purge`` (public
    URLs, one a line) drops paths from its cache."""

    url: str = ""
    stale_for: float = 0.0
    cache: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    changed: dict[str, float] = field(default_factory=dict)
    purged: list[str] = field(default_factory=list)
    pages: dict[str, float] = field(default_factory=dict)  # a page's path → seconds of 404 after its first GET
    asked: dict[str, float] = field(default_factory=dict)  # a page's path → when it was first asked for
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, path: str) -> bytes | None:
        """What a reader gets at ``path`` now."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:
                data: bytes = resp.read()
                return data
        except urllib.error.HTTPError:
            return None


_CLIENT = threading.Lock()


def _origin(moto: Moto, path: str) -> tuple[str, bytes] | None:
    """The bucket's object at ``path`` (under the prefix): its ETag and bytes, or None."""
    with _CLIENT:
        client = moto.client()
        try:
            got = client.get_object(Bucket=BUCKET, Key=PREFIX + path.lstrip("/"))
        except client.exceptions.NoSuchKey:
            return None
        return str(got["ETag"]).strip('"'), bytes(got["Body"].read())


@pytest.fixture
def cdn(moto: Moto) -> Iterator[Cdn]:
    state = Cdn()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in state.pages:  # a post's page (not in the bucket): 404 until it is there
                with state.lock:
                    first = state.asked.setdefault(path, time.monotonic())
                there = time.monotonic() - first >= state.pages[path]
                self._answer(200 if there else 404, b"<p>Delta.</p>" if there else b"", "")
                return
            origin = _origin(moto, path)
            with state.lock:
                entry = state.cache.get(path)
                now = time.monotonic()
                if entry is None or (origin is not None and origin[0] != entry[0]):
                    first = state.changed.setdefault(path, now)
                    if entry is None or now - first >= state.stale_for:
                        entry = origin
                        state.changed.pop(path, None)
                        if origin is not None:
                            state.cache[path] = origin
            if entry is None:
                self._answer(404, b"", "")
            elif self.headers.get("If-None-Match", "").strip('"') == entry[0]:
                self._answer(304, b"", entry[0])
            else:
                self._answer(200, entry[1], entry[0])

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            with state.lock:
                for line in body.split():
                    path = urlsplit(line).path
                    state.purged.append(path)
                    state.cache.pop(path, None)
                    state.changed.pop(path, None)
            self._answer(204, b"", "")

        def _answer(self, status: int, body: bytes, etag: str) -> None:
            self.send_response(status)
            if etag:
                self.send_header("ETag", f'"{etag}"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Call:
    """A hub ping or a webhook: when, the feed it is about, what the CDN and the bucket held then."""

    kind: str
    at: float
    path: str
    served: bytes | None
    stored: bytes | None
    page: bytes | None = None  # a webhook: what the new post's page served then


@pytest.fixture
def receivers(cdn: Cdn, moto: Moto) -> Iterator[tuple[str, list[Call]]]:
    """A WebSub hub (``/hub``) and a webhook receiver (``/hook``) on one server."""
    calls: list[Call] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            at = time.monotonic()
            if self.path == "/hub":
                kind, path = "ping", urlsplit(parse_qs(body.decode())["hub.url"][0]).path
            else:
                kind, path = "hook", "/feed.xml"  # the site's feed, which names every new post
            origin = _origin(moto, path)
            page = cdn.get("/blog/d/") if kind == "hook" else None
            calls.append(Call(kind, at, path, cdn.get(path), origin[1] if origin else None, page))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()
        server.server_close()


def _site(
    tmp_path: Path, s3: Proxy, cdn: Cdn, base: str, output: str = "", allow: bool = True, pages: bool = False
) -> Site:
    site = Site(tmp_path / "site")
    site.content.mkdir(parents=True)
    config = CONFIG.replace("[feeds]\n", f'[feeds]\nurl = "{cdn.url}/"\n')
    if pages:  # the posts' pages are behind the CDN too
        config = config.replace('url = "https://example.com/"', f'url = "{cdn.url}/"')
    timeout = "" if "verify_timeout" in output else "verify_timeout = 10\n"
    config += f'\n[output]\nendpoint = "{s3.url}"\nverify_interval = 0.1\n{timeout}{output}'
    config += f'\n[websub]\nhubs = ["{base}/hub"]\n'
    config += f'\n[[targets]]\nname = "hooks"\nkind = "webhook"\nurl = "{base}/hook"\nsecret_env = "HOOK_SECRET"\n'
    if allow:
        config += '\n[content]\nfetch_allow = ["127.0.0.1"]\n'
    site.config(config)
    for name, text in POSTS.items():
        site.post(name, text)
    return site


def _publish(site: Site) -> tuple[int, str, str]:
    run = site.run("publish", "--out", URL, env=ENV)
    assert "Traceback" not in run.err and ENV["AWS_SECRET_ACCESS_KEY"] not in run.out + run.err
    return run.code, run.out, run.err


def _first(site: Site, calls: list[Call]) -> None:
    """The first publish: the posts recorded as baseline, every feed pinged; then a new post."""
    code, _out, err = _publish(site)
    assert code == 0, err
    assert {c.kind for c in calls} == {"ping"}
    calls.clear()
    site.post("d.md", NEW)


def _all_live(calls: list[Call]) -> None:
    for call in calls:
        assert call.stored is not None and b"Delta" in call.stored, call.path
        assert call.served == call.stored, f"{call.kind} {call.path}: called while the CDN served old bytes"


def test_pings_and_webhooks_wait_until_the_cdn_serves_the_new_feeds(
    s3: Proxy,
    cdn: Cdn,
    receivers: tuple[str, list[Call]],
    tmp_path: Path,
) -> None:
    base, calls = receivers
    site = _site(tmp_path, s3, cdn, base)
    _first(site, calls)
    cdn.stale_for = 1.0
    started = time.monotonic()
    code, out, err = _publish(site)
    assert code == 0, err
    kinds = sorted(c.kind for c in calls)
    assert kinds == ["hook"] + ["ping"] * 6  # the site's three feeds and red's
    _all_live(calls)
    assert min(c.at for c in calls) - started >= cdn.stale_for  # they waited for the CDN
    assert "live    6 feeds serve their new bytes (" in out
    calls.clear()
    code, out, err = _publish(site)
    assert code == 0 and calls == [] and "live" not in out  # nothing new: nothing checked, nothing sent


def test_a_cdn_that_never_updates_stops_the_run_then_a_later_run_sends_once(
    s3: Proxy,
    cdn: Cdn,
    receivers: tuple[str, list[Call]],
    tmp_path: Path,
) -> None:
    base, calls = receivers
    site = _site(tmp_path, s3, cdn, base, "verify_timeout = 1\n")
    _first(site, calls)
    cdn.stale_for = 3600
    code, _out, err = _publish(site)
    assert code == 3 and calls == []
    [line] = err.strip().splitlines()
    assert "error: not live after 1 s (verify_timeout):" in line
    assert "still serves other bytes (6 of 6 URLs)" in line and "nothing was sent, the next run checks again" in line
    cdn.stale_for = 0  # the CDN is fixed
    code, _out, err = _publish(site)
    assert code == 0, err
    assert sorted(c.kind for c in calls) == ["hook"] + ["ping"] * 6
    _all_live(calls)
    calls.clear()
    code, _out, err = _publish(site)
    assert code == 0 and calls == []  # exactly once


def test_a_run_killed_while_it_waits_leaves_the_check_to_the_next_run(
    s3: Proxy, cdn: Cdn, receivers: tuple[str, list[Call]], tmp_path: Path
) -> None:
    base, calls = receivers
    site = _site(tmp_path, s3, cdn, base)
    _first(site, calls)
    cdn.stale_for = 3600
    argv = [sys.executable, "-m", "syndicate", "publish", "--out", URL, "--now", NOW.isoformat()]
    proc = subprocess.Popen(argv, cwd=site.root, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not cdn.changed and time.monotonic() < deadline:  # the upload is done, the check began
            time.sleep(0.05)
        assert cdn.changed, "the run never checked the CDN"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert calls == []
    with cdn.lock:
        cdn.stale_for, cdn.changed = 1.0, {}  # stale for a second more from the next request on
    code, out, err = _publish(site)  # nothing left to upload: what the killed run uploaded is checked
    assert code == 0, err
    assert sorted(c.kind for c in calls) == ["hook"] + ["ping"] * 6 and "0 objects uploaded" in out
    _all_live(calls)


def test_verify_page_waits_for_the_new_posts_page_too(
    s3: Proxy, cdn: Cdn, receivers: tuple[str, list[Call]], tmp_path: Path
) -> None:
    base, calls = receivers
    site = _site(tmp_path, s3, cdn, base, "verify_page = true\n", pages=True)
    _first(site, calls)
    cdn.pages["/blog/d/"] = 1.0  # the page is online a moment after it was first asked for
    code, out, err = _publish(site)
    assert code == 0, err
    [hook] = [c for c in calls if c.kind == "hook"]
    assert hook.page == b"<p>Delta.</p>"  # told only once the page answers
    assert "live    6 feeds, 1 post page serve their new bytes (" in out
    calls.clear()
    cdn.pages["/blog/e/"] = 3600  # a page that never comes: nothing is sent
    site.post("e.md", NEW.replace("title: D", "title: E").replace("Delta", "Echo"))
    config = site.root / "config" / "syndicate.toml"
    config.write_text(config.read_text().replace("verify_timeout = 10", "verify_timeout = 1"))
    code, out, err = _publish(site)
    assert code == 3 and calls == [] and "/blog/e/: HTTP 404 (1 of 7 URLs)" in err


PURGE = """\
import sys, urllib.request
urls = sys.stdin.read()
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/purge", data=urls.encode()), timeout=10).read()
"""


def test_a_purge_command_makes_the_wait_short(
    s3: Proxy,
    cdn: Cdn,
    receivers: tuple[str, list[Call]],
    tmp_path: Path,
) -> None:
    base, calls = receivers
    site = _site(tmp_path, s3, cdn, base, f'purge_command = ["{sys.executable}", "scripts/purge.py", "{cdn.url}"]\n')
    (site.root / "scripts").mkdir()
    (site.root / "scripts" / "purge.py").write_text(PURGE)  # a path relative to the site
    _first(site, calls)
    cdn.purged.clear()
    cdn.stale_for = 3600  # only a purge brings the new bytes
    elsewhere = [sys.executable, "-m", "syndicate", "publish", "--site", str(site.root), "--out", URL]
    run = subprocess.run(
        [*elsewhere, "--now", NOW.isoformat()], cwd=tmp_path, env={**os.environ, **ENV}, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert sorted(c.kind for c in calls) == ["hook"] + ["ping"] * 6
    _all_live(calls)
    assert "/feed.xml" in cdn.purged and "/tags/red/feed.json" in cdn.purged and "/tags/blue/feed.xml" not in cdn.purged


def test_a_failing_purge_command_stops_the_run_with_one_line(
    s3: Proxy,
    cdn: Cdn,
    receivers: tuple[str, list[Call]],
    tmp_path: Path,
) -> None:
    base, calls = receivers
    fail = f'purge_command = ["{sys.executable}", "-c", "import sys; print(\'token=abc\'); sys.exit(4)"]\n'
    site = _site(tmp_path, s3, cdn, base, fail)
    code, out, err = _publish(site)
    assert code == 3 and calls == [] and "token" not in out
    [line] = err.strip().splitlines()
    assert "[output] purge_command" in line and "failed (exit status 4;" in line and "token" not in line
    assert "nothing was sent, the next run purges again" in line
    config = site.root / "config" / "syndicate.toml"
    config.write_text(config.read_text().replace(fail, 'purge_command = ["true"]\n'))
    code, _out, err = _publish(site)
    assert code == 0, err
    assert {c.kind for c in calls} == {"ping"}


def test_a_cdn_on_a_private_address_needs_fetch_allow(
    s3: Proxy,
    cdn: Cdn,
    receivers: tuple[str, list[Call]],
    tmp_path: Path,
) -> None:
    base, calls = receivers
    site = _site(tmp_path, s3, cdn, base, allow=False)
    code, _out, err = _publish(site)
    assert code == 3 and calls == []
    [line] = err.strip().splitlines()
    assert "cannot check that the feeds are live:" in line and "loopback" in line and "fetch_allow" in line


@pytest.mark.parametrize(
    ("feeds_url", "endpoint", "itself"),
    [
        ("https://feeds.s3.amazonaws.com/blog/", "", True),
        ("https://feeds.s3.eu-west-1.amazonaws.com/blog/", "", True),
        ("http://feeds.s3-website-us-east-1.amazonaws.com/", "", True),
        ("https://s3.us-east-2.amazonaws.com/feeds/blog/", "", True),
        ("https://s3.amazonaws.com/other/blog/", "", False),
        ("https://cdn.example.com/blog/", "", False),
        ("https://minio.example.com/feeds/blog/", "https://minio.example.com", True),
        ("https://feeds.minio.example.com/blog/", "https://minio.example.com", True),
        ("https://minio.example.com:9000/feeds/", "https://minio.example.com", False),
        ("https://example.com/feeds/", "https://minio.example.com", False),
    ],
)
def test_the_check_is_off_by_default_only_when_the_feed_urls_are_the_bucket(
    feeds_url: str, endpoint: str, itself: bool
) -> None:
    bucket = Bucket("feeds", "blog/", endpoint)
    assert serves_itself(feeds_url, bucket) is itself
    settings = parse_settings(CONFIG.replace("[feeds]\n", f'[feeds]\nurl = "{feeds_url}"\n'))
    assert live_check(settings, bucket)[0] is not itself
    chosen = parse_settings(CONFIG + f"\n[output]\nverify_live = {'true' if itself else 'false'}\n")
    assert live_check(chosen, bucket) == (itself, f"[output] verify_live = {'true' if itself else 'false'}")


def test_check_says_whether_publish_waits(site: Site) -> None:
    site.post("a.md", POSTS["a.md"])
    site.config(CONFIG + '\n[output]\nurl = "s3://feeds/blog/"\npurge_command = ["purge-cdn", "--all"]\n')
    run = site.run("check")
    assert run.code == 0, run.err
    assert "live check: on (the feed URLs (https://example.com/) are not the bucket's own" in run.out
    assert "purge: 'purge-cdn' runs with the changed URLs before anything is sent" in run.out
    site.config(CONFIG + '\n[output]\nurl = "s3://feeds/blog/"\nverify_live = false\n')
    assert "live check: off ([output] verify_live = false)" in site.run("check").out


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ('verify_live = "yes"', "[output] verify_live must be true or false, not 'yes'"),
        ("verify_timeout = 0", "[output] verify_timeout must be a number of seconds above 0, at most 3600"),
        ("purge_timeout = 9999", "[output] purge_timeout must be a number of seconds above 0, at most 3600"),
        ('purge_command = [""]', "[output] purge_command must be a program and its arguments"),
        ('purge_command = "purge-cdn --all"', "[output] purge_command must be a list of strings"),
    ],
)
def test_bad_live_keys_are_refused_with_one_line(output: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings(CONFIG + f"\n[output]\n{output}\n")
    assert message in str(e.value)


def test_a_purge_command_that_cannot_run_or_hangs_stops_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(BucketError) as missing:
        purge([str(tmp_path / "no-such-purge")], ["https://cdn.example/feed.xml"], 5)
    assert str(missing.value) == (
        "[output] purge_command 'no-such-purge' cannot be run (No such file or directory); nothing was sent,"
        " the next run purges again"
    )
    pids = tmp_path / "pids"
    hang = (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(str(c.pid))\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with pytest.raises(BucketError) as slow:
        purge([sys.executable, "-c", hang], [], 1.0)
    assert time.monotonic() - started < 10
    assert "took more than 1 s (purge_timeout) and was stopped; nothing was sent" in str(slow.value)
    child = int(pids.read_text())
    for _ in range(50):  # its child went with it (the whole process group)
        stat = Path(f"/proc/{child}/stat")
        if not stat.exists() or stat.read_text().split(") ", 1)[1].startswith("Z"):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the purge command's child is still running")
