"""Feeds → bytes. Pure: the same feeds and settings give the same bytes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..model import Feed, Links, Post, Settings
from .jsonfeed import NO_LINKS, memo_key, render_json
from .xmlfeeds import EntryMemo, render_atom, render_rss

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


__all__ = ["EntryMemo", "entry_keys", "render_atom", "render_feed", "render_json", "render_rss"]
