"""WebSub: every feed advertises the hub; after a build changes feeds, each hub is pinged
for each changed feed (hub.mode=publish with hub.url and hub.topic)."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from lxml import etree

from tests.conftest import Site
from tests.httpd import recorder
from tests.peers.fixtures import WebSubHub, free_port


def configure(site: Site, url: str, hubs: list[str]) -> None:
    site.config(
        f"""
[site]
title = "Hub Site"
url = "{url}"
author = "H"

[websub]
hubs = {json.dumps(hubs)}
"""
    )


@contextmanager
def serve(folder: Path, hub: str, port: int) -> Iterator[str]:
    """Serve the output folder with the Link headers a WebSub hub looks for."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def end_headers(self) -> None:
            self.send_header("Link", f'<{hub}>; rel="hub", <http://127.0.0.1:{port}{self.path}>; rel="self"')
            super().end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_feeds_advertise_every_hub(site: Site) -> None:
    configure(site, "https://example.com/", ["https://hub.one/", "https://hub.two/"])
    site.post("p.md", "---\ntitle: P\ndate: 2024-01-01\n---\nx\n")
    assert site.run("build").code == 0
    rss = etree.parse(str(site.public / "feed.xml"))
    links = rss.findall("channel/{http://www.w3.org/2005/Atom}link")
    assert [(link.get("rel"), link.get("href")) for link in links] == [
        ("self", "https://example.com/feed.xml"),
        ("hub", "https://hub.one/"),
        ("hub", "https://hub.two/"),
    ]
    atom = etree.parse(str(site.public / "atom.xml"))
    hubs = [link.get("href") for link in atom.findall("{http://www.w3.org/2005/Atom}link[@rel='hub']")]
    assert hubs == ["https://hub.one/", "https://hub.two/"]
    doc = json.loads((site.public / "feed.json").read_text())
    assert doc["hubs"] == [{"type": "WebSub", "url": "https://hub.one/"}, {"type": "WebSub", "url": "https://hub.two/"}]


def test_changed_feeds_are_pinged_once_with_url_and_topic(site: Site) -> None:
    with recorder() as hub:
        configure(site, "https://example.com/", [hub.url + "/hub"])
        site.post("p.md", "---\ntitle: P\ndate: 2024-01-01\ntags: [a]\n---\nx\n")
        run = site.run("publish", now=None)
        assert run.code == 0, run.err
        topics = sorted(urllib.parse.parse_qs(r.body.decode())["hub.topic"][0] for r in hub.requests)
        assert topics == sorted(
            f"https://example.com/{p}"
            for p in ("feed.xml", "atom.xml", "feed.json", "tags/a/feed.xml", "tags/a/atom.xml", "tags/a/feed.json")
        )
        for r in hub.requests:
            form = urllib.parse.parse_qs(r.body.decode())
            assert form["hub.mode"] == ["publish"] and form["hub.url"] == form["hub.topic"]
        assert site.run("publish", now=None).code == 0
        assert len(hub.requests) == 6, "unchanged feeds are not pinged again"
        site.post("q.md", "---\ntitle: Q\ndate: 2024-02-01\n---\ny\n")
        site.run("publish", now=None)
        assert len(hub.requests) == 9, "only the site feed changed"
        site.post("r.md", "---\ntitle: R\ndate: 2024-03-01\n---\nz\n")
        assert site.run("build", now=None).code == 0  # the feeds change outside publish…
        site.run("publish", now=None)
        assert len(hub.requests) == 12, "…and the next publish still pings for them"


def test_a_real_hub_accepts_the_ping(site: Site, websub_hub: WebSubHub) -> None:
    port = free_port()
    configure(site, f"http://127.0.0.1:{port}/", [websub_hub.hub_url])
    site.post("p.md", "---\ntitle: P\ndate: 2024-01-01\n---\nx\n")
    with serve(site.public.parent / "public", websub_hub.hub_url, port):
        site.public.mkdir()
        run = site.run("publish", now=None)
    assert run.code == 0, run.out + run.err
    assert run.out.count("sent    http://127.0.0.1") == 3
