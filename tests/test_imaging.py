"""A post's images for Mastodon and Bluesky: which ones (core.images), and each made fit to post
(deliver.imaging): small enough, upright, never enlarged, no EXIF or GPS left, or one ImageRejected.

Every image here is made by Pillow in memory; the decompression bombs are written by hand (a 1-bit
PNG of 30000x30000 whose rows of zeros compress to ~100 KB), since Pillow would need 900 MB to make one.
"""

from __future__ import annotations

import io
import random
import struct
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from syndicate.core.images import SocialImage, missing_alt, post_images
from syndicate.deliver.imaging import MAX_PIXELS, Fitted, ImageRejected, fit_image

BASE = "https://example.com/blog/post/"
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def encode(image: Image.Image, format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def decoded(fitted: Fitted) -> Image.Image:
    """The fitted image as a reader decodes it; its bytes, type and size are what ``fitted`` says."""
    image = Image.open(io.BytesIO(fitted.data))
    image.load()
    assert image.format == {"image/jpeg": "JPEG", "image/png": "PNG"}[fitted.mime_type]
    assert image.size == (fitted.width, fitted.height)
    return image


def noise(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    """Random pixels: the worst case for a JPEG encoder (nothing to smooth away at full size)."""
    channels = len(mode)
    return Image.frombytes(mode, size, random.Random(seed).randbytes(size[0] * size[1] * channels))


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit grey PNG of ``width`` x ``height`` zeros, written row by row (compresses ~1000:1)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed pixels
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def dominant(pixel: object) -> str:
    assert isinstance(pixel, tuple)
    return "RGB"[max(range(3), key=lambda i: pixel[i])]


@pytest.fixture(scope="module")
def photo() -> bytes:
    """A 12-megapixel photo of noise saved at JPEG quality 95: ~14 MB."""
    return encode(noise((4000, 3000)), "JPEG", quality=95)


# --------------------------------------------------------------------------------------------------
# fit_image: size
# --------------------------------------------------------------------------------------------------


def test_a_big_photo_fits_in_a_megabyte_keeping_its_aspect_ratio(photo: bytes) -> None:
    assert len(photo) > 4_000_000
    started = time.perf_counter()
    fitted = fit_image(photo, max_bytes=1_000_000)
    elapsed = time.perf_counter() - started
    assert fitted.mime_type == "image/jpeg"
    assert len(fitted.data) <= 1_000_000
    assert len(fitted.data) > 850_000, "shrunk far more than the limit asked"  # 925,435 bytes, 2328x1746
    assert fitted.width < 4000
    assert fitted.width / fitted.height == pytest.approx(4000 / 3000, rel=0.01)
    decoded(fitted)
    assert elapsed < 30


def test_max_side_and_max_pixels_are_respected_with_the_aspect_ratio(photo: bytes) -> None:
    fitted = fit_image(photo, max_bytes=10_000_000, max_side=1000)
    assert (fitted.width, fitted.height) == (1000, 750)
    fitted = fit_image(encode(noise((3000, 1000)), "PNG"), max_bytes=10_000_000, max_pixels=300_000)
    assert 0.98 * 300_000 < fitted.width * fitted.height <= 300_000
    assert fitted.width / fitted.height == pytest.approx(3, rel=0.01)
    decoded(fitted)


def test_max_side_applies_to_the_upright_image() -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored 300x100, shown 100x300
    fitted = fit_image(encode(noise((300, 100)), "JPEG", exif=exif), max_bytes=10_000_000, max_side=150)
    assert (fitted.width, fitted.height) == (50, 150)


def test_a_small_image_is_never_enlarged() -> None:
    fitted = fit_image(encode(noise((100, 80)), "PNG"), max_bytes=50_000_000, max_pixels=10_000_000, max_side=4000)
    assert (fitted.width, fitted.height) == (100, 80)
    assert decoded(fitted).size == (100, 80)


def test_an_image_that_fits_as_it_is_keeps_its_size_but_is_encoded_again() -> None:
    original = encode(noise((64, 48)), "JPEG", quality=95)
    fitted = fit_image(original, max_bytes=len(original) * 10)
    assert (fitted.width, fitted.height) == (64, 48)
    assert fitted.data != original


def test_an_impossible_limit_is_refused_not_looped_on() -> None:
    with pytest.raises(ImageRejected, match="cannot be made as small as 100 bytes"):
        fit_image(encode(noise((200, 200)), "PNG"), max_bytes=100)


@pytest.mark.parametrize(
    "limits", [{"max_bytes": 0}, {"max_bytes": 1000, "max_side": 0}, {"max_bytes": 1, "max_pixels": -1}]
)
def test_nonsense_limits_are_a_programming_error(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        fit_image(encode(noise((10, 10)), "PNG"), **limits)


# --------------------------------------------------------------------------------------------------
# fit_image: orientation and metadata
# --------------------------------------------------------------------------------------------------


def test_exif_orientation_is_applied_and_no_gps_or_other_metadata_survives() -> None:
    stored = Image.new("RGB", (120, 80), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 30, 30))  # red in the stored top-left corner
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # "rotate 90° clockwise to show"
    exif[0x010F] = "CameraMaker"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 29.5), 3: "E", 4: (2.0, 17.0, 40.2)})
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>48,51.49N</exif:GPSLatitude></x:xmpmeta>'
    original = encode(stored, "JPEG", quality=95, exif=exif, xmp=xmp, comment="shot at home")
    before = Image.open(io.BytesIO(original))
    assert before.getexif().get_ifd(GPS_IFD)[2] == (48.0, 51.0, 29.5)  # the GPS position is really there
    assert before.getexif()[ORIENTATION] == 6 and "xmp" in before.info and "comment" in before.info

    fitted = fit_image(original, max_bytes=1_000_000)

    after = decoded(fitted)
    assert (fitted.width, fitted.height) == (80, 120)  # width and height swapped vs stored
    assert dominant(after.getpixel((fitted.width - 10, 10))) == "R"  # stored top-left is now top-right
    assert dominant(after.getpixel((10, 10))) == "B"
    exif_after = after.getexif()
    assert GPS_IFD not in exif_after and ORIENTATION not in exif_after and not exif_after.get_ifd(GPS_IFD)
    assert len(exif_after) == 0
    assert not {"exif", "xmp", "comment", "icc_profile"} & set(after.info)
    for secret in (b"Exif\x00\x00", b"CameraMaker", b"GPSLatitude", b"shot at home"):
        assert secret not in fitted.data


def test_an_icc_profile_is_applied_to_the_pixels_then_dropped() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    fitted = fit_image(encode(Image.new("RGB", (40, 40), (200, 30, 30)), "PNG", icc_profile=srgb), max_bytes=10**6)
    after = decoded(fitted)
    assert "icc_profile" not in after.info
    pixel = after.getpixel((20, 20))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 8 for a, b in zip(pixel, (200, 30, 30), strict=True))


def test_a_broken_icc_profile_does_not_reject_the_pixels() -> None:
    original = encode(Image.new("RGB", (40, 40), (10, 200, 10)), "PNG", icc_profile=b"not a profile at all")
    assert Image.open(io.BytesIO(original)).info["icc_profile"] == b"not a profile at all"
    after = decoded(fit_image(original, max_bytes=10**6))
    assert "icc_profile" not in after.info and dominant(after.getpixel((20, 20))) == "G"


# --------------------------------------------------------------------------------------------------
# fit_image: transparency and modes
# --------------------------------------------------------------------------------------------------


def half_transparent(size: tuple[int, int], right: Image.Image | None = None) -> Image.Image:
    image = Image.new("RGBA", size, (0, 0, 0, 0))  # left half: transparent black
    image.paste(right or Image.new("RGBA", (size[0] // 2, size[1]), (0, 0, 255, 255)), (size[0] // 2, 0))
    return image


def test_a_transparent_png_stays_a_transparent_png_when_it_fits() -> None:
    fitted = fit_image(encode(half_transparent((200, 100)), "PNG"), max_bytes=1_000_000)
    assert fitted.mime_type == "image/png"
    after = decoded(fitted).convert("RGBA")
    assert after.getpixel((10, 50))[3] == 0  # type: ignore[index]
    assert after.getpixel((190, 50)) == (0, 0, 255, 255)


def test_a_transparent_png_too_big_for_png_is_flattened_on_white_into_a_jpeg() -> None:
    image = half_transparent((1000, 600), right=noise((500, 600), "RGBA").convert("RGB").convert("RGBA"))
    original = encode(image, "PNG")
    assert len(original) > 400_000
    fitted = fit_image(original, max_bytes=400_000)
    assert fitted.mime_type == "image/jpeg" and len(fitted.data) <= 400_000
    left = decoded(fitted).convert("RGB").getpixel((5, 5))
    assert isinstance(left, tuple) and min(left) > 240  # white, not the transparent pixels' black


def test_an_opaque_rgba_png_becomes_a_jpeg() -> None:
    fitted = fit_image(encode(Image.new("RGBA", (50, 50), (1, 2, 3, 255)), "PNG"), max_bytes=10**6)
    assert fitted.mime_type == "image/jpeg"


def gif_animation() -> bytes:
    frames = [Image.new("P", (30, 20), 0), Image.new("P", (30, 20), 1)]
    palette = [255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6)  # 0 = red, 1 = blue
    for frame in frames:
        frame.putpalette(palette)
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (30, 20), (255, 0, 0, 0)), "JPEG")  # pure cyan


def grey16_png() -> bytes:
    return encode(Image.new("I;16", (30, 20), 40000), "PNG")


def palette_with_transparency() -> bytes:
    image = Image.new("P", (30, 20), 0)
    image.putpalette([0, 255, 0, 9, 9, 9] + [0] * (256 * 3 - 6))
    image.paste(1, (0, 0, 15, 20))
    return encode(image, "PNG", transparency=1)


@pytest.mark.parametrize(
    ("make", "mime_type", "mode", "pixel"),
    [
        (gif_animation, "image/jpeg", "RGB", lambda p: dominant(p) == "R"),  # the first frame
        (cmyk_jpeg, "image/jpeg", "RGB", lambda p: p[0] < 60 and p[1] > 200 and p[2] > 200),
        (grey16_png, "image/jpeg", "L", lambda p: abs(p - 40000 // 256) <= 2),  # scaled, not clipped at 255
        (lambda: encode(Image.new("1", (30, 20), 1), "PNG"), "image/jpeg", "L", lambda p: p > 250),
        (lambda: encode(Image.new("L", (30, 20), 77), "JPEG"), "image/jpeg", "L", lambda p: abs(p - 77) <= 2),
        (lambda: encode(Image.new("LA", (30, 20), (90, 0)), "PNG"), "image/png", "RGBA", lambda p: p[3] == 0),
        (palette_with_transparency, "image/png", "RGBA", lambda p: p[3] == 0),
        (
            lambda: encode(Image.new("RGB", (30, 20), (0, 0, 250)), "WEBP"),
            "image/jpeg",
            "RGB",
            lambda p: dominant(p) == "B",
        ),
    ],
    ids=["animated-gif", "cmyk-jpeg", "grey16-png", "1-bit-png", "grey-jpeg", "la-png", "palette-trns-png", "webp"],
)
def test_every_mode_becomes_rgb_grey_or_rgba(
    make: Callable[[], bytes], mime_type: str, mode: str, pixel: Callable[[object], bool]
) -> None:
    fitted = fit_image(make(), max_bytes=1_000_000)
    after = decoded(fitted)
    assert (fitted.mime_type, after.mode, (fitted.width, fitted.height)) == (mime_type, mode, (30, 20))
    assert pixel(after.getpixel((5, 5)))


# --------------------------------------------------------------------------------------------------
# fit_image: what is refused, and how
# --------------------------------------------------------------------------------------------------


def rejected(data: bytes) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageRejected) as info:
            fit_image(data, max_bytes=1_000_000)
    assert caught == [], [str(w.message) for w in caught]
    message = str(info.value)
    assert message and "\n" not in message and len(message) < 200
    return message


def test_truncated_random_and_text_bytes_are_rejected(tmp_path: Path) -> None:
    jpeg = encode(noise((300, 200)), "JPEG")
    assert "broken" in rejected(jpeg[: len(jpeg) // 2])  # "image file is truncated"
    png = encode(noise((300, 200)), "PNG")
    assert "broken" in rejected(png[: len(png) // 2])
    assert "not an image" in rejected(random.Random(1).randbytes(5000))
    assert "not an image" in rejected(b"")
    text = tmp_path / "notes.txt"
    text.write_text("Not a picture, just words.\n" * 50, encoding="utf-8")
    assert "not an image" in rejected(text.read_bytes())


def test_formats_syndicate_does_not_post_are_not_decoded() -> None:
    for format in ("BMP", "TIFF", "PPM"):
        assert "not an image" in rejected(encode(Image.new("RGB", (10, 10)), format))


@pytest.mark.parametrize(
    ("width", "height"),
    [(30000, 30000), (10000, 10000), (8000, 7000)],
    ids=["pillow-error-900MP", "pillow-warning-100MP", "our-cap-56MP"],
)
def test_decompression_bombs_are_refused_before_decoding_without_a_warning(width: int, height: int) -> None:
    bomb = bomb_png(width, height)
    assert len(bomb) < 200_000 and width * height > MAX_PIXELS
    header = Image.open(io.BytesIO(bomb), formats=["PNG"]) if width * height < 89_000_000 else None
    assert header is None or header.size == (width, height)  # a well-formed PNG of that size
    started = time.perf_counter()
    assert "too many pixels" in rejected(bomb)
    assert time.perf_counter() - started < 5  # decoding it would take far longer (and up to 900 MB)


def test_an_image_just_under_the_pixel_cap_is_read() -> None:
    fitted = fit_image(bomb_png(5000, 4000), max_bytes=1_000_000, max_side=500)
    assert (fitted.width, fitted.height) == (500, 400)


def small_images() -> list[bytes]:
    image = noise((16, 12))
    return [encode(image, "PNG"), encode(image, "JPEG"), encode(image.convert("P"), "GIF"), encode(image, "WEBP")]


SEEDS = small_images()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(which=0, cut=8, flips=[])  # the PNG signature alone
@example(which=1, cut=2, flips=[])  # a JPEG's first marker only
@given(
    which=st.integers(0, len(SEEDS) - 1),
    cut=st.integers(0, 2000),
    flips=st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 255)), max_size=6),
)
def test_a_damaged_image_is_fitted_or_rejected_never_anything_else(
    which: int, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(SEEDS[which][: max(cut, 1)])
    for at, mask in flips:
        if at < len(data):
            data[at] ^= mask
    try:
        fitted = fit_image(bytes(data), max_bytes=100_000)
    except ImageRejected as e:
        assert "\n" not in str(e)
    else:
        assert len(fitted.data) <= 100_000
        decoded(fitted)


# --------------------------------------------------------------------------------------------------
# core.images: which images a post carries
# --------------------------------------------------------------------------------------------------


def urls(images: tuple[SocialImage, ...]) -> list[str]:
    return [image.url for image in images]


def test_the_thumbnail_comes_first_then_the_images_in_document_order() -> None:
    html = '<p><img src="/b.png" alt="B"></p><figure><IMG SRC="c.jpg" ALT="C"/></figure><img alt="D" src="d.gif">'
    images = post_images(html, BASE, "https://cdn.example.net/a.jpg", "A")
    assert images == (
        SocialImage("https://cdn.example.net/a.jpg", "A"),
        SocialImage("https://example.com/b.png", "B"),
        SocialImage("https://example.com/blog/post/c.jpg", "C"),
        SocialImage("https://example.com/blog/post/d.gif", "D"),
    )


def test_relative_urls_resolve_against_the_post() -> None:
    html = '<img src="x.png"><img src="../y.png"><img src="/z.png"><img src="//cdn.example.net/w.png">'
    html += '<img src=" \n spaced.png \t"><img src="q.png?size=2">'
    assert urls(post_images(html, BASE, None, None, limit=10)) == [
        "https://example.com/blog/post/x.png",
        "https://example.com/blog/y.png",
        "https://example.com/z.png",
        "https://cdn.example.net/w.png",
        "https://example.com/blog/post/spaced.png",
        "https://example.com/blog/post/q.png?size=2",
    ]


def test_the_same_image_twice_is_one_image_the_first() -> None:
    html = (
        '<img src="https://example.com/blog/post/a.png" alt="again">'  # the thumbnail, absolute
        '<img src="b.png" alt="first b"><img src="/blog/post/b.png" alt="second b">'
        '<img src="b.png#zoom" alt="b with a fragment"><img src="c.png"><img src="c.png" alt="late alt">'
    )
    images = post_images(html, BASE, "a.png", "thumb", limit=10)
    assert images == (
        SocialImage("https://example.com/blog/post/a.png", "thumb"),
        SocialImage("https://example.com/blog/post/b.png", "first b"),
        SocialImage("https://example.com/blog/post/c.png", None),
    )


def test_only_http_and_https_images_are_kept() -> None:
    html = "".join(
        f'<img src="{src}">'
        for src in (
            "data:image/png;base64,iVBORw0KGgo=",
            "javascript:alert(1)",
            "mailto:me@example.com",
            "ftp://example.com/a.png",
            "file:///etc/passwd",
            "http://[::1",  # urljoin raises ValueError on it
            "http://example.com:99999/a.png",  # a port out of range
            "http:///no-host.png",
            "",
            "   ",
            "http://example.org/kept.png",
        )
    )
    html += '<img alt="no src"><img srcset="s.png 2x"><!-- <img src="commented.png"> -->'
    assert urls(post_images(html, BASE, "data:image/gif;base64,R0lGOD", "thumb")) == ["http://example.org/kept.png"]


def test_at_most_limit_images() -> None:
    html = "".join(f'<img src="{n}.png">' for n in range(10))
    assert len(post_images(html, BASE, "t.png", None)) == 4
    assert urls(post_images(html, BASE, "t.png", None, limit=2)) == [BASE + "t.png", BASE + "0.png"]
    assert post_images(html, BASE, "t.png", None, limit=0) == ()
    assert post_images(html, BASE, "t.png", None, limit=-1) == ()


def test_alt_text_is_collapsed_and_empty_alt_is_none() -> None:
    html = (
        '<img src="1.png" alt="  A  cat\n on\ta   mat ">'
        '<img src="2.png" alt=""><img src="3.png" alt=" \n\t "><img src="4.png">'
        '<img src="5.png" alt="Tom &amp; Jerry&#x27;s"><img src="6.png" alt>'
    )
    images = post_images(html, BASE, "0.png", "  the\n\nthumbnail ", limit=10)
    assert [image.alt for image in images] == [
        "the thumbnail",
        "A cat on a mat",
        None,
        None,
        None,
        "Tom & Jerry's",
        None,
    ]
    assert post_images("", BASE, "0.png", "   ", limit=1)[0].alt is None


def test_the_first_of_duplicate_attributes_counts() -> None:
    assert post_images('<img src="a.png" alt="one" src="b.png" alt="two">', BASE, None, None) == (
        SocialImage(BASE + "a.png", "one"),
    )


def test_missing_alt_lists_the_images_without_alt_text_in_order() -> None:
    images = post_images('<img src="a.png"><img src="b.png" alt="B"><img src="c.png" alt=" ">', BASE, "t.png", None)
    assert missing_alt(images) == [BASE + "t.png", BASE + "a.png", BASE + "c.png"]
    assert missing_alt([SocialImage("https://example.com/x.png", "fine")]) == []


def test_markup_that_trips_html_parser_keeps_the_images_before_it() -> None:
    # Python < 3.13 raises AssertionError ("unknown status keyword") from inside HTMLParser on "<![x[".
    assert urls(post_images('<img src="a.png"><![x[ <img src="b.png">', BASE, None, None))[:1] == [BASE + "a.png"]


def test_an_unclosed_tag_at_the_end_does_not_take_quadratic_time() -> None:
    started = time.perf_counter()
    images = post_images('<img src="a.png" alt="A">' + "<a " * 20000, BASE, None, None)
    assert time.perf_counter() - started < 5  # 51 s without trimming the tail (Python 3.11's html.parser)
    assert images == (SocialImage(BASE + "a.png", "A"),)
    huge = "x" * 1_000_000
    images = post_images(f'<img alt="{huge}" src="{huge}.png">', BASE, None, None)
    assert images == (SocialImage(BASE + huge + ".png", huge),)


html_pieces = st.sampled_from(
    [
        "<img", "<IMG", " src=", " alt=", " srcset=", "'", '"', "=", ">", "/>", "<", "</img>", "<p>", "<!--", "-->",
        "<![", "<![CDATA[", "]]>", "<!x", "<?", "&amp;", "&#0;", "&#x110000;", "&", " ", "\n", "\t", "\x00",
        "a.png", "/b.png", "//c.example/d.png", "../e.png", "data:image/png;base64,AA", "javascript:x",
        "http://[::1", "https://example.org/f.png", "http:", "#frag", "?q=1", ":99999", "日本", "\ud800",
    ]
)  # fmt: skip
markup = st.one_of(st.text(), st.lists(st.one_of(html_pieces, st.text(max_size=5)), max_size=60).map("".join))
bases = st.one_of(st.sampled_from([BASE, "https://example.com", "", "http://[::1", "mailto:x"]), st.text(max_size=30))


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@example(html="<![x[", base=BASE, thumb=None, alt=None, limit=4)
@example(html='<img src="http://[::1">', base=BASE, thumb="http://[::1", alt=None, limit=4)
@given(
    html=markup,
    base=bases,
    thumb=st.one_of(st.none(), markup),
    alt=st.one_of(st.none(), st.text()),
    limit=st.integers(-2, 6),
)
def test_any_markup_gives_unique_http_images_within_the_limit(
    html: str, base: str, thumb: str | None, alt: str | None, limit: int
) -> None:
    images = post_images(html, base, thumb, alt, limit=limit)
    assert len(images) <= max(limit, 0)
    assert len({image.url for image in images}) == len(images)
    for image in images:
        assert image.url.startswith(("http://", "https://")) and "#" not in image.url
        assert image.alt is None or (image.alt == " ".join(image.alt.split()) and image.alt)
    assert missing_alt(images) == [image.url for image in images if image.alt is None]
