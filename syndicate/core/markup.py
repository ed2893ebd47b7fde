"""Markdown → HTML with absolute URLs, and HTML → a plain-text summary. Pure.

Feed readers show content far from the site, so every URL in it must be absolute:
``href``, ``src``, ``poster``, ``srcset`` and friends are resolved against the post's
own URL, exactly as a browser on the post's page would resolve them.
"""

from __future__ import annotations

import ctypes
import html
import re
import threading
from collections.abc import Callable
from functools import lru_cache
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import nh3

from .model import RENDERERS

# Python-Markdown passes a "<!--more-->" line through as a block of its own; inside code it
# is escaped, so only a real marker matches.
MORE = re.compile(r"<!--\s*more\s*-->\n?", re.IGNORECASE)  # on a line of its own, or inside a paragraph

# One start tag: "<name" then attributes up to ">" (quoted values may contain ">").
# Attribute names never contain "<": a run of unclosed tags ("<a b <a b …") is then scanned in
# linear time, not retried from every "<" to the end of the post (quadratic: minutes at 100 KiB).
_TAG = re.compile(
    r"<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s\"'<>/=]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)\s*/?>"
)
# (?<!\s): an attribute is tried from the first blank of a run only (from each, 1 MiB of blanks in
# a tag took hours: quadratic).
_ATTR = re.compile(r"(?<!\s)(\s+)([^\s\"'<>/=]+)(\s*=\s*)(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+)")
URL_ATTRS = frozenset(
    {
        "href",
        "src",
        "poster",
        "cite",
        "action",
        "background",
        "data",
        "longdesc",
        "formaction",
        "usemap",
        "icon",
        "manifest",
        "codebase",
        "profile",
        "xlink:href",
        "itemid",
    }
)
LIST_ATTRS = frozenset({"ping", "archive"})  # space-separated URLs
SRCSET_ATTRS = frozenset({"srcset", "imagesrcset"})
_SAFE_SCHEMES_ABSOLUTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


class Renderer:
    """A reusable Markdown renderer (not thread-safe: one per thread or process).

    ``cmark`` (the default): GitHub's cmark-gfm in C (CommonMark + tables, strikethrough,
    autolinks, task lists, footnotes; smart punctuation; raw HTML kept), 40–50 times faster
    than ``markdown``: Python-Markdown with ``extensions`` (for sites that rely on them).
    """

    def __init__(self, extensions: tuple[str, ...], engine: str = "cmark", tagfilter: bool = True) -> None:
        if engine not in RENDERERS:
            raise ValueError(f"unknown renderer {engine!r}")
        self.engine = engine
        if engine == "cmark":
            self._convert: Callable[[str], str] = _cmark(tagfilter).render
        else:
            import markdown

            md = markdown.Markdown(extensions=list(extensions), output_format="html")

            def convert(text: str) -> str:
                md.reset()
                return md.convert(text)

            self._convert = convert

    def render(self, text: str) -> str:
        return self._convert(text)


class _CmarkMem(ctypes.Structure):
    _fields_ = [
        ("calloc", ctypes.c_void_p),
        ("realloc", ctypes.c_void_p),
        ("free", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
    ]


class _Cmark:
    """cmark-gfm from the library cmarkgfm ships, called directly.

    cmarkgfm's own ``github_flavored_markdown_to_html`` never frees the parsed document
    nor the rendered string (about 40 KB lost per post: a cold build of 10,000 posts grew
    by hundreds of MB); its cffi module does not declare ``cmark_node_free``. The library
    exports it, so this calls the same C functions, with the same GitHub options and
    extensions, through ctypes, and frees both.
    """

    EXTENSIONS = (b"table", b"autolink", b"tagfilter", b"strikethrough", b"tasklist")

    def __init__(self, tagfilter: bool = True) -> None:
        from cmarkgfm import _cmark  # the compiled module, loaded once
        from cmarkgfm.cmark import Options

        lib = ctypes.CDLL(_cmark.__file__)  # the same library: its registered extensions are shared
        vp = ctypes.c_void_p
        for name, res, args in (
            ("cmark_gfm_core_extensions_ensure_registered", None, []),
            ("cmark_find_syntax_extension", vp, [ctypes.c_char_p]),
            ("cmark_parser_new", vp, [ctypes.c_int]),
            ("cmark_parser_attach_syntax_extension", ctypes.c_int, [vp, vp]),
            ("cmark_parser_feed", None, [vp, ctypes.c_char_p, ctypes.c_size_t]),
            ("cmark_parser_finish", vp, [vp]),
            ("cmark_parser_get_syntax_extensions", vp, [vp]),
            ("cmark_render_html", vp, [vp, ctypes.c_int, vp]),
            ("cmark_node_free", None, [vp]),
            ("cmark_parser_free", None, [vp]),
            ("cmark_get_default_mem_allocator", ctypes.POINTER(_CmarkMem), []),
        ):
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        lib.cmark_gfm_core_extensions_ensure_registered()
        self.lib = lib
        # GitHub's tagfilter escapes <script>, <iframe>, <style>…; the sanitizer, when on, removes
        # what is dangerous of them and keeps the embeds readers show, so the filter is not used then.
        names = [n for n in self.EXTENSIONS if tagfilter or n != b"tagfilter"]
        self.extensions = [lib.cmark_find_syntax_extension(name) for name in names]
        self.free = lib.cmark_get_default_mem_allocator().contents.free
        self.options = int(
            Options.CMARK_OPT_UNSAFE
            | Options.CMARK_OPT_SMART
            | Options.CMARK_OPT_FOOTNOTES
            | Options.CMARK_OPT_GITHUB_PRE_LANG
        )

    def render(self, text: str) -> str:
        lib = self.lib
        parser = lib.cmark_parser_new(self.options)
        try:
            for extension in self.extensions:
                lib.cmark_parser_attach_syntax_extension(parser, extension)
            data = text.encode("utf-8", "surrogatepass")
            lib.cmark_parser_feed(parser, data, len(data))
            root = lib.cmark_parser_finish(parser)
            try:
                raw = lib.cmark_render_html(root, self.options, lib.cmark_parser_get_syntax_extensions(parser))
                try:
                    return ctypes.string_at(raw).decode("utf-8", "replace")
                finally:
                    self.free(raw)
            finally:
                lib.cmark_node_free(root)
        finally:
            lib.cmark_parser_free(parser)


_local = threading.local()


def _cmark(tagfilter: bool = True) -> _Cmark:
    made: dict[bool, _Cmark] = _local.__dict__.setdefault("cmark", {})
    if tagfilter not in made:
        made[tagfilter] = _Cmark(tagfilter)
    return made[tagfilter]


def renderer_for(engine: str, extensions: tuple[str, ...], tagfilter: bool = True) -> Renderer:
    """This thread's renderer for these settings (made once: Python-Markdown's setup is slow)."""
    cache: dict[tuple[str, tuple[str, ...], bool], Renderer] = _local.__dict__.setdefault("renderers", {})
    key = (engine, extensions, tagfilter)
    if key not in cache:
        cache[key] = Renderer(extensions, engine, tagfilter)
    return cache[key]


HTML_BODY = "html"  # the "engine" of a post whose body is HTML already


def render_body(
    body: str,
    base_url: str,
    engine: str,
    extensions: tuple[str, ...],
    summary_length: int,
    sanitize: bool = True,
    embeds: tuple[str, ...] = (),
) -> tuple[str, str]:
    """A post's Markdown → (its HTML with absolute URLs and no more-marker, a summary made from it).

    The summary is the text before ``<!--more-->``, else the first paragraph's, cut to
    ``summary_length`` characters. With ``sanitize`` the HTML keeps only what feed readers
    show (see :func:`sanitize_html`). Module-level and picklable, so a worker process can run it.
    """
    if engine == HTML_BODY:  # a post written in HTML (Hugo's and Jekyll's .html content): as it is
        rendered = body.strip("\n")
    else:
        rendered = renderer_for(engine, extensions, tagfilter=not sanitize).render(body).rstrip("\n")
    html, head = split_more(rendered)
    if sanitize:
        html = sanitize_html(html, base_url, embeds)
        head = sanitize_html(head, base_url, embeds) if head is not None else None
    else:
        html = absolutize(html, base_url)
        head = absolutize(head, base_url) if head is not None else None
    text = html_to_text(head) if head is not None else first_paragraph_text(html)
    return html, truncate(text, summary_length)


# What feed readers show, and nothing that runs: the HTML of posts goes to programs that do not
# all sanitize (webhook receivers, readers, other sites). nh3 (Rust's ammonia, html5ever) parses
# like a browser, so a broken or hostile fragment comes out well-formed and harmless.
SAFE_TAGS = nh3.ALLOWED_TAGS | {
    "audio",
    "figcaption",
    "figure",
    "iframe",
    "input",
    "picture",
    "section",
    "source",
    "track",
    "video",
}
_MEDIA = {"src", "width", "height", "controls", "loop", "muted", "preload", "autoplay", "playsinline"}
SAFE_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"id", "class", "title", "lang", "dir"},
    "a": {"href", "hreflang", "type"},
    "img": {"src", "srcset", "sizes", "alt", "title", "width", "height", "loading", "decoding"},
    "video": _MEDIA | {"poster"},
    "audio": _MEDIA - {"width", "height", "playsinline"},
    "source": {"src", "srcset", "sizes", "type", "media"},
    "track": {"src", "kind", "srclang", "label", "default"},
    "iframe": {"src", "width", "height", "allow", "allowfullscreen", "loading", "referrerpolicy"},
    "input": {"type", "checked", "disabled"},
    "section": {"data-footnotes"},
    "li": {"data-footnote"},
}
SAFE_ATTRIBUTES["a"] |= {"data-footnote-ref", "data-footnote-backref", "aria-label"}
SAFE_SCHEMES = {"http", "https", "mailto", "tel", "xmpp", "irc", "ircs", "geo", "magnet"}
_SANITIZE = threading.local()  # the base URL of the post being cleaned, for the attribute filter


def _filter(tag: str, attr: str, value: str) -> str | None:
    if attr in URL_ATTRS or attr in SRCSET_ATTRS:
        fixed = _absolute_value(_SANITIZE.base, attr, value)
        if tag == "iframe" and not (fixed.startswith("https://") and urlsplit(fixed).hostname in _SANITIZE.embeds):
            return None  # embeds: https, from the hosts readers accept ([content] embed_hosts)
        return fixed
    if tag == "input" and attr == "type" and value != "checkbox":
        return None  # task lists only
    return value


def _cleaner() -> nh3.Cleaner:
    if not hasattr(_SANITIZE, "cleaner"):
        _SANITIZE.cleaner = nh3.Cleaner(
            tags=SAFE_TAGS,
            attributes=SAFE_ATTRIBUTES,
            url_schemes=SAFE_SCHEMES,
            attribute_filter=_filter,
            link_rel=None,
            strip_comments=True,
        )
    cleaner: nh3.Cleaner = _SANITIZE.cleaner
    return cleaner


def sanitize_html(fragment: str, base: str, embeds: tuple[str, ...] = ()) -> str:
    """Only what readers show: text, links, images, figures, tables, code, audio and video,
    embedded players from the ``embeds`` hosts (https), task lists and footnotes — no scripts,
    styles, forms, event handlers or ``javascript:`` links (even with a leading space); every
    URL absolute against ``base``."""
    _SANITIZE.base, _SANITIZE.embeds = base, embeds
    if "<noscript" in fragment.lower():
        fragment = _NOSCRIPT.sub("", fragment)
    return _EMPTIED.sub(_drop_emptied, _cleaner().clean(fragment))


# A browser with scripts parses <noscript>'s inside as text, so a sanitizer that drops the tag
# keeps its markup as visible characters. Readers run no scripts: what it holds is what they
# should show, as markup (sanitized and made absolute like the rest). The tag goes; a bound on
# its attributes keeps a run of "<noscript" without ">" from being scanned again and again.
_NOSCRIPT = re.compile(r"</?noscript(?=[\s/>])[^<>]{0,2000}>", re.IGNORECASE)


# nh3 writes attributes double-quoted with `"` escaped, so a tag ends at the first `>` outside
# quotes; an iframe's body is raw text that cannot hold `</iframe>`.
_QUOTED_ATTRS = r'(?P<attrs>(?:[^>"]|"[^"]*")*)'
_EMPTIED = re.compile(rf"<iframe{_QUOTED_ATTRS}>.*?</iframe>|<input{_QUOTED_ATTRS.replace('attrs', 'input')}>", re.S)


def _drop_emptied(m: re.Match[str]) -> str:
    """An iframe whose src was refused shows a blank box, an input that is no task-list box a
    dead field: what the filter emptied goes whole (validators call either a security risk)."""
    if m.group("attrs") is not None:
        return m.group(0) if ' src="' in m.group("attrs") else ""
    return m.group(0) if ' type="checkbox"' in (m.group("input") or "") else ""


def absolute_url(base: str, url: str) -> str:
    """Resolve ``url`` (as written in HTML, entities decoded) against ``base``."""
    url = url.strip()
    if not url:
        return url
    if _SAFE_SCHEMES_ABSOLUTE.match(url):
        return url  # https:, mailto:, data:, tel: … already absolute
    if _plain_path(url):  # "/img/a.png", "a.png": what urljoin gives, without its parsing (~10 us)
        origin, folder = _base_parts(base)
        if folder:
            return origin + url if url[0] == "/" else folder + url
    return urljoin(base, url)


def _plain_path(url: str) -> bool:
    """A path (with a query or fragment, perhaps) that urljoin only appends: no scheme, host,
    ``.``/``..`` segment, empty segment, parameters, or character it strips or treats specially."""
    if url[0] in "?#" or url.startswith("//") or not url.isprintable() or " " in url or "\\" in url or ";" in url:
        return False  # ";": urljoin splits a segment's parameters off
    if url.endswith(("?", "#")) or "?#" in url:
        return False  # an empty query or fragment, which urljoin drops
    path = url.split("#", 1)[0].split("?", 1)[0]
    if ":" in path.split("/", 1)[0] or "//" in path:
        return False
    return not any(segment in (".", "..") for segment in path.split("/"))


@lru_cache(maxsize=256)
def _base_parts(base: str) -> tuple[str, str]:
    """A post URL's ``scheme://host`` and its folder (up to its last ``/``), or ("", "") when it is
    not a plain http(s) URL those can be joined to."""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return "", ""
    path = parts.path or "/"
    if not _plain_path(path) or not path.startswith("/") or "//" in path:
        return "", ""
    origin = f"{parts.scheme}://{parts.netloc}"
    if base != origin + parts.path:
        return "", ""
    return origin, origin + path[: path.rindex("/") + 1]


def _fix_srcset(base: str, value: str) -> str:
    out = []
    for candidate in value.split(","):
        bits = candidate.strip().split(None, 1)
        if not bits:
            continue
        bits[0] = absolute_url(base, bits[0])
        out.append(" ".join(bits))
    return ", ".join(out)


def _absolute_value(base: str, attr: str, value: str) -> str:
    if attr in SRCSET_ATTRS:
        return _fix_srcset(base, value)
    if attr in LIST_ATTRS:
        return " ".join(absolute_url(base, url) for url in value.split())
    return absolute_url(base, value)


def absolutize(fragment: str, base: str) -> str:
    """Make every URL attribute in an HTML fragment absolute against ``base``."""

    def fix_attr(m: re.Match[str]) -> str:
        lead, name, eq, raw = m.groups()
        lname = name.lower()
        if lname not in URL_ATTRS and lname not in SRCSET_ATTRS and lname not in LIST_ATTRS:
            return m.group(0)
        quote = raw[0] if raw[0] in "\"'" else ""
        value = html.unescape(raw[1:-1] if quote else raw)
        fixed = _absolute_value(base, lname, value)
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


_P_OPEN = re.compile(r"<p\b", re.IGNORECASE)
_P_CLOSE = re.compile(r"</p>", re.IGNORECASE)


def first_paragraph_text(fragment: str) -> str:
    """Text of the first <p> that has any text, else of the whole fragment. Read by hand, each
    character once: ``<p\\b[^>]*>(.*?)</p>`` scanned from every unclosed "<p" to the end
    (quadratic: 60 KB of "<p>", 12 s); when one finds no ">" or "</p>", no later one can."""
    pos = 0
    while (start := _P_OPEN.search(fragment, pos)) is not None:
        inside = fragment.find(">", start.end()) + 1
        end = _P_CLOSE.search(fragment, inside) if inside else None
        if end is None:
            break
        text = html_to_text(fragment[inside : end.start()])
        if text:
            return text
        pos = end.end()
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
