"""`syndicate run`: the daemon in a real process, with real readers and a real receiver."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CONFIG, Site
from tests.peers.fixtures import WebhookReceiverFactory, new_webhook_secret

SECRET = new_webhook_secret()


@dataclass
class Running:
    proc: subprocess.Popen[str]
    url: str = ""
    lines: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None

    def events(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [line for line in self.lines if line.get("event") == kind]

    def wait_for(self, check: Callable[[], bool], timeout: float = 15, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; log:\n" + "\n".join(self.raw[-30:]))

    def get(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.url + path.lstrip("/"), headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            body = e.read()
            status, hdrs = e.code, {k.lower(): v for k, v in e.headers.items()}
            e.close()
            return status, hdrs, body


def _reader(run: Running) -> None:
    assert run.proc.stderr is not None
    for line in run.proc.stderr:
        with run.lock:
            run.raw.append(line.rstrip("\n"))
            try:
                run.lines.append(json.loads(line))
            except json.JSONDecodeError:
                run.lines.append({"event": "unparsed", "message": line})


def start(site: Site, *args: str, env: dict[str, str] | None = None, built: bool = True) -> Running:
    cmd = [sys.executable, "-m", "syndicate", "run", "--port", "0", "--log-format", "json", "--access-log", *args]
    full_env = {**os.environ, "PYTHONWARNINGS": "error", "HOOK_SECRET": SECRET, **site.env, **(env or {})}
    proc = subprocess.Popen(
        cmd, cwd=site.root, env=full_env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    run = Running(proc)
    run.thread = threading.Thread(target=_reader, args=(run,), daemon=True)
    run.thread.start()
    run.wait_for(lambda: bool(run.events("serving")), what="the daemon to serve")
    run.url = run.events("serving")[0]["url"]
    if built:
        run.wait_for(lambda: bool(run.events("built")), what="the first build")
    return run


def stop(run: Running, sig: int = signal.SIGTERM) -> int:
    if run.proc.poll() is None:
        run.proc.send_signal(sig)
    code = run.proc.wait(timeout=60)
    if run.thread is not None:
        run.thread.join(timeout=10)
    if run.proc.stderr is not None:
        run.proc.stderr.close()
    return code


@pytest.fixture
def running(sample_site: Site) -> Iterator[Running]:
    run = start(sample_site)
    yield run
    assert stop(run) == 0
    assert run.events("stopped")
    assert not any("Traceback" in line for line in run.raw)


def hook_config(url: str) -> str:
    return CONFIG + f'\n[[targets]]\nname = "hooks"\nkind = "webhook"\nurl = "{url}"\nsecret_env = "HOOK_SECRET"\n'


def test_feeds_are_served_with_their_types_validators_and_gzip(running: Running) -> None:
    for path, mime in [
        ("feed.xml", "application/rss+xml; charset=utf-8"),
        ("atom.xml", "application/atom+xml; charset=utf-8"),
        ("feed.json", "application/feed+json; charset=utf-8"),
        ("tags/c-sharp/feed.xml", "application/rss+xml; charset=utf-8"),
        ("tags/%C3%BCber/feed.json", "application/feed+json; charset=utf-8"),
        ("", "text/html; charset=utf-8"),
        ("feeds.opml", "text/x-opml; charset=utf-8"),
    ]:
        status, headers, body = running.get(path)
        assert status == 200 and headers["content-type"] == mime, path
        assert headers["etag"] and headers["last-modified"]
    status, headers, body = running.get("feed.xml")
    etag, modified = headers["etag"], headers["last-modified"]
    assert running.get("feed.xml", {"If-None-Match": etag})[0] == 304
    assert running.get("feed.xml", {"If-None-Match": f'"other", {etag}'})[0] == 304
    assert running.get("feed.xml", {"If-Modified-Since": modified})[0] == 304
    assert running.get("feed.xml", {"If-None-Match": '"stale"', "If-Modified-Since": modified})[0] == 200
    head_status, head_headers, head_body = running.get("feed.xml", method="HEAD")
    assert head_status == 200 and head_body == b"" and head_headers["content-length"] == str(len(body))
    gz_status, gz_headers, gz_body = running.get("feed.xml", {"Accept-Encoding": "gzip"})
    assert gz_status == 200
    assert gz_headers["content-encoding"] == "gzip" and gzip.decompress(gz_body) == body
    assert gz_headers["etag"] != etag and "accept-encoding" in gz_headers["vary"].lower()
    health = json.loads(running.get("healthz")[2])
    assert health["status"] == "ok" and health["posts"] == 4


@pytest.mark.parametrize(
    "path",
    [
        "../config/syndicate.toml",
        "%2e%2e/config/syndicate.toml",
        "%2E%2E%2Fconfig%2Fsyndicate.toml",
        "tags/../../config/syndicate.toml",
        "tags/%2e%2e/%2e%2e/content/2030-01-01-from-the-future.md",
        "..%5cconfig%5csyndicate.toml",
        "feed.xml%00.html",
        ".syndicate/state.db",
        "escape/secret.txt",
        "no-such-file.xml",
        "%ff%fe",
    ],
)
def test_nothing_outside_the_output_folder_is_served(running: Running, sample_site: Site, path: str) -> None:
    (sample_site.root / "secret.txt").write_text("top secret")
    link = sample_site.public / "escape"
    if not link.exists():
        link.symlink_to(sample_site.root, target_is_directory=True)
    raw = urllib.request.Request(running.url + path)
    raw.selector = "/" + path  # keep the path exactly as written
    try:
        with urllib.request.urlopen(raw, timeout=10) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
        e.close()
    assert status == 404, path


def test_a_post_written_while_running_is_served_and_delivered(
    sample_site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    sample_site.config(
        (sample_site.root / "config" / "syndicate.toml").read_text() + hook_config(receiver.url)[len(CONFIG) :]
    )
    run = start(sample_site)
    try:
        sample_site.post("2026-01-01-live.md", "---\ntitle: Live edit\ndate: 2026-01-01\n---\nWritten while running.\n")
        run.wait_for(lambda: b"Live edit" in run.get("feed.xml")[2], what="the new post in the served feed")
        run.wait_for(lambda: len(receiver.deliveries()) == 1, what="the webhook")
        [delivery] = receiver.deliveries()
        assert delivery["verified"] and json.loads(delivery["body"])["data"]["title"] == "Live edit"
        run.wait_for(lambda: bool(run.events("delivered")), what="the delivered line (logged after the answer)")
        assert run.events("delivered")[0]["target"] == "hooks"
    finally:
        assert stop(run) == 0


def test_a_post_dated_seconds_ahead_is_delivered_at_its_time_not_before(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(hook_config(receiver.url).replace('timezone = "Europe/Paris"', 'timezone = "UTC"'))
    run = start(site)
    try:
        due = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
        site.post("soon.md", f"---\ntitle: Soon\ndate: {due:%Y-%m-%d %H:%M:%S}\n---\nOn the dot.\n")
        time.sleep(1.5)
        assert receiver.deliveries() == [] and b"Soon" not in run.get("feed.xml")[2]
        run.wait_for(lambda: len(receiver.deliveries()) == 1, timeout=20, what="the scheduled delivery")
        arrived = datetime.now(UTC)
        assert due <= arrived < due + timedelta(seconds=3)
        assert b"Soon" in run.get("feed.xml")[2]
    finally:
        assert stop(run) == 0


def test_a_restart_after_sigkill_loses_and_duplicates_nothing(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(hook_config(receiver.url))
    run = start(site)
    for n in range(5):
        site.post(f"p{n}.md", f"---\ntitle: P{n}\ndate: 2025-01-0{n + 1}\n---\nx\n")
        time.sleep(0.15)
    time.sleep(0.2)
    assert stop(run, signal.SIGKILL) == -signal.SIGKILL
    site.post("p9.md", "---\ntitle: P9\ndate: 2025-02-01\n---\nWritten while it was down.\n")
    run = start(site)
    try:
        run.wait_for(lambda: len({d["id"] for d in receiver.deliveries()}) == 6, what="all six posts")
        time.sleep(0.5)
    finally:
        assert stop(run) == 0
    titles = sorted(json.loads(d["body"])["data"]["title"] for d in receiver.deliveries())
    assert sorted(set(titles)) == ["P0", "P1", "P2", "P3", "P4", "P9"]
    assert len({d["id"] for d in receiver.deliveries()}) == 6


def test_a_bad_edit_is_logged_and_the_last_good_feeds_keep_serving(running: Running, sample_site: Site) -> None:
    before = running.get("feed.xml")[2]
    config = sample_site.root / "config" / "syndicate.toml"
    good = config.read_text()
    config.write_text(good.replace("[feeds]", "[feeds\n"))
    running.wait_for(lambda: bool(running.events("config")), what="the config error")
    assert "not valid TOML" in running.events("config")[0]["message"]
    assert running.get("feed.xml")[2] == before
    assert json.loads(running.get("healthz")[2])["status"] == "degraded"
    sample_site.post("broken.md", "---\ntitle: [oops\n---\n")
    config.write_text(good)
    running.wait_for(lambda: bool(running.events("rejected")), what="the rejected post")
    assert running.events("rejected")[0]["path"] == "content/broken.md"
    assert json.loads(running.get("healthz")[2])["status"] == "ok"
    assert any("config reads again" in e["message"] for e in running.events("recovered"))
    sample_site.post("broken.md", "---\ntitle: Mended\ndate: 2024-01-01\n---\nx\n")
    running.wait_for(lambda: bool(running.events("fixed")), what="the fix logged")
    assert running.events("fixed")[0]["path"] == "content/broken.md"


def test_sighup_reloads_the_config(sample_site: Site, tmp_path: Path) -> None:
    # The config is a link to a file outside the watched folders: only SIGHUP can tell the daemon.
    config = sample_site.root / "config" / "syndicate.toml"
    real = tmp_path / "elsewhere.toml"
    real.write_text(config.read_text())
    config.unlink()
    config.symlink_to(real)
    run = start(sample_site)
    try:
        # the cycle the daemon runs once it watches (it reads the config again) is over first
        run.wait_for(lambda: json.loads(run.get("healthz")[2]).get("cycles", 0) >= 2, what="the watching cycle")
        real.write_text(real.read_text().replace('title = "Notes from the Lab"', 'title = "Renamed Lab"'))
        time.sleep(3)
        assert b"Renamed Lab" not in run.get("feed.xml")[2], "nothing watched saw the edit"
        run.proc.send_signal(signal.SIGHUP)
        run.wait_for(lambda: b"Renamed Lab" in run.get("feed.xml")[2], what="the new title after SIGHUP")
        assert run.events("reload")
    finally:
        assert stop(run) == 0


def test_a_second_daemon_on_the_same_site_is_refused(running: Running, sample_site: Site) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "syndicate", "run", "--port", "0"],
        cwd=sample_site.root,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 5
    assert second.stderr.startswith("error: another syndicate (pid ") and "is delivering for this site" in second.stderr
    busy = sample_site.run("publish", now=None)
    assert busy.code == 5


def test_websub_link_headers_on_served_feeds(sample_site: Site) -> None:
    config = sample_site.root / "config" / "syndicate.toml"
    config.write_text(config.read_text() + '\n[websub]\nhubs = ["https://hub.example/"]\n')
    run = start(sample_site)
    try:
        headers = run.get("tags/%C3%BCber/atom.xml")[1]
        assert (
            headers["link"]
            == '<https://hub.example/>; rel="hub", <https://example.com/tags/%C3%BCber/atom.xml>; rel="self"'
        )
    finally:
        assert stop(run) == 0


def test_lemon24_reader_subscribes_and_gets_304_on_its_second_update(running: Running, tmp_path: Path) -> None:
    from reader import make_reader

    reader = make_reader(str(tmp_path / "reader.sqlite"))
    try:
        for path in ("feed.xml", "atom.xml", "feed.json"):
            reader.add_feed(running.url + path)
        reader.update_feeds(scheduled=False)
        reader.update_feeds(scheduled=False)
        titles = {e.title for e in reader.get_entries(feed=running.url + "feed.xml")}
        assert "Über Unicode: tags in any script" in titles and len(titles) == 4
        assert len(list(reader.get_entries(feed=running.url + "feed.json"))) == 4
    finally:
        reader.close()
    requests = [e["message"] for e in running.events("request")]
    for path in ("feed.xml", "atom.xml", "feed.json"):
        mine = [r for r in requests if r.startswith(f"GET /{path} ")]
        assert mine[:2] == [f"GET /{path} 200", f"GET /{path} 304"], requests


@pytest.mark.skipif(
    shutil.which("newsboat") is None and os.environ.get("CI") != "true", reason="newsboat not installed"
)
def test_newsboat_reads_the_served_feeds(running: Running, tmp_path: Path) -> None:
    for fmt in ("feed.xml", "atom.xml"):
        home = tmp_path / fmt
        home.mkdir()
        (home / "urls").write_text(running.url + fmt + "\n")
        (home / "config").write_text("")
        result = subprocess.run(
            [
                "newsboat",
                "-C",
                str(home / "config"),
                "-u",
                str(home / "urls"),
                "-c",
                str(home / "cache.db"),
                "-x",
                "reload",
            ],
            env={**os.environ, "HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        db = sqlite3.connect(home / "cache.db")
        rows = db.execute("SELECT title, url FROM rss_item ORDER BY pubDate DESC").fetchall()
        db.close()
        assert len(rows) == 4, (fmt, rows)
        assert rows[0] == ("Feeds done right", "https://example.com/blog/feeds-done-right/")


def test_logs_are_json_lines_without_secrets(
    sample_site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(statuses=[500], secret=SECRET)
    sample_site.config(
        (sample_site.root / "config" / "syndicate.toml").read_text() + hook_config(receiver.url)[len(CONFIG) :]
    )
    run = start(sample_site)
    try:
        sample_site.post("2026-01-01-x.md", "---\ntitle: X\ndate: 2026-01-01\n---\nx\n")
        run.wait_for(lambda: bool(run.events("retry")), what="the failed delivery")
        assert "HTTP 500" in run.events("retry")[0]["message"]
    finally:
        assert stop(run) == 0
    assert all(line.get("event") != "unparsed" for line in run.lines)
    assert all(SECRET.removeprefix("whsec_") not in line for line in run.raw)


def test_a_rescheduled_or_deleted_post_is_not_published_at_its_old_time(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(hook_config(receiver.url).replace('timezone = "Europe/Paris"', 'timezone = "UTC"'))
    run = start(site)
    try:
        soon = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
        later = soon + timedelta(hours=1)
        site.post("moved.md", f"---\ntitle: Moved\ndate: {soon:%Y-%m-%d %H:%M:%S}\n---\nx\n")
        site.post("gone.md", f"---\ntitle: Gone\ndate: {soon:%Y-%m-%d %H:%M:%S}\n---\nx\n")
        time.sleep(1)
        site.post("moved.md", f"---\ntitle: Moved\ndate: {later:%Y-%m-%d %H:%M:%S}\n---\nx\n")
        (site.content / "gone.md").unlink()
        site.post("marker.md", "---\ntitle: Marker\ndate: 2024-01-01\n---\nx\n")
        run.wait_for(lambda: len(receiver.deliveries()) == 1, what="the marker post")
        time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 2)
        assert [json.loads(d["body"])["data"]["title"] for d in receiver.deliveries()] == ["Marker"]
        assert b"Moved" not in run.get("feed.xml")[2]
    finally:
        assert stop(run) == 0


def test_polling_notices_changes_without_file_events(sample_site: Site) -> None:
    run = start(sample_site, "--poll")
    try:
        sample_site.post("2026-01-02-polled.md", "---\ntitle: Polled\ndate: 2026-01-02\n---\nx\n")
        run.wait_for(lambda: b"Polled" in run.get("feed.xml")[2], what="the polled change")
    finally:
        assert stop(run) == 0


def test_a_jekyll_site_is_watched_as_it_is_new_category_folders_too(tmp_path: Path) -> None:
    """A Jekyll site is its own content folder: its _posts/ anywhere are watched, a category
    folder made while running is watched from then on, and node_modules/ and _site/ are not."""
    root = tmp_path / "blog"
    shutil.copytree(Path(__file__).parent / "data" / "sites" / "jekyll", root)
    (root / "node_modules" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "pkg" / "README.md").write_text("# a package\n")
    site = Site(root)
    assert site.run("init", now=None).code == 0
    run = start(site)
    try:
        run.wait_for(lambda: b"Ferry" in run.get("rss.xml")[2], what="the fixture's posts served")
        (root / "_posts" / "2024-12-01-winter-soup.md").write_text("---\ntitle: Winter soup\n---\nHot.\n")
        run.wait_for(lambda: b"Winter soup" in run.get("rss.xml")[2], what="a post saved in _posts/")
        (root / "travel" / "_posts").mkdir(parents=True)
        time.sleep(0.5)  # the new folder is watched once the daemon has seen it made
        (root / "travel" / "_posts" / "2024-12-02-night-train.md").write_text("---\ntitle: Night train\n---\nGo.\n")
        run.wait_for(lambda: b"Night train" in run.get("rss.xml")[2], what="a post in a new category folder")
        status, _, _ = run.get("travel/rss.xml")
        assert status == 404 and b"Night train" in run.get("categories/travel/rss.xml")[2]
    finally:
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)


def test_the_feeds_on_disk_are_served_at_once_while_the_first_cycle_catches_up(site: Site) -> None:
    site.config(CONFIG + '\n[content]\nrenderer = "markdown"\nrender_timeout = 3\n')
    site.post("old.md", "---\ntitle: Old post\ndate: 2024-06-01\n---\nx\n")
    assert site.run("build").code == 0
    old = (site.public / "feed.xml").read_bytes()
    # Added while the daemon was down: its first cycle gives the nested post 3 s to render.
    site.post("nested.md", "---\ntitle: Nested\ndate: 2024-06-02\n---\n" + "[a](" * 20_000 + "\n")
    site.post("new.md", "---\ntitle: New post\ndate: 2024-06-03\n---\nx\n")
    run = start(site, built=False)
    try:
        status, _, body = run.get("feed.xml")
        assert (status, body) == (200, old), "the last run's feed, answered before the first cycle ends"
        status, _, raw = run.get("healthz")
        health = json.loads(raw)
        assert status == 503 and health["status"] == "starting" and "catching up" in health["problem"], health
        assert not run.events("built")
        run.wait_for(lambda: bool(run.events("built")), timeout=30, what="the first cycle")
        assert b"New post" in run.get("feed.xml")[2]
        status, _, raw = run.get("healthz")
        assert status == 200 and json.loads(raw)["status"] == "ok" and json.loads(raw)["rejected"] == 1
    finally:
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)


def test_a_first_start_with_nothing_on_disk_serves_once_the_feeds_are_built(site: Site) -> None:
    """Nothing of ours to serve: the first build runs before the server and any other thread (so
    a big one may fork its workers), and the first answer is already the built feed."""
    site.post("first.md", "---\ntitle: First post\ndate: 2024-06-01\n---\nx\n")
    run = start(site, built=False)
    try:
        kinds = [line.get("event") for line in run.lines]
        assert kinds[:2] == ["built", "serving"], kinds
        assert b"First post" in run.get("feed.xml")[2]
        assert json.loads(run.get("healthz")[2])["status"] == "ok"
    finally:
        assert stop(run) == 0


def _stats(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``folder`` (hidden ones too): (inode, mtime, size)."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file():
            st = path.stat()
            found[path.relative_to(folder).as_posix()] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


# Hidden, never served: the record of the files syndicate wrote (a line per write) and the mark of
# the ledger that recorded the post (see docs/running/backups.md).
BOOKKEEPING = {".syndicate-files", ".syndicate-ledger.json"}


def _feed_files(*folders: str) -> set[str]:
    return {f"{folder}/{name}".lstrip("/") for folder in folders for name in ("feed.xml", "atom.xml", "feed.json")}


def test_a_saved_post_rewrites_exactly_the_feeds_it_was_and_is_in(site: Site) -> None:
    """Nothing else in the output folder is touched: every other file keeps its inode and mtime.
    Alpha and gamma keep 20 posts shown (the index's counts do not move); delta's posts are
    older than the site feed's 20."""
    for n in range(21):
        site.post(f"alpha-{n}.md", f"---\ntitle: Alpha {n}\ndate: 2024-03-{n + 1:02d}\ntags: [alpha]\n---\nA.\n")
        site.post(f"gamma-{n}.md", f"---\ntitle: Gamma {n}\ndate: 2024-04-{n + 1:02d}\ntags: [gamma]\n---\nG.\n")
    site.post("beta.md", "---\ntitle: Beta\ndate: 2024-02-01\ntags: [beta]\n---\nB.\n")
    site.post("delta.md", "---\ntitle: Delta\ndate: 2023-01-01\ntags: [delta]\n---\nD.\n")
    moving = site.post("moving.md", "---\ntitle: Moving\ndate: 2024-06-01\ntags: [alpha, beta]\n---\nM.\n")
    run = start(site)
    try:
        time.sleep(1.1)  # a rewritten file gets another mtime even on a file system with coarse timestamps
        before = _stats(site.public)
        moving.write_text("---\ntitle: Moved\ndate: 2024-06-01\ntags: [beta, gamma]\n---\nM.\n")
        run.wait_for(lambda: len(run.events("built")) >= 2, what="the cycle after the save")
        after = _stats(site.public)
        changed = {rel for rel in before.keys() | after.keys() if before.get(rel) != after.get(rel)}
        was_and_is = _feed_files("", "tags/alpha", "tags/beta", "tags/gamma")
        assert changed - BOOKKEEPING == was_and_is, sorted(changed)
        assert b"Moved" in (site.public / "tags" / "gamma" / "feed.xml").read_bytes()
        assert b"Moved" not in (site.public / "tags" / "alpha" / "feed.xml").read_bytes()

        time.sleep(1.1)
        before = after
        (site.content / "delta.md").write_text("---\ntitle: Delta again\ndate: 2023-01-01\ntags: [delta]\n---\nD.\n")
        run.wait_for(lambda: len(run.events("built")) >= 3, what="the cycle after the second save")
        after = _stats(site.public)
        changed = {rel for rel in before.keys() | after.keys() if before.get(rel) != after.get(rel)}
        assert changed - BOOKKEEPING == _feed_files("tags/delta"), sorted(changed)
    finally:
        assert stop(run) == 0


def test_a_build_after_the_daemon_stops_knows_from_stats_alone_that_nothing_changed(site: Site) -> None:
    """A save's cycle leaves the manifest (what `build` reads to tell nothing changed) for a quiet
    moment; the daemon makes it then, and at the latest when it stops."""
    site.post("first.md", "---\ntitle: First\ndate: 2024-06-01\ntags: [a]\n---\nx\n")
    run = start(site)
    try:
        site.post("second.md", "---\ntitle: Second\ndate: 2024-06-02\ntags: [a]\n---\nx\n")
        run.wait_for(lambda: len(run.events("built")) >= 2, what="the cycle after the save")
    finally:
        assert stop(run) == 0  # at once: before the daemon was quiet for long
    done = site.run("build", env={"SYNDICATE_TRACE": "1"})
    assert done.code == 0 and "nothing changed since the last build" in done.err, done.err


def test_files_deleted_together_are_taken_in_one_cycle_and_a_later_save_in_the_next(site: Site) -> None:
    """`rm` of many posts (a branch switched, a folder cleaned) reaches the daemon as one event per
    file; it waits for the burst to end (the last event's few ms) and takes them in one cycle, so
    the retraction guard and the log see them together; a save after that cycle makes one more."""
    for n in range(30):
        site.post(f"old-{n:02d}.md", f"---\ntitle: Old {n}\ndate: 2024-01-{n + 1:02d}\n---\nO.\n")
    site.post("kept.md", "---\ntitle: Kept\ndate: 2024-03-01\n---\nK.\n")
    run = start(site)
    try:
        assert " 31 posts (start)" in run.events("built")[0]["message"]
        time.sleep(1.0)  # the folder is watched once the first cycle is done
        seen = len(run.events("built"))
        for path in sorted(site.content.glob("old-*.md")):
            path.unlink()
        run.wait_for(lambda: len(run.events("built")) > seen, what="the cycle after the deletions")
        time.sleep(0.5)  # any further cycle the burst would have made
        built = [e["message"] for e in run.events("built")][seen:]
        assert len(built) == 1 and " 1 posts (file changed)" in built[0], built
        site.post("new.md", "---\ntitle: New\ndate: 2024-04-01\n---\nN.\n")
        run.wait_for(lambda: len(run.events("built")) > seen + 1, what="the cycle after the save")
        assert " 2 posts (file changed)" in run.events("built")[-1]["message"]
    finally:
        assert stop(run) == 0
