"""Webmention (W3C Recommendation): each link of a post is told that the post mentions it.

One delivery per (version of the post, link): the link's page is fetched to discover its
endpoint (:mod:`syndicate.core.mentions`: the ``Link`` header, then the HTML), and
``source`` = the post's URL, ``target`` = the link are POSTed to it, form-encoded; 200, 201
and 202 are success. A link whose page names no endpoint has nothing to tell: that delivery is
done. Every request goes through a :func:`syndicate.deliver.fetch.public_session` (public
addresses only, on every hop, unless ``[content] fetch_allow`` names the host): a post's links
and a page's endpoint are both someone else's words. A webmention sent twice is harmless (the
receiver verifies the source again), so a lost answer is simply tried again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlencode

import requests

from ...core.mentions import endpoint, mention_link
from ...core.model import TargetSettings
from ...core.planning import Delivery
from ...errors import DeliveryFailed, Failure, FetchRefused
from ..fetch import _AddressRefused, _causes, fetch_page
from ..store import AttemptRow
from .base import Outgoing, Payload, Receipt, classify_http, digest_of

MAX_PAGE = 1024 * 1024  # bytes of a page's HTML read to find its endpoint
FORM = "application/x-www-form-urlencoded"


def discover(session: requests.Session, url: str, timeout: float) -> str | None:
    """The Webmention endpoint the page at ``url`` names, or None. Raises FetchRefused."""
    got = fetch_page(session, url, max_bytes=MAX_PAGE, timeout=timeout)
    return endpoint(got.link, got.body.decode("utf-8", "replace"), got.url or url)


class WebmentionChannel:
    """Tells one link that a post (this version of it, or its going away) mentions it."""

    keyed = False  # a webmention has no key: sending one twice only makes the receiver look again

    def __init__(self, target: TargetSettings, session: requests.Session) -> None:
        self.target = target
        self.session = session

    def _form(self, delivery: Delivery, payload: Payload) -> tuple[str, str]:
        return str(payload.item.get("url") or payload.item.get("id") or ""), mention_link(delivery.revision)

    def compose(self, delivery: Delivery, payload: Payload) -> Outgoing:
        source, link = self._form(delivery, payload)
        return Outgoing(digest_of(source, link), urlencode([("source", source), ("target", link)]))

    def send(
        self, delivery: Delivery, outgoing: Outgoing, payload: Payload, now: datetime, earlier: Sequence[AttemptRow]
    ) -> Receipt:
        _source, link = self._form(delivery, payload)
        try:
            found = discover(self.session, link, self.target.timeout)
        except FetchRefused as e:
            raise DeliveryFailed(_refused(e, "its page")) from None
        if found is None:
            return Receipt(None, link, "no webmention endpoint there: nothing to tell")
        try:
            r = self.session.post(
                found,
                data=outgoing.body,
                headers={"content-type": FORM, "accept": "*/*"},
                timeout=self.target.timeout,
                allow_redirects=False,
            )
        except FetchRefused as e:
            raise DeliveryFailed(_refused(e, f"its endpoint {found}")) from None
        except requests.Timeout:
            raise DeliveryFailed(Failure(f"no answer from {found} within {self.target.timeout:g} s")) from None
        except requests.RequestException as e:
            if any(isinstance(c, _AddressRefused) for c in _causes(e)):
                raise DeliveryFailed(_refused(e, f"its endpoint {found}")) from None
            raise DeliveryFailed(Failure(f"cannot reach the endpoint {found} ({type(e).__name__})")) from None
        if r.status_code in (200, 201, 202):
            return Receipt(None, link, f"HTTP {r.status_code} from {found}")  # the link: what `status` shows
        failure = classify_http(r.status_code, r.reason or "", r.headers, now)
        raise DeliveryFailed(  # a 429 is a wait asked for, never a reason to give up (Failure.rate_limited)
            Failure(
                f"{found}: {failure.message}", failure.permanent, failure.retry_after, rate_limited=r.status_code == 429
            )
        )

    def preview(self, delivery: Delivery, payload: Payload) -> str:
        source, link = self._form(delivery, payload)
        body = urlencode([("source", source), ("target", link)])
        return f"POST (the webmention endpoint {link} names, found when sent)\ncontent-type: {FORM}\n{body}"

    def close(self) -> None:
        self.session.close()


def _refused(e: Exception, what: str) -> Failure:
    """A page or endpoint that could not be had: never one on a private address (permanent unless
    ``fetch_allow`` names it), an HTTP error of the page, or the network (tried again)."""
    said = " ".join(str(e).split())[:300]
    if any(isinstance(c, _AddressRefused) for c in _causes(e)):
        return Failure(f"{what} was not fetched: {said}", permanent=True)
    permanent = any(f"HTTP {code}" in said for code in range(400, 500) if code not in (408, 429))
    return Failure(f"{what} could not be read: {said}", permanent=permanent)
