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

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from syndicate.adopt import SiteFiles, adopt
from tests.conftest import NOW, REPO, Run

EXAMPLES = REPO / "docs" / "examples"

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


def test_check_names_the_files_in_the_way_in_the_folder_a_deploy_builds_into(tmp_path: Path) -> None:
    """The deploy of an adopted site is `syndicate build --out <the generator's folder>`, but
    `check` looked only in [output] dir (.syndicate/public): a file of the generator's in the way
    (its feed, when [feeds] names it) was named first by the build, which exits 3. `check --out`
    names it before."""
    site = adopted_example("hugo", tmp_path)
    config = site / "config" / "syndicate.toml"
    config.write_text(re.sub(r"(?m)^rss = .*$", 'rss = "index.xml"', config.read_text(encoding="utf-8")))
    (site / "public").mkdir()
    (site / "public" / "index.xml").write_text("<rss/>\n")  # Hugo's feed
    assert syndicate(site, "check").code == 0  # .syndicate/public holds nothing
    run = syndicate(site, "check", "--out", "public")
    assert run.code == 3, run.err
    assert "public/index.xml: was not written by syndicate" in run.err
    assert "name it in [output] take_over" in run.err


# -- helpers ----------------------------------------------------------------------------------


def adopted_example(generator: str, tmp_path: Path) -> Path:
    """A copy of docs/examples/<generator>/ that `syndicate init` adopted."""
    site = tmp_path / generator
    shutil.copytree(EXAMPLES / generator, site)
    run = syndicate(site, "init")
    assert run.code == 0, run.out + run.err
    return site


def syndicate(site: Path, *args: str) -> Run:
    """The real command line in the site folder, at the console blocks' pinned moment."""
    command = [sys.executable, "-m", "syndicate", *args]
    if args[0] in ("build", "check", "posts", "feeds"):
        command += ["--now", NOW.isoformat()]
    env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "error"}
    done = subprocess.run(command, cwd=site, capture_output=True, text=True, timeout=120, env=env)
    return Run(done.returncode, done.stdout, done.stderr)
