"""Issue 20: a user who wants syndicate's feeds at the generator's feed addresses says so
(`[output] take_over`), and then every item keeps the id the generator's own feed gave it, so no
subscriber of that address sees a post twice. Checked against the generators themselves: Hugo's
own index.xml, Jekyll's `post.id | absolute_url` (what jekyll-feed writes), Pelican's
feedgenerator.get_tag_uri."""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from syndicate.builder.owned import taken_over
from syndicate.config import parse_settings
from syndicate.errors import ConfigError
from tests.conftest import NOW, Site
from tests.test_generators import (  # noqa: F401 (fixtures)
    Adopted,
    Written,
    adopted,
    generator_output,
    tool_env,
)

ATOM = "{http://www.w3.org/2005/Atom}"


def rss_guids(path: Path) -> dict[str, str]:
    """link → guid of each item of an RSS file."""
    root = etree.parse(str(path)).getroot()
    return {str(item.findtext("link")): str(item.findtext("guid")) for item in root.iter("item")}


def atom_ids(path: Path) -> dict[str, str]:
    root = etree.parse(str(path)).getroot()
    return {
        str(entry.xpath("string(a:link/@href)", namespaces={"a": ATOM[1:-1]})): str(entry.findtext(f"{ATOM}id"))
        for entry in root.iter(f"{ATOM}entry")
    }


def configure(site: Path, feeds: dict[str, str], take_over: list[str]) -> None:
    path = site / "config" / "syndicate.toml"
    text = path.read_text(encoding="utf-8")
    for key, name in feeds.items():
        text = re.sub(rf'^{key} = "[^"]*"', f'{key} = "{name}"', text, count=1, flags=re.M)
    if take_over:
        text = text.replace("[output]\n", f"[output]\ntake_over = {take_over!r}\n".replace("'", '"'), 1)
    path.write_text(text, encoding="utf-8")


def test_hugos_feeds_taken_over_keep_every_guid_and_only_with_the_users_word(
    generator_output: Callable[[str], Written],  # noqa: F811
    adopted: Callable[[str], Adopted],  # noqa: F811
    tmp_path: Path,
) -> None:
    written = generator_output("hugo")
    assert written.folder is not None
    deployed = tmp_path / "public"
    shutil.copytree(written.folder, deployed)
    theirs = rss_guids(deployed / "index.xml")
    site = Site(tmp_path / "site")
    shutil.copytree(adopted("hugo").site.root, site.root, ignore=shutil.ignore_patterns(".syndicate"))
    configure(site.root, {"rss": "index.xml"}, [])
    refused = site.run("build", "--out", str(deployed), now=NOW)
    assert refused.code == 3 and "index.xml: was not written by syndicate" in refused.err
    assert rss_guids(deployed / "index.xml") == theirs, "left alone without the user's word"

    configure(site.root, {}, ["index.xml", "*/*/index.xml"])  # every taxonomy term's feed too
    assert site.run("check").code == 0
    run = site.run("build", "--out", str(deployed), now=NOW)
    assert run.code == 0, run.err
    ours = rss_guids(deployed / "index.xml")
    assert b"syndicate" in (deployed / "index.xml").read_bytes()
    shared = ours.keys() & theirs.keys()
    assert len(shared) >= 5 and {link: ours[link] for link in shared} == {link: theirs[link] for link in shared}
    # a tag's feed: Hugo's tags/<term>/index.xml, now syndicate's, the same guids
    tag = deployed / "tags" / "film" / "index.xml"
    assert tag.is_file() and b"syndicate" in tag.read_bytes()
    assert all(guid == link for link, guid in rss_guids(tag).items())
    # nothing else of Hugo's was touched
    assert (written.folder / "index.html").read_bytes() == (deployed / "index.html").read_bytes()


@pytest.mark.skipif(shutil.which("jekyll") is None, reason="jekyll is not installed")
def test_jekyll_items_keep_jekyll_feeds_ids(tmp_path: Path) -> None:
    tool_env("jekyll")
    root = tmp_path / "blog"
    files = {
        "_config.yml": "title: Ids\nurl: https://ids.test\nauthor: Ann\ntimezone: UTC\npermalink: pretty\n",
        "_posts/2024-01-05-hello.md": "---\ntitle: Hello\n---\nx\n",
        "_posts/2024-02-06-Mixed-Case.md": "---\ntitle: Mixed\n---\nx\n",
        "_posts/2024-03-07-own.md": "---\ntitle: Own slug\nslug: chosen\n---\nx\n",
        "_posts/2024-04-08-cat.md": "---\ntitle: In a category\ncategories: [notes]\n---\nx\n",
        "_posts/2024-05-09-page.md": "---\ntitle: Own permalink\npermalink: /fixed/place.html\n---\nx\n",
        # what jekyll-feed writes as each entry's <id>: {{ post.id | absolute_url }}
        "ids.txt": "---\nlayout: null\n---\n{% for post in site.posts %}{{ post.url | absolute_url }} "
        "{{ post.id | absolute_url }}\n{% endfor %}",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    subprocess.run(["jekyll", "build", "-q", "-s", str(root), "-d", str(tmp_path / "_site")], check=True, timeout=300)
    lines = (tmp_path / "_site" / "ids.txt").read_text(encoding="utf-8").split()
    jekyll = dict(zip(lines[::2], lines[1::2], strict=True))
    site = Site(root)
    assert site.run("init").code == 0
    configure(root, {}, ["feed.xml"])
    run = site.run("build", now=NOW)
    assert run.code == 0, run.err
    config = tomllib.loads((root / "config" / "syndicate.toml").read_text(encoding="utf-8"))
    ours = atom_ids(root / ".syndicate" / "public" / config["feeds"]["atom"])
    assert len(jekyll) == 5 and ours == jekyll


def test_pelican_items_keep_pelicans_tag_uris(
    adopted: Callable[[str], Adopted],  # noqa: F811
    tmp_path: Path,
) -> None:
    from feedgenerator import get_tag_uri  # type: ignore[import-untyped]  # Pelican's own (its feeds' unique_id)

    site = Site(tmp_path / "site")
    shutil.copytree(adopted("pelican").site.root, site.root, ignore=shutil.ignore_patterns(".syndicate"))
    configure(site.root, {}, ["feeds/all.atom.xml"])
    run = site.run("build", "--out", str(tmp_path / "out"), now=NOW)
    assert run.code in (0, 1), run.err  # the fixture holds a broken post
    config = tomllib.loads((site.root / "config" / "syndicate.toml").read_text(encoding="utf-8"))
    feed = etree.parse(str(tmp_path / "out" / config["feeds"]["atom"])).getroot()
    entries = list(feed.iter(f"{ATOM}entry"))
    assert len(entries) >= 3
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(config["site"]["timezone"])
    for entry in entries:
        link = str(entry.xpath("string(a:link/@href)", namespaces={"a": ATOM[1:-1]}))
        published = datetime.fromisoformat(entry.findtext(f"{ATOM}published")).astimezone(tz)
        assert entry.findtext(f"{ATOM}id") == get_tag_uri(link, published)


def test_take_over_patterns_stay_in_one_folder_and_bad_ones_are_one_config_line() -> None:
    assert taken_over("tags/film/index.xml", ("tags/*/index.xml",))
    assert not taken_over("tags/a/b/index.xml", ("tags/*/index.xml",))
    assert not taken_over("index.html", ("index.xml",))
    base = '[site]\ntitle = "t"\nurl = "https://t.test/"\nauthor = "a"\n[output]\n'
    assert parse_settings(base + 'take_over = ["index.xml"]').output.take_over == ("index.xml",)
    for bad in ('"../x"', '"/etc/passwd"', '"a//b"', '""', '"a\\\\b"'):
        with pytest.raises(ConfigError, match=r"take_over: .* must be a path in the output folder"):
            parse_settings(base + f"take_over = [{bad}]")
    with pytest.raises(ConfigError, match="must be a list of strings"):
        parse_settings(base + "take_over = 3")


def test_without_take_over_ids_are_the_posts_own(tmp_path: Path) -> None:
    """The default stays: a plain site's item ids are its permalinks (or front-matter ids)."""
    site = Site(tmp_path)
    site.config(
        textwrap.dedent("""\
        [site]
        title = "t"
        url = "https://t.test/"
        author = "a"
        permalink = "/{slug}/"
        [output]
        take_over = ["feed.xml"]
        """)
    )
    site.post("a.md", "---\ntitle: A\ndate: 2024-01-01\nid: kept-1\n---\nx\n")
    assert site.run("build").code == 0
    [ident] = atom_ids(tmp_path / "public" / "atom.xml").values()
    assert ident.startswith("urn:uuid:")  # a plain syndicate site has no generator's ids to keep
