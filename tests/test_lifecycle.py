"""A post's whole life on social, against mastodon-mock and a real Bluesky PDS: an edit of its
social text edits the status (same id) or reposts the record; an edit of the body alone changes
nothing there; a removed, drafted, opted-out or expired post has its status and records
deleted; a post that comes back is sent again, once. Every test runs with each store (the ledger
in SQLite, and in PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from atproto import Client  # type: ignore[import-untyped,unused-ignore]
from mastodon import Mastodon
from mastodon.errors import MastodonNotFoundError

from tests.conftest import NOW, Site, both_stores
from tests.peers.fixtures import BlueskyPds, MastodonMock
from tests.test_publish_bluesky import configure as configure_sky
from tests.test_publish_bluesky import publish as publish_sky
from tests.test_publish_bluesky import records
from tests.test_publish_mastodon import configure, publish, statuses
from tests.validators import check_json_feed

pytestmark = both_stores

POST = """---
title: {title}
date: 2024-06-01
summary: The summary of it.
tags: [python]
{extra}
---
{body}
"""


@pytest.fixture
def api(mastodon_peer: MastodonMock) -> Iterator[Mastodon]:
    client = Mastodon(access_token=mastodon_peer.token, api_base_url=mastodon_peer.base_url, version_check_mode="none")
    yield client
    client.session.close()


def write(site: Site, title: str = "First words", body: str = "The body.", extra: str = "") -> None:
    site.post("life.md", POST.format(title=title, body=body, extra=extra))


def sent_once(site: Site, peer: MastodonMock, extra: str = "", generator: str = "") -> None:
    configure(site, peer, extra)
    if generator:  # read the front matter the way this generator does (Hugo: expiryDate)
        config = site.root / "config" / "syndicate.toml"
        config.write_text(config.read_text().replace("[content]\n", f'[content]\ngenerator = "{generator}"\n'))
    assert publish(site, peer)[0] == 0  # the target is seen: nothing yet
    write(site)
    code, out = publish(site, peer)
    assert code == 0 and "sent    masto  post.published" in out, out


# ---------------------------------------------------------------- Mastodon


def test_an_edit_of_the_title_edits_the_status_in_place_and_dry_run_shows_old_and_new(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    sent_once(site, mastodon_peer)
    [before] = statuses(api)
    write(site, title="Better words")
    code, out = publish(site, mastodon_peer, "--dry-run")
    assert code == 0 and "edit the status" in out, out
    assert "old:\n  First words" in out and "new (" in out and "  Better words" in out, out
    code, out = publish(site, mastodon_peer)
    assert code == 0 and "status edited" in out, out
    [after] = statuses(api)
    assert after["id"] == before["id"] and "Better words" in after["content"] and "First words" not in after["content"]
    assert publish(site, mastodon_peer)[1].count("status edited") == 0  # exactly once per revision


def test_an_edit_of_the_body_alone_changes_nothing_on_mastodon(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    sent_once(site, mastodon_peer)
    [before] = statuses(api)
    write(site, body="The body, with a typo fixed.")
    code, out = publish(site, mastodon_peer)
    assert code == 0 and "masto" not in out, out
    [after] = statuses(api)
    assert after["content"] == before["content"] and not after.get("edited_at")


def test_quick_edits_collapse_into_the_last_one(site: Site, mastodon_peer: MastodonMock, api: Mastodon) -> None:
    sent_once(site, mastodon_peer)
    [before] = statuses(api)
    write(site, title="Second words")
    mastodon_peer.fail_next(503, path=f"/api/v1/statuses/{before['id']}", methods=["PUT"])
    code, out = publish(site, mastodon_peer)
    assert "failed" in out, out
    write(site, title="Third words")
    code, out = publish(site, mastodon_peer)
    assert code == 0 and out.count("status edited") == 1, out
    [after] = statuses(api)
    assert after["id"] == before["id"] and "Third words" in after["content"]
    states = site.ledger("SELECT state, last_error FROM deliveries WHERE event='post.updated' ORDER BY created_at")
    assert states == [("skipped", "superseded by a newer edit"), ("sent", None)]


def test_a_status_deleted_by_hand_is_reported_on_edit_and_never_posted_again(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    sent_once(site, mastodon_peer)
    [status] = statuses(api)
    api.status_delete(status["id"])
    write(site, title="Better words")
    code, out = publish(site, mastodon_peer)
    assert code != 0 and "gone from the instance" in out and "not posted again" in out, out
    assert statuses(api) == []
    assert "masto" not in publish(site, mastodon_peer)[1]  # not retried


@pytest.mark.parametrize(
    "how",
    ["removed", "draft", "opted out", "expired"],
)
def test_a_retracted_post_has_its_status_deleted_and_comes_back_as_a_new_one(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon, how: str
) -> None:
    sent_once(site, mastodon_peer, generator="hugo" if how == "expired" else "")
    [status] = statuses(api)
    later = NOW
    if how == "removed":
        (site.content / "life.md").unlink()
    elif how == "draft":
        write(site, extra="draft: true")
    elif how == "opted out":
        write(site, extra="syndicate: false")
    else:
        write(site, extra="expiryDate: 2026-11-27")
        later = NOW + timedelta(days=2)
    code, out = publish(site, mastodon_peer, "--dry-run", now=later)
    assert code == 0 and "delete the status" in out and "old:\n  First words" in out, out
    code, out = publish(site, mastodon_peer, now=later)
    assert code == 0 and "status deleted" in out, out
    with pytest.raises(MastodonNotFoundError):
        api.status(status["id"])
    assert statuses(api) == []
    assert "masto" not in publish(site, mastodon_peer, now=later)[1]  # deleted once
    if how == "expired":
        return  # its expiry date stays passed
    write(site)  # it comes back
    code, out = publish(site, mastodon_peer)
    assert code == 0 and out.count("masto  post.published") == 1, out
    [again] = statuses(api)
    assert again["id"] != status["id"] and "First words" in again["content"]
    assert "masto" not in publish(site, mastodon_peer)[1]


def test_on_edit_ignore_and_on_delete_ignore_leave_the_status_alone(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    sent_once(site, mastodon_peer, 'on_edit = "ignore"\non_delete = "ignore"')
    [before] = statuses(api)
    write(site, title="Better words")
    assert "masto" not in publish(site, mastodon_peer)[1]
    (site.content / "life.md").unlink()
    assert "masto" not in publish(site, mastodon_peer)[1]
    [after] = statuses(api)
    assert after["id"] == before["id"] and after["content"] == before["content"]
    write(site, title="Better words")  # back: the status never went, so nothing is posted again
    assert "masto" not in publish(site, mastodon_peer)[1]
    assert len(statuses(api)) == 1


def test_check_refuses_an_on_edit_the_network_cannot_do(site: Site, mastodon_peer: MastodonMock) -> None:
    configure(site, mastodon_peer, 'on_edit = "repost"')
    run = site.run("check")
    assert run.code != 0 and "on_edit must be 'update' or 'ignore'" in run.out + run.err, run


# ---------------------------------------------------------------- Bluesky


@pytest.fixture
def sky(bluesky_pds: BlueskyPds) -> tuple[str, str, str]:
    return bluesky_pds.create_account()


@pytest.fixture
def reader(bluesky_pds: BlueskyPds) -> Iterator[Any]:
    client = Client(base_url=bluesky_pds.base_url)
    yield client
    client.request.close()


def sky_sent_once(site: Site, pds: BlueskyPds, handle: str, password: str, extra: str = "") -> None:
    configure_sky(site, pds, handle)
    if extra:
        text = (site.root / "config" / "syndicate.toml").read_text()
        site.config(text + extra + "\n")
    assert publish_sky(site, password)[0] == 0
    write(site)
    code, out = publish_sky(site, password)
    assert code == 0 and "sent    sky  post.published" in out, out


def test_bluesky_ignores_edits_by_default(
    site: Site, bluesky_pds: BlueskyPds, sky: tuple[str, str, str], reader: Any
) -> None:
    handle, password, did = sky
    sky_sent_once(site, bluesky_pds, handle, password)
    write(site, title="Better words")
    code, out = publish_sky(site, password)
    assert code == 0 and "sky" not in out, out
    [rec] = records(reader, did)
    assert rec.value.text.startswith("First words")


def test_bluesky_repost_leaves_exactly_one_record_with_the_new_text(
    site: Site, bluesky_pds: BlueskyPds, sky: tuple[str, str, str], reader: Any
) -> None:
    handle, password, did = sky
    sky_sent_once(site, bluesky_pds, handle, password, 'on_edit = "repost"')
    [first] = records(reader, did)
    write(site, title="Better words")
    code, out = publish_sky(site, password, "--dry-run")
    assert "repost" in out and "old:\n  First words" in out, out
    code, out = publish_sky(site, password)
    assert code == 0 and "reposted with the new text" in out, out
    [rec] = records(reader, did)
    assert rec.uri != first.uri and rec.value.text.startswith("Better words")
    write(site, title="Best words")
    assert publish_sky(site, password)[0] == 0
    [rec2] = records(reader, did)
    assert rec2.value.text.startswith("Best words")


def test_bluesky_records_are_deleted_with_the_post_and_it_comes_back_once(
    site: Site, bluesky_pds: BlueskyPds, sky: tuple[str, str, str], reader: Any
) -> None:
    handle, password, did = sky
    sky_sent_once(site, bluesky_pds, handle, password)
    (site.content / "life.md").unlink()
    code, out = publish_sky(site, password)
    assert code == 0 and "record(s) deleted" in out, out
    assert records(reader, did) == []
    write(site)
    code, out = publish_sky(site, password)
    assert code == 0 and out.count("sky  post.published") == 1, out
    assert len(records(reader, did)) == 1
    assert "sky" not in publish_sky(site, password)[1]


# ---------------------------------------------------------------- syndication links


def links_file(site: Site) -> dict[str, Any]:
    return dict(json.loads((site.public / "syndication.json").read_text(encoding="utf-8")))


def feed_item(site: Site) -> dict[str, Any]:
    [item] = json.loads((site.public / "feed.json").read_text(encoding="utf-8"))["items"]
    return dict(item)


def test_the_copies_come_back_as_syndication_links_and_stay_byte_stable(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    url = "https://example.com/blog/life/"
    configure(site, mastodon_peer)
    assert publish(site, mastodon_peer)[0] == 0
    assert links_file(site) == {}  # a site with a social target has the file from the start
    write(site)
    assert publish(site, mastodon_peer)[0] == 0
    [status] = statuses(api)
    assert links_file(site) == {url: {"masto": status["url"]}}  # in the same run as the delivery
    assert feed_item(site)["_syndication"] == {"masto": status["url"]}
    check_json_feed((site.public / "feed.json").read_bytes())  # the extension is valid JSON Feed 1.1
    before = {p: p.read_bytes() for p in site.public.rglob("*") if p.is_file()}
    code, out = publish(site, mastodon_peer)
    assert code == 0 and "0 files written" in out, out
    build = site.run("build")
    assert build.code == 0 and ": 0 written" in build.out, build.out  # `build` reads the same links
    site.run("build", "--no-cache")
    assert {p: p.read_bytes() for p in site.public.rglob("*") if p.is_file()} == before
    shown = json.loads(site.run("status", "--json").out)
    assert shown["posts"][url]["syndication"] == {"masto": status["url"]}
    assert [d["state"] for d in shown["posts"][url]["deliveries"]] == ["sent"]
    assert site.run("status", "--json").out == site.run("status", "--json").out
    (site.content / "life.md").unlink()
    assert publish(site, mastodon_peer)[0] == 0
    assert links_file(site) == {}


def test_a_bluesky_repost_moves_the_link_to_the_new_record(
    site: Site, bluesky_pds: BlueskyPds, sky: tuple[str, str, str], reader: Any
) -> None:
    handle, password, did = sky
    sky_sent_once(site, bluesky_pds, handle, password, 'on_edit = "repost"')
    first = links_file(site)["https://example.com/blog/life/"]["sky"]
    assert first.startswith(f"https://bsky.app/profile/{handle}/post/")
    write(site, title="Better words")
    assert publish_sky(site, password)[0] == 0
    [rec] = records(reader, did)
    now = links_file(site)["https://example.com/blog/life/"]["sky"]
    assert now != first and now.endswith("/" + rec.uri.rsplit("/", 1)[-1])
    assert feed_item(site)["_syndication"] == {"sky": now}
