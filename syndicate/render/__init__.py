"""Feeds → bytes. Pure: the same feeds and settings give the same bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..model import Feed, Settings
from .jsonfeed import render_json
from .pages import render_index, render_opml
from .xmlfeeds import render_atom, render_rss

RENDERERS: dict[str, Callable[[Feed, Settings], bytes]] = {
    "rss": render_rss,
    "atom": render_atom,
    "json": render_json,
}


def render_feed(feed: Feed, settings: Settings) -> dict[str, bytes]:
    """Relative output path → bytes, for the three formats of one feed."""
    return {feed.links.paths[fmt]: render(feed, settings) for fmt, render in RENDERERS.items()}


def render_site(feeds: Sequence[Feed], settings: Settings) -> dict[str, bytes]:
    """Every file of a build: all feeds, index.html and feeds.opml."""
    files: dict[str, bytes] = {}
    for feed in feeds:
        files.update(render_feed(feed, settings))
    files["index.html"] = render_index(feeds, settings)
    files["feeds.opml"] = render_opml(feeds, settings)
    return files


__all__ = ["render_atom", "render_feed", "render_json", "render_rss", "render_site"]
