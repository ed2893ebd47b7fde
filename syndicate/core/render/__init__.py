"""Feeds → bytes. Pure: the same feeds and settings give the same bytes."""

from __future__ import annotations

from collections.abc import Callable

from ..model import Feed, Settings
from .jsonfeed import render_json
from .xmlfeeds import EntryMemo, render_atom, render_rss

RENDERERS: dict[str, Callable[[Feed, Settings, EntryMemo | None], bytes]] = {
    "rss": render_rss,
    "atom": render_atom,
    "json": render_json,
}


def render_feed(feed: Feed, settings: Settings, memo: EntryMemo | None = None) -> dict[str, bytes]:
    """Relative output path → bytes, for the three formats of one feed.

    Pass the same ``memo`` (format, post id, revision → the post's entry) when rendering
    many feeds with the same settings: a post in several feeds is turned into an entry once.
    The site's pages (index.html, feeds.opml) are in :mod:`syndicate.core.render.pages`.
    """
    memo = {} if memo is None else memo
    return {feed.links.paths[fmt]: render(feed, settings, memo) for fmt, render in RENDERERS.items()}


__all__ = ["EntryMemo", "render_atom", "render_feed", "render_json", "render_rss"]
