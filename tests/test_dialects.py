"""Posts as each generator writes them: front matter forms, fields, dates, slugs, URLs, drafts,
taxonomies and the files that are no posts. Real parsing of real text; the generators' own
builds are compared in test_generators.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.config import load_settings, parse_settings
from syndicate.core.dialects import dialect, skip_reason
from syndicate.core.feeds import IncrementalPlan, plan_feeds
from syndicate.core.model import Post, Settings
from syndicate.core.posts import FileTimes, ParseResult, parse_post

BASE = """
[site]
title = "T"
url = "https://example.org/"
author = "A"
timezone = "Europe/Berlin"
"""


def config(generator: str = "syndicate", site: str = "", content: str = "") -> Settings:
    return parse_settings(f'{BASE}{site}\n[content]\ngenerator = "{generator}"\n{content}\n')


def read(text: str, path: str = "content/posts/hello.md", s: Settings | None = None, **kw: object) -> ParseResult:
    return parse_post(path, text.encode(), s or config(), **kw)  # type: ignore[arg-type]


def post(text: str, path: str = "content/posts/hello.md", s: Settings | None = None) -> Post:
    result = read(text, path, s)
    assert result.post is not None, [str(p) for p in result.problems]
    return result.post


def messages(result: ParseResult, severity: str = "error") -> list[str]:
    return [f"{p.line}: {p.message}" for p in result.problems if p.severity == severity]


HUGO = config("hugo", 'permalink = "/:year/:month/:slug/"', 'taxonomies = ["tags", "categories", "series"]')


# -- front matter in every form --------------------------------------------------------------


def test_toml_json_yaml_and_pelican_front_matter_give_the_same_post() -> None:
    forms = [
        '+++\ntitle = "Hello"\ndate = 2024-03-05T10:00:00+01:00\ntags = ["a", "b"]\n+++\nBody.\n',
        '{\n  "title": "Hello",\n  "date": "2024-03-05T10:00:00+01:00",\n  "tags": ["a", "b"]\n}\nBody.\n',
        "---\ntitle: Hello\ndate: 2024-03-05T10:00:00+01:00\ntags: [a, b]\n---\nBody.\n",
        "Title: Hello\nDate: 2024-03-05T10:00:00+01:00\nTags: a, b\n\nBody.\n",
    ]
    posts = [post(text) for text in forms]
    assert {(p.title, p.published, p.tags, p.content_html) for p in posts} == {
        ("Hello", datetime(2024, 3, 5, 9, tzinfo=UTC), ("a", "b"), "<p>Body.</p>")
    }


@pytest.mark.parametrize(
    ("text", "line", "start"),
    [
        ('+++\ntitle = "x"\ndate = 2024-01-01\ntags = [\n+++\n', 4, "front matter is not valid TOML"),
        ('+++\ntitle = "x"\n', 1, "front matter is never closed: add a '+++' line"),
        ('{\n  "title": "x",\n  "date": \n}\n', 4, "front matter is not valid JSON"),
        ("---\ntitle: x\nTitle: y\ndate: 2024-01-01\n---\n", 3, "front matter sets 'title' twice"),
        ("Just a note: nothing here\n", 1, "no front matter"),
        ('{"title": "' + "x" * 70_000 + '"}\n', 1, "front matter is larger than 64 KiB"),
    ],
)
def test_a_broken_front_matter_is_one_error_with_its_line(text: str, line: int, start: str) -> None:
    result = read(text, s=HUGO)
    assert result.post is None
    [error] = [p for p in result.problems if p.severity == "error"]
    assert error.line == line and error.message.startswith(start), str(error)


def test_a_key_is_found_on_its_line_in_toml() -> None:
    result = read('+++\ntitle = "x"\ndate = 2024-01-01\ntags = "a"\nlang = "not a tag!"\n+++\nx\n')
    assert messages(result, "warning") == ["5: lang 'not a tag!' is not a language tag like 'en' or 'pt-BR'; left out"]


# -- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ("2024-4-9", datetime(2024, 4, 8, 22, tzinfo=UTC)),
        ("'2024-01-29 18:30:22 -0800'", datetime(2024, 1, 30, 2, 30, 22, tzinfo=UTC)),
        ("2024/03/05", datetime(2024, 3, 4, 23, tzinfo=UTC)),
        ("Jul 08 2022", datetime(2022, 7, 7, 22, tzinfo=UTC)),
        ("8 July 2022 10:30", datetime(2022, 7, 8, 8, 30, tzinfo=UTC)),
    ],
)
def test_lenient_but_unambiguous_dates_are_read(written: str, utc: datetime) -> None:
    assert post(f"---\ntitle: t\ndate: {written}\n---\nx\n").published == utc


@pytest.mark.parametrize("written", ["05/06/2024", "2024-13-01", "next tuesday", "Foo 8 2022"])
def test_ambiguous_or_unreadable_dates_are_an_error_naming_the_line(written: str) -> None:
    result = read(f"---\ntitle: t\ndate: {written}\n---\nx\n")
    [error] = messages(result)
    assert error.startswith(f"3: date: cannot read '{written}' as a date")


def test_a_date_from_the_file_name_or_its_folders_is_taken_and_said() -> None:
    for path in ("content/posts/2024-02-10-second.md", "content/2024/02/10/second.md"):
        result = read("---\ntitle: t\n---\nx\n", path)
        assert result.post is not None and result.post.published == datetime(2024, 2, 9, 23, tzinfo=UTC)
        assert messages(result, "note") == ["None: date 2024-02-10 taken from the file's path"]
    assert messages(read("---\ntitle: t\n---\nx\n", "content/second.md"))[0].startswith("None: date is missing")


def test_eleventy_last_modified_and_created_are_the_files_times() -> None:
    s = config("eleventy")
    times = FileTimes(datetime(2024, 5, 1, 12, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC))
    modified = read("---\ntitle: t\ndate: Last Modified\n---\nx\n", "content/blog/a.md", s, times=times)
    created = read("---\ntitle: t\ndate: Created\n---\nx\n", "content/blog/a.md", s, times=times)
    assert modified.post is not None and modified.post.published == times.modified
    assert created.post is not None and created.post.published == times.created


# -- drafts, schedules, expiry ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag",
    ["draft: true", "published: false", "status: draft"],
)
def test_each_generators_draft_flag_makes_a_draft(flag: str) -> None:
    assert post(f"---\ntitle: t\ndate: 2024-01-01\n{flag}\n---\nx\n", s=HUGO).draft


def test_a_pelican_draft_in_its_header_is_a_draft() -> None:
    assert post("Title: t\nDate: 2024-01-01\nStatus: draft\n\nx\n", s=config("pelican")).draft


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("---\ntitle: t\ndate: 2024-01-01\nstatus: hidden\n---\nx\n", "Status: hidden"),
        ("---\ntitle: t\ndate: 2024-01-01\neleventyExcludeFromCollections: true\n---\nx\n", "eleventyExcludeFrom"),
        ("---\ntitle: t\ndate: 2024-01-01\npermalink: false\n---\nx\n", "permalink: false"),
        ("---\ntitle: Moved\nredirect_to: https://example.org/new/\n---\n", "a redirect page"),
        ('+++\naliases = ["/old/"]\n+++\n', "a redirect page"),
    ],
)
def test_front_matter_that_makes_no_page_is_skipped_not_rejected(text: str, why: str) -> None:
    result = read(text, s=HUGO)
    assert result.post is None and not messages(result)
    [skipped] = messages(result, "skipped")
    assert why in skipped


def test_hugo_publish_date_schedules_and_expiry_date_retires() -> None:
    text = '+++\ntitle = "t"\ndate = 2024-01-01\npublishDate = 2024-06-01\nexpiryDate = 2024-09-01\n+++\nx\n'
    p = post(text, s=HUGO)
    assert p.published == datetime(2023, 12, 31, 23, tzinfo=UTC)  # the date readers see
    before, during, after = (datetime(2024, m, 15, tzinfo=UTC) for m in (3, 7, 10))
    assert (p.is_scheduled(before), p.is_live(before)) == (True, False)
    assert p.is_live(during) and p.next_change(during) == datetime(2024, 8, 31, 22, tzinfo=UTC)
    assert (p.is_live(after), p.is_expired(after), p.next_change(after)) == (False, True, None)
    assert plan_feeds([p], HUGO, after)[0].posts == ()


def _timed(i: int, start: int, length: int | None) -> Post:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    expiry = f"expiryDate = {(base + timedelta(days=start + length)).date()}\n" if length is not None else ""
    text = f'+++\ntitle = "p{i}"\ndate = {(base + timedelta(days=start)).date()}\ntags = ["t{i % 3}"]\n{expiry}+++\nx\n'
    return post(text, f"content/posts/p{i}.md", HUGO)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 60), st.one_of(st.none(), st.integers(1, 30))), min_size=1, max_size=8),
    st.lists(st.integers(0, 100), min_size=1, max_size=6),
)
def test_the_daemons_incremental_plan_follows_expiry_like_a_full_plan(
    spans: list[tuple[int, int | None]], days: list[int]
) -> None:
    posts = [_timed(i, start, length) for i, (start, length) in enumerate(spans)]
    planner = IncrementalPlan()
    for day in sorted(days):
        now = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=12)
        got = [(f.key, [p.source for p in f.posts]) for f in planner.plan(posts, HUGO, now)]
        want = [(f.key, [p.source for p in f.posts]) for f in plan_feeds(posts, HUGO, now)]
        assert got == want


# -- slugs and URLs --------------------------------------------------------------------------------


def test_hugo_bundles_take_their_folders_name_and_resolve_images_against_the_post() -> None:
    s = config("hugo", content='sections = ["posts"]')
    a = post(
        '+++\ntitle = "A"\ndate = 2024-01-01\nimages = ["cover.jpg"]\n+++\n![x](cover.jpg)\n',
        "content/posts/a/index.md",
        s,
    )
    b = post('+++\ntitle = "B"\ndate = 2024-01-02\n+++\nx\n', "content/posts/b/index.md", s)
    assert (a.url, b.url) == ("https://example.org/posts/a/", "https://example.org/posts/b/")
    assert a.image is not None and a.image.url == "https://example.org/posts/a/cover.jpg"
    assert 'src="https://example.org/posts/a/cover.jpg"' in a.content_html


def test_hugo_slug_is_the_title_urlized_and_the_path_lower_case_but_url_is_kept() -> None:
    text = '+++\ntitle = "Zine Launch: Neukölln, 2024"\ndate = 2024-03-05T10:00:00-07:00\n+++\nx\n'
    assert (
        post(text, "content/posts/Zine.md", HUGO).url == "https://example.org/2024/03/zine-launch-neuk%C3%B6lln-2024/"
    )
    own = post('+++\ntitle = "x"\ndate = 2024-01-01\nurl = "/Reading/List/"\n+++\nx\n', s=HUGO)
    assert own.url == "https://example.org/Reading/List/"


def test_hugo_takes_the_month_from_the_date_as_written_not_the_sites_zone() -> None:
    late = post('+++\ntitle = "Late"\ndate = 2024-04-30T22:30:00-07:00\n+++\nx\n', s=HUGO)
    assert late.url == "https://example.org/2024/04/late/"  # it was 1 May in Berlin


def test_jekyll_reads_its_file_names_categories_and_permalink_styles() -> None:
    s = config("jekyll", 'permalink = "pretty"', 'dir = "."')
    s = replace(s, site=replace(s.site, timezone="America/New_York"))
    p = post("---\ntitle: Menu\ncategories: news updates\n---\nx\n", "_posts/2024-02-14-Valentines-Day.md", s)
    assert p.url == "https://example.org/news/updates/2024/02/14/Valentines-Day/"
    assert p.taxonomy_terms() == (("categories", ("news", "updates")),)
    nested = post("---\ntitle: x\ncategory: Road Trips\n---\nx\n", "blog/_posts/2024-07-04-fire.md", s)
    assert nested.url == "https://example.org/blog/road%20trips/2024/07/04/fire/"
    unquoted = post("---\ntitle: x\ndate: 2024-03-01 02:00:00\n---\nx\n", "_posts/2024-03-01-bagels.md", s)
    assert unquoted.url.endswith("/2024/02/29/bagels/")  # an unquoted YAML time is UTC to Ruby
    own = post("---\ntitle: x\npermalink: /notes/:year/:slug.html\n---\nx\n", "_posts/2024-06-15-Knives.md", s)
    assert own.url == "https://example.org/notes/2024/knives.html"


@pytest.mark.parametrize(
    ("generator", "path", "title", "url"),
    [
        ("zola", "content/blog/2024-02-01-Dated Name.md", "x", "/blog/dated-name/"),
        ("zola", "content/blog/café.md", "x", "/blog/cafe/"),
        ("eleventy", "blog/2024-02-01-my-post.md", "x", "/blog/2024-02-01-my-post/"),
        ("eleventy", "blog/WhyICode.md", "x", "/blog/WhyICode/"),
        ("astro", "src/content/blog/v5.0-Notes.md", "x", "/blog/v50-notes/"),
        ("pelican", "content/python/x.md", "東京の夜 — Tokyo nights", "/dong-jing-noye-tokyo-nights.html"),
    ],
)
def test_each_generators_slugs(generator: str, path: str, title: str, url: str) -> None:
    folder = {"eleventy": ".", "astro": "src/content/blog"}.get(generator, "content")
    s = config(generator, content=f'dir = "{folder}"')
    p = post(f"---\ntitle: {title}\ndate: 2024-02-01\n---\nx\n", path, s)
    assert p.url == "https://example.org" + url.replace("é", "%C3%A9")


def test_a_template_the_generator_would_run_is_refused_with_the_key() -> None:
    s = config("eleventy", content='dir = "."')
    result = read('---\ntitle: t\ndate: 2024-01-01\npermalink: "/{{ title | slugify }}/"\n---\nx\n', "blog/a.md", s)
    assert messages(result) == [
        "4: permalink '/{{ title | slugify }}/' uses template code syndicate cannot run; write the path out"
    ]
    ok = post("---\ntitle: t\ndate: 2024-01-01\npermalink: /custom/{{ page.fileSlug }}/\n---\nx\n", "blog/a.md", s)
    assert ok.url == "https://example.org/custom/a/"


# -- taxonomies --------------------------------------------------------------------------------------


def test_a_category_and_a_tag_of_the_same_name_are_two_feeds_in_two_folders() -> None:
    p = post(
        '+++\ntitle = "t"\ndate = 2024-01-01\ntags = ["Python"]\ncategories = ["Python", "Notes"]\n+++\nx\n', s=HUGO
    )
    feeds = plan_feeds([p], HUGO, datetime(2025, 1, 1, tzinfo=UTC))
    assert [(f.links.paths["rss"], f.title) for f in feeds] == [
        ("feed.xml", "T"),
        ("tags/python/feed.xml", "T – Python"),
        ("categories/notes/feed.xml", "T – Notes (categories)"),
        ("categories/python/feed.xml", "T – Python (categories)"),
    ]
    assert p.tags == ("Python", "Notes")  # every term is an item category, once


def test_zola_taxonomies_table_and_eleventys_collection_tag() -> None:
    z = post(
        '+++\ntitle = "t"\ndate = 2024-01-01\n[taxonomies]\ntags = ["rust"]\ncategories = ["Code"]\n+++\nx\n',
        s=config("zola"),
    )
    assert z.taxonomy_terms() == (("tags", ("rust",)), ("categories", ("Code",)))
    e = post(
        "---\ntitle: t\ndate: 2024-01-01\ntags: [posts, film]\n---\nx\n",
        "blog/a.md",
        config("eleventy", content='dir = "."'),
    )
    assert e.tags == ("film",)


def test_a_typo_in_a_key_is_a_warning_with_a_suggestion_and_generator_keys_are_quiet() -> None:
    result = read("---\ntitel: x\ntitle: t\ndate: 2024-01-01\ntagz: [a]\nweight: 3\nlayout: post\nmood: fine\n---\nx\n")
    assert messages(result, "warning") == [
        "2: unknown key 'titel'; did you mean 'title'? (it is ignored)",
        "5: unknown key 'tagz'; did you mean 'tags'? (it is ignored)",
    ]


# -- which files are posts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("generator", "sections", "rel", "why"),
    [
        ("hugo", ("posts",), "posts/_index.md", "a section's index page"),
        ("hugo", ("posts",), "about.md", "outside the post folders"),
        ("hugo", ("posts",), "posts/trip/index.md", None),
        ("jekyll", (), "README.md", "a project file (README"),
        ("jekyll", (), "about.md", "not in a _posts/ folder"),
        ("jekyll", (), "_drafts/soup.md", "an unpublished draft"),
        ("jekyll", (), "_posts/soup.md", "Jekyll reads only YYYY-MM-DD-title files"),
        ("jekyll", (), "blog/_posts/2024-01-01-soup.md", None),
        ("pelican", (), "pages/about.md", "a page (in pages/)"),
        ("eleventy", ("blog",), "index.md", "the index page of a listing"),
        ("syndicate", (), "index.md", None),  # a post of syndicate's own keeps the name it always had
    ],
)
def test_which_files_are_posts(generator: str, sections: tuple[str, ...], rel: str, why: str | None) -> None:
    reason = skip_reason(dialect(generator), sections, rel)
    assert (reason is None) if why is None else why in (reason or ""), (rel, reason)


def test_syndicates_own_posts_keep_their_revisions_urls_and_ids() -> None:
    """Reading other generators changed nothing for a syndicate site: the same revision (no
    post.updated for every post after an upgrade), the same URL and id (no second post). The
    values are what the release before generators were read gave for the bundled sample."""
    root = Path(__file__).resolve().parents[1]
    source = "content/2024-09-02-cpp-vs-csharp.md"
    p = post((root / source).read_text(encoding="utf-8"), source, load_settings(root))
    assert (p.revision, p.url, p.id) == ("de3794ea2876df75", *("https://example.com/blog/cpp-vs-csharp/",) * 2)


def test_jekylls_excerpt_separator_ends_the_summary_also_when_the_html_is_made_later() -> None:
    text = "---\ntitle: t\nexcerpt_separator: <!--cut-->\n---\nOne.\n\nTwo.\n<!--cut-->\nThree.\n"
    s = config("jekyll", content='dir = "."')
    p = post(text, "_posts/2024-05-10-market.md", s)
    assert p.summary == "One. Two." and "Three" in p.content_html and "cut" not in p.content_html
    from syndicate.core.bodies import post_body
    from syndicate.core.markup import render_body

    body = post_body("_posts/2024-05-10-market.md", text.encode(), "jekyll", ".")
    later = render_body(body, p.url, *s.render_args)
    assert later == (p.content_html, p.summary)


def test_pelicans_static_link_markers_are_paths_on_the_site() -> None:
    s = config("pelican")
    body = '![a]({static}/images/a.png) [b]({attach}b.pdf) <img src="|static|/c.png"> `{static}`\n'
    text = "Title: t\nDate: 2024-01-01\n\n" + body
    p = post(text, "content/python/t.md", s)
    html = p.content_html
    assert 'src="https://example.org/images/a.png"' in html and 'href="https://example.org/python/b.pdf"' in html
    assert 'src="https://example.org/c.png"' in html and "<code>{static}</code>" in html


@pytest.mark.parametrize(
    ("generator", "path", "url"),
    [
        ("hugo", "content/posts/2024-01-05-new-year.md", "/posts/2024-01-05-new-year/"),
        ("astro", "src/content/blog/2024-01-05-new-year.md", "/blog/2024-01-05-new-year/"),
        ("zola", "content/blog/2024-01-05-new-year.md", "/blog/new-year/"),
        ("eleventy", "blog/2024-01-05-new-year.md", "/blog/2024-01-05-new-year/"),
    ],
)
def test_a_date_in_the_file_name_stays_in_the_url_where_the_generator_keeps_it(
    generator: str, path: str, url: str
) -> None:
    folder = {"eleventy": ".", "astro": "src/content/blog"}.get(generator, "content")
    s = config(generator, content=f'dir = "{folder}"')
    assert post("---\ntitle: x\n---\nx\n", path, s).url == "https://example.org" + url


def test_eleventys_file_slug_drops_the_date_as_eleventy_does() -> None:
    s = config("eleventy", content='dir = "."')
    p = post("---\ntitle: t\npermalink: /n/{{ page.fileSlug }}/\n---\nx\n", "blog/2024-01-05-new-year.md", s)
    assert p.url == "https://example.org/n/new-year/"


# -- a plain syndicate site reads exactly as it did -------------------------------------------------

OWN = config(site='permalink = "/@ada/{year}+{slug}/"')


@pytest.mark.parametrize(
    ("path", "text", "url"),
    [
        ("content/a.md", "---\ntitle: t\ndate: 2024-01-01\npermalink: /elsewhere/\n---\nx\n", "/@ada/2024+a/"),
        ("content/a.md", "---\ntitle: t\ndate: 2024-01-01\nSlug: other\n---\nx\n", "/@ada/2024+a/"),
        ("content/a.md", "---\ntitle: t\ndate: 2024-01-01\nslug: cafe\u0301\n---\nx\n", "/@ada/2024+cafe%CC%81/"),
        ("content/README.md", "---\ntitle: t\ndate: 2024-01-01\n---\nx\n", "/@ada/2024+README/"),
        ("content/trip/index.md", "---\ntitle: t\ndate: 2024-01-01\n---\nx\n", "/@ada/2024+index/"),
        ("content/_index.md", "---\ntitle: t\ndate: 2024-01-01\n---\nx\n", "/@ada/2024+_index/"),
        ("content/my notes.md", "---\ntitle: t\ndate: 2024-01-01\n---\nx\n", "/@ada/2024+my-notes/"),
    ],
)
def test_a_syndicate_site_keeps_every_url_it_had(path: str, text: str, url: str) -> None:
    """URLs are ids: one that moved would be a second post to every follower. The permalink's own
    text stays as written, no generator's key moves a post, every Markdown file is still a post."""
    assert skip_reason(dialect("syndicate"), (), path.removeprefix("content/")) is None
    assert post(text, path, OWN).url == "https://example.org" + url


@pytest.mark.parametrize(
    "extra",
    ["published: false", "status: draft", "status: hidden", "lastmod: 2025-01-01", "expiryDate: 2024-02-01", "by: Bo"],
)
def test_a_syndicate_site_ignores_the_generators_keys(extra: str) -> None:
    """No generator's key changes a plain syndicate post (its revision too: no post.updated)."""
    plain = post("---\ntitle: t\ndate: 2024-01-01\n---\nx\n", s=OWN)
    more = post(f"---\ntitle: t\ndate: 2024-01-01\n{extra}\n---\nx\n", s=OWN)
    assert (more.draft, more.revision, more.updated, more.author, more.expires) == (
        False,
        plain.revision,
        plain.updated,
        None,
        None,
    )


def test_an_empty_summary_falls_back_to_the_description() -> None:
    assert post("---\ntitle: t\ndate: 2024-01-01\nsummary: ''\ndescription: D\n---\nx\n").summary == "D"


@pytest.mark.parametrize(
    ("generator", "path", "text"),
    [
        ("jekyll", "_posts/2024-01-01-x.md", "---\ntitle: t\ncategories: ['../../..']\n---\nx\n"),
        ("hugo", "content/posts/x.md", '+++\ntitle = "t"\ndate = 2024-01-01\nslug = ".."\n+++\nx\n'),
        ("pelican", "content/x.md", "Title: t\nDate: 2024-01-01\nSlug: ../../evil\n\nx\n"),
        ("astro", "src/content/blog/x.md", "---\ntitle: t\npubDate: 2024-01-01\nslug: ../../x\n---\nx\n"),
        ("eleventy", "posts/...md", "---\ntitle: t\ndate: 2024-01-01\n---\nx\n"),
        ("hugo", "content/posts/x.md", '+++\ntitle = "t"\ndate = 2024-01-01\nurl = "/a/../../b"\n+++\nx\n'),
    ],
)
def test_no_post_gets_a_url_that_leaves_its_folder(generator: str, path: str, text: str) -> None:
    folder = {"jekyll": ".", "eleventy": ".", "astro": "src/content/blog"}.get(generator, "content")
    s = config(generator, content=f'dir = "{folder}"')
    result = read(text, path, s)
    assert result.post is None, result.post.url if result.post else ""
    [error] = messages(result)
    assert "'..'" in error or "must be a path on the site" in error


@pytest.mark.parametrize(
    ("zone", "path", "text"),
    [
        ("Asia/Tokyo", "content/0001-01-01-x.md", "---\ntitle: x\n---\nx\n"),
        ("America/New_York", "content/x.md", "---\ntitle: x\ndate: 0001-01-01T00:00:00Z\n---\nx\n"),
        ("Asia/Tokyo", "content/x.md", "---\ntitle: x\ndate: 9999-12-31T20:00:00-03:00\n---\nx\n"),
    ],
)
def test_a_date_at_the_edge_of_time_is_an_error_not_a_crash(zone: str, path: str, text: str) -> None:
    s = config()
    result = read(text, path, replace(s, site=replace(s.site, timezone=zone)))
    assert result.post is None and "out of range" in messages(result)[0]


def test_a_long_excerpt_separator_line_is_read_in_linear_time() -> None:
    """It was a regex that backtracked: 60,000 spaces took 8 s. Now it cannot take long."""
    s = config("jekyll", content='dir = "."')
    text = "---\ntitle: t\nexcerpt_separator: a" + " " * 60_000 + "b\n---\nOne.\n"
    assert post(text, "_posts/2024-01-01-x.md", s).summary == "One."


@pytest.mark.parametrize(
    ("written", "which"),
    [("git Last Modified", "modified"), ("git Created", "created"), ("LAST MODIFIED", "modified")],
)
def test_eleventy_git_dates_are_the_files_times_too(written: str, which: str) -> None:
    """Eleventy's `git Last Modified`/`git Created` ask git; syndicate reads no git: the file's
    times (a checkout's are its clone's), said in a note, never an error."""
    s = config("eleventy")
    times = FileTimes(datetime(2024, 5, 1, 12, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC))
    result = read(f"---\ntitle: t\ndate: {written}\n---\nx\n", "content/blog/a.md", s, times=times)
    assert result.post is not None and result.post.published == getattr(times, which)
    assert messages(result, "note") == [f"None: date is the file's {which} time ({written})"]


def test_eleventy_takes_a_date_from_the_file_name() -> None:
    result = read("---\ntitle: t\n---\nx\n", "content/blog/2024-02-10-second.md", config("eleventy"))
    assert result.post is not None and result.post.published == datetime(2024, 2, 10, tzinfo=UTC)
