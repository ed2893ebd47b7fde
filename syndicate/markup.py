"""Markdown → HTML with absolute URLs, and HTML → a plain-text summary. Pure.

Feed readers show content far from the site, so every URL in it must be absolute:
``href``, ``src``, ``poster``, ``srcset`` and friends are resolved against the post's
own URL, exactly as a browser on the post's page would resolve them.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

# Python-Markdown passes a "<!--more-->" line through as a block of its own; inside code it
# is escaped, so only a real marker matches.
MORE = re.compile(r"^<!--\s*more\s*-->\n?", re.MULTILINE | re.IGNORECASE)

# One start tag: "<name" then attributes up to ">" (quoted values may contain ">").
_TAG = re.compile(
    r"<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s\"'>/=]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)\s*/?>"
)
_ATTR = re.compile(r"(\s+)([^\s\"'>/=]+)(\s*=\s*)(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+)")
URL_ATTRS = frozenset({"href", "src", "poster", "cite", "action", "background", "data", "longdesc", "formaction"})
SRCSET_ATTRS = frozenset({"srcset", "imagesrcset"})
_SAFE_SCHEMES_ABSOLUTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


RENDERERS = ("cmark", "markdown")


class Renderer:
    """A reusable Markdown renderer (not thread-safe: one per thread or process).

    ``cmark`` (the default): GitHub's cmark-gfm in C (CommonMark + tables, strikethrough,
    autolinks, task lists, footnotes; smart punctuation; raw HTML kept), 40–50 times faster
    than ``markdown``: Python-Markdown with ``extensions`` (for sites that rely on them).
    """

    def __init__(self, extensions: tuple[str, ...], engine: str = "cmark") -> None:
        if engine not in RENDERERS:
            raise ValueError(f"unknown renderer {engine!r}")
        self.engine = engine
        if engine == "cmark":
            import cmarkgfm
            from cmarkgfm.cmark import Options

            options = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_SMART | Options.CMARK_OPT_FOOTNOTES
            self._convert: Callable[[str], str] = lambda text: cmarkgfm.github_flavored_markdown_to_html(
                text, options=options
            )
        else:
            import markdown

            md = markdown.Markdown(extensions=list(extensions), output_format="html")

            def convert(text: str) -> str:
                md.reset()
                return md.convert(text)

            self._convert = convert

    def render(self, text: str) -> str:
        return self._convert(text)


_local = threading.local()


def renderer_for(engine: str, extensions: tuple[str, ...]) -> Renderer:
    """This thread's renderer for these settings (made once: Python-Markdown's setup is slow)."""
    cache: dict[tuple[str, tuple[str, ...]], Renderer] = _local.__dict__.setdefault("renderers", {})
    key = (engine, extensions)
    if key not in cache:
        cache[key] = Renderer(extensions, engine)
    return cache[key]


def render_body(
    body: str, base_url: str, engine: str, extensions: tuple[str, ...], summary_length: int
) -> tuple[str, str]:
    """A post's Markdown → (its HTML with absolute URLs and no more-marker, a summary made from it).

    The summary is the text before ``<!--more-->``, else the first paragraph's, cut to
    ``summary_length`` characters. Module-level and picklable, so a worker process can run it.
    """
    html, head = split_more(absolutize(renderer_for(engine, extensions).render(body).rstrip("\n"), base_url))
    text = html_to_text(head) if head is not None else first_paragraph_text(html)
    return html, truncate(text, summary_length)


def absolute_url(base: str, url: str) -> str:
    """Resolve ``url`` (as written in HTML, entities decoded) against ``base``."""
    url = url.strip()
    if not url:
        return url
    if _SAFE_SCHEMES_ABSOLUTE.match(url):
        return url  # https:, mailto:, data:, tel: … already absolute
    return urljoin(base, url)


def _fix_srcset(base: str, value: str) -> str:
    out = []
    for candidate in value.split(","):
        bits = candidate.strip().split(None, 1)
        if not bits:
            continue
        bits[0] = absolute_url(base, bits[0])
        out.append(" ".join(bits))
    return ", ".join(out)


def absolutize(fragment: str, base: str) -> str:
    """Make every URL attribute in an HTML fragment absolute against ``base``."""

    def fix_attr(m: re.Match[str]) -> str:
        lead, name, eq, raw = m.groups()
        lname = name.lower()
        if lname not in URL_ATTRS and lname not in SRCSET_ATTRS:
            return m.group(0)
        quote = raw[0] if raw[0] in "\"'" else ""
        value = html.unescape(raw[1:-1] if quote else raw)
        fixed = _fix_srcset(base, value) if lname in SRCSET_ATTRS else absolute_url(base, value)
        if fixed == value:
            return m.group(0)
        return f'{lead}{name}{eq}"{html.escape(fixed, quote=True)}"'

    def fix_tag(m: re.Match[str]) -> str:
        attrs = m.group(2)
        if not attrs:
            return m.group(0)
        new_attrs = _ATTR.sub(fix_attr, attrs)
        if new_attrs == attrs:
            return m.group(0)
        start = m.start(2) - m.start(0)
        end = m.end(2) - m.start(0)
        whole = m.group(0)
        return whole[:start] + new_attrs + whole[end:]

    return _TAG.sub(fix_tag, fragment)


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "template", "noscript"})
    _BLOCK = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "tr", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skip += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skip:
            self.skip -= 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    parser = _TextExtractor()
    parser.feed(fragment)
    parser.close()
    return " ".join("".join(parser.parts).split())


_FIRST_P = re.compile(r"<p\b[^>]*>(.*?)</p>", re.DOTALL | re.IGNORECASE)


def first_paragraph_text(fragment: str) -> str:
    """Text of the first <p> that has any text, else of the whole fragment."""
    for m in _FIRST_P.finditer(fragment):
        text = html_to_text(m.group(1))
        if text:
            return text
    return html_to_text(fragment)


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary, marking the cut.

    Text that fits is returned unchanged. A cut never splits a word unless a single word
    is longer than the limit.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[:limit]
    room = limit - len(ellipsis)
    cut = text[: room + 1]
    space = cut.rfind(" ")
    head = cut[:space] if space > 0 else text[:room]
    return head.rstrip(" ,;:.-–—") + ellipsis


def split_more(html: str) -> tuple[str, str | None]:
    """Rendered HTML → (the HTML without the ``<!--more-->`` marker, the HTML before it or None)."""
    m = MORE.search(html) if "<!--" in html else None
    if not m:
        return html, None
    return html[: m.start()] + html[m.end() :], html[: m.start()]


def is_absolute_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
