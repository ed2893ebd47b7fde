"""Feed → RSS 2.0 and Atom 1.0 bytes: the document with feedgen, each entry written as text
(once per post, shared by the feeds it is in). Pure: no clock, no I/O.

feedgen is imported only here. Its traps (see docs/dev.md) and how this module avoids them:

- it stamps ``lastBuildDate``/``updated`` with the wall clock: we always set both from the
  posts;
- ``add_entry()`` prepends: we append, in the order the feed planner chose;
- RSS ``<channel><link>`` is the *last* link added and ``atom:link`` the *first* rel=self:
  we add self first and the home page last;
- RSS gets no ``rel=hub``: a small extension of our own (``_Extra``, made by :func:`_extension`) writes it;
- Atom entry links lose ``rel``/``type``, items get no ``media:thumbnail`` outside a
  ``media:group``: entries are written by :func:`_rss_item` and :func:`_atom_entry`, as feedgen
  and lxml wrote them with those elements added.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from ..itemids import item_id
from ..model import MIME_TYPES, Feed, Post, Settings

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_NS = "http://search.yahoo.com/mrss/"
DC_NS = "http://purl.org/dc/elements/1.1/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
GENERATOR = "syndicate"
GENERATOR_URI = "https://github.com/syndicate-feeds/syndicate"


_EXTRA: Any = None  # feedgen's extension class of ours, made on first use (see _extension)


def _extension() -> Any:
    """:class:`_Extra`, defined when a feed document is first made: feedgen and lxml are imported
    then, not by a rebuild that only writes entries (builder/edit.py)."""
    global _EXTRA
    if _EXTRA is None:
        from feedgen.ext.base import BaseExtension
        from lxml import etree

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

        _EXTRA = _Extra
    return _EXTRA


# A text construct holding something like an end tag ("Why </div> is optional") is taken for
# undeclared HTML by validators and some readers; as type="html", escaped, it shows the same.
_QUOTES_MARKUP = re.compile(r"</[A-Za-z][\w-]*\s*>")


def _generator(settings: Settings, feed: Feed, fmt: str) -> Any:
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.register_extension("syndicate", _extension(), None, atom=fmt == "atom", rss=fmt == "rss")
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


ENTRY_START = {"rss": b"    <item>\n", "atom": b"  <entry"}  # how entries begin and end (an Atom one may have xml:lang)
ENTRY_END = {"rss": b"    </item>\n", "atom": b"  </entry>\n"}
EntryMemo = dict[tuple[str, str, str], Any]  # (format, post id, revision) → a post's entry in UTF-8, shared by feeds


def _item_xml(fmt: str, post: Post, settings: Settings, memo: EntryMemo) -> bytes:
    """One post's <item> or <entry> in UTF-8, as it appears inside a feed: made once per post and
    build (its <item> and its <entry> together: they share the escaped HTML), then shared by
    every feed the post is in (most posts are in several)."""
    key = (fmt, post.id, post.revision)
    data: bytes | None = memo.get(key)
    if data is None:
        html_text = post.content_html
        escaped = _text(html_text) if html_text else ""
        memo[("rss", post.id, post.revision)] = _rss_item(post, settings, escaped).encode("utf-8")
        memo[("atom", post.id, post.revision)] = _atom_entry(post, settings, escaped).encode("utf-8")
        data = memo[key]
    return data


# An entry is written as text, element by element, in the order and with the escaping feedgen's
# FeedEntry (rss_entry, atom_entry) and lxml's pretty-printed serialization gave it, byte for byte
# (tests/test_feed_entries.py holds them to that): building a tree of lxml elements through
# feedgen for each entry cost ~0.35 ms a post, most of the render of a cold build.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _text(value: str) -> str:
    """Text content as libxml2 escapes it (``str.replace`` is many times faster than ``translate``)."""
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("\r", "&#13;") if "\r" in value else value


def _attr(value: str) -> str:
    """An attribute value as libxml2 escapes it."""
    value = _text(value).replace('"', "&quot;")
    return value.replace("\n", "&#10;").replace("\t", "&#9;") if "\n" in value or "\t" in value else value


def _plain(value: str) -> str:
    """An item's plain text (title, category, dc:creator) as the RSS profile asks: ``&`` and ``<``
    as hexadecimal references (see :func:`_plain_text_refs`). Its description is HTML (the
    summary, escaped)."""
    return _text(value).replace("&amp;", "&#x26;").replace("&lt;", "&#x3C;")


def _rfc2822(when: datetime) -> str:
    """feedgen's ``formatRFC2822``: strftime in the C locale, whatever the process's."""
    day, month = _DAYS[when.weekday()], _MONTHS[when.month - 1]
    return when.strftime(f"{day}, %d {month} %Y %H:%M:%S %z")


def _rss_item(post: Post, settings: Settings, html_text: str) -> str:
    """``html_text``: the post's HTML, escaped."""
    ident = item_id(post, settings)
    summary = post.summary
    out = ["    <item>\n", f"      <title>{_plain(post.title)}</title>\n", f"      <link>{_text(post.url)}</link>\n"]
    if summary:  # RSS descriptions are HTML: the plain summary goes in escaped
        out.append(f"      <description>{_text(html.escape(summary, quote=False))}</description>\n")
        if html_text:  # escaped, not CDATA: a post may hold "]]>"
            out.append(f"      <content:encoded>{html_text}</content:encoded>\n")
    elif html_text:
        out.append(f"      <description>{html_text}</description>\n")
    author = post.author or settings.site.author
    if author:
        out.append(f"      <dc:creator>{_plain(author)}</dc:creator>\n")
    permalink = "true" if ident == post.url else "false"
    out.append(f'      <guid isPermaLink="{permalink}">{_text(ident)}</guid>\n')
    out += [f"      <category>{_plain(tag)}</category>\n" for tag in post.tags]
    image = post.image
    if image:
        out.append(
            f'      <enclosure url="{_attr(image.url)}" length="{_attr(str(image.length))}"'
            f' type="{_attr(image.mime_type)}"/>\n'
        )
    out.append(f"      <pubDate>{_rfc2822(post.published)}</pubDate>\n")
    if image:
        out.append(f'      <media:thumbnail url="{_attr(image.url)}"/>\n')
    out.append("    </item>\n")
    return "".join(out)


def _quoted(name: str, value: str, kind: str = "") -> str:
    """An Atom text construct; text that quotes markup goes as escaped HTML (see docs/dev.md)."""
    if _QUOTES_MARKUP.search(value):
        return f'    <{name} type="html">{_text(html.escape(value, quote=False))}</{name}>\n'
    return f"    <{name}{kind}>{_text(value)}</{name}>\n"


def _atom_entry(post: Post, settings: Settings, html_text: str) -> str:
    """``html_text``: the post's HTML, escaped."""
    summary = post.summary
    lang = f' xml:lang="{_attr(post.lang)}"' if post.lang else ""
    out = [f"  <entry{lang}>\n", f"    <id>{_text(item_id(post, settings))}</id>\n", _quoted("title", post.title)]
    out.append(f"    <updated>{post.updated.isoformat()}</updated>\n")
    if post.author:
        out.append(f"    <author>\n      <name>{_text(post.author)}</name>\n    </author>\n")
    content = html_text or _text(summary or post.title)
    out.append(f'    <content type="html">{content}</content>\n')
    out.append(f'    <link href="{_attr(post.url)}" rel="alternate" type="text/html"/>\n')
    image = post.image
    if image:
        length = f' length="{_attr(str(image.length))}"' if image.length else ""
        out.append(f'    <link rel="enclosure" type="{_attr(image.mime_type)}" href="{_attr(image.url)}"{length}/>\n')
    if summary:
        out.append(_quoted("summary", summary, ' type="text"'))
    out += [f'    <category term="{_attr(tag)}"/>\n' for tag in post.tags]
    out.append(f"    <published>{post.published.isoformat()}</published>\n")
    out.append("  </entry>\n")
    return "".join(out)


_PLAIN_CHANNEL = re.compile(r"(<(title|description|category|dc:creator)(?: [^>]*)?>)([^<]*)(</\2>)")


def _plain_text_refs(xml: str, elements: re.Pattern[str] = _PLAIN_CHANNEL) -> str:
    """RSS's plain-text elements with ``&`` and ``<`` as hexadecimal character references, as the
    RSS Best Practices Profile asks (readers that take RSS titles for HTML then show them right).
    The channel's description is plain text; an item's is HTML (see :func:`_plain`)."""

    def refs(m: re.Match[str]) -> str:
        text = m.group(3).replace("&amp;", "&#x26;").replace("&lt;", "&#x3C;")
        return m.group(1) + text + m.group(4)

    return elements.sub(refs, xml) if "&" in xml else xml


def _splice(document: bytes, before: bytes, items: list[bytes]) -> bytes:
    """Insert the entries' XML before the last ``before`` (the closing tag of the feed)."""
    if not items:
        return document
    at = document.rindex(before)
    return b"".join([document[:at], *items, document[at:]])


def render_rss(feed: Feed, settings: Settings, memo: EntryMemo | None = None) -> bytes:
    memo = {} if memo is None else memo
    fg = _generator(settings, feed, "rss")
    # Order matters: the first rel=self becomes atom:link, the last link becomes <link>.
    fg.link(href=feed.links.urls["rss"], rel="self", type=MIME_TYPES["rss"])
    fg.link(href=feed.home_url, rel="alternate")
    head = fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True).decode()
    channel = _plain_text_refs(head).encode()
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
