"""`build --out s3://…` and `publish` to a bucket, against moto's S3 server on 127.0.0.1 (one per
session, reset between tests) behind a counting proxy of our own (tests/s3proxy.py), with the real
command line in a subprocess: the bucket equals a local build byte for byte with the right
headers; an unchanged build makes no request; an edit uploads only its feeds; a tag removed
deletes its feeds and nothing else; SIGKILL at random points, then a rerun, leaves the bucket
equal to the build; a stale writer's PUT gets 412 and the command says so; a WebSub hub is
pinged only once the feeds are in the bucket."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import CONFIG, NOW, Site
from tests.peers.fixtures import free_port, missing_dependency, require_modules, run_peer
from tests.s3proxy import Proxy, proxy

BUCKET = "feeds"
PREFIX = "blog/"
URL = f"s3://{BUCKET}/{PREFIX}"
SECRET = "s3cr3t-never-printed-9f8e7d"
ENV = {"AWS_ACCESS_KEY_ID": "AKIATESTING", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": ""}
KILL_TRIALS = int(os.environ.get("SYNDICATE_S3_KILL_TRIALS", "5"))
RECORD = ".syndicate-uploads"


@dataclass
class Moto:
    url: str

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10).read()

    def client(self) -> Any:
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
        )


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    """moto's S3 server, one for the session (PyPI moto[server]: the test extra installs it)."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe is None:
        missing_dependency("the S3 tests need moto's server (pip install 'moto[server]', in the test extra)")
    require_modules("uploading to a bucket", "obstore")  # the s3 extra, in the test extra
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with run_peer("moto S3 server", [str(exe), "-H", "127.0.0.1", "-p", str(port)], port=port, log_path=log):
        yield Moto(f"http://127.0.0.1:{port}")


@pytest.fixture
def moto(moto_server: Moto) -> Moto:
    moto_server.reset()
    moto_server.client().create_bucket(Bucket=BUCKET)
    return moto_server


@pytest.fixture
def s3(moto: Moto) -> Iterator[Proxy]:
    """The counting proxy in front of moto: what syndicate is given as [output] endpoint."""
    with proxy(moto.url) as p:
        yield p


POSTS = {
    "a.md": "---\ntitle: A\ndate: 2024-01-01 12:00\ntags: [red]\n---\nAlpha.\n",
    "b.md": "---\ntitle: B\ndate: 2024-01-02 12:00\ntags: [blue]\n---\nBravo.\n",
    "c.md": "---\ntitle: C\ndate: 2024-01-03 12:00\ntags: [red, green]\n---\nCharlie.\n",
}


def _site(tmp_path: Path, endpoint: str, extra: str = "") -> Site:
    site = Site(tmp_path / "site")
    site.content.mkdir(parents=True)
    site.config(CONFIG + f'\n[output]\nendpoint = "{endpoint}"\n' + extra)
    for name, text in POSTS.items():
        site.post(name, text)
    return site


def _objects(moto: Moto, prefix: str = PREFIX) -> dict[str, bytes]:
    client = moto.client()
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            out[item["Key"]] = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    return out


def _feeds(moto: Moto) -> dict[str, bytes]:
    """The objects syndicate publishes (its record left out), by key under the prefix."""
    return {k.removeprefix(PREFIX): v for k, v in _objects(moto).items() if k != PREFIX + RECORD}


def _local(site: Site, folder: Path) -> dict[str, bytes]:
    """A build into a folder, as `syndicate build --out DIR` makes it (its record left out)."""
    if folder.exists():
        shutil.rmtree(folder)
    assert site.run("build", "--out", str(folder)).code == 0
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def _build(site: Site) -> Any:
    return site.run("build", "--out", URL, env=ENV)


def _puts(p: Proxy) -> list[str]:
    return [key for method, key, _ in p.log if method == "PUT" and key.startswith(f"/{BUCKET}/")]


def test_the_bucket_holds_the_build_byte_for_byte_with_its_headers(s3: Proxy, moto: Moto, tmp_path: Path) -> None:
    site = _site(tmp_path, s3.url)
    run = _build(site)
    assert run.code == 0, run.err
    assert f"uploaded 14 objects to {URL}" in run.out
    local = _local(site, tmp_path / "local")
    assert _feeds(moto) == local
    client = moto.client()
    want = {
        "feed.xml": "application/rss+xml; charset=utf-8",
        "atom.xml": "application/atom+xml; charset=utf-8",
        "feed.json": "application/feed+json; charset=utf-8",
        "tags/red/feed.xml": "application/rss+xml; charset=utf-8",
        "index.html": "text/html; charset=utf-8",
        "feeds.opml": "text/x-opml; charset=utf-8",
    }
    for rel, content_type in want.items():
        head = client.head_object(Bucket=BUCKET, Key=PREFIX + rel)
        assert head["ContentType"] == content_type, rel
        feed = rel not in ("index.html", "feeds.opml")
        assert head["CacheControl"] == ("max-age=60, stale-while-revalidate=60" if feed else "max-age=300"), rel
        assert "ContentEncoding" not in head, rel
    # term feeds first, then the site's feeds, then the index and OPML pages (the record around them)
    order = [key.removeprefix(f"/{BUCKET}/{PREFIX}") for key in _puts(s3)]
    assert order[0] == order[-1] == RECORD
    ranks = [0 if "/" in rel else 3 if rel in ("index.html", "feeds.opml") else 1 for rel in order[1:-1]]
    assert ranks == sorted(ranks)
    # the secret is in no line and no file syndicate keeps
    assert SECRET not in run.out + run.err
    for path in (site.root / ".syndicate").rglob("*"):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path
    assert SECRET.encode() not in b"".join(_objects(moto).values())


def test_an_unchanged_build_makes_no_request_and_a_lost_state_only_lists(s3: Proxy, moto: Moto, tmp_path: Path) -> None:
    site = _site(tmp_path, s3.url)
    assert _build(site).code == 0
    s3.log.clear()
    run = _build(site)
    assert run.code == 0, run.err
    assert f"{URL} holds this build already (no request)" in run.out
    assert s3.log == []
    for state in (site.root / ".syndicate" / "bucket").glob("*/.syndicate-sync"):
        state.unlink()  # the state of the last upload lost: the bucket is listed, nothing is put
    run = _build(site)
    assert run.code == 0, run.err
    assert [m for m, _, _ in s3.log] == ["GET", "GET"]  # the listing, the record
    assert "uploaded 0 objects" in run.out


def test_a_one_post_edit_uploads_only_the_feeds_it_is_in(s3: Proxy, moto: Moto, tmp_path: Path) -> None:
    site = _site(tmp_path, s3.url)
    assert _build(site).code == 0
    s3.log.clear()
    site.post("b.md", POSTS["b.md"].replace("Bravo.", "Bravo, edited."))
    run = _build(site)
    assert run.code == 0, run.err
    put = sorted(key.removeprefix(f"/{BUCKET}/{PREFIX}") for key in _puts(s3))
    feeds = ["atom.xml", "feed.json", "feed.xml"]
    assert put == sorted([RECORD, *feeds, *(f"tags/blue/{f}" for f in feeds)])  # not index.html: no count changed
    assert len(s3.log) == 1 + len(put)  # one listing, no read of the record (its body is kept by ETag)
    assert _feeds(moto) == _local(site, tmp_path / "local")


def test_a_removed_tag_deletes_its_feeds_and_nothing_else(s3: Proxy, moto: Moto, tmp_path: Path) -> None:
    site = _site(tmp_path, s3.url)
    client = moto.client()
    client.put_object(Bucket=BUCKET, Key=PREFIX + "tags/other/feed.xml", Body=b"someone else's")
    client.put_object(Bucket=BUCKET, Key=PREFIX + "robots.txt", Body=b"User-agent: *\n")
    client.put_object(Bucket=BUCKET, Key="elsewhere/feed.xml", Body=b"outside the prefix")
    assert _build(site).code == 0
    site.post("b.md", POSTS["b.md"].replace("tags: [blue]", "tags: [red]"))
    run = _build(site)
    assert run.code == 0, run.err
    assert "deleted 3 objects" in run.out
    objects = _objects(moto, "")
    assert not [k for k in objects if k.startswith(PREFIX + "tags/blue/")]
    assert objects[PREFIX + "tags/other/feed.xml"] == b"someone else's"
    assert objects[PREFIX + "robots.txt"] == b"User-agent: *\n"
    assert objects["elsewhere/feed.xml"] == b"outside the prefix"
    local = _local(site, tmp_path / "local")
    assert {k: v for k, v in _feeds(moto).items() if k in local} == local
    # an object syndicate did not upload, at a key it wants, is left alone: exit 3, one line
    client.put_object(Bucket=BUCKET, Key=PREFIX + "tags/green/feed.xml", Body=b"hand-made")
    site.post("c.md", POSTS["c.md"].replace("Charlie.", "Charlie, edited."))
    run = _build(site)
    assert run.code == 3
    assert f"error: {URL}tags/green/feed.xml is an object syndicate did not upload" in run.err
    assert _objects(moto)[PREFIX + "tags/green/feed.xml"] == b"hand-made"


def test_a_stale_writer_gets_412_and_uploads_nothing_more(s3: Proxy, moto: Moto, tmp_path: Path) -> None:
    site = _site(tmp_path, s3.url)
    assert _build(site).code == 0
    s3.log.clear()
    client = moto.client()

    def other_writer(method: str, path: str) -> None:
        if method == "PUT" and path.endswith("/tags/blue/feed.xml"):  # another host wrote it meanwhile
            client.put_object(Bucket=BUCKET, Key=PREFIX + "tags/blue/feed.xml", Body=b"the other writer's")

    s3.hook = other_writer
    site.post("b.md", POSTS["b.md"].replace("Bravo.", "Bravo, edited."))
    run = _build(site)
    assert run.code == 3, run.out + run.err
    assert f"error: {URL}tags/blue/feed.xml was changed by another writer" in run.err
    assert "(HTTP 412)" in run.err and "nothing more was uploaded" in run.err
    assert len(run.err.strip().splitlines()) == 1
    statuses = {key: status for method, key, status in s3.log if method == "PUT"}
    assert statuses[f"/{BUCKET}/{PREFIX}tags/blue/feed.xml"] == 412
    site_feeds = {f"/{BUCKET}/{PREFIX}{f}" for f in ("feed.xml", "atom.xml", "feed.json", "index.html")}
    assert not site_feeds & statuses.keys()  # nothing after the term feeds
    assert _objects(moto)[PREFIX + "tags/blue/feed.xml"] == b"the other writer's"


def test_sigkill_at_random_points_then_a_rerun_leaves_the_bucket_equal_to_the_build(
    s3: Proxy, moto: Moto, tmp_path: Path
) -> None:
    site = _site(tmp_path, s3.url)
    assert _build(site).code == 0
    rng = random.Random(int(os.environ.get("SYNDICATE_S3_KILL_SEED", "25")))
    s3.delay = 0.01
    cmd = [sys.executable, "-m", "syndicate", "build", "--out", URL, "--now", NOW.isoformat()]
    env = {**os.environ, **ENV}
    for trial in range(KILL_TRIALS):
        before = _feeds(moto)
        tag = rng.choice(["red", "blue", "green", f"new{trial}"])
        site.post(
            f"t{trial}.md", f"---\ntitle: T{trial}\ndate: 2024-02-0{1 + trial % 9} 12:00\ntags: [{tag}]\n---\nx\n"
        )
        if trial % 2:
            site.post("b.md", POSTS["b.md"].replace("[blue]", f"[blue{trial}]"))  # a tag gone, one new
        proc = subprocess.Popen(cmd, cwd=site.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        at = rng.randint(1, 8)  # the listing, the record's claim, a PUT of a feed (every trial makes 8 or more)
        later = rng.choice([0.0, rng.uniform(0.0, 0.03)])  # before the request reaches moto, or while it is there
        s3.hook = _killer(proc, at, later)
        assert proc.wait(timeout=60) == -signal.SIGKILL, trial
        s3.hook = None
        after_kill = _feeds(moto)
        run = _build(site)
        assert run.code == 0, run.err
        new = _feeds(moto)
        for key, data in after_kill.items():  # every object old or new bytes, never a mix
            assert data in (before.get(key), new.get(key)), (trial, key)
        assert new == _local(site, tmp_path / "local"), trial
    s3.log.clear()
    assert _build(site).code == 0 and s3.log == []  # the upload the reruns finished is complete


def _killer(proc: subprocess.Popen[bytes], at: int, later: float) -> Callable[[str, str], None]:
    """A proxy hook that kills ``proc`` at its ``at``-th request, ``later`` seconds after it arrived."""
    seen = [0]

    def kill(method: str, path: str) -> None:
        seen[0] += 1
        if seen[0] == at:
            threading.Timer(later, proc.send_signal, (signal.SIGKILL,)).start()

    return kill


def test_publish_pings_the_hub_only_once_the_feeds_are_in_the_bucket(s3: Proxy, moto: Moto, tmp_path: Path) -> None:
    seen: list[tuple[str, bytes | None]] = []
    client = moto.client()

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            topic = parse_qs(body.decode())["hub.url"][0]
            key = PREFIX + urlsplit(topic).path.lstrip("/")
            try:
                data: bytes | None = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            except client.exceptions.NoSuchKey:
                data = None
            seen.append((topic, data))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hub = f"http://127.0.0.1:{server.server_address[1]}/hub"
        # example.com is not on 127.0.0.1: no live check here (tests/test_live.py is about it)
        site = _site(tmp_path, s3.url, f'verify_live = false\n[websub]\nhubs = ["{hub}"]\n')
        run = site.run("publish", "--out", "s3://no-such-bucket/blog/", env=ENV)
        assert run.code == 3 and "NoSuchBucket" in run.err
        assert seen == []  # an upload that failed: no hub hears of the feeds (the next run pings them)
        run = site.run("publish", "--out", URL, env=ENV)
        assert run.code == 0, run.err
        assert "objects uploaded to s3://feeds/blog/" in run.out
        local = _local(site, tmp_path / "local")
        assert len(seen) == 12  # the site's feeds and each tag's, three formats each
        for topic, data in seen:
            assert data == local[urlsplit(topic).path.lstrip("/")], topic
        # an edit: its feeds are pinged again, each once its new bytes are in the bucket
        seen.clear()
        site.post("a.md", POSTS["a.md"].replace("Alpha.", "Alpha, edited."))
        run = site.run("publish", "--out", URL, env=ENV)
        assert run.code == 0, run.err
        local = _local(site, tmp_path / "local")
        assert sorted(urlsplit(t).path for t, _ in seen) == sorted(
            f"/{p}{f}" for p in ("", "tags/red/") for f in ("atom.xml", "feed.json", "feed.xml")
        )
        for topic, data in seen:
            assert data == local[urlsplit(topic).path.lstrip("/")], topic
    finally:
        server.shutdown()
        server.server_close()


def test_credentials_come_from_the_environment_or_a_profile_never_the_config(
    s3: Proxy, moto: Moto, tmp_path: Path
) -> None:
    site = _site(tmp_path, s3.url)
    home = tmp_path / "home"
    bare = {k: "" for k in ENV} | {"HOME": str(home), "AWS_PROFILE": "", "AWS_SHARED_CREDENTIALS_FILE": ""}
    run = site.run("build", "--out", URL, env=bare)
    assert run.code == 3
    assert run.err.strip().splitlines()[-1] == (
        "error: no AWS credentials to upload with: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the"
        " environment, or AWS_PROFILE with a profile in ~/.aws/credentials"
    )
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = A\naws_secret_access_key = x\n\n[site]\naws_access_key_id = AKIA2\n"
        f"aws_secret_access_key = {SECRET}\n"
    )
    run = site.run("build", "--out", URL, env=bare | {"AWS_PROFILE": "site"})
    assert run.code == 0, run.err
    assert SECRET not in run.out + run.err
    assert json.loads(_objects(moto)[PREFIX + RECORD])["objects"]  # uploaded with the profile's keys
    # a key in the config file is refused by its name, its value never shown
    site.config(CONFIG + f'\n[output]\nurl = "{URL}"\nsecret_access_key = "{SECRET}"\n')
    for command in ("build", "check"):
        run = site.run(command, env=ENV)
        assert run.code == 2
        assert "[output] secret_access_key: credentials are never read from the config file" in run.err
        assert SECRET not in run.out + run.err


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ('url = "https://feeds/x/"', "[output] url 'https://feeds/x/' must start with s3://"),
        ('url = "s3://A_B/x/"', "names no valid bucket"),
        ('url = "s3://key:secret@feeds/"', "must not hold credentials or a port"),
        ('url = "s3://feeds/../x/"', "must be a plain path in the bucket"),
        ('endpoint = "ftp://x"', "[output] endpoint 'ftp://x' must be the service's base URL"),
        ('endpoint = "http://127.0.0.1:9/bucket"', "must have no path, query or fragment"),
        ('region = "US East"', "[output] region 'US East' must be a region name"),
        ('feed_cache_control = "' + "x" * 600 + '"', "[output] feed_cache_control must be one line"),
        ('content_encoding = "br"', '[output] content_encoding must be "gzip" or ""'),
    ],
)
def test_check_refuses_bad_bucket_keys_with_one_line(site: Site, output: str, message: str) -> None:
    site.config(CONFIG + f"\n[output]\n{output}\n")
    run = site.run("check")
    assert run.code == 2
    assert message in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_build_out_names_a_bucket_in_its_help(site: Site) -> None:
    run = site.run("build", "--help")
    assert "--out DIR|s3://BUCKET/PREFIX/" in run.out
    run = site.run("build", "--out", "s3://x/")
    assert run.code == 2 and "names no valid bucket" in run.err


def test_a_service_that_fails_is_named_in_one_line(s3: Proxy, moto: Moto, tmp_path: Path) -> None:
    site = _site(tmp_path, s3.url)
    run = site.run("build", "--out", "s3://no-such-bucket/blog/", env=ENV)
    assert run.code == 3
    assert run.err.strip() == "error: cannot list s3://no-such-bucket/blog/: HTTP 404 Not Found NoSuchBucket"
    site.config(CONFIG + f'\n[output]\nendpoint = "http://127.0.0.1:{free_port()}"\n')
    run = _build(site)
    assert run.code == 3
    unreachable = "the service could not be reached (connection failed or timed out)"
    assert run.err.strip() == f"error: cannot list {URL}: {unreachable}"


def test_output_url_in_the_config_uploads_every_build(s3: Proxy, moto: Moto, tmp_path: Path) -> None:
    site = _site(tmp_path, s3.url, f'url = "{URL}"\n')
    run = site.run("build", env=ENV)
    assert run.code == 0, run.err
    assert f"uploaded 14 objects to {URL}" in run.out
    run = site.run("build", env=ENV)  # the full command, never the stamp's replay: it says where the bucket is
    assert run.code == 0 and f"{URL} holds this build already (no request)" in run.out
    site.post("a.md", POSTS["a.md"].replace("Alpha.", "Alpha, edited."))
    run = site.run("publish", env=ENV)
    assert run.code == 0, run.err
    assert f"6 objects uploaded to {URL}" in run.out
    assert _feeds(moto) == _local(site, tmp_path / "local")
    assert not (site.root / "public").exists()


def test_gzip_objects_when_asked_and_only_then(s3: Proxy, moto: Moto, tmp_path: Path) -> None:
    site = _site(tmp_path, s3.url, 'content_encoding = "gzip"\n')
    run = _build(site)
    assert run.code == 0, run.err
    local = _local(site, tmp_path / "local")
    stored = _feeds(moto)
    assert stored.keys() == local.keys()
    assert {k: gzip.decompress(v) for k, v in stored.items()} == local
    client = moto.client()
    assert client.head_object(Bucket=BUCKET, Key=PREFIX + "feed.xml")["ContentEncoding"] == "gzip"
    s3.log.clear()
    for state in (site.root / ".syndicate" / "bucket").glob("*/.syndicate-sync"):
        state.unlink()  # the bucket is compared again: the same compressed bytes, nothing put
    assert _build(site).code == 0
    assert [m for m, _, _ in s3.log] == ["GET", "GET"]
    site.config(CONFIG + f'\n[output]\nendpoint = "{s3.url}"\n')  # encoding dropped: every object again
    run = _build(site)
    assert run.code == 0, run.err
    assert _feeds(moto) == local
    assert "ContentEncoding" not in client.head_object(Bucket=BUCKET, Key=PREFIX + "feed.xml")
