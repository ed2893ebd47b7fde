"""The "Bring your blog" pages (docs/adopt/) and their example sites (docs/examples/<generator>/)
stay true.

- The console blocks of those pages run in tests/test_console_blocks.py (each sets up a copy of
  one of docs/examples/); this file keeps the other code on the pages true: each block that a
  ``<!-- checked: tests/test_docs_adopt.py -->`` comment precedes is read from the page and
  checked here (a deploy step's `--out` folder is the one `init` names for that generator; a
  ``take_over`` snippet, applied to the example's config, replaces the generator's feed file and
  only it).
- Bugs the pages found, each with the test that failed before its fix.
"""

from __future__ import annotations

from syndicate.adopt import SiteFiles, adopt

# -- bugs the pages found ---------------------------------------------------------------------


def test_a_hugo_blog_of_leaf_bundles_has_its_posts_folder_as_main_section() -> None:
    """Hugo's main section is the one with the most pages, and a leaf bundle (slug/index.md) is
    a page: init counted none, so a blog of bundles beside an about.md got every folder as a
    section, and about.md was read as a post without a date (the Hugo example site has a bundle)."""
    files = (
        "content/about.md",
        "content/posts/a/index.md",
        "content/posts/b/index.md",
        "content/posts/d/index.md",
        "content/posts/b/notes.md",  # a resource of the bundle b/, not a page
        "content/posts/b/c/index.md",  # likewise
        "content/contact/index.md",  # a bundle at the top: a page of the home section
    )
    adopted = adopt(SiteFiles("hugo", "hugo.toml", {"hugo.toml": "baseURL = 'https://h.example/'\n"}, files))
    assert adopted.sections.value == ("posts",)
    assert adopted.sections.source == "the folder of content/ with the most Markdown files (3)"


def test_publish_says_its_feeds_go_to_the_output_folder_of_the_config() -> None:
    """An adopted site builds into [output] dir (.syndicate/public), and so does `publish`; its
    --help said SITE/public, which the pages (and the generated commands reference) repeated."""
    from click.testing import CliRunner

    from syndicate.cli import main

    shown = CliRunner().invoke(main, ["publish", "--help"], terminal_width=200).output
    assert "[default: [output] dir, else SITE/public]" in shown
