"""[content] fields: a site that keeps a field under a key of its own maps it in the config."""

from __future__ import annotations

import json

import pytest

from syndicate.config import parse_settings
from syndicate.core.model import Settings
from syndicate.core.posts import parse_post
from syndicate.errors import ConfigError
from tests.conftest import CONFIG, Site

POST = """\
---
newstitle: "News: the harbour opens"
title: the layout's own title
published_on: 2024-03-05 10:00
blurb: A short one.
writer: Ada
keywords: [boats, harbour]
---
Body.
"""


def settings(fields: str, generator: str = "jekyll") -> Settings:
    return parse_settings(
        '[site]\ntitle = "T"\nurl = "https://example.org/"\nauthor = "A"\ntimezone = "UTC"\n'
        f'[content]\ngenerator = "{generator}"\nfields = {fields}\n'
    )


def test_each_mapped_field_is_read_from_the_sites_own_key() -> None:
    """Fails before: [content] fields was an unknown key."""
    s = settings(
        '{ title = "newstitle", date = "published_on", summary = "blurb", author = "writer", tags = "keywords" }',
        "hugo",
    )
    post = parse_post("content/posts/a.md", POST.encode(), s).post
    assert post is not None
    assert post.title == "News: the harbour opens"
    assert post.published.isoformat() == "2024-03-05T10:00:00+00:00"
    assert post.content.summary == "A short one." and post.author == "Ada"
    assert post.tags == ("boats", "harbour")


def test_a_post_without_the_mapped_key_reads_the_field_as_usual() -> None:
    s = settings('{ title = "NewsTitle" }', "hugo")  # a generator's keys are read in any case
    post = parse_post("content/a.md", b"---\ntitle: Plain\ndate: 2024-01-01\n---\nx\n", s).post
    assert post is not None and post.title == "Plain"


def test_a_bad_mapped_value_is_named_at_its_own_line() -> None:
    s = settings('{ date = "published_on" }', "hugo")
    result = parse_post("content/a.md", b"---\ntitle: T\n\npublished_on: someday\n---\nx\n", s)
    assert result.post is None
    assert [(p.line, p.message.split(":")[0]) for p in result.problems] == [(4, "date")]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ('{ headline = "newstitle" }', "'headline' is not a field"),
        ('{ titel = "newstitle" }', "did you mean 'title'?"),
        ("{ title = 3 }", "title must be the front-matter key"),
        ('{ title = "" }', "title must be the front-matter key"),
        ('"newstitle"', "must be a table"),
        ('{ title = "x", summary = "x" }', "two fields are read from 'x'"),
    ],
)
def test_a_bad_fields_table_is_one_config_line(fields: str, says: str) -> None:
    with pytest.raises(ConfigError) as e:
        settings(fields)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_fields_end_to_end_build_and_check(site: Site) -> None:
    site.config(CONFIG + '\n[content]\nfields = { title = "newstitle", date = "published_on" }\n')
    site.post("2024-03-05-news.md", POST)
    built = site.run("build")
    assert built.code == 0, built.err
    items = json.loads((site.public / "feed.json").read_text())["items"]
    assert [i["title"] for i in items] == ["News: the harbour opens"]
    assert site.run("check").code == 0

    site.config(CONFIG + '\n[content]\nfields = { headline = "newstitle" }\n')
    checked = site.run("check")
    assert checked.code != 0
    lines = [line for line in checked.err.splitlines() if "fields" in line]
    assert len(lines) == 1 and "'headline' is not a field" in lines[0] and "Traceback" not in checked.err
