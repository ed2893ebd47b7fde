"""Telegram through the Bot API (``{api}/bot{token}/METHOD``, JSON in, ``{"ok", "result"}`` out):
``sendPhoto`` with the post's image and the text as its caption when the text fits a caption
(1,024 characters), else ``sendMessage`` (4,096) with the post's link preview; an edit is
``editMessageText`` (or ``editMessageCaption`` for a photo), and "message is not modified" is a
success; a retracted post's messages are deleted (``deleteMessage``).

Text is sent with ``parse_mode`` HTML: the text has no tags of its own, so ``<``, ``>`` and ``&``
are escaped, as the Bot API asks of every one that is not part of a tag or an entity. Lengths are
counted after that parsing (the text as shown), in UTF-16 code units, as Telegram counts them.

A bot cannot read its chat's history and the API gives no idempotency key: a send whose answer was
lost is held for the user's word (see ``chat_http``). A bot may delete only messages of the last
48 hours: an older one stays in the chat, and the deletion says so once, as dead (never looped).
The token is in every URL's path: it comes from ``token_env`` only, and messages name
``{api}/bot***/METHOD``."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import requests

from ...core.model import TargetSettings
from ...core.planning import Delivery
from ...core.social import DEFAULT_TEMPLATES, fit
from ...errors import ConfigError, DeliveryFailed, Failure, FitError
from ..store import AttemptRow
from .base import Held, Outgoing, Payload, Receipt, change_preview, classify_http, digest_of
from .chat_http import Answer, ChatHTTP, Sleep, first_image

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
_TOKEN = re.compile(r"^[0-9]{3,20}:[A-Za-z0-9_-]{30,}$")
NOT_MODIFIED = "message is not modified"
NO_TEXT = "there is no text in the message to edit"
NOT_FOUND = ("message to edit not found", "message to delete not found")
CANNOT_DELETE = "message can't be deleted"


def token_problem(token: str) -> str | None:
    """Why ``token`` is not a bot token as @BotFather gives them (None: it looks like one)."""
    if _TOKEN.match(token.strip()):
        return None
    return "must hold the bot's token as @BotFather gives it (<digits>:<35 letters, digits, - or _>)"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class TelegramChannel:
    """Sends, edits and deletes one message per post in one chat."""

    keyed = False  # there is no key: a lost send is held (TargetSettings.blind)

    def __init__(
        self, target: TargetSettings, token: str, session: requests.Session, sleep: Sleep | None = None
    ) -> None:
        problem = token_problem(token)
        if problem:
            raise ConfigError(f"target {target.name!r}: environment variable {target.token_env} (token_env) {problem}")
        self.target = target
        self.token = token.strip()
        http = ChatHTTP(session, target.timeout, _limited)
        if sleep is not None:
            http.sleep = sleep
        self.http = http

    # --- what is sent

    def text(self, payload: Payload, limit: int) -> str:
        """The social text, fitted to ``limit`` characters as shown (before escaping)."""
        post = payload.post
        assert post is not None
        template = post.option(self.target.name, "text") or self.target.template or DEFAULT_TEMPLATES["telegram"]
        try:
            return fit(
                template,
                title=post.title,
                url=post.url,
                summary=post.summary,
                tags=post.tags,
                limit=limit,
                length=utf16_length,
            ).text
        except FitError as e:
            raise DeliveryFailed(Failure(f"text does not fit: {e}", permanent=True)) from None

    def request(self, payload: Payload) -> tuple[str, dict[str, Any]]:
        """The method and its parameters for a new message."""
        post = payload.post
        assert post is not None
        text = self.text(payload, TEXT_LIMIT)
        image = first_image(self.target, payload)
        if image and utf16_length(text) <= CAPTION_LIMIT:
            return "sendPhoto", {
                "chat_id": self.target.chat,
                "photo": image,
                "caption": html.escape(text, quote=False),
                "parse_mode": "HTML",
            }
        return "sendMessage", {
            "chat_id": self.target.chat,
            "text": html.escape(text, quote=False),
            "parse_mode": "HTML",
            "link_preview_options": {"url": post.url},
        }

    def compose(self, delivery: Delivery, payload: Payload) -> Outgoing:
        if delivery.event == "post.deleted":
            return Outgoing(digest_of("delete", [h.delivery.remote_id for h in payload.held]), None)
        method, params = self.request(payload)
        shown = html.unescape(str(params.get("text") or params.get("caption")))
        return Outgoing(digest_of(method, params), (method, params), shown)

    # --- sending

    def send(
        self, delivery: Delivery, outgoing: Outgoing, payload: Payload, now: datetime, earlier: Sequence[AttemptRow]
    ) -> Receipt:
        if delivery.event == "post.deleted":
            return self._delete(payload, now)
        if delivery.event == "post.updated":
            return self._edit(payload, now)
        method, params = outgoing.body
        try:
            message = self._call(method, params, now)
        except _Refused as e:
            raise DeliveryFailed(e.failure) from None
        if not isinstance(message, dict) or not isinstance(message.get("message_id"), int):
            raise DeliveryFailed(Failure("Telegram answered without the message's id", unknown_outcome=True))
        return Receipt(str(message["message_id"]), _message_url(message), "message sent")

    def _edit(self, payload: Payload, now: datetime) -> Receipt:
        message_id, url = _message_of(payload.held)
        if message_id is None:
            raise DeliveryFailed(Failure("no message of this post is known to edit", permanent=True))
        post = payload.post
        assert post is not None
        ids = {"chat_id": self.target.chat, "message_id": int(message_id)}
        text = html.escape(self.text(payload, TEXT_LIMIT), quote=False)
        edit = {**ids, "text": text, "parse_mode": "HTML", "link_preview_options": {"url": post.url}}
        try:
            try:
                self._call("editMessageText", edit, now)
            except _Refused as e:
                if NO_TEXT not in e.description:
                    raise
                caption = html.escape(self.text(payload, CAPTION_LIMIT), quote=False)  # a photo: its caption
                self._call("editMessageCaption", {**ids, "caption": caption, "parse_mode": "HTML"}, now)
        except _Refused as e:
            if NOT_MODIFIED in e.description:
                return Receipt(message_id, url, "message already shows this text")
            if any(words in e.description for words in NOT_FOUND):
                raise DeliveryFailed(
                    Failure(
                        f"message {message_id} is gone from the chat (deleted by hand?); not posted again",
                        permanent=True,
                    )
                ) from None
            raise DeliveryFailed(e.failure) from None
        return Receipt(message_id, url, "message edited")

    def _delete(self, payload: Payload, now: datetime) -> Receipt:
        ids = list(dict.fromkeys(h.delivery.remote_id for h in payload.held if h.delivery.remote_id))
        unknown = [h for h in payload.held if _lost(h)]
        gone, kept = 0, []
        for message_id in ids:
            try:
                self._call("deleteMessage", {"chat_id": self.target.chat, "message_id": int(message_id)}, now)
            except _Refused as e:
                if any(words in e.description for words in NOT_FOUND):
                    gone += 1
                elif CANNOT_DELETE in e.description:
                    kept.append(message_id)
                else:
                    raise DeliveryFailed(e.failure) from None
        if kept:
            raise DeliveryFailed(
                Failure(
                    f"Telegram would not delete message {', '.join(kept)}: a bot deletes only messages of the last"
                    " 48 hours (and in a channel needs the right to delete); it stays in the chat: delete it by hand",
                    permanent=True,
                )
            )
        if unknown:
            raise DeliveryFailed(
                Failure(
                    "a send of this post whose outcome was lost may have made a message that cannot be found"
                    " (a bot cannot read its chat): delete it by hand if it is there",
                    permanent=True,
                )
            )
        if not ids:
            return Receipt(None, None, "no message to delete")
        return Receipt(None, None, "already deleted in the chat" if gone == len(ids) else "message deleted")

    def _url(self, method: str) -> str:
        return f"{self.target.api}/bot{self.token}/{method}"

    def _shown(self, method: str) -> str:
        return f"{self.target.api}/bot***/{method}"

    def _call(self, method: str, params: dict[str, Any], now: datetime) -> Any:
        """The method's ``result``; _Refused for Telegram's own refusals (``ok: false`` with a
        description); DeliveryFailed for the rest."""
        answer = self.http.call("POST", self._url(method), params, now, self._shown(method))
        body = answer.body if isinstance(answer.body, dict) else {}
        if 200 <= answer.status < 300 and body.get("ok") is True:
            return body.get("result")
        description = " ".join(str(body.get("description") or answer.reason).split())[:300]
        status = answer.status if answer.status >= 400 else int(body.get("error_code") or 500)
        if status == 401:
            failure = Failure(f"HTTP 401 {description}: the bot token was refused; check token_env", permanent=True)
        elif status in (400, 403) and ("chat not found" in description or "not a member" in description):
            failure = Failure(
                f"HTTP {status} {description}: is the bot in chat {self.target.chat} (an admin of a channel)?",
                permanent=True,
            )
        else:
            failure = classify_http(status, description, answer.headers, now)
        raise _Refused(description, failure)

    def preview(self, delivery: Delivery, payload: Payload) -> str:
        if delivery.event == "post.deleted":
            ids = [h.delivery.remote_id for h in payload.held if h.delivery.remote_id]
            lines = [
                f"POST {self._shown('deleteMessage')} {json.dumps({'chat_id': self.target.chat, 'message_id': int(i)})}"
                for i in dict.fromkeys(ids)
            ]
            return change_preview("\n".join(lines) or "no message known to delete", payload.held)
        if delivery.event == "post.updated":
            message_id, _url = _message_of(payload.held)
            text = self.text(payload, TEXT_LIMIT)
            what = f"POST {self._shown('editMessageText')} (editMessageCaption for a photo) message {message_id}"
            return change_preview(what, payload.held, text, f" ({utf16_length(text)}/{TEXT_LIMIT} characters)")
        method, params = self.request(payload)
        limit = CAPTION_LIMIT if method == "sendPhoto" else TEXT_LIMIT
        length = utf16_length(html.unescape(str(params.get("text") or params.get("caption"))))
        shown = json.dumps(params, ensure_ascii=False, sort_keys=True, indent=2)
        return f"POST {self._shown(method)}  ({length}/{limit} characters)\n{shown}"

    def close(self) -> None:
        self.http.session.close()


class _Refused(Exception):
    """Telegram said no (``ok: false``): its description, and what that means for the delivery."""

    def __init__(self, description: str, failure: Failure) -> None:
        super().__init__(description)
        self.description = description
        self.failure = failure


def _limited(answer: Answer) -> float | None:
    """Seconds to wait before the request may be made again (429: ``parameters.retry_after``)."""
    if answer.status != 429:
        return None
    body = answer.body if isinstance(answer.body, dict) else {}
    parameters = body.get("parameters")
    value = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return 1.0


def _lost(h: Held) -> bool:
    """Did this send get no answer (so it may have made a message whose id was never learned)?"""
    return (
        h.delivery.event == "post.published"
        and not h.delivery.remote_id
        and any(a.finished_at is None or a.outcome == "unknown" for a in h.attempts)
    )


def _message_of(held: Sequence[Held]) -> tuple[str | None, str | None]:
    for h in held:
        if h.delivery.remote_id and h.delivery.remote_id.isdigit():
            return h.delivery.remote_id, h.delivery.remote_url
    return None, None


def _message_url(message: dict[str, Any]) -> str | None:
    """The message's link: t.me/<username>/<id> for a public chat, t.me/c/<id>/<id> for a private channel."""
    chat = message.get("chat")
    if not isinstance(chat, dict):
        return None
    username, chat_id = chat.get("username"), str(chat.get("id", ""))
    if isinstance(username, str) and username:
        return f"https://t.me/{username}/{message['message_id']}"
    if chat_id.startswith("-100"):
        return f"https://t.me/c/{chat_id[4:]}/{message['message_id']}"
    return None
