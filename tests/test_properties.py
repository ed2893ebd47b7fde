"""Properties over wide inputs: tag slugs, text truncation, URLs, front matter, feed text."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from syndicate.builder.output import safe_join
from syndicate.core.feeds import plan_feeds
from syndicate.core.markup import absolutize, truncate
from syndicate.core.model import RENDERERS, Post, Settings, SiteSettings
from syndicate.core.posts import parse_post
from syndicate.core.render import render_feed
from syndicate.core.slugs import assign_tag_slugs, tag_key, tag_slug
from tests.validators import check_atom, check_feedparser, check_json_feed

SETTINGS = Settings(site=SiteSettings(title="T", url="https://example.com/", author="A", permalink="/p/{slug}/"))
NOW = datetime(2026, 1, 1, tzinfo=UTC)

any_text = st.text(st.characters(codec="utf-8"), max_size=60)


@given(any_text)
def test_a_tag_slug_is_always_one_safe_path_segment(tag: str) -> None:
    slug = tag_slug(tag)
    assert slug and "/" not in slug and "\\" not in slug
    assert not slug.startswith(".") and ".." not in slug
    assert all(c.isprintable() and not c.isspace() for c in slug)
    assert len(slug) <= 80
    assert tag_slug(tag) == slug  # stable
    path = safe_join(Path("/srv/out"), f"tags/{slug}/feed.xml")
    assert path.parent.parent == Path("/srv/out/tags")


@example(["machine learning", "machine-learning"])
@example(["a b", "a_b", "a-b", "A  B"])
@given(st.lists(any_text, max_size=30))
def test_distinct_tags_never_share_a_slug(tags: list[str]) -> None:
    slugs = assign_tag_slugs(tags)
    assert len(set(slugs.values())) == len(slugs) == len({tag_key(t) for t in tags})


def test_tag_slugs_people_will_look_at() -> None:
    assert tag_slug("C++") == "c-plus-plus"
    assert tag_slug("C#") == "c-sharp"
    assert tag_slug("Machine Learning") == "machine-learning"
    assert tag_slug("Über") == "über"
    assert tag_slug("日本語") == "日本語"
    assert tag_slug("node.js") == "node.js"
    assert tag_slug("AI") == tag_slug("ai") == tag_slug(" Ai ")
    slugs = assign_tag_slugs(["machine learning", "machine-learning", "Machine_Learning"])
    assert slugs["machine-learning"] == "machine-learning"  # the tag spelled like its slug keeps it
    assert slugs["machine learning"].startswith("machine-learning-")
    assert len(set(slugs.values())) == 3


@given(st.text(max_size=400), st.integers(min_value=2, max_value=300))
def test_truncate_fits_and_cuts_at_a_word_boundary(text: str, limit: int) -> None:
    out = truncate(text, limit)
    normal = " ".join(text.split())
    assert len(out) <= limit
    if len(normal) <= limit:
        assert out == normal
        return
    assert out.endswith("…")
    head = out[:-1]
    assert normal.startswith(head)
    # the cut lands between words, unless the first word alone is longer than the limit
    if " " in normal[: limit - 1] and head:
        assert normal[len(head)] in " ,;:.-–—", f"cut inside a word: {out!r}"


path_chars = st.sampled_from("abcxyz019-._~/?#=&%")
rel_urls = st.text(path_chars, min_size=1, max_size=30).filter(lambda u: not u.startswith("//"))


@given(rel_urls)
def test_every_url_in_content_ends_up_absolute(url: str) -> None:
    html = f'<p><a href="{url}">x</a><img src="{url}" srcset="{url} 1x, {url} 2x"><video poster="{url}"></video></p>'
    out = absolutize(html, "https://example.com/blog/post/")
    tree = etree.fromstring(f"<div>{out}</div>".encode(), etree.HTMLParser())
    for el in tree.iter():
        for attr in ("href", "src", "poster"):
            if el.get(attr) is not None:
                assert el.get(attr, "").startswith("https://example.com/"), out
        if el.get("srcset"):
            for candidate in el.get("srcset", "").split(", "):
                assert candidate.startswith("https://example.com/"), out


scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), any_text, st.dates())
values = st.recursive(
    scalar, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(any_text, kids, max_size=4), max_leaves=12
)
front_matter = st.dictionaries(
    st.sampled_from(
        [
            "title",
            "date",
            "updated",
            "tags",
            "summary",
            "description",
            "thumb",
            "image",
            "draft",
            "slug",
            "author",
            "lang",
            "id",
            "other",
        ]
    ),
    values,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(front_matter, any_text)
def test_any_front_matter_gives_a_post_or_problems_never_an_exception(meta: dict[str, object], body: str) -> None:
    text = "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + body
    result = parse_post("content/x.md", text.encode("utf-8", "surrogatepass"), SETTINGS)
    if result.post is None:
        assert any(p.severity == "error" for p in result.problems)
    for problem in result.problems:
        assert "\n" not in str(problem) and str(problem).startswith("content/x.md")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_text.filter(lambda t: t.strip()), st.lists(any_text, max_size=4), any_text)
def test_any_title_tags_and_body_make_valid_feeds(title: str, tags: list[str], body: str) -> None:
    meta = {"title": title, "date": "2025-01-01", "tags": tags}
    text = "---\n" + json.dumps(meta) + "\n---\n" + body
    for engine in RENDERERS:
        with_engine = replace(SETTINGS, content=replace(SETTINGS.content, renderer=engine))
        result = parse_post("content/x.md", text.encode("utf-8", "surrogatepass"), with_engine)
        if result.post is not None:  # None: e.g. a title of control characters only (reported)
            _valid_feeds(result.post)


def _valid_feeds(post: Post) -> None:
    files = {
        name: data for feed in plan_feeds([post], SETTINGS, NOW) for name, data in render_feed(feed, SETTINGS).items()
    }
    for name, data in files.items():
        if name.endswith("atom.xml"):
            check_atom(data)
        elif name.endswith("feed.xml"):
            check_feedparser(data)
        elif name.endswith("feed.json"):
            check_json_feed(data)


GENERATOR_KEYS = st.sampled_from(
    [
        "title",
        "Title",
        "date",
        "pubDate",
        "publishDate",
        "expiryDate",
        "lastmod",
        "last_modified_at",
        "published",
        "tags",
        "categories",
        "category",
        "tag",
        "taxonomies",
        "slug",
        "permalink",
        "url",
        "path",
        "status",
        "draft",
        "images",
        "heroImage",
        "cover",
        "authors",
        "by",
        "excerpt_separator",
        "eleventyExcludeFromCollections",
        "aliases",
        "redirect_to",
        "summary",
        "tagz",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["syndicate", "jekyll", "hugo", "zola", "eleventy", "astro", "pelican"]),
    st.sampled_from(["yaml", "json", "pelican"]),
    st.dictionaries(GENERATOR_KEYS, values, max_size=8),
    any_text,
    st.sampled_from(["posts/x.md", "_posts/2024-01-02-x.md", "posts/b/index.md", "2024/05/06/x.md", "x.md"]),
)
def test_any_generators_front_matter_in_any_form_gives_a_post_a_skip_or_problems(
    generator: str, form: str, meta: dict[str, object], body: str, where: str
) -> None:
    """No front matter a generator's site can hold makes the reader raise; a file is a post, or
    skipped with a reason, or rejected with one line naming it."""
    if form == "yaml":
        text = "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + body
    elif form == "json":
        text = json.dumps(meta, default=str, ensure_ascii=False) + "\n" + body
    else:
        lines = [f"{k}: {' '.join(str(v).split())}" for k, v in meta.items()]
        text = "Title: x\n" + "\n".join(lines) + "\n\n" + body
    s = replace(SETTINGS, content=replace(SETTINGS.content, generator=generator))
    path = f"content/{where}"
    result = parse_post(path, text.encode("utf-8", "surrogatepass"), s)
    if result.post is None:
        assert any(p.severity in ("error", "skipped") for p in result.problems)
    else:
        assert result.post.url.startswith("https://example.com/") and "//" not in result.post.url[8:]
    for problem in result.problems:
        assert "\n" not in str(problem) and str(problem).startswith(path)
