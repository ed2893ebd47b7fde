"""Where a page says its webmentions go: webmention.rocks' 23 discovery tests, served on
127.0.0.1 (tests/peers/webmention_rocks.py), each found through the guarded session the channel
uses; and which links of a post are told."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syndicate.core.mentions import endpoint, post_links
from syndicate.deliver.channels.webmention import discover
from syndicate.deliver.fetch import public_session
from tests.peers.webmention_rocks import EXPECTED, NAMES, Rocks, webmention_rocks

URL = "https://example.com/blog/hello/"


@pytest.fixture(scope="module")
def rocks() -> Iterator[Rocks]:
    with webmention_rocks() as server:
        yield server


@pytest.mark.parametrize("n", sorted(NAMES), ids=lambda n: f"{n}-{NAMES[n]}")
def test_discovery_finds_the_endpoint_each_webmention_rocks_test_names(rocks: Rocks, n: int) -> None:
    session = public_session(frozenset({"127.0.0.1"}))
    try:
        assert discover(session, rocks.url(n), 5) == rocks.base_url + EXPECTED[n]
    finally:
        session.close()


def test_discovery_takes_only_http_endpoints_and_a_post_links_each_page_once() -> None:
    assert endpoint('<mailto:x@example.com>; rel="webmention"', "", "https://a.example/") is None
    assert endpoint("", '<a rel="webmention" href="javascript:x()">', "https://a.example/") is None
    html = '<a href="/x#top">x</a> <a href="https://b.example/y">y</a> <a href="/x">x</a> <a href="#me">me</a>'
    html += '<a href="mailto:me@example.com">m</a> <a href="https://example.com/blog/hello/#c">self</a>'
    assert post_links(html, URL) == ("https://example.com/x", "https://b.example/y")
