"""What each feed's files were made from (its fingerprint) and what they are (sizes and digests),
kept in the cache: a feed whose fingerprint is that of its files on disk is not made again."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .. import __version__
from ..core.model import Feed, Links, Settings
from .cache import RENDER_FORMAT

FileInfo = tuple[int, str]  # an output file's size and digest


def render_base(settings: Settings) -> Any:
    """What every feed's fingerprint holds: the code and the settings that decide its bytes."""
    return (
        __version__,
        RENDER_FORMAT,
        settings.render_key(targets=False),  # a target changes no feed (a social one: links)
        repr(settings.feeds),
        settings.hubs,
        settings.site,
        settings.output.take_over,
    )


def feed_fingerprint(base: Any, feed: Feed, shown: list[tuple[str, str]], links: Mapping[str, Links]) -> str:
    """A hash of what one feed's files are made from: ``base`` (:func:`render_base`), the feed's own
    fields, and its posts (``shown``: the id and revision of each) with their syndication links."""
    posts = tuple((ident, revision, links.get(ident, ())) for ident, revision in shown)
    key = (base, feed.title, feed.description, feed.updated, feed.links.urls["rss"], posts)
    return hashlib.sha256(repr(key).encode()).hexdigest()


def feed_print(fingerprint: str, files: dict[str, FileInfo]) -> str:
    """How a feed's fingerprint and files are kept in the cache (fields split by ASCII separators)."""
    return "\x1e".join([fingerprint, *(f"{rel}\x1f{size}\x1f{dig}" for rel, (size, dig) in sorted(files.items()))])


def read_feed_print(text: str) -> tuple[str, dict[str, FileInfo]] | None:
    try:
        fingerprint, *files = text.split("\x1e")
        parsed = {}
        for item in files:
            rel, size, dig = item.split("\x1f")
            parsed[rel] = (int(size), dig)
    except ValueError:
        return None
    return (fingerprint, parsed) if fingerprint and parsed else None
