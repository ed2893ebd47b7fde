"""What an upload to a bucket does, decided from values (pure): which objects to put, in which
order and on which condition, which to delete, which to leave alone, and each object's headers.

The shell (:mod:`syndicate.builder.bucket`) lists the bucket once, hashes the local files and
hands both here with the record of the objects syndicate uploaded; it then carries out the plan.
ETags are compared without their quotes: a single-part upload's ETag is the MD5 of its bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .feeds import feed_file_names, is_feed_file
from .model import MIME_TYPES, Settings, media_type

TEXT_TYPES = {".html": "text/html", ".opml": "text/x-opml", ".xml": "application/xml", ".json": "application/json"}
UPLOAD_RECORD = ".syndicate-uploads"  # in the bucket, under the prefix: what syndicate uploaded (key → MD5s)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def content_type(name: str, settings: Settings) -> str:
    """The Content-Type of an output file by its name: the feed server's and the bucket's."""
    by_name = {file_name: MIME_TYPES[fmt] for fmt, file_name in feed_file_names(settings).items()}
    if name in by_name:
        return f"{by_name[name]}; charset=utf-8"
    dot = name.rfind(".")
    suffix = name[dot:].lower() if dot > 0 else ""
    if suffix in TEXT_TYPES:
        return f"{TEXT_TYPES[suffix]}; charset=utf-8"
    return media_type(name)


@dataclass(frozen=True)
class Bucket:
    """Where a build is uploaded: ``s3://bucket/prefix/`` and the service's endpoint and region."""

    bucket: str
    prefix: str  # "" or ends with "/"
    endpoint: str = ""  # "" = AWS
    region: str = ""

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_s3_url(text: str) -> tuple[str, str]:
    """``s3://bucket/prefix/`` → (bucket, prefix ending in "/", or ""). ValueError says what is wrong."""
    example = 'like "s3://my-bucket/feeds/"'
    if not text.startswith("s3://"):
        raise ValueError(f"must start with s3://, {example}")
    rest = text[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket or ":" in bucket:
        raise ValueError(f"must not hold credentials or a port: name the bucket only, {example}")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"names no valid bucket (3 to 63 lower-case letters, digits, dots, hyphens), {example}")
    if "?" in prefix or "#" in prefix or "\\" in prefix or any(not c.isprintable() for c in prefix):
        raise ValueError(f"must be a plain path in the bucket, {example}")
    parts = [p for p in prefix.split("/") if p]
    if any(p in (".", "..") for p in parts) or "//" in prefix:
        raise ValueError(f"must be a plain path in the bucket, {example}")
    return bucket, "".join(p + "/" for p in parts)


def rank(rel: str, settings: Settings) -> int:
    """Upload order: term feeds (0), the site's feeds (1), other files (2), the index and OPML
    pages (3). A reader who follows a link from a newer page finds the feed it names."""
    if rel in (settings.output.index, settings.output.opml):
        return 3
    if is_feed_file(settings, rel):
        return 0 if "/" in rel else 1
    return 2


def headers(rel: str, settings: Settings) -> dict[str, str]:
    """The headers an object is stored with (and served with by the bucket)."""
    out = {"Content-Type": content_type(rel.rsplit("/", 1)[-1], settings)}
    control = settings.output.feed_cache_control if is_feed_file(settings, rel) else settings.output.page_cache_control
    if control:
        out["Cache-Control"] = control
    if settings.output.content_encoding:
        out["Content-Encoding"] = settings.output.content_encoding
    return out


@dataclass
class UploadPlan:
    """``puts``: (key, the ETag to match, or None for a new key), in upload order; ``deletes``:
    objects syndicate uploaded that the build no longer makes; ``refused``: keys held by an object
    syndicate did not upload (key → why); ``learned``: keys already holding the build's bytes that
    the record does not name yet."""

    puts: list[tuple[str, str | None]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    learned: list[str] = field(default_factory=list)


def plan_upload(
    local: Mapping[str, str],
    remote: Mapping[str, str],
    ours: Mapping[str, frozenset[str]],
    settings: Settings,
    rewrite: bool = False,
) -> UploadPlan:
    """``local``: key → MD5 of the build's files; ``remote``: key → ETag (unquoted) of the objects
    under the prefix; ``ours``: key → the MD5s syndicate uploaded there (its record). ``rewrite``:
    the objects were uploaded with other headers (a Cache-Control changed): put them all again."""
    plan = UploadPlan()
    for rel in sorted(local, key=lambda r: (rank(r, settings), r)):
        md5, etag = local[rel], remote.get(rel)
        if etag == md5 and rewrite:
            plan.puts.append((rel, etag))
        elif etag == md5:
            if md5 not in ours.get(rel, ()):
                plan.learned.append(rel)
        elif etag is None:
            plan.puts.append((rel, None))
        elif etag in ours.get(rel, ()):
            plan.puts.append((rel, etag))
        else:
            plan.refused[rel] = "is an object syndicate did not upload (it was there before, or was changed since)"
    plan.deletes = sorted(rel for rel, md5s in ours.items() if rel not in local and remote.get(rel) in md5s)
    return plan


_AWS = re.compile(r"s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?")


def serves_itself(feeds_url: str, bucket: Bucket) -> bool:
    """Are the feed URLs (``[feeds] url``, else ``[site] url``) the bucket's own, path-style
    (``https://s3.example.com/bucket/…``) or virtual-hosted (``https://bucket.s3.example.com/…``),
    on the configured endpoint or on AWS's S3 (and its website) endpoints? Then what a GET sees
    right after a PUT is the new object (S3 reads its writes): no CDN to wait for."""
    parts = urlsplit(feeds_url)
    host = (parts.hostname or "").lower().rstrip(".")
    path = parts.path or "/"
    name = bucket.bucket
    own = urlsplit(bucket.endpoint).hostname if bucket.endpoint else None
    if own is not None:
        own = own.lower().rstrip(".")
        same_port = urlsplit(bucket.endpoint).port == parts.port
        return same_port and ((host == own and path.startswith(f"/{name}/")) or host == f"{name}.{own}")
    if host.startswith(f"{name}.") and _AWS.fullmatch(host[len(name) + 1 :]):
        return True
    return bool(_AWS.fullmatch(host)) and path.startswith(f"/{name}/")


def live_check(settings: Settings, bucket: Bucket) -> tuple[bool, str]:
    """Whether a run waits for the feeds it uploaded to be live at their public URLs before it
    sends anything (``[output] verify_live``), and why, in words for `check`."""
    chosen = settings.output.verify_live
    if chosen is not None:
        return chosen, f"[output] verify_live = {'true' if chosen else 'false'}"
    if serves_itself(settings.feeds_url, bucket):
        return False, f"the feed URLs ({settings.feeds_url}) are the bucket's own"
    return True, f"the feed URLs ({settings.feeds_url}) are not the bucket's own (a CDN or another server)"
