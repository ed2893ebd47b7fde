"""What a generator's template code in a post's body becomes. Pure.

A blog written for a generator has the generator's template code in its Markdown: Hugo's
``{{< figure … >}}`` and ``{{< ref "x.md" >}}``, Liquid's ``{% link … %}`` and ``{{ site.baseurl }}``
(Jekyll, Eleventy), Zola's ``{{ youtube(id="…") }}`` and ``@/x.md`` links, Pelican's ``{filename}``
links. The generator runs it before Markdown; a feed cannot, so :func:`expand` does what the
generator would, on the Markdown text, before it is rendered:

- a link to another file becomes that file's URL: a post's URL as syndicate computes it (the
  ``links`` mapping, made by :func:`resolve` once every post is known), else the URL the generator
  would give the file (:func:`resolve`); a target that is nowhere keeps the link's text only;
- the generator's built-in shortcodes become the HTML it makes offline (figure, youtube, vimeo,
  highlight…); embeds it fetches from the network (gist, tweet, instagram) a link to the original;
- anything else (a theme's or the user's own shortcode) is removed, its inner Markdown kept, and
  named in :attr:`Found.removed` (one warning per post).

Code is left alone: inside a code block or an inline code span only the generator's own escapes
apply (Hugo's ``{{</* x */>}}`` and Zola's ``{{/* x */}}`` show the tag; Liquid's ``{% raw %}``
markers go). Everything is scanned in linear time: each closing delimiter is searched once
(:class:`_Finder`), and no regular expression here can backtrack on user text.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .dialects import pelican_slug
from .found import TEMPLATED, Found  # (kept here too: what expand gives back)

MARKDOWN_EXTS = (".md", ".markdown", ".mdown", ".mkd", ".mkdn")
MAX_TAG = 4000  # characters a tag may span, delimiters included: longer is text, not a tag
_MISSING = "\x00missing\x00"  # a link whose target is nowhere: its text is kept, the link goes


def shown(ref: str) -> str:
    """A link target as the post wrote it, for messages."""
    kind, _, rest = ref.partition(":")
    target = rest.rsplit("|", 1)[-1]
    return {
        "link": f"{{% link {target} %}}",
        "post": f"{{% post_url {target} %}}",
        "ref": f'{{{{< ref "{target}" >}}}}',
        "at": f"@/{target}",
        "file": f"{{filename}}{target}",
    }.get(kind, ref)


# -- where code is ----------------------------------------------------------------------------------

_FENCE = re.compile(r"([ \t]*)(`{3,}|~{3,})([^\n]*)")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_TICKS = re.compile(r"`+")


def code_regions(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every fenced or indented code block and inline code span, in order."""
    regions: list[tuple[int, int]] = []
    fence: tuple[str, int] | None = None
    start = 0
    indented_end: int | None = None  # the end of the last line of the indented code block we are in
    prose: int | None = None  # the start of the current run of prose lines (for inline code)
    blank_before = True
    in_list = False
    pos, n = 0, len(text)
    while pos < n:
        end = text.find("\n", pos)
        end = n if end < 0 else end
        line = text[pos:end]
        blank = not line.strip()
        if fence is not None:
            closing = line.strip(" \t")
            if len(closing) >= fence[1] and closing == fence[0] * len(closing):
                regions.append((start, end))
                fence = None
            pos = end + 1
            continue
        indented = line.startswith(("    ", "\t"))
        if indented_end is not None:
            if blank or indented:
                indented_end = indented_end if blank else end
                pos = end + 1
                continue
            regions.append((start, indented_end))
            indented_end = None
        m = _FENCE.match(line)
        if m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
            _prose(text, prose, pos, regions)
            prose = None
            fence, start = (m.group(2)[0], len(m.group(2))), pos
        elif indented and not blank and blank_before and not in_list:
            _prose(text, prose, pos, regions)
            prose = None
            start, indented_end = pos, end
        elif blank:
            _prose(text, prose, pos, regions)
            prose = None
        else:
            if prose is None:
                prose = pos
            if not line.startswith((" ", "\t")):
                in_list = bool(_LIST_ITEM.match(line))
        blank_before = blank
        pos = end + 1
    if fence is not None:
        regions.append((start, n))
    if indented_end is not None:
        regions.append((start, indented_end))
    _prose(text, prose, n, regions)
    regions.sort()
    return regions


def _prose(text: str, start: int | None, end: int, regions: list[tuple[int, int]]) -> None:
    """The inline code spans of a run of prose lines: a run of backticks up to the next run of as
    many (CommonMark); found in one pass with the next run of each length precomputed."""
    if start is None or "`" not in text[start:end]:
        return
    runs = [(m.start(), m.end()) for m in _TICKS.finditer(text, start, end)]
    following: list[int] = [-1] * len(runs)
    last: dict[int, int] = {}
    for i in range(len(runs) - 1, -1, -1):
        size = runs[i][1] - runs[i][0]
        following[i] = last.get(size, -1)
        last[size] = i
    i = 0
    while i < len(runs):
        j = following[i]
        if j < 0:
            i += 1
            continue
        regions.append((runs[i][0], runs[j][1]))
        i = j + 1


class _Code:
    """Is a position inside code?"""

    def __init__(self, text: str) -> None:
        self.regions = code_regions(text) if ("`" in text or "~~~" in text or "    " in text or "\t" in text) else []
        self.starts = [s for s, _ in self.regions]

    def __call__(self, start: int, end: int | None = None) -> bool:
        """Is ``start`` in code, or does the tag from ``start`` to ``end`` run into code? Code that
        starts and ends inside the tag is the tag's own: Hugo's `…` raw string arguments."""
        i = bisect_right(self.starts, start) - 1
        if i >= 0 and self.regions[i][1] > start:
            return True
        if end is None:
            return False
        last = bisect_left(self.starts, end) - 1  # the last code that starts inside the tag
        return last > i and self.regions[last][1] > end


class _Finder:
    """``text.find(needle, start)`` remembered: each needle is searched through the text once, so
    a run of openers without a closer costs linear time, not quadratic."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.found: dict[str, tuple[int, int]] = {}  # needle → (searched from, found at or -1)

    def find(self, needle: str, start: int) -> int:
        hit = self.found.get(needle)
        if hit is not None and hit[0] <= start and (hit[1] < 0 or hit[1] >= start):
            return hit[1]
        at = self.text.find(needle, start)
        self.found[needle] = (start, at)
        return at


# -- tags -------------------------------------------------------------------------------------------


@dataclass
class Tag:
    """One piece of template code: a shortcode or tag, its arguments, where it is."""

    start: int
    end: int
    name: str
    args: list[tuple[str | None, str]] = field(default_factory=list)  # (key or None, value)
    text: str = ""  # Liquid: the tag's text after its name
    closing: bool = False
    self_closing: bool = False
    markdown: bool = False  # Hugo's {{% %}}
    literal: str | None = None  # not template code: this text, as it is (an escape, a raw block)
    block: bool = False  # Zola's {% x() %} … {% end %}
    partner: int = -1  # the index of its closing tag

    def get(self, key: str, position: int | None = None) -> str | None:
        for k, v in self.args:
            if k == key:
                return v
        if position is not None:
            plain = [v for k, v in self.args if k is None]
            if position < len(plain):
                return plain[position]
        return None


_NAME = re.compile(r"[A-Za-z0-9_][\w.\-/]*")
_KEY = re.compile(r"([A-Za-z_][\w-]*)\s*=\s*")


def _args(text: str, sep: str = "") -> list[tuple[str | None, str]]:
    """Shortcode arguments: ``key="v"``, ``key=v``, ``"v"``, `` `v` ``, ``v`` (Hugo); with ``sep`` ","
    Zola's ``key="v", n=1, flag=true``. Linear: each step consumes text."""
    out: list[tuple[str | None, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and (text[i].isspace() or (bool(sep) and text[i] == sep)):
            i += 1
        if i >= n:
            break
        key = None
        m = _KEY.match(text, i)
        if m:
            key, i = m.group(1), m.end()
        if i < n and text[i] in "\"'`":
            quote = text[i]
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] != quote:
                if text[j] == "\\" and quote != "`" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            out.append((key, "".join(buf)))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and not (sep and text[j] == sep):
                j += 1
            if j == i:
                j = i + 1  # a character that starts nothing: skip it
            out.append((key, text[i:j]))
            i = j
    return out


def _unescape(inner: str) -> str:
    """Hugo's and Zola's escaped tag, ``{{</* x */>}}``: the tag without the comment marks."""
    first = inner.index("/*")
    last = inner.rindex("*/")
    return inner[:first] + inner[first + 2 : last] + inner[last + 2 :]


def _hugo_tags(text: str, code: _Code) -> list[Tag]:
    tags: list[Tag] = []
    finder = _Finder(text)
    i = 0
    while True:
        i = finder.find("{{", i)
        if i < 0:
            break
        kind = text[i + 2 : i + 3]
        if kind not in ("<", "%"):
            i += 2
            continue
        close = (">" if kind == "<" else "%") + "}}"
        end = finder.find(close, i + 3)
        if end < 0 or end - i > MAX_TAG:
            i += 3
            continue
        inner = text[i + 3 : end]
        stop = end + 3
        stripped = inner.strip()
        if stripped.startswith("/*") and stripped.endswith("*/") and len(stripped) >= 4:
            tags.append(Tag(i, stop, "", literal="{{" + kind + _unescape(inner) + close))
            i = stop
            continue
        if code(i, stop) or "{{" + kind in inner:
            i += 3
            continue
        closing = stripped.startswith("/")
        if closing:
            stripped = stripped[1:].lstrip()
        self_closing = stripped.endswith("/")
        if self_closing:
            stripped = stripped[:-1].rstrip()
        m = _NAME.match(stripped)
        if not m:
            i += 3
            continue
        name = m.group(0)
        tags.append(
            Tag(
                i,
                stop,
                name,
                _args(stripped[m.end() :]),
                closing=closing,
                self_closing=self_closing,
                markdown=kind == "%",
            )
        )
        i = stop
    return tags


_LIQUID_NAME = re.compile(r"\s*([A-Za-z_][\w-]*)")
_ENDRAW = re.compile(r"\{%-?\s*endraw\s*-?%\}")
_ENDCOMMENT = re.compile(r"\{%-?\s*endcomment\s*-?%\}")


def _liquid_tags(text: str, code: _Code) -> list[Tag]:
    tags: list[Tag] = []
    unclosed: dict[str, int] = {}  # raw/comment: no end tag after this position
    finder = _Finder(text)
    i = 0
    while True:
        i = finder.find("{", i)
        if i < 0:
            break
        kind = text[i + 1 : i + 2]
        if kind not in ("%", "{"):
            i += 1
            continue
        close = "%}" if kind == "%" else "}}"
        end = finder.find(close, i + 2)
        if end < 0 or end - i > MAX_TAG:
            i += 2
            continue
        stop = end + 2
        inner = text[i + 2 : end].strip("-").strip()
        m = _LIQUID_NAME.match(inner)
        if kind == "%" and m and m.group(1) in ("raw", "comment") and not inner[m.end() :].strip():
            ender = _ENDRAW if m.group(1) == "raw" else _ENDCOMMENT
            finish = ender.search(text, stop) if stop < unclosed.get(m.group(1), len(text) + 1) else None
            if finish is None:
                unclosed[m.group(1)] = min(stop, unclosed.get(m.group(1), stop))  # none after: never look again
                i = stop
                continue
            literal = text[stop : finish.start()] if m.group(1) == "raw" else ""
            tags.append(Tag(i, finish.end(), m.group(1), literal=literal))
            i = finish.end()
            continue
        if code(i, stop) or "{" + kind in text[i + 2 : end]:
            i += 2
            continue
        if kind == "{":
            tags.append(Tag(i, stop, "{{", text=inner, self_closing=True))
        elif m:
            tags.append(Tag(i, stop, m.group(1), text=inner[m.end() :].strip()))
        else:
            i += 2
            continue
        i = stop
    return tags


_ZOLA_CALL = re.compile(r"\s*([A-Za-z_]\w*)\s*\(")


def _zola_tags(text: str, code: _Code) -> list[Tag]:
    tags: list[Tag] = []
    finder = _Finder(text)
    i = 0
    while True:
        i = finder.find("{", i)
        if i < 0:
            break
        kind = text[i + 1 : i + 2]
        if kind not in ("%", "{"):
            i += 1
            continue
        close = "%}" if kind == "%" else "}}"
        end = finder.find(close, i + 2)
        if end < 0 or end - i > MAX_TAG:
            i += 2
            continue
        stop = end + 2
        inner = text[i + 2 : end]
        stripped = inner.strip()
        if stripped.startswith("/*") and stripped.endswith("*/") and len(stripped) >= 4:
            tags.append(Tag(i, stop, "", literal="{" + kind + _unescape(inner) + close))
            i = stop
            continue
        if code(i, stop):
            i += 2
            continue
        m = _ZOLA_CALL.match(inner)
        if kind == "%" and stripped == "end":
            tags.append(Tag(i, stop, "end", closing=True))
        elif m and stripped.endswith(")"):
            args = _args(inner[m.end() : inner.rstrip().rfind(")")], sep=",")
            tags.append(Tag(i, stop, m.group(1), args, block=kind == "%", self_closing=kind == "{"))
        else:
            i += 2
            continue
        i = stop
    return tags


def _pair(tags: list[Tag], is_open: Callable[[Tag], str | None], close_of: Callable[[Tag], str | None]) -> None:
    """Match each closing tag with its opening one, properly nested: a stack of open tags, and for
    each name how many are on it (a close whose name is not open is left alone; opens it skips
    over become single tags). Each tag is pushed and popped at most once."""
    stack: list[int] = []
    count: dict[str, int] = {}
    for i, tag in enumerate(tags):
        if tag.literal is not None:
            continue
        closes = close_of(tag)
        if closes is not None:
            if count.get(closes):
                while stack:
                    j = stack.pop()
                    name = is_open(tags[j]) or ""
                    count[name] -= 1
                    if name == closes:
                        tags[j].partner = i
                        break
            continue
        opens = is_open(tag)
        if opens is not None:
            stack.append(i)
            count[opens] = count.get(opens, 0) + 1


# -- the rewrite ------------------------------------------------------------------------------------

Render = Callable[[Tag, "str | None", bool], "str | None"]  # tag, inner text, on a line of its own → text or None


def _rewrite(text: str, tags: Sequence[Tag], render: Render, removed: dict[str, None]) -> str:
    """The text with each tag replaced by what ``render`` makes of it (None: removed, its inner
    text kept, its name added to ``removed``); a paired tag gets the rewritten text inside it."""
    frames: list[tuple[Tag, list[str]]] = []
    out: list[str] = []
    pos = 0
    for i, tag in enumerate(tags):
        pieces = frames[-1][1] if frames else out
        pieces.append(text[pos : tag.start])
        pos = tag.end
        if tag.literal is not None:
            pieces.append(tag.literal)
            continue
        if tag.partner >= 0:
            frames.append((tag, []))
            continue
        if frames and frames[-1][0].partner == i:
            opener, inner_pieces = frames.pop()
            pieces = frames[-1][1] if frames else out
            inner = "".join(inner_pieces)
            alone = _alone(text, opener.start, tag.end)
            made = render(opener, inner, alone)
            if made is None:
                removed.setdefault(_label(opener), None)
                made = inner
            pieces.append(made)
            continue
        if tag.closing:
            removed.setdefault(_label(tag), None)
            continue
        made = render(tag, None, _alone(text, tag.start, tag.end))
        if made is None:
            removed.setdefault(_label(tag), None)
            made = ""
        pieces.append(made)
    tail = frames[-1][1] if frames else out
    tail.append(text[pos:])
    while frames:  # cannot happen (every pushed tag has a partner later); kept for safety
        _, inner_pieces = frames.pop()
        (frames[-1][1] if frames else out).extend(inner_pieces)
    return "".join(out)


def _label(tag: Tag) -> str:
    if tag.name == "{{":
        return "{{ " + tag.text + " }}"
    return tag.name


def _alone(text: str, start: int, end: int) -> bool:
    """Is text[start:end] on lines of its own (only spaces around it)? Looks no further than the
    spaces next to it, so that many tags on one long line cost linear time."""
    i = start
    while i > 0 and text[i - 1] in " \t":
        i -= 1
    j = end
    while j < len(text) and text[j] in " \t":
        j += 1
    return (i == 0 or text[i - 1] == "\n") and (j == len(text) or text[j] == "\n")


def _block(made: str, alone: bool) -> str:
    """HTML standing where a tag stood alone on its line: an HTML block of one line (newlines as
    character references, so no blank line ends it early) with blank lines around it, which both
    Markdown renderers pass through as it is. Inline: the HTML as it is."""
    if not alone:
        return made
    return "\n\n" + made.replace("\n", "&#10;") + "\n\n"


def _a(url: str) -> str:
    """A link to the original of an embed, as HTML: a Markdown autolink is no link inside an HTML
    block (a tweet between `<!--html_preserve-->` markers on tidyverse.org vanished). Its text is
    the URL without its scheme or ``www.``, which no autolink extension links a second time."""
    href = url.replace(" ", "%20")
    shown = re.sub(r"^https?://(?:www\.)?", "", href)
    return f'<a href="{html.escape(href)}">{html.escape(shown, quote=False)}</a>'


def _code_html(code: str, lang: str, figure: bool = False) -> str:
    """A code block as the generators write it, without the colours: ``<pre><code class=
    "language-x" data-lang="x">`` (Jekyll wraps it in ``<figure class="highlight">``, Hugo in a div)."""
    attrs = f' class="language-{html.escape(lang)}" data-lang="{html.escape(lang)}"' if lang else ""
    inner = f"<pre><code{attrs}>{html.escape(code.strip(chr(10)), quote=False)}</code></pre>"
    return f'<figure class="highlight">{inner}</figure>' if figure else f'<div class="highlight">{inner}</div>'


# -- per generator ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    """What the template code of one post may refer to."""

    rel: str  # the post's path under the content folder
    site_url: str  # ends with "/"
    links: Mapping[str, str]  # link target (a key of Found.refs) → URL
    params: Mapping[str, str] = field(default_factory=dict)  # Hugo's {{< param >}}: the page's params
    site: Mapping[str, str] = field(default_factory=dict)  # Liquid's {{ site.<key> }}: [content] site

    @property
    def folder(self) -> str:
        return self.rel.rsplit("/", 1)[0] if "/" in self.rel else ""


class _State:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.refs: dict[str, None] = {}
        self.missing: dict[str, None] = {}
        self.removed: dict[str, None] = {}

    def link(self, ref: str, fragment: str = "") -> str:
        """The URL of a link target, or the marker of a missing one."""
        self.refs.setdefault(ref, None)
        url = self.ctx.links.get(ref)
        if url is None:
            self.missing.setdefault(ref, None)
            return _MISSING
        return url + fragment

    def found(self) -> Found:
        return Found(tuple(self.refs), tuple(self.removed), tuple(self.missing))


def _split_fragment(target: str) -> tuple[str, str]:
    path, hash_, fragment = target.partition("#")
    return path, hash_ + fragment


def _youtube(vid: str, title: str, autoplay: bool, nocookie: bool = False) -> str:
    host = "www.youtube-nocookie.com" if nocookie else "www.youtube.com"
    src = f"https://{host}/embed/{html.escape(vid)}" + ("?autoplay=1" if autoplay else "")
    return (
        '<div style="position: relative; padding-bottom: 56.25%; height: 0; overflow: hidden;">'
        f'<iframe src="{src}" style="position: absolute; top: 0; left: 0; width: 100%; height: 100%; border:0;"'
        f' allowfullscreen title="{html.escape(title)}"></iframe></div>'
    )


def _vimeo(vid: str, title: str) -> str:
    return (
        '<div style="position: relative; padding-bottom: 56.25%; height: 0; overflow: hidden;">'
        f'<iframe src="https://player.vimeo.com/video/{html.escape(vid)}" style="position: absolute; top: 0;'
        ' left: 0; width: 100%; height: 100%; border:0;"'
        f' title="{html.escape(title)}" webkitallowfullscreen mozallowfullscreen allowfullscreen></iframe></div>'
    )


def _inline_markdown(text: str) -> str:
    """Hugo's ``markdownify`` of a caption: inline Markdown to HTML, without the paragraph."""
    from .markup import renderer_for

    made = renderer_for("cmark", (), True).render(text).strip()
    if made.startswith("<p>") and made.endswith("</p>") and made.count("<p>") == 1:
        made = made[3:-4]
    return made


def _hugo_figure(tag: Tag) -> str:
    g = tag.get
    img = f'<img src="{html.escape(g("src") or "")}"'
    alt = g("alt") or (_plain(g("caption") or "") if g("caption") else None)
    if alt:
        img += f' alt="{html.escape(alt)}"'
    for key in ("width", "height", "loading"):
        if g(key):
            img += f' {key}="{html.escape(g(key) or "")}"'
    img += "/>"
    if g("link"):
        extra = "".join(f' {k}="{html.escape(g(k) or "")}"' for k in ("target", "rel") if g(k))
        img = f'<a href="{html.escape(g("link") or "")}"{extra}>{img}</a>'
    caption = ""
    if g("title") or g("caption") or g("attr"):
        caption = "<figcaption>"
        if g("title"):
            caption += f"<h4>{html.escape(g('title') or '')}</h4>"
        if g("caption") or g("attr"):
            attr = _inline_markdown(g("attr") or "") if g("attr") else ""
            if g("attrlink"):
                attr = f'<a href="{html.escape(g("attrlink") or "")}">{attr}</a>'
            caption += f"<p>{_inline_markdown(g('caption') or '') if g('caption') else ''}{attr}</p>"
        caption += "</figcaption>"
    cls = f' class="{html.escape(g("class") or "")}"' if g("class") else ""
    return f"<figure{cls}>{img}{caption}</figure>"


def _plain(text: str) -> str:
    return re.sub(r"<[^<>]*>", "", _inline_markdown(text))


def _hugo(body: str, ctx: Context) -> tuple[str, Found]:
    state = _State(ctx)
    code = _Code(body)
    tags = _hugo_tags(body, code)
    if not tags:
        return body, Found()
    _pair(tags, lambda t: None if t.closing or t.self_closing else t.name, lambda t: t.name if t.closing else None)

    def render(tag: Tag, inner: str | None, alone: bool) -> str | None:
        name, g = tag.name, tag.get
        if name in ("ref", "relref"):
            target = g("path", 0) or ""
            path, fragment = _split_fragment(target)
            if not path:  # "#anchor": this page
                return state.link(f"ref:|/{ctx.rel}", fragment)
            return state.link(f"ref:{ctx.folder}|{path}", fragment)
        if name == "param":
            key = (g("name", 0) or "").lower()
            value = ctx.params.get(key)
            return html.escape(value, quote=False) if value is not None else None
        if name == "figure":
            return _block(_hugo_figure(tag), alone)
        if name in ("youtube", "youtube_simple"):
            vid = g("id", 0) or ""
            autoplay = (g("autoplay") or "") == "true"
            return _block(_youtube(vid, g("title") or "YouTube Video", autoplay), alone)
        if name in ("vimeo", "vimeo_simple"):
            return _block(_vimeo(g("id", 0) or "", g("title") or "vimeo video"), alone)
        if name == "highlight" and inner is not None:
            return _block(_code_html(inner, g("lang", 0) or ""), alone)
        if name == "gist":
            user, gid, file = g("user", 0) or "", g("id", 1) or "", g("file", 2)
            url = f"https://gist.github.com/{user}/{gid}" + (f"#file-{file.replace('.', '-')}" if file else "")
            return _block(_a(url), alone)
        if name in ("tweet", "twitter", "twitter_simple", "x", "x_simple"):
            who, pid = g("user"), g("id") or g("id", 0) or ""
            url = f"https://x.com/{who}/status/{pid}" if who else f"https://x.com/i/status/{pid}"
            return _block(_a(url), alone)
        if name in ("instagram", "instagram_simple"):
            return _block(_a(f"https://www.instagram.com/p/{g('id', 0) or ''}/"), alone)
        if name == "comment":
            return ""
        if name == "details" and inner is not None:
            summary = html.escape(g("summary") or "Details")
            return f"\n\n<details><summary>{summary}</summary>\n\n{inner}\n\n</details>\n\n"
        return None

    out = _rewrite(body, tags, render, state.removed)
    return out, state.found()


# Liquid output expressions syndicate can evaluate: a value (a quoted string, site.url,
# site.baseurl, a site.<key> that [content] site gives) and the filters that make URLs of it.
_LIQUID_VALUE = re.compile(r"""\s*(?:'([^']*)'|"([^"]*)"|site\.([A-Za-z_][\w-]*))\s*""")
_LIQUID_FILTER = re.compile(r"""\|\s*([a-z_]+)\s*(?::\s*(?:'([^']*)'|"([^"]*)"|site\.([A-Za-z_][\w-]*)))?\s*""")


def _liquid_value(expr: str, site_url: str, generator: str, site: Mapping[str, str] | None = None) -> str | None:
    """``{{ site.baseurl }}``, ``{{ '/x.png' | relative_url }}``, ``{{ "/a" | prepend: site.baseurl }}``,
    Eleventy's ``{{ '/x/' | url }}``, ``{{ site.repository }}`` when ``site`` ([content] site) has
    it: their value, or None for anything else."""
    parts = urlsplit(site_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    base = parts.path.rstrip("/")
    names = {**(site or {}), "url": origin, "baseurl": base}
    m = _LIQUID_VALUE.match(expr)
    if not m or (m.group(3) is not None and m.group(3) not in names):
        return None
    value: str = next((v for v in m.group(1, 2) if v is not None), None) or names.get(m.group(3) or "", "")
    pos = m.end()
    while pos < len(expr):
        f = _LIQUID_FILTER.match(expr, pos)
        if not f or (f.group(4) is not None and f.group(4) not in names):
            return None
        pos = f.end()
        arg = next((a for a in f.group(2, 3) if a is not None), None)
        arg = names[f.group(4)] if f.group(4) else arg
        name = f.group(1)
        if name == "relative_url" or (name == "url" and generator == "eleventy"):
            value = value if value.startswith(("http://", "https://", "//")) else base + "/" + value.lstrip("/")
        elif name == "absolute_url":
            value = value if value.startswith(("http://", "https://")) else origin + base + "/" + value.lstrip("/")
        elif name in ("prepend", "append") and arg is not None:
            value = arg + value if name == "prepend" else value + arg
        else:
            return None
    return value


# Liquid blocks whose body cannot stand without the template running it: a loop's body (its
# variables unknown: jekyll/jekyll's docs got `[#]: /issues/` link definitions from one), a capture
# (it outputs nothing). Removed whole, named in the warning; an `if`'s body is kept, as any other.
_DROPPED_BLOCKS = frozenset({"for", "tablerow", "capture"})


def _liquid(body: str, ctx: Context, generator: str) -> tuple[str, Found]:
    state = _State(ctx)
    code = _Code(body)
    tags = _liquid_tags(body, code)
    if not tags:
        return body, Found()
    _pair(
        tags,
        lambda t: t.name if t.name not in ("{{",) and not t.name.startswith("end") else None,
        lambda t: t.name[3:] if t.name.startswith("end") and len(t.name) > 3 else None,
    )
    for tag in tags:  # an end tag that matched nothing is removed (and named)
        tag.closing = tag.name.startswith("end") and len(tag.name) > 3

    def render(tag: Tag, inner: str | None, alone: bool) -> str | None:
        name, arg = tag.name, tag.text
        if name == "{{":
            value = _liquid_value(arg, ctx.site_url, generator, ctx.site)
            if value is None and _in_link_target(body, tag.start):
                state.removed.setdefault(_label(tag), None)
                return _MISSING  # a link whose address is not known: its text is kept, never a wrong link
            if value is None:
                return None
            nxt = body[tag.end : tag.end + 2]
            if value == urlsplit(ctx.site_url).path.rstrip("/") and nxt == "{%" and _links_next(body, tag.end):
                return ""  # {{ site.baseurl }}{% link x %}: the link is a whole URL already
            return value
        if generator == "jekyll" and name == "link":
            path, fragment = _split_fragment(arg.strip().strip("'\""))
            return state.link("link:" + path.lstrip("/"), fragment)
        if generator == "jekyll" and name == "post_url":
            path, fragment = _split_fragment(arg.strip().strip("'\""))
            return state.link("post:" + path.lstrip("/"), fragment)
        if name in _DROPPED_BLOCKS and inner is not None:
            state.removed.setdefault(name, None)  # a loop's body without its loop is garbage; a capture is no output
            return ""
        if name == "highlight" and inner is not None:
            lang = arg.split()[0] if arg.split() else ""
            return _block(_code_html(_RAW_MARKERS.sub("", inner), lang, figure=generator == "jekyll"), alone)
        return None

    out = _rewrite(body, tags, render, state.removed)
    return out, state.found()


_HTML_ADDRESS = re.compile(r"""\b(?:href|src)\s*=\s*["']?\Z""")
_REFERENCE_DEFINITION = re.compile(r"[ ]{0,3}\[[^\]\n]{1,999}\]:[ \t]*<?")


def _in_link_target(body: str, at: int) -> bool:
    """Is ``at`` inside the address of a Markdown link, a reference definition or an HTML
    href/src (after ``](``, ``[x]:`` or ``href="``, and characters an address may hold)? Looks
    back at most about 1,500 characters, so many tags cost linear time."""
    i = at
    while i > 0 and at - i < 400 and body[i - 1] not in " \t\n()<>\"'[]":
        i -= 1
    head = body[max(0, i - 20) : i]
    opened = head.rstrip(" \t")
    opened = opened[:-1].rstrip(" \t") if opened.endswith("<") else opened
    if opened.endswith("](") or _HTML_ADDRESS.search(head):
        return True
    start = body.rfind("\n", max(0, i - 1100), i) + 1
    return (start > 0 or i <= 1100) and _REFERENCE_DEFINITION.fullmatch(body, start, i) is not None


_RAW_MARKERS = re.compile(r"\{%-?\s*(?:end)?raw\s*-?%\}")
_LINK_TAG = re.compile(r"\{%-?\s*(?:link|post_url)\b")


def _links_next(body: str, at: int) -> bool:
    return _LINK_TAG.match(body, at) is not None


def _zola(body: str, ctx: Context) -> tuple[str, Found]:
    state = _State(ctx)
    code = _Code(body)
    out = body
    tags = _zola_tags(body, code) if "{" in body else []
    if tags:
        stack: list[int] = []  # every {% end %} closes the innermost open block, whatever its name
        for i, tag in enumerate(tags):
            if tag.block:
                stack.append(i)
            elif tag.closing and stack:
                tags[stack.pop()].partner = i

        def render(tag: Tag, inner: str | None, alone: bool) -> str | None:
            g = tag.get
            if tag.name == "youtube":
                return _block(_zola_embed(f"https://www.youtube-nocookie.com/embed/{g('id') or ''}", g), alone)
            if tag.name == "vimeo":
                return _block(_zola_embed(f"https://player.vimeo.com/video/{g('id') or ''}", g), alone)
            if tag.name == "streamable":
                return _block(_zola_embed(f"https://streamable.com/e/{g('id') or ''}", g), alone)
            if tag.name == "gist":
                url = g("url") or ""
                return _block(_a(url + (f"#file-{(g('file') or '').replace('.', '-')}" if g("file") else "")), alone)
            return None

        out = _rewrite(body, tags, render, state.removed)
        code = _Code(out)
    if "@/" in out:
        out = _at_links(out, code, state)
    return out, state.found()


def _zola_embed(src: str, g: Callable[..., str | None]) -> str:
    autoplay = "?autoplay=1" if (g("autoplay") or "") == "true" and "youtube" in src else ""
    cls = f' class="{html.escape(g("class") or "")}"' if g("class") else ""
    return f'<div{cls}><iframe src="{html.escape(src)}{autoplay}" allowfullscreen></iframe></div>'


# Zola's internal links: a Markdown link (or a reference definition) to @/path.md[#anchor].
_AT_LINK = re.compile(r"(\]\(\s*<?|^\s{0,3}\[[^\]\n]{1,999}\]:\s*<?)@/([^\s)>#]*)(#[^\s)>]*)?", re.MULTILINE)


def _at_links(body: str, code: _Code, state: _State) -> str:
    def fix(m: re.Match[str]) -> str:
        if code(m.start(2)):
            return m.group(0)
        return m.group(1) + state.link("at:" + m.group(2), m.group(3) or "")

    return _AT_LINK.sub(fix, body)


# Pelican's intra-site link markers, in a Markdown link or image target or an HTML attribute.
_PELICAN_LINK = re.compile(
    r"""(\]\(\s*<?|\b(?:src|href|poster)\s*=\s*["']?)(?:\{(\w+)\}|\|(\w+)\|)([^\s"'()<>#]*)(#[^\s"'()<>]*)?"""
)


def _pelican(body: str, ctx: Context) -> tuple[str, Found]:
    state = _State(ctx)
    if "{" not in body and "|" not in body:
        return body, Found()
    code = _Code(body)

    def fix(m: re.Match[str]) -> str:
        if code(m.start(2) if m.group(2) else m.start(3)):
            return m.group(0)
        what, target, fragment = m.group(2) or m.group(3), m.group(4), m.group(5) or ""
        path = _join(ctx.folder, target)
        if what in ("static", "attach"):
            return m.group(1) + "/" + path + fragment
        if what == "filename":
            return m.group(1) + state.link("file:" + path, fragment)
        if what in ("tag", "category", "author"):
            return m.group(1) + f"{ctx.site_url}{what}/{pelican_slug(target)}.html" + fragment
        if what == "index":
            return m.group(1) + ctx.site_url + fragment
        return m.group(0)

    return _PELICAN_LINK.sub(fix, body), state.found()


def _join(folder: str, target: str) -> str:
    """A path as Pelican and Hugo read one: from the content folder when it starts with "/", else
    from the post's folder; "." and ".." resolved (never above the content folder)."""
    parts = [] if target.startswith("/") or not folder else folder.split("/")
    for piece in target.split("/"):
        if piece in ("", "."):
            continue
        if piece == "..":
            if parts:
                parts.pop()
            continue
        parts.append(piece)
    return "/".join(parts)


def expand(body: str, generator: str, ctx: Context) -> tuple[str, Found]:
    """The body with the generator's template code done (see the module's docstring), and what
    was found. A body without any is returned as it is."""
    if generator not in TEMPLATED:
        return body, Found()
    if generator == "hugo":
        out, found = _hugo(body, ctx) if "{{" in body else (body, Found())
    elif generator in ("jekyll", "eleventy"):
        out, found = _liquid(body, ctx, generator) if "{" in body else (body, Found())
    elif generator == "zola":
        out, found = _zola(body, ctx) if ("{" in body or "@/" in body) else (body, Found())
    else:
        out, found = _pelican(body, ctx)
    if _MISSING in out:
        out = _MISSING_LINK.sub(r"\1", out)
        out = _MISSING_DEFINITION.sub("", _MISSING_ATTRIBUTE.sub("", out)).replace(_MISSING, "")
    return out, found


# A link whose address holds the marker of a target that is nowhere (or a value not known): the
# Markdown link becomes its text, the HTML href/src goes (the element stays, as text), the
# reference definition goes. The marker's \x00 is in no class before it: no backtracking.
_MISSING_LINK = re.compile(r"!?\[([^\[\]\n]*)\]\(\s*<?[^\s()<>\x00]*" + _MISSING + r"[^\s()<>]*>?\s*\)")
_MISSING_ATTRIBUTE = re.compile(r"""\s(?:href|src)\s*=\s*(["']?)[^\s"'<>\x00]*""" + _MISSING + r"""[^\s"'<>]*\1""")
_MISSING_DEFINITION = re.compile(r"^[ ]{0,3}\[[^\]\n]{1,999}\]:[ \t]*<?[^\s<>\x00]*" + _MISSING + r"\S*[^\n]*\n?", re.M)


# -- link targets → URLs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """Every post's URL by its path under the content folder, and how to tell whether another file
    is there (a page, an image: the shell looks)."""

    generator: str
    site_url: str
    posts: Mapping[str, str]  # path under the content folder → the post's URL
    exists: Callable[[str], bool]  # is there a file at this path under the content folder?

    def stems(self) -> dict[str, list[str]]:
        by: dict[str, list[str]] = {}
        for rel in self.posts:
            by.setdefault(_stem(rel), []).append(rel)
        return by


def _stem(rel: str) -> str:
    """A file's name without its extension; a bundle's (``x/index.md``) its folder's."""
    parts = rel.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    if stem in ("index", "_index") and len(parts) > 1:
        return parts[-2]
    return stem


def resolve(refs: Sequence[str], site: Site) -> dict[str, str]:
    """The URL of each link target that is somewhere: a post's URL, else the URL the generator
    gives the file (:func:`file_url`). A target that is nowhere is left out."""
    out: dict[str, str] = {}
    stems: dict[str, list[str]] | None = None
    for ref in refs:
        kind, _, rest = ref.partition(":")
        candidates: list[str] = []
        if kind in ("link", "at", "file"):
            candidates = [rest]
        elif kind == "ref":
            folder, _, target = rest.partition("|")
            t = target.lstrip("./") if target.startswith("./") else target
            bases = [_join("", t)] if t.startswith("/") else [_join(folder, t), _join("", t)]
            for b in bases:
                candidates += [b, *(b + e for e in MARKDOWN_EXTS), b + "/index.md", b + "/_index.md"]
        elif kind == "post":
            if stems is None:
                stems = site.stems()
            folder, _, name = rest.rpartition("/")
            hits = [r for r in stems.get(name, []) if "/_posts/" in "/" + r and (not folder or f"{folder}/" in r)]
            candidates = hits[:1]
        url = next((site.posts[c] for c in candidates if c in site.posts), None)
        if url is None and kind == "ref" and "/" not in rest.partition("|")[2].strip("/"):
            if stems is None:
                stems = site.stems()
            name = rest.partition("|")[2].strip("/").rsplit(".", 1)[0]
            same = stems.get(name, [])
            url = site.posts[same[0]] if len(same) == 1 else None  # Hugo: a unique base name
        if url is None:
            there = next((c for c in candidates if c and site.exists(c)), None)
            url = file_url(site.generator, site.site_url, there) if there is not None else None
        if url is not None:
            out[ref] = url
    return out


def file_url(generator: str, site_url: str, rel: str) -> str:
    """The URL a generator gives a file under the content folder that is not a post: a Markdown
    page where the generator publishes pages by default (``about.md`` → ``/about/``; Jekyll
    ``/about.html``; Pelican ``/pages/about.html``), any other file at its own path."""
    if not rel.lower().endswith(MARKDOWN_EXTS):
        return site_url + rel
    folder, _, name = rel.rpartition("/")
    stem = name.rsplit(".", 1)[0]
    if generator == "pelican":
        return f"{site_url}{folder + '/' if folder else ''}{pelican_slug(stem)}.html"
    if stem in ("index", "_index"):
        return site_url + (folder + "/" if folder else "")
    path = (folder + "/" if folder else "") + stem
    if generator == "jekyll":
        return f"{site_url}{path}.html"
    return site_url + (path.lower() if generator == "hugo" else path) + "/"
