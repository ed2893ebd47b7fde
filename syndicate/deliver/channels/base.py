"""What every channel shares: the payload, receipts, failures, HTTP error classification."""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

import requests

from ...core.images import post_images
from ...core.model import MAX_RETRY_DELAY, Post
from ...core.planning import Delivery
from ...errors import ContentError, Failure
from ...files import read_limited
from ..fetch import Fetched, FetchRefused, fetch_image, sniff_image
from ..store import AttemptRow

if TYPE_CHECKING:
    from ..imaging import Fitted

MAX_TRIED = 12  # images of one post fetched and fitted at most, to fill its 4 places (each within the timeout)
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # a phone's photo, before it is fitted; never more is read or fetched
KEPT_BYTES = 64 * 1024 * 1024  # of images read and of images fitted, kept for the rest of a run


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


def cannot_connect(url: str, exc: BaseException) -> Failure:
    """A connection that failed, said with where and why: ``cannot connect to hooks.example:443
    (connection refused)``. Only the host and port are named: a URL's path or query may hold a token."""
    import socket
    import ssl

    import urllib3.exceptions

    from ..fetch import _causes

    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 443 if parts.scheme == "https" else 80
    host = parts.hostname or "?"
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    reason = "no route to it"
    for e in _causes(exc):
        if isinstance(e, ConnectionRefusedError):
            reason = "connection refused: nothing listens there"
            break
        if isinstance(e, socket.gaierror | urllib3.exceptions.NameResolutionError):
            reason = "the host name does not resolve"
            break
        if isinstance(e, ssl.SSLError):
            reason = f"TLS failed: {e.reason or type(e).__name__}".replace("_", " ").lower()
            break
        if isinstance(e, ConnectionResetError):
            reason = "the connection was reset"
            break
        if isinstance(e, OSError) and e.strerror:
            reason = e.strerror.lower()
    return Failure(f"cannot connect to {where} ({reason})")


def classify_http(
    status: int, reason: str, headers: Mapping[str, str], now: datetime, *, gone_disables: bool = False
) -> Failure:
    """An HTTP error answer → retry or not. 408, 429 and 5xx are worth retrying; other 4xx
    are permanent (the same request will fail the same way); 410 can disable a webhook. A 429 is
    ``throttled``: the server's limit, which every delivery to it waits out (publish's lanes)."""
    message = f"HTTP {status} {reason}".strip()
    if status in (408, 429) or status >= 500:
        return Failure(message, retry_after=retry_after_seconds(headers, now), throttled=status == 429)
    if status == 410:
        return Failure(message + " (the receiver asked us to stop)", permanent=True, disable_target=gone_disables)
    return Failure(message, permanent=True)


@dataclass(frozen=True)
class ImageLimits:
    """What one network takes of an image: bytes, and (when it says) pixels and the longest side."""

    max_bytes: int
    max_pixels: int | None = None
    max_side: int | None = None


@dataclass(frozen=True)
class Attachment:
    """An image ready to upload: re-encoded within a network's limits (:func:`fit_image`), with its
    alt text (None when the author gave none: nothing is made up)."""

    url: str
    alt: str | None
    image: Fitted


class _Kept:
    """The most recently used values, within a budget of bytes (a run may see a thousand photos)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.values: OrderedDict[object, tuple[Any, int]] = OrderedDict()

    def get(self, key: object) -> Any | None:
        if key not in self.values:
            return None
        self.values.move_to_end(key)
        return self.values[key][0]

    def put(self, key: object, value: Any, size: int) -> None:
        if size > self.budget:
            return
        self.values[key] = (value, size)
        self.used += size
        while self.used > self.budget:
            _, (_, dropped) = self.values.popitem(last=False)
            self.used -= dropped


@dataclass
class ImageSource:
    """Where a post's images come from, and what makes them fit to post.

    Bytes come from the site's static folder, else the network through a
    :func:`syndicate.deliver.fetch.public_session` (public addresses only, size and time capped);
    only bytes that are an image (sniffed: JPEG, PNG, GIF, WebP, AVIF) are handed on. Each is then
    re-encoded for a network (:func:`fit_image`: upright, no EXIF or GPS, within its limits), once
    per URL and limits in a run. An image that cannot be had or fitted is left out of its post with
    a line in ``warnings`` naming the post's file, the image and why: never an exception, never a
    post held back for a picture."""

    site_url: str
    static_dir: Path | None
    session: requests.Session
    timeout: float = 10.0
    warnings: list[str] = field(default_factory=list)
    _fetched: _Kept = field(default_factory=lambda: _Kept(KEPT_BYTES), repr=False)
    _fitted: _Kept = field(default_factory=lambda: _Kept(KEPT_BYTES), repr=False)
    _refused: dict[object, str] = field(default_factory=dict, repr=False)

    def attachments(self, post: Post, count: int, limits: ImageLimits) -> tuple[Attachment, ...]:
        """The first ``count`` images of ``post`` that can be had and fitted to ``limits`` (the
        thumbnail, then the body's, in order): one that cannot is left out with a warning and the
        next is tried in its place (at most MAX_TRIED in all); the images past them are named in
        one warning."""
        if count <= 0:
            return ()
        candidates = post_images(
            post.content_html, post.url, post.image.url if post.image else None, post.image_alt, limit=1 << 30
        )
        out: list[Attachment] = []
        tried = 0
        for tried, image in enumerate(candidates, 1):
            fitted = self._fit(post, image.url, limits)
            if fitted is not None:
                out.append(Attachment(image.url, image.alt, fitted))
            if len(out) == count or tried == MAX_TRIED:
                break
        rest = [image.url for image in candidates[tried:]]
        if rest:
            shown = ", ".join(rest[:3]) + (f" and {len(rest) - 3} more" if len(rest) > 3 else "")
            why = f"a post carries {count} here" if len(out) == count else f"{MAX_TRIED} were tried"
            self.warn_once(f"{post.source}: {len(rest)} more image(s) left out ({why}): {shown}")
        return tuple(out)

    def warn(self, post: Post, url: str, why: str) -> None:
        """One line, once: which post goes without which image, and why."""
        self.warn_once(f"{post.source}: image {url} left out: {why}")

    def warn_once(self, line: str) -> None:
        if line not in self.warnings:
            self.warnings.append(line)

    def _fit(self, post: Post, url: str, limits: ImageLimits) -> Fitted | None:
        from ..imaging import ImageRejected, fit_image  # here: a site with only webhooks never loads Pillow

        key = (url, limits)
        fitted: Fitted | None = self._fitted.get(key)
        if fitted is None and key not in self._refused:
            try:
                got = self._get(url)
                fitted = fit_image(
                    got.data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels, max_side=limits.max_side
                )
                self._fitted.put(key, fitted, len(fitted.data))
            except FetchRefused as e:
                self._refused[key] = str(e).removeprefix(f"{url}: ")
            except ImageRejected as e:
                self._refused[key] = str(e)
        if fitted is None:
            self.warn(post, url, self._refused[key])
        return fitted

    def _get(self, url: str) -> Fetched:
        """The image's bytes (kept a while: two networks fit the same image); FetchRefused when there are none."""
        got: Fetched | None = self._fetched.get(url)
        if got is None:
            got = self._local(url) or fetch_image(self.session, url, max_bytes=MAX_IMAGE_BYTES, timeout=self.timeout)
            self._fetched.put(url, got, len(got.data))
        return got

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
