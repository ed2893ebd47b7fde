"""Posts → the feeds to write: the site's and one per tag. Pure; ``now`` is passed in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from .model import FEED_FORMATS, Feed, FeedLinks, Post, Problem, Settings
from .slugs import assign_tag_slugs, tag_key, url_segment

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def newest_first(posts: Iterable[Post]) -> list[Post]:
    """Newest first; ties broken by id so the order never depends on file-system order."""
    return sorted(posts, key=lambda p: (-p.published.timestamp(), -p.updated.timestamp(), p.id))


def settle_conflicts(posts: Sequence[Post]) -> tuple[list[Post], list[Problem]]:
    """Two posts may not share a URL or an id: the first published keeps it, the other is rejected.

    Drafts take part too, so that publishing a draft can never silently replace a post.
    """
    kept: list[Post] = []
    problems: list[Problem] = []
    by_url: dict[str, Post] = {}
    by_id: dict[str, Post] = {}
    for post in sorted(posts, key=lambda p: (p.draft, p.published, p.source)):
        other = by_url.get(post.url)
        what = "URL"
        if other is None:
            other, what = by_id.get(post.id), "id"
        if other is not None:
            value = post.url if what == "URL" else post.id
            problems.append(
                Problem(
                    post.source,
                    f"{what} {value} is already used by {other.source}; give one of them another "
                    + ("slug" if what == "URL" else "id"),
                )
            )
            continue
        by_url[post.url] = post
        by_id[post.id] = post
        kept.append(post)
    return kept, problems


def _links(settings: Settings, folder: str) -> FeedLinks:
    names = {"rss": settings.feeds.rss, "atom": settings.feeds.atom, "json": settings.feeds.json}
    base = settings.feeds_url
    paths: dict[str, str] = {}
    urls: dict[str, str] = {}
    for fmt in FEED_FORMATS:
        rel = f"{folder}/{names[fmt]}" if folder else names[fmt]
        paths[fmt] = rel
        urls[fmt] = base + "/".join(url_segment(seg) for seg in rel.split("/"))
    return FeedLinks(paths=paths, urls=urls)


def _feed(
    settings: Settings, key: str, title: str, description: str, folder: str, posts: list[Post], tag: str | None
) -> Feed:
    shown = tuple(posts[: settings.feeds.items])
    updated = max((p.updated for p in shown), default=EPOCH)
    return Feed(
        key=key,
        title=title,
        description=description,
        home_url=settings.site.url,
        links=_links(settings, folder),
        posts=shown,
        updated=updated,
        tag=tag,
        hubs=settings.hubs,
    )


def plan_feeds(posts: Iterable[Post], settings: Settings, now: datetime) -> list[Feed]:
    """The site feed first, then one feed per tag in slug order.

    Only live posts count: drafts and posts dated after ``now`` appear nowhere, not even
    as a tag of their own.
    """
    live = newest_first(p for p in posts if p.is_live(now))
    site = settings.site
    feeds = [_feed(settings, "", site.title, site.description or f"Latest posts from {site.title}", "", live, None)]
    if not settings.feeds.tag_feeds:
        return feeds

    # One pass, newest first: each tag's list comes out already in feed order (no sort per
    # tag, no pass over posts × tags). A tag is shown as its oldest post wrote it.
    shown_as: dict[str, tuple[tuple[datetime, str], str]] = {}
    members: dict[str, list[Post]] = {}
    for post in live:
        for tag in post.tags:
            key = tag_key(tag)
            age = (post.published, post.source)
            if key not in shown_as or age <= shown_as[key][0]:
                shown_as[key] = (age, tag)
            members.setdefault(key, []).append(post)
    slugs = assign_tag_slugs(shown_as)
    for key in sorted(members, key=lambda k: slugs[k]):
        tag = shown_as[key][1]
        title = settings.feeds.tag_title.format(site=site.title, tag=tag)
        folder = f"{settings.feeds.tags_dir}/{slugs[key]}"
        description = f"Posts tagged {tag} on {site.title}"
        feeds.append(_feed(settings, slugs[key], title, description, folder, members[key], tag))
    return feeds
