"""Front matter and dates as each generator itself reads them: a tiny site built in tmp_path by the
real generator (Pelican, Jekyll, Hugo) and by ``syndicate build``, the dates and titles compared.

Each generator writes every post under a URL made of the post's date in full (to the second,
with its offset where the generator keeps one), so the folder names of its output are what it
read; syndicate's JSON Feed gives what syndicate read. A missing generator skips (fails with
CI=true), as in test_generators.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from syndicate.config import parse_settings
from syndicate.core.posts import ParseResult, parse_post

CI = os.environ.get("CI") == "true"
NOW = "2026-11-26T12:00:00+00:00"


def unavailable(why: str) -> None:
    if CI:
        pytest.fail(f"CI=true and {why}", pytrace=False)
    pytest.skip(why)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def syndicate_items(root: Path, config: str) -> tuple[int, str, list[dict[str, str]]]:
    """(exit code, stderr, JSON Feed items) of ``syndicate build`` with this config."""
    write(root, {"config/syndicate.toml": config})
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    run = subprocess.run(
        [sys.executable, "-m", "syndicate", "build", "--now", NOW],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    feed = root / "synd" / "feed.json"
    items = json.loads(feed.read_text())["items"] if feed.is_file() else []
    return run.returncode, run.stderr, items


def parse(generator: str, text: str, path: str = "content/post.md") -> ParseResult:
    settings = parse_settings(
        '[site]\ntitle = "T"\nurl = "https://example.org/"\nauthor = "A"\ntimezone = "Asia/Tokyo"\n'
        f'[content]\ngenerator = "{generator}"\n'
    )
    return parse_post(path, text.encode(), settings)


# -- Pelican ----------------------------------------------------------------------------------------

PELICAN_POSTS = {
    # A `---` block is Pelican's Markdown metadata, split at the first colon: not YAML.
    "content/fenced.md": """
        ---
        title: Extending SQL in DataFusion: from ->> to TABLESAMPLE
        date: 2024-03-05 10:00
        tags: sql, datafusion
        ---

        Body.

        [TOC]
        """,
    "content/note.md": "Note: a key Pelican reads like any other\nTitle: Notes: one\nDate: 2024-03-04\n\nBody.\n",
    "content/dots.md": "---\nTitle: Ends with dots\nDate: 2024_03_06 07:08:09\n...\nBody.\n",
    "content/month-first.md": "Title: Month first\nDate: 05/06/2024\n\nBody.\n",
    "content/rfc.md": "Title: RFC 2822\nDate: Tue, 05 Mar 2024 10:00:00 GMT\n\nBody.\n",
    "content/pm.md": "Title: Afternoon\nDate: 2024_03_07 10:00 PM +0200\n\nBody.\n",
    "content/words.md": "Title: Words\nDate: 5 March 2024 10:00\n\nBody.\n",
    "content/us.md": "Title: US\nDate: March 9, 2024\n\nBody.\n",
    "content/iso.md": "Title: ISO\nDate: 2024-03-05T10:00:00+01:00\n\nBody.\n",
    "content/digits.md": "Title: Digits\nDate: 20240308\n\nBody.\n",
    "content/slashes.md": "Title: Slashes\nDate: 2024/03/10 8:15\n\nBody.\n",
    "content/tabs.md": "Title:\tTabbed\nDate:   2024-03-11   10:00\nTags: a,\n\tb\n\nBody.\n",
}
PELICAN_CONF = """
SITENAME = "P"
SITEURL = "https://p.example.org"
PATH = "content"
TIMEZONE = "Asia/Tokyo"
ARTICLE_URL = "{date:%Y%m%d%H%M%S%z}/{slug}/"
ARTICLE_SAVE_AS = "{date:%Y%m%d%H%M%S%z}/{slug}/index.html"
"""
SYNDICATE_CONF = """
[site]
title = "P"
url = "https://p.example.org/"
author = "A"
timezone = "{tz}"
permalink = "/{{slug}}/"

[content]
dir = "{dir}"
generator = "{generator}"

[feeds]
items = 100

[output]
dir = "synd"
"""


def pelican() -> str:
    beside = Path(sys.executable).parent / "pelican"
    found = str(beside) if beside.is_file() else shutil.which("pelican")
    if found is None:
        unavailable("pelican is not installed (pip install -e '.[test]')")
    assert found is not None
    return found


def test_pelican_headers_and_dates_are_read_as_pelican_reads_them(tmp_path: Path) -> None:
    """Fails before: the `---` header was YAML (a title with a colon was an error), `Note:` was
    no header, `05/06/2024` and the RFC 2822, PM and underscore dates were refused."""
    write(tmp_path, {"pelicanconf.py": PELICAN_CONF, **PELICAN_POSTS})
    built = subprocess.run(
        [pelican(), "content", "-s", "pelicanconf.py", "-o", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    pages = {}
    for page in (tmp_path / "out").glob("*/*/index.html"):
        when, slug = page.parent.parent.name, page.parent.name
        title = page.read_text().split("<title>", 1)[1].split("</title>", 1)[0].split(" - P")[0]
        pages[slug] = (datetime.strptime(when, "%Y%m%d%H%M%S%z"), title.replace("&gt;", ">"))
    assert len(pages) == len(PELICAN_POSTS)

    code, err, items = syndicate_items(
        tmp_path, SYNDICATE_CONF.format(tz="Asia/Tokyo", dir="content", generator="pelican")
    )
    assert code == 0, err
    ours = {
        item["url"].rstrip("/").rsplit("/", 1)[-1]: (datetime.fromisoformat(item["date_published"]), item["title"])
        for item in items
    }
    assert ours == pages
    assert "error" not in err and "warning" not in err
    fenced = next(i for i in items if i["title"].startswith("Extending"))
    assert "[TOC]" not in fenced["content_html"] and "Body." in fenced["content_html"]


def test_a_yaml_list_in_a_pelican_header_ends_it_as_pelican_does_and_says_so() -> None:
    result = parse("pelican", "---\ntitle: X\ndate: 2024-03-05\ntags:\n  - a\n  - b\n---\nBody.\n")
    assert result.post is not None and result.post.tags == ()
    warning = next(p for p in result.problems if p.severity == "warning")
    assert warning.line == 5 and "Pelican's header ends here" in warning.message
    html = result.post.content.html
    assert "<li>a</li>" in html  # as Pelican publishes it


def test_pelican_keys_taken_once_keep_their_first_line_and_others_join() -> None:
    post = parse("pelican", "Title: Long\n    title\nDate: 2024-03-05\ndate: 2025-01-01\nTags: a\n    b\n\nx\n").post
    assert post is not None
    assert post.title == "Long title"  # Pelican: a list, shown as its repr; its slug is the same
    assert post.published.year == 2024 and post.tags == ("a",)


def test_a_pelican_date_missing_its_day_is_refused_not_taken_from_the_clock() -> None:
    result = parse("pelican", "Title: T\nDate: March 2024\n\nx\n")
    assert result.post is None
    assert [(p.line, p.message.split(":", 1)[0]) for p in result.problems] == [(2, "date")]
    assert "has no day" in result.problems[0].message


def test_toc_in_code_or_in_a_paragraph_is_kept() -> None:
    post = parse("pelican", "Title: T\nDate: 2024-03-05\n\n```\n\n[TOC]\n\n```\n\nSee [TOC]\n").post
    assert post is not None
    assert post.content.html.count("[TOC]") == 2


# -- Jekyll -----------------------------------------------------------------------------------------

JEKYLL_CONF = """
title: J
url: "https://j.example.org"
timezone: Europe/Berlin
permalink: /:year:month:day:hour:minute:second/:title/
defaults:
  - scope: {path: ""}
    values: {layout: post}
"""
# Each a form Ruby's Time.parse reads (Jekyll's Utils.parse_date), several from real posts.
JEKYLL_DATES = {
    "real": "2023-01-29 18:30:22 2023 -0800",  # a real post: Ruby ignores the zone after the year
    "day-first": "01/02/2023",  # Ruby: 1 February
    "short-year": "1/2/23",  # Ruby: 2001-02-23
    "rfc": '"Sun, 29 Jan 2023 18:30:22 -0800"',
    "words": "Jan 29, 2023 6:30 PM",
    "eu": "29 January 23",
    "dots": "29.01.2023",
    "compact": "20230129T1830",
    "ordinal": "2023-029",
    "zone-name": "2023-01-29 18:30 EST",
    "local-name": "2023-07-29 18:30 CET",  # the site zone's January name: +01:00, even in July
    "military": "2023-01-29 18:30 A",
    "rolled": "2023-02-30",  # Ruby's Time: 2 March
    "weekday": "Sunday, January 29, 2023 at 6:30 pm",
    "month-only": "March 2023",
}


def test_jekyll_dates_and_titles_are_read_as_jekyll_reads_them(tmp_path: Path) -> None:
    """Fails before: most of these dates were refused ("day or month first?", "cannot read"), the
    real post's was read at -0800, and a post without a title was an error."""
    if shutil.which("jekyll") is None:
        unavailable("jekyll is not installed (apt-get install jekyll)")
    posts = {
        f"_posts/2022-12-{i + 1:02d}-{name}.md": f"---\ntitle: Post {name}\ndate: {when}\n---\nBody.\n"
        for i, (name, when) in enumerate(JEKYLL_DATES.items())
    }
    posts["_posts/2022-12-31-no-title-here.md"] = "---\ndate: 2023-03-01 08:00\n---\nBody.\n"
    layout = "<title>{{ page.title }}</title>{{ content }}"
    write(tmp_path, {"_config.yml": JEKYLL_CONF, "_layouts/post.html": layout, **posts})
    built = subprocess.run(["jekyll", "build", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    pages = {}
    for page in (tmp_path / "_site").glob("*/*/index.html"):
        title = page.read_text().split("<title>", 1)[1].split("</title>", 1)[0]
        pages[page.parent.name] = (page.parent.parent.name, title)
    assert len(pages) == len(posts)

    config = SYNDICATE_CONF.format(tz="Europe/Berlin", dir=".", generator="jekyll")
    code, err, items = syndicate_items(tmp_path, config.replace("{slug}", "{title}"))
    assert code == 0, err
    berlin = ZoneInfo("Europe/Berlin")
    ours = {
        item["url"].rstrip("/").rsplit("/", 1)[-1]: (
            datetime.fromisoformat(item["date_published"]).astimezone(berlin).strftime("%Y%m%d%H%M%S"),
            item["title"],
        )
        for item in items
    }
    assert ours == pages
    assert "error" not in err and "warning" not in err


def test_a_jekyll_date_without_a_year_is_refused_not_taken_from_the_clock() -> None:
    result = parse("jekyll", "---\ntitle: T\ndate: Jan 29\n---\nx\n", "_posts/2024-01-01-t.md")
    assert result.post is None
    assert "has no year" in result.problems[0].message and result.problems[0].line == 3


# -- Hugo -------------------------------------------------------------------------------------------

HUGO_YAML_DATES = [
    "2024-03-05",
    "2024-03-05T10:00:00",
    "2024-03-05 10:00:00",
    "2024-03-05T10:00:00Z",
    '"Tue, 05 Mar 2024 10:00:00 +0100"',  # RFC 1123 with an offset
    '"Tue, 05 Mar 2024 10:00:00 GMT"',  # a zone name: the site's zone to Hugo
    '"05 Mar 24 10:00 +0100"',  # RFC 822
    '"05 Mar 24 10:00 MST"',
    '"Tuesday, 05-Mar-24 10:00:00 UTC"',  # RFC 850
    "2024-03-05 10:00:00 -07:00",
    '"05 Mar 2024"',
    '"Tue Mar  5 10:00:00 2024"',  # ANSI C
    '"Tue Mar 05 10:00:00 +0100 2024"',  # Ruby's
    '"Tue Mar  5 10:00:00 CET 2024"',  # Unix date
    "2024-03-05T10:00:00-0700",
    "2024-03-05 10:00:00Z",
    '"2024-03-05 10:00:00.5 +0100 CET"',  # Go's Time.String()
]
HUGO_TOML_DATES = [
    "2024-03-05",  # a local date
    "2024-03-05T10:00:00",  # a local date-time
    "2024-03-05 10:00:00",
    "2024-03-05T10:00:00+01:00",
    "2024-03-05T10:00:00.5Z",
    '"2024-03-05 10:00:00 +0100"',
]


def test_hugo_dates_are_read_as_hugo_reads_them(tmp_path: Path) -> None:
    """Fails before: the RFC 822/850, ANSI C, Unix, Ruby and Time.String() forms were refused,
    and a zone name was taken for what it says, where Hugo takes the site's zone."""
    if shutil.which("hugo") is None:
        unavailable("hugo is not installed (apt-get install hugo)")
    posts = {
        f"content/posts/y{i}.md": f'---\ntitle: "y{i}"\ndate: {d}\n---\nx\n' for i, d in enumerate(HUGO_YAML_DATES)
    }
    posts |= {
        f"content/posts/t{i}.md": f'+++\ntitle = "t{i}"\ndate = {d}\n+++\nx\n' for i, d in enumerate(HUGO_TOML_DATES)
    }
    config = 'baseURL = "https://h.example.org/"\ntitle = "H"\ntimeZone = "Europe/Berlin"\n'
    config += 'disableKinds = ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]\n'
    layouts = {
        "layouts/_default/single.html": '{{ .Date.Format "2006-01-02T15:04:05-07:00" }}',
        "layouts/_default/list.html": "",
    }
    write(tmp_path, {"config.toml": config, **layouts, **posts})
    built = subprocess.run(
        ["hugo", "--quiet", "--destination", "out"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stdout + built.stderr
    hugo = {
        page.parent.name: datetime.fromisoformat(page.read_text().strip().replace("&#43;", "+"))
        for page in (tmp_path / "out" / "posts").glob("*/index.html")
    }
    assert len(hugo) == len(posts)

    code, err, items = syndicate_items(
        tmp_path, SYNDICATE_CONF.format(tz="Europe/Berlin", dir="content", generator="hugo")
    )
    assert code == 0, err
    ours = {item["title"]: datetime.fromisoformat(item["date_published"]) for item in items}
    assert ours == hugo


COMPILED = """
import re, sys
seen = []
compile = re._compile
re._compile = lambda pattern, flags: (seen.append(str(pattern)), compile(pattern, flags))[1]
from datetime import UTC
from syndicate.core import dates
print(sum("sun|mon" in p or "Mon|Tue" in p for p in seen))
dates.ruby_date("Sat, 3 Feb 2001 04:05:06 +07:00", UTC)
dates.hugo_date("Mon, 02 Jan 2006 15:04:05 MST", UTC)
print(sum("sun|mon" in p or "Mon|Tue" in p for p in seen))
"""


def test_the_ruby_and_go_date_patterns_are_compiled_when_first_used() -> None:
    """A build that reads no Jekyll or Hugo date written as text compiles none of their patterns
    (~2 ms of every one-post rebuild); a date that needs them reads as before."""
    done = subprocess.run([sys.executable, "-c", COMPILED], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "3"], done.stdout
