"""Which images a social post carries: the thumbnail, then the post's own ``<img>``s. Pure.

Mastodon takes 4 attachments and Bluesky 4 images, each with its alt text. The thumbnail comes
first (it is what the author chose to represent the post), then every ``<img>`` of the post's
HTML in document order. A ``src`` is resolved against the post's URL, as a browser would; only
``http``/``https`` results are kept (``data:`` images cannot be fetched and ``javascript:`` is not
an image); the same URL twice is one image (the fragment does not count, a fetch never sends it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

SOCIAL_IMAGE_LIMIT = 4  # Mastodon's attachments and Bluesky's images per post
_HTML_SPACE = " \t\n\r\f"  # what browsers strip around a URL attribute


@dataclass(frozen=True)
class SocialImage:
    """An image to attach: an absolute http(s) URL and its alt text (None when the author gave none)."""

    url: str
    alt: str | None


class _Images(HTMLParser):
    """Collects ``(src, alt)`` of every ``<img>`` in document order (the first of duplicate attributes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "img":
            return
        values: dict[str, str | None] = {}
        for name, value in attrs:
            values.setdefault(name, value)
        src = values.get("src")
        if src:
            self.found.append((src, values.get("alt")))


def _img_tags(html: str) -> list[tuple[str, str | None]]:
    """The ``(src, alt)`` pairs of ``html``'s ``<img>`` tags, whatever the markup."""
    # Nothing after the last ">" can hold a whole tag, and html.parser re-scans an unclosed tag
    # to the end of its input for every "<" in it: "<a " * 20000 took 51 s, trimmed it takes 0.05 s.
    html = html[: html.rfind(">") + 1]
    parser = _Images()
    try:
        parser.feed(html)
        parser.close()
    except AssertionError:  # Python < 3.13: "<![x[" is "unknown status keyword"; keep what came before
        pass
    return parser.found


def _clean_alt(alt: str | None) -> str | None:
    """Alt text with its whitespace collapsed; None when nothing is left."""
    text = " ".join((alt or "").split())
    return text or None


def _resolve(src: str, base_url: str) -> str | None:
    """``src`` as an absolute http(s) URL without fragment, or None when it is no such URL."""
    src = src.strip(_HTML_SPACE)
    if not src:  # src="" would be the post's own page
        return None
    try:
        url = urldefrag(urljoin(base_url, src)).url
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:  # "http://[::1" (invalid IPv6 literal), a port out of range
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def post_images(
    html: str,
    base_url: str,
    thumbnail_url: str | None,
    thumbnail_alt: str | None,
    limit: int = SOCIAL_IMAGE_LIMIT,
) -> tuple[SocialImage, ...]:
    """The images of a post, thumbnail first, then its ``<img>``s in order; each URL once, at most ``limit``."""
    candidates: list[tuple[str, str | None]] = []
    if thumbnail_url:
        candidates.append((thumbnail_url, thumbnail_alt))
    candidates.extend(_img_tags(html))
    images: list[SocialImage] = []
    seen: set[str] = set()
    for src, alt in candidates:
        if len(images) >= limit:
            break
        url = _resolve(src, base_url)
        if url is None or url in seen:
            continue
        seen.add(url)
        images.append(SocialImage(url, _clean_alt(alt)))
    return tuple(images)


def missing_alt(images: Iterable[SocialImage]) -> list[str]:
    """The URLs of the images without alt text (``syndicate check`` warns: screen readers get nothing)."""
    return [image.url for image in images if image.alt is None]
