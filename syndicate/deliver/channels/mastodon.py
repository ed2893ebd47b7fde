"""Mastodon via Mastodon.py: a status fitted to the instance's limit, with the post's images
(each with its alt text, fitted to the instance's media limits) and an ``Idempotency-Key`` (the
delivery id), so a retry after an unknown outcome never posts twice. An edit of the post's social
text edits the status in place (``PUT /api/v1/statuses/:id``: the same id, its boosts and replies
kept, the images uploaded again); a retracted post has its status deleted."""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import requests
from mastodon import Mastodon
from mastodon.errors import MastodonAPIError, MastodonNetworkError, MastodonRatelimitError

from ...core.images import SOCIAL_IMAGE_LIMIT
from ...core.model import Post, TargetSettings
from ...core.planning import Delivery
from ...core.social import DEFAULT_TEMPLATES, fit, mastodon_length, strict_length
from ...errors import DeliveryFailed, Failure, FitError
from ..store import AttemptRow
from .base import (
    Held,
    ImageLimits,
    ImageSource,
    Outgoing,
    Payload,
    Receipt,
    cannot_connect,
    change_preview,
    classify_http,
    digest_of,
)

DEFAULT_LIMIT = 500
DEFAULT_IMAGE_BYTES = 16 * 1024 * 1024  # Mastodon's own limits, for an instance that does not say
DEFAULT_IMAGE_PIXELS = 33_177_600  # 7680 x 4320
MAX_DESCRIPTION = 1500  # characters of alt text Mastodon takes (MediaAttachment::MAX_DESCRIPTION_LENGTH)
_REFUSED_MEDIA = (413, 415, 422)  # an upload the instance will never take: the status goes without it
# What the access token must be allowed (Preferences → Development → the application's scopes):
# statuses are posted, edited and deleted (write:statuses), images uploaded (write:media), and
# after an attempt whose answer never came the account's own statuses are looked through
# (verify_credentials: profile or read:accounts; the account's statuses: read:statuses).
SCOPES = ("write:statuses", "write:media", "read:statuses", "profile")
SCOPES_HINT = (
    "the access token may lack a scope: syndicate needs write:statuses, write:media, read:statuses and"
    " profile (or read:accounts); give the application those, put its new token in token_env, then run"
    " `syndicate retry`"
)
RECONCILE_PAGES = 5  # of 40 statuses, looked through for a status made by an attempt of unknown outcome


class MastodonChannel:
    """Posts a status with the delivery id as ``Idempotency-Key``; after an attempt of unknown
    outcome, looks for the status among the account's own before posting again."""

    keyed = False  # the Idempotency-Key is the delivery id

    def __init__(
        self, target: TargetSettings, token: str, session: requests.Session, images: ImageSource | None = None
    ) -> None:
        self.target = target
        self.images = images
        self.api = Mastodon(
            access_token=token,
            api_base_url=target.instance,
            session=session,
            request_timeout=target.timeout,
            ratelimit_method="throw",  # we schedule retries; never sleep inside a delivery
            version_check_mode="none",
            user_agent="syndicate",
        )
        self._limit: int | None = target.max_characters or None
        self._configuration: dict[str, Any] | None = None

    def _configured(self, section: str, key: str) -> int | None:
        """A positive number from ``/api/v2/instance``'s ``configuration`` (asked once), or None
        when the instance does not say (or does not answer: its defaults are used)."""
        if self._configuration is None:
            try:
                info: Any = self.api.instance_v2()
                configuration = info["configuration"]
                self._configuration = configuration if isinstance(configuration, dict) else {}
            except (MastodonAPIError, MastodonNetworkError, KeyError, TypeError):
                self._configuration = {}
        values = self._configuration.get(section)
        value = values.get(key) if isinstance(values, dict) else None
        if isinstance(value, str) and value.isascii() and value.isdigit():  # some servers send numbers as text
            value = int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    def limit(self) -> int:
        """The instance's max_characters (asked once), unless the target config sets it."""
        if self._limit is None:
            self._limit = self._configured("statuses", "max_characters") or DEFAULT_LIMIT
        return self._limit

    def image_limits(self) -> ImageLimits:
        """What the instance takes of an image: ``image_size_limit`` bytes, ``image_matrix_limit`` pixels."""
        return ImageLimits(
            self._configured("media_attachments", "image_size_limit") or DEFAULT_IMAGE_BYTES,
            max_pixels=self._configured("media_attachments", "image_matrix_limit") or DEFAULT_IMAGE_PIXELS,
        )

    def text(self, payload: Payload, *, strict: bool = False, limit: int | None = None) -> str:
        post = payload.post
        assert post is not None
        warning = post.content_warning or ""
        length: Callable[[str], int] = (
            (lambda t: strict_length(t, warning)) if strict else (lambda t: mastodon_length(t, warning))
        )
        try:
            return fit(
                post.option(self.target.name, "text") or self.target.template or DEFAULT_TEMPLATES["mastodon"],
                title=post.title,
                url=post.url,
                summary=post.summary,
                tags=post.tags,
                limit=limit or self.limit(),
                length=length,
            ).text
        except FitError as e:
            raise DeliveryFailed(Failure(f"text does not fit: {e}", permanent=True)) from None

    def compose(self, delivery: Delivery, payload: Payload) -> Outgoing:
        if delivery.event == "post.deleted":
            return Outgoing(digest_of("delete", [h.delivery.remote_id for h in payload.held]), None)
        text = self.text(payload)
        post = payload.post
        assert post is not None
        return Outgoing(digest_of(text, post.content_warning, self._visibility(payload)), text, text)

    def _visibility(self, payload: Payload) -> str:
        """The post's own visibility for this target, else the target's."""
        post = payload.post
        own = post.option(self.target.name, "visibility") if post is not None else None
        return own or self.target.visibility

    def send(
        self, delivery: Delivery, outgoing: Outgoing, payload: Payload, now: datetime, earlier: Sequence[AttemptRow]
    ) -> Receipt:
        try:
            if delivery.event == "post.deleted":
                return self._delete(payload, now)
            post = payload.post
            assert post is not None
            if delivery.event == "post.updated":
                return self._edit(payload, outgoing, now)
            found = self._posted_earlier(post.url, earlier, now)
            if found is not None:
                stale = any(a.digest and a.digest != outgoing.digest for a in earlier[:-1])
                if stale and self.target.edits == "update":
                    # it went out with the text of an earlier attempt, and the post changed since
                    self._update(str(found["id"]), payload, outgoing.body)
                return Receipt(
                    str(found["id"]), found.get("url") or found.get("uri"), "already posted (found on the account)"
                )
            media_ids = self._upload(payload)
            try:
                status: Any = self._post(delivery, payload, outgoing.body, media_ids)
            except MastodonAPIError as e:
                if _status(e) != 422 or "long" not in str(e).lower():
                    raise
                # Some servers count every character of a URL: fit again the strict way.
                status = self._post(delivery, payload, self.text(payload, strict=True), media_ids)
        except MastodonRatelimitError:
            reset = self.api.ratelimit_reset
            wait = float(reset) - now.timestamp() if isinstance(reset, int | float) else 0.0
            raise DeliveryFailed(
                Failure("rate limited by the instance", retry_after=max(0.0, wait) or None, throttled=True)
            ) from None
        except MastodonNetworkError as e:
            timeout = "timed out" in str(e).lower() or "timeout" in type(e).__name__.lower()
            raise DeliveryFailed(
                Failure(f"no answer within {self.target.timeout:g} s", unknown_outcome=True)
                if timeout
                else cannot_connect(self.target.instance, e)
            ) from None
        except MastodonAPIError as e:
            code = _status(e)
            if code is None:
                raise DeliveryFailed(Failure(f"unexpected answer: {type(e).__name__}")) from None
            reason = e.args[2] if len(e.args) > 2 and isinstance(e.args[2], str) else ""
            words = _words(e)  # what the instance said: "This action is outside the authorized scopes"
            failure = classify_http(code, f"{reason}: {words}" if reason and words else reason or words, {}, now)
            if code == 401:
                failure = Failure("HTTP 401: the access token was refused; check token_env", permanent=True)
            elif code == 403:
                failure = Failure(f"HTTP 403: {words or reason or 'forbidden'}; {SCOPES_HINT}", permanent=True)
            raise DeliveryFailed(failure) from None
        if not _mentions(status, post.url):
            # The Idempotency-Key is this delivery's id: an answer about another post means the
            # instance mixed something up. Never count it as ours.
            raise DeliveryFailed(
                Failure(
                    f"the instance answered with status {status.get('id')} that does not link to {post.url};"
                    " not counted as sent (check the account)",
                    permanent=True,
                )
            )
        return Receipt(str(status["id"]), status.get("url") or status.get("uri"), "status posted")

    def _edit(self, payload: Payload, outgoing: Outgoing, now: datetime) -> Receipt:
        """Edit the status the post's ``post.published`` made, in place. A status deleted on the
        instance (by hand) is reported and never posted again."""
        status_id, url = self._status_of(payload, now)
        if status_id is None:
            raise DeliveryFailed(Failure("no status of this post was found on the account to edit", permanent=True))
        try:
            try:
                self._update(status_id, payload, outgoing.body)
            except MastodonAPIError as e:
                if _status(e) != 422 or "long" not in str(e).lower():
                    raise
                self._update(status_id, payload, self.text(payload, strict=True))
        except MastodonAPIError as e:
            if _status(e) == 404:
                raise DeliveryFailed(
                    Failure(
                        f"status {status_id} is gone from the instance (deleted by hand?); not posted again",
                        permanent=True,
                    )
                ) from None
            raise
        return Receipt(status_id, url, "status edited")

    def _update(self, status_id: str, payload: Payload, text: str) -> None:
        post = payload.post
        assert post is not None
        self.api.status_update(
            status_id,
            text,
            spoiler_text=post.content_warning or "",
            sensitive=bool(post.content_warning),
            media_ids=self._upload(payload),
        )

    def _status_of(self, payload: Payload, now: datetime) -> tuple[str | None, str | None]:
        """The id and URL of the status the post has on the account: from the ledger, else found
        among the account's own (a ``post.published`` whose outcome was never learned)."""
        for h in payload.held:
            if h.delivery.remote_id:
                return h.delivery.remote_id, h.delivery.remote_url
        for h in payload.held:
            found = self._found(payload, h, now)
            if found is not None:
                return str(found["id"]), found.get("url") or found.get("uri")
        return None, None

    def _found(self, payload: Payload, h: Held, now: datetime) -> Any | None:
        """The status an attempt of unknown outcome made, looked for on the account by the post's link."""
        if not h.attempts:
            return None
        return self._posted_earlier(str(payload.item.get("url", "")), (*h.attempts, h.attempts[-1]), now)

    def _delete(self, payload: Payload, now: datetime) -> Receipt:
        """Delete every status this post's deliveries made (only those: ids from the ledger, or a
        status found by the post's link for an attempt whose outcome was never learned)."""
        ids: list[str] = []
        for h in payload.held:
            if h.delivery.remote_id:
                ids.append(h.delivery.remote_id)
            elif (found := self._found(payload, h, now)) is not None:
                ids.append(str(found["id"]))
        gone = 0
        for status_id in dict.fromkeys(ids):
            try:
                self.api.status_delete(status_id)
            except MastodonAPIError as e:
                if _status(e) != 404:
                    raise
                gone += 1
        if not ids:
            return Receipt(None, None, "no status to delete")
        if gone == len(set(ids)):
            return Receipt(None, None, "already deleted on the instance")
        return Receipt(None, None, "status deleted")

    def _posted_earlier(self, url: str, earlier: Sequence[AttemptRow], now: datetime) -> Any | None:
        """After an attempt whose outcome was never learned (killed mid-request, or no answer), look
        for the status among the account's own recent statuses before posting again: the
        Idempotency-Key covers a request that was carried out within the hour (Mastodon keeps keys
        for an hour), not an older one, nor one the instance was still working on."""
        unknown = [a for a in earlier[:-1] if a.finished_at is None or a.outcome == "unknown"]
        if not unknown:
            return None
        since = unknown[0].started_at.timestamp() - 300
        me: Any = self.api.me()
        page: Any = self.api.account_statuses(me["id"], limit=40)
        for _ in range(RECONCILE_PAGES):
            if not page:
                return None
            for status in page:
                if _mentions(status, url):
                    return status
            created = page[-1].get("created_at")
            if isinstance(created, datetime) and created.timestamp() < since:
                return None
            page = self.api.fetch_next(page)
        return None

    def _upload(self, payload: Payload) -> list[Any] | None:
        """Upload the post's images (the thumbnail, then the body's; at most ``images`` and what the
        instance takes), each with its alt text as description; their ids, or None for none. An
        image that cannot be had, fitted or uploaded is left out with a warning: the status goes
        out without it rather than not at all. A failure worth retrying (5xx, 429, no answer) is raised."""
        post = payload.post
        if post is None or self.images is None or self.target.images == 0:
            return None
        most = self._configured("statuses", "max_media_attachments") or SOCIAL_IMAGE_LIMIT
        found = self.images.attachments(post, min(self.target.images, most), self.image_limits())
        ids: list[Any] = []
        for i, attachment in enumerate(found):
            fitted = attachment.image
            try:
                media: Any = self.api.media_post(
                    io.BytesIO(fitted.data),
                    mime_type=fitted.mime_type,
                    description=_description(attachment.alt),
                    file_name=f"image-{i + 1}.{'png' if fitted.mime_type == 'image/png' else 'jpg'}",
                )
            except MastodonAPIError as e:
                if _status(e) not in _REFUSED_MEDIA:
                    raise
                self._upload_refused(post, attachment.url, e)
                continue
            ids.append(media["id"])
        return ids or None

    def _upload_refused(self, post: Post, url: str, e: MastodonAPIError) -> None:
        """The warning for an image the instance would not take (its own words, when it gave some)."""
        assert self.images is not None
        reason = _words(e)
        self.images.warn(post, url, f"the instance refused it (HTTP {_status(e)}{': ' + reason if reason else ''})")

    def _post(self, delivery: Delivery, payload: Payload, text: str, media_ids: list[Any] | None) -> Any:
        post = payload.post
        assert post is not None
        return self.api.status_post(
            text,
            media_ids=media_ids,
            sensitive=bool(post.content_warning),
            spoiler_text=post.content_warning or None,
            visibility=self._visibility(payload),
            language=post.lang,
            idempotency_key=delivery.id,
        )

    def preview(self, delivery: Delivery, payload: Payload) -> str:
        if delivery.event == "post.deleted":
            return change_preview(f"delete the status {_statuses(payload.held)}", payload.held)
        limit = self.target.max_characters or DEFAULT_LIMIT
        text = self.text(payload, limit=limit)
        post = payload.post
        cw = f"[CW: {post.content_warning}] " if post and post.content_warning else ""
        counted = f"{cw}({mastodon_length(text)}/{limit} characters)"
        if delivery.event == "post.updated":
            return change_preview(f"edit the status {_statuses(payload.held)}", payload.held, text, f" {counted}")
        return f"{counted}\n{text}"

    def close(self) -> None:
        session = getattr(self.api, "session", None)
        if session is not None:
            session.close()


def _statuses(held: Sequence[Held]) -> str:
    """Which statuses a preview speaks of: their URLs, each once."""
    urls = [h.delivery.remote_url or h.delivery.remote_id or "(not known yet: looked for by its link)" for h in held]
    return ", ".join(dict.fromkeys(urls)) or "(none known)"


def _mentions(status: Any, url: str) -> bool:
    """Does a status (as the API returns it, HTML) link to ``url``?"""
    content = str(status.get("content") or "") if isinstance(status, dict) else ""
    return url in content or html.escape(url) in content


def _description(alt: str | None) -> str | None:
    """Alt text as Mastodon takes it: at most MAX_DESCRIPTION characters (cut at a word, marked "…")."""
    if alt is None or len(alt) <= MAX_DESCRIPTION:
        return alt
    cut = alt[: MAX_DESCRIPTION - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[MAX_DESCRIPTION // 2 :] else cut) + "…"


def _status(e: MastodonAPIError) -> int | None:
    code = e.args[1] if len(e.args) > 1 else None
    return code if isinstance(code, int) else None


def _words(e: MastodonAPIError) -> str:
    """What the instance said about a refusal (its JSON ``error``), on one line, or ""."""
    said = e.args[3] if len(e.args) > 3 and isinstance(e.args[3], str) else ""
    return " ".join(said.split())[:300]
