"""Discord through a channel's webhook: ``POST {url}?wait=true`` makes a message (its id comes back),
``PATCH {url}/messages/{id}`` edits it in place, ``DELETE {url}/messages/{id}`` deletes it (an
answer 404 with code 10008, Unknown Message, means it is gone already: done).

The message is the social text (``content``, at most 2,000 characters; by default the post's link,
written ``<url>`` so that Discord adds no preview of its own) and one embed: the title linked to the
post, the summary as its description (at most 4,096 characters) and the post's first image by its
URL (Discord fetches it; an embed has no place for alt text). Nobody is mentioned, whatever the
post says (``allowed_mentions``).

A webhook gives no idempotency key and cannot read its channel, so a send whose answer was lost is
held for the user's word (see ``chat_http``). The webhook URL holds its token: it comes from
``url_env`` only, and every message names it as ``…/webhooks/<id>/***``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from ...core.model import TargetSettings
from ...core.planning import Delivery
from ...core.social import DEFAULT_TEMPLATES, fit
from ...errors import ConfigError, DeliveryFailed, Failure, FitError
from ..store import AttemptRow
from .base import Held, Outgoing, Payload, Receipt, change_preview, classify_http, digest_of
from .chat_http import Answer, ChatHTTP, Sleep, first_image

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` is not a Discord webhook URL (None: it is one): an http(s) URL whose path ends
    in ``/webhooks/<id>/<token>``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must hold the webhook's URL (https://discord.com/api/webhooks/<id>/<token>)"
    segments = parts.path.rstrip("/").split("/")
    if len(segments) < 3 or segments[-3] != "webhooks" or not segments[-2].isdigit() or len(segments[-1]) < 8:
        return "must hold a webhook URL ending in /webhooks/<id>/<token> (Discord: channel settings → Integrations)"
    return None


def shown_url(url: str) -> str:
    """The webhook URL without its token, for messages and previews."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path.rsplit("/", 1)[0] + "/***", "", ""))


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word and marked "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[limit // 2 :] else cut) + "…"


class DiscordChannel:
    """Sends, edits and deletes one message per post through a webhook."""

    keyed = False  # there is no key: a lost send is held (TargetSettings.blind)

    def __init__(self, target: TargetSettings, url: str, session: requests.Session, sleep: Sleep | None = None) -> None:
        problem = webhook_url_problem(url)
        if problem:
            raise ConfigError(f"target {target.name!r}: environment variable {target.url_env} (url_env) {problem}")
        self.target = target
        parts = urlsplit(url.strip())
        self.base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.query = parse_qsl(parts.query)  # thread_id=… posts into a thread
        self.shown = shown_url(url)
        http = ChatHTTP(session, target.timeout, _limited, _pause)
        if sleep is not None:
            http.sleep = sleep
        self.http = http

    # --- what is sent

    def message(self, payload: Payload) -> dict[str, Any]:
        """The message's JSON: content, one embed, no mentions."""
        post = payload.post
        assert post is not None
        template = post.option(self.target.name, "text") or self.target.template or DEFAULT_TEMPLATES["discord"]
        try:
            content = fit(
                template,
                title=post.title,
                url=post.url,
                url_text=f"<{post.url}>",
                summary=post.summary,
                tags=post.tags,
                limit=CONTENT_LIMIT,
                length=len,
            ).text
        except FitError as e:
            raise DeliveryFailed(Failure(f"text does not fit: {e}", permanent=True)) from None
        embed: dict[str, Any] = {"title": _cut(post.title, TITLE_LIMIT), "url": post.url}
        if post.summary:
            embed["description"] = _cut(post.summary, DESCRIPTION_LIMIT)
        image = first_image(self.target, payload)
        if image:
            embed["image"] = {"url": image}
        return {"content": content, "embeds": [embed], "allowed_mentions": {"parse": []}}

    def compose(self, delivery: Delivery, payload: Payload) -> Outgoing:
        if delivery.event == "post.deleted":
            return Outgoing(digest_of("delete", [h.delivery.remote_id for h in payload.held]), None)
        body = self.message(payload)
        return Outgoing(digest_of(body), body, _shown_text(body))

    # --- sending

    def send(
        self, delivery: Delivery, outgoing: Outgoing, payload: Payload, now: datetime, earlier: Sequence[AttemptRow]
    ) -> Receipt:
        if delivery.event == "post.deleted":
            return self._delete(payload, now)
        if delivery.event == "post.updated":
            return self._edit(payload, outgoing, now)
        answer = self.http.call("POST", self._url(wait=True), outgoing.body, now, self.shown)
        message = self._ok(answer, now)
        if not isinstance(message, dict) or not str(message.get("id", "")).isdigit():
            raise DeliveryFailed(Failure("Discord answered without the message's id", unknown_outcome=True))
        return Receipt(str(message["id"]), _message_url(message), "message sent")

    def _edit(self, payload: Payload, outgoing: Outgoing, now: datetime) -> Receipt:
        message_id, url = _message_of(payload.held)
        if message_id is None:
            raise DeliveryFailed(Failure("no message of this post is known to edit", permanent=True))
        answer = self.http.call("PATCH", self._url(message_id), outgoing.body, now, self.shown)
        if _gone(answer):
            raise DeliveryFailed(
                Failure(
                    f"message {message_id} is gone from the channel (deleted by hand?); not posted again",
                    permanent=True,
                )
            )
        self._ok(answer, now)
        return Receipt(message_id, url, "message edited")

    def _delete(self, payload: Payload, now: datetime) -> Receipt:
        ids = list(dict.fromkeys(h.delivery.remote_id for h in payload.held if h.delivery.remote_id))
        unknown = [h for h in payload.held if _lost(h)]
        gone = 0
        for message_id in ids:
            answer = self.http.call("DELETE", self._url(message_id), None, now, self.shown)
            if _gone(answer):
                gone += 1
            else:
                self._ok(answer, now)
        if unknown:
            raise DeliveryFailed(
                Failure(
                    "a send of this post whose outcome was lost may have made a message that cannot be found"
                    " (a webhook cannot read its channel): delete it by hand if it is there",
                    permanent=True,
                )
            )
        if not ids:
            return Receipt(None, None, "no message to delete")
        return Receipt(None, None, "already deleted in the channel" if gone == len(ids) else "message deleted")

    def _url(self, message_id: str | None = None, *, wait: bool = False) -> str:
        query = [*self.query, ("wait", "true")] if wait else self.query
        path = f"{self.base}/messages/{message_id}" if message_id else self.base
        return path + (f"?{urlencode(query)}" if query else "")

    def _ok(self, answer: Answer, now: datetime) -> Any:
        """The answer's body when it is a success; else DeliveryFailed saying what Discord said."""
        if 200 <= answer.status < 300:
            return answer.body
        said = _said(answer.body)
        if answer.status in (401, 403) or (answer.status == 404 and _code(answer.body) == UNKNOWN_WEBHOOK):
            raise DeliveryFailed(
                Failure(
                    f"HTTP {answer.status}: the webhook was refused ({said or answer.reason}): was it deleted or its"
                    f" URL reset? Put its URL in {self.target.url_env}",
                    permanent=True,
                )
            )
        failure = classify_http(answer.status, answer.reason, answer.headers, now)
        if said:
            failure = Failure(f"{failure.message}: {said}", failure.permanent, failure.retry_after)
        raise DeliveryFailed(failure)

    def preview(self, delivery: Delivery, payload: Payload) -> str:
        if delivery.event == "post.deleted":
            ids = [h.delivery.remote_id for h in payload.held if h.delivery.remote_id]
            lines = [f"DELETE {self.shown}/messages/{i}" for i in dict.fromkeys(ids)]
            return change_preview("\n".join(lines) or "no message known to delete", payload.held)
        body = self.message(payload)
        shown = json.dumps(body, ensure_ascii=False, sort_keys=True, indent=2)
        counted = f"({len(body['content'])}/{CONTENT_LIMIT} characters)"
        if delivery.event == "post.updated":
            message_id, _url = _message_of(payload.held)
            what = f"PATCH {self.shown}/messages/{message_id or '(not known)'}"
            return change_preview(what, payload.held, f"{shown}", f" {counted}")
        query = urlencode([*self.query, ("wait", "true")])
        return f"POST {self.shown}?{query}  {counted}\n{shown}"

    def close(self) -> None:
        self.http.session.close()


def _limited(answer: Answer) -> float | None:
    """Seconds to wait before the request may be made again, when Discord refused it for a rate
    limit (429: ``retry_after`` in its JSON, else ``Retry-After``)."""
    if answer.status != 429:
        return None
    body = answer.body if isinstance(answer.body, dict) else {}
    value = body.get("retry_after")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    header = answer.headers.get("Retry-After", "")
    try:
        return max(0.0, float(header))
    except ValueError:
        return 1.0


def _pause(answer: Answer) -> float | None:
    """Seconds before the next request when this one used the bucket up (``X-RateLimit-Remaining: 0``)."""
    if answer.headers.get("X-RateLimit-Remaining") != "0":
        return None
    try:
        return max(0.0, float(answer.headers.get("X-RateLimit-Reset-After", "1")))
    except ValueError:
        return 1.0


def _code(body: Any) -> int | None:
    value = body.get("code") if isinstance(body, dict) else None
    return value if isinstance(value, int) else None


def _gone(answer: Answer) -> bool:
    return answer.status == 404 and _code(answer.body) == UNKNOWN_MESSAGE


def _said(body: Any) -> str:
    """What Discord said of a refusal: its message and the first field error, on one line."""
    if not isinstance(body, dict):
        return ""
    words = str(body.get("message") or "")
    detail = _first_error(body.get("errors"), "")
    return " ".join(f"{words}{'; ' + detail if detail else ''}".split())[:300]


def _first_error(errors: Any, path: str) -> str:
    if not isinstance(errors, dict):
        return ""
    listed = errors.get("_errors")
    if isinstance(listed, list) and listed and isinstance(listed[0], dict):
        return f"{path or 'the message'}: {listed[0].get('message', '')}"
    for key, value in errors.items():
        found = _first_error(value, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return ""


def _lost(h: Held) -> bool:
    """Did this send get no answer (so it may have made a message whose id was never learned)?"""
    return (
        h.delivery.event == "post.published"
        and not h.delivery.remote_id
        and any(a.finished_at is None or a.outcome == "unknown" for a in h.attempts)
    )


def _message_of(held: Sequence[Held]) -> tuple[str | None, str | None]:
    for h in held:
        if h.delivery.remote_id:
            return h.delivery.remote_id, h.delivery.remote_url
    return None, None


def _message_url(message: dict[str, Any]) -> str | None:
    """The message's link, when Discord said which server it is in."""
    guild, channel = message.get("guild_id"), message.get("channel_id")
    if guild and channel:
        return f"https://discord.com/channels/{guild}/{channel}/{message['id']}"
    return None


def _shown_text(body: dict[str, Any]) -> str:
    """What the message shows, as the ledger keeps it for the previews of edits and deletions."""
    embed = body["embeds"][0]
    return "\n".join(part for part in (body["content"], embed.get("title", ""), embed.get("description", "")) if part)
