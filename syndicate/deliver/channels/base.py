"""What every channel shares: the payload, receipts, failures, HTTP error classification."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import requests

from ...core.model import Post
from ...core.planning import MAX_RETRY_DELAY, Delivery
from ...errors import ContentError, Failure
from ...files import read_limited
from ..fetch import Fetched, FetchRefused, fetch_image, sniff_image
from ..store import AttemptRow

MAX_IMAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Held:
    """A status or record an earlier delivery of the same post made on a social target (or may
    have made: an attempt whose outcome was never learned), with its attempts as the ledger
    kept them. What an edit replaces and a deletion deletes; nothing else ever is."""

    delivery: Delivery
    attempts: tuple[AttemptRow, ...] = ()

    @property
    def text(self) -> str:
        """What it showed, as last sent ("" when the ledger did not keep it)."""
        return next((a.text for a in reversed(self.attempts) if a.text), "")


def change_preview(what: str, held: Sequence[Held], new: str | None = None, header: str = "") -> str:
    """A dry run's words for an edit or a deletion: what is changed, its text as last sent, and
    (for an edit) the new text, each text indented under its heading."""
    old = next((h.text for h in reversed(held) if h.text), "")
    lines = [what]
    if old:
        lines += ["old:", *(("  " + line).rstrip() for line in old.splitlines())]
    if new is not None:
        lines += [f"new{header}:", *(("  " + line).rstrip() for line in new.splitlines())]
    return "\n".join(lines)


@dataclass(frozen=True)
class Payload:
    """What a delivery carries, built from the current build (or the ledger, for a removed post)."""

    item: dict[str, Any]  # the post as a JSON Feed item
    post: Post | None = None  # None for post.deleted and WebSub pings
    topic: str = ""  # WebSub: the feed URL that changed
    held: tuple[Held, ...] = ()  # social post.updated and post.deleted: what the post has there now


@dataclass(frozen=True)
class Receipt:
    """A delivery that went out: the remote object's id and URL where the target gives them."""

    remote_id: str | None
    remote_url: str | None
    note: str = ""


@dataclass(frozen=True)
class Outgoing:
    """What one attempt will send, composed before the ledger records the attempt.

    ``digest`` is kept in the ledger with the attempt: when a later attempt finds a remote
    object under this delivery's key, it is accepted only if its digest is one of these.
    """

    digest: str
    body: Any  # the channel's own: bytes (webhook), text (Mastodon), a record (Bluesky)
    text: str = ""  # what a social post shows, kept in the ledger for previews of edits and deletions


class Channel(Protocol):
    """One target kind. ``compose`` builds what an attempt sends (may raise DeliveryFailed, e.g. a
    text that cannot fit); ``send`` sends it and returns a Receipt, or raises DeliveryFailed with
    what to do next, or KeyTaken. ``earlier`` holds this delivery's attempts as the ledger kept
    them, the current one last, for reconciling an attempt whose outcome was never learned.
    ``keyed`` channels get a unique ``key_seq`` from the ledger before their first attempt."""

    keyed: bool

    def compose(self, delivery: Delivery, payload: Payload) -> Outgoing: ...
    def send(
        self, delivery: Delivery, outgoing: Outgoing, payload: Payload, now: datetime, earlier: Sequence[AttemptRow]
    ) -> Receipt: ...
    def preview(self, delivery: Delivery, payload: Payload) -> str: ...
    def close(self) -> None: ...


def digest_of(*parts: object) -> str:
    """A short, stable digest of what an attempt sends (JSON of the parts)."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()[:32]


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or ``X-RateLimit-Reset``
    (an epoch timestamp or an ISO 8601 date, as Mastodon sends); None when absent or unreadable.
    Always a finite number of at most MAX_RETRY_DELAY: a server cannot make us wait forever."""
    seconds = _retry_after(headers, now)
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), float(MAX_RETRY_DELAY))


def _retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get("retry-after")
    if value:
        value = value.strip()
        if value.isascii() and value.isdigit():
            return float(value)
        try:
            return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
        except (TypeError, ValueError, OverflowError, IndexError):
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
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                return max(0.0, (when.astimezone(UTC) - now).total_seconds())
            except (ValueError, OverflowError):
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
    """Where a post's thumbnail bytes come from: the site's static folder, else the network through a
    :func:`syndicate.deliver.fetch.public_session` (public addresses only, size and time capped). Only bytes
    that are an image (sniffed: JPEG, PNG, GIF, WebP, AVIF) are ever handed on; why an image was
    left out is kept in ``warnings``."""

    site_url: str
    static_dir: Path | None
    session: requests.Session
    timeout: float = 10.0
    cache: dict[str, Fetched | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, url: str) -> Fetched | None:
        if url not in self.cache:
            try:
                self.cache[url] = self._local(url) or fetch_image(
                    self.session, url, max_bytes=MAX_IMAGE_BYTES, timeout=self.timeout
                )
            except FetchRefused as e:
                self.cache[url] = None
                self.warnings.append(f"image left out: {e}")
        return self.cache[url]

    def _local(self, url: str) -> Fetched | None:
        """The file under the static folder that ``url`` names, when there is one."""
        if self.static_dir is None or not url.startswith(self.site_url):
            return None
        rel = urlsplit(url).path[len(urlsplit(self.site_url).path) :].lstrip("/")
        root = self.static_dir.resolve()
        candidate = (root / unquote(rel)).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        try:
            data = read_limited(str(candidate), MAX_IMAGE_BYTES, url)
        except ContentError as e:
            raise FetchRefused(f"{url}: {e.message}") from None
        mime = sniff_image(data)
        if mime is None:
            raise FetchRefused(f"{url}: {candidate.name} is not an image (JPEG, PNG, GIF, WebP or AVIF)")
        return Fetched(data, mime)
