"""The values the core passes around: frozen, no I/O, all datetimes UTC-aware."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

FEED_FORMATS = ("rss", "atom", "json")
RENDERERS = ("cmark", "markdown")
RenderArgs = tuple[
    str, tuple[str, ...], int, bool, tuple[str, ...]
]  # see Settings.render_args  # [content] renderer: cmark-gfm (C) or Python-Markdown
# what [site] permalink may use (see core/permalinks.py for what each means)
PERMALINK_FIELDS = frozenset(
    {"slug", "name", "title", "filename", "path", "section", "sections", "categories", "category"}
    | {"year", "month", "day", "i_month", "i_day", "short_year", "y_day", "hour", "minute", "second"}
)
TEMPLATE_FIELDS = frozenset({"title", "url", "summary", "hashtags"})  # what a social template may use

MIME_TYPES: dict[str, str] = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}

# Media types by file suffix, our own table: the host's /etc/mime.types (what ``mimetypes``
# reads) must not decide a thumbnail's type, which enters a post's revision, nor what the feed
# server answers. The same file gives the same type on every machine.
MEDIA_TYPES: dict[str, str] = {
    ".avif": "image/avif",
    ".bmp": "image/bmp",
    ".gif": "image/gif",
    ".heic": "image/heic",
    ".ico": "image/x-icon",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".oga": "audio/ogg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".mp4": "video/mp4",
    ".ogv": "video/ogg",
    ".webm": "video/webm",
    ".pdf": "application/pdf",
    ".css": "text/css",
    ".js": "text/javascript",
    ".txt": "text/plain; charset=utf-8",
}


def media_type(path: str) -> str:
    """The media type of a file or URL path by its suffix (``MEDIA_TYPES``), else octet-stream."""
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return MEDIA_TYPES.get(name[dot:].lower(), "application/octet-stream") if dot > 0 else "application/octet-stream"


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """[site] in config/syndicate.toml."""

    title: str
    url: str  # absolute, always ends with "/"
    author: str
    timezone: str = "UTC"
    permalink: str = "/{slug}/"
    # [site.permalinks]: (folder under the content folder, pattern), for the posts in that folder
    # (the deepest folder that holds the post wins; a post's own URL key wins over all)
    permalinks: tuple[tuple[str, str], ...] = ()
    description: str = ""
    language: str = "en"
    email: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """[feeds] in config/syndicate.toml."""

    items: int = 20
    url: str = ""  # public URL of the output folder; "" means the site URL
    summary_length: int = 280
    tag_feeds: bool = True
    tag_title: str = "{site} – {tag}"
    rss: str = "feed.xml"
    atom: str = "atom.xml"
    json: str = "feed.json"
    tags_dir: str = "tags"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """[store] in config/syndicate.toml: the ledger in PostgreSQL instead of SQLite (no section: SQLite)."""

    url: str = ""  # postgresql://user@host:port/db, never with a password in it
    password_env: str = ""  # the environment variable holding the password ("": libpq's PGPASSWORD or ~/.pgpass)
    site: str = ""  # the name this site's rows carry in the database ("": the site's [site] url)
    lease: float = 30.0  # seconds a `syndicate run`'s hold on the site lasts unless renewed (renewed every third)


@dataclass(frozen=True, slots=True)
class OutputSettings:
    """[output] in config/syndicate.toml: where the build writes, and its two pages."""

    dir: str = "public"  # the output folder, relative to the site (or absolute); --out overrides
    index: str = "index.html"  # the page that lists every feed, in the output folder; "" = none
    opml: str = "feeds.opml"  # every feed in one OPML file; "" = none
    # Files another program wrote that syndicate may replace (the generator's own feeds, whose
    # subscribers keep their address): paths or fnmatch patterns in the output folder; with any,
    # feed items carry the ids the generator's feeds gave them.
    take_over: tuple[str, ...] = ()
    # A bucket the build is uploaded to (s3://bucket/prefix/), built first in a folder of .syndicate/;
    # the service's endpoint ("" = AWS) and region. Credentials come from the environment only.
    url: str = ""
    endpoint: str = ""
    region: str = ""
    feed_cache_control: str = "max-age=60, stale-while-revalidate=60"  # Cache-Control of feeds in the bucket
    page_cache_control: str = "max-age=300"  # ... and of the other files (index.html, feeds.opml)
    content_encoding: str = ""  # "gzip": objects stored compressed (Content-Encoding: gzip); "": left to the CDN
    # Live before told (deliver/live.py): nothing is sent until the feeds uploaded serve their new bytes
    # at their public URLs. None: on unless the feed URLs are the bucket's own (uploads.live_check).
    verify_live: bool | None = None
    verify_timeout: float = 300.0  # seconds of checking before the run gives up (nothing sent)
    verify_interval: float = 2.0  # the first wait between checks, doubled after each, at most 30 s
    verify_page: bool = False  # also wait until each post about to be sent answers 200 at its own URL
    purge_command: tuple[str, ...] = ()  # run before the check, the changed public URLs on stdin
    purge_timeout: float = 120.0  # seconds the purge command may take


@dataclass(frozen=True, slots=True)
class ContentSettings:
    """[content] in config/syndicate.toml."""

    dir: str = "content"
    media_url: str = ""  # base URL for bare thumbnail names; "" means the post's URL
    static: str = ""  # local folder published at the site's root (thumbnails are read from it)
    markdown_extensions: tuple[str, ...] = ("extra", "sane_lists", "smarty")
    renderer: str = "cmark"  # cmark-gfm, in C; or "markdown": Python-Markdown with its extensions
    sanitize: bool = True  # keep only what feed readers show (nh3); false passes the HTML as rendered
    embed_hosts: tuple[str, ...] = ("www.youtube.com", "www.youtube-nocookie.com", "player.vimeo.com")
    render_timeout: float = 5.0  # seconds one post's HTML may take before the post is rejected
    allow_links_to: tuple[str, ...] = ()  # folders outside the site that post files may link to
    fetch_allow: tuple[str, ...] = ()  # hosts on a private network that images may be fetched from
    generator: str = "syndicate"  # whose conventions the posts follow: core/dialects.py GENERATORS
    taxonomies: tuple[str, ...] = ()  # front-matter keys whose terms get feeds; () = the generator's
    sections: tuple[str, ...] = ()  # folders of the content folder that hold posts; () = all
    slug_source: str = ""  # where a post without a slug key gets {slug}: "title", "filename"; "" = the generator's
    filename_metadata: str = ""  # a regex with (?P<date>…) and/or (?P<slug>…) for file names (Pelican's)
    fields: tuple[tuple[str, str], ...] = ()  # (field, front-matter key): a field the site keeps under its own key
    site: tuple[tuple[str, str], ...] = ()  # (key, value): what Liquid's {{ site.<key> }} in a post stands for


# The fields [content] fields may map to a key of the site's own (core/posts.py reads them).
CONTENT_FIELDS = ("title", "date", "updated", "summary", "author", "image", "tags")


TargetKind = Literal["webhook", "mastodon", "bluesky", "discord", "telegram", "slack", "webmention"]
SECRET_KEYS: dict[str, str] = {
    "webhook": "secret_env",
    "mastodon": "token_env",
    "bluesky": "password_env",
    "discord": "url_env",  # the webhook URL holds its token
    "telegram": "token_env",
    "slack": "token_env",  # a slack target with url_env (an incoming webhook) has that one instead
    "webmention": "",  # no secret: a webmention is public
}
EVENTS = ("post.published", "post.updated", "post.deleted")
Links = tuple[tuple[str, str], ...]  # a post's syndication links: (target name, URL of its copy there)
SOCIAL_KINDS = frozenset({"mastodon", "bluesky", "discord", "telegram", "slack"})
# Kinds that give no idempotency key and cannot read their channel back: a send whose outcome
# was lost is held for the user's word (core/planning.py HELD), never repeated blindly.
BLIND_KINDS: frozenset[str] = frozenset({"discord", "telegram"})
# What a social target does when a post's text changes (the first is the default) or the post goes.
ON_EDIT: dict[str, tuple[str, ...]] = {
    "mastodon": ("update", "ignore"),
    "bluesky": ("ignore", "repost"),
    "discord": ("update", "ignore"),
    "telegram": ("update", "ignore"),
    "slack": ("update", "ignore"),
}
ON_DELETE = ("delete", "ignore")
# Standard Webhooks' retry schedule: the delay after the 1st, 2nd, … failed attempt.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_RETRY_DELAY = 30 * 24 * 3600  # seconds: no wait, asked for by config or by a server, is longer


@dataclass(frozen=True, slots=True)
class TargetSettings:
    """One [[targets]] entry. Secrets are named by environment variable, never stored."""

    name: str
    kind: TargetKind
    events: tuple[str, ...] = ("post.published",)
    url: str = ""  # webhook: where to POST
    secret_env: str = ""  # webhook: variable holding the whsec_… secret
    instance: str = ""  # mastodon: https://mastodon.example
    token_env: str = ""  # mastodon: variable holding the access token
    service: str = ""  # bluesky: the PDS, https://bsky.social
    handle: str = ""  # bluesky: the account
    password_env: str = ""  # bluesky: variable holding an app password
    template: str = ""  # social text; "" means the kind's default
    visibility: str = "public"  # mastodon
    max_characters: int = 0  # mastodon: 0 = ask the instance
    timeout: float = 10.0  # seconds per request
    on_edit: str = ""  # social: "update" (Mastodon) / "repost" (Bluesky) / "ignore"; "" = the kind's default
    on_delete: str = ""  # social: "delete" (default) or "ignore"
    images: int = 4  # social: how many images a post carries, 0 to 4 (the thumbnail first, then the body's)
    url_env: str = (
        ""  # discord: variable holding the webhook URL (its token is in it); slack: an incoming webhook's (send only)
    )
    chat: str = ""  # telegram: "@channelname" or a numeric chat id
    channel: str = ""  # slack: the channel's ID (C0123456789)
    api: str = ""  # telegram: the Bot API server (https://api.telegram.org); slack: the Web API (https://slack.com/api)

    @property
    def social(self) -> bool:
        return self.kind in SOCIAL_KINDS

    @property
    def blind(self) -> bool:
        """No idempotency key and no way to read the channel back (see BLIND_KINDS)."""
        return self.kind in BLIND_KINDS

    @property
    def secret_key(self) -> str:
        """The key that names this target's secret (``token_env``, ``url_env``, …; "" for none)."""
        return "url_env" if self.url_env else SECRET_KEYS[self.kind]

    @property
    def send_only(self) -> bool:
        """Can this target only send (an incoming webhook): no edit, no deletion, no looking back?"""
        return self.kind == "slack" and bool(self.url_env)

    @property
    def edits(self) -> str:
        """What an edit of a post's social text does here: update, repost or ignore."""
        if not self.social or self.send_only:
            return "ignore"
        return self.on_edit or ON_EDIT[self.kind][0]

    @property
    def deletes(self) -> bool:
        """Does a post that goes away take its status or record with it?"""
        return self.social and not self.send_only and (self.on_delete or ON_DELETE[0]) == "delete"


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """[delivery] in config/syndicate.toml."""

    max_attempts: int = 8
    retry_schedule: tuple[int, ...] = RETRY_SCHEDULE
    delete_after: int = 300  # seconds a post must stay gone before its copies are deleted (0: at once)
    max_retractions_percent: int = 10  # of the live posts, retracted in one run without --allow-deletions (at least 5)


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole config, frozen; made only by :func:`syndicate.config.parse_settings`, which has
    checked every key, so nothing later can fail on a setting."""

    site: SiteSettings
    feeds: FeedSettings = field(default_factory=FeedSettings)
    content: ContentSettings = field(default_factory=ContentSettings)
    hubs: tuple[str, ...] = ()
    targets: tuple[TargetSettings, ...] = ()
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    state_path: str = ".syndicate/state.db"
    output: OutputSettings = field(default_factory=OutputSettings)
    store: StoreSettings | None = None  # None: the SQLite ledger at state_path

    def target(self, name: str) -> TargetSettings | None:
        return next((t for t in self.targets if t.name == name), None)

    def missing_secrets(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Target name → why it cannot deliver: the environment variable holding its secret is not set."""
        out = {}
        for t in self.targets:
            key = t.secret_key
            if not key:
                continue
            name = getattr(t, key)
            if not environ.get(name):
                out[t.name] = f"environment variable {name} ({key}) is not set"
        return out

    @property
    def feeds_url(self) -> str:
        return self.feeds.url or self.site.url

    @property
    def render_args(self) -> RenderArgs:
        """What turns a post's Markdown into HTML besides the text and its URL, in the order
        ``core.markup.render_body`` takes them: renderer, extensions, summary length, sanitize,
        embed hosts."""
        c = self.content
        return (c.renderer, c.markdown_extensions, self.feeds.summary_length, c.sanitize, c.embed_hosts)

    def render_key(self, targets: bool = True) -> str:
        """A hash of every setting that changes how one post file is turned into a Post.

        Cached posts are reused only while this is unchanged. Without ``targets``: for a post that
        names no target (see ``Post.names_targets``) and for the feeds, which do not depend on them.
        """
        data = {
            "site": asdict(self.site),
            "content": asdict(self.content),
            "summary_length": self.feeds.summary_length,
        }
        if targets:
            data["targets"] = sorted(t.name for t in self.targets)  # posts warn about unknown target names
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Image:
    """A post's thumbnail: an absolute http(s) URL and its media type (from ``MEDIA_TYPES``)."""

    url: str
    mime_type: str
    length: int = 0  # bytes; 0 when unknown


class Content:
    """A post's HTML and plain-text summary, made on first use.

    A build renders only the posts some feed shows (with ``items = 20``, about half of a
    big site), so parsing a file keeps the recipe (``make``: a picklable callable returning
    ``(html, summary)``) and the first reader of :attr:`html` runs it. A summary written in
    the front matter is known at once and kept.
    """

    __slots__ = ("_given", "_html", "_make", "_summary", "failed")

    def __init__(
        self, make: Callable[[], tuple[str, str]] | None = None, *, html: str | None = None, summary: str | None = None
    ) -> None:
        self._make = make  # None and no HTML: known from the cache, its file not named yet (set_recipe)
        self._html = html
        self._summary = summary
        self._given = summary is not None
        self.failed: str | None = None  # why the HTML could not be made (too slow, too deep): the post is rejected

    @property
    def ready(self) -> bool:
        return self._html is not None

    @property
    def html(self) -> str:
        if self._html is None:
            self.fill(*self.recipe()())
        assert self._html is not None
        return self._html

    @property
    def summary(self) -> str:
        if self._summary is None:
            self.html  # noqa: B018 (the summary is made from the HTML)
        return self._summary or ""

    @property
    def given_summary(self) -> str | None:
        """The summary the front matter gave, if it did."""
        return self._summary if self._given else None

    def recipe(self) -> Callable[[], tuple[str, str]]:
        if self._make is None:
            raise RuntimeError("a cached post's content was read before its file was named (set_recipe)")
        return self._make

    @property
    def needs_recipe(self) -> bool:
        return self._html is None and self._make is None

    def set_recipe(self, make: Callable[[], tuple[str, str]]) -> None:
        if self._html is None:
            self._make = make

    def fill(self, html: str, summary: str) -> None:
        """Store what ``recipe()`` returned (maybe computed elsewhere, in a worker process)."""
        self._html = html
        if self._summary is None:
            self._summary = summary

    def fail(self, why: str) -> None:
        """The recipe could not be carried out (see :attr:`failed`); the HTML is empty."""
        self.failed = why
        self.fill("", "")

    def release(self) -> None:
        """Forget the HTML (and a summary made from it) if it can be made again: memory for a
        long-running process after a pass over many posts (the ledger's first snapshots)."""
        if self._make is not None and self._html is not None and self.failed is None:
            self._html = None
            if not self._given:
                self._summary = None

    def __getstate__(self) -> tuple[Any, ...]:
        return (self._make, self._html, self._summary, self._given, self.failed)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self._make, self._html, self._summary, self._given, self.failed = state


@dataclass(frozen=True)
class Post:
    """One post, ready to render. ``published``/``updated`` are UTC.

    ``revision`` is a hash of everything a reader sees, taken from the source (title,
    body, tags, …): it changes when the writer edits the post, not when the renderer or
    its settings change. Posts compare by their fields and revision, not by ``content``.
    """

    source: str  # path relative to the content folder, "/"-separated
    id: str  # permanent id: front-matter `id` (as a URI), else the permalink
    url: str  # absolute permalink
    slug: str
    title: str
    published: datetime
    updated: datetime
    tags: tuple[str, ...]
    revision: str
    content: Content = field(compare=False, repr=False)
    image: Image | None = None
    author: str | None = None
    lang: str | None = None
    draft: bool = False
    image_alt: str | None = None
    content_warning: str | None = None
    syndicate: tuple[str, ...] | None = None  # None: every target; (): none; else these names
    live_from: datetime | None = None  # Hugo's publishDate: not in feeds before it
    expires: datetime | None = None  # Hugo's expiryDate: out of the feeds from then on
    terms: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (taxonomy, its terms) for each taxonomy with any
    social: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # per target: its options (text, visibility)
    refs: tuple[str, ...] = ()  # the files its body links to with template code (core/templating.py)
    names_targets: bool = False  # its front matter names targets (syndicate:): it is read with the config's

    @property
    def content_html(self) -> str:
        return self.content.html

    @property
    def summary(self) -> str:
        return self.content.summary

    def goes_to(self, target: str) -> bool:
        if self.option(target, "send") == "no":
            return False
        return self.syndicate is None or target in self.syndicate

    def option(self, target: str, key: str) -> str | None:
        """The post's own option for one target (``syndicate: {masto: {text: …}}``), if it set one."""
        for name, options in self.social:
            if name == target:
                return next((v for k, v in options if k == key), None)
        return None

    @property
    def goes_live(self) -> datetime:
        """When the post enters the feeds: its date, or a later publishDate."""
        return self.published if self.live_from is None else max(self.published, self.live_from)

    def is_live(self, now: datetime) -> bool:
        """Published: not a draft, its date (or publishDate) reached, its expiry date not."""
        return not self.draft and self.goes_live <= now and (self.expires is None or now < self.expires)

    def is_scheduled(self, now: datetime) -> bool:
        """Not a draft, and due to go live after ``now``."""
        return not self.draft and self.goes_live > now and (self.expires is None or self.expires > self.goes_live)

    def is_expired(self, now: datetime) -> bool:
        return not self.draft and self.expires is not None and self.expires <= now

    def next_change(self, now: datetime) -> datetime | None:
        """The next moment after ``now`` at which :meth:`is_live` changes, if any."""
        if self.draft:
            return None
        later = [t for t in (self.goes_live, self.expires) if t is not None and t > now]
        return min(later, default=None)

    def taxonomy_terms(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(taxonomy, terms) pairs; a post made with tags only has them as the "tags" taxonomy."""
        if self.terms or not self.tags:
            return self.terms
        return (("tags", self.tags),)

    @property
    def id_is_permalink(self) -> bool:
        return self.id == self.url


# error: the file is rejected; warning: published, but something was left out or changed;
# note: how a value was found (a date from the file name), shown by `check`; skipped: not a
# post (a section index, a README, a page), listed once by `check`.
Severity = Literal["error", "warning", "note", "skipped"]


def printable(name: str) -> str:
    """A name (a file's, say) as it may be printed on one line: control characters, bidirectional
    overrides and bytes that were not UTF-8 (``os.fsdecode``'s surrogates) are escaped, so a name
    can never start a line of its own or colour the terminal: ``bad\\xff.md``, ``new\\nline.md``."""
    if name.isascii() and name.isprintable():
        return name
    out = []
    for ch in name:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Problem:
    """One line for the user about one file."""

    path: str
    message: str
    line: int | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        path = printable(self.path)
        where = f"{path}:{self.line}" if self.line else path
        return f"{where}: {self.severity}: {printable(self.message)}"


@dataclass(frozen=True, slots=True)
class FeedLinks:
    """Where one feed's three files live: paths under the output folder, and public URLs."""

    paths: dict[str, str]  # format -> relative path ("tags/ai/feed.xml")
    urls: dict[str, str]  # format -> absolute URL


@dataclass(frozen=True, slots=True)
class Feed:
    """One feed (the site's, or one tag's), in all three formats."""

    key: str  # "" for the site feed, else the tag slug
    title: str
    description: str
    home_url: str
    links: FeedLinks
    posts: tuple[Post, ...]
    updated: datetime
    tag: str | None = None
    hubs: tuple[str, ...] = ()
    taxonomy: str = "tags"  # the front-matter key the term comes from

    @property
    def name(self) -> str:
        """How listings name the feed: "All posts", the tag, or the term with its taxonomy."""
        if self.tag is None:
            return "All posts"
        return self.tag if self.taxonomy == "tags" else f"{self.tag} ({self.taxonomy})"
