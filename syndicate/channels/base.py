"""What every channel shares: the payload, receipts, failures, HTTP error classification."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from ..model import Post
from ..planning import Delivery, Failure

MAX_IMAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Payload:
    """What a delivery carries, built from the current build (or the ledger, for a removed post)."""

    item: dict[str, Any]  # the post as a JSON Feed item
    post: Post | None = None  # None for post.deleted and WebSub pings
    topic: str = ""  # WebSub: the feed URL that changed


@dataclass(frozen=True)
class Receipt:
    remote_id: str | None
    remote_url: str | None
    note: str = ""


class DeliveryFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class Channel(Protocol):
    def deliver(self, delivery: Delivery, payload: Payload, now: datetime) -> Receipt: ...
    def preview(self, delivery: Delivery, payload: Payload) -> str: ...
    def close(self) -> None: ...


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or ``X-RateLimit-Reset``
    (an epoch timestamp or an ISO 8601 date, as Mastodon sends)."""
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get("retry-after")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
        except (TypeError, ValueError):
            pass
    value = lower.get("x-ratelimit-reset")
    if value:
        value = value.strip()
        try:
            number = float(value)
            # small numbers are "seconds from now", large ones an epoch timestamp
            return max(0.0, number - now.timestamp()) if number > 1_000_000_000 else max(0.0, number)
        except ValueError:
            try:
                when = datetime.fromisoformat(value.replace("Z", "+00:00"))
                return max(0.0, (when.astimezone(UTC) - now).total_seconds())
            except ValueError:
                return None
    return None


def classify_http(
    status: int, reason: str, headers: Mapping[str, str], now: datetime, *, gone_disables: bool = False
) -> Failure:
    """An HTTP error answer → retry or not. 408, 429 and 5xx are worth retrying; other 4xx
    are permanent (the same request will fail the same way); 410 can disable a webhook."""
    message = f"HTTP {status} {reason}".strip()
    if status in (408, 429) or status >= 500:
        return Failure(message, retry_after=retry_after_seconds(headers, now))
    if status == 410:
        return Failure(message + " (the receiver asked us to stop)", permanent=True, disable_target=gone_disables)
    return Failure(message, permanent=True)


@dataclass
class ImageSource:
    """Where a post's thumbnail bytes come from: the site's static folder, else HTTP."""

    site_url: str
    static_dir: Path | None
    session: requests.Session
    timeout: float = 10.0
    cache: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def get(self, url: str, mime_type: str) -> tuple[bytes, str] | None:
        if url in self.cache:
            return self.cache[url]
        data: bytes | None = None
        if self.static_dir is not None and url.startswith(self.site_url):
            rel = urlsplit(url).path[len(urlsplit(self.site_url).path) :].lstrip("/")
            candidate = (self.static_dir / rel).resolve()
            if candidate.is_relative_to(self.static_dir.resolve()) and candidate.is_file():
                data = candidate.read_bytes()[: MAX_IMAGE_BYTES + 1]
        if data is None:
            data = fetch_image(self.session, url, self.timeout)
        if data is None or len(data) > MAX_IMAGE_BYTES:
            return None
        self.cache[url] = (data, mime_type)
        return data, mime_type


def fetch_image(session: requests.Session, url: str, timeout: float) -> bytes | None:
    """GET an image, at most MAX_IMAGE_BYTES; None when it cannot be had."""
    try:
        with session.get(url, timeout=timeout, stream=True) as r:
            if r.status_code != 200:
                return None
            data = r.raw.read(MAX_IMAGE_BYTES + 1, decode_content=True)
            return data if len(data) <= MAX_IMAGE_BYTES else None
    except requests.RequestException:
        return None
