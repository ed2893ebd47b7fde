"""`syndicate publish` to a webmention target, through the real command line, against a strict
receiver of our own (tests/peers/webmention_receiver.py), the 23 pages of webmention.rocks'
discovery tests (tests/peers/webmention_rocks.py) and the real receiver of INTEROP.md (PyPI
``webmentions``: tests/peers/webmention_peer.py), all on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.conftest import AT_ONCE, CONFIG, Site
from tests.peers.fixtures import WebmentionPeer
from tests.peers.webmention_receiver import Receiver, webmention_receiver
from tests.peers.webmention_rocks import EXPECTED, NAMES, Rocks, webmention_rocks

URL = "https://example.com/blog/hello/"


@pytest.fixture(scope="module")
def rocks() -> Iterator[Rocks]:
    with webmention_rocks() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webmention_receiver() as server:
        yield server


def configure(site: Site, extra: str = "", *, allow: bool = True) -> None:
    fetch = '\n[content]\nfetch_allow = ["127.0.0.1"]\n' if allow else ""
    site.config(
        CONFIG + AT_ONCE + fetch + f'\n[[targets]]\nname = "mentions"\nkind = "webmention"\ntimeout = 5\n{extra}'
    )


def publish(site: Site, *args: str) -> tuple[int, str]:
    run = site.run("publish", *args)
    assert "Traceback" not in run.err, run.err
    return run.code, run.out + run.err


def post(links: list[str], title: str = "Hello") -> str:
    body = "\n".join(f"See [this]({link})." for link in links)
    return f"---\ntitle: {title}\ndate: 2024-06-01\n---\n{body}\n"


def test_each_link_is_told_once_per_version_on_edit_and_on_deletion(site: Site, receiver: Receiver) -> None:
    a, b, d = receiver.page("a"), receiver.page("b"), receiver.page("d")
    plain = receiver.base_url + "/plain"
    configure(site)
    assert publish(site)[0] == 0  # baseline
    site.post("hello.md", post([a, b, plain]))
    code, out = publish(site)
    assert code == 0 and out.count("sent    mentions  webmention") == 3, out
    assert f"no webmention endpoint there: nothing to tell: {plain}" in out
    assert f"HTTP 202 from {receiver.base_url}/endpoint: {a}" in out
    assert receiver.told(a) == [URL] and receiver.told(b) == [URL] and receiver.refused == []
    assert publish(site)[0] == 0 and len(receiver.accepted) == 2, "nothing twice"

    site.post("hello.md", post([a, d], title="Hello again"))  # b removed, d added, a kept
    code, out = publish(site)
    assert code == 0, out
    assert Counter(m.target for m in receiver.accepted) == {a: 2, b: 2, d: 1}, receiver.accepted

    (site.content / "hello.md").unlink()  # gone: every link it told hears it again
    code, out = publish(site)
    assert code == 0, out
    assert Counter(m.target for m in receiver.accepted) == {a: 3, b: 3, d: 2}, out
    assert {m.source for m in receiver.accepted} == {URL} and receiver.refused == []
    status = site.run("status", "--all").out
    assert status.count(a) == 3 and status.count(d) == 2, status  # each row says which link it told


def test_a_post_linking_the_23_discovery_tests_tells_each_at_its_endpoint_once(site: Site, rocks: Rocks) -> None:
    configure(site)
    publish(site)
    with rocks.lock:
        rocks.received.clear()
    site.post("hello.md", post([rocks.url(n) for n in sorted(NAMES)]))
    code, out = publish(site)
    assert code == 0 and out.count("sent    mentions") == 23, out
    paths = Counter(path for path, _form, _kind in rocks.received)
    assert paths == Counter(EXPECTED.values()), paths
    for path, form, kind in rocks.received:
        assert kind == "application/x-www-form-urlencoded" and form["source"] == [URL], (path, form)


def test_the_dry_run_shows_the_form_and_fetches_nothing(site: Site, receiver: Receiver) -> None:
    configure(site)
    publish(site)
    site.post("hello.md", post([receiver.page("a")]))
    code, out = publish(site, "--dry-run")
    assert code == 0, out
    block = out.split(f"--- mentions  webmention  {URL}\n", 1)[1]
    target = receiver.page("a").replace(":", "%3A").replace("/", "%2F")
    assert block.splitlines()[:3] == [
        f"POST (the webmention endpoint {receiver.page('a')} names, found when sent)",
        "content-type: application/x-www-form-urlencoded",
        f"source=https%3A%2F%2Fexample.com%2Fblog%2Fhello%2F&target={target}",
    ]
    assert receiver.gets == [] and receiver.accepted == []


def test_a_private_address_is_never_fetched_unless_fetch_allow_names_it(site: Site, receiver: Receiver) -> None:
    configure(site, allow=False)
    publish(site)
    site.post("hello.md", post([receiver.page("a")]))
    code, out = publish(site)
    assert code == 4 and "dead    mentions" in out and "its page was not fetched" in out, out
    assert receiver.gets == [] and receiver.accepted == []


def test_a_rate_limiting_receiver_is_retried_without_using_up_the_attempts_and_told_once(
    site: Site, receiver: Receiver
) -> None:
    configure(site, allow=True)
    site.config((site.root / "config" / "syndicate.toml").read_text().replace("delete_after = 0", "max_attempts = 1"))
    publish(site)
    site.post("hello.md", post([receiver.page("a")]))
    receiver.answers = [429]
    code, out = publish(site)
    assert code == 4 and "failed  mentions" in out and "/endpoint: HTTP 429 Too Many Requests" in out, out
    assert site.run("retry").code == 0
    code, out = publish(site)
    assert code == 0 and receiver.told(receiver.page("a")) == [URL], out


@pytest.fixture
def pages() -> Iterator[tuple[str, dict[str, str]]]:
    """Where the site's pages are served (the source a receiver fetches): (base URL, path → HTML);
    a path not in it answers 410 Gone."""
    served: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            html = served.get(self.path)
            self.send_response(200 if html is not None else 410)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            body = (html or "gone").encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def test_the_real_receiver_keeps_the_mention_while_the_post_links_and_drops_it_when_it_goes(
    site: Site, webmention_peer: WebmentionPeer, pages: tuple[str, dict[str, str]]
) -> None:
    """The post's page is what the receiver verifies: it links to the target (an h-entry without
    a published date, which the library's table needs: the peer fills it in); after the post is
    removed its page answers 410, and the webmention sent then makes the receiver drop it."""
    base, served = pages
    target = webmention_peer.page("real-life")
    site.config(
        CONFIG.replace('url = "https://example.com/"', f'url = "{base}/"')
        + AT_ONCE
        + '\n[content]\nfetch_allow = ["127.0.0.1"]\n\n[[targets]]\nname = "mentions"\nkind = "webmention"\n'
    )
    publish(site)
    source = f"{base}/blog/hello/"
    served["/blog/hello/"] = f'<div class="h-entry"><p class="e-content">See <a href="{target}">this</a>.</p></div>'
    site.post("hello.md", post([target]))
    code, out = publish(site)
    assert code == 0 and f"HTTP 200 from {webmention_peer.base_url}/webmentions: {target}" in out, out
    assert [m["source"] for m in webmention_peer.mentions(target)] == [source]

    del served["/blog/hello/"]
    (site.content / "hello.md").unlink()
    code, out = publish(site)
    assert code == 0 and out.count("sent    mentions") == 1, out
    assert webmention_peer.mentions(target) == []
