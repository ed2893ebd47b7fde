"""Social texts: always within the limit, link whole, cut at words, hashtags whole; facets exact."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from syndicate.core.social import (
    BLUESKY_LIMIT,
    DEFAULT_TEMPLATES,
    fit,
    graphemes,
    hashtag,
    mastodon_length,
    short_url,
    tid,
)

words = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"], exclude_characters="\n"), max_size=40
)
emoji_cjk = st.sampled_from(["👨‍👩‍👧‍👦", "🇫🇷", "é", "日本語", "漢字かな", "🏳️‍🌈", "👍🏽", "x"])
titles = st.lists(st.one_of(words, emoji_cjk), min_size=1, max_size=12).map(" ".join).filter(lambda t: t.strip())
summaries = st.lists(st.one_of(words, emoji_cjk), max_size=120).map(" ".join)
paths = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_/", min_size=1, max_size=300)
urls = paths.map(lambda p: "https://example.com/" + p.strip("/"))
tags = st.lists(
    st.one_of(st.sampled_from(["AI", "C++", "C#", "machine learning", "日本語", "Über", "2024"]), words), max_size=8
)

TAG_TOKEN = re.compile(r"#\S+")


@settings(max_examples=400, deadline=None)
@example(title="🇫🇷" * 600, summary="", url="https://example.com/x", tags=[], limit=500)
@example(title="t", summary="word " * 300, url="https://example.com/" + "a" * 400, tags=["AI"] * 3, limit=500)
@given(titles, summaries, urls, tags, st.sampled_from([500, 300, 140, 1000]))
def test_mastodon_text_never_exceeds_the_limit_and_keeps_the_link(
    title: str, summary: str, url: str, tags: list[str], limit: int
) -> None:
    text = fit(
        DEFAULT_TEMPLATES["mastodon"],
        title=title,
        url=url,
        summary=summary,
        tags=tags,
        limit=limit,
        length=mastodon_length,
    ).text
    assert mastodon_length(text) <= limit
    assert url in text.split()  # the link, whole, as its own word
    allowed = {f"#{h}" for h in (hashtag(t) for t in tags) if h}
    for token in TAG_TOKEN.findall(text.rsplit(url, 1)[-1]):
        assert token in allowed, f"hashtag cut: {token}"
    head = text.split(url)[0]
    body_words = set(" ".join([title, summary]).split())
    whole = body_words | {w.rstrip(" ,;:.-–—") for w in body_words}
    for word in head.split():
        assert word in body_words or word == "…" or (word.endswith("…") and word[:-1] in whole), f"cut: {word!r}"


def test_mastodon_counts_urls_as_23_and_the_content_warning_too() -> None:
    long_url = "https://example.com/" + "a" * 200
    assert mastodon_length(f"see {long_url}") == 4 + 23
    assert mastodon_length("ab", spoiler="cw") == 4
    assert mastodon_length("👨‍👩‍👧‍👦") == 1  # one grapheme
    assert mastodon_length("hi @alice@example.social") == len("hi @alice")


def test_the_summary_is_cut_first_then_hashtags_then_the_title() -> None:
    args = {"title": "A title", "url": "https://example.com/p", "tags": ["AI", "research"]}
    full = fit(DEFAULT_TEMPLATES["mastodon"], summary="one two three", limit=500, length=mastodon_length, **args)  # type: ignore[arg-type]
    assert full.text == "A title\n\none two three\n\nhttps://example.com/p\n\n#AI #research"
    cut = fit(DEFAULT_TEMPLATES["mastodon"], summary="one two three", limit=61, length=mastodon_length, **args)  # type: ignore[arg-type]
    assert cut.text == "A title\n\none two…\n\nhttps://example.com/p\n\n#AI #research"
    no_summary = fit(DEFAULT_TEMPLATES["mastodon"], summary="one two three", limit=48, length=mastodon_length, **args)  # type: ignore[arg-type]
    assert no_summary.text == "A title\n\nhttps://example.com/p\n\n#AI #research"
    fewer_tags = fit(DEFAULT_TEMPLATES["mastodon"], summary="one two three", limit=38, length=mastodon_length, **args)  # type: ignore[arg-type]
    assert fewer_tags.text == "A title\n\nhttps://example.com/p\n\n#AI"


def test_hashtags_from_tags() -> None:
    assert hashtag("machine learning") == "MachineLearning"
    assert hashtag("C#") == "CSharp" and hashtag("C++") == "CPlusPlus"
    assert hashtag("日本語") == "日本語" and hashtag("Über") == "Über"
    assert hashtag("2024") is None and hashtag("!!!") is None
    assert hashtag("AI") == "AI"


@settings(max_examples=300, deadline=None)
@given(titles, summaries, urls, tags)
def test_bluesky_facets_point_at_the_right_bytes(title: str, summary: str, url: str, tags: list[str]) -> None:
    composed = fit(
        DEFAULT_TEMPLATES["bluesky"],
        title=title,
        url=url,
        url_text=short_url(url),
        summary=summary,
        tags=tags,
        limit=BLUESKY_LIMIT,
        length=graphemes,
    )
    assert graphemes(composed.text) <= BLUESKY_LIMIT
    data = composed.text.encode("utf-8")
    links = [s for s in composed.spans if s.kind == "link"]
    assert len(links) == 1 and links[0].value == url
    assert data[links[0].start : links[0].end].decode() == short_url(url)
    for span in composed.spans:
        if span.kind == "tag":
            assert data[span.start : span.end].decode() == "#" + span.value


def test_tids_are_valid_sortable_and_deterministic() -> None:
    a = tid(1_700_000_000_000_000, 5)
    b = tid(1_700_000_000_000_001, 5)
    assert re.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", a)
    assert a < b and tid(1_700_000_000_000_000, 5) == a and tid(1_700_000_000_000_000, 6) != a
