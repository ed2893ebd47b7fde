"""Files that are no posts, on every site (a plain one too): redirect stubs and READMEs without
front matter are skipped and listed by `check`, never an error and never exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CONFIG, Site

GOOD = "---\ntitle: Hello\ndate: 2024-03-05\n---\nBody.\n"


@pytest.mark.parametrize("generator", ["syndicate", "hugo", "jekyll", "eleventy", "zola", "astro", "pelican"])
def test_redirect_stubs_and_readmes_are_skipped_and_listed_never_errors(site: Site, generator: str) -> None:
    """Fails before: on a plain site each of these was an error line and exit 1 (a real blog had
    63); `layout: redirect` and `redirect_from` stubs were errors on every site."""
    folder = "_posts/" if generator == "jekyll" else ""
    site.config(CONFIG + f'\n[content]\ngenerator = "{generator}"\n')
    site.post(f"{folder}2024-03-05-hello.md", GOOD)
    stubs = {
        "README.md": "# My blog\n\nHow to build it.\n",
        f"{folder}2020-01-01-old.md": "---\nredirect_to: /hello/\n---\n",
        f"{folder}2020-01-02-moved.md": "---\nlayout: redirect\nredirect: https://example.com/hello/\n---\n",
        f"{folder}2020-01-03-from.md": "---\nredirect_from: [/a/, /b/]\n---\n",
        f"{folder}2020-01-04-alias.md": "---\naliases: [/c/]\n---\n\n",
    }
    for name, text in stubs.items():
        site.post(name, text)
    built = site.run("build")
    assert built.code == 0, built.err
    assert "error" not in built.err
    items = json.loads((site.public / "feed.json").read_text())["items"]
    assert [i["title"] for i in items] == ["Hello"]
    checked = site.run("check")
    assert checked.code == 0, checked.err
    listed = checked.err.split("not posts:", 1)[1]
    for name in stubs:
        assert f"content/{name}:" in listed


def test_a_plain_sites_stub_with_a_title_and_date_stays_the_post_it_was(site: Site) -> None:
    site.post("hello.md", "---\ntitle: Moved\ndate: 2024-03-05\nredirect_to: /elsewhere/\n---\n")
    assert site.run("build").code == 0
    items = json.loads((site.public / "feed.json").read_text())["items"]
    assert [i["title"] for i in items] == ["Moved"]


def test_a_post_without_front_matter_is_still_an_error(site: Site) -> None:
    site.post("notes.md", "# Notes\n\nNo front matter.\n")
    built = site.run("build")
    assert built.code == 1 and "content/notes.md:1: error: no front matter" in built.err


def test_one_file_skipped_is_said_in_the_singular(site: Site) -> None:
    site.post("hello.md", GOOD)
    site.post("README.md", "# My blog\n")
    assert "note: skipped 1 file that is not a post; `syndicate check` lists it" in site.run("build").err
    site.post("LICENSE.md", "MIT\n")
    assert "note: skipped 2 files that are not posts; `syndicate check` lists them" in site.run("build").err


@pytest.mark.parametrize(
    ("generator", "rel", "ext"),
    [
        ("hugo", "posts/c.adoc", ".adoc"),
        ("jekyll", "_posts/2024-01-02-b.textile", ".textile"),
        ("pelican", "d.rst", ".rst"),
    ],
)
def test_a_post_in_a_format_syndicate_does_not_read_is_listed_not_lost_in_silence(
    tmp_path: Path, generator: str, rel: str, ext: str
) -> None:
    """This Week in Rust has one .rst article (and tidyverse.org 41 Hugo .html posts, which are read
    now): they were skipped without a word. A format syndicate does not read is named by check."""
    site = Site(tmp_path)
    site.config(CONFIG.replace("[feeds]", f'[content]\ngenerator = "{generator}"\n\n[feeds]'))
    site.post("posts/a.md", "---\ntitle: A\ndate: 2024-01-01\n---\nx\n")
    site.post(rel, "---\ntitle: B\ndate: 2024-01-02\n---\n<p>x</p>\n")
    run = site.run("check")
    assert run.code == 0, run.err
    name = generator.capitalize()
    assert f"content/{rel}: a {ext} post, which {name} publishes but syndicate does not read (it reads Markdown)" in (
        run.err
    )
