"""Feed → RSS 2.0 and Atom 1.0 bytes with feedgen. Pure: no clock, no I/O.

feedgen is imported only here. Its traps (see docs/dev.md) and how this module avoids them:

- it stamps ``lastBuildDate``/``updated`` with the wall clock: we always set both from the
  posts;
- ``add_entry()`` prepends: we append, in the order the feed planner chose;
- RSS ``<channel><link>`` is the *last* link added and ``atom:link`` the *first* rel=self:
  we add self first and the home page last;
- Atom entry links lose ``rel``/``type``, RSS gets no ``rel=hub``, items get no
  ``media:thumbnail`` outside a ``media:group``: a small extension of our own
  (:class:`_Extra`) writes those elements itself.
"""

from __future__ import annotations

import html
import re
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem
from lxml import etree

from ..itemids import item_id
from ..model import MIME_TYPES, Feed, Post, Settings

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_NS = "http://search.yahoo.com/mrss/"
DC_NS = "http://purl.org/dc/elements/1.1/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
GENERATOR = "syndicate"
GENERATOR_URI = "https://github.com/syndicate-feeds/syndicate"


class _Extra(BaseExtension):  # type: ignore[misc]  # feedgen is untyped
    """Feed-level: ``atom:link rel=hub`` in RSS (feedgen only writes rel=self there)."""

    def __init__(self) -> None:
        self.hubs: tuple[str, ...] = ()
        self.namespaces: dict[str, str] = {}

    def extend_ns(self) -> dict[str, str]:
        return self.namespaces

    def extend_rss(self, feed: Any) -> Any:
        channel = feed[0]
        self_link = channel.find(f"{{{ATOM_NS}}}link")
        at = list(channel).index(self_link) + 1 if self_link is not None else len(channel)
        for offset, hub in enumerate(self.hubs):
            link = etree.Element(f"{{{ATOM_NS}}}link", href=hub, rel="hub")
            channel.insert(at + offset, link)
        return feed


# A text construct holding something like an end tag ("Why </div> is optional") is taken for
# undeclared HTML by validators and some readers; as type="html", escaped, it shows the same.
_QUOTES_MARKUP = re.compile(r"</[A-Za-z][\w-]*\s*>")


class _ExtraEntry(BaseEntryExtension):  # type: ignore[misc]
    """Entry-level: links with rel/type in Atom; dc:creator and media:thumbnail in RSS."""

    def __init__(self) -> None:
        self.post: Post | None = None
        self.author = ""

    def extend_atom(self, entry: Any) -> Any:
        post = self.post
        assert post is not None
        if post.lang:
            entry.set(XML_LANG, post.lang)
        for name in ("title", "summary"):  # text that quotes markup goes as escaped HTML
            element = entry.find(name)
            if element is not None and element.text and _QUOTES_MARKUP.search(element.text):
                element.set("type", "html")
                element.text = html.escape(element.text, quote=False)
        # feedgen builds Atom elements without a namespace and writes xmlns on the root as
        # an attribute, so ours must be unqualified too, or lxml adds an "ns0:" prefix.
        # feedgen wrote a rel-less link (which Atom reads as alternate); give it its type.
        for link in entry.findall("link"):
            link.set("rel", "alternate")
            link.set("type", "text/html")
        if post.image:
            anchor = entry.find("link")
            enclosure = etree.Element(
                "link",
                rel="enclosure",
                type=post.image.mime_type,
                href=post.image.url,
            )
            if post.image.length:
                enclosure.set("length", str(post.image.length))
            if anchor is not None:
                anchor.addnext(enclosure)
            else:
                entry.append(enclosure)
        return entry

    def extend_rss(self, item: Any) -> Any:
        post = self.post
        assert post is not None
        if self.author:
            creator = etree.Element(f"{{{DC_NS}}}creator")
            creator.text = self.author
            guid = item.find("guid")
            if guid is not None:
                guid.addprevious(creator)
            else:
                item.append(creator)
        if post.image:
            etree.SubElement(item, f"{{{MEDIA_NS}}}thumbnail", url=post.image.url)
        return item


def _generator(settings: Settings, feed: Feed, fmt: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.register_extension("syndicate", _Extra, _ExtraEntry, atom=fmt == "atom", rss=fmt == "rss")
    fg.syndicate.hubs = feed.hubs
    if fmt == "rss":
        fg.syndicate.namespaces = {"dc": DC_NS, "media": MEDIA_NS}
    fg.title(feed.title)
    fg.description(feed.description)
    fg.language(settings.site.language)
    fg.generator(GENERATOR, uri=GENERATOR_URI)
    fg.lastBuildDate(feed.updated)
    fg.updated(feed.updated)
    return fg


EntryMemo = dict[tuple[str, str, str], Any]  # (format, post id, revision) → one post's entry, shared by feeds


def _entry(fmt: str, post: Post, settings: Settings) -> Any:
    """The feedgen entry of one post."""
    fe = FeedEntry()
    fe.register_extension("syndicate", _ExtraEntry, atom=fmt == "atom", rss=fmt == "rss")
    fe.syndicate.post = post
    fe.syndicate.author = post.author or settings.site.author
    fe.title(post.title)
    fe.link(href=post.url)
    ident = item_id(post, settings)
    fe.guid(ident, permalink=ident == post.url)
    fe.updated(post.updated)
    fe.published(post.published)
    fe.pubDate(post.published)
    for tag in post.tags:
        fe.category(term=tag)
    if fmt == "rss":
        if post.summary:
            fe.description(html.escape(post.summary, quote=False))  # RSS descriptions are HTML
        if post.content_html:
            fe.content(post.content_html)  # escaped, not CDATA: lxml refuses "]]>" in CDATA
        if post.image:
            fe.enclosure(url=post.image.url, length=str(post.image.length), type=post.image.mime_type)
    else:
        if post.author:
            fe.author({"name": post.author})
        if post.summary:
            fe.summary(post.summary, type="text")
        fe.content(post.content_html or post.summary or post.title, type="html")
    return fe


RSS_NAMESPACES = {"dc": DC_NS, "media": MEDIA_NS, "atom": ATOM_NS, "content": CONTENT_NS}  # as feedgen's <rss>


def _item_xml(fmt: str, post: Post, settings: Settings, memo: EntryMemo) -> str:
    """One post's <item> or <entry>, serialized as it appears inside a feed: made once per
    post and build, then shared by every feed the post is in (most posts are in several).

    feedgen builds the element; lxml serializes it inside a scratch document with the same
    root and namespaces as a real feed, so the indentation and the namespace prefixes are
    exactly those of the feed it is spliced into.
    """
    key = (fmt, post.id, post.revision)
    text = memo.get(key)
    if text is None:
        fe = _entry(fmt, post, settings)
        if fmt == "rss":
            root = etree.Element("rss", nsmap=RSS_NAMESPACES)
            etree.SubElement(root, "channel").append(fe.rss_entry())
            whole = etree.tostring(root, pretty_print=True, encoding="unicode")
            text = _plain_text_refs(whole[whole.index("    <item>") : whole.rindex("  </channel>")])
        else:
            root = xml_elem("feed", xmlns=ATOM_NS)
            root.append(fe.atom_entry())
            whole = etree.tostring(root, pretty_print=True, encoding="unicode")
            text = whole[whole.index("  <entry") : whole.rindex("</feed>")]
        if "xmlns" in text.split(">", 1)[0]:
            raise AssertionError(f"an entry of {post.source} declares a namespace of its own")
        memo[key] = text
    return str(text)


_PLAIN = re.compile(r"(<(title|category|dc:creator)(?: [^>]*)?>)([^<]*)(</\2>)")
_PLAIN_CHANNEL = re.compile(r"(<(title|description|category|dc:creator)(?: [^>]*)?>)([^<]*)(</\2>)")


def _plain_text_refs(xml: str, elements: re.Pattern[str] = _PLAIN) -> str:
    """RSS's plain-text elements with ``&`` and ``<`` as hexadecimal character references, as the
    RSS Best Practices Profile asks (readers that take RSS titles for HTML then show them right).
    An item's description is HTML (the summary, escaped); the channel's is plain text."""

    def refs(m: re.Match[str]) -> str:
        text = m.group(3).replace("&amp;", "&#x26;").replace("&lt;", "&#x3C;")
        return m.group(1) + text + m.group(4)

    return elements.sub(refs, xml) if "&" in xml else xml


def _splice(document: bytes, before: bytes, items: list[str]) -> bytes:
    """Insert the entries' XML before the last ``before`` (the closing tag of the feed)."""
    if not items:
        return document
    at = document.rindex(before)
    return document[:at] + "".join(items).encode("utf-8") + document[at:]


def render_rss(feed: Feed, settings: Settings, memo: EntryMemo | None = None) -> bytes:
    memo = {} if memo is None else memo
    fg = _generator(settings, feed, "rss")
    # Order matters: the first rel=self becomes atom:link, the last link becomes <link>.
    fg.link(href=feed.links.urls["rss"], rel="self", type=MIME_TYPES["rss"])
    fg.link(href=feed.home_url, rel="alternate")
    head = fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True).decode()
    channel = _plain_text_refs(head, _PLAIN_CHANNEL).encode()
    return _splice(channel, b"  </channel>\n", [_item_xml("rss", p, settings, memo) for p in feed.posts])


def render_atom(feed: Feed, settings: Settings, memo: EntryMemo | None = None) -> bytes:
    memo = {} if memo is None else memo
    fg = _generator(settings, feed, "atom")
    fg.id(feed.links.urls["atom"])
    fg.author({"name": settings.site.author, **({"email": settings.site.email} if settings.site.email else {})})
    fg.link(href=feed.links.urls["atom"], rel="self", type=MIME_TYPES["atom"])
    fg.link(href=feed.home_url, rel="alternate", type="text/html")
    for hub in feed.hubs:
        fg.link(href=hub, rel="hub")
    fg.subtitle(feed.description)
    head: bytes = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return _splice(head, b"</feed>\n", [_item_xml("atom", p, settings, memo) for p in feed.posts])
