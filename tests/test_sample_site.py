"""The bundled sample site builds into feeds that every validator and reader accepts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from tests.conftest import Site
from tests.validators import check_output_folder

ATOM = "{http://www.w3.org/2005/Atom}"
FEEDS_URL = "https://example.com/"


def test_build_writes_valid_feeds_for_site_and_every_tag(sample_site: Site) -> None:
    run = sample_site.run("build")
    assert run.code == 0, run.err
    out = sample_site.public
    # site + AI, C#, C++, feeds, programming, research, Über, 日本語 → 9 feeds × 3 formats
    assert check_output_folder(out, FEEDS_URL) == 27
    tags = sorted(p.name for p in (out / "tags").iterdir())
    assert tags == sorted(["ai", "c-plus-plus", "c-sharp", "feeds", "programming", "research", "über", "日本語"])
    assert "built 9 feeds (29 files) from 4 published posts, 1 draft, 1 scheduled" in run.out


def test_tag_feeds_are_titled_as_written_and_merge_case(sample_site: Site) -> None:
    sample_site.run("build")
    ai = json.loads((sample_site.public / "tags/ai/feed.json").read_text())
    assert ai["title"] == "Notes from the Lab – AI"  # first written as "AI"; "ai" elsewhere is the same tag
    assert {item["title"] for item in ai["items"]} == {
        "The Waifu Enthusiasts Who Quietly Push AI Forward",
        "Über Unicode: tags in any script",
    }
    uber = json.loads((sample_site.public / "tags/über/feed.json").read_text())
    assert uber["feed_url"] == "https://example.com/tags/%C3%BCber/feed.json"
    assert uber["title"].endswith("Über")


def test_relative_urls_in_content_become_absolute(sample_site: Site) -> None:
    sample_site.run("build")
    doc = json.loads((sample_site.public / "feed.json").read_text())
    items = {item["title"]: item for item in doc["items"]}
    waifu = items["The Waifu Enthusiasts Who Quietly Push AI Forward"]["content_html"]
    assert (
        'src="https://example.com/blog/assets/img/evaluation-of-the-latent-horniness-of-the-most-popular.webp"' in waifu
    )
    cpp = items["C++ & C#: two languages, one letter"]["content_html"]
    img = "https://example.com/blog/assets/img/"
    assert f'srcset="{img}compile.png 1x, {img}compile@2x.png 2x"' in cpp
    assert 'href="https://example.com/blog/build-times/"' in cpp
    assert "&lt;int&gt;" in cpp  # code stays code
    feeds = items["Feeds done right"]["content_html"]
    assert 'poster="https://example.com/blog/assets/video/poster.jpg"' in feeds
    uber = items["Über Unicode: tags in any script"]["content_html"]
    assert 'href="https://example.com/blog/other-post/"' in uber  # ../ resolved against the post's URL
    for item in doc["items"]:
        for attr in ("href", "src", "poster"):
            for chunk in item["content_html"].split(f'{attr}="')[1:]:
                assert chunk.startswith(("https://", "http://", "mailto:")), chunk[:60]


def test_thumbnail_is_enclosure_media_thumbnail_and_image(sample_site: Site) -> None:
    sample_site.run("build")
    out = sample_site.public
    thumb = "https://example.com/blog/assets/img/thumbs/waifu.jpg"
    rss = etree.parse(str(out / "feed.xml"))
    item = next(i for i in rss.iter("item") if i.findtext("title", "").startswith("The Waifu"))
    enclosure = item.find("enclosure")
    assert enclosure is not None and enclosure.get("url") == thumb and enclosure.get("type") == "image/jpeg"
    media = item.find("{http://search.yahoo.com/mrss/}thumbnail")
    assert media is not None and media.get("url") == thumb
    atom = etree.parse(str(out / "atom.xml"))
    entry = next(e for e in atom.iter(f"{ATOM}entry") if e.findtext(f"{ATOM}title", "").startswith("The Waifu"))
    links = {link.get("rel"): link for link in entry.findall(f"{ATOM}link")}
    assert links["enclosure"].get("href") == thumb and links["enclosure"].get("type") == "image/jpeg"
    assert links["alternate"].get("type") == "text/html"
    doc = json.loads((out / "feed.json").read_text())
    assert next(i for i in doc["items"] if i["title"].startswith("The Waifu"))["image"] == thumb


def _items(out: Path, folder: str = "") -> dict[str, list[tuple[str, str, str, datetime, datetime]]]:
    """(id, url, title, published, updated) per item, from each format, in feed order."""
    base = out / folder if folder else out
    rss = etree.parse(str(base / "feed.xml"))
    rss_items = []
    for item in rss.iter("item"):
        published = parsedate_to_datetime(item.findtext("pubDate", ""))
        # RSS has no "updated"; take it from the same entry in Atom for the comparison
        rss_items.append((item.findtext("guid", ""), item.findtext("link", ""), item.findtext("title", ""), published))
    atom = etree.parse(str(base / "atom.xml"))
    atom_items = []
    for entry in atom.iter(f"{ATOM}entry"):
        alt = entry.find(f"{ATOM}link[@rel='alternate']")
        assert alt is not None
        atom_items.append(
            (
                entry.findtext(f"{ATOM}id", ""),
                alt.get("href", ""),
                entry.findtext(f"{ATOM}title", ""),
                datetime.fromisoformat(entry.findtext(f"{ATOM}published", "")),
                datetime.fromisoformat(entry.findtext(f"{ATOM}updated", "")),
            )
        )
    doc = json.loads((base / "feed.json").read_text())
    json_items = [
        (
            i["id"],
            i["url"],
            i["title"],
            datetime.fromisoformat(i["date_published"]),
            datetime.fromisoformat(i["date_modified"]),
        )
        for i in doc["items"]
    ]
    return {
        "rss": [(*r, a[4]) for r, a in zip(rss_items, atom_items, strict=True)],
        "atom": atom_items,
        "json": json_items,
    }


def test_three_formats_agree_item_by_item(sample_site: Site) -> None:
    sample_site.run("build")
    out = sample_site.public
    folders = [""] + [f"tags/{p.name}" for p in (out / "tags").iterdir()]
    for folder in folders:
        items = _items(out, folder)
        assert items["rss"] == items["atom"] == items["json"], folder
        dates = [i[3] for i in items["json"]]
        assert dates == sorted(dates, reverse=True), f"{folder}: newest first"
    site_items = _items(out)["json"]
    ids = [i[0] for i in site_items]
    assert "tag:example.com,2025:feeds-done-right" in ids  # front-matter id kept as is
    assert "https://example.com/blog/cpp-vs-csharp/" in ids  # else the permalink
    # a naive "2024-09-02 09:30" is Europe/Paris time
    cpp = next(i for i in site_items if i[0].endswith("cpp-vs-csharp/"))
    assert cpp[3].isoformat() == "2024-09-02T07:30:00+00:00"


def test_guid_is_permalink_only_when_the_id_is_the_url(sample_site: Site) -> None:
    sample_site.run("build")
    rss = etree.parse(str(sample_site.public / "feed.xml"))
    for item in rss.iter("item"):
        guid = item.find("guid")
        assert guid is not None
        if guid.text == item.findtext("link"):
            assert guid.get("isPermaLink") == "true"
        else:
            assert guid.get("isPermaLink") == "false"
            assert guid.text == "tag:example.com,2025:feeds-done-right"


def test_drafts_and_future_posts_are_left_out_everywhere(sample_site: Site) -> None:
    sample_site.run("build")
    for path in sample_site.public.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "Half-written thoughts" not in text, path
            assert "A post from the future" not in text, path


def test_future_post_appears_once_its_date_has_passed(sample_site: Site) -> None:

    later = datetime(2030, 1, 1, 7, 0, 1, tzinfo=UTC)
    run = sample_site.run("build", now=later)
    assert run.code == 0
    titles = [e.title for e in feedparser.parse((sample_site.public / "feed.xml").read_bytes()).entries]
    assert titles[0] == "A post from the future"
    assert "next scheduled" not in run.out


def test_feed_updated_is_the_newest_entry_not_the_clock(sample_site: Site) -> None:
    sample_site.run("build")
    atom = etree.parse(str(sample_site.public / "atom.xml"))
    updated = [datetime.fromisoformat(u.text or "") for u in atom.iter(f"{ATOM}updated")]
    assert updated[0] == max(updated[1:])
    rss = etree.parse(str(sample_site.public / "feed.xml"))
    assert parsedate_to_datetime(rss.findtext("channel/lastBuildDate") or "") == updated[0]


def test_index_html_and_opml_list_every_feed(sample_site: Site) -> None:
    sample_site.run("build")
    out = sample_site.public
    html = (out / "index.html").read_text()
    opml = etree.parse(str(out / "feeds.opml"))
    xml_urls = [o.get("xmlUrl") for o in opml.iter("outline")]
    assert len(xml_urls) == 9 and xml_urls[0] == "https://example.com/feed.xml"
    for folder in ["", *(f"tags/{p.name}/" for p in (out / "tags").iterdir())]:
        from urllib.parse import quote

        for name, mime in (("feed.xml", "rss+xml"), ("atom.xml", "atom+xml"), ("feed.json", "feed+json")):
            url = FEEDS_URL + quote(folder + name, safe="/")
            assert f'type="application/{mime}"' in html
            assert f'href="{url}"' in html, url
        assert FEEDS_URL + quote(folder + "feed.xml", safe="/") in xml_urls
    # the autodiscovery links parse as HTML <link rel=alternate>
    from html.parser import HTMLParser

    found: list[str] = []

    class P(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if tag == "link" and a.get("rel") == "alternate":
                found.append(a.get("href") or "")

    P().feed(html)
    assert len(found) == 27


@pytest.mark.parametrize("renderer", ["cmark", "markdown"])
def test_both_renderers_make_valid_feeds_of_the_sample_site(sample_site: Site, renderer: str) -> None:
    config = sample_site.root / "config" / "syndicate.toml"
    text = config.read_text()
    assert 'renderer = "' not in text, "the sample config must not pick a renderer for this test to mean anything"
    config.write_text(text.replace("[content]\n", f'[content]\nrenderer = "{renderer}"\n'))
    run = sample_site.run("build")
    assert run.code == 0, run.err
    assert check_output_folder(sample_site.public, FEEDS_URL) == 27
    doc = json.loads((sample_site.public / "feed.json").read_text())
    items = {item["title"]: item for item in doc["items"]}
    waifu = items["The Waifu Enthusiasts Who Quietly Push AI Forward"]["content_html"]
    assert (
        'src="https://example.com/blog/assets/img/evaluation-of-the-latent-horniness-of-the-most-popular.webp"' in waifu
    )
    assert "<center><b>" in waifu  # raw HTML kept
    cpp = items["C++ & C#: two languages, one letter"]
    assert "<!--more-->" not in cpp["content_html"] and "&lt;int&gt;" in cpp["content_html"]
    assert cpp["summary"].startswith("Why tag names")
    uber = items["Über Unicode: tags in any script"]
    assert uber["summary"].startswith("Tag names are user input: “Über”")  # smart quotes, first paragraph
