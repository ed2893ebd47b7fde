"""Feeds → bytes. Pure: the same feeds and settings give the same bytes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..itemids import item_id
from ..model import Feed, Links, Post, Settings
from .jsonfeed import ITEMS_BETWEEN, ITEMS_END, ITEMS_START, NO_LINKS, item_text, memo_key, render_json
from .xmlfeeds import ENTRY_END, ENTRY_START, EntryMemo, _item_xml, render_atom, render_rss

RENDERERS: dict[str, Callable[[Feed, Settings, EntryMemo | None], bytes]] = {
    "rss": render_rss,
    "atom": render_atom,
    "json": render_json,
}


def render_feed(
    feed: Feed, settings: Settings, memo: EntryMemo | None = None, links: Mapping[str, Links] = NO_LINKS
) -> dict[str, bytes]:
    """Relative output path → bytes, for the three formats of one feed.

    Pass the same ``memo`` (format, post id, revision → the post's entry) when rendering
    many feeds with the same settings: a post in several feeds is turned into an entry once.
    ``links`` (post id → its copies on social targets) go into the JSON Feed items. The
    site's pages (index.html, feeds.opml) are in :mod:`syndicate.core.render.pages`.
    """
    memo = {} if memo is None else memo
    out = {feed.links.paths[fmt]: render(feed, settings, memo) for fmt, render in RENDERERS.items() if fmt != "json"}
    out[feed.links.paths["json"]] = render_json(feed, settings, memo, links)
    return {feed.links.paths[fmt]: out[feed.links.paths[fmt]] for fmt in RENDERERS}


def entry_keys(post: Post, links: Links = ()) -> tuple[tuple[str, str, str], ...]:
    """Where a render memo keeps ``post``'s entries, one per format (``links``: its syndication links)."""
    return ("rss", post.id, post.revision), ("atom", post.id, post.revision), memo_key(post, links)


def entry_bytes(fmt: str, post: Post, settings: Settings, links: Links = (), memo: EntryMemo | None = None) -> bytes:
    """``post``'s entry in a feed of format ``fmt``, as :func:`render_feed` puts it there."""
    if fmt == "json":
        return item_text(post, links, item_id(post, settings)).encode("utf-8")
    return _item_xml(fmt, post, settings, {} if memo is None else memo)


def replace_entry(fmt: str, document: bytes, index: int, count: int, entry: bytes) -> bytes | None:
    """``document``, a feed :func:`render_feed` made with ``count`` entries, with the one at ``index``
    replaced by ``entry`` (:func:`entry_bytes`): the bytes :func:`render_feed` makes of the same feed
    with that post in that place, when the feed's own fields are the same. None when ``document`` does
    not hold ``count`` entries as it writes them.

    Every text and attribute value in an entry is escaped (no ``<`` of its own, no raw newline in a
    JSON string), so the lines that open and close entries are found only where they are entries'.
    """
    if fmt == "json":
        at = document.find(ITEMS_START)
        end = document.rfind(ITEMS_END)
        if at < 0 or end < at:
            return None
        start = at + len(ITEMS_START)
        items = document[start:end].split(ITEMS_BETWEEN)
        if len(items) != count or not 0 <= index < count:
            return None
        items[index] = entry
        return document[:start] + ITEMS_BETWEEN.join(items) + document[end:]
    opening, closing = ENTRY_START[fmt], ENTRY_END[fmt]
    at = document.find(b"\n" + opening)
    end = document.rfind(closing)
    if at < 0 or end < at:
        return None
    start, stop = at + 1, end + len(closing)
    parts = document[start:stop].split(closing)
    if len(parts) != count + 1 or parts[-1] or not 0 <= index < count:
        return None
    entries = [part + closing for part in parts[:-1]]
    if not all(e.startswith(opening) for e in entries):
        return None
    entries[index] = entry
    return document[:start] + b"".join(entries) + document[stop:]


__all__ = [
    "EntryMemo",
    "entry_bytes",
    "entry_keys",
    "render_atom",
    "render_feed",
    "render_json",
    "render_rss",
    "replace_entry",
]
