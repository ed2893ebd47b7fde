"""A Discord webhook, as the API reference describes it (Execute / Edit / Delete Webhook Message,
Rate Limits, JSON error codes).

- ``POST /api/webhooks/{id}/{token}?wait=true`` → 200 and the message (``id`` a string snowflake,
  ``channel_id``, ``webhook_id``, ``content``, ``embeds``); without ``wait``, 204 and no body.
- ``PATCH``/``GET``/``DELETE …/messages/{id}`` → 200 message / 200 / 204; an unknown message is
  404 ``{"message": "Unknown Message", "code": 10008}``.
- a wrong token → 401 ``{"message": "Invalid Webhook Token", "code": 50027}``; an unknown webhook
  → 404 code 10015.
- what the real API refuses: content over 2,000 characters, an embed title over 256, a description
  over 4,096, embeds over 6,000 characters in all, more than 10 embeds, an empty message →
  400 ``{"code": 50035, "errors": {…}, "message": "Invalid Form Body"}`` (50006 for an empty one).
- every answer carries ``X-RateLimit-Limit/-Remaining/-Reset/-Reset-After/-Bucket`` for a bucket of
  ``limit`` requests per ``window`` seconds; a request past it is 429 ``{"message": "You are being
  rate limited.", "retry_after": s, "global": false}`` with ``Retry-After``. ``rate_limit_next``
  answers the next request so whatever the bucket says.
- ``drop_next``: the next request is carried out and the connection closed with no answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.server import Reply

WEBHOOK_ID = "1180000000000000001"
TOKEN = "wHtok3n-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_fake"
CHANNEL_ID = "1180000000000000002"


def _invalid(path: str, code: str, message: str) -> Reply:
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path.split(".")):
        errors = {key: errors}
    return Reply(400, {"code": 50035, "errors": errors, "message": "Invalid Form Body"})


@dataclass
class DiscordFake:
    limit: int = 5  # requests per window in the webhook's bucket
    window: float = 2.0  # seconds
    latency: float = 0.0  # seconds between carrying a request out and answering it
    clock: Callable[[], float] = time.monotonic
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # (method, path?query, JSON body)
    _next_id: int = 1180000000000001000
    _used: list[float] = field(default_factory=list)
    _limited: list[tuple[float, bool]] = field(default_factory=list)
    _drop: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def path(self) -> str:
        return f"/api/webhooks/{WEBHOOK_ID}/{TOKEN}"

    def rate_limit_next(self, retry_after: float, is_global: bool = False) -> None:
        self._limited.append((retry_after, is_global))

    def drop_next(self) -> None:
        self._drop += 1

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Reply:
        reply = self._handle(method, path, query, headers, body)
        time.sleep(self.latency)  # applied: a process killed now never learns the outcome
        return reply

    def _handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Reply:
        with self.lock:
            try:
                doc = json.loads(body) if body else None
            except ValueError:
                return Reply(400, {"code": 50109, "message": "The request body contains invalid JSON."})
            self.requests.append((method, path + (f"?{query}" if query else ""), doc))
            reply = self._route(method, path, parse_qs(query), headers, doc)
            if self._drop and reply.status < 400:
                self._drop -= 1
                reply.drop = True
            return reply

    def _route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], doc: Any) -> Reply:
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "webhooks"] or len(parts) < 4:
            return Reply(404, {"message": "404: Not Found", "code": 0})
        if parts[2] != WEBHOOK_ID:
            return Reply(404, {"message": "Unknown Webhook", "code": 10015})
        if parts[3] != TOKEN:
            return Reply(401, {"message": "Invalid Webhook Token", "code": 50027})
        limited = self._bucket()
        if limited is not None:
            return limited
        if len(parts) == 4 and method == "POST":
            reply = self._execute(doc, query.get("wait") == ["true"])
        elif len(parts) == 6 and parts[4] == "messages":
            reply = self._message(method, parts[5], doc)
        else:
            reply = Reply(405, {"message": "405: Method Not Allowed", "code": 0})
        reply.headers.update(self._headers())
        return reply

    def _bucket(self) -> Reply | None:
        now = self.clock()
        if self._limited:
            retry_after, is_global = self._limited.pop(0)
            return self._too_many(retry_after, is_global)
        self._used = [t for t in self._used if now - t < self.window]
        if len(self._used) >= self.limit:
            return self._too_many(round(self.window - (now - self._used[0]), 3), False)
        self._used.append(now)
        return None

    def _too_many(self, retry_after: float, is_global: bool) -> Reply:
        headers = {"Retry-After": str(max(1, round(retry_after))), **self._headers()}
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        return Reply(429, body, headers)

    def _headers(self) -> dict[str, str]:
        now = self.clock()
        used = [t for t in self._used if now - t < self.window]
        reset_after = round(self.window - (now - used[0]), 3) if used else self.window
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - len(used))),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": "fakebucket0123456789abcdef",
        }

    def _invalid(self, doc: Any) -> Reply | None:
        if not isinstance(doc, dict):
            return Reply(400, {"code": 50109, "message": "The request body contains invalid JSON."})
        content = doc.get("content") or ""
        embeds = doc.get("embeds") or []
        if not isinstance(content, str):
            return _invalid("content", "BASE_TYPE_STRING", "Must be a string.")
        if len(content) > 2000:
            return _invalid("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        if not isinstance(embeds, list) or len(embeds) > 10:
            return _invalid("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        for i, embed in enumerate(embeds):
            if not isinstance(embed, dict):
                return _invalid(f"embeds.{i}", "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            for key, most in (("title", 256), ("description", 4096)):
                value = embed.get(key, "")
                if len(value) > most:
                    return _invalid(f"embeds.{i}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {most} or fewer in length.")
                total += len(value)
            url = embed.get("url")
            if url is not None and not str(url).startswith(("http://", "https://")):
                return _invalid(f"embeds.{i}.url", "URL_TYPE_INVALID_URL", "Not a well formed URL.")
            image = embed.get("image")
            if image is not None and not str((image or {}).get("url", "")).startswith(("http://", "https://")):
                return _invalid(f"embeds.{i}.image.url", "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        if total > 6000:
            return _invalid("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
        if not content and not embeds:
            return Reply(400, {"message": "Cannot send an empty message", "code": 50006})
        return None

    def _execute(self, doc: Any, wait: bool) -> Reply:
        bad = self._invalid(doc)
        if bad is not None:
            return bad
        message_id = str(self._next_id)
        self._next_id += 1
        message = {
            "id": message_id,
            "type": 0,
            "channel_id": CHANNEL_ID,
            "webhook_id": WEBHOOK_ID,
            "content": doc.get("content") or "",
            "embeds": [{**e, "type": "rich"} for e in doc.get("embeds") or []],
            "allowed_mentions": doc.get("allowed_mentions"),
            "edited_timestamp": None,
        }
        self.messages[message_id] = message
        return Reply(200, message) if wait else Reply(204)

    def _message(self, method: str, message_id: str, doc: Any) -> Reply:
        message = self.messages.get(message_id)
        if message is None:
            return Reply(404, {"message": "Unknown Message", "code": 10008})
        if method == "GET":
            return Reply(200, message)
        if method == "DELETE":
            del self.messages[message_id]
            self.deleted.append(message_id)
            return Reply(204)
        if method == "PATCH":
            bad = self._invalid({**{"content": message["content"], "embeds": message["embeds"]}, **(doc or {})})
            if bad is not None:
                return bad
            doc = doc or {}
            if "content" in doc:
                message["content"] = doc["content"] or ""
            if "embeds" in doc:
                message["embeds"] = [{**e, "type": "rich"} for e in doc["embeds"] or []]
            message["edited_timestamp"] = "2026-11-26T12:00:00.000000+00:00"
            return Reply(200, message)
        return Reply(405, {"message": "405: Method Not Allowed", "code": 0})
