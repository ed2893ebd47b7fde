"""`syndicate publish` to Mastodon, against mastodon-mock (a Mastodon API fake with
idempotency and fault injection) driven through Mastodon.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from mastodon import Mastodon

from syndicate.core.social import mastodon_length
from tests.conftest import AT_ONCE, CONFIG, Site
from tests.peers.fixtures import MastodonMock

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def configure(site: Site, peer: MastodonMock, extra: str = "") -> None:
    (site.root / "static").mkdir(exist_ok=True)  # the site's static folder (a missing one is an error)
    site.config(
        CONFIG
        + AT_ONCE
        + f"""
[content]
static = "static"

[[targets]]
name = "masto"
kind = "mastodon"
instance = "{peer.base_url}"
token_env = "MASTODON_TOKEN"
timeout = 5
{extra}
"""
    )


@pytest.fixture
def api(mastodon_peer: MastodonMock) -> Iterator[Mastodon]:
    client = Mastodon(access_token=mastodon_peer.token, api_base_url=mastodon_peer.base_url, version_check_mode="none")
    yield client
    client.session.close()


def statuses(api: Mastodon) -> list[Any]:
    me = api.account_verify_credentials()
    return list(api.account_statuses(me["id"], limit=40))


def publish(
    site: Site, peer: MastodonMock, *args: str, now: datetime | None = None, token: str | None = None
) -> tuple[int, str]:
    run = site.run("publish", *args, now=now, env={"MASTODON_TOKEN": token or peer.token})
    assert "Traceback" not in run.err, run.err
    return run.code, run.out + run.err


def retry_now(site: Site, peer: MastodonMock) -> tuple[int, str]:
    """`syndicate retry` (what failed is due now), then `publish`."""
    queued = site.run("retry")
    assert queued.code == 0 and "due now" in queued.out, queued
    return publish(site, peer)


def long_post(site: Site) -> None:
    summary = " ".join(f"word{i}" for i in range(200))
    site.post(
        "long.md",
        f"""---
title: "Ünïcode 👨‍👩‍👧‍👦 and 日本語 in a long title"
date: 2024-06-01
tags: [machine learning, C#, AI]
summary: "{summary}"
thumb: /img/pic.png
thumb_alt: A one-pixel picture
---
Body.
""",
    )


def test_a_new_post_becomes_one_status_fitted_to_the_limit(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    configure(site, mastodon_peer)
    (site.root / "static" / "img").mkdir(parents=True, exist_ok=True)
    (site.root / "static" / "img" / "pic.png").write_bytes(PNG)
    publish(site, mastodon_peer)  # baseline: nothing yet
    long_post(site)
    code, out = publish(site, mastodon_peer)
    assert code == 0, out
    [status] = statuses(api)
    text = status["content"]
    assert "https://example.com/blog/long/" in text
    assert "#MachineLearning" in text and "#CSharp" in text
    assert "word0 word1" in text and "word199" not in text and "…" in text
    assert [m["description"] for m in status["media_attachments"]] == ["A one-pixel picture"]
    code, out = retry_now(site, mastodon_peer)
    assert code == 0 and len(statuses(api)) == 1, "never twice"


def test_the_dry_run_shows_the_final_text(site: Site, mastodon_peer: MastodonMock, api: Mastodon) -> None:
    configure(site, mastodon_peer)
    long_post(site)
    code, out = publish(site, mastodon_peer, "--dry-run", "--backfill")
    assert code == 0, out
    block = out.split("--- masto  post.published  https://example.com/blog/long/\n", 1)[1]
    counted, text = block.split("\n", 1)
    length = int(counted.strip("(").split("/")[0])
    assert length <= 500 and counted.endswith("/500 characters)")
    assert text.startswith("Ünïcode 👨‍👩‍👧‍👦 and 日本語 in a long title\n\nword0 word1")
    assert mastodon_length(text.rstrip("\n")) == length
    assert statuses(api) == []


def test_a_503_is_retried_and_the_status_exists_once(site: Site, mastodon_peer: MastodonMock, api: Mastodon) -> None:
    configure(site, mastodon_peer)
    publish(site, mastodon_peer)
    long_post(site)
    mastodon_peer.fail_next(503)
    code, out = publish(site, mastodon_peer)
    assert code == 4 and "failed  masto" in out and "HTTP 503" in out
    code, out = retry_now(site, mastodon_peer)
    assert code == 0 and "sent    masto" in out
    assert len(statuses(api)) == 1


def test_an_unknown_outcome_is_reconciled_by_the_idempotency_key(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    """A crash after the request left but before the answer was recorded: the retry reuses the
    Idempotency-Key, and Mastodon answers with the status it already made."""
    configure(site, mastodon_peer)
    publish(site, mastodon_peer)
    long_post(site)
    publish(site, mastodon_peer)
    [first] = statuses(api)
    db = sqlite3.connect(site.root / ".syndicate" / "state.db")
    with db:
        db.execute("UPDATE deliveries SET state='sending', remote_id=NULL WHERE target='masto'")
    db.close()
    code, out = publish(site, mastodon_peer)
    assert code == 0 and "sent    masto" in out
    assert [s["id"] for s in statuses(api)] == [first["id"]]


def test_rate_limits_are_retried_later(site: Site, mastodon_peer: MastodonMock, api: Mastodon) -> None:
    configure(site, mastodon_peer)
    publish(site, mastodon_peer)
    long_post(site)
    mastodon_peer.rate_limit_next()
    code, out = publish(site, mastodon_peer)
    assert code == 4 and "failed  masto" in out
    code, out = retry_now(site, mastodon_peer)
    assert code == 0 and len(statuses(api)) == 1


def test_a_bad_token_is_dead_with_a_hint_and_never_printed(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    configure(site, mastodon_peer)
    publish(site, mastodon_peer)
    long_post(site)
    code, out = publish(site, mastodon_peer, token="wrong-token-12345")
    assert code == 4 and "dead    masto" in out and "check token_env" in out
    assert "wrong-token-12345" not in out
    status = site.run("status").out
    assert "wrong-token-12345" not in status and "dead" in status
    assert site.run("retry").out.startswith("1 failed or dead delivery due now")
    code, out = publish(site, mastodon_peer)
    assert code == 0 and len(statuses(api)) == 1


def test_a_token_without_a_scope_it_needs_is_dead_with_the_scopes_named(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    """After an attempt whose answer never came, the retry looks through the account's statuses
    (GET verify_credentials and the account's statuses: read scopes). A token made with the write
    scopes alone got "HTTP 403 Forbidden" and nothing more; the line now names the scopes."""
    configure(site, mastodon_peer)
    publish(site, mastodon_peer)
    long_post(site)
    publish(site, mastodon_peer)
    db = sqlite3.connect(site.root / ".syndicate" / "state.db")
    with db:  # as if the process had died before the answer came (the status was made)
        db.execute("UPDATE attempts SET finished_at = NULL, outcome = NULL")
        db.execute("UPDATE deliveries SET state = 'sending', remote_id = NULL WHERE target = 'masto'")
    db.close()
    mastodon_peer.add_fault(
        {
            "match": {"methods": ["GET"], "path": "/api/v1/accounts/verify_credentials"},
            "effect": {
                "type": "status",
                "status": 403,
                "body": {"error": "This action is outside the authorized scopes"},
            },
            "count": 1,
        }
    )
    code, out = publish(site, mastodon_peer)
    assert code == 4 and "dead    masto" in out, out
    assert "This action is outside the authorized scopes" in out, out
    assert "read:statuses" in out and "write:media" in out and "syndicate retry" in out, out
    assert site.run("retry").code == 0
    code, out = publish(site, mastodon_peer)
    assert code == 0 and len(statuses(api)) == 1, out


def test_a_content_warning_becomes_spoiler_text(site: Site, mastodon_peer: MastodonMock, api: Mastodon) -> None:
    configure(site, mastodon_peer)
    publish(site, mastodon_peer)
    site.post("cw.md", "---\ntitle: Spoilers ahead\ndate: 2024-06-01\ncontent_warning: film plot\n---\nThe butler.\n")
    code, out = publish(site, mastodon_peer)
    assert code == 0, out
    [status] = statuses(api)
    assert status["spoiler_text"] == "film plot" and status["sensitive"] is True


def test_syndicate_false_keeps_a_post_off_social(site: Site, mastodon_peer: MastodonMock, api: Mastodon) -> None:
    configure(site, mastodon_peer)
    publish(site, mastodon_peer)
    site.post("quiet.md", "---\ntitle: Quiet\ndate: 2024-06-01\nsyndicate: false\n---\nShh.\n")
    code, _ = publish(site, mastodon_peer)
    assert code == 0 and statuses(api) == []


def test_a_posts_own_words_and_visibility_for_one_target(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    """`syndicate: {masto: {text: …, visibility: …}}`: the post's own text, fitted like a template,
    and its own visibility; a target set to false gets nothing, the others the usual."""
    configure(site, mastodon_peer)
    publish(site, mastodon_peer)
    site.post(
        "own.md",
        """---
title: A title nobody reads on Mastodon
date: 2024-06-01
tags: [feeds]
syndicate:
  masto: {text: "My own words, no title here. {url}", visibility: unlisted}
---
Body.
""",
    )
    site.post("off.md", "---\ntitle: Not here\ndate: 2024-06-02\nsyndicate: {masto: false}\n---\nx\n")
    code, out = publish(site, mastodon_peer, "--dry-run")
    assert code == 0 and "My own words, no title here. https://example.com/blog/own/" in out, out
    code, out = publish(site, mastodon_peer)
    assert code == 0, out
    [status] = statuses(api)
    assert "My own words, no title here." in status["content"] and "nobody reads" not in status["content"]
    assert "https://example.com/blog/own/" in status["content"] and status["visibility"] == "unlisted"
