"""Channels in-process, through an injected transport (tests/transport.py): how every HTTP answer
is classified, how every form of Retry-After / X-RateLimit-Reset is read, and what each channel
sends and concludes. The end-to-end runs against the real peers are in test_publish_*.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs

import pytest
import requests

from syndicate.config import parse_settings
from syndicate.core.model import MAX_RETRY_DELAY, TargetSettings
from syndicate.core.planning import PENDING, Delivery
from syndicate.core.posts import parse_post
from syndicate.deliver.channels.base import Payload, classify_http, retry_after_seconds
from syndicate.deliver.channels.mastodon import MastodonChannel
from syndicate.deliver.channels.webhook import WebhookChannel
from syndicate.deliver.channels.websub import WebSubChannel
from syndicate.errors import DeliveryFailed
from tests.transport import Answer, mock_session

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EPOCH = int(NOW.timestamp())
SECRET = "whsec_" + base64.b64encode(b"sixteen byte key").decode()


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"Retry-After": "120"}, 120),
        ({"retry-after": " 7 "}, 7),
        ({"Retry-After": "0"}, 0),
        ({"Retry-After": format_datetime(NOW + timedelta(minutes=5), usegmt=True)}, 300),
        ({"Retry-After": "Thu, 26 Nov 2026 12:05:00 GMT"}, 300),
        ({"Retry-After": format_datetime(NOW - timedelta(hours=1), usegmt=True)}, 0),  # a date gone by: now
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "99999999999"}, MAX_RETRY_DELAY),  # no server makes us wait longer than a month
        ({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, MAX_RETRY_DELAY),
        ({"Retry-After": "१२"}, None),  # Devanagari digits are digits to str.isdigit, not to HTTP
        ({"X-RateLimit-Reset": str(EPOCH + 90)}, 90),  # an epoch timestamp (GoToSocial)
        ({"X-RateLimit-Reset": "30"}, 30),  # a small number: seconds from now
        ({"X-RateLimit-Reset": "2026-11-26T12:10:00.000Z"}, 600),  # ISO 8601, as Mastodon sends
        ({"X-RateLimit-Reset": "2026-11-26T13:10:00+01:00"}, 600),
        ({"X-RateLimit-Reset": "2026-11-26T12:10:00"}, 600),  # no offset: UTC
        ({"X-RateLimit-Reset": "2026-11-26T11:00:00Z"}, 0),
        ({"X-RateLimit-Reset": "inf"}, None),
        ({"X-RateLimit-Reset": "tomorrow"}, None),
        ({"Retry-After": "45", "X-RateLimit-Reset": str(EPOCH + 900)}, 45),  # Retry-After wins
        ({"Retry-After": "soon", "X-RateLimit-Reset": "60"}, 60),  # an unreadable one is skipped
    ],
)
def test_every_form_of_a_wait_is_read_as_seconds(headers: dict[str, str], seconds: float | None) -> None:
    got = retry_after_seconds(headers, NOW)
    assert got == seconds
    assert got is None or (math.isfinite(got) and 0 <= got <= MAX_RETRY_DELAY)


@pytest.mark.parametrize(
    ("status", "gone_disables", "retry", "disables"),
    [
        (408, False, True, False),
        (429, False, True, False),
        (500, False, True, False),
        (502, False, True, False),
        (503, False, True, False),
        (599, False, True, False),
        (400, False, False, False),
        (401, False, False, False),
        (403, False, False, False),
        (404, False, False, False),
        (301, False, False, False),  # a redirect is not followed: the same request would move again
        (410, True, False, True),  # a webhook receiver that says Gone is switched off
        (410, False, False, False),
        (422, False, False, False),
    ],
)
def test_an_http_answer_is_classified_as_retry_or_permanent(
    status: int, gone_disables: bool, retry: bool, disables: bool
) -> None:
    failure = classify_http(status, "Reason", {"Retry-After": "30"}, NOW, gone_disables=gone_disables)
    assert failure.permanent is not retry
    assert failure.disable_target is disables
    assert failure.message.startswith(f"HTTP {status} Reason")
    assert failure.retry_after == (30 if retry else None)
    assert not failure.unknown_outcome


SETTINGS = parse_settings('[site]\ntitle = "T"\nurl = "https://example.com/"\nauthor = "A"\n')
PARSED = parse_post(
    "p.md", b'---\ntitle: "Caf\xc3\xa9 & co"\ndate: 2025-06-03\ntags: [tools]\n---\nBody text.\n', SETTINGS
).post
assert PARSED is not None
POST = PARSED


def delivery(target: str) -> Delivery:
    return Delivery("msg_0123456789abcdef", POST.id, target, "post.published", POST.revision, PENDING, NOW)


PAYLOAD = Payload(item={"id": POST.id, "url": POST.url, "title": POST.title}, post=POST)


def webhook(handler: object) -> tuple[WebhookChannel, list[requests.PreparedRequest]]:
    session, transport = mock_session(handler)  # type: ignore[arg-type]
    target = TargetSettings(name="hooks", kind="webhook", url="https://hooks.example/in", secret_env="S")
    return WebhookChannel(target, SECRET, session), transport.requests


def send(channel: WebhookChannel | WebSubChannel | MastodonChannel, d: Delivery, payload: Payload) -> object:
    outgoing = channel.compose(d, payload)
    return channel.send(d, outgoing, payload, NOW, [])


def test_a_webhook_is_posted_once_signed_as_standard_webhooks_says() -> None:
    channel, sent = webhook(lambda r: (204, {}, b""))
    receipt = send(channel, delivery("hooks"), PAYLOAD)
    [request] = sent
    assert request.method == "POST" and request.url == "https://hooks.example/in"
    assert request.headers["webhook-id"] == "msg_0123456789abcdef"
    assert request.headers["webhook-timestamp"] == str(EPOCH)
    body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
    expected = hmac.new(b"sixteen byte key", f"msg_0123456789abcdef.{EPOCH}.".encode() + body, hashlib.sha256)
    assert request.headers["webhook-signature"] == "v1," + base64.b64encode(expected.digest()).decode()
    doc = json.loads(body)
    assert doc["type"] == "post.published" and doc["data"]["title"] == "Café & co"
    assert receipt.remote_id == "msg_0123456789abcdef" and receipt.note == "HTTP 204"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("answer", "permanent", "retry_after", "disables", "unknown", "message"),
    [
        ((429, {"Retry-After": "30"}, b""), False, 30, False, False, "HTTP 429 Too Many Requests"),
        ((503, {"Retry-After": "Thu, 26 Nov 2026 12:02:00 GMT"}, b""), False, 120, False, False, "HTTP 503"),
        ((500, {}, b"boom"), False, None, False, False, "HTTP 500 Internal Server Error"),
        ((410, {}, b""), True, None, True, False, "HTTP 410 Gone (the receiver asked us to stop)"),
        ((400, {}, b""), True, None, False, False, "HTTP 400 Bad Request"),
        ((302, {"Location": "http://127.0.0.1/"}, b""), True, None, False, False, "HTTP 302 Found"),
        (requests.Timeout(), False, None, False, True, "no answer within 10 s"),
        (requests.ConnectionError(), False, None, False, False, "cannot connect"),
        (requests.TooManyRedirects(), False, None, False, False, "request failed: TooManyRedirects"),
    ],
)
def test_what_a_webhook_answer_means(
    answer: Answer | Exception, permanent: bool, retry_after: float | None, disables: bool, unknown: bool, message: str
) -> None:
    def handler(request: requests.PreparedRequest) -> Answer:
        if isinstance(answer, Exception):
            raise answer
        return answer

    channel, sent = webhook(handler)
    with pytest.raises(DeliveryFailed) as info:
        send(channel, delivery("hooks"), PAYLOAD)
    failure = info.value.failure
    assert failure.message.startswith(message)
    assert (failure.permanent, failure.retry_after, failure.disable_target, failure.unknown_outcome) == (
        permanent,
        retry_after,
        disables,
        unknown,
    )
    assert len(sent) == 1  # never a second request (no redirect followed, no retry inside an attempt)


@pytest.mark.parametrize(
    ("status", "retry"),
    [(202, None), (204, None), (500, True), (429, True), (400, False)],
)
def test_a_websub_ping_names_the_topic_and_what_the_hub_said_decides(status: int, retry: bool | None) -> None:
    session, transport = mock_session(lambda r: (status, {}, b""))
    channel = WebSubChannel("https://hub.example/", session)
    payload = Payload(item={}, topic="https://example.com/feed.xml")
    d = delivery("websub:https://hub.example/")
    if retry is None:
        send(channel, d, payload)
    else:
        with pytest.raises(DeliveryFailed) as info:
            send(channel, d, payload)
        assert info.value.failure.permanent is not retry
    [request] = transport.requests
    form = parse_qs(str(request.body))
    assert form == {"hub.mode": ["publish"], "hub.url": [payload.topic], "hub.topic": [payload.topic]}


def mastodon(handler: object) -> tuple[MastodonChannel, list[requests.PreparedRequest]]:
    session, transport = mock_session(handler)  # type: ignore[arg-type]
    target = TargetSettings(
        name="toot", kind="mastodon", instance="https://social.example", token_env="T", max_characters=500
    )
    return MastodonChannel(target, "secret-token", session), transport.requests


def status_of(url: str) -> dict[str, object]:
    return {"id": "109", "url": "https://social.example/@me/109", "content": f'<p><a href="{url}">{url}</a></p>'}


def test_a_mastodon_status_is_posted_with_the_delivery_as_its_idempotency_key() -> None:
    channel, sent = mastodon(lambda r: (200, {}, status_of(POST.url)))
    receipt = send(channel, delivery("toot"), PAYLOAD)
    [request] = sent
    assert request.method == "POST" and request.url == "https://social.example/api/v1/statuses"
    assert request.headers["Idempotency-Key"] == "msg_0123456789abcdef"
    assert request.headers["Authorization"] == "Bearer secret-token"
    body = str(request.body)
    assert "Caf" in body and POST.url.replace(":", "%3A").replace("/", "%2F") in body
    assert receipt.remote_id == "109" and receipt.remote_url == "https://social.example/@me/109"  # type: ignore[attr-defined]


def test_a_mastodon_answer_about_another_post_is_never_counted_as_sent() -> None:
    channel, _ = mastodon(lambda r: (200, {}, status_of("https://example.com/blog/someone-else/")))
    with pytest.raises(DeliveryFailed) as info:
        send(channel, delivery("toot"), PAYLOAD)
    assert info.value.failure.permanent and "does not link to" in info.value.failure.message


@pytest.mark.parametrize(
    ("status", "permanent", "message"),
    [
        (401, True, "HTTP 401: the access token was refused; check token_env"),
        (422, True, "HTTP 422"),
        (500, False, "HTTP 500"),
        (503, False, "HTTP 503"),
        (404, True, "HTTP 404"),
    ],
)
def test_what_a_mastodon_error_means(status: int, permanent: bool, message: str) -> None:
    channel, sent = mastodon(lambda r: (status, {}, {"error": "no"}))
    with pytest.raises(DeliveryFailed) as info:
        send(channel, delivery("toot"), PAYLOAD)
    assert info.value.failure.permanent is permanent
    assert info.value.failure.message.startswith(message)
    assert "secret-token" not in info.value.failure.message
    assert len(sent) == 1


def test_a_mastodon_rate_limit_waits_until_the_reset_the_instance_names() -> None:
    now = datetime.now(UTC).replace(microsecond=0)  # Mastodon.py compares the reset with the real clock
    reset = (now + timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    channel, _ = mastodon(lambda r: (429, {"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "0"}, {}))
    d = delivery("toot")
    with pytest.raises(DeliveryFailed) as info:
        channel.send(d, channel.compose(d, PAYLOAD), PAYLOAD, now, [])
    failure = info.value.failure
    assert not failure.permanent and failure.message == "rate limited by the instance"
    assert failure.retry_after is not None and 110 <= failure.retry_after <= 130


@pytest.mark.parametrize(
    ("error", "message", "unknown"),
    [
        (requests.Timeout("read timed out"), "no answer within 10 s", True),
        (requests.ConnectionError(), "cannot connect to social.example:443 (no route to it)", False),
    ],
)
def test_a_mastodon_network_failure_says_whether_the_status_may_exist(
    error: Exception, message: str, unknown: bool
) -> None:
    def handler(request: requests.PreparedRequest) -> Answer:
        raise error

    channel, _ = mastodon(handler)
    with pytest.raises(DeliveryFailed) as info:
        send(channel, delivery("toot"), PAYLOAD)
    assert info.value.failure.message == message and info.value.failure.unknown_outcome is unknown
