"""Standard Webhooks v1: signed POSTs, one ``webhook-id`` per event, kept across retries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime

import requests

from ...core.model import TargetSettings
from ...core.planning import Delivery
from ...core.render.jsonfeed import rfc3339
from ...errors import ConfigError, DeliveryFailed, Failure
from ..store import AttemptRow
from .base import Outgoing, Payload, Receipt, cannot_connect, classify_http, digest_of

USER_AGENT = "syndicate-webhooks/1"


def decode_secret(secret: str, target: str) -> bytes:
    """``whsec_`` + base64, as Standard Webhooks hands them out."""
    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        key = b""
    if not key:
        raise ConfigError(f"target {target!r}: the webhook secret must be 'whsec_' followed by base64")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def body(delivery: Delivery, payload: Payload) -> bytes:
    """``{"type", "timestamp", "data"}``; the same bytes on every retry of one event."""
    doc = {"type": delivery.event, "timestamp": rfc3339(delivery.created_at), "data": payload.item}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")


class WebhookChannel:
    """POSTs a Standard Webhooks message (``webhook-id`` = the delivery id, signed with the
    target's ``whsec_`` secret); the same bytes on every retry, redirects never followed."""

    keyed = False  # the webhook-id is the delivery id: receivers deduplicate by it

    def __init__(self, target: TargetSettings, secret: str, session: requests.Session) -> None:
        self.target = target
        self.key = decode_secret(secret, target.name)
        self.session = session

    def compose(self, delivery: Delivery, payload: Payload) -> Outgoing:
        data = body(delivery, payload)
        return Outgoing(digest_of(data.decode("utf-8")), data)

    def send(
        self, delivery: Delivery, outgoing: Outgoing, payload: Payload, now: datetime, earlier: Sequence[AttemptRow]
    ) -> Receipt:
        data: bytes = outgoing.body
        timestamp = int(now.timestamp())
        headers = {
            "webhook-id": delivery.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.key, delivery.id, timestamp, data),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        try:
            r = self.session.post(
                self.target.url, data=data, headers=headers, timeout=self.target.timeout, allow_redirects=False
            )
        except requests.Timeout:
            raise DeliveryFailed(Failure(f"no answer within {self.target.timeout:g} s", unknown_outcome=True)) from None
        except requests.ConnectionError as e:
            raise DeliveryFailed(cannot_connect(self.target.url, e)) from None
        except requests.RequestException as e:
            raise DeliveryFailed(Failure(f"request failed: {type(e).__name__}")) from None
        if 200 <= r.status_code < 300:
            return Receipt(delivery.id, None, f"HTTP {r.status_code}")
        raise DeliveryFailed(classify_http(r.status_code, r.reason or "", r.headers, now, gone_disables=True))

    def preview(self, delivery: Delivery, payload: Payload) -> str:
        data = body(delivery, payload)
        title = payload.item.get("title") or payload.item.get("id")
        return (
            f"POST {self.target.url}\nwebhook-id: {delivery.id}\n"
            f'{{"type": "{delivery.event}", "data": <the post as a JSON Feed item: {title}>}}'
            f"  ({len(data)} bytes, signed)"
        )

    def close(self) -> None:
        pass
