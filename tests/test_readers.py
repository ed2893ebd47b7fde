"""Real feed readers (rss-parser and @extractus/feed-extractor, in Node) read every feed we write
and understand the same items: ids, links, titles and dates. feed-extractor is the reader that
checks JSON Feed, which feedparser 6 cannot read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import Site

READERS = Path(__file__).parent / "readers"


def _readers_ready() -> bool:
    return shutil.which("node") is not None and (READERS / "node_modules" / "rss-parser").is_dir()


@pytest.fixture
def node_readers() -> Path:
    if not _readers_ready():
        if os.environ.get("CI") == "true":
            pytest.fail("node readers missing: .ci/run must `npm ci` in tests/readers")
        pytest.skip("run `npm ci --prefix tests/readers` to enable the Node feed readers")
    return READERS / "read.mjs"


def test_node_readers_see_the_same_items_as_we_wrote(sample_site: Site, node_readers: Path) -> None:
    assert sample_site.run("build").code == 0
    files = sorted(p for p in sample_site.public.rglob("*") if p.name in ("feed.xml", "atom.xml", "feed.json"))
    result = subprocess.run(
        ["node", str(node_readers), *map(str, files)], capture_output=True, text=True, timeout=120, check=True
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2 * 18 + 9  # two readers per XML feed, one per JSON feed
    for row in rows:
        assert "error" not in row, row
        folder = Path(row["file"]).parent
        ours = json.loads((folder / "feed.json").read_text())
        want = [(i["id"], i["url"], i["title"]) for i in ours["items"]]
        assert [(i["id"], i["link"], i["title"]) for i in row["items"]] == want, f"{row['reader']} on {row['file']}"
        for mine, theirs in zip(ours["items"], row["items"], strict=True):
            seen = datetime.fromisoformat(theirs["published"].replace("Z", "+00:00"))
            # feed-extractor reports an Atom entry's <updated> as its date when there is one
            dates = {datetime.fromisoformat(mine["date_published"]), datetime.fromisoformat(mine["date_modified"])}
            assert seen in dates, f"{row['reader']} on {row['file']}: {seen}"
        assert row["title"] == ours["title"]
