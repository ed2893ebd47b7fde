"""`syndicate publish` to Bluesky, against a real @atproto/pds on 127.0.0.1."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from atproto import Client  # type: ignore[import-untyped,unused-ignore]

from syndicate.core.social import graphemes
from tests.conftest import AT_ONCE, CONFIG, Site
from tests.peers.fixtures import BlueskyPds
from tests.test_publish_mastodon import PNG


@pytest.fixture
def account(bluesky_pds: BlueskyPds) -> tuple[str, str, str]:
    return bluesky_pds.create_account()


@pytest.fixture
def reader(bluesky_pds: BlueskyPds) -> Iterator[Client]:
    client = Client(base_url=bluesky_pds.base_url)
    yield client
    client.request.close()


def configure(site: Site, pds: BlueskyPds, handle: str) -> None:
    site.config(
        CONFIG
        + AT_ONCE
        + f"""
[content]
static = "static"

[[targets]]
name = "sky"
kind = "bluesky"
service = "{pds.base_url}"
handle = "{handle}"
password_env = "BSKY_PASSWORD"
"""
    )
    (site.root / "static" / "img").mkdir(parents=True, exist_ok=True)
    (site.root / "static" / "img" / "pic.png").write_bytes(PNG)


def records(reader: Client, did: str) -> list[Any]:
    out = reader.com.atproto.repo.list_records({"repo": did, "collection": "app.bsky.feed.post", "limit": 100})
    return list(out.records)


def publish(site: Site, password: str, *args: str, now: datetime | None = None) -> tuple[int, str]:
    run = site.run("publish", *args, now=now, env={"BSKY_PASSWORD": password})
    assert "Traceback" not in run.err, run.err
    return run.code, run.out + run.err


def post(site: Site, extra: str = "") -> None:
    summary = " ".join(f"wörd{i}" for i in range(80))
    site.post(
        "sky.md",
        f"""---
title: "Émoji 👩‍💻 and 日本語: a post for Bluesky"
date: 2024-06-01
tags: [AI, machine learning]
summary: "{summary}"
thumb: /img/pic.png
{extra}
---
Body.
""",
    )


def test_a_post_with_facets_and_thumbnail_exactly_once(
    site: Site, bluesky_pds: BlueskyPds, account: tuple[str, str, str], reader: Client
) -> None:
    handle, password, did = account
    configure(site, bluesky_pds, handle)
    publish(site, password)
    post(site)
    code, out = publish(site, password)
    assert code == 0, out
    [rec] = records(reader, did)
    value = rec.value
    assert graphemes(value.text) <= 300
    data = value.text.encode("utf-8")
    features = {}
    for facet in value.facets:
        shown = data[facet.index.byte_start : facet.index.byte_end].decode("utf-8")
        feature = facet.features[0]
        features[shown] = getattr(feature, "uri", None) or getattr(feature, "tag", None)
    assert features["example.com/blog/sky"] == "https://example.com/blog/sky/"
    assert features["#AI"] == "AI" and features["#MachineLearning"] == "MachineLearning"
    [image] = value.embed.images  # the thumbnail, as an image with its alt text (the link is a facet)
    assert image.image.mime_type == "image/png" and (image.aspect_ratio.width, image.aspect_ratio.height) == (1, 1)
    rkey = rec.uri.rsplit("/", 1)[-1]
    assert len(rkey) == 13
    queued = site.run("retry")
    assert queued.code == 0 and queued.out.startswith("0 failed or dead deliveries due now")
    code, out = publish(site, password)
    assert code == 0 and len(records(reader, did)) == 1


def test_an_unknown_outcome_is_settled_with_get_record_not_a_second_post(
    site: Site, bluesky_pds: BlueskyPds, account: tuple[str, str, str], reader: Client
) -> None:
    handle, password, did = account
    configure(site, bluesky_pds, handle)
    publish(site, password)
    post(site)
    publish(site, password)
    db = sqlite3.connect(site.root / ".syndicate" / "state.db")
    with db:  # as if the process died after createRecord but before recording it
        db.execute("UPDATE deliveries SET state='sending', remote_id=NULL WHERE target='sky'")
    db.close()
    code, out = publish(site, password)
    assert code == 0 and "sent    sky" in out
    assert len(records(reader, did)) == 1


def test_the_dry_run_of_a_deletion_names_the_record_it_deletes(
    site: Site, bluesky_pds: BlueskyPds, account: tuple[str, str, str], reader: Client
) -> None:
    """The preview made record keys with clock id 0, not the ledger's: a deletion's dry run named
    a second record key that was never made (the real run deleted the right one)."""
    handle, password, did = account
    configure(site, bluesky_pds, handle)
    publish(site, password)
    post(site)
    publish(site, password)
    [rec] = records(reader, did)
    rkey = rec.uri.rsplit("/", 1)[-1]
    (site.content / "sky.md").unlink()
    code, out = publish(site, password, "--dry-run")
    assert code == 0 and f"delete the record {rkey}\n" in out, out
    code, out = publish(site, password)
    assert code == 0 and "1 record(s) deleted" in out and records(reader, did) == []


def test_content_warnings_become_self_labels_or_a_prefix(
    site: Site, bluesky_pds: BlueskyPds, account: tuple[str, str, str], reader: Client
) -> None:
    handle, password, did = account
    configure(site, bluesky_pds, handle)
    publish(site, password)
    site.post("a.md", "---\ntitle: Art\ndate: 2024-06-01\ncontent_warning: nudity\n---\nx\n")
    site.post("b.md", "---\ntitle: Bugs\ndate: 2024-06-02\ncontent_warning: spiders\n---\nx\n")
    code, out = publish(site, password)
    assert code == 0, out
    by_title = {r.value.embed.external.title: r.value for r in records(reader, did)}
    assert [v.val for v in by_title["Art"].labels.values] == ["nudity"]
    assert by_title["Bugs"].text.startswith("CW: spiders\n\nBugs")


def test_a_wrong_password_is_dead_and_not_printed(
    site: Site, bluesky_pds: BlueskyPds, account: tuple[str, str, str]
) -> None:
    handle, _, _ = account
    configure(site, bluesky_pds, handle)
    publish(site, "not-the-password-123")
    post(site)
    code, out = publish(site, "not-the-password-123")
    assert code == 4 and "dead    sky" in out and "check handle and password_env" in out
    assert "not-the-password-123" not in out


def test_a_posts_own_words_for_bluesky_are_sent_fitted(
    site: Site, bluesky_pds: BlueskyPds, account: tuple[str, str, str], reader: Client
) -> None:
    handle, password, did = account
    configure(site, bluesky_pds, handle)
    publish(site, password)
    post(site, "syndicate:\n  sky: {text: 'Shorter words for Bluesky {url}'}")
    code, out = publish(site, password)
    assert code == 0, out
    [record] = records(reader, did)
    assert record.value.text == "Shorter words for Bluesky example.com/blog/sky"
    [facet] = record.value.facets
    assert facet.features[0].uri == "https://example.com/blog/sky/"


# -- issue 21, point 3: alt text within what Bluesky takes, a 413 said once, no slot for a bad image ----


def image_post(site: Site, alt: str, images: list[str] | None = None) -> None:
    body = "\n\n".join(f"![{alt}]({src})" for src in images or ["/img/pic.png"])
    site.post("sky.md", f"---\ntitle: Pictures\ndate: 2024-06-01\n---\n{body}\n")


def test_alt_text_is_cut_at_a_word_within_2000_graphemes(
    site: Site, bluesky_pds: BlueskyPds, account: tuple[str, str, str], reader: Client
) -> None:
    """150,000 characters of alt text once went into the record: the PDS answered 413, and every
    retry failed the same way."""
    handle, password, did = account
    configure(site, bluesky_pds, handle)
    publish(site, password)
    image_post(site, " ".join(f"wörd{i}" for i in range(20_000)))
    code, out = publish(site, password)
    assert code == 0 and "sent    sky" in out, out
    [image] = records(reader, did)[0].value.embed.images
    assert 1900 < graphemes(image.alt) <= 2000 and image.alt.endswith("…")
    assert image.alt.removesuffix("…").split(" ")[-1].startswith("wörd")  # cut between words


def test_a_413_from_the_pds_is_a_permanent_failure_said_in_one_line(
    site: Site, bluesky_pds: BlueskyPds, account: tuple[str, str, str], reader: Client
) -> None:
    """The SDK reports a 413 as a NetworkError: it was "no answer" and retried until dead."""
    handle, password, did = account
    configure(site, bluesky_pds, handle)
    publish(site, password)
    image_post(site, "e" + "\u0301" * 100 + " " + ("o" + "\u0308" * 600) * 1500)  # 1,502 graphemes, 1.8 MB
    code, out = publish(site, password)
    assert code == 4 and "dead    sky" in out, out
    assert "HTTP 413" in out and "too large for the PDS" in out and "not retried" in out
    assert "no answer" not in out and records(reader, did) == []


def test_an_image_that_fails_gives_its_place_to_the_next_and_the_rest_are_named(
    site: Site, bluesky_pds: BlueskyPds, account: tuple[str, str, str], reader: Client
) -> None:
    handle, password, did = account
    configure(site, bluesky_pds, handle)
    img = site.root / "static" / "img"
    (img / "text.png").write_text("not an image", encoding="utf-8")
    (img / "broken.png").write_bytes(PNG[:40])  # a PNG's header, then nothing: cannot be decoded
    for i in range(5):
        (img / f"ok{i}.png").write_bytes(PNG)
    publish(site, password)
    image_post(site, "A dot", ["/img/text.png", "/img/broken.png"] + [f"/img/ok{i}.png" for i in range(5)])
    code, out = publish(site, password)
    assert code == 0, out
    [record] = records(reader, did)
    assert len(record.value.embed.images) == 4  # ok0 to ok3: the two that failed took no place
    assert "image https://example.com/img/text.png left out" in out
    assert "image https://example.com/img/broken.png left out" in out
    assert "content/sky.md: 1 more image(s) left out (a post carries 4 here): https://example.com/img/ok4.png" in out
