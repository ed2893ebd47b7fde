"""Posts → the feeds to write: the site's and one per tag. Pure; ``now`` is passed in."""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from .model import FEED_FORMATS, Feed, FeedLinks, Post, Problem, Settings
from .slugs import assign_tag_slugs, tag_key, url_segment

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The date of a feed with no post (a new site, a tag whose posts all left): Atom needs one, a
# constant keeps the bytes stable, and validators flag any date before 1990 as implausible.
EMPTY_FEED_DATE = datetime(2000, 1, 1, tzinfo=UTC)


def _order(p: Post) -> tuple[float, float, str]:
    return (-p.published.timestamp(), -p.updated.timestamp(), p.id)


def newest_first(posts: Iterable[Post]) -> list[Post]:
    """Newest first; ties broken by id so the order never depends on file-system order."""
    return sorted(posts, key=_order)


def settle_conflicts(posts: Sequence[Post]) -> tuple[list[Post], list[Problem]]:
    """Two posts may not share a URL or an id: the first published keeps it, the other is rejected.

    Drafts take part too, so that publishing a draft can never silently replace a post.
    """
    if len({p.url for p in posts}) == len(posts) == len({p.id for p in posts}):
        return list(posts), []  # nothing shared: nothing to settle (the common case, without a sort)
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


# The one place that says what feed files are called and where they are served: planning,
# the build (stale files, WebSub topics), the server (types, Link headers) all ask here.


def feed_file_names(settings: Settings) -> dict[str, str]:
    """Format → the file name of its feeds ([feeds] rss, atom, json)."""
    return {"rss": settings.feeds.rss, "atom": settings.feeds.atom, "json": settings.feeds.json}


def is_feed_file(settings: Settings, rel: str) -> bool:
    """Is this output file (a "/"-separated path in the output folder) a feed?"""
    return rel.rsplit("/", 1)[-1] in feed_file_names(settings).values()


def output_url(settings: Settings, rel: str) -> str:
    """The public URL of an output file: the feeds' base URL and the path, each segment escaped."""
    return settings.feeds_url + "/".join(url_segment(seg) for seg in rel.split("/"))


def _links(settings: Settings, folder: str) -> FeedLinks:
    names = feed_file_names(settings)
    paths: dict[str, str] = {}
    urls: dict[str, str] = {}
    for fmt in FEED_FORMATS:
        rel = f"{folder}/{names[fmt]}" if folder else names[fmt]
        paths[fmt] = rel
        urls[fmt] = output_url(settings, rel)
    return FeedLinks(paths=paths, urls=urls)


def _feed(
    settings: Settings, key: str, title: str, description: str, folder: str, posts: list[Post], tag: str | None
) -> Feed:
    shown = tuple(posts[: settings.feeds.items])
    updated = max((p.updated for p in shown), default=EMPTY_FEED_DATE)
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
    feeds = [_site_feed(settings, live)]
    if not settings.feeds.tag_feeds:
        return feeds

    members = _members(live)
    slugs = assign_tag_slugs(members)
    for key in sorted(members, key=lambda k: slugs[k]):
        feeds.append(_tag_feed(settings, key, slugs[key], members[key]))
    return feeds


def _members(live: list[Post]) -> dict[str, list[Post]]:
    """tag key → its live posts, newest first, from one pass over posts newest first."""
    members: dict[str, list[Post]] = {}
    for post in live:
        for key in dict.fromkeys(tag_key(tag) for tag in post.tags):  # once, even if two spellings slipped in
            members.setdefault(key, []).append(post)
    return members


def _shown_as(key: str, posts: Sequence[Post]) -> str:
    """A tag is shown as its oldest post wrote it."""
    oldest = min(posts, key=lambda p: (p.published, p.source))
    return next(t for t in oldest.tags if tag_key(t) == key)


def _site_feed(settings: Settings, live: list[Post]) -> Feed:
    site = settings.site
    return _feed(settings, "", site.title, site.description or f"Latest posts from {site.title}", "", live, None)


def _tag_feed(settings: Settings, key: str, slug: str, posts: list[Post]) -> Feed:
    site = settings.site
    tag = _shown_as(key, posts)
    title = settings.feeds.tag_title.format(site=site.title, tag=tag)
    folder = f"{settings.feeds.tags_dir}/{slug}"
    return _feed(settings, slug, title, f"Posts tagged {tag} on {site.title}", folder, posts, tag)


class IncrementalPlan:
    """:func:`plan_feeds` for a long-running process: the same feeds, redoing only the ones a
    change touches. Pure (``now`` is passed in); tested equal to :func:`plan_feeds`.

    Posts are matched by identity: a post object seen in the last call is unchanged (the
    daemon's cache hands back the same object for an unchanged file). The site feed and
    the feeds of every tag an added, removed or edited post has (before or after) are
    planned again; the others are the same objects as before. A change of settings, of
    the set of tags, of which posts are live (``now`` passed a scheduled post), or of many
    posts at once plans everything again.
    """

    FULL_ABOVE = 64  # changed posts beyond which planning everything is as cheap

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._posts: dict[str, Post] = {}  # source → post, as of the last call
        self._live: list[Post] = []  # newest first
        self._members: dict[str, list[Post]] = {}
        self._slugs: dict[str, str] = {}
        self._feeds: dict[str, Feed] = {}  # tag key ("" for the site) → feed
        self._window: tuple[datetime, datetime | None] = (EPOCH, None)  # liveness holds for now in it
        self.replanned = 0  # feeds planned by the last call

    def plan(self, posts: Sequence[Post], settings: Settings, now: datetime) -> list[Feed]:
        current = {p.source: p for p in posts}
        gone = [p for source, p in self._posts.items() if current.get(source) is not p]
        new = [p for source, p in current.items() if self._posts.get(source) is not p]
        low, high = self._window
        if (
            settings != self._settings
            or not settings.feeds.tag_feeds
            or len(gone) + len(new) > self.FULL_ABOVE
            or not (low <= now and (high is None or now < high))
        ):
            return self._full(current, settings, now)
        gone_live = [p for p in gone if p.is_live(now)]
        new_live = [p for p in new if p.is_live(now)]
        if any(not p.draft and p.published > now for p in new) and self._next_change(new, now) != high:
            return self._full(current, settings, now)  # a new scheduled post moves the window
        touched = {tag_key(t) for p in gone_live + new_live for t in p.tags}
        gone_ids = {id(p) for p in gone_live}
        live = [p for p in self._live if id(p) not in gone_ids]
        for p in new_live:
            insort(live, p, key=_order)
        members = dict(self._members)
        for key in touched:
            kept = [p for p in members.get(key, []) if id(p) not in gone_ids]
            for p in new_live:
                if key in {tag_key(t) for t in p.tags}:
                    insort(kept, p, key=_order)
            if kept:
                members[key] = kept
            else:
                members.pop(key, None)
        if members.keys() != self._members.keys():
            return self._full(current, settings, now)  # a tag appeared or vanished: slugs may change
        feeds = dict(self._feeds)
        feeds[""] = _site_feed(settings, live)
        for key in touched:
            feeds[key] = _tag_feed(settings, key, self._slugs[key], members[key])
        self._posts, self._live, self._members, self._feeds = current, live, members, feeds
        if live:
            self._window = (max(low, live[0].published), high)
        self.replanned = 1 + len(touched)
        return self._ordered()

    def _next_change(self, posts: Iterable[Post], now: datetime) -> datetime | None:
        return min((p.published for p in posts if not p.draft and p.published > now), default=None)

    def _full(self, current: dict[str, Post], settings: Settings, now: datetime) -> list[Feed]:
        self._settings, self._posts = settings, current
        self._live = newest_first(p for p in current.values() if p.is_live(now))
        self._members = _members(self._live) if settings.feeds.tag_feeds else {}
        self._slugs = assign_tag_slugs(self._members)
        self._feeds = {"": _site_feed(settings, self._live)}
        for key, members in self._members.items():
            self._feeds[key] = _tag_feed(settings, key, self._slugs[key], members)
        self._window = (self._live[0].published if self._live else EPOCH, self._next_change(current.values(), now))
        self.replanned = len(self._feeds)
        return self._ordered()

    def _ordered(self) -> list[Feed]:
        tags = sorted((k for k in self._feeds if k), key=lambda k: self._slugs[k])
        return [self._feeds[""], *(self._feeds[k] for k in tags)]
