"""Every check a feed file must pass: feedparser, the JSON Feed 1.1 schema, RFC 4287's RELAX NG.

Used by many tests; each function raises AssertionError with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import feedparser
import jsonschema
from lxml import etree
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SCHEMAS = Path(__file__).parent / "data" / "schemas"


@cache
def _json_validator() -> Any:
    main = json.loads((SCHEMAS / "jsonfeed" / "feed.json").read_text())
    base = json.loads((SCHEMAS / "jsonfeed" / "feed-1.json").read_text())
    registry: Registry[Any] = Registry().with_resource(
        "feed-1", Resource.from_contents(base, default_specification=DRAFT4)
    )
    return jsonschema.Draft4Validator(main, registry=registry, format_checker=jsonschema.FormatChecker())


@cache
def _relaxng() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMAS / "atom" / "atom.rng")))


def check_feedparser(data: bytes) -> Any:
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0, f"feedparser: {parsed.get('bozo_exception')!r}"
    return parsed


def check_json_feed(data: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(data)
    errors = sorted(_json_validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "JSON Feed schema: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    # feedparser 6 cannot read JSON Feed (tests/test_readers.py has a reader that can)
    return doc


def check_atom(data: bytes) -> etree._Element:
    root = etree.fromstring(data)
    schema = _relaxng()
    assert schema.validate(root), f"Atom RELAX NG: {schema.error_log}"
    check_feedparser(data)
    return root


def check_atom_files_with_jing(paths: list[Path]) -> None:
    """jing catches what lxml's RELAX NG misses (e.g. bad xsd:dateTime values). One JVM for all."""
    if not paths:
        return
    if not shutil.which("jing"):
        if os.environ.get("CI") == "true":
            raise AssertionError("jing is not installed; .ci/run must install it")
        return
    result = subprocess.run(
        ["jing", "-c", str(SCHEMAS / "atom" / "atom.rnc"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"jing: {result.stdout}{result.stderr}"


def check_rss(data: bytes, self_url: str) -> etree._Element:
    root = etree.fromstring(data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    atom_self = channel.find("{http://www.w3.org/2005/Atom}link[@rel='self']")
    assert atom_self is not None and atom_self.get("href") == self_url, "atom:link rel=self must be the feed's URL"
    for item in channel.findall("item"):
        names = [etree.QName(child).localname for child in item]
        if "encoded" in names and "description" in names:
            assert names.index("description") < names.index("encoded"), "description must come before content:encoded"
        assert names.count("enclosure") <= 1, "at most one enclosure per item"
        guid = item.find("guid")
        assert guid is not None
        link = item.findtext("link")
        if guid.get("isPermaLink", "true") == "true":
            assert guid.text == link, "a permalink guid must be the item's link"
    check_feedparser(data)
    return root


def check_output_folder(out: Path, feeds_url: str) -> int:
    """Validate every feed file in ``out``; return how many were checked."""
    count = 0
    atom_files: list[Path] = []
    for path in sorted(out.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(out).as_posix()
        data = path.read_bytes()
        url = feeds_url + quote(rel, safe="/-._~")
        try:
            if path.name == "feed.json":
                doc = check_json_feed(data)
                assert doc["feed_url"] == url
            elif path.name == "atom.xml":
                root = check_atom(data)
                atom_files.append(path)
                self_link = root.find("{http://www.w3.org/2005/Atom}link[@rel='self']")
                assert self_link is not None and self_link.get("href") == url
            elif path.name == "feed.xml":
                check_rss(data, url)
            else:
                continue
        except AssertionError as e:
            raise AssertionError(f"{rel}: {e}") from None
        count += 1
    check_atom_files_with_jing(atom_files)
    return count
