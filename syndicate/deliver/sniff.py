"""What an image is, told from its bytes (never from its URL or Content-Type): JPEG, PNG, GIF,
WebP or AVIF, the types Mastodon and Bluesky accept. Pure."""

from __future__ import annotations

from typing import NamedTuple

IMAGE_TYPES: frozenset[str] = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"})


class Fetched(NamedTuple):
    """An image's bytes and the type sniffed from them."""

    data: bytes
    mime_type: str  # sniffed from the bytes, never from the URL


_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def _is_avif(data: bytes) -> bool:
    """An ISO BMFF file whose leading ``ftyp`` box has major or compatible brand ``avif``/``avis``."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    size = int.from_bytes(data[0:4], "big")
    header = 8
    if size == 1:  # 64-bit "largesize" follows the type
        size = int.from_bytes(data[8:16], "big")
        header = 16
    elif size == 0:  # the box extends to the end of the file
        size = len(data)
    if size < header + 8 or size > len(data):
        return False
    major = data[header : header + 4]
    compatible = (data[i : i + 4] for i in range(header + 8, size - 3, 4))
    return major in _AVIF_BRANDS or any(brand in _AVIF_BRANDS for brand in compatible)


def sniff_image(data: bytes) -> str | None:
    """The MIME type of ``data`` from its magic bytes, if it is a JPEG, PNG, GIF, WebP or AVIF image; else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if _is_avif(data):
        return "image/avif"
    return None
