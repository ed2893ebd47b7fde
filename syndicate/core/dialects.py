"""What each static site generator means by its files and front matter. Pure.

A blog written for Jekyll, Hugo, Zola, Eleventy, Astro or Pelican keeps its posts the way that
generator reads them: which files are posts, where a post's date and slug come from when the
front matter does not say, which keys are its tags and categories, how it makes a URL segment
from a title. ``[content] generator`` picks one :class:`Dialect`; everything here is a table
or a small function of a path or a string, so that :mod:`syndicate.core.posts` reads every
generator's post with one sequence of steps.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from .sources import HTML_SUFFIXES, MARKDOWN_SUFFIXES

GENERATORS = ("syndicate", "jekyll", "hugo", "zola", "eleventy", "astro", "pelican")


# -- slugs: each generator's own function ---------------------------------------------------------


def _spaces(text: str) -> str:
    return "-".join(unicodedata.normalize("NFC", text).split())


@lru_cache(maxsize=1 << 14)
def jekyll_slug(text: str, *, pretty: bool = False, cased: bool = False) -> str:
    """Jekyll's ``Utils.slugify``: runs of anything but letters and digits (``pretty``: and
    ``._~!$&'()+,;=@``) become one hyphen, none at either end; lower case unless ``cased``."""
    pattern = r"[^\w.~!$&'()+,;=@]+" if pretty else r"[\W_]+"
    slug = re.sub(pattern, "-", unicodedata.normalize("NFC", text)).strip("-")
    return slug if cased else slug.lower()


@lru_cache(maxsize=1 << 14)
def hugo_urlize(text: str) -> str:
    """Hugo's ``urlize`` (helpers/path.go ``UnicodeSanitize``, then lower case): letters, digits,
    marks and ``._~+#@-`` are kept, a run of spaces before a kept character becomes one hyphen,
    anything else is dropped."""
    out: list[str] = []
    was_space = False
    for ch in unicodedata.normalize("NFC", text):
        if ch.isalnum() or ch in "._~+#@-" or unicodedata.category(ch)[0] == "M":
            if was_space and out:
                out.append("-")
            was_space = False
            out.append(ch)
        elif ch.isspace():
            was_space = True
    return "".join(out).lower().strip("-")


def _ascii(text: str) -> str:
    """Text in ASCII letters, as unidecode (Pelican) and deunicode (Zola) spell it: each Han
    character a word of its own ("東京" → "Dong Jing ")."""
    if text.isascii():
        return text
    from anyascii import anyascii  # its tables load on the first non-ASCII title, not with every command

    return "".join(anyascii(ch) + (" " if "\u3400" <= ch <= "\u9fff" else "") for ch in text)


@lru_cache(maxsize=1 << 14)
def ascii_slug(text: str) -> str:
    """Zola's ``slugify`` (deunicode): transliterated to ASCII, lower case, runs of anything
    else one hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", _ascii(text).lower()).strip("-")


@lru_cache(maxsize=1 << 14)
def pelican_slug(text: str) -> str:
    """Pelican's ``slugify`` with its default substitutions: ASCII (unidecode), lower case,
    punctuation dropped (not replaced), runs of spaces and hyphens one hyphen."""
    value = re.sub(r"[^\w\s-]", "", _ascii(text).lower())
    return re.sub(r"[-\s]+", "-", value.strip())


@lru_cache(maxsize=1 << 14)
def github_slug(text: str) -> str:
    """github-slugger (Astro's ids): lower case, spaces to hyphens, punctuation dropped."""
    out = []
    for ch in unicodedata.normalize("NFC", text.lower()):
        if ch == " ":
            out.append("-")
        elif ch.isalnum() or ch in "-_" or unicodedata.category(ch) in ("Mn", "Mc"):
            out.append(ch)
    return "".join(out)


def keep_slug(text: str) -> str:
    """syndicate's own and Eleventy's: the name as written, spaces made hyphens."""
    return _spaces(text)


# -- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldKeys:
    """The front-matter keys a field is read from, first found wins (lower case: see frontmatter)."""

    date: tuple[str, ...] = ("date", "pubdate", "published", "publishdate")  # Astro pubDate; Hugo's fallbacks
    updated: tuple[str, ...] = ("updated", "lastmod", "last_modified_at", "modified", "updateddate")
    expiry: tuple[str, ...] = ("expirydate", "unpublishdate")
    summary: tuple[str, ...] = ("summary", "description", "excerpt")
    image: tuple[str, ...] = ("thumb", "image", "images", "heroimage", "cover", "featured_image", "feature_image")
    author: tuple[str, ...] = ("author", "authors", "by")
    publish: tuple[str, ...] = ("publishdate",)  # Hugo: not in the feeds before it


# syndicate's own keys, exactly those it always read: a plain syndicate site reads as it did.
OWN_KEYS = FieldKeys(("date",), ("updated",), (), ("summary", "description"), ("thumb", "image"), ("author",), ())


@dataclass(frozen=True, slots=True)
class Dialect:
    """One generator's conventions."""

    name: str
    taxonomies: tuple[str, ...]  # the front-matter keys that are feeds, by default
    permalink: str  # the [site] permalink a site of this generator has by default
    url_key: str | None  # the front-matter key that sets a post's own URL
    slugify: Callable[[str], str]  # a slug or title → a URL segment
    slug_from_title: bool = False  # no slug key: {slug} is the title's (Hugo, Pelican), not the file name's
    slug_verbatim: bool = False  # a slug key is used as written (Pelican, Astro), not slugified
    name_keeps_date: bool = False  # {name} keeps a YYYY-MM-DD- file name prefix (Eleventy, Hugo, Astro)
    filename_keeps_date: bool = False  # so does {filename} (Hugo's :filename; Eleventy's fileSlug drops it)
    slug_names_file: bool = True  # a slug key replaces the file name in {name} (not in Eleventy)
    split_words: bool = False  # a text list of terms is split on spaces (Jekyll), not commas
    lower_paths: bool = False  # the whole URL path is lower case (Hugo)
    naive_utc: bool = False  # a date without an offset is UTC (Eleventy, Zola, Astro), not the site's zone
    date_as_written: bool = False  # {year}… come from the date in its own offset (Hugo, Pelican)
    post_folders: tuple[str, ...] = ()  # posts live only in folders of these names (Jekyll's _posts)
    skip_folders: tuple[str, ...] = ()  # folders of posts that are not (yet) published
    pages_folder: str = ""  # a folder of pages, never posts (Pelican's pages/)
    collection_tags: tuple[str, ...] = ()  # tags that only put a post in a collection (Eleventy)
    own_keys: frozenset[str] = frozenset()  # its front-matter keys that syndicate does not use
    render_key: str | None = None  # a key that, false, means the generator writes no page (Zola's render)
    undated_is_page: bool = False  # a page without a date is no post: the generator's feeds list only dated ones
    bundle_resources: bool = False  # Markdown beside or under a folder's index.md is the bundle's resource (Hugo)
    suffixes: tuple[str, ...] = MARKDOWN_SUFFIXES  # the Markdown files it reads (Zola and Eleventy: .md only)
    # Other formats it publishes posts from (Hugo's .html and AsciiDoc, Pelican's reST): never read,
    # but listed by `check` as left out, so that no post goes missing without a word.
    other_formats: tuple[str, ...] = ()
    keys: FieldKeys = FieldKeys()
    # A blog adopted from a generator: keys in any case, the generators' draft and skip flags,
    # READMEs and section indexes skipped, output folders not walked. False for syndicate's own
    # dialect, whose sites read exactly as they did before generators were read.
    adopted: bool = True


_HUGO_KEYS = frozenset(
    [
        "aliases",
        "build",
        "cascade",
        "headless",
        "iscjklanguage",
        "keywords",
        "layout",
        "linktitle",
        "markup",
        "menus",
        "menu",
        "outputs",
        "params",
        "resources",
        "sitemap",
        "translationkey",
        "type",
        "weight",
        "toc",
        "math",
        "comments",
    ]
)
_JEKYLL_KEYS = frozenset(
    [
        "layout",
        "permalink",
        "published",
        "excerpt_separator",
        "render_with_liquid",
        "redirect_from",
        "redirect_to",
        "sitemap",
        "comments",
        "toc",
        "math",
        "share",
        "header",
    ]
)
_ELEVENTY_KEYS = frozenset(
    [
        "layout",
        "permalink",
        "eleventyexcludefromcollections",
        "eleventynavigation",
        "eleventycomputed",
        "eleventyimport",
        "eleventydataschema",
        "pagination",
        "templateengineoverride",
        "dynamicpermalink",
        "permalinkbypassoutputdir",
    ]
)
_ZOLA_KEYS = frozenset(
    ["path", "template", "weight", "aliases", "in_search_index", "render", "extra", "taxonomies", "authors"]
)
_PELICAN_KEYS = frozenset(["status", "save_as", "url", "template", "translation", "keywords", "series", "og_image"])
_ASTRO_KEYS = frozenset(["heroimage", "pubdate", "updateddate", "layout"])

DIALECTS: dict[str, Dialect] = {
    "syndicate": Dialect("syndicate", ("tags",), "/{slug}/", None, keep_slug, keys=OWN_KEYS, adopted=False),
    "jekyll": Dialect(
        "jekyll",
        ("tags", "categories"),
        "/{categories}/{year}/{month}/{day}/{title}.html",
        "permalink",
        jekyll_slug,
        split_words=True,
        post_folders=("_posts",),
        skip_folders=("_drafts",),
        own_keys=_JEKYLL_KEYS,
        suffixes=MARKDOWN_SUFFIXES + HTML_SUFFIXES,  # a post in _posts/ may be HTML, with front matter
        other_formats=(".textile",),
    ),
    "hugo": Dialect(
        "hugo",
        ("tags", "categories"),
        "/{path}/{name}/",
        "url",
        hugo_urlize,
        slug_from_title=True,
        name_keeps_date=True,
        filename_keeps_date=True,
        lower_paths=True,
        date_as_written=True,
        own_keys=_HUGO_KEYS,
        bundle_resources=True,
        suffixes=MARKDOWN_SUFFIXES + HTML_SUFFIXES,  # a content file may be HTML, with front matter
        other_formats=(".adoc", ".asciidoc", ".ad", ".org", ".pdc", ".pandoc", ".rst"),
    ),
    "zola": Dialect(
        "zola",
        ("tags", "categories"),
        "/{path}/{name}/",
        "path",
        ascii_slug,
        naive_utc=True,
        own_keys=_ZOLA_KEYS,
        render_key="render",
        undated_is_page=True,
        suffixes=(".md",),
    ),
    "eleventy": Dialect(
        "eleventy",
        ("tags",),
        "/{path}/{name}/",
        "permalink",
        keep_slug,
        name_keeps_date=True,
        slug_names_file=False,
        naive_utc=True,
        collection_tags=("post", "posts"),
        own_keys=_ELEVENTY_KEYS,
        suffixes=(".md",),
        other_formats=(".html", ".njk", ".liquid"),
    ),
    "astro": Dialect(
        "astro",
        ("tags",),
        "/blog/{path}/{name}/",
        None,
        github_slug,
        slug_verbatim=True,
        name_keeps_date=True,
        naive_utc=True,
        own_keys=_ASTRO_KEYS,
    ),
    "pelican": Dialect(
        "pelican",
        ("tags", "category"),
        "/{slug}.html",
        "url",
        pelican_slug,
        slug_from_title=True,
        slug_verbatim=True,
        date_as_written=True,
        pages_folder="pages",
        own_keys=_PELICAN_KEYS,
        other_formats=(".rst", ".html", ".htm"),
    ),
}


def dialect(name: str) -> Dialect:
    return DIALECTS[name]


# -- which files are posts ------------------------------------------------------------------------

# Folders that hold packages or a generator's output, never posts, anywhere; and (for a
# generator's site) its templates, assets and output at the top of the content folder.
NEVER_POSTS = frozenset({"node_modules", "_site", "__pycache__"})
NEVER_POSTS_AT_TOP = frozenset(
    {"public", "output", "dist", "resources", "vendor", "_layouts", "_includes", "_data", "_sass", "_config"}
    | {"layouts", "themes", "templates", "static", "assets", "archetypes", "config", "_plugins"}
)
README_NAMES = frozenset({"readme", "license", "licence", "changelog", "contributing", "code_of_conduct", "security"})


def skip_reason(d: Dialect, sections: tuple[str, ...], rel: str, bundles: frozenset[str] = frozenset()) -> str | None:
    """Why the Markdown file at ``rel`` (relative to the content folder) is not a post, or None.
    ``bundles``: the folders that hold an ``index`` file (:func:`bundle_folders`)."""
    if not d.adopted and not sections:
        return None  # syndicate's own sites: every Markdown file is a post, as ever
    parts = rel.split("/")
    folders, name = parts[:-1], parts[-1]
    stem = name.rsplit(".", 1)[0]
    if not d.adopted:
        return _outside(sections, folders)  # syndicate's own sites: every Markdown file is a post, as ever
    if d.bundle_resources and bundles:
        inner = stem != "index"  # a bundle's own index.md is its page; an index.md deeper in is a resource
        for depth in range(len(folders), 0, -1):
            folder = "/".join(folders[:depth])
            if folder in bundles and (inner or depth < len(folders)):
                return f"a resource of the page bundle {folder}/ (beside its index.md), not a post"
    if stem.lower() in README_NAMES:
        return "a project file (README, licence, changelog, code of conduct…), not a post"
    if stem == "_index":
        return "a section's index page (_index), not a post"
    if stem == "index" and (not folders or (len(folders) == 1 and folders[0] in sections)):
        return "the index page of a listing, not a post"  # a folder post (x/index.md) is no listing
    for folder in folders:
        if folder in d.skip_folders:
            return f"an unpublished draft (in {folder}/)"
    if d.post_folders and not any(f in d.post_folders for f in folders):
        return f"not in a {' or '.join(f + '/' for f in d.post_folders)} folder: a page, not a post"
    if d.post_folders and not _NAME_DATE.match(name):
        folder = d.post_folders[0]
        return f"{d.name.capitalize()} reads only YYYY-MM-DD-title files in {folder}/: rename it to publish it"
    if d.pages_folder and folders[:1] == [d.pages_folder]:
        return f"a page (in {d.pages_folder}/), not an article"
    return _outside(sections, folders)


def bundle_folders(rels: Iterable[str]) -> frozenset[str]:
    """The folders (relative to the content folder) that hold an ``index`` Markdown file: Hugo's
    leaf bundles, whose other files are the page's resources."""
    return frozenset(rel.rsplit("/", 1)[0] for rel in rels if "/" in rel and file_stem(rel) == "index")


def file_stem(rel: str) -> str:
    return rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _outside(sections: tuple[str, ...], folders: list[str]) -> str | None:
    if sections and (not folders or folders[0] not in sections):
        where = " or ".join(s + "/" for s in sections)
        return f"outside the post folders ({where}; [content] sections)"
    return None


def prune_folder(d: Dialect, name: str, top: bool) -> bool:
    """Is this folder (``top``: at the top of the content folder) never looked into for posts?"""
    if name.startswith("."):
        return True
    return d.adopted and (name in NEVER_POSTS or (top and name in NEVER_POSTS_AT_TOP))


# -- dates, slugs and folders from a post's path ----------------------------------------------------

_NAME_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:-|_|$)")
_STRICT_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}-")  # syndicate's own rule, before dialects: URLs stay
_PATH_DATE = re.compile(r"(?:^|/)(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:/|-|_|$)")


def date_in_path(rel: str) -> tuple[int, int, int] | None:
    """A ``YYYY-MM-DD`` at the start of the file name, or ``YYYY/MM/DD`` (or ``YYYY-MM-DD``) in its
    folders: (year, month, day), or None."""
    name = rel.rsplit("/", 1)[-1]
    m = _NAME_DATE.match(name) or _PATH_DATE.search(rel)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def file_name(rel: str, strict: bool = False, keep_date: bool = False) -> str:
    """The name a generator gives a post from its file: the stem without a date prefix (unless
    ``keep_date``), or the folder's name for a bundle (``slug/index.md``). ``strict``: only
    ``YYYY-MM-DD-`` is a prefix, and ``index`` is a name like any other (syndicate's own rule)."""
    parts = rel.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    if stem == "index" and len(parts) > 1 and not strict:
        stem = parts[-2]
    if keep_date:
        return stem
    return (_STRICT_DATE if strict else _NAME_DATE).sub("", stem) or stem


def folder_path(rel: str, d: Dialect) -> tuple[str, ...]:
    """The folders of a post's URL: those it sits in under the content folder, without a bundle's
    own folder and (Jekyll) without the _posts folders."""
    parts = rel.split("/")[:-1]
    if rel.rsplit("/", 1)[-1].rsplit(".", 1)[0] == "index" and parts:
        parts = parts[:-1]
    return tuple(p for p in parts if p not in d.post_folders)


def is_bundle(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) > 1 and parts[-1].rsplit(".", 1)[0] == "index"
