"""Posts → the feeds to write: the site's and one per term of each taxonomy (tags, categories, …).
Pure; ``now`` is passed in.

A feed is keyed by its folder under the output folder: ``tags/python`` for the tag "Python",
``categories/python`` for the category; one key never merges into another.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import compress
from operator import is_not
from typing import Any

from .dialects import dialect
from .model import FEED_FORMATS, ContentSettings, Feed, FeedLinks, FeedSettings, Post, Problem, Settings
from .slugs import assign_tag_slugs, tag_key, tag_slug, url_segment

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


def taxonomies(settings: Settings) -> tuple[str, ...]:
    """The front-matter keys whose terms get feeds: [content] taxonomies, else the generator's."""
    return settings.content.taxonomies or dialect(settings.content.generator).taxonomies


def taxonomy_folders(feeds: FeedSettings, content: ContentSettings) -> dict[str, str]:
    """Taxonomy → the folder of its feeds: [feeds] tags_dir for tags, the key's own name for the others."""
    keys = content.taxonomies or dialect(content.generator).taxonomies
    return {key: feeds.tags_dir if key == "tags" else tag_slug(key) for key in keys}


def feed_folders(settings: Settings) -> tuple[str, ...]:
    """Every folder that holds term feeds (for removing stale ones)."""
    return tuple(dict.fromkeys([settings.feeds.tags_dir, *taxonomy_folders(settings.feeds, settings.content).values()]))


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
    settings: Settings,
    key: str,
    title: str,
    description: str,
    folder: str,
    posts: list[Post],
    tag: str | None,
    taxonomy: str = "tags",
) -> Feed:
    shown = tuple(posts[: settings.feeds.items])
    updated = max((p.updated for p in shown), default=EMPTY_FEED_DATE)
    return _made(settings, key, title, description, folder, shown, updated, tag, taxonomy)


def _made(
    settings: Settings,
    key: str,
    title: str,
    description: str,
    folder: str,
    shown: tuple[Post, ...],
    updated: datetime,
    tag: str | None,
    taxonomy: str,
) -> Feed:
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
        taxonomy=taxonomy,
    )


def plan_feeds(posts: Iterable[Post], settings: Settings, now: datetime) -> list[Feed]:
    """The site feed first, then one feed per term of each taxonomy (in the configured order),
    terms in slug order.

    Only live posts count: drafts, posts dated after ``now`` and expired posts appear nowhere,
    not even as a tag of their own.
    """
    live = newest_first(p for p in posts if p.is_live(now))
    feeds = [_site_feed(settings, live)]
    if not settings.feeds.tag_feeds:
        return feeds
    members = _members(live, taxonomies(settings))
    slugs = _slugs(members)
    for key in _in_order(members, slugs, settings):
        feeds.append(_tag_feed(settings, key, slugs[key], members[key]))
    return feeds


_SEP = "\x1f"  # between a taxonomy and a term's key in a member key


def _member_keys(post: Post, wanted: tuple[str, ...]) -> dict[str, None]:
    """The post's member keys: ``taxonomy\x1fterm key``, once each, even if two spellings slipped in."""
    return {f"{tax}{_SEP}{tag_key(t)}": None for tax, terms in post.taxonomy_terms() if tax in wanted for t in terms}


def _members(live: list[Post], wanted: tuple[str, ...]) -> dict[str, list[Post]]:
    """member key → its live posts, newest first, from one pass over posts newest first."""
    members: dict[str, list[Post]] = {}
    for post in live:
        for key in _member_keys(post, wanted):
            members.setdefault(key, []).append(post)
    return members


def _slugs(members: Iterable[str]) -> dict[str, str]:
    """member key → the term's slug, distinct within its taxonomy."""
    by_tax: dict[str, list[str]] = {}
    for key in members:
        tax, term = key.split(_SEP, 1)
        by_tax.setdefault(tax, []).append(term)
    out: dict[str, str] = {}
    for tax, terms in by_tax.items():
        for term, slug in assign_tag_slugs(terms).items():
            out[f"{tax}{_SEP}{term}"] = slug
    return out


def _in_order(members: Iterable[str], slugs: dict[str, str], settings: Settings) -> list[str]:
    rank = {tax: i for i, tax in enumerate(taxonomies(settings))}
    return sorted(members, key=lambda k: (rank.get(k.split(_SEP, 1)[0], len(rank)), slugs[k]))


def _shown_as(key: str, posts: Sequence[Post]) -> str:
    """A term is shown as its oldest post wrote it."""
    tax, term = key.split(_SEP, 1)
    oldest = min(posts, key=lambda p: (p.published, p.source))
    return next(t for tx, ts in oldest.taxonomy_terms() if tx == tax for t in ts if tag_key(t) == term)


def _site_feed(settings: Settings, live: list[Post]) -> Feed:
    site = settings.site
    return _feed(settings, "", site.title, site.description or f"Latest posts from {site.title}", "", live, None)


def _tag_feed(settings: Settings, key: str, slug: str, posts: list[Post]) -> Feed:
    site = settings.site
    tax = key.split(_SEP, 1)[0]
    tag = _shown_as(key, posts)
    title = settings.feeds.tag_title.format(site=site.title, tag=tag)
    folder = f"{taxonomy_folders(settings.feeds, settings.content).get(tax, tag_slug(tax))}/{slug}"
    if tax == "tags":
        return _feed(settings, slug, title, f"Posts tagged {tag} on {site.title}", folder, posts, tag)
    description = f"Posts filed under {tag} ({tax}) on {site.title}"
    return _feed(settings, folder, f"{title} ({tax})", description, folder, posts, tag, tax)


class IncrementalPlan:
    """:func:`plan_feeds` for a long-running process: the same feeds, redoing only the ones a
    change touches. Pure (``now`` is passed in); tested equal to :func:`plan_feeds`.

    Posts are matched by identity: a post object seen in the last call is unchanged (the
    daemon's cache hands back the same object for an unchanged file). The site feed and
    the feeds of every tag an added, removed or edited post has (before or after) are
    planned again; the others are the same objects as before. A tag that appears takes its
    readable slug when no other term has it (readable or hashed). A change of settings, a tag
    that vanishes or appears with another's slug, a change of which posts are live (``now``
    passed a scheduled post), or of many posts at once plans everything again.
    """

    FULL_ABOVE = 64  # changed posts beyond which planning everything is as cheap

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._posts: dict[str, Post] = {}  # source → post, as of the last call
        self._given: list[Post] = []  # the posts of the last call, in the order given
        self._keys: list[str] = []  # the term feeds' keys, in order
        self._live: list[Post] = []  # newest first
        self._members: dict[str, list[Post]] = {}
        self._slugs: dict[str, str] = {}
        self._feeds: dict[str, Feed] = {}  # tag key ("" for the site) → feed
        self._window: tuple[datetime, datetime | None] = (EPOCH, None)  # liveness holds for now in it
        self.replanned = 0  # feeds planned by the last call

    def plan(self, posts: Sequence[Post], settings: Settings, now: datetime) -> list[Feed]:
        gone, new = self._changes(posts)
        low, high = self._window
        if (
            settings != self._settings
            or not settings.feeds.tag_feeds
            or len(gone) + len(new) > self.FULL_ABOVE
            or not (low <= now and (high is None or now < high))
        ):
            return self._full({p.source: p for p in posts}, settings, now)
        gone_live = [p for p in gone if p.is_live(now)]
        new_live = [p for p in new if p.is_live(now)]
        if any(p.next_change(now) for p in new) and self._next_change(new, now) != high:
            return self._full({p.source: p for p in posts}, settings, now)  # a scheduled post: the window moves
        wanted = taxonomies(settings)
        touched = {k for p in gone_live + new_live for k in _member_keys(p, wanted)}
        gone_ids = {id(p) for p in gone_live}
        live = _without(self._live, gone_live)
        for p in new_live:
            insort(live, p, key=_order)
        members = dict(self._members)
        for key in touched:
            kept = [p for p in members.get(key, []) if id(p) not in gone_ids]
            for p in new_live:
                if key in _member_keys(p, wanted):
                    insort(kept, p, key=_order)
            if kept:
                members[key] = kept
            else:
                members.pop(key, None)
        appeared = members.keys() - self._members.keys()
        slugs = _with_new_terms(self._slugs, appeared) if not self._members.keys() - members.keys() else None
        if slugs is None:
            return self._full({p.source: p for p in posts}, settings, now)  # a tag vanished, or one's slug is taken
        if appeared:
            self._slugs = slugs
            self._keys = _in_order([*self._keys, *appeared], slugs, settings)
        feeds = dict(self._feeds)
        feeds[""] = _site_feed(settings, live)
        for key in touched:
            feeds[key] = _tag_feed(settings, key, self._slugs[key], members[key])
        for p in gone:
            del self._posts[p.source]
        self._posts.update({p.source: p for p in new})
        self._given, self._live, self._members, self._feeds = list(posts), live, members, feeds
        self._window = (max(low, _last_change(new, now)), high)
        self.replanned = 1 + len(touched)
        return self._ordered()

    @property
    def live(self) -> int:
        """How many posts were live at the last call's ``now``."""
        return len(self._live)

    @property
    def next_change(self) -> datetime | None:
        """The earliest moment after the last call's ``now`` at which a post may go live or expire
        (when the daemon must plan again although no file changed)."""
        return self._window[1]

    def _changes(self, posts: Sequence[Post]) -> tuple[list[Post], list[Post]]:
        """(the posts of the last call that are not in ``posts``, the posts that were not in it), by
        identity. The loader keeps its order from call to call (a new file's post comes last): the
        two lists are compared side by side at C speed, and only where they differ is looked at; a
        post taken out of the middle shifts the rest, and then each source is looked up."""
        prev, n = self._given, min(len(self._given), len(posts))
        odd = list(compress(range(n), map(is_not, prev, posts)))
        if len(odd) <= self.FULL_ABOVE:
            gone = [prev[i] for i in odd] + list(prev[n:])
            new = [posts[i] for i in odd] + list(posts[n:])
            if len(gone) + len(new) <= 2 * self.FULL_ABOVE:
                both = {id(p) for p in gone} & {id(p) for p in new}  # moved, not changed
                return [p for p in gone if id(p) not in both], [p for p in new if id(p) not in both]
        current = {p.source: p for p in posts}
        gone = [p for source, p in self._posts.items() if current.get(source) is not p]
        return gone, [p for source, p in current.items() if self._posts.get(source) is not p]

    def _next_change(self, posts: Iterable[Post], now: datetime) -> datetime | None:
        return min((t for p in posts if (t := p.next_change(now)) is not None), default=None)

    def _full(self, current: dict[str, Post], settings: Settings, now: datetime) -> list[Feed]:
        self._settings, self._posts, self._given = settings, current, list(current.values())
        self._live = newest_first(p for p in current.values() if p.is_live(now))
        self._members = _members(self._live, taxonomies(settings)) if settings.feeds.tag_feeds else {}
        self._slugs = _slugs(self._members)
        self._feeds = {"": _site_feed(settings, self._live)}
        for key, members in self._members.items():
            self._feeds[key] = _tag_feed(settings, key, self._slugs[key], members)
        self._window = (_last_change(current.values(), now), self._next_change(current.values(), now))
        self.replanned = len(self._feeds)
        self._keys = _in_order((k for k in self._feeds if k), self._slugs, settings)
        return self._ordered()

    def _ordered(self) -> list[Feed]:
        return [self._feeds[""], *(self._feeds[k] for k in self._keys)]  # the same terms: the same order


def _with_new_terms(slugs: dict[str, str], appeared: set[str]) -> dict[str, str] | None:
    """``slugs`` (member key → slug, as :func:`_slugs` made them) with terms that appeared, when each
    takes its readable slug and no term's slug changes for it (what :func:`_slugs` of all would
    give); None when one's readable slug is another term's, readable or hashed (then :func:`_slugs`
    settles them all again)."""
    if not appeared:
        return slugs
    taken: set[tuple[str, str]] = set()
    for key, slug in slugs.items():
        tax, term = key.split(_SEP, 1)
        taken.add((tax, slug))
        taken.add((tax, tag_slug(term)))
    out = dict(slugs)
    for key in appeared:
        tax, term = key.split(_SEP, 1)
        readable = tag_slug(term)
        if (tax, readable) in taken:
            return None
        taken.add((tax, readable))
        out[key] = readable
    return out


def _without(live: list[Post], gone: list[Post]) -> list[Post]:
    """``live`` (newest first) without the ``gone`` posts, each found by bisection."""
    live = list(live)
    for p in gone:
        i = bisect_left(live, _order(p), key=_order)
        if i < len(live) and live[i] is p:
            del live[i]
        else:  # not where its order puts it: look everywhere
            live = [q for q in live if q is not p]
    return live


def live_window(posts: Iterable[Post], now: datetime) -> tuple[datetime | None, datetime | None]:
    """The moments between which the same posts are live as at ``now``: the last change at or
    before it (None: none) and the next after it (None: none is due)."""
    kept = list(posts)
    last = _last_change(kept, now)
    upcoming = min((t for p in kept if (t := p.next_change(now)) is not None), default=None)
    return (None if last == EPOCH else last), upcoming


def _last_change(posts: Iterable[Post], now: datetime) -> datetime:
    """The latest moment at or before ``now`` at which a post went live or expired: a clock set
    back before it would change the feeds."""
    past = [t for p in posts if not p.draft for t in (p.goes_live, p.expires) if t is not None and t <= now]
    return max(past, default=EPOCH)


# What a feed showed, kept between processes (builder/edit.py): a build of a few edited posts
# that moved none of them makes the feeds that show them again from it, without the other posts.

Plan = list[Any]  # [feed key, title, description, folder, tag, taxonomy, updated (ISO), [[source, id, revision]…]]


def plan_key(feed: Feed) -> str:
    """The feed's member key: "" for the site's, ``taxonomy\x1fterm key`` for a term's."""
    return "" if feed.tag is None else f"{feed.taxonomy}{_SEP}{tag_key(feed.tag)}"


def post_plan_keys(post: Post, settings: Settings) -> list[str]:
    """The plan keys of the feeds a live post is in (with the feeds' settings)."""
    keys = [""]
    if settings.feeds.tag_feeds:
        keys += list(_member_keys(post, taxonomies(settings)))
    return keys


def feed_plan(feed: Feed) -> Plan:
    rss = feed.links.paths["rss"]
    folder = rss.rsplit("/", 1)[0] if "/" in rss else ""
    shown = [[p.source, p.id, p.revision] for p in feed.posts]
    return [feed.key, feed.title, feed.description, folder, feed.tag, feed.taxonomy, feed.updated.isoformat(), shown]


def feed_from_plan(plan: Plan, settings: Settings) -> Feed:
    """The feed a plan describes: its own fields (where its files are, what their headers say),
    without its posts."""
    key, title, description, folder, tag, taxonomy, updated, _ = plan
    return _made(settings, key, title, description, folder, (), datetime.fromisoformat(updated), tag, taxonomy)
