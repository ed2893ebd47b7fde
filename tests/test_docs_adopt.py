"""The "Bring your blog" pages (docs/adopt/) and their example sites (docs/examples/<generator>/)
stay true.

The console blocks of those pages run in tests/test_console_blocks.py (each starts from a copy
of one of docs/examples/). This file keeps the other code on the pages true: each block that a
``<!-- checked: tests/test_docs_adopt.py -->`` comment precedes is read from the page and
checked here, by its kind:

- ``text``: a listing of the example's files: each one exists;
- a config or a post (``toml``, ``yaml``, ``python``, ``json``, ``markdown``…) that is a file
  of the example (its hugo.toml…): the file, byte for byte;
- ``yaml`` steps (GitHub Actions), ``toml`` with ``[build]`` (netlify.toml), ``sh`` (a deploy
  script): the generator builds first, then ``syndicate build --out`` adds the feeds to the
  very folder `init` names for that generator, and that folder is what is deployed;
- ``toml`` with ``take_over``: applied to the config `init` wrote for the example, a build
  into a folder holding the generator's feeds replaces those, and only those, and without
  ``take_over`` the same build refuses them (exit 3);
- ``toml`` with ``[site]`` (the plain page): applied to `init`'s config, `check` passes.

Then the bugs the pages found, each with the test that failed before its fix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from syndicate.adopt import SiteFiles, adopt, adopt_site
from syndicate.builder.owned import taken_over
from tests import docblocks
from tests.conftest import NOW, REPO, Run

DOCS = REPO / "docs" / "adopt"
EXAMPLES = REPO / "docs" / "examples"
PAGES = ("hugo", "jekyll", "zola", "eleventy", "astro", "pelican", "plain")
# The command that builds each generator's site, as a deploy runs it.
BUILDS = {
    "hugo": "hugo",
    "jekyll": "jekyll build",
    "zola": "zola build",
    "eleventy": "npx @11ty/eleventy",
    "astro": "npx astro build",
    "pelican": "pelican content",
    "plain": "",
}


def checked_blocks() -> list[tuple[str, int, str, str]]:
    """(page, n, language, text) for each checked block of the pages."""
    return [
        (page, n, b.lang, b.text)
        for page in PAGES
        for n, b in enumerate(docblocks.checked_blocks(DOCS / f"{page}.md", "test_docs_adopt.py"))
    ]


def kind(language: str, text: str) -> str:
    if language == "text":
        return "listing"
    if language == "yaml" and text.lstrip().startswith("- "):
        return "actions"
    if language == "sh":
        return "script"
    if language == "toml" and "[build]" in text:
        return "netlify"
    if language == "toml" and "take_over" in text:
        return "take_over"
    if language == "toml" and text.startswith("[site]"):
        return "settings"
    if language in ("toml", "yaml", "python", "js", "ts", "json", "markdown"):
        return "file"
    return f"unknown ({language})"


BLOCKS = checked_blocks()
IDS = [f"{page}-{n}-{kind(lang, text)}" for page, n, lang, text in BLOCKS]


@cache
def deploy_folder(page: str) -> str:
    """The folder `init` tells the example's deploy to build into (`syndicate build --out X`)."""
    if page == "plain":
        return "public"  # a plain site's [output] dir, by default
    adopted = adopt_site(EXAMPLES / page)
    assert adopted.generator == page, f"docs/examples/{page} is adopted as {adopted.generator}"
    found = re.search(r"`syndicate build --out (\S+)`", adopted.deploy)
    assert found, adopted.deploy
    return found.group(1)


def test_each_page_has_its_example_and_the_blocks_are_of_known_kinds() -> None:
    assert sorted(p.name for p in EXAMPLES.iterdir() if p.name != "webhook") == sorted(PAGES)  # webhook: syndication's
    assert all(not k.startswith("unknown") for k in IDS), IDS
    for page in PAGES:
        kinds = {kind(lang, text) for p, _, lang, text in BLOCKS if p == page}
        wanted = {"actions", "netlify", "script"} | ({"take_over"} if page != "plain" else {"settings"})
        assert wanted <= kinds, f"docs/adopt/{page}.md lacks a checked {wanted - kinds} block"


@pytest.mark.parametrize(("page", "n", "language", "text"), BLOCKS, ids=IDS)
def test_a_checked_block_is_true(page: str, n: int, language: str, text: str, tmp_path: Path) -> None:
    CHECKS[kind(language, text)](page, text, tmp_path)


def check_listing(page: str, text: str, tmp_path: Path) -> None:
    for line in text.splitlines():
        path = line.split()[0]
        assert (EXAMPLES / page / path).exists(), f"docs/examples/{page}/{path} is listed but does not exist"


def check_file(page: str, text: str, tmp_path: Path) -> None:
    files = [p for p in (EXAMPLES / page).rglob("*") if p.is_file()]
    assert any(p.read_text(encoding="utf-8") == text for p in files), (
        f"the block is no file of docs/examples/{page}/ (changed on one side only?)"
    )


def _out_of(command: str) -> str | None:
    found = re.search(r"syndicate build --out (\S+)", command)
    return found.group(1) if found else None


def check_actions(page: str, text: str, tmp_path: Path) -> None:
    steps = yaml.safe_load(text)
    assert isinstance(steps, list) and all(isinstance(s, dict) for s in steps)
    runs = [str(s.get("run", "")) for s in steps]
    ours = next(i for i, run in enumerate(runs) if _out_of(run))
    assert _out_of(runs[ours]) == deploy_folder(page)
    assert "pip install" in "".join(runs[: ours + 1]), "syndicate is installed before it runs"
    assert any(s.get("uses", "").startswith("actions/setup-python@") for s in steps[:ours])
    if BUILDS[page]:
        assert any(BUILDS[page] in run for run in runs[:ours]), f"{BUILDS[page]!r} runs before syndicate"
    upload = next(s for s in steps[ours:] if str(s.get("uses", "")).startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"].removeprefix("./").rstrip("/") == deploy_folder(page)


def check_netlify(page: str, text: str, tmp_path: Path) -> None:
    build = tomllib.loads(text)["build"]
    commands = [c.strip() for c in build["command"].split("&&")]
    ours = next(i for i, c in enumerate(commands) if _out_of(c))
    assert _out_of(commands[ours]) == build["publish"] == deploy_folder(page)
    assert any(c.startswith("pip install") for c in commands[:ours])
    if BUILDS[page]:
        assert any(BUILDS[page] in c for c in commands[:ours]), f"{BUILDS[page]!r} runs before syndicate"


def check_script(page: str, text: str, tmp_path: Path) -> None:
    assert subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True).returncode == 0
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    ours = next(i for i, line in enumerate(lines) if _out_of(line))
    out = _out_of(lines[ours])
    assert out == deploy_folder(page)
    if BUILDS[page]:
        assert any(BUILDS[page] in line for line in lines[:ours]), f"{BUILDS[page]!r} runs before syndicate"
    rsync = next(line for line in lines[ours:] if line.startswith("rsync "))
    assert f" {out}/ " in rsync, "the folder the feeds were added to is the one uploaded"


def check_take_over(page: str, text: str, tmp_path: Path) -> None:
    """The generator's feed files (stand-ins here) are refused without take_over, replaced with
    it, and nothing else is touched."""
    site = adopted_example(page, tmp_path)
    config = site / "config" / "syndicate.toml"
    written = config.read_text(encoding="utf-8")
    patch = tomllib.loads(text)
    config.write_text(apply(written, patch), encoding="utf-8")
    settings = tomllib.loads(config.read_text(encoding="utf-8"))
    patterns = tuple(settings["output"]["take_over"])
    inside = urlsplit(settings["feeds"].get("url", settings["site"]["url"])).path
    below = inside.removeprefix(urlsplit(settings["site"]["url"]).path).strip("/")
    out = site / deploy_folder(page) / below  # a feed served from a folder: --out that folder
    scratch = tmp_path / "scratch"
    assert syndicate(site, "build", "--out", str(scratch)).code == 0
    ours = {p.relative_to(scratch).as_posix(): p.read_bytes() for p in scratch.rglob("*") if p.is_file()}
    taken = sorted(rel for rel in ours if taken_over(rel, patterns))
    assert taken, f"take_over {patterns} names none of the files syndicate writes: {sorted(ours)}"
    for rel in [*taken, "index.html"]:  # the generator's feeds, and its home page
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(f"written by {page}: {rel}\n")
    without = {table: {k: v for k, v in values.items() if k != "take_over"} for table, values in patch.items()}
    config.write_text(apply(written, without), encoding="utf-8")
    refused = syndicate(site, "build", "--out", str(out))
    assert refused.code == 3 and all(f"{rel}: was not written by syndicate" in refused.err for rel in taken)
    config.write_text(apply(written, patch), encoding="utf-8")
    done = syndicate(site, "build", "--out", str(out))
    assert done.code == 0, done.err
    assert {rel: (out / rel).read_bytes() for rel in taken} == {rel: ours[rel] for rel in taken}
    assert (out / "index.html").read_text() == f"written by {page}: index.html\n"


def check_settings(page: str, text: str, tmp_path: Path) -> None:
    site = adopted_example(page, tmp_path)
    config = site / "config" / "syndicate.toml"
    config.write_text(apply(config.read_text(encoding="utf-8"), tomllib.loads(text)), encoding="utf-8")
    run = syndicate(site, "check")
    assert run.code == 0 and run.out.startswith("ok:"), run.err


CHECKS = {
    "listing": check_listing,
    "file": check_file,
    "actions": check_actions,
    "netlify": check_netlify,
    "script": check_script,
    "take_over": check_take_over,
    "settings": check_settings,
}


def apply(config: str, patch: dict[str, Any]) -> str:
    """``config`` (TOML text) with each key of ``patch`` (table → key → value) set: its line
    replaced where the table has it, else added at the table's end (the table added if missing)."""
    lines = config.splitlines()
    for table, values in patch.items():
        if f"[{table}]" not in lines:
            lines += ["", f"[{table}]"]
        start = lines.index(f"[{table}]")
        for key, value in values.items():
            end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
            line = f"{key} = {json.dumps(value, ensure_ascii=False)}"
            found = next((i for i in range(start + 1, end) if re.match(rf"{re.escape(key)}\s*=", lines[i])), None)
            if found is not None:
                lines[found] = line
            else:
                while end > start + 1 and not lines[end - 1].strip():
                    end -= 1
                lines.insert(end, line)
    return "\n".join(lines) + "\n"


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
    --help said SITE/public, which the pages (and the generated commands reference) repeated; a
    bucket ([output] url) comes first."""
    from click.testing import CliRunner

    from syndicate.cli.all_commands import main

    shown = CliRunner().invoke(main, ["publish", "--help"], terminal_width=200).output
    assert "[default: [output] url, else [output] dir, else SITE/public]" in shown


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
