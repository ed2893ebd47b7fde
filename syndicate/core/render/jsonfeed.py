"""Feed → JSON Feed 1.1 bytes, from the same model as RSS and Atom. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..itemids import item_id
from ..model import Feed, Links, Post, Settings

NO_LINKS: Mapping[str, Links] = {}

VERSION = "https://jsonfeed.org/version/1.1"
ITEMS_START = b',\n  "items": [\n    '  # what the items follow, and what is between two, and what ends them
ITEMS_BETWEEN = b",\n    "
ITEMS_END = b"\n  ]\n}\n"


def rfc3339(when: datetime) -> str:
    """UTC, second precision, "Z": the same instant RSS and Atom show."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_item(post: Post, links: Links = ()) -> dict[str, Any]:
    """The post as a JSON Feed item; ``links``: its copies on social targets, as the item
    extension ``_syndication`` (target name → URL)."""
    item: dict[str, Any] = {"id": post.id, "url": post.url, "title": post.title}
    item["content_html"] = post.content_html
    if post.summary:
        item["summary"] = post.summary
    if post.image:
        item["image"] = post.image.url
    item["date_published"] = rfc3339(post.published)
    item["date_modified"] = rfc3339(post.updated)
    if post.author:
        item["authors"] = [{"name": post.author}]
    if post.tags:
        item["tags"] = list(post.tags)
    if post.lang:
        item["language"] = post.lang
    if links:
        item["_syndication"] = dict(links)
    return item


def item_text(post: Post, links: Links = (), ident: str | None = None) -> str:
    """One item as one line of JSON (the C encoder: an indented dump is ten times slower);
    ``ident``: the item's id in the feed, when it is not the post's (see core/itemids.py)."""
    item = json_item(post, links)
    if ident is not None:
        item["id"] = ident
    return json.dumps(item, ensure_ascii=False)


def memo_key(post: Post, links: Links) -> tuple[str, str, str]:
    """Where a post's item text is kept in a render memo: it changes with its links too."""
    return ("json", post.id, post.revision + ("|" + repr(links) if links else ""))


def render_json(
    feed: Feed,
    settings: Settings,
    memo: dict[tuple[str, str, str], Any] | None = None,
    links: Mapping[str, Links] = NO_LINKS,
) -> bytes:
    """The feed, indented, one item per line; ``memo`` shares each item's text between feeds;
    ``links``: post id → its syndication links."""
    memo = {} if memo is None else memo

    def item(post: Post) -> bytes:
        own = links.get(post.id, ())
        key = memo_key(post, own)
        data: bytes | None = memo.get(key)
        if data is None:
            data = memo[key] = item_text(post, own, item_id(post, settings)).encode("utf-8")
        return data

    doc: dict[str, Any] = {
        "version": VERSION,
        "title": feed.title,
        "home_page_url": feed.home_url,
        "feed_url": feed.links.urls["json"],
        "description": feed.description,
        "authors": [{"name": settings.site.author}],
        "language": settings.site.language,
    }
    if feed.hubs:
        doc["hubs"] = [{"type": "WebSub", "url": hub} for hub in feed.hubs]
    head = json.dumps(doc, ensure_ascii=False, indent=2)[:-2]  # without the closing "\n}"
    if not feed.posts:
        return (head + ',\n  "items": []\n}\n').encode("utf-8")
    body = ITEMS_BETWEEN.join([item(p) for p in feed.posts])
    return b"".join([head.encode("utf-8"), ITEMS_START, body, ITEMS_END])


def render_syndication(posts: list[Post], links: Mapping[str, Links]) -> bytes:
    """``syndication.json``: each post URL → its copies (target name → URL), for a site to show
    "discuss on Mastodon". Sorted, so the same links give the same bytes."""
    doc = {p.url: dict(links[p.id]) for p in posts if links.get(p.id)}
    return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")
