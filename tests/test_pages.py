"""The feeds' front door (index.html, feeds.opml): its attribute quoting is the standard library's."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr as stdlib_quoteattr

from hypothesis import example, given
from hypothesis import strategies as st

from syndicate.core.render.pages import quoteattr


@given(st.text(alphabet=st.sampled_from(list("ab&<>\"'\n\r\t é")) | st.characters(), max_size=40))
@example('Tom\'s "best" <feed> & more\n')
@example("it's")
@example('say "hi"')
def test_quoteattr_is_the_standard_librarys(value: str) -> None:
    assert quoteattr(value) == stdlib_quoteattr(value)


def test_the_index_made_with_kept_rows_is_the_index_made_anew() -> None:
    """The daemon keeps each feed's row of index.html between saves: after any change of the
    feeds (a count, a title, a feed gone or new) the page is the one made from nothing."""
    from datetime import UTC, datetime

    from syndicate.core.feeds import plan_feeds
    from syndicate.core.model import Content, Post, Settings, SiteSettings
    from syndicate.core.render.pages import RowMemo, render_index

    settings = Settings(SiteSettings(title="T & co", url="https://e.com/", author="A"))

    def post(n: int, tags: tuple[str, ...]) -> Post:
        when = datetime(2026, 1, 1 + n, tzinfo=UTC)
        url = f"https://e.com/{n}/"
        body = Content(html="x", summary="s")
        return Post(f"content/{n}.md", url, url, str(n), f"P{n}", when, when, tags, str(n), body)

    rows: RowMemo = {}
    posts: list[Post] = []
    for n, tags in enumerate([("a",), ("a", "b"), ("c <x>",), ("b",), ("a",)]):
        posts.append(post(n, tags))
        feeds = plan_feeds(posts, settings, datetime(2027, 1, 1, tzinfo=UTC))
        assert render_index(feeds, settings, rows) == render_index(feeds, settings)
        assert len(rows) == len(feeds)
    posts = posts[2:]  # feeds gone: their rows too
    feeds = plan_feeds(posts, settings, datetime(2027, 1, 1, tzinfo=UTC))
    assert render_index(feeds, settings, rows) == render_index(feeds, settings)
    assert len(rows) == len(feeds)
