"""The URLs and the set of posts a generator really publishes, read from its config by `syndicate
init` and applied by `syndicate build` (issue 20, point 2).

Each test writes a small site shaped like a real one into tmp_path, has the generator itself build
it where it runs here (Jekyll, Hugo, Eleventy) and tell which posts it published and where (a
listing page made by the generator's own templates), then runs the real `syndicate init` and
`syndicate build` on the same files and compares the site feed's item links with that list.
Zola does not run here: its cases carry the URLs Zola's documented rules give, with the rule.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from syndicate.adopt import SiteFiles, adopt, wanted_files
from syndicate.adopt.readers import parse_yaml
from syndicate.config import parse_settings
from syndicate.core.permalinks import pattern_for
from syndicate.errors import ConfigError
from tests.conftest import REPO, Site
from tests.test_generators import NODE_MINIMUM, node_for, unavailable

SITES = REPO / "tests" / "data" / "sites"


def write(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def scrubbed(work: Path) -> dict[str, str]:
    """An environment no variable of the machine's can change a build in."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "TMPDIR": str(work), "TZ": "UTC"}


def config_of(root: Path) -> dict[str, dict[str, object]]:
    return tomllib.loads((root / "config" / "syndicate.toml").read_text(encoding="utf-8"))


def syndicated(root: Path, tmp_path: Path) -> tuple[list[str], str]:
    """`syndicate init` then `syndicate build` on the site at ``root``: the site feed's item
    links as URL paths (percent-decoded; every item, in feed order), and what init printed."""
    site = Site(root)
    init = site.run("init", "--site", str(root))
    assert init.code == 0, init.out + init.err
    out = tmp_path / "syndicated"
    build = site.run("build", "--site", str(root), "--out", str(out))
    assert build.code == 0, build.out + build.err
    items = json.loads((out / "feed.json").read_text(encoding="utf-8"))["items"]
    return [unquote(urlsplit(item["url"]).path) for item in items], init.out + init.err


# -- Jekyll ---------------------------------------------------------------------------------------

# A page that lists the URL of every post Jekyll published, one a line.
JEKYLL_LISTING = "---\n---\n{% for p in site.posts %}{{ p.url }}\n{% endfor %}"


JEKYLL_FLAGS = ("--disable-disk-cache", "--strict_front_matter", "--quiet")


def jekyll_posts(root: Path, tmp_path: Path) -> set[str]:
    """The URL of every post Jekyll publishes for the site at ``root`` (built from a copy)."""
    if shutil.which("jekyll") is None:
        unavailable("jekyll is not installed (scripts/test: apt-get install --no-install-recommends jekyll)")
    work = tmp_path / "jekyll"
    shutil.copytree(root, work / "site")
    (work / "site" / "listed-posts.txt").write_text(JEKYLL_LISTING, encoding="utf-8")
    result = subprocess.run(
        ["jekyll", "build", "--source", str(work / "site"), "--destination", str(work / "out"), *JEKYLL_FLAGS],
        capture_output=True,
        text=True,
        timeout=300,
        env={**scrubbed(work), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "JEKYLL_ENV": "production"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = (work / "out" / "listed-posts.txt").read_text(encoding="utf-8").split("\n")
    return {unquote(line) for line in listed if line}


JEKYLL_SITE = {
    "_config.yml": """
        title: Release notes
        url: https://jekyll.example.org
        author: Ada
        timezone: UTC
        permalink: /:categories/:year/:month/:day/:title.html
        collections:
          docs:
            output: true
            permalink: /:collection/:path/
          posts:
            permalink: /news/:year/:month/:day/:title/
        defaults:
          - scope:
              path: ""
              type: docs
            values:
              permalink: /docs/:title/
          - scope:
              path: "_posts/releases"
              type: posts
            values:
              permalink: /release/:year/:title/
          - scope:
              path: "_posts/releases"
            values:
              permalink: /untyped-loses/:title/
          - scope:
              path: "_posts/releases/old"
            values:
              layout: post
          - scope:
              path: "blog"
            values:
              permalink: /b/:categories/:title/
          - scope:
              path: "_posts/talks/2019"
            values:
              permalink: /talks/:year/:month/:title/
        """,
    "_posts/news/2020-05-08-jekyll-4-1-0-released.md": "---\ntitle: Jekyll 4.1.0\n---\nx\n",
    "_posts/2022-03-04-top-level.md": "---\ntitle: Top\ncategories: [meta]\n---\nx\n",
    "_posts/releases/2021-01-02-v4-2.md": "---\ntitle: v4.2\ncategories: release\n---\nx\n",
    "_posts/releases/old/2019-01-02-v3.md": "---\ntitle: v3\n---\nx\n",
    "_posts/releases/2021-02-02-own.md": "---\ntitle: Own\npermalink: /own/:title/\n---\nx\n",
    "_posts/talks/2019/2019-06-01-a-talk.md": "---\ntitle: A talk\n---\nx\n",
    "_posts/talks/2020-06-01-another-talk.md": "---\ntitle: Another\n---\nx\n",
    "blog/_posts/2023-03-04-Folder-Category.md": "---\ntitle: B\ncategories: [Extra Words]\n---\nx\n",
    "_docs/history.md": "---\ntitle: History\n---\nnot a post\n",
    "index.md": "---\ntitle: Home\n---\nhome\n",
}


def test_jekyll_collection_and_scoped_default_permalinks_give_the_urls_jekyll_writes(tmp_path: Path) -> None:
    """Issue 20: `collections: posts: permalink:` and the front-matter `defaults` whose scope holds
    a post were ignored (on Jekyll's own site every link was /release/… where Jekyll writes
    /news/…). Now the collection's pattern is [site] permalink, a scoped default is
    [site.permalinks] for its folder (the deepest wins; at equal depth the one typed `posts`),
    and a post's own permalink wins over both."""
    root = tmp_path / "site"
    write(root, JEKYLL_SITE)
    published = jekyll_posts(root, tmp_path)
    assert "/news/2020/05/08/jekyll-4-1-0-released/" in published  # the collection's pattern
    assert "/release/2021/v4-2/" in published  # the scoped default typed posts
    links, said = syndicated(root, tmp_path)
    assert len(links) == len(set(links)) == 8
    assert set(links) == published
    assert "[site.permalinks]" in (root / "config" / "syndicate.toml").read_text(encoding="utf-8")
    assert "permalink _posts/releases/" in said


JEKYLL_SITE_VALUES = {
    "_config.yml": "title: J\nurl: https://jekyll.example.org\nauthor: A\ntimezone: UTC\n"
    "repository: https://github.com/o/r\nnested:\n  repository_url: https://github.com/o/r\n",
    "_layouts/post.html": "<main>{{ content }}</main>\n",
    "_posts/2024-01-02-a.md": (
        "---\ntitle: A\nlayout: post\n---\nFixed in [#9156]({{ site.repository }}/issues/9156)"
        " and [the wiki]({{ site.nested.repository_url }}/wiki).\n\n```\n{{ site.in_code }}\n```\n"
    ),
}


def test_a_jekyll_site_value_the_posts_use_is_written_and_gives_the_link_jekyll_makes(tmp_path: Path) -> None:
    """Issue 20 (jekyllrb.com): `{{ site.repository }}/issues/9156` became
    https://jekyllrb.com/issues/9156 where Jekyll links https://github.com/jekyll/jekyll/issues/9156.
    init writes the top-level text values of _config.yml the posts use into [content] site; a
    value it cannot know leaves the link out, its text kept, with a warning."""
    root = tmp_path / "site"
    write(root, JEKYLL_SITE_VALUES)
    jekyll_posts(root, tmp_path)
    theirs = (tmp_path / "jekyll" / "out" / "2024" / "01" / "02" / "a.html").read_text(encoding="utf-8")
    assert 'href="https://github.com/o/r/issues/9156"' in theirs
    links, said = syndicated(root, tmp_path)
    assert links == ["/2024/01/02/a.html"]
    assert config_of(root)["content"]["site"] == {"repository": "https://github.com/o/r"}
    assert "site.nested" in said and "site.in_code" not in said
    item = json.loads((tmp_path / "syndicated" / "feed.json").read_text(encoding="utf-8"))["items"][0]
    assert 'href="https://github.com/o/r/issues/9156"' in item["content_html"]
    assert "the wiki" in item["content_html"] and "/wiki" not in item["content_html"]


# -- [site.permalinks] ----------------------------------------------------------------------------

BASE = '[site]\ntitle = "T"\nurl = "https://example.org/"\nauthor = "A"\n'


def test_site_permalinks_are_read_by_folder_and_checked_as_the_permalink_is() -> None:
    settings = parse_settings(
        BASE + '[site.permalinks]\n"./notes/" = "/n/{slug}/"\n"notes/deep" = "/d/{year}/{slug}/"\n'
    )
    assert settings.site.permalinks == (("notes", "/n/{slug}/"), ("notes/deep", "/d/{year}/{slug}/"))
    pick = settings.site.permalink, settings.site.permalinks
    assert pattern_for("notes/deep/x.md", *pick) == "/d/{year}/{slug}/"  # the deepest folder wins
    assert pattern_for("notes/x.md", *pick) == "/n/{slug}/"
    assert pattern_for("notesx/y.md", *pick) == pattern_for("x.md", *pick) == "/{slug}/"  # folders, not prefixes


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ("permalinks = []", "[site.permalinks] must be a table of folder = pattern"),
        ('[site.permalinks]\n"../up" = "/{slug}/"', "[site.permalinks] '../up' must be a folder under the content"),
        ('[site.permalinks]\n"/abs" = "/{slug}/"', "[site.permalinks] '/abs' must be a folder under the content"),
        ("[site.permalinks]\nnotes = 3", "[site.permalinks] 'notes' must be a pattern (a string), not 3"),
        ('[site.permalinks]\nnotes = "/n/"', "[site.permalinks] 'notes' '/n/' must contain {slug}"),
        ('[site.permalinks]\nnotes = "/{week}/{slug}/"', "[site.permalinks] 'notes' uses week; available:"),
        ('[site.permalinks]\nnotes = "/{slug}/"\n"notes/" = "/x/{slug}/"', "names the folder 'notes' twice"),
    ],
)
def test_a_bad_site_permalinks_entry_is_one_config_line(table: str, said: str) -> None:
    text = BASE + table if table.startswith("[") else BASE.replace("[site]\n", f"[site]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        parse_settings(text)
    assert said in caught.value.message


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ('site = "x"', "[content] site must be a table, like site = { repository"),
        ('site = { "a b" = "x" }', "[content] site: 'a b' is not a plain key like repository"),
        ('site = { url = "https://x/" }', "[content] site: 'url' comes from [site] url"),
        (
            "site = { repository = 3 }",
            "[content] site: repository must be a line of text (what {{ site.repository }} is)",
        ),
        ('site = { repository = "a\\nb" }', "[content] site: repository must be a line of text"),
    ],
)
def test_content_site_values_are_checked(table: str, said: str) -> None:
    """[content] site = { repository = "…" }: plain keys, each a line of text; url and baseurl
    come from [site] url."""
    assert parse_settings(BASE + '[content]\nsite = { repository = "https://github.com/o/r" }\n').content.site == (
        ("repository", "https://github.com/o/r"),
    )
    with pytest.raises(ConfigError) as caught:
        parse_settings(BASE + "[content]\n" + table + "\n")
    assert said in caught.value.message


# -- Zola -----------------------------------------------------------------------------------------

ZOLA_SITE = {
    "config.toml": 'base_url = "https://zola.example.org"\ntitle = "Z"\nauthor = "Mika"\n',
    "content/_index.md": '+++\ntitle = "Home"\nsort_by = "date"\n+++\n',
    "content/2020-01-01-root-post.md": '+++\ntitle = "A post of the root section"\n+++\nx\n',
    "content/root-dated.md": '+++\ntitle = "Another"\ndate = 2020-02-01\n+++\nx\n',
    "content/about.md": '+++\ntitle = "About"\n+++\nno date: a page\n',
    "content/unrendered.md": '+++\ntitle = "Hidden"\ndate = 2020-03-01\nrender = false\n+++\nx\n',
    "content/blog/_index.md": '+++\ntitle = "Blog"\nsort_by = "date"\n+++\n',
    "content/blog/first.md": '+++\ntitle = "First"\ndate = 2021-01-01\n+++\nx\n',
    "content/blog/2021/_index.md": '+++\ntitle = "2021"\ntransparent = true\n+++\n',
    "content/blog/2021/nested.md": '+++\ntitle = "Nested"\ndate = 2021-05-01\n+++\nx\n',
    "content/archive/_index.md": '+++\ntitle = "Archive"\nrender = false\n+++\n',
    "content/archive/old.md": '+++\ntitle = "Old"\ndate = 2019-01-01\n+++\nx\n',
    "content/notes/orphan.md": '+++\ntitle = "Orphan"\ndate = 2022-01-01\n+++\nno _index.md here\n',
    "content/blog/draft.md": '+++\ntitle = "Draft"\ndate = 2021-02-01\ndraft = true\n+++\nx\n',
}
# What Zola (0.19-0.22) publishes for ZOLA_SITE, from its documented rules and its code
# (components/site/src/lib.rs render_sections, render_orphan_pages, render_page; feeds.rs):
ZOLA_PUBLISHED = {
    "/root-post/",  # a page of the root section (content/_index.md); the file name's date is its date
    "/root-dated/",
    "/blog/first/",
    "/blog/2021/nested/",  # a nested, transparent section: its pages keep their own path
    "/archive/old/",  # a section with render = false: its pages are still rendered
    "/notes/orphan/",  # a folder without _index.md: an orphan page, rendered
}
# Not posts: content/about.md (rendered, but no date: Zola's feeds list only dated pages),
# content/unrendered.md (render = false: no page), content/blog/draft.md (a draft).


def test_zola_posts_are_every_dated_page_zola_renders(tmp_path: Path) -> None:
    """Issue 20: init wrote sections = the folders with an _index.md, so the root section's own
    pages and orphan pages were skipped as "not posts" (a real blog lost 387 of 750). Now every
    page Zola renders with a date is a post; an undated page and a page with render = false are
    skipped, each listed by check with why."""
    root = tmp_path / "site"
    write(root, ZOLA_SITE)
    links, _ = syndicated(root, tmp_path)
    assert len(links) == len(set(links))
    assert set(links) == ZOLA_PUBLISHED
    assert config_of(root)["content"]["sections"] == []
    check = Site(root).run("check", "--site", str(root))
    assert check.code == 0, check.out + check.err
    assert "  content/about.md: a page without a date (Zola's feeds list only dated pages), not a post" in check.err
    assert "  content/unrendered.md: render = false: Zola writes no page for it" in check.err


# -- Hugo -----------------------------------------------------------------------------------------

# The home page lists the URL of every regular page of the default language, one a line.
HUGO_LISTING = "{{ range .Site.RegularPages }}{{ .RelPermalink }}\n{{ end }}"


def hugo_flags(work: Path) -> tuple[str, ...]:
    return ("--cacheDir", str(work / "cache"), "--noBuildLock", "--quiet")


def hugo_pages(root: Path, tmp_path: Path) -> set[str]:
    """The URL of every regular page Hugo publishes in the default language for the site at
    ``root`` (built from a copy, as tests/data/sites/hugo/build.sh does)."""
    if shutil.which("hugo") is None:
        unavailable("hugo is not installed (scripts/test: apt-get install --no-install-recommends hugo)")
    work = tmp_path / "hugo"
    shutil.copytree(root, work / "site")
    (work / "site" / "layouts").mkdir(exist_ok=True)
    (work / "site" / "layouts" / "index.html").write_text(HUGO_LISTING, encoding="utf-8")
    result = subprocess.run(
        ["hugo", "--source", str(work / "site"), "--destination", str(work / "public"), *hugo_flags(work)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**scrubbed(work), "LANG": "C.UTF-8"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = (work / "public" / "index.html").read_text(encoding="utf-8").split("\n")
    return {unquote(line) for line in listed if line}


HUGO_LANGUAGES = {
    "hugo.yaml": """
        baseURL: https://hugo.example.org/
        title: Zweisprachig
        params: &shared
          author: Jana
          mainSections: [posts]
        defaultContentLanguage: en
        languages:
          en:
            contentDir: content/en
            weight: 1
            params:
              <<: *shared
              description: In English
          de:
            contentDir: content/de
            weight: 2
            params: *shared
        permalinks:
          posts: /:year/:month/:day/:slug/
        """,
    "content/en/posts/first.md": "---\ntitle: One\ndate: 2026-08-11\nslug: same\n---\nx\n",
    "content/en/posts/second.md": "---\ntitle: Two\ndate: 2026-08-12\nslug: same\n---\nx\n",
    "content/en/posts/bundle/index.md": "---\ntitle: A bundle\ndate: 2026-08-13\n---\nx\n",
    "content/en/posts/bundle/extra.md": "---\ntitle: A resource\ndate: 2026-08-13\n---\nnot a page\n",
    "content/en/posts/bundle/notes/deeper.md": "---\ntitle: Deeper\ndate: 2026-08-13\n---\nnot a page\n",
    "content/de/posts/eins.md": "---\ntitle: Eins\ndate: 2026-08-14\n---\nx\n",
}


def test_hugo_language_folders_yaml_aliases_bundles_and_one_slug_twice(tmp_path: Path) -> None:
    """Issue 20: a hugo.yaml with an anchor and aliases stopped init; `[languages.en] contentDir`
    was not read (every post outside the content folder syndicate looked in); a Markdown file
    beside a bundle's index.md was a post (Hugo: a resource of the page); two posts with one slug
    at different dated URLs are both published, as Hugo does."""
    root = tmp_path / "site"
    write(root, HUGO_LANGUAGES)
    published = hugo_pages(root, tmp_path)
    assert published == {"/2026/08/11/same/", "/2026/08/12/same/", "/2026/08/13/a-bundle/"}
    links, said = syndicated(root, tmp_path)
    assert len(links) == len(set(links))
    assert set(links) == published
    assert config_of(root)["content"]["dir"] == "content/en"
    assert "Hugo also publishes de (content/de) under /<language>/" in said
    check = Site(root).run("check", "--site", str(root))
    assert "  content/en/posts/bundle/extra.md: a resource of the page bundle posts/bundle/" in check.err


HUGO_MOUNTS = {
    "hugo.toml": """
        baseURL = 'https://hugo.example.org/'
        title = 'Mounted'
        uglyURLs = true
        [params]
        author = 'Jana'
        mainSections = ['posts', 'notes']
        [permalinks]
        posts = '/:year/:month/:day/:slug/'
        notes = '/n/:slug/'
        [[module.mounts]]
        source = 'content/en'
        target = 'content'
        [[module.mounts]]
        source = 'static'
        target = 'static'
        """,
    "content/en/posts/x.md": "---\ntitle: One\ndate: 2026-08-11\n---\nx\n",
    "content/en/posts/y.md": "---\ntitle: Two Words\ndate: 2026-08-13\n---\nx\n",
    "content/en/notes/n.md": "---\ntitle: Note\ndate: 2026-08-12\n---\nx\n",
    "content/en/notes/m.md": "---\ntitle: Three\ndate: 2026-08-14\nslug: s3\n---\nx\n",
    "static/robots.txt": "",
}


def test_hugo_module_mounts_ugly_urls_and_a_permalink_per_section(tmp_path: Path) -> None:
    """Issue 20: a module mount of content/en onto content gave links a stray /en/; with
    uglyURLs a pattern's trailing slash is .html (/2026/08/11/one.html); each section's own
    [permalinks] pattern applies to its posts ([site.permalinks]), not the main one to all."""
    root = tmp_path / "site"
    write(root, HUGO_MOUNTS)
    published = hugo_pages(root, tmp_path)
    assert "/2026/08/11/one.html" in published and "/n/s3.html" in published
    links, _ = syndicated(root, tmp_path)
    assert len(links) == len(set(links)) == 4
    assert set(links) == published
    config = config_of(root)
    assert config["content"]["dir"] == "content/en"
    assert config["site"]["permalinks"] == {"notes": "/n/{slug}.html"}


HUGO_CONFIG_FOLDER = {
    "config/_default/hugo.toml": (
        "baseURL = 'https://hugo.example.org/'\ntitle = 'Root title'\ndefaultContentLanguage = 'en'\n"
    ),
    "config/_default/languages.en.toml": "title = 'In English'\ncontentDir = 'content/en'\nweight = 1\n",
    "config/_default/languages.de.toml": "title = 'Auf Deutsch'\ncontentDir = 'content/de'\nweight = 2\n",
    "config/_default/params.toml": "mainSections = ['posts']\ndescription = 'Root'\n",
    "config/_default/params.en.toml": "author = 'Jana'\ndescription = 'In English too'\n",
    "config/_default/menus.en.toml": "[[main]]\nname = 'Home'\nurl = '/'\n",
    "config/_default/permalinks.toml": "posts = '/:year/:month/:slug/'\n",
    "config/_default/uglyURLs.toml": "posts = true\n",
    "config/_default/outputFormats.toml": "[RSS]\nbaseName = 'feed'\n",
    "content/en/posts/one.md": "---\ntitle: One\ndate: 2026-08-11\n---\nx\n",
    "content/en/posts/two.md": "---\ntitle: Two\ndate: 2026-09-12\nslug: zwei\n---\nx\n",
    "content/en/about.md": "---\ntitle: About\n---\nnot a post\n",
    "content/de/posts/eins.md": "---\ntitle: Eins\ndate: 2026-08-14\n---\nx\n",
}


def test_hugo_config_folder_files_are_merged_as_hugo_merges_them(tmp_path: Path) -> None:
    """Issue 20 (letsencrypt.org): of config/_default/ only hugo, config, params, permalinks and
    taxonomies were read; languages.en.toml (the title and contentDir of the default language)
    was not, so every link had a stray /en/. Every file is its root key now (uglyURLs.toml,
    outputFormats.toml…) and a language's files (languages.en.toml, params.en.toml) go under
    languages.en, whose title, contentDir and params come before the root's."""
    root = tmp_path / "site"
    write(root, HUGO_CONFIG_FOLDER)
    published = hugo_pages(root, tmp_path)
    assert published == {"/2026/08/one.html", "/2026/09/zwei.html", "/about/"}
    links, said = syndicated(root, tmp_path)
    assert sorted(links) == ["/2026/08/one.html", "/2026/09/zwei.html"], said
    config = config_of(root)
    assert (config["site"]["title"], config["site"]["author"], config["site"]["description"]) == (
        "In English",
        "Jana",
        "In English too",
    )
    assert config["content"]["dir"] == "content/en"
    assert config["feeds"]["rss"] != "feed.xml"  # outputFormats.toml: Hugo's RSS is feed.xml
    assert "config/_default/languages.en.toml: languages.en.title" in said


def test_hugo_languages_toml_and_the_production_folder_are_read() -> None:
    files = (
        "config/_default/hugo.toml",
        "config/_default/languages.toml",
        "config/production/hugo.toml",
        "config/production/params.yaml",
    )
    texts = {
        files[0]: "baseURL = 'https://dev.example.org/'\ndefaultContentLanguage = 'fr'\n",
        files[1]: "[fr]\ntitle = 'En français'\ncontentDir = 'content/fr'\n[fr.params]\nauthor = 'Zoé'\n",
        files[2]: "baseURL = 'https://example.fr/'\n",
        files[3]: "description: Prod\n",
    }
    wanted = wanted_files("hugo", files[0], texts, files)
    assert wanted[0] == files[0] and set(wanted) == set(files)
    found = adopt(SiteFiles("hugo", files[0], texts, files))
    assert (found.title.value, found.url.value, found.dir.value) == ("En français", "https://example.fr/", "content/fr")
    assert found.author.value == "Zoé" and found.description is not None and found.description.value == "Prod"


def test_a_generator_config_may_use_yaml_anchors_and_aliases_within_reason() -> None:
    """Hugo's and Jekyll's YAML configs may share values (`params: &p`, `*p`, `<<: *p`); init
    refused every alias. They are read now, counted as expanded before anything is built."""
    data = parse_yaml("base: &b {author: Jana, tags: [a, b]}\nen: *b\nde:\n  <<: *b\n  author: Ute\n", "hugo.yaml")
    assert data["en"] == {"author": "Jana", "tags": ["a", "b"]}
    assert data["de"] == {"author": "Ute", "tags": ["a", "b"]}
    laughs = "a: &a [" + ", ".join(["x"] * 10) + "]\n"
    laughs += "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)
    )
    started = time.process_time()  # CPU time: a loaded machine's wall clock says nothing of the work
    with pytest.raises(ConfigError, match="expand to over 100,000 values"):
        parse_yaml(laughs, "hugo.yaml")  # 10**9 values once written out
    assert time.process_time() - started < 1


# -- Eleventy -------------------------------------------------------------------------------------

ELEVENTY_MODULES = SITES / "eleventy" / "node_modules"
# A page that lists the URL of every post (the "posts" collection), one a line.
ELEVENTY_LISTING = """---
permalink: /listed-posts.txt
eleventyExcludeFromCollections: true
---
{% for p in collections.posts %}{{ p.url }}
{% endfor %}"""


def eleventy_posts(root: Path, tmp_path: Path, input_dir: str = ".") -> set[str]:
    """The URL of every post (collection "posts") Eleventy publishes for the site at ``root``
    (whose config's input folder is ``input_dir``), built from a copy with the fixture's
    node_modules, as tests/data/sites/eleventy/build.sh does."""
    node = node_for(NODE_MINIMUM["eleventy"])
    if node is None or not (ELEVENTY_MODULES / "@11ty/eleventy/cmd.cjs").is_file():
        unavailable("Eleventy needs Node >= 18 and `npm ci` in tests/data/sites/eleventy (scripts/test does both)")
    assert node is not None
    work = tmp_path / "eleventy"
    shutil.copytree(root, work / "site")
    (work / "site" / "node_modules").symlink_to(ELEVENTY_MODULES)
    (work / "site" / input_dir / "listed-posts.njk").write_text(ELEVENTY_LISTING, encoding="utf-8")
    result = subprocess.run(
        [str(node), "node_modules/@11ty/eleventy/cmd.cjs", f"--output={work / 'out'}", "--quiet"],
        cwd=work / "site",
        capture_output=True,
        text=True,
        timeout=300,
        env={**scrubbed(work), "ELEVENTY_RUN_MODE": "build"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = (work / "out" / "listed-posts.txt").read_text(encoding="utf-8").split("\n")
    return {unquote(line.strip()) for line in listed if line.strip()}


ELEVENTY_SITE = {
    "eleventy.config.cjs": 'module.exports = function () {\n  return { dir: { input: ".", output: "_site" } };\n};\n',
    "_data/metadata.json": '{"title": "E", "url": "https://eleventy.example.org/", "author": "Ana"}\n',
    "blog/blog.json": '{"tags": "posts", "permalink": "/blog/{{ page.fileSlug }}/"}\n',
    "blog/first-post.md": "---\ntitle: First\ndate: 2024-01-01\n---\nx\n",
    "blog/2024-02-01-dated.md": "---\ntitle: Dated\n---\nthe file name's date, dropped by fileSlug\n",
    "blog/own.md": "---\ntitle: Own\ndate: 2024-03-01\npermalink: /own/\n---\nx\n",
    "blog/2023/2023.11tydata.json": '{"permalink": "/archive/{{ page.fileSlug }}/"}\n',
    "blog/2023/old.md": "---\ntitle: Old\ndate: 2023-05-01\n---\nx\n",
    "blog/2023/deeper/older.md": "---\ntitle: Older\ndate: 2023-04-01\n---\nthe nearest folder's data applies\n",
}


def test_eleventy_directory_data_file_permalinks_give_the_urls_eleventy_writes(tmp_path: Path) -> None:
    """Issue 20: the permalink of a folder's directory data file (blog/blog.json, as a real blog
    keeps it) was not read: only *.11tydata.json was. Each folder's own (blog.json,
    blog.11tydata.json, .11tydata.js) is read now: the posts' folder's is [site] permalink, a
    deeper folder's goes to [site.permalinks]."""
    root = tmp_path / "site"
    write(root, ELEVENTY_SITE)
    published = eleventy_posts(root, tmp_path)
    assert "/blog/first-post/" in published and "/archive/old/" in published
    links, _ = syndicated(root, tmp_path)
    assert len(links) == len(set(links)) == 5
    assert set(links) == published
    config = config_of(root)
    assert config["site"]["permalink"] == "/blog/{filename}/"
    assert config["site"]["permalinks"] == {"blog/2023": "/archive/{filename}/"}


def test_an_eleventy_directory_data_file_in_javascript_is_read_not_run() -> None:
    config = "module.exports = function () { return {}; };\n"
    files = ("eleventy.config.cjs", "posts/posts.11tydata.js", "posts/posts.json", "posts/a.md")
    literal = 'module.exports = {\n  // permalink: "/old/",\n  permalink: "/p/{{ page.fileSlug }}/",\n};\n'
    texts = {
        "eleventy.config.cjs": config,
        "posts/posts.11tydata.js": literal,
        "posts/posts.json": '{"permalink": "/j/"}',
    }
    assert wanted_files("eleventy", "eleventy.config.cjs", texts, files)[-2:] == list(files[1:3])
    found = adopt(SiteFiles("eleventy", "eleventy.config.cjs", texts, files))
    assert found.permalink.value == "/p/{filename}/"  # .11tydata.js before .json, as Eleventy takes them
    assert found.permalink.source == "posts/posts.11tydata.js (read, not run): permalink '/p/{{ page.fileSlug }}/'"
    code = {
        **texts,
        "posts/posts.11tydata.js": "module.exports = { permalink: (data) => `/x/${data.page.fileSlug}/` };",
    }
    found = adopt(SiteFiles("eleventy", "eleventy.config.cjs", code, files))
    assert found.permalink.value == "/{path}/{name}/"
    assert any("posts/posts.11tydata.js (read, not run) has permalink: code" in c for c in found.checks)


def test_eleventy_and_zola_read_only_md_files(tmp_path: Path) -> None:
    """A .markdown file is no template of Eleventy's (nor a page of Zola's): thepugautomatic.com
    keeps `2007-11-24.md-with-auto-title-in-rails.markdown` beside its posts; Eleventy publishes
    nothing for it, and syndicate rejected it (no date), so check and build exited 1."""
    root = tmp_path / "site"
    write(root, {**ELEVENTY_SITE, "blog/2007-11-24.md-with-a-title.markdown": "---\ntitle: Not read\n---\nx\n"})
    published = eleventy_posts(root, tmp_path)
    links, _ = syndicated(root, tmp_path)  # exits 0
    assert set(links) == published and len(links) == 5
    zola = tmp_path / "zola"
    write(zola, {**ZOLA_SITE, "content/blog/2024-01-02-not-read.markdown": "+++\ntitle = 'N'\n+++\nx\n"})
    zola_links, _ = syndicated(zola, tmp_path / "z")
    assert set(zola_links) == ZOLA_PUBLISHED


# thepugautomatic.com's shape: the posts' folder data names a layout (through an alias), whose
# front matter holds the permalink, made with a date filter the config defines.
ELEVENTY_LAYOUT_CONFIG = """
const { DateTime } = require("luxon");
module.exports = function (eleventyConfig) {
  eleventyConfig.addLayoutAlias("default", "layouts/base.njk");
  eleventyConfig.addLayoutAlias("post", "layouts/post.njk");
  eleventyConfig.addFilter("slugDate", dateObj => {
    return %s;
  });
  return { dir: { input: "src/site", includes: "_includes", output: "dist" } };
};
"""
ELEVENTY_LAYOUT_SITE = {
    "src/site/_data/metadata.json": '{"title": "E", "url": "https://eleventy.example.org/", "author": "Ana"}\n',
    "src/site/_includes/layouts/post.njk": (
        '---\nlayout: default\npermalink: "/{{ page.date | slugDate }}/{{ page.fileSlug }}/index.html"\n'
        "tags: posts\n---\n{{ content | safe }}\n"
    ),
    "src/site/_includes/layouts/base.njk": "---\npermalink: /base/{{ page.fileSlug }}/\n---\n{{ content | safe }}\n",
    "src/site/posts/2024-02-01-dated.md": "---\ntitle: Dated\n---\nthe file name's date\n",
    "src/site/posts/late.md": "---\ntitle: Late\ndate: 2023-12-31T23:30:00-05:00\n---\nJanuary in UTC\n",
    "src/site/posts/first.md": "---\ntitle: First\ndate: 2024-03-05\n---\nx\n",
}
LUXON_Y_MM = 'DateTime.fromJSDate(dateObj, { zone: "utc" }).\n      toFormat("y/MM")'
ISO_DAY = 'dateObj.toISOString().slice(0, 10).replace(/-/g, "/")'


@pytest.mark.parametrize(
    ("body", "where", "expected"),
    [
        (LUXON_Y_MM, "folder data", "/{year}/{month}/{filename}/"),
        (ISO_DAY, "folder data", "/{year}/{month}/{day}/{filename}/"),
        (LUXON_Y_MM, "every post", "/{year}/{month}/{filename}/"),
    ],
    ids=["luxon-by-folder-data", "iso-date-by-folder-data", "luxon-by-every-post"],
)
def test_an_eleventy_layouts_permalink_with_a_config_date_filter_gives_the_urls_eleventy_writes(
    tmp_path: Path, body: str, where: str, expected: str
) -> None:
    """Issue 20 (thepugautomatic.com): the posts' layout holds the permalink, made with the
    config's own slugDate filter; init read only folder data files, wrote Eleventy's default and
    every one of 345 links was wrong. The layout is followed (its alias, the includes folder; the
    nearer layout before the one it is in) and a recognisable date filter read."""
    root = tmp_path / "site"
    files = {**ELEVENTY_LAYOUT_SITE, "eleventy.config.cjs": ELEVENTY_LAYOUT_CONFIG % body}
    if where == "folder data":
        files["src/site/posts/posts.json"] = '{"layout": "post"}\n'
    else:  # no folder data: every post names the layout in its front matter
        files = {k: v.replace("---\ntitle:", "---\nlayout: layouts/post.njk\ntitle:", 1) for k, v in files.items()}
    write(root, files)
    published = eleventy_posts(root, tmp_path, "src/site")
    assert "/2024/01/late/" in published or "/2024/01/01/late/" in published
    links, _ = syndicated(root, tmp_path)
    assert sorted(links) == sorted(published) and len(links) == 3
    assert config_of(root)["site"]["permalink"] == expected


def test_an_eleventy_layout_filter_init_cannot_read_gets_the_default_and_a_check_naming_it() -> None:
    config = ELEVENTY_LAYOUT_CONFIG % "dateObj.getFullYear() + '/x'"
    site = {**ELEVENTY_LAYOUT_SITE, "src/site/posts/posts.json": '{"layout": "post"}'}
    texts = {"eleventy.config.cjs": config, "src/site/posts/posts.json": '{"layout": "post"}'}
    pages = {k: v for k, v in site.items() if "_includes" in k}
    files = tuple(sorted({*site, "eleventy.config.cjs"}))
    found = adopt(SiteFiles("eleventy", "eleventy.config.cjs", texts, files, pages=pages))
    assert found.permalink.check and found.permalink.value == "/{path}/{name}/"
    assert any("src/site/_includes/layouts/post.njk" in c and "'slugDate'" in c for c in found.checks)


ELEVENTY_FEED_TEMPLATE = """---json
{
  "permalink": "atom.xml",
  "eleventyExcludeFromCollections": true,
  "metadata": {"title": "The Pug", "url": "https://pug.example.org/", "author": {"name": "Henrik"}}
}
---
<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>{{ metadata.title }}</title></feed>
"""


def test_a_feed_file_an_eleventy_template_makes_is_taken_and_its_metadata_read(tmp_path: Path) -> None:
    """Issue 20 (thepugautomatic.com): feed.njk's `permalink: "atom.xml"` was not read; init chose
    atom.xml for syndicate's Atom feeds, and `syndicate build --out` into Eleventy's output
    exited 3. Its `metadata` (the site's title, URL, author) was not read either."""
    root = tmp_path / "site"
    files = {**ELEVENTY_LAYOUT_SITE, "eleventy.config.cjs": ELEVENTY_LAYOUT_CONFIG % LUXON_Y_MM}
    del files["src/site/_data/metadata.json"]
    write(root, {**files, "src/site/posts/posts.json": '{"layout": "post"}\n'})
    (root / "src/site/feed.njk").write_text(ELEVENTY_FEED_TEMPLATE, encoding="utf-8")
    site = Site(root)
    init = site.run("init", "--site", str(root))
    assert init.code == 0, init.out + init.err
    config = config_of(root)
    assert config["feeds"]["atom"] != "atom.xml", init.out
    assert (config["site"]["title"], config["site"]["url"], config["site"]["author"]) == (
        "The Pug",
        "https://pug.example.org/",
        "Henrik",
    )
    published = eleventy_posts(root, tmp_path, "src/site")
    out = tmp_path / "eleventy" / "out"
    atom = (out / "atom.xml").read_bytes()
    build = site.run("build", "--site", str(root), "--out", str(out))
    assert build.code == 0, build.out + build.err
    assert (out / "atom.xml").read_bytes() == atom
    items = json.loads((out / str(config["feeds"]["json"])).read_text(encoding="utf-8"))["items"]
    assert {unquote(urlsplit(i["url"]).path) for i in items} == published


def test_hugo_posts_written_in_html_are_published_as_hugo_publishes_them(tmp_path: Path) -> None:
    """tidyverse.org: 41 of its 361 posts are .html content files (blogdown's output, with front
    matter); syndicate read Markdown only and left them out. Their body is HTML already: it goes
    to the feeds as it is (sanitized, URLs absolute), never through Markdown, where its indented
    lines would become code blocks."""
    root = tmp_path / "site"
    write(
        root,
        {
            "hugo.toml": "baseURL = 'https://hugo.example.org/'\ntitle = 'T'\n[params]\nauthor = 'A'\n",
            "content/posts/one.md": "---\ntitle: One\ndate: 2026-08-11\n---\nx\n",
            # a bundle with a rendered preview beside its index.md (tidyverse.org's forcats-1-0-0)
            "content/posts/three/index.md": "---\ntitle: Three\ndate: 2026-08-13\n---\nx\n",
            "content/posts/three/preview.html": "<!DOCTYPE html>\n<html><body><p>preview</p></body></html>\n",
            "content/posts/four.html": "<!DOCTYPE html>\n<html><body><p>no front matter</p></body></html>\n",
            "content/posts/two.html": (
                '---\ntitle: Two\ndate: 2026-08-12\n---\n<div>\n    <p>Indented <a href="/x/">HTML</a>.</p>\n</div>\n'
            ),
        },
    )
    published = hugo_pages(root, tmp_path)
    links, _ = syndicated(root, tmp_path)
    assert set(links) == {"/posts/one/", "/posts/two/", "/posts/three/"} <= published
    items = json.loads((tmp_path / "syndicated" / "feed.json").read_text(encoding="utf-8"))["items"]
    [two] = [i for i in items if i["title"] == "Two"]
    assert '<p>Indented <a href="https://hugo.example.org/x/">HTML</a>.</p>' in two["content_html"]
    assert "<pre>" not in two["content_html"] and "&lt;" not in two["content_html"]
