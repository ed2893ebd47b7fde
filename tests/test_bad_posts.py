"""A corpus of broken posts: each gets one clear line, and the rest of the site still builds.

Each file in tests/data/bad/ carries its expectation in HTML comments at its end:
``<!-- expect: error line=3: message -->`` (the message is matched as a prefix of what
syndicate prints after "error: "), or ``<!-- expect: ok -->`` for posts that must be
published despite looking dangerous.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from syndicate.core.model import Settings, SiteSettings
from syndicate.core.posts import parse_post
from tests.conftest import Site
from tests.validators import check_output_folder

BAD = Path(__file__).parent / "data" / "bad"
EXPECT = re.compile(rb"<!-- expect: (ok|error|warning)(?: line=(\d+))?(?:: (.*?))? -->")
SETTINGS = Settings(
    site=SiteSettings(
        title="Test Site", url="https://example.com/", author="Tess", timezone="Europe/Paris", permalink="/blog/{slug}/"
    )
)


@dataclass(frozen=True)
class Expect:
    kind: str
    line: int | None
    message: str


def with_renderer(engine: str) -> Settings:
    return replace(SETTINGS, content=replace(SETTINGS.content, renderer=engine))


def expectations(path: Path) -> list[Expect]:
    found = [
        Expect(m.group(1).decode(), int(m.group(2)) if m.group(2) else None, (m.group(3) or b"").decode())
        for m in EXPECT.finditer(path.read_bytes())
    ]
    assert found, f"{path.name} has no <!-- expect: … --> line"
    return found


CASES = sorted(BAD.glob("*.md"))
ALONE = [p for p in CASES if not p.name.startswith("duplicate-")]  # conflicts need the whole site


@pytest.mark.parametrize("engine", ["markdown", "cmark"])
@pytest.mark.parametrize("path", ALONE, ids=[p.stem for p in ALONE])
def test_each_bad_post_alone(path: Path, engine: str) -> None:
    """The core, one file at a time: the right problem, at the right line, never an exception."""
    result = parse_post(f"content/{path.name}", path.read_bytes(), with_renderer(engine))
    for want in expectations(path):
        if want.kind == "ok":
            assert result.post is not None
            assert not [p for p in result.problems if p.severity == "error"]
            continue
        hits = [p for p in result.problems if p.severity == want.kind and p.message.startswith(want.message)]
        assert hits, f"expected {want}, got {[str(p) for p in result.problems]}"
        assert hits[0].line == want.line, f"{hits[0]} should be at line {want.line}"
        assert hits[0].path == f"content/{path.name}"
        if want.kind == "error":
            assert result.post is None
        else:
            assert result.post is not None
    if result.post is not None:  # rendering is deferred: it must not fail either, and shows no marker
        assert "<!--more-->" not in result.post.content_html
        assert "\n" not in result.post.summary


def _tree(root: Path, skip: tuple[str, ...]) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and not p.relative_to(root).as_posix().startswith(skip)
    }


def test_a_site_full_of_bad_posts_still_builds(site: Site, tmp_path: Path) -> None:
    for path in CASES:
        shutil.copy(path, site.content / path.name)
    site.post(
        "good.md",
        """
        ---
        title: The one good post
        date: 2024-06-01
        tags: [fine]
        ---
        Everything about this post is fine.
        """,
    )
    before = _tree(tmp_path, ("site/public", "site/.syndicate"))
    run = site.run("build")
    assert run.code == 1, "a rejected post makes build exit 1"
    assert "Traceback" not in run.err and "Traceback" not in run.out

    lines = run.err.splitlines()
    shape = re.compile(r"^content/[^:]+\.md(:\d+)?: (error|warning): \S")
    for line in lines:
        assert shape.match(line), f"not a one-line problem report: {line!r}"
    for path in CASES:
        for want in expectations(path):
            mine = [ln for ln in lines if ln.startswith(f"content/{path.name}:") and ": error: " in ln]
            if want.kind == "ok":
                assert not mine, mine
                continue
            where = f"content/{path.name}" + (f":{want.line}" if want.line else "")
            prefix = f"{where}: {want.kind}: {want.message}"
            assert any(ln.startswith(prefix) for ln in lines), f"missing {prefix!r} in:\n{run.err}"
    errors = {ln.split(":")[0] for ln in lines if ": error: " in ln}
    assert len(errors) == sum(1 for p in CASES if any(e.kind == "error" for e in expectations(p)))

    # the good posts still make valid feeds, and nothing was written outside the output folder
    assert check_output_folder(site.public, "https://example.com/") > 3
    assert _tree(tmp_path, ("site/public", "site/.syndicate")) == before
    feed = (site.public / "feed.xml").read_text()
    assert "The one good post" in feed and "Tags that try to leave the output folder" in feed
    assert "First with this slug" in feed and "Second with this slug" not in feed
    assert "Owns an id" in feed and "Claims the id of another post" not in feed
    assert "Bell and escape in the title" in feed  # control characters removed, post kept
    for path in site.public.rglob("*"):
        assert path.resolve().is_relative_to(site.public.resolve())
    tags = sorted(p.name for p in (site.public / "tags").iterdir())
    assert all(not t.startswith(".") and "/" not in t for t in tags)
    assert "slash-slash-slash-slash-tmp-slash-evil" in tags  # spelled out, harmless

    # the same problems again on a cached rebuild: cached rejections are still reported
    again = site.run("build")
    assert again.code == 1 and sorted(again.err.splitlines()) == sorted(lines)


def test_a_huge_file_is_rejected_without_reading_it_into_the_feeds(site: Site) -> None:
    site.post("big.md", "---\ntitle: Big\ndate: 2024-05-15\n---\n" + "word " * 1_000_000)
    run = site.run("check")
    assert run.code == 1
    assert run.err.startswith("content/big.md: error: file is 4.8 MiB; a post may be at most 4 MiB")


def _without_root_powers(cmd: list[str]) -> list[str]:
    """Root reads any folder: drop the capabilities that let it, so permissions count."""
    if os.geteuid() != 0:
        return cmd
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", "--bounding-set", caps, "--inh-caps", caps, *cmd]


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="needs setpriv to drop root's powers")
def test_a_folder_that_cannot_be_read_is_named_not_skipped_in_silence(site: Site) -> None:
    site.post("ok.md", "---\ntitle: Fine\ndate: 2024-01-01\n---\nHere.\n")
    site.post("private/hidden.md", "---\ntitle: Hidden\ndate: 2024-01-02\n---\nThere.\n")
    (site.content / "private").chmod(0)
    try:
        cmd = _without_root_powers([sys.executable, "-m", "syndicate", "build", "--now", "2026-01-01T00:00:00Z"])
        done = subprocess.run(cmd, cwd=site.root, capture_output=True, text=True, timeout=60)
    finally:
        (site.content / "private").chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert "content/private: warning: cannot read this folder (Permission denied): the posts in it are skipped" in (
        done.stderr
    )
    assert "from 1 published post" in done.stdout
