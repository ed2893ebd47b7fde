"""Every regular expression applied to what a user writes runs in linear time: each one that
could backtrack is fed its worst input at the largest size syndicate accepts (1 MiB for a
config file, 4 MiB for a post), through the function that applies it, and must finish fast.
Before, each of these took from seconds to hours (times in the commit that added this file)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial

from syndicate.adopt import SiteFiles, adopt
from syndicate.config import parse_settings
from syndicate.core import markup, social
from syndicate.core.posts import parse_post

MiB = 1024 * 1024
ELEVENTY_SITE = '[site]\ntitle = "T"\nurl = "https://e.com/"\nauthor = "A"\n[content]\ngenerator = "eleventy"\n'
BOUND = 2.0  # seconds: each case takes under 0.3 s here; the machine may be loaded


def seconds(work: Callable[[], object]) -> float:
    """CPU seconds of ``work``: another process's load does not inflate them (the wall clock of a
    linear pass doubled on a loaded machine); a super-linear pattern at these sizes takes minutes."""
    started = time.process_time()
    work()
    return time.process_time() - started


def eleventy(texts: dict[str, str], files: tuple[str, ...] = ()) -> SiteFiles:
    return SiteFiles("eleventy", ".eleventy.js", {".eleventy.js": "module.exports = {}", **texts}, files)


def test_an_eleventy_permalink_of_braces_and_spaces_is_read_at_once() -> None:
    """``\\{\\{\\s*(.*?)\\s*\\}\\}`` was cubic: "{{" and 3,000 spaces made `init` take 22 s."""
    files = ("posts/a.md", "posts/posts.json")
    for permalink in ("{{" + " " * MiB + "x", "s}}" + "{{" * (MiB // 2)):
        site = eleventy({"posts/posts.json": json.dumps({"permalink": permalink})}, files)
        assert seconds(partial(adopt, site)) < BOUND
        assert any("posts.json: permalink" in w for w in adopt(site).warnings)  # refused, with its line


def test_a_post_permalink_of_braces_and_spaces_is_read_at_once() -> None:
    """The same shape in core/permalinks stalled `build` outside any deadline (4,000 spaces: 111 s);
    front matter may hold 64 KiB, and a post 4 MiB."""
    settings = parse_settings(
        '[site]\ntitle = "T"\nurl = "https://e.com/"\nauthor = "A"\n[content]\ngenerator = "eleventy"\n'
    )
    head = "---\ntitle: T\ndate: 2024-01-01\npermalink: '{{" + " " * (64 * 1024 - 100) + "x'\n---\n"
    data = (head + "Body. " * ((4 * MiB - len(head)) // 6)).encode()
    assert 4 * MiB - 6 < len(data) <= 4 * MiB
    assert seconds(lambda: parse_post("content/a.md", data, settings)) < BOUND
    result = parse_post("content/a.md", data, settings)
    assert result.post is not None and result.post.url.startswith("https://e.com/%7B%7B%20")  # unclosed: text


def test_eleventy_dir_and_author_blocks_that_never_close_are_read_at_once() -> None:
    """``\\bdir\\s*:\\s*\\{(.*?)\\}`` was quadratic: "dir:{" repeated, 100 KB, 51 s."""
    config = {".eleventy.js": "module.exports = () => ({" + "dir:{" * (MiB // 5)}
    assert seconds(lambda: adopt(SiteFiles("eleventy", ".eleventy.js", config))) < BOUND
    metadata = eleventy({"_data/metadata.js": "export default {" + "author:{" * (MiB // 8)})
    assert seconds(lambda: adopt(metadata)) < BOUND


def test_a_hugo_or_jekyll_permalink_of_unclosed_brackets_is_read_at_once() -> None:
    config = {"_config.yml": "title: T\npermalink: '" + ":a[" * (MiB // 3) + "'\n"}
    assert seconds(lambda: adopt(SiteFiles("jekyll", "_config.yml", config))) < BOUND


def test_a_social_template_of_blanks_is_filled_at_once() -> None:
    """``[ \\t]+\\n`` was tried from every blank of a run: a 1 MiB template, half an hour."""
    template = "{title}" + " " * MiB + "x\n{url}"
    composed = seconds(
        lambda: social.compose(template, title="T", url="https://e.com/a", url_text="e.com/a", summary="", tags=())
    )
    assert composed < BOUND


def test_a_tag_of_blanks_in_a_post_is_made_absolute_at_once() -> None:
    """The attribute pattern was tried from every blank of a run: 40 KB of blanks, 67 s."""
    body = "<a" + " " * (4 * MiB - 10) + 'b href="/x">\n'
    took = seconds(lambda: markup.render_body(body, "https://e.com/", "cmark", (), 280, sanitize=False))
    assert took < BOUND


def test_unclosed_paragraphs_are_read_at_once() -> None:
    """``<p\\b[^>]*>(.*?)</p>`` scanned from every unclosed "<p" to the end: 13 KB, 9 s. (In a
    comment, so that the HTML parser that reads the text after it has nothing to do.)"""
    fragment = "<!--" + "<p>" * (4 * MiB // 3 - 3) + "-->"
    assert seconds(lambda: markup.first_paragraph_text(fragment)) < BOUND
    assert markup.first_paragraph_text("<p></p><P class='x'> First </P><p>Second</p>") == "First"
    assert markup.first_paragraph_text("<p>open <b>x</b>") == "open x"  # no </p>: the whole fragment
