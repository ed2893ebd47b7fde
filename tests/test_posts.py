"""Parsing details a writer would notice: summaries, slugs, dates, ids, thumbnails."""

from __future__ import annotations

from datetime import UTC, datetime

from syndicate.core.model import Post, Settings, SiteSettings
from syndicate.core.posts import parse_post

SETTINGS = Settings(
    site=SiteSettings(
        title="T", url="https://example.com/", author="A", timezone="Europe/Paris", permalink="/blog/{year}/{slug}/"
    )
)


def parse(text: str, name: str = "content/2024-05-15-hello-world.md") -> Post:
    result = parse_post(name, text.encode(), SETTINGS)
    assert result.post is not None, result.problems
    return result.post


def test_summary_is_the_text_before_more_and_the_marker_is_not_in_the_content() -> None:
    post = parse("---\ntitle: t\ndate: 2024-01-01\n---\nIntro *para*.\n\nSecond.\n\n<!--more-->\n\nRest.\n")
    assert post.summary == "Intro para. Second."
    assert "more" not in post.content_html and "<p>Rest.</p>" in post.content_html


def test_a_more_marker_inside_code_is_just_code() -> None:
    post = parse("---\ntitle: t\ndate: 2024-01-01\n---\nFirst para.\n\n```\n<!--more-->\n```\n")
    assert post.summary == "First para."
    assert "&lt;!--more--&gt;" in post.content_html


def test_without_summary_or_more_the_first_paragraph_is_cut_at_a_word() -> None:
    long = " ".join(["word"] * 200)
    post = parse(f"---\ntitle: t\ndate: 2024-01-01\n---\n# Heading\n\n{long}\n\nSecond paragraph.\n")
    assert post.summary.endswith("word…") and len(post.summary) <= 280
    assert "Heading" not in post.summary and "Second" not in post.summary


def test_slug_from_file_name_and_permalink_fields() -> None:
    post = parse("---\ntitle: t\ndate: 2024-12-31 23:30\n---\nx\n")
    assert post.slug == "hello-world"
    assert post.url == "https://example.com/blog/2024/hello-world/"  # the year in Paris, not UTC
    assert post.published == datetime(2024, 12, 31, 22, 30, tzinfo=UTC)


def test_a_non_latin_slug_is_percent_encoded_in_the_url() -> None:
    post = parse("---\ntitle: t\ndate: 2024-01-01\nslug: café-日本\n---\nx\n")
    assert post.url == "https://example.com/blog/2024/caf%C3%A9-%E6%97%A5%E6%9C%AC/"


def test_front_matter_id_survives_a_slug_change() -> None:
    a = parse("---\ntitle: t\ndate: 2024-01-01\nid: post-42\nslug: old\n---\nx\n")
    b = parse("---\ntitle: t\ndate: 2024-01-01\nid: post-42\nslug: new\n---\nx\n")
    assert a.id == b.id and a.id.startswith("urn:uuid:") and a.url != b.url


def test_dates_with_offsets_and_z() -> None:
    assert parse("---\ntitle: t\ndate: 2024-05-15T10:00:00Z\n---\n").published.hour == 10
    assert parse("---\ntitle: t\ndate: '2024-05-15T10:00:00+02:00'\n---\n").published.hour == 8
    assert parse("---\ntitle: t\ndate: 2024-05-15\n---\n").published == datetime(2024, 5, 14, 22, 0, tzinfo=UTC)


def test_thumbnail_forms() -> None:
    root = parse("---\ntitle: t\ndate: 2024-01-01\nthumb: /img/a.webp\n---\n")
    assert root.image is not None and root.image.url == "https://example.com/img/a.webp"
    assert root.image.mime_type == "image/webp"
    bare = parse("---\ntitle: t\ndate: 2024-01-01\nimage: a.png\n---\n")
    assert bare.image is not None and bare.image.url == "https://example.com/blog/2024/hello-world/a.png"


def test_windows_line_endings_and_a_bom_are_fine() -> None:
    text = "\ufeff---\r\ntitle: Windows\r\ndate: 2024-01-01\r\n---\r\nBody line.\r\n"
    result = parse_post("content/w.md", text.encode("utf-8"), SETTINGS)
    assert result.post is not None and result.post.title == "Windows" and result.post.summary == "Body line."


def test_tags_dedupe_case_insensitively_keeping_the_first_spelling() -> None:
    post = parse("---\ntitle: t\ndate: 2024-01-01\ntags: 'AI, ai, Ai,  machine   learning ,'\n---\n")
    assert post.tags == ("AI", "machine learning")


def test_syndicate_as_a_mapping_sets_each_targets_own_options_and_warns_on_the_rest() -> None:
    from syndicate.config import parse_settings

    s = parse_settings(
        '[site]\ntitle = "T"\nurl = "https://example.com/"\nauthor = "A"\n'
        '[[targets]]\nname = "masto"\nkind = "mastodon"\ninstance = "https://m.example"\ntoken_env = "T"\n'
        '[[targets]]\nname = "sky"\nkind = "bluesky"\nhandle = "me.bsky.social"\npassword_env = "P"\n'
        '[[targets]]\nname = "news"\nkind = "webhook"\nurl = "https://h.example/"\nsecret_env = "S"\n'
    )
    text = """---
title: t
date: 2024-01-01
syndicate:
  masto: {text: "Mine {url}", visibility: unlisted, colour: red}
  sky: {text: "Mine too {title.__class__}"}
  news: false
  nowhere: true
---
x
"""
    result = parse_post("content/a.md", text.encode(), s)
    assert result.post is not None
    p = result.post
    assert p.option("masto", "text") == "Mine {url}" and p.option("masto", "visibility") == "unlisted"
    assert p.option("sky", "text") is None and p.goes_to("sky") and p.goes_to("masto") and not p.goes_to("news")
    assert sorted(x.message.split(" (")[0].split(";")[0] for x in result.problems) == [
        "syndicate: 'nowhere' is not a target in the config",
        "syndicate: masto: colour is not an option",
        "syndicate: sky: text uses {title.__class__}",
    ]
