"""Slack: a message in a channel, through the Web API with a bot token (``chat.postMessage``,
``chat.update``, ``chat.delete``), or through an incoming webhook (send only).

The Web API answers HTTP 200 with ``{"ok": false, "error": "…"}`` for what it refuses, and 429
with ``Retry-After`` when it wants us to wait. It has no idempotency key: every message carries
the delivery's id in its metadata (``event_type`` ``syndicate_post``), and after an attempt whose
answer never came the channel's history since that attempt is looked through for it before the
message is posted again (the found message is ours by that id, never by its text alone). An
incoming webhook cannot look back, edit or delete: a message whose answer was lost is held until
the user says (``syndicate retry``) that it should go again."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import requests

from ...core.images import post_images
from ...core.model import TargetSettings
from ...core.planning import Delivery
from ...core.social import fit
from ...errors import ConfigError, DeliveryFailed, Failure, FitError
from ..fetch import _causes
from ..store import AttemptRow
from .base import Held, Outgoing, Payload, Receipt, cannot_connect, change_preview, digest_of, retry_after_seconds

DEFAULT_TEMPLATE = "{title}\n\n{summary}\n\n{url}"
SECTION_LIMIT = 3000  # characters of a section block's text (Slack's Block Kit limit); the fallback is the same
MAX_ALT = 2000  # characters of an image block's alt_text
EVENT_TYPE = "syndicate_post"  # the metadata's event_type: what marks a message as one of ours
HISTORY_PAGES = 5  # of 200 messages, looked through after an attempt whose answer never came
HISTORY_MARGIN = 300  # seconds before that attempt's start from which the history is read
# Errors worth trying again (Slack's side, or a wait it asked for); any other refusal is permanent.
RETRYABLE = frozenset({"fatal", "internal_error", "service_unavailable", "request_timeout", "ratelimited"})
AUTH = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})
GONE = frozenset({"message_not_found"})  # on chat.delete: nothing left to delete, which is what was asked
SCOPES = "chat:write, and channels:history (groups:history for a private channel)"


def secret_problem(target: TargetSettings, secret: str) -> str | None:
    """Why the secret in the environment cannot be a slack target's (never quoting it), or None."""
    if target.send_only and not secret.startswith(("https://", "http://")):
        return (
            f"target {target.name!r}: {target.url_env} (url_env) must hold the incoming webhook's URL"
            " (https://hooks.slack.com/services/…)"
        )
    if not target.send_only and not secret.startswith(("xoxb-", "xoxp-")):
        return (
            f"target {target.name!r}: {target.token_env} (token_env) must hold a bot token (xoxb-…)"
            " from the app's OAuth & Permissions page"
        )
    return None


def escape(text: str) -> str:
    """Text as Slack reads it: ``&``, ``<`` and ``>`` are its markup and must be escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel:
    """A message per post in one channel; edited in place (``chat.update``) when the post's text
    changes, deleted (``chat.delete``) when the post goes. With an incoming webhook, posted only."""

    keyed = False  # no remote key: the delivery id travels in the message's metadata

    def __init__(self, target: TargetSettings, secret: str, session: requests.Session) -> None:
        self.target = target
        self.session = session
        problem = secret_problem(target, secret)
        if problem:
            raise ConfigError(problem)
        self.webhook = secret if target.send_only else ""
        self.token = "" if target.send_only else secret

    # What is sent

    def text(self, payload: Payload) -> str:
        post = payload.post
        assert post is not None
        try:
            return fit(
                post.option(self.target.name, "text") or self.target.template or DEFAULT_TEMPLATE,
                title=post.title,
                url=post.url,
                summary=post.summary,
                tags=post.tags,
                limit=SECTION_LIMIT,
                length=lambda t: len(escape(t)),
            ).text
        except FitError as e:
            raise DeliveryFailed(Failure(f"text does not fit: {e}", permanent=True)) from None

    def message(self, payload: Payload) -> dict[str, Any]:
        """The message: the text as a section block (and the post's first image as an image block,
        with its alt text), and the same text as the fallback notifications show."""
        post = payload.post
        assert post is not None
        text = escape(self.text(payload))
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        thumb = post.image.url if post.image else None
        for image in post_images(post.content_html, post.url, thumb, post.image_alt, limit=self.target.images):
            if image.alt:  # Slack requires alt text; an image without any is left out, nothing is made up
                blocks.append({"type": "image", "image_url": image.url, "alt_text": image.alt[:MAX_ALT]})
        return {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}

    def compose(self, delivery: Delivery, payload: Payload) -> Outgoing:
        if delivery.event == "post.deleted":
            return Outgoing(digest_of("delete", [h.delivery.remote_id for h in payload.held]), None)
        message = self.message(payload)
        return Outgoing(digest_of(message), message, self.text(payload))

    def _metadata(self, delivery_id: str, payload: Payload) -> dict[str, Any]:
        return {"event_type": EVENT_TYPE, "event_payload": {"delivery": delivery_id, "url": str(payload.item["url"])}}

    def _origin(self, delivery: Delivery, payload: Payload) -> str:
        """The id of the delivery that made the message (an edit keeps the metadata of the first)."""
        if delivery.event == "post.published":
            return delivery.id
        first = [h.delivery.id for h in payload.held if h.delivery.event == "post.published"]
        return first[0] if first else delivery.id

    # Sending

    def send(
        self, delivery: Delivery, outgoing: Outgoing, payload: Payload, now: datetime, earlier: Sequence[AttemptRow]
    ) -> Receipt:
        if self.target.send_only:
            return self._hook(delivery, outgoing, earlier, now)
        if delivery.event == "post.deleted":
            return self._delete(payload, now)
        if delivery.event == "post.updated":
            return self._edit(delivery, payload, outgoing, now)
        found = self._posted_earlier(delivery.id, earlier, now)
        if found is not None:
            ts = str(found["ts"])
            stale = any(a.digest and a.digest != outgoing.digest for a in earlier[:-1])
            if stale and self.target.edits == "update":  # it went out with an earlier text of the post
                self._call("chat.update", self._body(delivery, payload, outgoing.body, ts), now)
            return Receipt(ts, None, "already posted (found in the channel)")
        answer = self._call("chat.postMessage", self._body(delivery, payload, outgoing.body), now)
        return Receipt(str(answer.get("ts")), None, "message posted")

    def _body(self, delivery: Delivery, payload: Payload, message: dict[str, Any], ts: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"channel": self.target.channel}
        if ts:
            body["ts"] = ts
        body.update(message)
        body["metadata"] = self._metadata(self._origin(delivery, payload), payload)
        return body

    def _edit(self, delivery: Delivery, payload: Payload, outgoing: Outgoing, now: datetime) -> Receipt:
        """Edit the message the post's ``post.published`` made, in place; one deleted by hand is
        reported and never posted again."""
        ts = self._message_of(payload, now)
        if ts is None:
            raise DeliveryFailed(Failure("no message of this post was found in the channel to edit", permanent=True))
        try:
            self._call("chat.update", self._body(delivery, payload, outgoing.body, ts), now)
        except DeliveryFailed as e:
            if e.failure.message.startswith(("message_not_found", "cant_update_message")):
                raise DeliveryFailed(
                    Failure(
                        f"message {ts} is gone from the channel (deleted by hand?); not posted again", permanent=True
                    )
                ) from None
            raise
        return Receipt(ts, None, "message edited")

    def _delete(self, payload: Payload, now: datetime) -> Receipt:
        """Delete every message this post's deliveries made (their ts from the ledger, or found by
        their metadata for an attempt whose answer never came). One already gone is no failure."""
        stamps: list[str] = []
        for h in payload.held:
            if h.delivery.remote_id:
                stamps.append(h.delivery.remote_id)
            elif (found := self._found(h, now)) is not None:
                stamps.append(str(found["ts"]))
        gone = 0
        for ts in dict.fromkeys(stamps):
            try:
                self._call("chat.delete", {"channel": self.target.channel, "ts": ts}, now)
            except DeliveryFailed as e:
                if e.failure.message.split(" ", 1)[0].rstrip(":") not in GONE:
                    raise
                gone += 1
        if not stamps:
            return Receipt(None, None, "no message to delete")
        if gone == len(set(stamps)):
            return Receipt(None, None, "already deleted in the channel")
        return Receipt(None, None, "message deleted")

    def _message_of(self, payload: Payload, now: datetime) -> str | None:
        """The ts of the message the post has in the channel: from the ledger, else found by the
        metadata of a ``post.published`` whose answer never came."""
        for h in payload.held:
            if h.delivery.remote_id:
                return h.delivery.remote_id
        for h in payload.held:
            found = self._found(h, now)
            if found is not None:
                return str(found["ts"])
        return None

    def _found(self, h: Held, now: datetime) -> dict[str, Any] | None:
        if not h.attempts:
            return None
        return self._posted_earlier(h.delivery.id, (*h.attempts, h.attempts[-1]), now)

    def _posted_earlier(self, delivery_id: str, earlier: Sequence[AttemptRow], now: datetime) -> dict[str, Any] | None:
        """After an attempt whose answer never came, the message it may have made: looked for in the
        channel's history since a little before that attempt, by the delivery id in its metadata."""
        unknown = [a for a in earlier[:-1] if a.finished_at is None or a.outcome == "unknown"]
        if not unknown:
            return None
        params: dict[str, str] = {
            "channel": self.target.channel,
            "oldest": f"{max(0.0, unknown[0].started_at.timestamp() - HISTORY_MARGIN):.6f}",
            "limit": "200",
            "include_all_metadata": "true",
        }
        for _ in range(HISTORY_PAGES):
            page = self._call("conversations.history", params, now, get=True)
            for message in page.get("messages") or []:
                meta = message.get("metadata") if isinstance(message, dict) else None
                said = meta.get("event_payload") if isinstance(meta, dict) else None
                ours = meta and meta.get("event_type") == EVENT_TYPE and isinstance(said, dict)
                if ours and isinstance(said, dict) and said.get("delivery") == delivery_id and message.get("ts"):
                    return dict(message)
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                return None
            params["cursor"] = str(cursor)
        return None

    def _call(self, method: str, body: Mapping[str, Any], now: datetime, *, get: bool = False) -> dict[str, Any]:
        """One Web API call; its answer when ``ok``, else DeliveryFailed saying what Slack refused."""
        url = f"{self.target.api}/{method}"
        headers = {"authorization": f"Bearer {self.token}"}
        try:
            if get:
                r = self.session.get(
                    url, params=dict(body), headers=headers, timeout=self.target.timeout, allow_redirects=False
                )
            else:
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                headers["content-type"] = "application/json; charset=utf-8"
                r = self.session.post(
                    url, data=data, headers=headers, timeout=self.target.timeout, allow_redirects=False
                )
        except requests.RequestException as e:
            raise DeliveryFailed(_lost(self.target, url, e, landed=not get)) from None
        if r.status_code != 200:
            raise DeliveryFailed(_http(r, now))
        try:
            answer = r.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DeliveryFailed(Failure(f"{method}: Slack's answer is not a JSON object", unknown_outcome=not get))
        if answer.get("ok") is not True:
            raise DeliveryFailed(_refused(self.target, str(answer.get("error") or "unknown_error"), answer, method))
        return answer

    def _hook(self, delivery: Delivery, outgoing: Outgoing, earlier: Sequence[AttemptRow], now: datetime) -> Receipt:
        """Post through the incoming webhook, unless an attempt since the user's last word lost its
        answer: it may be in the channel, and nothing here can look, so it waits for the user."""
        if delivery.event != "post.published":
            return Receipt(None, None, "an incoming webhook cannot edit or delete: nothing done")
        since_word = earlier[max(0, len(earlier) - delivery.attempts) :]  # `retry` of a dead one starts them anew
        if any(a.finished_at is None or a.outcome == "unknown" for a in since_word[:-1]):
            raise DeliveryFailed(Failure(HELD, permanent=True))
        data = json.dumps(outgoing.body, ensure_ascii=False).encode("utf-8")
        try:
            r = self.session.post(
                self.webhook,
                data=data,
                headers={"content-type": "application/json; charset=utf-8"},
                timeout=self.target.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as e:
            failure = _lost(self.target, self.webhook, e, landed=True)
            if failure.unknown_outcome:  # held at once: it may be in the channel
                failure = Failure(f"{failure.message}; {HELD}", permanent=True, unknown_outcome=True)
            raise DeliveryFailed(failure) from None
        if r.status_code == 200:
            return Receipt(None, None, "message posted (incoming webhook)")
        if r.status_code == 429 or r.status_code >= 500:
            raise DeliveryFailed(_http(r, now))
        said = " ".join((r.text or "").split())[:100]
        raise DeliveryFailed(_refused(self.target, said or f"HTTP {r.status_code}", {}, "incoming webhook"))

    # A dry run

    def preview(self, delivery: Delivery, payload: Payload) -> str:
        """The request a real run would make: method, URL, and the JSON body as it is sent."""
        if self.target.send_only:
            where = f"POST (the incoming webhook in {self.target.url_env})"
            if delivery.event != "post.published":
                return "nothing: an incoming webhook cannot edit or delete a message"
            return f"{where}\n{_shown(self.message(payload))}"
        auth = f"authorization: Bearer (the token in {self.target.token_env})"
        if delivery.event == "post.deleted":
            stamps = [h.delivery.remote_id or "(not known yet: looked for by its metadata)" for h in payload.held]
            url = f"{self.target.api}/chat.delete"
            calls = [f"POST {url}\n{auth}\n{_shown({'channel': self.target.channel, 'ts': ts})}" for ts in stamps]
            return change_preview("\n".join(calls or ["nothing to delete"]), payload.held)
        if delivery.event == "post.updated":
            ts = next((h.delivery.remote_id for h in payload.held if h.delivery.remote_id), None)
            body = self._body(delivery, payload, self.message(payload), ts or "(found by its metadata)")
            return f"POST {self.target.api}/chat.update\n{auth}\n{_shown(body)}"
        body = self._body(delivery, payload, self.message(payload))
        return f"POST {self.target.api}/chat.postMessage\n{auth}\n{_shown(body)}"

    def close(self) -> None:
        pass


HELD = (
    "the answer to an earlier attempt was lost, and an incoming webhook cannot look in the channel:"
    " not sent again blindly; look in the channel, then `syndicate retry` sends it once more"
)


def _shown(body: Mapping[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, indent=2)


def _lost(target: TargetSettings, url: str, e: requests.RequestException, *, landed: bool) -> Failure:
    """A request to ``url`` that got no answer (said by its host and port alone: a webhook's path
    is its secret). ``landed``: a POST may have been carried out unless the connection was never
    made (refused, no such host)."""
    if isinstance(e, requests.Timeout) and not isinstance(e, requests.ConnectTimeout):
        return Failure(f"no answer within {target.timeout:g} s", unknown_outcome=landed)
    failure = cannot_connect(url, e)
    never_sent = any(isinstance(c, ConnectionRefusedError) for c in _causes(e)) or isinstance(
        e, requests.ConnectTimeout
    )
    if landed and not never_sent and "resolve" not in failure.message:
        return Failure(f"the connection was lost before Slack answered ({failure.message})", unknown_outcome=True)
    return failure


def _http(r: requests.Response, now: datetime) -> Failure:
    """An answer other than 200: a rate limit (429: wait as long as Slack says) or Slack's trouble."""
    if r.status_code == 429:
        wait = retry_after_seconds(r.headers, now)
        wait = wait if wait is not None else 60.0
        return Failure("rate limited by Slack (HTTP 429)", retry_after=wait, rate_limited=True, throttled=True)
    message = f"HTTP {r.status_code} {r.reason or ''}".strip()
    if r.status_code >= 500 or r.status_code == 408:
        return Failure(message, retry_after=retry_after_seconds(r.headers, now))
    return Failure(message, permanent=True)


def _refused(target: TargetSettings, error: str, answer: Mapping[str, Any], method: str) -> Failure:
    """What an ``{"ok": false, "error"}`` means, and what to do about it."""
    channel = target.channel or "the webhook's channel"
    if error in RETRYABLE:
        return Failure(f"{error}: Slack could not do it now ({method})")
    if error in AUTH or error in ("invalid_token", "no_service"):
        key = target.secret_key
        return Failure(f"{error}: Slack refused the {key.removesuffix('_env')}; check {key}", permanent=True)
    if error == "channel_not_found":
        return Failure(f"channel_not_found: no channel {channel} that the app can see; check channel", permanent=True)
    if error == "not_in_channel":
        return Failure(f"not_in_channel: the app is not in {channel}; invite it there (/invite @app)", permanent=True)
    if error in ("is_archived", "channel_is_archived"):
        return Failure(f"{error}: {channel} is archived", permanent=True)
    if error == "msg_too_long":
        return Failure("msg_too_long: the message is over Slack's 40,000 characters", permanent=True)
    if error == "missing_scope":
        needed = str(answer.get("needed") or "")
        return Failure(
            f"missing_scope: the token lacks the scope {needed or '?'}; syndicate needs {SCOPES}", permanent=True
        )
    return Failure(f"{error}: refused by Slack ({method})", permanent=True)
