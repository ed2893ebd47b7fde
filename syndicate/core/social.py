"""Social post text: templates fitted to a platform's limit, hashtags, Bluesky facets, TIDs. Pure.

Mastodon counts grapheme clusters of the content warning plus the text, with every URL
counted as 23 characters and a remote mention as its local part. Bluesky counts grapheme
clusters of the text as written, and links and hashtags are *facets*: ranges of UTF-8
bytes. A text is fitted by cutting the summary at a word boundary, then dropping hashtags
from the end, then cutting the title; the link is never cut and never dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import regex

from ..errors import FitError
from .images import post_images
from .slugs import SYMBOLS

if TYPE_CHECKING:
    from .model import Post, TargetSettings

MASTODON_URL_LENGTH = 23
BLUESKY_LIMIT = 300
DEFAULT_TEMPLATES = {
    "mastodon": "{title}\n\n{summary}\n\n{url}\n\n{hashtags}",
    "bluesky": "{title}\n\n{summary}\n\n{url}\n\n{hashtags}",
    "discord": "{url}",  # the embed below it shows the title, the summary and the image
    "telegram": "{title}\n\n{summary}\n\n{url}\n\n{hashtags}",
}
ELLIPSIS = "…"

# (?<!…): a run of blanks is tried from its first one only (from each, it was quadratic: a
# template of 1 MiB of spaces would have taken half an hour).
_TRAILING_BLANKS = re.compile(r"(?<![ \t])[ \t]+\n")
_URL = re.compile(r"https?://[^\s<>\"]+")
_MENTION = re.compile(r"(?<![/\w])@(\w+)@[\w.-]+\w")
_GRAPHEME = regex.compile(r"\X")
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}_]+")


def graphemes(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def mastodon_length(text: str, spoiler: str = "", url_length: int = MASTODON_URL_LENGTH) -> int:
    """Characters as Mastodon's StatusLengthValidator counts them."""
    countable = _URL.sub("x" * url_length, text)
    countable = _MENTION.sub(r"@\1", countable)
    return graphemes(spoiler + countable)


def strict_length(text: str, spoiler: str = "") -> int:
    """Code points of everything, URLs in full: what the strictest servers count."""
    return len(spoiler) + len(text)


def hashtag(tag: str) -> str | None:
    """A tag as a hashtag without "#": "machine learning" → "MachineLearning", "C#" → "CSharp".

    None when nothing usable is left (a hashtag needs a letter).
    """
    words: list[str] = []
    for part in regex.split(r"([^\p{L}\p{M}\p{N}_])", tag):
        if not part:
            continue
        if _WORD.fullmatch(part):
            words.append(part)
        elif part in SYMBOLS:
            words.append(SYMBOLS[part])
    if not words:
        return None
    if len(words) == 1:
        text = words[0]
    else:
        text = words[0][:1].upper() + words[0][1:] + "".join(w[:1].upper() + w[1:] for w in words[1:])
    if not regex.search(r"\p{L}", text):
        return None
    return text


def short_url(url: str, limit: int = 30) -> str:
    """How a link is shown in a Bluesky text: no scheme, at most ``limit`` characters."""
    parts = urlsplit(url)
    text = parts.netloc + parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


@dataclass(frozen=True)
class Span:
    """A range of the final text in UTF-8 bytes, with what it points to."""

    start: int
    end: int
    kind: str  # "link" or "tag"
    value: str  # the URL, or the tag without "#"


@dataclass(frozen=True)
class Composed:
    """The text of a social post that fits, with the spans (links, hashtags) a facet-aware
    network needs, as byte offsets into the UTF-8 text."""

    text: str
    spans: tuple[Span, ...] = field(default_factory=tuple)


def _cut_words(text: str, words: int) -> str:
    parts = text.split()
    if words >= len(parts):
        return " ".join(parts)
    if words <= 0:
        return ""
    return " ".join(parts[:words]).rstrip(" ,;:.-–—") + ELLIPSIS


def compose(template: str, *, title: str, url: str, url_text: str, summary: str, tags: Sequence[str]) -> Composed:
    """Fill the template. Empty fields take the blank lines around them along."""
    tags_out = [h for h in (hashtag(t) for t in tags) if h]
    tags_out = list(dict.fromkeys(tags_out))
    pieces: list[tuple[str, str]] = []  # (kind, text): kind is "lit", "title", "url", "summary", "hashtags"
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        if literal:
            pieces.append(("lit", literal))
        if name is not None:
            value = {
                "title": title,
                "url": url_text,
                "summary": summary,
                "hashtags": " ".join(f"#{h}" for h in tags_out),
            }[name]
            if value:
                pieces.append((name, value))
    # merge literals, keep at most one blank line between fields, trim the ends
    merged: list[tuple[str, str]] = []
    for kind, text in pieces:
        if kind == "lit" and merged and merged[-1][0] == "lit":
            merged[-1] = ("lit", merged[-1][1] + text)
        else:
            merged.append((kind, text))
    cleaned = []
    for i, (kind, text) in enumerate(merged):
        if kind == "lit":
            text = re.sub(r"\n{3,}", "\n\n", _TRAILING_BLANKS.sub("\n", text))
            if i == 0:
                text = text.lstrip()
            if i == len(merged) - 1:
                text = text.rstrip()
            if not text:
                continue
        cleaned.append((kind, text))
    out = []
    spans: list[Span] = []
    offset = 0
    for kind, text in cleaned:
        if kind == "url":
            spans.append(Span(offset, offset + len(text.encode()), "link", url))
        elif kind == "hashtags":
            pos = offset
            for i, h in enumerate(tags_out):
                token = f"#{h}"
                start = pos
                spans.append(Span(start, start + len(token.encode()), "tag", h))
                pos = start + len(token.encode()) + (1 if i < len(tags_out) - 1 else 0)
        out.append(text)
        offset += len(text.encode())
    return Composed("".join(out), tuple(spans))


def fit(
    template: str,
    *,
    title: str,
    url: str,
    summary: str,
    tags: Sequence[str],
    limit: int,
    length: Callable[[str], int],
    url_text: str | None = None,
) -> Composed:
    """The fullest text from ``template`` whose ``length`` is at most ``limit``.

    First the summary is cut word by word (marked "…"), then hashtags are dropped from the
    end, then the title is cut; the link always stays whole. Raises FitError when even
    the template with only the link does not fit.
    """
    shown = url if url_text is None else url_text

    def make(t: str, s: str, tg: Sequence[str]) -> Composed:
        return compose(template, title=t, url=url, url_text=shown, summary=s, tags=tg)

    full = make(title, summary, tags)
    if length(full.text) <= limit:
        return full
    # 1. the summary, longest prefix of words that fits (binary search; length grows with words)
    words = summary.split()
    lo, hi = 0, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if length(make(title, _cut_words(summary, mid), tags).text) <= limit:
            lo = mid
        else:
            hi = mid - 1
    if lo > 0:
        return make(title, _cut_words(summary, lo), tags)
    # 2. no summary; drop hashtags from the end
    kept = list(tags)
    while kept:
        candidate = make(title, "", kept)
        if length(candidate.text) <= limit:
            return candidate
        kept.pop()
    # 3. no summary, no hashtags; cut the title
    title_words = title.split()
    for n in range(len(title_words), 0, -1):
        candidate = make(_cut_words(title, n), "", [])
        if length(candidate.text) <= limit:
            return candidate
    candidate = make("", "", [])
    if length(candidate.text) <= limit:
        return candidate
    raise FitError(f"the template with only the link is {length(candidate.text)} characters; the limit is {limit}")


# --- AT Protocol record keys -----------------------------------------------------------

_B32 = "234567abcdefghijklmnopqrstuvwxyz"


def tid(micros: int, clock_id: int) -> str:
    """A TID record key: 53-bit microseconds since the epoch and a 10-bit clock id, base32-sortable.

    Derived from values stored in the ledger, so every retry of one delivery uses the same
    key and ``getRecord`` can tell whether an earlier attempt already created the post.
    """
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_B32[value & 31])
        value >>= 5
    return "".join(reversed(chars))


BLUESKY_SELF_LABELS = {
    "porn": "porn",
    "sexual": "sexual",
    "nudity": "nudity",
    "nsfw": "sexual",
    "graphic-media": "graphic-media",
    "graphic media": "graphic-media",
    "gore": "graphic-media",
    "violence": "graphic-media",
}


def bluesky_label(content_warning: str) -> str | None:
    """The Bluesky self-label a content warning maps to, if one of the allowed values fits."""
    return BLUESKY_SELF_LABELS.get(content_warning.strip().lower())


def social_digest(post: Post, target: TargetSettings) -> str:
    """A digest of what a post gives a social target's text: title, summary, URL, tags, content
    warning, images (URL and alt text) and the post's own options for that target. When it
    changes, the status or record is out of date (an edit); an edit of the body alone, that
    leaves these as they were, is not. The target's template is not in it: changing the config
    does not edit every status ever sent. The images are those the target is sent (its
    ``images``, at most); a change of an image's bytes under the same URL is not seen."""
    images = post_images(
        post.content_html, post.url, post.image.url if post.image else None, post.image_alt, limit=target.images
    )
    parts = [
        post.title,
        post.summary,
        post.url,
        list(post.tags),
        post.content_warning or "",
        [[image.url, image.alt or ""] for image in images],
        [[k, v] for name, options in post.social if name == target.name for k, v in options],
    ]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:16]
