"""The daemon plans feeds incrementally; whatever happens, it must give what a full plan gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.feeds import IncrementalPlan, plan_feeds
from syndicate.model import Content, FeedSettings, Post, Settings, SiteSettings

SETTINGS = Settings(SiteSettings(title="T", url="https://e.com/", author="A"), feeds=FeedSettings(items=3))
START = datetime(2026, 1, 1, tzinfo=UTC)
TAGS = ["AI", "ai", "Feeds", "C++", "c#", "Über", "x", "y"]


def make(n: int, day: int, tags: list[str], draft: bool, title: str = "") -> Post:
    when = START + timedelta(days=day)
    return Post(
        source=f"content/{n}.md",
        id=f"https://e.com/{n}/",
        url=f"https://e.com/{n}/",
        slug=str(n),
        title=title or f"Post {n}",
        published=when,
        updated=when,
        tags=tuple(dict.fromkeys(tags)),
        revision=f"{n}-{day}-{title}",
        content=Content(html="<p>x</p>", summary="s"),
        draft=draft,
    )


Step = tuple[str, int, int, list[str], bool]  # what, which file, a day (or days to wait), tags, draft
steps = st.tuples(
    st.sampled_from(["save", "save", "delete", "retitle", "time"]),
    st.integers(0, 12),
    st.integers(-30, 30),
    st.lists(st.sampled_from(TAGS), max_size=3),
    st.sampled_from([False, False, False, True]),  # a draft now and then
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, max_size=25), st.integers(1, 8))
def test_incremental_planning_equals_planning_everything(script: list[Step], full_above: int) -> None:
    plan = IncrementalPlan()
    plan.FULL_ABOVE = full_above
    posts: dict[int, Post] = {}
    now = START
    for kind, n, day, tags, draft in script:
        if kind == "save":
            posts[n] = make(n, day, tags, draft)
        elif kind == "delete":
            posts.pop(n, None)
        elif kind == "retitle" and n in posts:
            posts[n] = replace(posts[n], title=posts[n].title + "!", revision=posts[n].revision + "!")
        elif kind == "time":
            now += timedelta(days=day // 2)
        current = list(posts.values())
        assert plan.plan(current, SETTINGS, now) == plan_feeds(current, SETTINGS, now)


def test_a_saved_post_replans_only_the_site_feed_and_its_tags() -> None:
    plan = IncrementalPlan()
    posts = [make(n, n, [TAGS[n % len(TAGS)]], False) for n in range(40)]
    first = plan.plan(posts, SETTINGS, START + timedelta(days=100))
    assert plan.replanned == len(first)
    posts.append(make(99, 50, ["Feeds"], False))
    again = plan.plan(posts, SETTINGS, START + timedelta(days=100))
    assert plan.replanned == 2  # the site feed and "feeds"
    untouched = [a for a, b in zip(first, again, strict=True) if a is b]
    assert len(untouched) == len(first) - 2
