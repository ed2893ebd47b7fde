"""webmention.rocks' 23 discovery tests, served on 127.0.0.1: ``/test/<n>`` answers as the
test of that number does (https://webmention.rocks/, the Webmention Recommendation's test
suite), each naming its endpoint the way the test is about; every endpoint records the POSTs
it receives (form-encoded ``source`` and ``target``) and answers 202. A wrong endpoint (the
decoys of the tests: in a comment, in escaped HTML, later in the document, a ``rel`` that only
contains the word) ends in ``/error`` and answers 400.

``EXPECTED[n]`` is the path (and query) of the endpoint discovery must find for test n.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

EXPECTED = {
    **{n: f"/test/{n}/webmention" for n in range(1, 24)},
    1: "/test/1/webmention?head=true",
    2: "/test/2/webmention?head=true",
    15: "/test/15",
    21: "/test/21/webmention?query=yes",
    23: "/test/23/page/webmention-endpoint/rocks",
}
NAMES = {
    1: "HTTP Link header, unquoted rel, relative URL",
    2: "HTTP Link header, unquoted rel, absolute URL",
    3: "HTML <link> tag, relative URL",
    4: "HTML <link> tag, absolute URL",
    5: "HTML <a> tag, relative URL",
    6: "HTML <a> tag, absolute URL",
    7: "HTTP Link header with strange casing",
    8: "HTTP Link header, quoted rel",
    9: "Multiple rel values on a <link> tag",
    10: "Multiple rel values on a Link header",
    11: "Multiple Webmention endpoints advertised: Link, <link>, <a>",
    12: "Checking for exact match of rel=webmention",
    13: "False endpoint inside an HTML comment",
    14: "False endpoint in escaped HTML",
    15: "Webmention href is an empty string",
    16: "Multiple Webmention endpoints advertised: <a>, <link>",
    17: "Multiple Webmention endpoints advertised: <link>, <a>",
    18: "Multiple HTTP Link headers",
    19: "Single HTTP Link header with multiple values",
    20: "Link tag with no href attribute",
    21: "Webmention endpoint has query string parameters",
    22: "Webmention endpoint is relative to the path",
    23: "Webmention target is a redirect and the endpoint is relative",
}


@dataclass
class Rocks:
    base_url: str = ""
    received: list[tuple[str, dict[str, list[str]], str]] = field(default_factory=list)  # (path, form, type)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, n: int) -> str:
        """The page of test ``n`` (test 23's redirects to another)."""
        return f"{self.base_url}/test/{n}" + ("/page" if n == 23 else "")

    def page(self, n: int) -> tuple[list[tuple[str, str]], str]:
        """(headers, HTML) of test ``n``."""
        b = self.base_url
        e = f"/test/{n}/webmention"
        headers: list[tuple[str, str]] = []
        body = ""
        if n == 1:
            headers = [("Link", f"<{e}?head=true>; rel=webmention")]
        elif n == 2:
            headers = [("Link", f"<{b}{e}?head=true>; rel=webmention")]
        elif n == 3:
            body = f'<link rel="webmention" href="{e}">'
        elif n == 4:
            body = f'<link rel="webmention" href="{b}{e}">'
        elif n == 5:
            body = f'<a rel="webmention" href="{e}">endpoint</a>'
        elif n == 6:
            body = f'<a rel="webmention" href="{b}{e}">endpoint</a>'
        elif n == 7:
            headers = [("LinK", f"<{b}{e}>; rel=webmention")]
        elif n == 8:
            headers = [("Link", f'<{b}{e}>; rel="webmention"')]
        elif n == 9:
            body = f'<link rel="webmention somethingelse" href="{e}">'
        elif n == 10:
            headers = [("Link", f'<{b}{e}>; rel="webmention somethingelse"')]
        elif n == 11:
            headers = [("Link", f"<{b}{e}>; rel=webmention")]
            body = f'<link rel="webmention" href="{e}/error"><a rel="webmention" href="{e}/error">x</a>'
        elif n == 12:
            body = f'<link rel="not-webmention" href="{e}/error"><link rel="webmention" href="{e}">'
        elif n == 13:
            body = f'<!-- <link rel="webmention" href="{e}/error"> --><link rel="webmention" href="{e}">'
        elif n == 14:
            body = (
                f'<code>&lt;a href="{e}/error" rel="webmention"&gt;&lt;/a&gt;</code>'
                f'<a rel="webmention" href="{e}">endpoint</a>'
            )
        elif n == 15:
            body = '<link rel="webmention" href="">'
        elif n == 16:
            body = f'<a href="{e}" rel="webmention">x</a><link rel="webmention" href="{e}/error">'
        elif n == 17:
            body = f'<link rel="webmention" href="{e}"><a href="{e}/error" rel="webmention">x</a>'
        elif n == 18:
            headers = [("Link", f'<{b}{e}/error>; rel="other"'), ("Link", f'<{b}{e}>; rel="webmention"')]
        elif n == 19:
            headers = [("Link", f'<{b}{e}/error>; rel="other", <{b}{e}>; rel="webmention"')]
        elif n == 20:
            body = f'<link rel="webmention"><a rel="webmention" href="{e}">endpoint</a>'
        elif n == 21:
            body = f'<link rel="webmention" href="{e}?query=yes">'
        elif n == 22:
            body = '<link rel="webmention" href="22/webmention">'
        elif n == 23:
            body = '<link rel="webmention" href="webmention-endpoint/rocks">'
        html = f"<!doctype html><html><head><title>Discovery Test #{n}</title></head><body>{body}</body></html>"
        return headers, html


@contextmanager
def webmention_rocks() -> Iterator[Rocks]:
    rocks = Rocks()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
            self.send_response(status)
            for k, v in headers or []:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            parts = path.strip("/").split("/")
            if len(parts) >= 2 and parts[0] == "test" and parts[1].isdigit() and 1 <= int(parts[1]) <= 23:
                n = int(parts[1])
                if n == 23 and path == "/test/23/page":
                    self._send(302, headers=[("Location", "/test/23/page/rocks")])
                    return
                if len(parts) == 2 or (n == 23 and path == "/test/23/page/rocks"):
                    headers, html = rocks.page(n)
                    self._send(200, html.encode(), [("Content-Type", "text/html; charset=utf-8"), *headers])
                    return
            self._send(404, b"not found", [("Content-Type", "text/plain")])

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            kind = self.headers.get("Content-Type", "")
            with rocks.lock:
                rocks.received.append((self.path, parse_qs(raw.decode()), kind))
            ok = not urlsplit(self.path).path.endswith("/error")
            self._send(202 if ok else 400, b"Accepted" if ok else b"wrong endpoint", [("Content-Type", "text/plain")])

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rocks.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rocks
    finally:
        server.shutdown()
        server.server_close()
