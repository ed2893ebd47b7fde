"""Bluesky via the atproto SDK: a post of at most 300 graphemes with link and hashtag facets,
the post's images (each a blob of at most 1,000,000 bytes, with its alt text and aspect ratio)
or else a link card, and a record key derived from the delivery, so a retry first asks
``getRecord`` whether an earlier attempt already created the post.

Bluesky posts cannot be edited. With ``on_edit = "repost"`` an edit creates a new record
(under the edit's own key) and then deletes the older ones; a retracted post has its records
deleted (``deleteRecord``, which succeeds for a record already gone)."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import regex
from atproto import Client  # type: ignore[import-untyped,unused-ignore]
from atproto_client.client.session import Session, SessionEvent  # type: ignore[import-untyped,unused-ignore]
from atproto_client.exceptions import (  # type: ignore[import-untyped,unused-ignore]
    AtProtocolError,
    InvokeTimeoutError,
    NetworkError,
    RequestErrorBase,
)
from atproto_client.models.utils import get_model_as_dict  # type: ignore[import-untyped,unused-ignore]
from atproto_client.request import Request  # type: ignore[import-untyped,unused-ignore]

from ...core.model import TargetSettings
from ...core.planning import Delivery
from ...core.render.jsonfeed import rfc3339
from ...core.social import BLUESKY_LIMIT, DEFAULT_TEMPLATES, bluesky_label, fit, graphemes, short_url, tid
from ...errors import DeliveryFailed, Failure, FitError, KeyTaken
from ..sessions import SessionKeeper
from ..store import AttemptRow
from .base import (
    Attachment,
    Held,
    ImageLimits,
    ImageSource,
    Outgoing,
    Payload,
    Receipt,
    change_preview,
    classify_http,
    digest_of,
)

COLLECTION = "app.bsky.feed.post"
MAX_BLOB_BYTES = 1_000_000  # app.bsky.embed.images: the PDS refuses a record whose image blob is bigger
MAX_SIDE = 2000  # what Bluesky's apps show of an image's longest side; more is bytes for nothing
IMAGE_LIMITS = ImageLimits(MAX_BLOB_BYTES, max_side=MAX_SIDE)
# The lexicon (app.bsky.embed.images#image) sets no length for alt text, but Bluesky's app takes
# 2,000 graphemes (social-app's MAX_ALT_TEXT) and a PDS refuses a request body over its limit
# (HTTP 413): 150,000 characters once made every attempt fail.
MAX_ALT_GRAPHEMES = 2000
REFRESH_BEFORE = timedelta(minutes=5)  # a kept access token that expires this soon is refreshed before use


def record_key(delivery: Delivery, clock_id: int) -> str:
    """The TID of this delivery: the ledger's unique ``key_seq`` (microseconds, never given twice
    for one target) and the ledger's clock id; the same on every retry."""
    if delivery.key_seq is None:
        return legacy_record_key(delivery)
    return tid(delivery.key_seq, clock_id)


def legacy_record_key(delivery: Delivery) -> str:
    """The key ledgers of schema 1 derived (creation time, 10 bits of the id): deliveries planned in
    one run could share it. Only looked up, to settle attempts made before the ledger kept keys."""
    micros = int(delivery.created_at.timestamp() * 1_000_000)
    clock_id = int.from_bytes(hashlib.sha256(delivery.id.encode()).digest()[:2], "big") & 0x3FF
    return tid(micros, clock_id)


def record_digest(text: str, created_at: str, uri: str) -> str:
    """What identifies a record we sent: its text, its createdAt and the post's link, which its
    card points to (or, for a record with images and no card, a link facet of its text)."""
    return digest_of(text, created_at, uri)


class BlueskyChannel:
    """Posts to a Bluesky PDS with ``createRecord`` under a record key the ledger made unique; an
    attempt of unknown outcome is reconciled with ``getRecord``, accepting only the record
    this delivery sent (its digest), never another post's."""

    keyed = True  # the record key is made from the ledger's key_seq: unique by construction

    def __init__(
        self,
        target: TargetSettings,
        password: str,
        images: ImageSource | None = None,
        clock_id: int = 0,
        sessions: SessionKeeper | None = None,
    ) -> None:
        self.target = target
        self.clock_id = clock_id
        self.password = password
        self.images = images
        self.sessions = sessions
        self.client = self._client()
        self.did: str | None = None

    def _client(self) -> Any:
        """A client on the configured PDS that keeps every session the SDK makes or refreshes."""
        client = Client(base_url=self.target.service, request=Request(timeout=self.target.timeout))
        client.on_session_change(self._changed)
        return client

    def _changed(self, event: SessionEvent, session: Session) -> None:
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self._keep(session)

    def _keep(self, session: Session) -> None:
        if self.sessions is not None:
            expires = datetime.fromtimestamp(int(session.access_jwt_payload.exp or 0), UTC)
            self.sessions.save(session.encode(), expires)

    def _login(self, now: datetime) -> str:
        """The account's session: the one kept in the store (refreshed with refreshSession when
        its access token expired or was refused), else one createSession, kept for every later
        run (the network allows about 100 a day per handle)."""
        if self.did is not None:
            return self.did
        kept = self.sessions.load() if self.sessions is not None else None
        if kept is not None:
            did = self._resume(*kept, now)
            if did is not None:
                self.did = did
                return did
            self.client.request.close()
            self.client = self._client()  # createSession goes to the configured PDS, as the first time
        self.client.login(self.target.handle, self.password, fetch_bsky_profile=False)  # kept by _changed
        self.did = str(self.client.com.atproto.server.get_session().did)
        return self.did

    def _resume(self, text: str, expires: datetime, now: datetime) -> str | None:
        """The account's DID with the kept session, refreshed first when it expires within
        REFRESH_BEFORE or is refused; None when it cannot be refreshed (expired, revoked)."""
        session = Session.decode(text)
        self.client.login(session_string=text, fetch_bsky_profile=False)  # no request
        fresh = expires <= now + REFRESH_BEFORE
        for _ in range(2):
            if fresh:
                try:
                    session = self._refresh(session)
                except RequestErrorBase as e:
                    if _code(e) in (400, 401):  # ExpiredToken, InvalidToken: a new session
                        return None
                    raise
            try:
                return str(self.client.com.atproto.server.get_session().did)
            except RequestErrorBase as e:
                if fresh or _code(e) not in (400, 401):
                    raise
                fresh = True  # the access token was refused before its time: refresh it once
        return None

    def _refresh(self, session: Session) -> Session:
        """refreshSession with the kept refresh token; the new session is used and kept."""
        got = self.client.com.atproto.server.refresh_session(
            headers={"Authorization": f"Bearer {session.refresh_jwt}"}, ignore_session_check=True
        )
        new = Session(str(got.handle), str(got.did), got.access_jwt, got.refresh_jwt, session.pds_endpoint)
        self.client.login(session_string=new.encode(), fetch_bsky_profile=False)
        self._keep(new)
        return new

    def text(self, payload: Payload) -> tuple[str, list[dict[str, Any]], list[str]]:
        post = payload.post
        assert post is not None
        template = post.option(self.target.name, "text") or self.target.template or DEFAULT_TEMPLATES["bluesky"]
        labels: list[str] = []
        if post.content_warning:
            label = bluesky_label(post.content_warning)
            if label:
                labels.append(label)
            else:
                template = f"CW: {post.content_warning}\n\n{template}"
        try:
            composed = fit(
                template,
                title=post.title,
                url=post.url,
                url_text=short_url(post.url),
                summary=post.summary,
                tags=post.tags,
                limit=BLUESKY_LIMIT,
                length=graphemes,
            )
        except FitError as e:
            raise DeliveryFailed(Failure(f"text does not fit: {e}", permanent=True)) from None
        feature = {"link": "app.bsky.richtext.facet#link", "tag": "app.bsky.richtext.facet#tag"}
        facets = [
            {
                "index": {"byteStart": span.start, "byteEnd": span.end},
                "features": [{"$type": feature[span.kind], ("uri" if span.kind == "link" else "tag"): span.value}],
            }
            for span in composed.spans
        ]
        return composed.text, facets, labels

    def compose(self, delivery: Delivery, payload: Payload) -> Outgoing:
        if delivery.event == "post.deleted":
            return Outgoing(digest_of("delete", self._rkeys(payload.held)), None)
        post = payload.post
        assert post is not None
        text, facets, labels = self.text(payload)
        record: dict[str, Any] = {
            "$type": COLLECTION,
            "text": text,
            "createdAt": rfc3339(delivery.created_at),
            "facets": facets,
        }
        if post.lang:
            record["langs"] = [post.lang]
        if labels:
            record["labels"] = {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": v} for v in labels]}
        return Outgoing(record_digest(text, record["createdAt"], post.url), record, text)

    def _rkeys(self, held: Sequence[Held]) -> list[str]:
        """The record keys of what earlier deliveries of the post made (or may have made)."""
        keys: list[str] = []
        for h in held:
            d = h.delivery
            if d.remote_id and d.remote_id.startswith("at://"):
                keys.append(d.remote_id.rsplit("/", 1)[-1])
            if d.key_seq is not None:
                keys.append(record_key(d, self.clock_id))
        return list(dict.fromkeys(keys))

    def _delete_records(self, did: str, rkeys: Sequence[str]) -> None:
        for rkey in rkeys:
            self.client.com.atproto.repo.delete_record({"repo": did, "collection": COLLECTION, "rkey": rkey})

    def send(
        self, delivery: Delivery, outgoing: Outgoing, payload: Payload, now: datetime, earlier: Sequence[AttemptRow]
    ) -> Receipt:
        try:
            did = self._login(now)
            if delivery.event == "post.deleted":
                rkeys = self._rkeys(payload.held)
                self._delete_records(did, rkeys)
                return Receipt(None, None, f"{len(rkeys)} record(s) deleted" if rkeys else "no record to delete")
            receipt = self._create(did, delivery, outgoing, payload, earlier)
            if delivery.event == "post.updated":  # a repost: the new record is there, the old ones go
                own = record_key(delivery, self.clock_id)
                self._delete_records(did, [k for k in self._rkeys(payload.held) if k != own])
                return Receipt(receipt.remote_id, receipt.remote_url, "reposted with the new text")
            return receipt
        except (InvokeTimeoutError, NetworkError) as e:
            response = getattr(e, "response", None)  # the SDK files 413 (and 409, 502) under NetworkError
            if response is not None and int(response.status_code) == 413:
                raise DeliveryFailed(
                    Failure(
                        f"HTTP 413 {_reason(response)}".rstrip() + ": too large for the PDS (an image or the post"
                        " with its alt texts); it would fail the same way again, so it is not retried",
                        permanent=True,
                    )
                ) from None
            raise DeliveryFailed(
                Failure(f"no answer within {self.target.timeout:g} s or cannot connect", unknown_outcome=True)
            ) from None
        except RequestErrorBase as e:
            response = getattr(e, "response", None)
            if response is None:
                raise DeliveryFailed(Failure(f"request failed: {type(e).__name__}")) from None
            code = int(response.status_code)
            if code == 401:
                raise DeliveryFailed(
                    Failure("HTTP 401: login refused; check handle and password_env", permanent=True)
                ) from None
            headers = {k: str(v) for k, v in (response.headers or {}).items()}
            raise DeliveryFailed(classify_http(code, _reason(response), headers, now)) from None
        except AtProtocolError as e:
            raise DeliveryFailed(Failure(f"unexpected answer: {type(e).__name__}")) from None

    def _create(
        self, did: str, delivery: Delivery, outgoing: Outgoing, payload: Payload, earlier: Sequence[AttemptRow]
    ) -> Receipt:
        post = payload.post
        assert post is not None
        rkey = record_key(delivery, self.clock_id)
        if earlier[:-1] or delivery.attempts > len(earlier):  # an earlier attempt may have got through
            receipt = self._settle(did, rkey, delivery, post.url, earlier)
            if receipt is not None:
                if receipt.note != outgoing.digest and self.target.edits == "repost":
                    # made by an attempt with an older text, seconds ago: it takes the latest text in place
                    record = {**outgoing.body, "embed": self._embed(payload, outgoing.body)}
                    self.client.com.atproto.repo.put_record(
                        {"repo": did, "collection": COLLECTION, "rkey": rkey, "record": record}
                    )
                return replace(receipt, note="already posted (found by getRecord)")
        record = {**outgoing.body, "embed": self._embed(payload, outgoing.body)}
        out = self.client.com.atproto.repo.create_record(
            {"repo": did, "collection": COLLECTION, "rkey": rkey, "record": record}
        )
        return Receipt(str(out.uri), self._web_url(rkey), "record created")

    def _settle(
        self, did: str, rkey: str, delivery: Delivery, url: str, earlier: Sequence[AttemptRow]
    ) -> Receipt | None:
        """An earlier attempt may have created the record: accept one under our key only when it is
        provably what this delivery sent (its digest is one of our attempts'); a record under our key
        that we did not send means the key is taken (KeyTaken: the ledger gives a new one). The
        receipt's note is the digest of what the record holds."""
        found = self._existing(did, rkey)
        if found is None and delivery.key_seq is not None and delivery.attempts > len(earlier):
            rkey = legacy_record_key(delivery)  # tried before this ledger kept keys and attempts
            found = self._existing(did, rkey)
        if found is None:
            return None
        uri, value = found
        sent = {a.digest for a in earlier if a.digest}
        link = _record_link(value, url)
        digest = record_digest(str(value.get("text", "")), str(value.get("createdAt", "")), link)
        legacy_match = delivery.attempts > len(earlier) and link == url
        if digest in sent or legacy_match:
            return Receipt(uri, self._web_url(rkey), digest)  # the note: what it holds
        raise KeyTaken(
            f"record key {rkey} already holds a record this delivery did not send ({uri}: "
            f"{str(value.get('text', ''))[:40]!r})"
        )

    def _existing(self, did: str, rkey: str) -> tuple[str, dict[str, Any]] | None:
        """The record under ``rkey`` (its URI and value as a plain dict), or None."""
        try:
            got = self.client.com.atproto.repo.get_record({"repo": did, "collection": COLLECTION, "rkey": rkey})
        except RequestErrorBase as e:
            response = getattr(e, "response", None)
            if response is not None and int(response.status_code) == 400:
                return None  # RecordNotFound: no earlier attempt got through
            raise
        value = got.value
        as_dict = value if isinstance(value, dict) else get_model_as_dict(value)
        return str(got.uri), as_dict

    def _embed(self, payload: Payload, record: dict[str, Any]) -> dict[str, Any]:
        """The post's images (``app.bsky.embed.images``: up to ``images``, each with its alt text and
        aspect ratio) when the text carries the post's link; else a link card to the post, with the
        first image as its thumbnail. A post may have one embed or the other: the link must stay."""
        post = payload.post
        assert post is not None
        found: tuple[Attachment, ...] = ()
        if self.images is not None and self.target.images > 0:
            found = self.images.attachments(post, self.target.images, IMAGE_LIMITS)
        if found and post.url in _facet_links(record):
            images = [
                {
                    "image": self._blob(a.image.data),
                    "alt": alt_text(a.alt),
                    "aspectRatio": {"width": a.image.width, "height": a.image.height},
                }
                for a in found
            ]
            return {"$type": "app.bsky.embed.images", "images": images}
        external: dict[str, Any] = {"uri": post.url, "title": post.title, "description": post.summary}
        if found:
            external["thumb"] = self._blob(found[0].image.data)
        return {"$type": "app.bsky.embed.external", "external": external}

    def _blob(self, data: bytes) -> Any:
        with warnings.catch_warnings():
            # the SDK hands httpx raw bytes as `data=`, which httpx deprecates; harmless
            warnings.filterwarnings("ignore", "Use 'content=<...>'", DeprecationWarning)
            return self.client.upload_blob(data).blob

    def _web_url(self, rkey: str) -> str:
        return f"https://bsky.app/profile/{self.target.handle}/post/{rkey}"

    def preview(self, delivery: Delivery, payload: Payload) -> str:
        records = f"record {', '.join(self._rkeys(payload.held)) or '(none known)'}"
        if delivery.event == "post.deleted":
            return change_preview(f"delete the {records}", payload.held)
        text, _facets, labels = self.text(payload)
        extra = f" labels: {', '.join(labels)}" if labels else ""
        key = f"rkey {record_key(delivery, self.clock_id)}" if delivery.key_seq is not None else "a new rkey"
        counted = f"({graphemes(text)}/{BLUESKY_LIMIT} graphemes, {key}){extra}"
        if delivery.event == "post.updated":
            what = f"repost: a new record, then delete the {records} (its likes and replies go with it)"
            return change_preview(what, payload.held, text, f" {counted}")
        return f"{counted}\n{text}"

    def close(self) -> None:
        self.client.request.close()


def _card_uri(value: dict[str, Any]) -> str:
    embed = value.get("embed")
    external = embed.get("external") if isinstance(embed, dict) else None
    return str(external.get("uri", "")) if isinstance(external, dict) else ""


def _facet_links(value: dict[str, Any]) -> list[str]:
    """The URIs of a record's link facets."""
    facets = value.get("facets")
    features = [f for facet in facets if isinstance(facet, dict) for f in facet.get("features") or ()] if facets else []
    return [str(f["uri"]) for f in features if isinstance(f, dict) and f.get("uri")]


def _record_link(value: dict[str, Any], url: str) -> str:
    """The link a record points to: its card's; for a record without a card (it has images), ``url``
    when a link facet of its text holds it; else ""."""
    card = _card_uri(value)
    if card:
        return card
    return url if url in _facet_links(value) else ""


def alt_text(alt: str | None) -> str:
    """Alt text as Bluesky's app takes it: at most MAX_ALT_GRAPHEMES graphemes, cut at a word and
    marked "…" (as Mastodon's, at 1,500 characters); "" for none."""
    if not alt:
        return ""
    clusters = regex.findall(r"\X", alt)
    if len(clusters) <= MAX_ALT_GRAPHEMES:
        return alt
    cut = "".join(clusters[: MAX_ALT_GRAPHEMES - 1])
    head = cut.rsplit(" ", 1)[0] if " " in cut[len(cut) // 2 :] else cut
    return head.rstrip(" ,;:.-–—") + "…"


def _code(e: BaseException) -> int | None:
    response = getattr(e, "response", None)
    return int(response.status_code) if response is not None else None


def _reason(response: Any) -> str:
    return str(getattr(getattr(response, "content", None), "error", "") or "")
