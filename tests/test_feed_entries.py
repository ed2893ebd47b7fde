"""Feed entries are written as text (core/render/xmlfeeds.py), byte for byte as feedgen built them
and lxml serialized them: the reference here is the code that did, run on any post."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension
from feedgen.util import xml_elem
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lxml import etree

from syndicate.core.model import Content, Feed, FeedLinks, Image, Post, Settings, SiteSettings
from syndicate.core.render import entry_bytes, render_feed, replace_entry
from syndicate.core.render.xmlfeeds import ATOM_NS, DC_NS, MEDIA_NS, _item_xml

CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RSS_NAMESPACES = {"dc": DC_NS, "media": MEDIA_NS, "atom": ATOM_NS, "content": CONTENT_NS}
QUOTES_MARKUP = re.compile(r"</[A-Za-z][\w-]*\s*>")
PLAIN = re.compile(r"(<(title|category|dc:creator)(?: [^>]*)?>)([^<]*)(</\2>)")


class _ExtraEntry(BaseEntryExtension):  # type: ignore[misc]
    """The entry extension syndicate used with feedgen: links with rel/type in Atom, the
    enclosure link, xml:lang and escaped HTML for text quoting markup; dc:creator and
    media:thumbnail in RSS."""

    def __init__(self) -> None:
        self.post: Post | None = None
        self.author = ""

    def extend_atom(self, entry: Any) -> Any:
        post = self.post
        assert post is not None
        if post.lang:
            entry.set(XML_LANG, post.lang)
        for name in ("title", "summary"):
            element = entry.find(name)
            if element is not None and element.text and QUOTES_MARKUP.search(element.text):
                element.set("type", "html")
                element.text = html.escape(element.text, quote=False)
        for link in entry.findall("link"):
            link.set("rel", "alternate")
            link.set("type", "text/html")
        if post.image:
            anchor = entry.find("link")
            enclosure = etree.Element("link", rel="enclosure", type=post.image.mime_type, href=post.image.url)
            if post.image.length:
                enclosure.set("length", str(post.image.length))
            anchor.addnext(enclosure)
        return entry

    def extend_rss(self, item: Any) -> Any:
        post = self.post
        assert post is not None
        if self.author:
            creator = etree.Element(f"{{{DC_NS}}}creator")
            creator.text = self.author
            item.find("guid").addprevious(creator)
        if post.image:
            etree.SubElement(item, f"{{{MEDIA_NS}}}thumbnail", url=post.image.url)
        return item


def feedgen_entry(fmt: str, post: Post, config: Settings) -> str:
    """How syndicate made an entry before: feedgen's FeedEntry, serialized by lxml inside a
    scratch document with the feed's root and namespaces."""
    fe = FeedEntry()
    fe.register_extension("syndicate", _ExtraEntry, atom=fmt == "atom", rss=fmt == "rss")
    fe.syndicate.post = post
    fe.syndicate.author = post.author or config.site.author
    fe.title(post.title)
    fe.link(href=post.url)
    fe.guid(post.id, permalink=post.id == post.url)
    fe.updated(post.updated)
    fe.published(post.published)
    fe.pubDate(post.published)
    for tag in post.tags:
        fe.category(term=tag)
    if fmt == "rss":
        if post.summary:
            fe.description(html.escape(post.summary, quote=False))
        if post.content_html:
            fe.content(post.content_html)
        if post.image:
            fe.enclosure(url=post.image.url, length=str(post.image.length), type=post.image.mime_type)
        root = etree.Element("rss", nsmap=RSS_NAMESPACES)
        etree.SubElement(root, "channel").append(fe.rss_entry())
        whole = etree.tostring(root, pretty_print=True, encoding="unicode")
        text = whole[whole.index("    <item>") : whole.rindex("  </channel>")]

        def refs(m: re.Match[str]) -> str:
            return m.group(1) + m.group(3).replace("&amp;", "&#x26;").replace("&lt;", "&#x3C;") + m.group(4)

        return PLAIN.sub(refs, text)
    if post.author:
        fe.author({"name": post.author})
    if post.summary:
        fe.summary(post.summary, type="text")
    fe.content(post.content_html or post.summary or post.title, type="html")
    root = xml_elem("feed", xmlns=ATOM_NS)
    root.append(fe.atom_entry())
    whole = etree.tostring(root, pretty_print=True, encoding="unicode")
    return whole[whole.index("  <entry") : whole.rindex("</feed>")]


# What reaches a feed: text without the characters XML forbids (removed when a post is read).
xml_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\ufffe\uffff").filter(lambda c: c in "\t\n\r" or c >= " "),
    max_size=40,
)
some_text = xml_text.filter(bool)
tricky = st.sampled_from(["&", "<b>", "</div>", "]]>", "&amp;", "&#x26;", '"q"', "it's", "a\tb", "r\r\n", "’🎉"])
words = st.one_of(some_text, tricky, st.lists(st.one_of(some_text, tricky), min_size=1, max_size=4).map(" ".join))
zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
when = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 1, 1), timezones=zones)
images = st.builds(Image, url=words, mime_type=words, length=st.integers(min_value=0, max_value=10**9))


@st.composite
def posts(draw: st.DrawFn) -> Post:
    url = draw(words)
    content = Content(html=draw(st.one_of(st.just(""), words)), summary=draw(st.one_of(st.just(""), words)))
    return Post(
        source="content/x.md",
        id=draw(st.one_of(st.just(url), words)),
        url=url,
        slug="x",
        title=draw(words),
        published=draw(when),
        updated=draw(when),
        tags=tuple(draw(st.lists(words, max_size=4))),
        revision="r",
        content=content,
        image=draw(st.one_of(st.none(), images)),
        author=draw(st.one_of(st.none(), st.just(""), words)),
        lang=draw(st.one_of(st.none(), words)),
    )


def site(author: str) -> Settings:
    return Settings(site=SiteSettings(title="T", url="https://example.com/", author=author, permalink="/p/{slug}/"))


SAMPLE = Post(
    source="content/a.md",
    id="https://example.com/p/a/",
    url="https://example.com/p/a/",
    slug="a",
    title="Why </div> & <friends> are ]]> fine",
    published=datetime(2024, 3, 5, 7, 8, 9, 123, tzinfo=UTC),
    updated=datetime(2025, 1, 2, tzinfo=UTC),
    tags=("R&D", "C++", "<b>"),
    revision="r",
    content=Content(html="<p>a &amp; b\r\n’</p>", summary="less-than < and </p> & ampersand"),
    image=Image('https://example.com/i/a b.jpg?x=1&y="2"', "image/jpeg", 0),
    author="Ada & <Bob>",
    lang="pt-BR",
)


@settings(max_examples=300, deadline=None)
@example(post=SAMPLE, author="Site & <Author>")
@example(post=SAMPLE, author="")
@given(post=posts(), author=st.one_of(st.just(""), words))
def test_an_entry_is_written_as_feedgen_and_lxml_wrote_it(post: Post, author: str) -> None:
    config = site(author)
    for fmt in ("rss", "atom"):
        assert _item_xml(fmt, post, config, {}) == feedgen_entry(fmt, post, config).encode("utf-8")


def feed_of(shown: list[Post], config: Settings) -> Feed:
    return Feed(
        key="",
        title="T & <b>",
        description="D",
        home_url="https://example.com/",
        links=FeedLinks(
            paths={"rss": "feed.xml", "atom": "atom.xml", "json": "feed.json"},
            urls={f: f"https://example.com/{f}" for f in ("rss", "atom", "json")},
        ),
        posts=tuple(shown),
        updated=datetime(2025, 1, 2, tzinfo=UTC),
        hubs=("https://hub.example/",),
    )


@settings(max_examples=200, deadline=None)
@example(shown=[SAMPLE, SAMPLE], new=SAMPLE, index=1)
@given(shown=st.lists(posts(), min_size=1, max_size=4), new=posts(), index=st.integers(0, 3))
def test_an_entry_replaced_in_place_gives_the_feed_rendered_with_it(shown: list[Post], new: Post, index: int) -> None:
    """A rebuild after an edit (builder/edit.py) replaces the post's entry in the feed files the last
    build wrote: the bytes must be those of the feed rendered again with the edited post."""
    index %= len(shown)
    shown = [replace(p, revision=f"r{i}") for i, p in enumerate(shown)]  # a render shares entries by id and revision
    new = replace(new, revision="edited")
    config = site("Ada")
    old = render_feed(feed_of(shown, config), config)
    again = render_feed(feed_of([*shown[:index], new, *shown[index + 1 :]], config), config)
    paths = {"rss": "feed.xml", "atom": "atom.xml", "json": "feed.json"}
    for fmt, rel in paths.items():
        entry = entry_bytes(fmt, new, config)
        assert replace_entry(fmt, old[rel], index, len(shown), entry) == again[rel]
        assert replace_entry(fmt, old[rel], index, len(shown) + 1, entry) is None  # not the feed it thinks
