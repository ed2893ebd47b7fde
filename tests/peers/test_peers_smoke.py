"""One smoke test per peer: proves each fixture of tests/peers/fixtures.py starts a working peer."""

from __future__ import annotations

import http.server
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import cast

import pytest

from .fixtures import (
    BlueskyPds,
    MastodonMock,
    WebhookReceiver,
    WebhookReceiverFactory,
    WebSubHub,
    http_request,
    new_tid,
)


def _signed_headers(secret: str, body: str) -> dict[str, str]:
    from standardwebhooks import Webhook

    msg_id = f"msg_{secrets.token_hex(8)}"
    now = datetime.now(UTC)
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
    }


def _post(url: str, body: str, headers: dict[str, str]) -> int:
    return http_request("POST", url, body=body.encode(), headers=headers)[0]


def test_webhook_receiver_verifies_standard_webhooks(webhook_receiver: WebhookReceiver) -> None:
    body = json.dumps({"type": "post.published", "data": {"url": "https://example.com/p/1"}})
    good = _signed_headers(webhook_receiver.secret, body)
    assert _post(webhook_receiver.url, body, good) == 204

    tampered = dict(good, **{"webhook-signature": "v1," + "A" * 44})
    assert _post(webhook_receiver.url, body, tampered) == 401
    no_prefix = dict(good, **{"webhook-signature": good["webhook-signature"][3:]})
    assert _post(webhook_receiver.url, body, no_prefix) == 401

    # What a receiver does with each, not which exception class the library raises
    # (standardwebhooks 1.3 changed that for the "no v1," case: issue 19).
    first, second, third = webhook_receiver.deliveries()
    assert (first["verified"], first["status"], first["id"], first["error"]) == (True, 204, good["webhook-id"], None)
    assert json.loads(first["body"]) == json.loads(body)
    for refused in (second, third):
        assert (refused["verified"], refused["status"], refused["id"]) == (False, 401, good["webhook-id"])
        assert refused["error"], "a refused delivery records why"
        assert json.loads(refused["body"]) == json.loads(body)


def test_webhook_receiver_scripted_statuses(
    webhook_receiver_factory: WebhookReceiverFactory,
) -> None:
    receiver = webhook_receiver_factory(statuses=[503, 500])
    body = json.dumps({"n": 1})
    statuses = [_post(receiver.url, body, _signed_headers(receiver.secret, body)) for _ in range(3)]
    assert statuses == [503, 500, 204]
    assert [d["verified"] for d in receiver.deliveries()] == [True, True, True]


def test_mastodon_mock_idempotency_and_fault(mastodon_peer: MastodonMock) -> None:
    from mastodon import Mastodon, MastodonServiceUnavailableError

    api = Mastodon(
        access_token=mastodon_peer.token,
        api_base_url=mastodon_peer.base_url,
        version_check_mode="none",
    )
    try:
        key = f"syndicate-{secrets.token_hex(8)}"
        first = api.status_post("Hello from the smoke test", idempotency_key=key)
        again = api.status_post("Hello from the smoke test", idempotency_key=key)
        assert again["id"] == first["id"]
        other = api.status_post("Hello from the smoke test", idempotency_key=key + "-2")
        assert other["id"] != first["id"]

        rule = mastodon_peer.fail_next(503)
        assert [r["id"] for r in mastodon_peer.faults()] == [rule["id"]]
        with pytest.raises(MastodonServiceUnavailableError) as raised:
            api.status_post("Second post", idempotency_key=key + "-3")
        assert raised.value.args[1] == 503
        assert mastodon_peer.faults() == []  # count=1: used up
        retried = api.status_post("Second post", idempotency_key=key + "-3")
        assert retried["id"] not in (first["id"], other["id"])

        mastodon_peer.reset()
        assert api.account_verify_credentials()["username"] == "feedbot"
    finally:
        api.session.close()


def test_bluesky_pds_account_login_post_get(bluesky_pds: BlueskyPds) -> None:
    from atproto import Client, models  # type: ignore[import-untyped]

    handle, password, did = bluesky_pds.create_account()
    assert handle.endswith(".test")
    assert did.startswith("did:plc:")
    client = Client(base_url=bluesky_pds.base_url)
    try:
        # No AppView: the default profile fetch answers 400 "No service configured for
        # app.bsky.actor.getProfile" and fails the login.
        assert client.login(handle, password, fetch_bsky_profile=False) is None
        rkey = new_tid()
        record = models.AppBskyFeedPost.Record(
            text="Hello from the smoke test", created_at=client.get_current_time_iso()
        )
        created = client.com.atproto.repo.create_record(
            models.ComAtprotoRepoCreateRecord.Data(repo=did, collection="app.bsky.feed.post", rkey=rkey, record=record)
        )
        assert created.uri == f"at://{did}/app.bsky.feed.post/{rkey}"
        got = client.com.atproto.repo.get_record(
            models.ComAtprotoRepoGetRecord.Params(repo=did, collection="app.bsky.feed.post", rkey=rkey)
        )
        assert got.cid == created.cid
        assert got.value.text == "Hello from the smoke test"
    finally:
        client.request.close()


@contextmanager
def _topic_server(hub_url: str | None) -> Iterator[str]:
    """Serve an Atom feed on loopback; with hub_url, carry the Link rel=hub/self headers."""

    class Topic(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = (
                b'<?xml version="1.0" encoding="utf-8"?>'
                b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>'
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/atom+xml")
            if hub_url is not None:
                port = cast(tuple[str, int], self.server.server_address)[1]
                me = f"http://127.0.0.1:{port}/atom.xml"
                self.send_header("Link", f'<{hub_url}>; rel="hub", <{me}>; rel="self"')
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Topic)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/atom.xml"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_websub_hub_answers_publish_ping(websub_hub: WebSubHub) -> None:
    with _topic_server(websub_hub.hub_url) as topic:
        assert websub_hub.publish(topic) == (202, "Request received: publish\n")
    # Without Link rel=hub/self the hub cannot use the topic; WEBSUB_PROPAGATE=1 makes it say so.
    with _topic_server(None) as topic:
        assert websub_hub.publish(topic)[0] == 500
