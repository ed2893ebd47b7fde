"""Feeds → bytes. Pure: the same feeds and settings give the same bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..model import Feed, Settings
from .jsonfeed import render_json
from .pages import render_index, render_opml
from .xmlfeeds import render_atom, render_rss

Memo = dict[tuple[str, str, str], Any]  # (format, post id, revision) → one post's entry, shared by feeds

RENDERERS: dict[str, Callable[[Feed, Settings, Memo | None], bytes]] = {
    "rss": render_rss,
    "atom": render_atom,
    "json": render_json,
}


def render_feed(feed: Feed, settings: Settings, memo: Memo | None = None) -> dict[str, bytes]:
    """Relative output path → bytes, for the three formats of one feed.

    Pass the same ``memo`` when rendering many feeds with the same settings: a post in
    several feeds is then turned into an entry once.
    """
    memo = {} if memo is None else memo
    return {feed.links.paths[fmt]: render(feed, settings, memo) for fmt, render in RENDERERS.items()}


def render_site(feeds: Sequence[Feed], settings: Settings) -> dict[str, bytes]:
    """Every file of a build: all feeds, index.html and feeds.opml."""
    files: dict[str, bytes] = {}
    memo: Memo = {}
    for feed in feeds:
        files.update(render_feed(feed, settings, memo))
    files["index.html"] = render_index(feeds, settings)
    files["feeds.opml"] = render_opml(feeds, settings)
    return files


__all__ = ["render_atom", "render_feed", "render_json", "render_rss", "render_site"]
