"""Tag names and post slugs → URL- and file-system-safe path segments. Pure.

A tag slug is readable ("Machine Learning" → "machine-learning"), keeps non-Latin letters
as they are ("Über" → "über", "日本語" → "日本語"; they are percent-encoded in URLs), and
spells out the symbols that tell tags apart ("C++" → "c-plus-plus", "C#" → "c-sharp"). It
never contains "/", "\\", a leading ".", or "..", so it can never leave the folder it is
joined to.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote

SYMBOLS = {
    "+": "plus",
    "#": "sharp",
    "&": "and",
    "@": "at",
    "%": "percent",
    "*": "star",
    "=": "equals",
    "$": "dollar",
    "€": "euro",
    "£": "pound",
    "/": "slash",
    "<": "lt",
    ">": "gt",
    "|": "pipe",
    "~": "tilde",
    "^": "caret",
}
_SEPARATORS = set(" \t\n\r-_·–—")
MAX_SLUG = 80


def _h(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


@lru_cache(maxsize=1 << 16)
def tag_key(tag: str) -> str:
    """How tags compare: "AI", "ai" and " Ai " are one tag."""
    return " ".join(unicodedata.normalize("NFKC", tag).casefold().split())


@lru_cache(maxsize=1 << 16)
def tag_slug(tag: str) -> str:
    """The readable slug of one tag (collisions are settled by :func:`assign_tag_slugs`)."""
    text = tag_key(tag)
    parts: list[str] = []
    word: list[str] = []

    def flush() -> None:
        if word:
            parts.append("".join(word))
            word.clear()

    for i, ch in enumerate(text):
        cat = unicodedata.category(ch)
        if cat[0] in "LN" or cat == "Mn" or cat == "Mc":
            word.append(ch)
        elif ch == "." and word and i + 1 < len(text) and text[i + 1].isalnum():
            word.append(ch)  # "node.js", "web3.0"; never a leading "." or ".."
        elif ch in _SEPARATORS or cat[0] in "ZC":
            flush()
        elif ch in SYMBOLS:
            flush()
            parts.append(SYMBOLS[ch])
        elif cat[0] in "PS":
            flush()
            if cat[0] == "S":
                parts.append(f"u{ord(ch):x}")
        else:
            flush()
    flush()
    slug = "-".join(p for p in parts if p)
    if not slug:
        return "tag-" + _h(tag_key(tag))
    if len(slug) > MAX_SLUG:
        slug = slug[: MAX_SLUG - 7].rstrip("-.") + "-" + _h(tag_key(tag))
    return slug


def assign_tag_slugs(tags: Iterable[str]) -> dict[str, str]:
    """tag key → slug, distinct for distinct tags.

    When two different tags share a readable slug ("machine learning", "machine_learning"),
    the one whose key already *is* that slug ("machine-learning") keeps it and the others
    get a short stable hash of their own name appended.
    """
    by_slug: dict[str, list[str]] = {}
    for key in sorted({tag_key(t) for t in tags}):
        by_slug.setdefault(tag_slug(key), []).append(key)
    out: dict[str, str] = {}
    for slug, keys in by_slug.items():
        if len(keys) == 1:
            out[keys[0]] = slug
            continue
        for key in keys:
            out[key] = slug if key == slug else f"{slug}-{_h(key)}"
    # A hashed slug could, in theory, equal another tag's readable one: lengthen its hash.
    readable = {tag_slug(k) for k in out}
    for key, slug in out.items():
        if slug != tag_slug(key) and slug in readable:
            out[key] = f"{tag_slug(key)}-{_h(key, 16)}"
    return out


_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-")


def slug_from_filename(stem: str) -> str:
    """ "2024-05-15-hello world" → "hello-world"."""
    stem = _DATE_PREFIX.sub("", stem) or stem
    return "-".join(unicodedata.normalize("NFC", stem).split())


_ASCII_CZ = re.compile("[\x00-\x20\x7f]")  # the ASCII characters of Unicode's categories C and Z


def slug_problem(slug: str) -> str | None:
    """Why a slug cannot be used in a URL path segment, or None when it is fine."""
    if not slug:
        return "slug is empty"
    if "/" in slug or "\\" in slug:
        return f"slug {slug!r} contains a slash; a slug is one path segment"
    if slug.startswith(".") or ".." in slug:
        return f"slug {slug!r} starts with '.' or contains '..'"
    if _ASCII_CZ.search(slug) is not None if slug.isascii() else any(unicodedata.category(c)[0] in "CZ" for c in slug):
        return f"slug {slug!r} contains spaces or control characters; use hyphens"
    if len(slug) > 200:
        return "slug is longer than 200 characters"
    return None


@lru_cache(maxsize=1 << 16)
def url_segment(text: str) -> str:
    """Percent-encode one path segment (UTF-8), leaving RFC 3986 unreserved characters."""
    return quote(text, safe="-._~")
