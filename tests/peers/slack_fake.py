"""A stateful fake of Slack's Web API and incoming webhooks, on 127.0.0.1, written from the
published reference (docs.slack.dev: chat.postMessage, chat.update, chat.delete,
conversations.history, message metadata, rate limits, incoming webhooks). No Slack server runs
here; this one refuses what Slack refuses, so a wrong request fails a test:

- every Web API answer is HTTP 200 with ``{"ok": true, …}`` or ``{"ok": false, "error": "…"}``
  (``not_authed`` without a token, ``invalid_auth`` for a wrong one, ``channel_not_found``,
  ``not_in_channel``, ``no_text``, ``msg_too_long`` past 40,000 characters, ``invalid_blocks``
  for a section text past 3,000 characters or an image without alt text, ``message_not_found``,
  ``cant_update_message``/``cant_delete_message`` for a message that is not the app's);
- a rate limit is HTTP 429 with ``Retry-After`` (seconds) and ``{"ok": false, "error": "ratelimited"}``;
- messages have ``ts`` ids ("seconds.microseconds", unique and increasing in a channel);
  ``conversations.history`` lists them newest first, after ``oldest`` (exclusive), ``limit`` a
  page with ``has_more`` and ``response_metadata.next_cursor``, metadata only with
  ``include_all_metadata``;
- an incoming webhook (``POST /services/T…/B…/<secret>``) answers ``ok`` (text/plain) and gives
  no message id; ``invalid_token`` (403) for a wrong secret, ``no_text`` (400);
- faults, scripted per test: ``rate_limit_next(n, retry_after)``, ``drop_next(n)`` (the call is
  carried out, then the connection is closed without an answer), ``fail_next(status)``.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "xoxb-1111-2222-fakebottoken"
BOT = "B0FAKEBOT"
CHANNEL = "C0123456789"
OUTSIDE = "C0NOTMEMBER"  # a channel the app was never invited to
HOOK_PATH = "/services/T0FAKE/B0FAKE/hooksecretAAAABBBBCCCC"
MAX_TEXT = 40_000
MAX_SECTION = 3_000


@dataclass
class Message:
    ts: str
    text: str
    blocks: list[Any]
    metadata: dict[str, Any] | None
    bot_id: str = BOT
    edited: bool = False


@dataclass
class Call:
    method: str  # the Web API method, or "webhook"
    params: dict[str, Any]
    headers: dict[str, str]
    raw: bytes


@dataclass
class SlackFake:
    base_url: str = ""
    channels: dict[str, list[Message]] = field(default_factory=lambda: {CHANNEL: [], OUTSIDE: []})
    hook_channel: str = CHANNEL
    calls: list[Call] = field(default_factory=list)
    faults: list[tuple[str, Any]] = field(
        default_factory=list
    )  # ("ratelimit", seconds) | ("drop", None) | ("status", n)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _last_ts: float = 0.0

    @property
    def api(self) -> str:
        return self.base_url + "/api"

    @property
    def hook_url(self) -> str:
        return self.base_url + HOOK_PATH

    def messages(self, channel: str = CHANNEL) -> list[Message]:
        with self.lock:
            return list(self.channels[channel])

    def rate_limit_next(self, n: int = 1, retry_after: int = 30) -> None:
        self.faults += [("ratelimit", retry_after)] * n

    def drop_next(self, n: int = 1) -> None:
        self.faults += [("drop", None)] * n

    def fail_next(self, status: int, n: int = 1) -> None:
        self.faults += [("status", status)] * n

    def posts(self) -> list[Call]:
        """The calls that could make a message: chat.postMessage and incoming webhook posts."""
        return [c for c in self.calls if c.method in ("chat.postMessage", "webhook")]

    def _new_ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    # The API, as Slack's reference describes it

    def web(self, method: str, p: dict[str, Any], auth: str) -> dict[str, Any]:
        if not auth:
            return {"ok": False, "error": "not_authed"}
        if auth != f"Bearer {TOKEN}":
            return {"ok": False, "error": "invalid_auth"}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        channel = p.get("channel")
        if not isinstance(channel, str) or not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if channel == OUTSIDE:
            return {"ok": False, "error": "not_in_channel"}
        answer: dict[str, Any] = handler(self.channels[channel], p)
        return answer

    def _check_content(self, p: dict[str, Any]) -> str | None:
        text, blocks = p.get("text"), p.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return "invalid_blocks_format"
        if not text and not blocks:
            return "no_text"
        if isinstance(text, str) and len(text) > MAX_TEXT:
            return "msg_too_long"
        for block in blocks or []:
            if not isinstance(block, dict) or block.get("type") not in ("section", "image"):
                return "invalid_blocks"
            if block["type"] == "section":
                inner = block.get("text")
                if not isinstance(inner, dict) or not 1 <= len(str(inner.get("text", ""))) <= MAX_SECTION:
                    return "invalid_blocks"
            elif not block.get("alt_text") or not str(block.get("image_url", "")).startswith(("http://", "https://")):
                return "invalid_blocks"
        meta = p.get("metadata")
        if meta is not None and (
            not isinstance(meta, dict)
            or not isinstance(meta.get("event_type"), str)
            or not isinstance(meta.get("event_payload"), dict)
        ):
            return "invalid_metadata_format"
        return None

    def _chat_postMessage(self, messages: list[Message], p: dict[str, Any]) -> dict[str, Any]:
        error = self._check_content(p)
        if error:
            return {"ok": False, "error": error}
        m = Message(self._new_ts(), str(p.get("text") or ""), list(p.get("blocks") or []), p.get("metadata"))
        messages.append(m)
        return {"ok": True, "channel": p["channel"], "ts": m.ts, "message": self._shown(m, True)}

    def _find(self, messages: list[Message], ts: object) -> Message | None:
        return next((m for m in messages if m.ts == ts), None)

    def _chat_update(self, messages: list[Message], p: dict[str, Any]) -> dict[str, Any]:
        m = self._find(messages, p.get("ts"))
        if m is None:
            return {"ok": False, "error": "message_not_found"}
        if m.bot_id != BOT:
            return {"ok": False, "error": "cant_update_message"}
        error = self._check_content(p)
        if error:
            return {"ok": False, "error": error}
        m.text, m.blocks, m.edited = str(p.get("text") or ""), list(p.get("blocks") or []), True
        if p.get("metadata") is not None:
            m.metadata = p["metadata"]
        return {"ok": True, "channel": p["channel"], "ts": m.ts, "text": m.text}

    def _chat_delete(self, messages: list[Message], p: dict[str, Any]) -> dict[str, Any]:
        m = self._find(messages, p.get("ts"))
        if m is None:
            return {"ok": False, "error": "message_not_found"}
        if m.bot_id != BOT:
            return {"ok": False, "error": "cant_delete_message"}
        messages.remove(m)
        return {"ok": True, "channel": p["channel"], "ts": m.ts}

    def _conversations_history(self, messages: list[Message], p: dict[str, Any]) -> dict[str, Any]:
        oldest = float(p.get("oldest") or 0)
        limit = min(max(int(p.get("limit") or 100), 1), 999)
        start = int(p.get("cursor") or 0)
        rows = sorted((m for m in messages if float(m.ts) > oldest), key=lambda m: float(m.ts), reverse=True)
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        meta = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        return {
            "ok": True,
            "messages": [self._shown(m, meta) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _shown(self, m: Message, metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text, "blocks": m.blocks, "bot_id": m.bot_id}
        if m.edited:
            out["edited"] = {"user": "U0FAKEBOT", "ts": self._last_ts}
        if metadata and m.metadata is not None:
            out["metadata"] = m.metadata
        return out

    def hook(self, path: str, p: dict[str, Any]) -> tuple[int, str]:
        if path != HOOK_PATH:
            return 403, "invalid_token"
        if not p.get("text") and not p.get("blocks"):
            return 400, "no_text"
        error = self._check_content(p)
        if error:
            return 400, "invalid_blocks" if "blocks" in error else error
        messages = self.channels[self.hook_channel]
        messages.append(Message(self._new_ts(), str(p.get("text") or ""), list(p.get("blocks") or []), None))
        return 200, "ok"


@contextmanager
def slack_fake() -> Iterator[SlackFake]:
    fake = SlackFake()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _params(self) -> tuple[str, dict[str, Any], bytes]:
            parts = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            kind = self.headers.get("Content-Type", "")
            if raw and kind.startswith("application/json"):
                body = json.loads(raw)
                params.update(body if isinstance(body, dict) else {})
            elif raw:
                params.update({k: v[-1] for k, v in parse_qs(raw.decode()).items()})
            return parts.path, params, raw

        def _answer(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            path, params, raw = self._params()
            webhook = path.startswith("/services/")
            method = "webhook" if webhook else path.removeprefix("/api/")
            with fake.lock:
                fake.calls.append(Call(method, params, {k.lower(): v for k, v in self.headers.items()}, raw))
                fault = fake.faults.pop(0) if fake.faults else None
                if fault is not None and fault[0] == "ratelimit":
                    body = (
                        b"too_many_requests" if webhook else json.dumps({"ok": False, "error": "ratelimited"}).encode()
                    )
                    kind = "text/plain" if webhook else "application/json"
                    self._answer(429, body, kind, {"Retry-After": str(fault[1])})
                    return
                if fault is not None and fault[0] == "status":
                    self._answer(fault[1], b"trouble", "text/plain")
                    return
                if webhook:
                    status, text = fake.hook(path, params)
                    answer = text.encode()
                    kind = "text/plain"
                else:
                    status, kind = 200, "application/json; charset=utf-8"
                    answer = json.dumps(fake.web(method, params, self.headers.get("Authorization", ""))).encode()
            if fault is not None and fault[0] == "drop":  # carried out; the answer never comes
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._answer(status, answer, kind)

        do_GET = do_POST = _handle

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
