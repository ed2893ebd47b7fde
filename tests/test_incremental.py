"""The daemon plans feeds incrementally; whatever happens, it must give what a full plan gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.builder.cache import CachedPost, PostCache
from syndicate.builder.discover import ContentWatch, PostIndex
from syndicate.builder.load import load_posts
from syndicate.config import load_settings
from syndicate.core.feeds import IncrementalPlan, plan_feeds, settle_conflicts
from syndicate.core.model import Content, FeedSettings, Post, Problem, Settings, SiteSettings
from tests.conftest import CONFIG, Site

SETTINGS = Settings(SiteSettings(title="T", url="https://e.com/", author="A"), feeds=FeedSettings(items=3))
START = datetime(2026, 1, 1, tzinfo=UTC)
TAGS = ["AI", "ai", "Feeds", "C++", "c#", "Über", "x", "y", "machine learning", "machine_learning", "machine-learning"]


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
    st.sampled_from(["save", "save", "delete", "retitle", "time", "reorder"]),
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
        elif kind == "reorder":  # the same posts in another order: nothing changed
            posts = dict(sorted(posts.items(), key=lambda kv: (kv[0] * (day or 1)) % 13))
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


def _loaded(site: Path, watch: ContentWatch | None) -> tuple[list[tuple[str, str]], list[str]]:
    settings = load_settings(site)
    cache = PostCache(None)
    if watch is None:
        posts, problems, _ = load_posts(site, settings, cache)
    else:
        files = watch.scan(site, settings)
        posts, problems, _ = load_posts(site, settings, WATCH_CACHE, None, None, files, watch.index, watch.changed)
    return sorted((p.source, p.revision) for p in posts), sorted(str(p) for p in problems)


WATCH_CACHE = PostCache(None)


def test_a_watched_folder_patched_with_the_reported_paths_loads_what_a_full_scan_loads(site: Site) -> None:
    """The daemon re-reads only the files watchdog names; after any edit it must agree with a full scan."""
    watch = ContentWatch()
    content = site.content

    def save(name: str, text: str) -> None:
        path = content / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        watch.note(str(path))

    def check() -> None:
        assert _loaded(site.root, watch) == _loaded(site.root, None)

    save("a.md", "---\ntitle: A\ndate: 2024-01-01\ntags: [x]\n---\nA.\n")
    check()  # the first scan is a full one
    save("b.md", "---\ntitle: B\ndate: 2024-01-02\n---\nB.\n")
    check()
    save("a.md", "---\ntitle: A, edited\ndate: 2024-01-01\n---\nA!\n")
    check()
    save("c.md", "---\ntitle: [broken\n---\n")  # a problem appears…
    check()
    save("c.md", "---\ntitle: C\ndate: 2024-01-03\nslug: b\n---\nC.\n")  # …goes, and a URL clash comes
    check()
    (content / "b.md").unlink()
    watch.note(str(content / "b.md"))  # the clash is settled the other way
    check()
    save("notes/d.md", "---\ntitle: D\ndate: 2024-01-04\n---\nD.\n")
    check()
    (content / "notes").rename(content / "archive")  # a folder moved: a full scan
    watch.note(str(content / "notes"), is_directory=True)
    check()
    save(".hidden.md", "---\ntitle: H\ndate: 2024-01-05\n---\nH.\n")
    save("draft.md~", "editor backup")
    check()


def test_a_watched_hugo_bundle_s_index_coming_and_going_changes_what_its_siblings_are(site: Site) -> None:
    """Issue 20: Markdown beside a Hugo bundle's index.md is the page's resource, not a post; a
    watcher that patched only the saved index.md would keep the sibling as a post."""
    site.config(CONFIG + '\n[content]\ngenerator = "hugo"\n')
    watch = ContentWatch()
    bundle = site.content / "posts" / "trip"

    def save(name: str, text: str) -> None:
        path = bundle / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        watch.note(str(path))

    def check() -> list[tuple[str, str]]:
        found = _loaded(site.root, watch)
        assert found == _loaded(site.root, None)
        return found[0]

    save("notes.md", "---\ntitle: Notes\ndate: 2024-01-02\n---\nN.\n")
    assert [s for s, _ in check()] == ["content/posts/trip/notes.md"]
    save("index.md", "---\ntitle: Trip\ndate: 2024-01-01\n---\nT.\n")
    assert [s for s, _ in check()] == ["content/posts/trip/index.md"]  # notes.md: a resource now
    (bundle / "index.md").unlink()
    watch.note(str(bundle / "index.md"))
    assert [s for s, _ in check()] == ["content/posts/trip/notes.md"]


def test_a_post_taken_from_the_middle_or_edited_in_place_is_replanned_as_a_full_plan_would() -> None:
    """The planner compares the posts with the last call's side by side: an edit in place, a post
    appended, one taken out of the middle (which shifts the others) all plan what planning
    everything plans, and a reorder of the same posts plans nothing again."""
    plan = IncrementalPlan()
    plan.FULL_ABOVE = 4
    now = START + timedelta(days=100)
    posts = [make(n, n, [TAGS[n % 3]], False) for n in range(30)]
    assert plan.plan(posts, SETTINGS, now) == plan_feeds(posts, SETTINGS, now)
    posts[7] = make(7, 60, [TAGS[2]], False, title="edited")  # was "ai", is "Feeds"
    assert plan.plan(posts, SETTINGS, now) == plan_feeds(posts, SETTINGS, now)
    assert plan.replanned == 1 + 2  # the site feed and the tags it was and is in
    posts.append(make(40, 70, [TAGS[2]], False))
    assert plan.plan(posts, SETTINGS, now) == plan_feeds(posts, SETTINGS, now)
    assert plan.replanned == 2
    del posts[3]
    assert plan.plan(posts, SETTINGS, now) == plan_feeds(posts, SETTINGS, now)
    assert plan.replanned == 2  # the others shifted, but they are the same posts
    posts.reverse()
    assert plan.plan(posts, SETTINGS, now) == plan_feeds(posts, SETTINGS, now)
    assert plan.replanned == 1  # the site feed only


def _fresh(index: PostIndex) -> tuple[list[Post], list[Problem], list[Post], list[Problem]]:
    posts = [e.post for e in index.entries.values() if e.post is not None]
    problems = [p for e in index.entries.values() for p in e.problems]
    return (posts, problems, *settle_conflicts(posts))


edits = st.tuples(
    st.sampled_from(["save", "save", "save", "delete", "break", "share"]), st.integers(0, 9), st.integers(0, 3)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(edits, min_size=1, max_size=3), max_size=12))
def test_the_post_index_patched_where_files_changed_gathers_what_a_full_pass_gathers(
    cycles: list[list[tuple[str, int, int]]],
) -> None:
    """The daemon's loader patches the last cycle's posts, problems and conflicts where the saved
    files are; in the same order, whatever the files did (came, went, broke, shared a URL)."""
    index = PostIndex()
    index.gather(None)
    for cycle in cycles:
        changed = set()
        for kind, n, version in cycle:
            source = f"content/{n}.md"
            changed.add(source)
            if kind == "delete":
                index.entries.pop(source, None)
                continue
            if kind == "break":
                entry = CachedPost("sig", "key", None, [Problem(source, "broken")])
            else:
                post = replace(make(n, n + version, [], False), source=source, revision=f"{n}-{version}")
                if kind == "share":
                    post = replace(post, url="https://e.com/shared/")
                entry = CachedPost("sig", "key", post, [])
            index.entries[source] = entry  # an update keeps its place; a new file comes last
        assert index.gather(changed) == _fresh(index)


def test_a_file_gone_and_back_in_one_cycle_is_gathered_at_its_new_place() -> None:
    index = PostIndex()
    index.gather(None)

    def save(n: int, version: int) -> None:
        source = f"content/{n}.md"
        post = replace(make(n, n + version, [], False), source=source, revision=f"{n}-{version}")
        index.entries[source] = CachedPost("sig", "key", post, [])

    for n in range(4):
        save(n, 0)
    assert index.gather({f"content/{n}.md" for n in range(4)}) == _fresh(index)
    del index.entries["content/1.md"]
    save(1, 1)  # now the last entry
    assert index.gather({"content/1.md"}) == _fresh(index)
    save(3, 2)  # in place
    assert index.gather({"content/3.md"}) == _fresh(index)
