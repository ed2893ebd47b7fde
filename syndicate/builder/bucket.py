"""Uploading a build to a bucket (S3 or any S3-compatible service): the build is written to a
staging folder as any build is, then this brings the bucket's prefix level with that folder.

One run: hash the staging folder's files (MD5s kept by stat in ``.syndicate-sync``, so an
unchanged build hashes nothing) → when that folder is exactly what the last complete upload sent,
stop: no request at all → list the prefix once → read the record of what syndicate uploaded
(``.syndicate-uploads``, an object beside the feeds; its body is kept locally by ETag, so it is
fetched only when another writer changed it) → plan (:mod:`syndicate.core.uploads`) → claim the
keys about to be written in the record → PUT each object that differs, term feeds first, then the
site's feeds, then the other files, then ``index.html`` and ``feeds.opml``, every PUT conditional
(``If-Match`` the listed ETag, ``If-None-Match: *`` for a new key) → delete the objects syndicate
uploaded that the build no longer makes → write the record compacted. The keys about to be put
are also kept in the local state as not yet seen live (before the PUTs), for
:mod:`syndicate.deliver.live`, which checks them at their public URLs before anything is sent.

A 412 means another writer changed the bucket since it was listed: the upload stops there with
one line (BucketError, exit 3). A kill leaves every object old or new (each PUT is atomic), and
the next run lists the bucket again and finishes the job.
"""

from __future__ import annotations

import configparser
import contextlib
import gzip
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import CREDENTIALS_HINT
from ..core.model import Settings
from ..core.uploads import UPLOAD_RECORD, Bucket, headers, plan_upload, rank
from ..errors import BucketError
from ..files import new_temp

if TYPE_CHECKING:
    from obstore.store import ClientConfig, S3Store

UNVERIFIED = "unverified"  # in the sync state: key → MD5 of the objects uploaded and not yet seen live
SYNC_STATE = ".syndicate-sync"  # in the staging folder: MD5s by stat, the record's body, the last complete upload
THREADS = 8  # PUTs of one rank at a time
DELETE_BATCH = 1000  # keys per DeleteObjects request
_COUNT = threading.Lock()  # PUTs of one rank count their requests from a few threads


@dataclass
class UploadReport:
    """What an upload did: the objects put and deleted (keys under the prefix), the keys left alone
    (key → why), how many requests it made, and whether the bucket was looked at at all."""

    bucket: Bucket
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    listed: bool = False
    seconds: float = 0.0


def upload(settings: Settings, staging: Path, bucket: Bucket, env: Mapping[str, str] | None = None) -> UploadReport:
    """Bring ``bucket`` level with the staging folder (see the module's docstring). Raises BucketError."""
    started = time.perf_counter()
    env = os.environ if env is None else env
    report = UploadReport(bucket)
    state = _read_state(staging)
    local = _hashes(staging, state, settings.output.content_encoding)
    done = _done_key(bucket, local, settings)
    if state.get("synced") == done:
        _write_state(staging, state)  # the hashes of files touched but unchanged
        report.seconds = time.perf_counter() - started
        return report
    store = _store(bucket, env)
    remote = _list(store, bucket, report)
    record_etag = remote.pop(UPLOAD_RECORD, None)
    kept = state.get("record") or {}
    if record_etag is None:
        record: dict[str, Any] = {"headers": "", "objects": {}}
    elif kept.get("etag") == record_etag:
        record = kept["body"]
    else:
        record = _get_record(store, bucket, report)
    ours = {rel: frozenset(md5s) for rel, md5s in record.get("objects", {}).items()}
    heads = _headers_key(settings)
    plan = plan_upload(local, remote, ours, settings, rewrite=record.get("headers") != heads)
    report.refused = plan.refused
    state["synced"] = None  # not complete until the end: a kill makes the next run look at the bucket
    # Not known live until deliver/live.py has seen them at their public URLs: kept before the PUTs,
    # so that a run killed after them still checks before anything is sent.
    waiting = {**_unverified(state), **{rel: local[rel] for rel, _ in plan.puts}}
    state[UNVERIFIED] = {rel: md5 for rel, md5 in waiting.items() if rel not in plan.deletes}
    if plan.puts or plan.learned:
        _write_state(staging, state)
        claimed = {rel: sorted(ours.get(rel, frozenset()) | {local[rel]}) for rel, _ in plan.puts}
        claimed |= {rel: sorted(ours.get(rel, frozenset()) | {local[rel]}) for rel in plan.learned}
        record = {"headers": record.get("headers", ""), "objects": {**record.get("objects", {}), **claimed}}
        record_etag = _put_record(store, bucket, record, record_etag, report)
        _keep_record(state, record, record_etag)
    report.uploaded = _put_all(store, bucket, staging, settings, plan.puts, report)
    if plan.deletes:
        _write_state(staging, state)
        _delete(store, bucket, plan.deletes, report)
        report.deleted = list(plan.deletes)
    objects = {rel: [md5] for rel, md5 in local.items() if rel not in plan.refused}
    if record.get("headers") != heads or plan.deletes or _grown(record, objects):
        record = {"headers": heads, "objects": objects}
        record_etag = _put_record(store, bucket, record, record_etag, report)
        _keep_record(state, record, record_etag)
    state["synced"] = None if plan.refused else done
    _write_state(staging, state)
    report.seconds = time.perf_counter() - started
    return report


def _grown(record: Mapping[str, Any], objects: Mapping[str, list[str]]) -> bool:
    """Is the record worth rewriting: keys the build no longer makes, or many keys with old MD5s?"""
    had = record.get("objects", {})
    stale = sum(1 for rel, md5s in had.items() if rel not in objects or len(md5s) > 1)
    return stale > max(64, len(objects) // 2)


def _done_key(bucket: Bucket, local: Mapping[str, str], settings: Settings) -> str:
    """What a complete upload of these files to this bucket, with these headers, is known by."""
    text = json.dumps([bucket.endpoint, bucket.url, _headers_key(settings), sorted(local.items())])
    return hashlib.sha256(text.encode()).hexdigest()


def _headers_key(settings: Settings) -> str:
    """The settings that decide the objects' headers: objects uploaded under others are put again."""
    out = settings.output
    names = (settings.feeds.rss, settings.feeds.atom, settings.feeds.json, out.index, out.opml)
    kept = [out.feed_cache_control, out.page_cache_control, out.content_encoding, names]
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:16]


def encoded(data: bytes, encoding: str) -> bytes:
    """The bytes an object holds: the file's, or (``[output] content_encoding = "gzip"``) them
    compressed, the same for the same bytes (no time, no name in the header)."""
    return gzip.compress(data, compresslevel=9, mtime=0) if encoding == "gzip" else data


def _hashes(staging: Path, state: dict[str, Any], encoding: str = "") -> dict[str, str]:
    """Key → MD5 of every object the staging folder's files make (dot files and folders left out:
    the records, temporary files); a file whose size, mtime and inode are as last hashed, with the
    same encoding, is not read."""
    same = state.get("encoding", "") == encoding
    known: dict[str, list[Any]] = (state.get("hashes") or {}) if same else {}
    state["encoding"] = encoding
    fresh: dict[str, list[Any]] = {}
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(staging):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = Path(folder)
        for name in files:
            if name.startswith("."):
                continue
            path = base / name
            rel = path.relative_to(staging).as_posix()
            try:
                st = path.stat()
            except OSError:
                continue
            sig = [st.st_size, st.st_mtime_ns, st.st_ino]
            was = known.get(rel)
            if was is not None and was[:3] == sig:
                md5 = str(was[3])
            else:
                try:
                    md5 = hashlib.md5(encoded(path.read_bytes(), encoding), usedforsecurity=False).hexdigest()
                except OSError as e:
                    raise BucketError(f"cannot read {path}: {e.strerror or e}") from e
            fresh[rel] = [*sig, md5]
            out[rel] = md5
    state["hashes"] = fresh
    return out


def _read_state(staging: Path) -> dict[str, Any]:
    try:
        state = json.loads((staging / SYNC_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(staging: Path, state: Mapping[str, Any]) -> None:
    with contextlib.suppress(OSError):
        staging.mkdir(parents=True, exist_ok=True)
        fd, tmp = new_temp(staging, f"{SYNC_STATE}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(state, f, ensure_ascii=False)
            os.replace(tmp, staging / SYNC_STATE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _unverified(state: Mapping[str, Any]) -> dict[str, str]:
    kept = state.get(UNVERIFIED)
    return {str(k): str(v) for k, v in kept.items()} if isinstance(kept, dict) else {}


def unverified(staging: Path) -> dict[str, str]:
    """The objects uploaded (key → MD5 of their bytes) not yet seen live at their public URLs."""
    return _unverified(_read_state(staging))


def settle(staging: Path, seen: Mapping[str, str]) -> None:
    """``seen`` (key → MD5) is live: those keys leave the list, unless uploaded again since."""
    state = _read_state(staging)
    left = {rel: md5 for rel, md5 in _unverified(state).items() if seen.get(rel) != md5}
    if left != _unverified(state):
        state[UNVERIFIED] = left
        _write_state(staging, state)


def _keep_record(state: dict[str, Any], record: Mapping[str, Any], etag: str) -> None:
    state["record"] = {"etag": etag, "body": record}


def credentials(env: Mapping[str, str]) -> dict[str, str]:
    """The credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else the
    AWS_PROFILE (or default) profile of the shared credentials file. Never the config file."""
    key, secret, token = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY"), env.get("AWS_SESSION_TOKEN")
    if not (key and secret):
        home = Path(env.get("HOME", "~")).expanduser()
        path = env.get("AWS_SHARED_CREDENTIALS_FILE") or str(home / ".aws" / "credentials")
        profile = env.get("AWS_PROFILE") or "default"
        parser = configparser.RawConfigParser()
        with contextlib.suppress(OSError, configparser.Error):
            parser.read(path, encoding="utf-8")
        if parser.has_section(profile):
            key = parser.get(profile, "aws_access_key_id", fallback=None)
            secret = parser.get(profile, "aws_secret_access_key", fallback=None)
            token = parser.get(profile, "aws_session_token", fallback=None)
    if not (key and secret):
        raise BucketError(f"no AWS credentials to upload with: {CREDENTIALS_HINT}")
    found = {"access_key_id": key.strip(), "secret_access_key": secret.strip()}
    if token:
        found["token"] = token.strip()
    return found


def check_ready(bucket: Bucket, env: Mapping[str, str] | None = None) -> None:
    """Raise BucketError when an upload to ``bucket`` could not even start (obstore missing, no
    credentials, a configuration obstore refuses); no request is made."""
    _store(bucket, os.environ if env is None else env)


def _store(bucket: Bucket, env: Mapping[str, str]) -> S3Store:
    try:
        from obstore.store import S3Store
    except ImportError:
        raise BucketError("uploading to a bucket needs obstore: pip install 'syndicate[s3]'") from None

    region = bucket.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    options: ClientConfig = {"timeout": timedelta(seconds=60), "connect_timeout": timedelta(seconds=10)}
    if bucket.endpoint.startswith("http://"):
        options["allow_http"] = True
    config: dict[str, Any] = {"region": region, **credentials(env)}
    if bucket.endpoint:
        config["endpoint"] = bucket.endpoint.rstrip("/")
    try:
        return S3Store(
            bucket.bucket,
            prefix=bucket.prefix.rstrip("/") or None,
            client_options=options,
            retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=30)},
            **config,
        )
    except Exception as e:  # obstore's configuration errors
        raise BucketError(f"cannot use {bucket.url}: {_why(e)}") from None


def _list(store: S3Store, bucket: Bucket, report: UploadReport) -> dict[str, str]:
    import obstore

    remote: dict[str, str] = {}
    report.listed = True
    try:
        for batch in obstore.list(store, chunk_size=1000):
            report.requests += 1
            for meta in batch:
                remote[meta["path"]] = (meta.get("e_tag") or "").strip('"')
    except Exception as e:
        raise BucketError(f"cannot list {bucket.url}: {_why(e)}") from None
    report.requests = max(report.requests, 1)
    return remote


def _get_record(store: S3Store, bucket: Bucket, report: UploadReport) -> dict[str, Any]:
    import obstore

    report.requests += 1
    try:
        body = json.loads(bytes(obstore.get(store, UPLOAD_RECORD).bytes()))
    except ValueError:
        body = None
    except Exception as e:
        raise BucketError(f"cannot read {bucket.url}{UPLOAD_RECORD}: {_why(e)}") from None
    if not isinstance(body, dict) or not isinstance(body.get("objects"), dict):
        raise BucketError(
            f"{bucket.url}{UPLOAD_RECORD} is not a record syndicate wrote; move it away (syndicate then"
            " treats every object under the prefix as somebody else's)"
        )
    return body


def _put_record(
    store: S3Store, bucket: Bucket, record: Mapping[str, Any], etag: str | None, report: UploadReport
) -> str:
    data = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
    attributes = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    return _put(store, bucket, UPLOAD_RECORD, data, attributes, etag, report)


def _put(
    store: S3Store,
    bucket: Bucket,
    rel: str,
    data: bytes,
    attributes: dict[str, str],
    etag: str | None,
    report: UploadReport,
) -> str:
    """One conditional PUT; the new ETag (unquoted)."""
    import obstore
    from obstore.exceptions import AlreadyExistsError, PreconditionError

    with _COUNT:
        report.requests += 1
    mode: Any = {"e_tag": f'"{etag}"'} if etag is not None else "create"
    try:
        result = obstore.put(store, rel, data, attributes=attributes, mode=mode, use_multipart=False)
    except (PreconditionError, AlreadyExistsError):
        raise BucketError(
            f"{bucket.url}{rel} was changed by another writer since syndicate listed the bucket (HTTP 412);"
            " nothing more was uploaded. Let one syndicate write to this bucket, then run the command again"
        ) from None
    except Exception as e:
        raise BucketError(f"cannot upload {bucket.url}{rel}: {_why(e)}") from None
    return (result.get("e_tag") or "").strip('"')


def _put_all(
    store: S3Store,
    bucket: Bucket,
    staging: Path,
    settings: Settings,
    puts: list[tuple[str, str | None]],
    report: UploadReport,
) -> list[str]:
    """The PUTs in their order: each rank (term feeds, site feeds, others, pages) complete before
    the next starts, a few at a time within one; after a failure none starts."""
    done: list[str] = []
    failed = threading.Event()
    lock = threading.Lock()

    def one(item: tuple[str, str | None]) -> None:
        rel, etag = item
        if failed.is_set():
            return
        try:
            data = encoded((staging / rel).read_bytes(), settings.output.content_encoding)
        except OSError as e:
            failed.set()
            raise BucketError(f"cannot read {staging / rel}: {e.strerror or e}") from e
        try:
            _put(store, bucket, rel, data, headers(rel, settings), etag, report)
        except BucketError:
            failed.set()
            raise
        with lock:
            done.append(rel)

    ranks = sorted({rank(rel, settings) for rel, _ in puts})
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for r in ranks:
            futures = [pool.submit(one, item) for item in puts if rank(item[0], settings) == r]
            errors = [e for f in futures if (e := f.exception()) is not None]
            if errors:
                raise errors[0]
    return sorted(done)


def _delete(store: S3Store, bucket: Bucket, rels: list[str], report: UploadReport) -> None:
    import obstore

    for i in range(0, len(rels), DELETE_BATCH):
        report.requests += 1
        try:
            obstore.delete(store, rels[i : i + DELETE_BATCH])
        except Exception as e:
            raise BucketError(f"cannot delete from {bucket.url}: {_why(e)}") from None


def _why(error: Exception) -> str:
    """What went wrong, in a few words: the HTTP status and S3's error code when there is one. The
    library's own text (which holds URLs, and may echo request parts) is never shown whole."""
    text = str(error)
    status = re.search(r"status code: (\d{3}(?: [A-Za-z ]+)?)", text)
    code = re.search(r"<Code>([A-Za-z]+)</Code>", text)
    if status or code:
        parts = (f"HTTP {status.group(1).strip()}" if status else "", code.group(1) if code else "")
        return " ".join(p for p in parts if p)
    if re.search(r"connect|dns|resolve|timed out|timeout", text, re.IGNORECASE):
        return "the service could not be reached (connection failed or timed out)"
    return type(error).__name__
