"""What readers and validators see in the feeds: plain text in RSS as the RSS Best Practices
Profile asks, no active content, every URL absolute, a plausible date on an empty feed."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import feedparser
import pytest

from syndicate.core.markup import render_body
from tests.conftest import CONFIG, Site
from tests.validators import check_output_folder

HOSTILE = """---
title: "Café – naïve résumé 🎉 & <friends>"
date: 2025-06-03
tags: ["R&D"]
summary: "less-than < and & ampersand"
---
First words <!--more--> and the rest.

<img src="a.png" onerror="alert(1)" style="color:red" alt="pic">
<a href=" javascript:alert(1)">js</a> <a href="vbscript:msgbox(1)">vb</a> <a href="JaVaScRiPt:x">mixed</a>
<form action="javascript:alert(1)"><button formaction="javascript:x">go</button><input name="q"></form>
<p style="position:fixed;top:0">styled</p>
<script src="x.js">alert(1)</script>
<iframe src="https://evil.example/"></iframe>
<iframe src="https://www.youtube.com/embed/abc" width="560" height="315" allowfullscreen></iframe>
<figure><img src="/img/f.jpg" srcset="f-2x.jpg 2x, f-3x.jpg 3x" alt="f"><figcaption>A figure</figcaption></figure>
<video src="v.mp4" poster="v.jpg" controls></video>
<audio controls><source src="a.ogg" type="audio/ogg"></audio>

| a | b |
|---|---|
| 1 | 2 |

```python
print("<code> & stays text")
```
"""


@pytest.fixture
def hostile(site: Site) -> Site:
    site.post("hostile.md", HOSTILE)
    return site


def content_of(site: Site) -> str:
    doc = json.loads((site.public / "feed.json").read_text())
    [item] = doc["items"]
    return str(item["content_html"])


def test_plain_text_in_rss_is_written_as_the_rss_profile_asks(hostile: Site) -> None:
    assert hostile.run("build").code == 0
    rss = (hostile.public / "feed.xml").read_text()
    assert "<title>Café – naïve résumé 🎉 &#x26; &#x3C;friends&gt;</title>" in rss
    assert "<category>R&#x26;D</category>" in rss
    # the description is HTML (the plain summary, escaped): "less-than <" reads as HTML
    assert "<description>less-than &amp;lt; and &amp;amp; ampersand</description>" in rss
    tag_rss = (hostile.public / "tags" / "r-and-d" / "feed.xml").read_text()
    assert "<description>Posts tagged R&#x26;D on Test Site</description>" in tag_rss  # a channel's is plain text
    # and the three formats still show the same text
    [item] = json.loads((hostile.public / "feed.json").read_text())["items"]
    titles, summaries = {item["title"]}, {item["summary"]}
    for name in ("feed.xml", "atom.xml"):
        [entry] = feedparser.parse((hostile.public / name).read_bytes()).entries
        titles.add(entry.title)
        summaries.add(html.unescape(re.sub(r"<[^>]+>", "", entry.summary)))
    assert titles == {"Café – naïve résumé 🎉 & <friends>"}
    assert summaries == {"less-than < and & ampersand"}


def test_no_active_content_reaches_the_feeds_and_everything_readers_show_stays(hostile: Site) -> None:
    assert hostile.run("build").code == 0
    content = content_of(hostile)
    for bad in ("onerror", "javascript:", "vbscript:", "JaVaScRiPt", "<script", "alert(1)", "style=", "<form", "evil."):
        assert bad not in content, bad
    for kept in (
        '<img src="https://example.com/blog/hostile/a.png" alt="pic">',
        '<iframe src="https://www.youtube.com/embed/abc"',
        "<figure>",
        "<figcaption>A figure</figcaption>",
        'srcset="https://example.com/blog/hostile/f-2x.jpg 2x, https://example.com/blog/hostile/f-3x.jpg 3x"',
        'poster="https://example.com/blog/hostile/v.jpg"',
        '<source src="https://example.com/blog/hostile/a.ogg" type="audio/ogg">',
        "<table>",
        '<pre lang="python"><code>',
        "&lt;code&gt; &amp; stays text",
    ):
        assert kept in content, kept
    assert "<!--more-->" not in content and "First words" in content
    # what sanitizing emptied goes whole: an iframe without its src, an input that is no task box
    assert content.count("<iframe") == 1 and "<input" not in content
    check_output_folder(hostile.public, "https://example.com/")


def test_python_markdown_passes_no_script_or_iframe_raw_either(site: Site) -> None:
    site.config(CONFIG + '\n[content]\nrenderer = "markdown"\n')
    site.post("hostile.md", HOSTILE)
    assert site.run("build").code == 0
    content = content_of(site)
    assert "<script" not in content and "evil." not in content and "onerror" not in content
    assert '<iframe src="https://www.youtube.com/embed/abc"' in content


def test_sanitize_false_passes_the_html_as_rendered_with_every_url_absolute(site: Site) -> None:
    site.config(CONFIG + '\n[content]\nrenderer = "markdown"\nsanitize = false\n')
    site.post(
        "raw.md",
        "---\ntitle: Raw\ndate: 2024-01-01\n---\n"
        '<script src="x.js"></script>\n\n<img src="a.png" usemap="#m" onclick="y()">\n\n'
        '<a href="b/" ping="/p1 p2">b</a>\n\n<object data="o.swf" codebase="c/"></object>\n',
    )
    assert site.run("build").code == 0
    content = content_of(site)
    assert '<script src="https://example.com/blog/raw/x.js">' in content
    assert 'onclick="y()"' in content, "nothing removed: the setting is off"
    assert 'usemap="https://example.com/blog/raw/#m"' in content
    assert 'ping="https://example.com/p1 https://example.com/blog/raw/p2"' in content
    assert 'data="https://example.com/blog/raw/o.swf"' in content
    assert 'codebase="https://example.com/blog/raw/c/"' in content


@pytest.mark.parametrize("engine", ["cmark", "markdown"])
def test_more_inside_a_paragraph_ends_the_summary_and_leaves_the_html(engine: str) -> None:
    html_out, summary = render_body("Before the cut <!--more--> after it.\n", "https://e.com/p/", engine, (), 280)
    assert summary == "Before the cut"
    assert "more" not in html_out and "after it." in html_out


def test_an_empty_feed_has_a_plausible_stable_date(site: Site, tmp_path: Path) -> None:
    assert site.run("build").code == 0
    atom = (site.public / "atom.xml").read_text()
    rss = (site.public / "feed.xml").read_text()
    assert "<updated>2000-01-01T00:00:00+00:00</updated>" in atom
    assert "<lastBuildDate>Sat, 01 Jan 2000 00:00:00 +0000</lastBuildDate>" in rss
    first = (site.public / "atom.xml").read_bytes()
    assert site.run("build", "--no-cache").code == 0 and (site.public / "atom.xml").read_bytes() == first


def test_a_title_that_quotes_tags_is_escaped_html_in_atom_and_shows_the_same_everywhere(site: Site) -> None:
    site.post(
        "tags.md",
        '---\ntitle: "Why </div> is optional"\ndate: 2025-06-03\nsummary: "The <b>bold</b> tag"\n---\nBody.\n',
    )
    assert site.run("build").code == 0
    atom = (site.public / "atom.xml").read_text()
    assert '<title type="html">Why &amp;lt;/div&amp;gt; is optional</title>' in atom
    assert '<summary type="html">The &amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt; tag</summary>' in atom
    [entry] = feedparser.parse(atom.encode()).entries
    assert html.unescape(entry.title) == "Why </div> is optional"  # feedparser gives HTML for type="html"
    assert html.unescape(entry.summary) == "The <b>bold</b> tag"
    rss = (site.public / "feed.xml").read_text()
    assert "<title>Why &#x3C;/div&gt; is optional</title>" in rss  # RSS titles stay plain text
    check_output_folder(site.public, "https://example.com/")


def test_noscript_content_is_shown_as_markup_sanitized_and_absolute_not_as_visible_tags(site: Site) -> None:
    """From a real Go blog post: a <noscript> fallback link showed as the characters
    `<a href="/blog/greenteagc">` in readers. Readers run no scripts; what it holds is what they show."""
    site.config(CONFIG)
    site.post(
        "gc.md",
        "---\ntitle: GC\ndate: 2024-01-01\n---\nIntro.\n\n"
        '<noscript><a href="/blog/greenteagc">Read the slides <img src="/s.png" onerror="alert(1)"></a></noscript>\n',
    )
    assert site.run("build").code == 0
    [item] = json.loads((site.public / "feed.json").read_text(encoding="utf-8"))["items"]
    body = item["content_html"]
    assert (
        '<a href="https://example.com/blog/greenteagc">Read the slides <img src="https://example.com/s.png"></a>'
        in body
    )
    assert "&lt;a" not in body and "onerror" not in body and "noscript" not in body
