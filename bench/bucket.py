"""Feeds on S3 (issue #25): `syndicate build --out s3://…` against moto's S3 server on 127.0.0.1,
behind the tests' counting proxy (tests/s3proxy.py), beside the same builds into a folder.

    python bench/bucket.py                          # 10,000 posts, 500 tags (bench/gensite.py)
    python bench/bucket.py --posts 1000 --tags 100
    python bench/bucket.py --site-dir /tmp/b10k     # a site gensite.py made before (copied)

For each of: the first upload (no .syndicate/, an empty bucket), a run with nothing changed, and
a run after one sentence was appended to the newest post, it prints the wall time of the whole
command, the requests it made to the bucket (by method) and the same build into a local folder.
Every command must exit 0; the bucket must then hold the local build byte for byte (checked by
ETag = MD5). Needs the test extra (obstore, moto[server], boto3). Talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from build import newest_post  # noqa: E402

from tests.peers.fixtures import free_port  # noqa: E402
from tests.s3proxy import Proxy, proxy  # noqa: E402

BUCKET, PREFIX = "feeds", "blog/"
ENV = {"AWS_ACCESS_KEY_ID": "AKIABENCH", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_SESSION_TOKEN": ""}


class BenchError(Exception):
    pass


def _run(site: Path, *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=site,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"syndicate {' '.join(args)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return took


def _requests(p: Proxy, since: int) -> str:
    with p.lock:
        counts = Counter(method for method, _, _ in p.log[since:])
    return ", ".join(f"{n} {m}" for m, n in sorted(counts.items())) or "none"


def _client(url: str) -> Any:
    import boto3  # type: ignore[import-untyped]

    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )


def _same(client: Any, local: Path) -> None:
    """The bucket holds the local build: every file's MD5 is its object's ETag (records aside)."""
    etags: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX):
        for item in page.get("Contents", []):
            etags[item["Key"].removeprefix(PREFIX)] = item["ETag"].strip('"')
    files = {p.relative_to(local).as_posix(): p for p in local.rglob("*") if p.is_file() and not p.name.startswith(".")}
    ours = {k: v for k, v in etags.items() if not k.startswith(".")}
    if ours.keys() != files.keys():
        raise BenchError(f"the bucket holds {len(ours)} objects, the local build {len(files)} files")
    for rel, path in files.items():
        if hashlib.md5(path.read_bytes()).hexdigest() != ours[rel]:  # S3's ETag of a single-part upload
            raise BenchError(f"{rel}: the bucket holds other bytes than the local build")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=500)
    parser.add_argument(
        "--site-dir", type=Path, help="a site bench/gensite.py made (its content/ and config/ are copied)"
    )
    args = parser.parse_args()
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if moto is None:
        print("bench/bucket.py needs moto's server: pip install -e '.[test]'", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="syndicate-bucket-") as tmp:
        work = Path(tmp)
        site = work / "site"
        if args.site_dir:
            for part in ("content", "config"):
                shutil.copytree(args.site_dir / part, site / part)
        else:
            subprocess.run(
                [
                    sys.executable,
                    str(BENCH / "gensite.py"),
                    str(site),
                    "--posts",
                    str(args.posts),
                    "--tags",
                    str(args.tags),
                ],
                check=True,
                capture_output=True,
            )
        posts = sum(1 for _ in (site / "content").glob("*.md"))
        port = free_port()
        server = subprocess.Popen(
            [moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            upstream = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    urllib.request.urlopen(upstream + "/moto-api/", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.05)
            client = _client(upstream)
            client.create_bucket(Bucket=BUCKET)
            with proxy(upstream) as p:
                config = site / "config" / "syndicate.toml"
                config.write_text(config.read_text() + f'\n[output]\nendpoint = "{p.url}"\n')
                url = f"s3://{BUCKET}/{PREFIX}"
                local = site / "local-out"
                rows = []
                for name in ("first upload", "nothing changed", "one post edited"):
                    if name == "one post edited":
                        with newest_post(site).open("a", encoding="utf-8") as f:
                            f.write("\nOne more sentence, as a writer fixes a typo.\n")
                    since = len(p.log)
                    bucket_s = _run(site, "build", "--out", url)
                    asked = _requests(p, since)
                    folder_s = _run(site, "build", "--out", str(local))
                    rows.append((name, bucket_s, asked, folder_s))
                _same(client, local)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"syndicate build --out s3://… against moto on 127.0.0.1: {posts} posts, {args.tags} tags")
    print(f"{'run':18} {'bucket s':>9}  {'requests to the bucket':34} {'folder s':>9}")
    for name, bucket_s, asked, folder_s in rows:
        print(f"{name:18} {bucket_s:9.2f}  {asked:34} {folder_s:9.2f}")
    print("the bucket holds the local build byte for byte (ETag = MD5 of every file)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench/bucket.py: {e}", file=sys.stderr)
        sys.exit(1)
