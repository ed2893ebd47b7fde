"""What adoption reads and what it learns: :class:`SiteFiles` in, :class:`Adopted` out, each
setting a :class:`Value` with where it came from; and what every generator writes by default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..config import STAND_IN, STAND_IN_URL
from ..core.dialects import GENERATORS

NAMES = dict(zip(GENERATORS, ("syndicate", "Jekyll", "Hugo", "Zola", "Eleventy", "Astro", "Pelican"), strict=True))


EXAMPLE_URL = STAND_IN_URL  # what init writes where it found nothing: `check` fails on these
UNKNOWN_AUTHOR = STAND_IN


MAX_CONFIG_BYTES = 1024 * 1024


MAX_FILES = 100_000  # files listed under a site; past that, counts are of the first ones found


@dataclass(frozen=True)
class Value:
    """One setting: its value and where it came from (``"hugo.toml: title"``, ``"Hugo's
    default"``); ``check`` marks a stand-in, and then ``source`` says what to do."""

    value: str | tuple[str, ...]
    source: str
    check: bool = False


@dataclass(frozen=True)
class Adopted:
    """What ``syndicate init`` learned about a site: everything ``config/syndicate.toml`` needs."""

    generator: str  # one of GENERATORS
    evidence: str  # the file that decided, relative to the site ("" when no generator was found)
    title: Value
    url: Value
    author: Value
    timezone: Value
    language: Value
    permalink: Value
    dir: Value
    taxonomies: Value
    sections: Value
    description: Value | None = None
    email: Value | None = None
    slug_source: Value | None = None  # Pelican's SLUGIFY_SOURCE
    filename_metadata: Value | None = None  # Pelican's FILENAME_METADATA
    permalinks: tuple[tuple[str, Value], ...] = ()  # [site.permalinks]: a folder's own pattern, by folder
    checks: tuple[str, ...] = ()  # what to look at before the first build (printed as "check: …")
    warnings: tuple[str, ...] = ()  # what could not be carried over (printed as "warning: …")
    output_dir: Value | None = None  # [output] and [feeds] names that collide with nothing the generator writes
    output_index: Value | None = None
    output_opml: Value | None = None
    feeds_rss: Value | None = None
    feeds_atom: Value | None = None
    feeds_json: Value | None = None
    deploy: str = ""  # how syndicate's files join the generator's deploy (a comment and a line of the report)
    publish_dir: str = ""  # the generator's output folder, relative to the site ("" for a plain site)
    site_values: tuple[tuple[str, Value], ...] = ()  # [content] site: {{ site.<key> }} in posts, by key


# Each generator's output folder and the feed files it writes at its top, by default: syndicate's
# feeds of an adopted site take other names, so `syndicate build --out <that folder>` adds files
# beside the generator's and never meets one (and its feed page goes in feeds/, not over the home page).
GENERATOR_OUTPUT: dict[str, tuple[str, frozenset[str]]] = {
    "hugo": ("public", frozenset({"index.xml", "sitemap.xml"})),
    "jekyll": ("_site", frozenset({"feed.xml", "sitemap.xml"})),  # jekyll-feed: feed.xml (Atom)
    "zola": ("public", frozenset({"atom.xml", "rss.xml", "sitemap.xml"})),
    "eleventy": ("_site", frozenset({"feed.xml", "sitemap.xml"})),  # eleventy-plugin-rss's usual name
    "astro": ("dist", frozenset({"rss.xml", "sitemap-index.xml"})),  # @astrojs/rss's usual name
    "pelican": ("output", frozenset()),  # Pelican's feeds live in feeds/*.atom.xml
}


FEED_NAME_CHOICES = {  # syndicate's name for each format, the first one no generator file takes
    "rss": ("feed.xml", "rss.xml", "feed.rss.xml", "syndicate.rss.xml"),
    "atom": ("atom.xml", "feed.atom.xml", "syndicate.atom.xml"),
    "json": ("feed.json", "syndicate.json"),
}


@dataclass(frozen=True)
class SiteFiles:
    """What the shell read, all :func:`adopt` needs: the texts of the config files that exist (by
    path relative to the site, posix), and the site's files (without build output, dependencies
    and hidden folders)."""

    generator: str
    evidence: str
    texts: Mapping[str, str]
    files: tuple[str, ...] = ()
    name: str = "my site"  # the site folder's name: the title when the config names none
    shown_prefix: str = ""  # put before a path in an error ("" when the site is the current folder)
    truncated: bool = False  # over MAX_FILES files: counts are of the first ones
    # The names of the files in the generator's output folder as it is now (when it was built here):
    # syndicate's feeds take none of them.
    built: frozenset[str] = frozenset()
    # Posts and templates init looks into (an Eleventy layout's permalink, a feed template's name),
    # read like the config files but leniently: one that cannot be read is not here.
    pages: Mapping[str, str] = field(default_factory=dict)
