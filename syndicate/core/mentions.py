"""Webmention, the pure parts: which links a post makes (each one a webmention), and where a
page says its Webmention endpoint is (W3C Recommendation, 12 January 2017, §3.1.2).

Discovery, as the Recommendation and webmention.rocks' 23 discovery tests have it: the HTTP
``Link`` header first (any casing of the header, quoted or unquoted ``rel``, several values in one
header or in several, ``rel`` a list of tokens that must include ``webmention`` exactly), then
the first ``<link>`` or ``<a>`` element in document order whose ``rel`` tokens include
``webmention`` and that has an ``href`` (an empty ``href`` is the page itself); never one inside
a comment or in escaped text. The endpoint is resolved against the page's final URL (after
redirects), its query string kept. Pure: text in, URLs out."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

WEBMENTION = "webmention"
MENTION_SEP = "\x1f"  # a webmention delivery's revision: "<version of the post>\x1f<link>"


def mention_link(revision: str) -> str:
    """The link a webmention delivery tells (from its revision, ``<version>\x1f<link>``)."""
    return revision.split(MENTION_SEP, 1)[-1]


_LINK_VALUE = re.compile(r"\s*<([^>]*)>\s*((?:;\s*[^;,]*)*)")  # <uri-reference> *( ";" link-param )
_PARAM = re.compile(r";\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*(?:=\s*(\"(?:[^\"\\]|\\.)*\"|[^;,\s]*))?")


def _is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def endpoint_in_link_header(value: str, base_url: str) -> str | None:
    """The first link of an HTTP ``Link`` header value (several headers joined by commas) whose
    ``rel`` includes ``webmention``, resolved against ``base_url``; None when there is none."""
    pos = 0
    while pos < len(value):
        m = _LINK_VALUE.match(value, pos)
        if m is None:
            comma = value.find(",", pos)
            if comma < 0:
                return None
            pos = comma + 1
            continue
        uri, params = m.group(1), m.group(2)
        pos = m.end()
        if pos < len(value) and value[pos] == ",":
            pos += 1
        for name, raw in _PARAM.findall(params):
            if name.lower() != "rel":
                continue
            rel = raw[1:-1] if raw.startswith('"') and raw.endswith('"') else raw
            if WEBMENTION in rel.lower().split():
                return str(urljoin(base_url, uri.strip()))
    return None


class _Endpoints(HTMLParser):
    """The first ``<link>``/``<a>`` with ``rel`` including ``webmention`` and an ``href``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found is not None or tag not in ("link", "a"):
            return
        values: dict[str, str | None] = {}
        for name, value in attrs:
            values.setdefault(name, value)
        rel, href = values.get("rel") or "", values.get("href")
        if href is not None and WEBMENTION in rel.lower().split():
            self.found = href

    handle_startendtag = handle_starttag


def endpoint_in_html(html: str, base_url: str) -> str | None:
    """The first endpoint a page's HTML names, resolved against ``base_url`` (its final URL)."""
    html = html[: html.rfind(">") + 1]  # nothing after the last ">" holds a tag (html.parser rescans)
    parser = _Endpoints()
    try:
        parser.feed(html)
        parser.close()
    except AssertionError:  # Python < 3.13: "<![x[" is "unknown status keyword"; keep what came before
        pass
    return None if parser.found is None else urljoin(base_url, parser.found.strip())


def endpoint(link_header: str, html: str, base_url: str) -> str | None:
    """Where a page says webmentions go: its ``Link`` header first, then its HTML; only an http(s) URL."""
    found = endpoint_in_link_header(link_header, base_url) if link_header else None
    if found is None and html:
        found = endpoint_in_html(html, base_url)
    return found if found is not None and _is_http(found) else None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = next((v for k, v in attrs if k == "href"), None)
            if href:
                self.found.append(href)


def post_links(html: str, post_url: str) -> tuple[str, ...]:
    """The pages a post links to: each ``<a href>`` made absolute (against the post's URL),
    without its fragment, http(s) only, each once, in order; the post itself left out."""
    html = html[: html.rfind(">") + 1]
    parser = _Links()
    try:
        parser.feed(html)
        parser.close()
    except AssertionError:
        pass
    own = urldefrag(post_url)[0]
    out: dict[str, None] = {}
    for href in parser.found:
        url = urldefrag(urljoin(post_url, href.strip()))[0]
        if _is_http(url) and url != own:
            out.setdefault(url, None)
    return tuple(out)
