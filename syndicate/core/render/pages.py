"""The feeds' front door: ``index.html`` (autodiscovery) and ``feeds.opml``. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ..model import MIME_TYPES, Feed, Settings

FORMAT_NAMES = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


def quoteattr(data: str) -> str:
    """``xml.sax.saxutils.quoteattr``, byte for byte (tests/test_pages.py holds it to that): that
    module imports urllib.request and ssl, a quarter of the imports of a one-post rebuild."""
    data = data.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
    data = data.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' not in data:
        return f'"{data}"'
    if "'" not in data:
        return f"'{data}'"
    return '"{}"'.format(data.replace('"', "&quot;"))


def _relative(rel: str, page: str) -> str:
    """The link from the page at ``page`` to the output file ``rel`` (both "/"-separated paths in
    the output folder): "feed.xml" from "index.html", "../feed.xml" from "feeds/index.html"."""
    here, there = page.split("/")[:-1], rel.split("/")
    same = 0
    while same < len(here) and same < len(there) - 1 and here[same] == there[same]:
        same += 1
    return "/".join([".."] * (len(here) - same) + there[same:])


RowMemo = dict[tuple[object, ...], tuple[str, str]]  # a feed's index row, kept by a caller between calls


def _index_row(feed: Feed, page_rel: str) -> tuple[str, str]:
    """A feed's three <link> lines for the page's head and its row in the table."""
    head = "\n".join(
        f'<link rel="alternate" type="{MIME_TYPES[fmt]}" '
        f'title="{escape(feed.title)} ({FORMAT_NAMES[fmt]})" href="{escape(feed.links.urls[fmt])}">'
        for fmt in ("rss", "atom", "json")
    )
    links = " · ".join(
        f'<a href="{escape(_relative(feed.links.paths[fmt], page_rel))}" type="{MIME_TYPES[fmt]}">'
        f"{FORMAT_NAMES[fmt]}</a>"
        for fmt in ("rss", "atom", "json")
    )
    return head, f"<tr><td>{escape(feed.name)}</td><td>{len(feed.posts)}</td><td>{links}</td></tr>"


def render_index(feeds: Sequence[Feed], settings: Settings, memo: RowMemo | None = None) -> bytes:
    """``index.html``; ``memo``, kept by the caller between calls, holds each feed's row: a save
    that changes one feed's count makes one row, not 5,000 (tests/test_pages.py)."""
    site = settings.site
    page_rel = settings.output.index or "index.html"
    head = []
    rows = []
    old = {} if memo is None else dict(memo)
    if memo is not None:
        memo.clear()  # what this call shows, no more: it never grows past the site's feeds
    for feed in feeds:
        urls, paths = tuple(feed.links.urls.values()), tuple(feed.links.paths.values())
        key = (page_rel, feed.title, feed.name, urls, paths, len(feed.posts))
        made = old.get(key) or _index_row(feed, page_rel)
        if memo is not None:
            memo[key] = made
        head.append(made[0])
        rows.append(made[1])
    nl = "\n"
    opml_rel = settings.output.opml
    opml = (
        f', or import <a href="{escape(_relative(opml_rel, page_rel))}">{escape(opml_rel.rsplit("/", 1)[-1])}</a>'
        " to follow them all"
        if opml_rel
        else ""
    )
    page = f"""<!doctype html>
<html lang="{escape(site.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(site.title)} – feeds</title>
{nl.join(head)}
<style>
body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
td,th{{padding:.2rem .8rem;text-align:left}}
</style>
</head>
<body>
<h1>{escape(site.title)} – feeds</h1>
<p>Subscribe in any feed reader: paste a link below{opml}.
Posts live at <a href="{escape(site.url)}">{escape(site.url)}</a>.</p>
<table>
<thead><tr><th>Feed</th><th>Posts</th><th>Formats</th></tr></thead>
<tbody>
{nl.join(rows)}
</tbody>
</table>
</body>
</html>
"""
    return page.encode("utf-8")


def render_opml(feeds: Sequence[Feed], settings: Settings) -> bytes:
    site = settings.site
    outlines = []
    for feed in feeds:
        outlines.append(
            f'    <outline type="rss" version="RSS2" text={quoteattr(feed.title)} title={quoteattr(feed.title)}'
            f" xmlUrl={quoteattr(feed.links.urls['rss'])} htmlUrl={quoteattr(feed.home_url)}/>"
        )
    body = "\n".join(outlines)
    doc = f"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head>
    <title>{escape(site.title)}</title>
    <ownerName>{escape(site.author)}</ownerName>
  </head>
  <body>
{body}
  </body>
</opml>
"""
    return doc.encode("utf-8")
