"""The Telegram Bot API, as its reference describes it (Making requests, sendMessage, sendPhoto,
editMessageText, editMessageCaption, deleteMessage, Formatting options: HTML style).

- ``POST /bot<token>/<method>`` with a JSON body → ``{"ok": true, "result": …}``, or
  ``{"ok": false, "error_code", "description"[, "parameters": {"retry_after"}]}`` with that HTTP
  status (401 "Unauthorized" for a wrong token, 400 "Bad Request: chat not found", 404 "Not Found"
  for an unknown method).
- ``parse_mode: HTML``: only the tags the Bot API lists; every other ``<``, ``>`` and ``&`` must be
  escaped (``&lt;`` ``&gt;`` ``&amp;`` ``&quot;`` or a numeric entity), else 400 "Bad Request: can't
  parse entities: …". Lengths are counted on the text as shown (after parsing), in UTF-16 code
  units: text 1–4,096 ("message is too long"), caption ≤ 1,024 ("message caption is too long").
- ``sendPhoto`` takes an http(s) URL (kept, not fetched) or a file_id.
- editing to the same text → 400 "Bad Request: message is not modified: …"; editMessageText on a
  photo → 400 "Bad Request: there is no text in the message to edit"; an unknown message →
  400 "Bad Request: message to edit not found" / "message to delete not found".
- ``deleteMessage`` only within 48 hours of sending, by the fake's own clock (``advance``):
  after that, 400 "Bad Request: message can't be deleted".
- ``rate_limit_next(s)``: the next request is 429 "Too Many Requests: retry after s" with
  ``parameters.retry_after``; ``drop_next``: the next request is carried out and the connection
  closed with no answer.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from tests.fakes.server import Reply

TOKEN = "7000000001:AAFakeTokenForTests_abcdefghijklmnopqrs"
CHAT = "@syndicate_test"
CHAT_ID = -1001234567890
DELETE_WINDOW = 48 * 3600.0
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji",
    "code", "pre", "blockquote",
}  # fmt: skip
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")


def _length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Parse(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shown: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS and self.error is None:
            self.error = f'Unsupported start tag "{tag}"'

    def handle_data(self, data: str) -> None:
        self.shown.append(data)


def parse_html(text: str) -> tuple[str | None, str]:
    """(an error as Telegram words it, the text as shown)."""
    for i, ch in enumerate(text):
        if ch == "&" and not _ENTITY.match(text, i):
            return f"can't parse entities: Character '&' is reserved and must be escaped at byte offset {i}", ""
    bare = re.sub(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?>", "", text)
    if "<" in bare or ">" in bare:
        offset = text.find("<" if "<" in bare else ">")
        return f"can't parse entities: Unexpected end tag or unescaped character at byte offset {offset}", ""
    parser = _Parse()
    parser.feed(text)
    parser.close()
    if parser.error:
        return f"can't parse entities: {parser.error}", ""
    return None, html.unescape("".join(parser.shown))


@dataclass
class TelegramFake:
    now: float = 1_780_000_000.0  # the fake's clock (seconds); ``advance`` moves it
    latency: float = 0.0  # seconds between carrying a request out and answering it
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted: list[int] = field(default_factory=list)
    requests: list[tuple[str, Any]] = field(default_factory=list)  # (method, JSON body)
    _next_id: int = 100
    _limited: list[int] = field(default_factory=list)
    _drop: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def rate_limit_next(self, retry_after: int) -> None:
        self._limited.append(retry_after)

    def drop_next(self) -> None:
        self._drop += 1

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Reply:
        reply = self._handle(method, path, query, headers, body)
        time.sleep(self.latency)  # applied: a process killed now never learns the outcome
        return reply

    def _handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Reply:
        with self.lock:
            parts = path.strip("/").split("/")
            if len(parts) != 2 or not parts[0].startswith("bot"):
                return _error(404, "Not Found")
            if parts[0][3:] != TOKEN:
                return _error(401, "Unauthorized")
            try:
                doc = json.loads(body) if body else {}
            except ValueError:
                return _error(400, "Bad Request: invalid JSON")
            self.requests.append((parts[1], doc))
            if self._limited:
                seconds = self._limited.pop(0)
                return _error(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})
            handler = getattr(self, "_" + parts[1], None)
            if handler is None or not isinstance(doc, dict):
                return _error(404, "Not Found")
            if doc.get("chat_id") not in (CHAT, CHAT_ID, str(CHAT_ID)):
                return _error(400, "Bad Request: chat not found")
            reply: Reply = handler(doc)
            if self._drop and reply.status == 200:
                self._drop -= 1
                reply.drop = True
            return reply

    def _text(self, doc: dict[str, Any], key: str, most: int, *, required: bool) -> tuple[Reply | None, str]:
        raw = doc.get(key)
        if raw is None and not required:
            return None, ""
        if not isinstance(raw, str) or not raw:
            return _error(400, "Bad Request: message text is empty"), ""
        shown = raw
        if doc.get("parse_mode") == "HTML":
            problem, shown = parse_html(raw)
            if problem:
                return _error(400, f"Bad Request: {problem}"), ""
        if not shown.strip():
            return _error(400, "Bad Request: message text is empty"), ""
        if _length(shown) > most:
            too_long = "message caption is too long" if key == "caption" else "message is too long"
            return _error(400, f"Bad Request: {too_long}"), ""
        return None, shown

    def _new(self, **fields: Any) -> Reply:
        message_id = self._next_id
        self._next_id += 1
        message = {
            "message_id": message_id,
            "date": int(self.now),
            "chat": {"id": CHAT_ID, "title": "Syndicate test", "username": CHAT[1:], "type": "channel"},
            **fields,
        }
        self.messages[message_id] = message
        return Reply(200, {"ok": True, "result": message})

    def _sendMessage(self, doc: dict[str, Any]) -> Reply:
        bad, shown = self._text(doc, "text", 4096, required=True)
        if bad is not None:
            return bad
        preview = doc.get("link_preview_options")
        return self._new(text=shown, link_preview_options=preview)

    def _sendPhoto(self, doc: dict[str, Any]) -> Reply:
        photo = doc.get("photo")
        if not isinstance(photo, str) or not photo:
            return _error(400, "Bad Request: there is no photo in the request")
        if "://" in photo and not photo.startswith(("http://", "https://")):
            return _error(400, "Bad Request: wrong HTTP URL specified")
        bad, shown = self._text(doc, "caption", 1024, required=False)
        if bad is not None:
            return bad
        return self._new(photo=[{"file_id": f"fake-{photo}", "width": 1, "height": 1}], photo_url=photo, caption=shown)

    def _find(self, doc: dict[str, Any], what: str) -> tuple[Reply | None, dict[str, Any]]:
        message = self.messages.get(doc.get("message_id"))  # type: ignore[arg-type]
        if message is None:
            return _error(400, f"Bad Request: message to {what} not found"), {}
        return None, message

    def _editMessageText(self, doc: dict[str, Any]) -> Reply:
        bad, message = self._find(doc, "edit")
        if bad is not None:
            return bad
        if "text" not in message:
            return _error(400, "Bad Request: there is no text in the message to edit")
        bad, shown = self._text(doc, "text", 4096, required=True)
        if bad is not None:
            return bad
        preview = doc.get("link_preview_options")
        if shown == message["text"] and preview == message.get("link_preview_options"):
            return _not_modified()
        message.update(text=shown, link_preview_options=preview, edit_date=int(self.now))
        return Reply(200, {"ok": True, "result": message})

    def _editMessageCaption(self, doc: dict[str, Any]) -> Reply:
        bad, message = self._find(doc, "edit")
        if bad is not None:
            return bad
        if "photo" not in message:
            return _error(400, "Bad Request: there is no caption in the message to edit")
        bad, shown = self._text(doc, "caption", 1024, required=False)
        if bad is not None:
            return bad
        if shown == message.get("caption", ""):
            return _not_modified()
        message.update(caption=shown, edit_date=int(self.now))
        return Reply(200, {"ok": True, "result": message})

    def _deleteMessage(self, doc: dict[str, Any]) -> Reply:
        bad, message = self._find(doc, "delete")
        if bad is not None:
            return bad
        if self.now - message["date"] >= DELETE_WINDOW:
            return _error(400, "Bad Request: message can't be deleted")
        del self.messages[message["message_id"]]
        self.deleted.append(message["message_id"])
        return Reply(200, {"ok": True, "result": True})


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Reply(code, body)


def _not_modified() -> Reply:
    return _error(
        400,
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the"
        " same as a current content and reply markup of the message",
    )
