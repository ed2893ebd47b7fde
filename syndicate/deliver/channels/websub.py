"""WebSub publish pings: tell a hub that a feed changed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import requests

from ...core.planning import Delivery
from ...errors import DeliveryFailed, Failure
from ..store import AttemptRow
from .base import Outgoing, Payload, Receipt, cannot_connect, classify_http, digest_of


class WebSubChannel:
    """Tells a WebSub hub that a feed changed (``hub.mode=publish``); one ping per feed version."""

    keyed = False

    def __init__(self, hub: str, session: requests.Session, timeout: float = 10.0) -> None:
        self.hub = hub
        self.session = session
        self.timeout = timeout

    def compose(self, delivery: Delivery, payload: Payload) -> Outgoing:
        # hub.url is what the spec's hubs read; hub.topic what Flask-WebSub and others read.
        form = {"hub.mode": "publish", "hub.url": payload.topic, "hub.topic": payload.topic}
        return Outgoing(digest_of(self.hub, form), form)

    def send(
        self, delivery: Delivery, outgoing: Outgoing, payload: Payload, now: datetime, earlier: Sequence[AttemptRow]
    ) -> Receipt:
        form = outgoing.body
        try:
            r = self.session.post(self.hub, data=form, timeout=self.timeout, allow_redirects=False)
        except requests.Timeout:
            raise DeliveryFailed(Failure(f"no answer within {self.timeout:g} s")) from None
        except requests.RequestException as e:
            raise DeliveryFailed(cannot_connect(self.hub, e)) from None
        if 200 <= r.status_code < 300:
            return Receipt(None, None, f"HTTP {r.status_code}")
        raise DeliveryFailed(classify_http(r.status_code, r.reason or "", r.headers, now))

    def preview(self, delivery: Delivery, payload: Payload) -> str:
        return f"POST {self.hub}  hub.mode=publish hub.url={payload.topic}"

    def close(self) -> None:
        pass
