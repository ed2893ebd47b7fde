"""A post's images on Mastodon and Bluesky, against mastodon-mock and a real PDS: the thumbnail and
the body's images in order, each with its alt text; a big phone photo fitted under Bluesky's blob
limit, upright and without its GPS position; a broken image left out with a warning, never holding
the post back; the per-target ``images`` count; a retry that recognises a record with images.

Every image is made by Pillow under the site's static folder, so nothing leaves 127.0.0.1."""

from __future__ import annotations

import io
import random
import sqlite3
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from atproto import Client  # type: ignore[import-untyped,unused-ignore]
from mastodon import Mastodon
from PIL import Image

from syndicate.config import parse_settings
from syndicate.core.posts import parse_post
from syndicate.core.social import social_digest
from tests.conftest import CONFIG, Site
from tests.peers.fixtures import BlueskyPds, MastodonMock

GPS_IFD = 0x8825
ORIENTATION = 0x0112
BLOB_LIMIT = 1_000_000  # app.bsky.embed.images
MOCK_IMAGE_PIXELS = 16_777_216  # mastodon-mock's /api/v2/instance image_matrix_limit (Mastodon's default: 33,177,600)

POST = """---
title: Four pictures
date: 2024-06-01
summary: A walk with a camera.
thumb: /img/thumb.png
thumb_alt: The thumbnail, a red square
---
A walk.

![A green square](/img/one.png)

Then a photo.

![A blue photo, taken sideways](/img/two.jpg)

![A tall grey bar](/img/three.png)
"""
ALTS = ["The thumbnail, a red square", "A green square", "A blue photo, taken sideways", "A tall grey bar"]
SIZES = [(300, 200), (200, 200), (480, 640), (100, 300)]  # as shown: two.jpg is stored 640x480, turned by EXIF


# ------------------------------------------------------------------------------------------ helpers


def encode(image: Image.Image, format: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def gps_exif(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: where the photo was taken, and which way up it is."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 29.5), 3: "E", 4: (2.0, 17.0, 40.2)})
    return exif


def has_gps(data: bytes) -> bool:
    exif = Image.open(io.BytesIO(data)).getexif()
    return bool(exif.get_ifd(GPS_IFD)) or b"Exif\x00\x00" in data


def size_of(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.size


def photo(size: tuple[int, int] = (4000, 3000)) -> bytes:
    """A phone-sized photo of noise at JPEG quality 95 (the worst case for an encoder), with GPS."""
    pixels = Image.frombytes("RGB", size, random.Random(0).randbytes(size[0] * size[1] * 3))
    return encode(pixels, "JPEG", quality=95, exif=gps_exif())


def static(site: Site, name: str, data: bytes) -> None:
    path = site.root / "static" / "img" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def four_images(site: Site) -> None:
    static(site, "thumb.png", encode(Image.new("RGB", (300, 200), (220, 0, 0)), "PNG"))
    static(site, "one.png", encode(Image.new("RGB", (200, 200), (0, 200, 0)), "PNG"))
    sideways = Image.new("RGB", (640, 480), (0, 0, 230))
    static(site, "two.jpg", encode(sideways, "JPEG", quality=90, exif=gps_exif(orientation=6)))
    static(site, "three.png", encode(Image.new("L", (100, 300), 128), "PNG"))


def configure(site: Site, peer: MastodonMock, pds: BlueskyPds, handle: str, masto: str = "", sky: str = "") -> None:
    (site.root / "static" / "img").mkdir(parents=True, exist_ok=True)
    site.config(
        CONFIG
        + f"""
[content]
static = "static"

[[targets]]
name = "masto"
kind = "mastodon"
instance = "{peer.base_url}"
token_env = "MASTODON_TOKEN"
timeout = 10
{masto}

[[targets]]
name = "sky"
kind = "bluesky"
service = "{pds.base_url}"
handle = "{handle}"
password_env = "BSKY_PASSWORD"
timeout = 20
{sky}
"""
    )


def publish(site: Site, peer: MastodonMock, password: str, *args: str) -> tuple[int, str]:
    run = site.run("publish", *args, env={"MASTODON_TOKEN": peer.token, "BSKY_PASSWORD": password})
    assert "Traceback" not in run.err, run.err
    return run.code, run.out + run.err


def sent(site: Site, peer: MastodonMock, password: str) -> str:
    """Publish a post written after the targets were first seen: both get it once."""
    code, out = publish(site, peer, password)
    assert code == 0 and "sent    masto  post.published" in out and "sent    sky  post.published" in out, out
    return out


@pytest.fixture
def account(bluesky_pds: BlueskyPds) -> tuple[str, str, str]:
    return bluesky_pds.create_account()


@pytest.fixture
def api(mastodon_peer: MastodonMock) -> Iterator[Mastodon]:
    client = Mastodon(access_token=mastodon_peer.token, api_base_url=mastodon_peer.base_url, version_check_mode="none")
    yield client
    client.session.close()


@pytest.fixture
def reader(bluesky_pds: BlueskyPds) -> Iterator[Client]:
    client = Client(base_url=bluesky_pds.base_url)
    yield client
    client.request.close()


@pytest.fixture
def both(
    site: Site, mastodon_peer: MastodonMock, bluesky_pds: BlueskyPds, account: tuple[str, str, str]
) -> tuple[str, str]:
    """The site with both targets, seen once (nothing sent yet); the Bluesky password and DID."""
    handle, password, did = account
    configure(site, mastodon_peer, bluesky_pds, handle)
    assert publish(site, mastodon_peer, password)[0] == 0
    return password, did


def reconfigure(site: Site, masto: str = "", sky: str = "") -> None:
    """Add keys to the targets of the site's config (Mastodon's table, then Bluesky's)."""
    path = site.root / "config" / "syndicate.toml"
    text = path.read_text()
    text = text.replace('token_env = "MASTODON_TOKEN"\n', f'token_env = "MASTODON_TOKEN"\n{masto}\n')
    text = text.replace('password_env = "BSKY_PASSWORD"\n', f'password_env = "BSKY_PASSWORD"\n{sky}\n')
    path.write_text(text)


def the_status(api: Mastodon) -> Any:
    me = api.account_verify_credentials()
    [status] = api.account_statuses(me["id"], limit=40)
    return status


def the_record(reader: Client, did: str) -> Any:
    out = reader.com.atproto.repo.list_records({"repo": did, "collection": "app.bsky.feed.post", "limit": 100})
    [record] = out.records
    return record.value


def media_bytes(status: Any) -> list[bytes]:
    """What the instance stored of each attachment, in order."""
    out = []
    for media in status["media_attachments"]:
        with urllib.request.urlopen(media["url"], timeout=10) as response:
            out.append(response.read())
    return out


def blob(reader: Client, did: str, image: Any) -> bytes:
    """An image of a record as the PDS serves it (com.atproto.sync.getBlob)."""
    return bytes(reader.com.atproto.sync.get_blob({"did": did, "cid": image.image.ref.link}))


# ------------------------------------------------------------------------------------------ tests


def test_four_images_go_to_both_networks_in_order_with_their_alt_text(
    site: Site, mastodon_peer: MastodonMock, both: tuple[str, str], api: Mastodon, reader: Client
) -> None:
    password, did = both
    four_images(site)
    site.post("walk.md", POST)
    out = sent(site, mastodon_peer, password)
    assert "warning" not in out, out

    status = the_status(api)
    assert [m["description"] for m in status["media_attachments"]] == ALTS
    stored = media_bytes(status)
    assert [size_of(data) for data in stored] == SIZES  # the images themselves, in order; the photo upright
    assert not has_gps(stored[2])

    record = the_record(reader, did)
    assert record.embed.py_type == "app.bsky.embed.images"
    assert [image.alt for image in record.embed.images] == ALTS
    ratios = [(image.aspect_ratio.width, image.aspect_ratio.height) for image in record.embed.images]
    assert ratios == SIZES
    assert all(image.image.size <= BLOB_LIMIT for image in record.embed.images)
    assert size_of(blob(reader, did, record.embed.images[2])) == (480, 640)
    assert not has_gps(blob(reader, did, record.embed.images[2]))
    links = [f.features[0].uri for f in record.facets if getattr(f.features[0], "uri", None)]
    assert links == ["https://example.com/blog/walk/"]  # no card now: the link is in the text


def test_a_big_phone_photo_arrives_under_the_blob_limit_and_without_its_gps_position(
    site: Site, mastodon_peer: MastodonMock, both: tuple[str, str], api: Mastodon, reader: Client
) -> None:
    password, did = both
    big = photo()
    assert len(big) > 5_000_000 and has_gps(big)  # ~14 MB, 4000x3000, GPS in its EXIF
    static(site, "big.jpg", big)
    site.post("big.md", "---\ntitle: Big\ndate: 2024-06-01\nthumb: /img/big.jpg\nthumb_alt: Noise\n---\nx\n")
    sent(site, mastodon_peer, password)

    [image] = the_record(reader, did).embed.images
    assert image.image.size <= BLOB_LIMIT and image.image.mime_type == "image/jpeg"
    ratio = image.aspect_ratio
    assert ratio.width * 3 == ratio.height * 4 and ratio.width <= 2000
    got = blob(reader, did, image)
    assert len(got) == image.image.size <= BLOB_LIMIT
    assert size_of(got) == (ratio.width, ratio.height) and not has_gps(got)

    [stored] = media_bytes(the_status(api))
    assert size_of(stored) == (4000, 3000) and not has_gps(stored)  # Mastodon takes it whole, but not where


def test_mastodon_gets_an_image_within_the_pixels_its_instance_names(
    site: Site, mastodon_peer: MastodonMock, both: tuple[str, str], api: Mastodon, reader: Client
) -> None:
    """mastodon-mock says 16,777,216 pixels (Mastodon's default is twice that): a 20-megapixel image
    is made smaller for it, keeping its shape, and is never made larger for Bluesky."""
    password, did = both
    static(site, "wide.png", encode(Image.new("RGB", (5000, 4000), (10, 90, 200)), "PNG"))
    static(site, "tiny.png", encode(Image.new("RGB", (40, 30), (200, 90, 10)), "PNG"))
    site.post("wide.md", "---\ntitle: Wide\ndate: 2024-06-01\nthumb: /img/wide.png\n---\n![tiny](/img/tiny.png)\n")
    sent(site, mastodon_peer, password)

    wide, tiny = (size_of(data) for data in media_bytes(the_status(api)))
    assert wide[0] * wide[1] <= MOCK_IMAGE_PIXELS and wide[0] * wide[1] > 0.99 * MOCK_IMAGE_PIXELS
    assert abs(wide[0] / wide[1] - 5 / 4) < 0.001
    assert tiny == (40, 30)  # never upscaled
    images = the_record(reader, did).embed.images
    assert [(i.aspect_ratio.width, i.aspect_ratio.height) for i in images] == [(2000, 1600), (40, 30)]


def test_a_broken_image_is_left_out_with_a_warning_and_the_post_still_goes(
    site: Site, mastodon_peer: MastodonMock, both: tuple[str, str], api: Mastodon, reader: Client
) -> None:
    password, did = both
    four_images(site)
    whole = encode(Image.frombytes("RGB", (64, 64), random.Random(1).randbytes(64 * 64 * 3)), "PNG")
    static(site, "broken.png", whole[: len(whole) // 2])  # cut off halfway through
    static(site, "notes.png", b"not an image at all\n")
    body = "![Broken](/img/broken.png)\n\n![Notes](/img/notes.png)\n\n![A green square](/img/one.png)\n"
    site.post("mixed.md", POST.split("A walk.\n")[0] + body)
    out = sent(site, mastodon_peer, password)

    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, out  # once each, though two networks wanted them
    broken, notes = sorted(warnings)
    assert broken.startswith("warning: content/mixed.md: image https://example.com/img/broken.png left out: ")
    assert "broken image" in broken
    assert notes.startswith("warning: content/mixed.md: image https://example.com/img/notes.png left out: ")
    assert "not an image" in notes
    assert [m["description"] for m in the_status(api)["media_attachments"]] == [ALTS[0], "A green square"]
    assert [i.alt for i in the_record(reader, did).embed.images] == [ALTS[0], "A green square"]


def test_an_image_the_instance_refuses_is_left_out_with_a_warning(
    site: Site, mastodon_peer: MastodonMock, both: tuple[str, str], api: Mastodon
) -> None:
    password, _ = both
    four_images(site)
    site.post("walk.md", POST)
    mastodon_peer.fail_next(422, path="/api/v2/media")  # the first upload: the thumbnail
    out = sent(site, mastodon_peer, password)
    assert "warning: content/walk.md: image https://example.com/img/thumb.png left out: the instance refused it" in out
    assert "(HTTP 422" in out
    assert [m["description"] for m in the_status(api)["media_attachments"]] == ALTS[1:]


@pytest.mark.parametrize("count", [0, 1, 2])
def test_the_images_key_sets_how_many_go(
    site: Site, mastodon_peer: MastodonMock, both: tuple[str, str], api: Mastodon, reader: Client, count: int
) -> None:
    password, did = both
    reconfigure(site, f"images = {count}", f"images = {count}")
    four_images(site)
    site.post("walk.md", POST)
    sent(site, mastodon_peer, password)

    assert [m["description"] for m in the_status(api)["media_attachments"]] == ALTS[:count]
    embed = the_record(reader, did).embed
    if count == 0:  # no images: the link card, without a thumbnail
        assert embed.py_type == "app.bsky.embed.external" and embed.external.thumb is None
        assert embed.external.uri == "https://example.com/blog/walk/"
    else:
        assert [i.alt for i in embed.images] == ALTS[:count]


def test_no_alt_text_is_made_up(
    site: Site, mastodon_peer: MastodonMock, both: tuple[str, str], api: Mastodon, reader: Client
) -> None:
    password, did = both
    four_images(site)
    site.post("bare.md", "---\ntitle: A title is not a description\ndate: 2024-06-01\nthumb: /img/thumb.png\n---\nx\n")
    sent(site, mastodon_peer, password)
    assert [m["description"] for m in the_status(api)["media_attachments"]] == [None]
    assert [i.alt for i in the_record(reader, did).embed.images] == [""]


def test_a_template_without_the_link_keeps_the_card_with_the_first_image(
    site: Site, mastodon_peer: MastodonMock, both: tuple[str, str], reader: Client
) -> None:
    """Bluesky takes images or a link card, not both: without ``{url}`` in the text the card stays,
    else the post would not link to the article at all."""
    password, did = both
    reconfigure(site, sky='template = "{title}"')
    four_images(site)
    site.post("walk.md", POST)
    sent(site, mastodon_peer, password)
    embed = the_record(reader, did).embed
    assert embed.py_type == "app.bsky.embed.external" and embed.external.uri == "https://example.com/blog/walk/"
    assert embed.external.thumb is not None and embed.external.thumb.size <= BLOB_LIMIT


def test_a_retry_after_an_unknown_outcome_recognises_its_record_with_images(
    site: Site, mastodon_peer: MastodonMock, both: tuple[str, str], reader: Client
) -> None:
    """A record with images has no card to say which post it is: the link facet in its text does."""
    password, did = both
    four_images(site)
    site.post("walk.md", POST)
    sent(site, mastodon_peer, password)
    db = sqlite3.connect(site.root / ".syndicate" / "state.db")
    with db:  # as if the process died after createRecord but before recording it
        db.execute("UPDATE deliveries SET state='sending', remote_id=NULL WHERE target='sky'")
    db.close()
    code, out = publish(site, mastodon_peer, password)
    assert code == 0 and "sent    sky" in out and "new key" not in out, out
    out_records = reader.com.atproto.repo.list_records({"repo": did, "collection": "app.bsky.feed.post"})
    assert len(out_records.records) == 1


def test_changing_an_images_alt_text_edits_the_status(
    site: Site, mastodon_peer: MastodonMock, both: tuple[str, str], api: Mastodon
) -> None:
    password, _ = both
    four_images(site)
    site.post("walk.md", POST)
    sent(site, mastodon_peer, password)
    site.post("walk.md", POST.replace("A tall grey bar", "A tall grey bar, on white"))
    code, out = publish(site, mastodon_peer, password)
    assert code == 0 and "sent    masto  post.updated" in out and "status edited" in out, out
    site.post("walk.md", POST.replace("A tall grey bar", "A tall grey bar, on white").replace("Then", "And then"))
    code, out = publish(site, mastodon_peer, password)
    assert code == 0 and "masto" not in out, out  # the body's words alone: no edit


SETTINGS = parse_settings(
    '[site]\ntitle = "T"\nurl = "https://example.com/"\nauthor = "A"\n\n'
    '[[targets]]\nname = "all"\nkind = "mastodon"\ninstance = "https://m.example"\ntoken_env = "T"\n\n'
    '[[targets]]\nname = "one"\nkind = "bluesky"\nhandle = "a.example.com"\npassword_env = "P"\nimages = 1\n'
)


def digests(text: str) -> tuple[str, str]:
    post = parse_post("content/p.md", text.encode(), SETTINGS).post
    assert post is not None
    return social_digest(post, SETTINGS.targets[0]), social_digest(post, SETTINGS.targets[1])


def test_the_social_digest_sees_the_images_a_target_is_sent() -> None:
    """An image's URL or alt text is part of what a status shows; an image the target is not sent is not."""
    before_all, before_one = digests(POST)
    assert digests(POST) == (before_all, before_one)  # stable
    after_all, after_one = digests(POST.replace("A tall grey bar", "A grey bar"))
    assert after_all != before_all and after_one == before_one
    moved_all, moved_one = digests(POST.replace("/img/one.png", "/img/one-v2.png"))
    assert moved_all != before_all and moved_one == before_one
    thumb_all, thumb_one = digests(POST.replace("thumb_alt: The thumbnail", "thumb_alt: Our thumbnail"))
    assert thumb_all != before_all and thumb_one != before_one


@pytest.mark.parametrize("value", ["5", "-1", "true", '"2"', "1.5"])
def test_images_must_be_a_whole_number_from_0_to_4(site: Site, value: str) -> None:
    site.config(
        CONFIG + f'\n[[targets]]\nname = "masto"\nkind = "mastodon"\ninstance = "https://m.example"\n'
        f'token_env = "T"\nimages = {value}\n'
    )
    run = site.run("check")
    assert run.code != 0
    assert "[[targets]] 'masto': images must be a whole number from 0 to 4" in run.out + run.err


def test_check_warns_of_images_without_alt_text_in_posts_still_to_be_sent(site: Site) -> None:
    site.config(
        CONFIG
        + """
[content]
static = "static"

[[targets]]
name = "masto"
kind = "mastodon"
instance = "https://mastodon.example"
token_env = "MASTODON_TOKEN"
"""
    )
    static(site, "img/thumb.png", encode(Image.new("RGB", (30, 20), "red"), "PNG"))
    static(site, "img/a.png", encode(Image.new("RGB", (30, 20), "green"), "PNG"))
    site.post(
        "x.md",
        "---\ntitle: No words\ndate: 2024-06-01\nthumb: /img/thumb.png\n---\n![](/img/a.png)\n\n![Said](/img/b.png)\n",
    )
    run = site.run("check")
    assert run.code == 0, run  # a warning, not an error: the post still goes
    lines = [line for line in run.err.splitlines() if "has no alt text" in line]
    assert len(lines) == 2, run.err
    assert "content/x.md" in lines[0] and "warning" in lines[0]
    assert any("https://example.com/img/thumb.png" in line and "thumb_alt" in line for line in lines)
    assert any("https://example.com/img/a.png" in line and "![what it shows]" in line for line in lines)
    assert not any("/img/b.png" in line for line in lines)
