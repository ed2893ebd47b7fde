"""A strict Webmention receiver of our own, on 127.0.0.1: what the W3C Recommendation (§3.2)
requires of a request, checked, where the real receivers are lenient.

It serves pages (``/page/<name>``) that name its endpoint in a ``Link`` header, and a page
without one (``/plain``). Its endpoint (``POST /endpoint``) answers 400 unless the request is
form-encoded (``application/x-www-form-urlencoded``) with exactly one ``source`` and one
``target``, both http(s) URLs, different from each other, the target one of its own pages;
then it queues the mention for verification and answers ``202 Accepted`` (``answer`` sets 201
with a ``Location``, or 200, or a status to fail with). Every request is kept.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


@dataclass
class Mention:
    source: str
    target: str


@dataclass
class Receiver:
    base_url: str = ""
    accepted: list[Mention] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why each 400 was given
    answers: list[int] = field(default_factory=list)  # scripted statuses, taken first
    answer: int = 202
    gets: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def page(self, name: str) -> str:
        return f"{self.base_url}/page/{name}"

    def told(self, target: str) -> list[str]:
        """The sources that mentioned ``target``, in order."""
        return [m.source for m in self.accepted if m.target == target]

    def check(self, kind: str, raw: bytes) -> tuple[int, str, Mention | None]:
        if kind.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            return 400, f"not form-encoded: {kind!r}", None
        try:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as e:
            return 400, f"unreadable form: {e}", None
        sources, targets = form.get("source", []), form.get("target", [])
        if len(sources) != 1 or len(targets) != 1:
            return 400, "source and target must each be given once", None
        source, target = sources[0], targets[0]
        for url in (source, target):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return 400, f"not an http(s) URL: {url!r}", None
        if source == target:
            return 400, "source and target are the same", None
        if not target.startswith(self.base_url + "/page/"):
            return 400, f"target is not a page of this site: {target!r}", None
        return 0, "", Mention(source, target)


@contextmanager
def webmention_receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with rec.lock:
                rec.gets.append(self.path)
            html = b"<!doctype html><title>A page</title><p>Hello.</p>"
            if self.path.startswith("/page/"):
                link = [("Link", f'<{rec.base_url}/endpoint>; rel="webmention"')]
                self._send(200, html, [("Content-Type", "text/html; charset=utf-8"), *link])
            elif self.path == "/plain":
                self._send(200, html, [("Content-Type", "text/html; charset=utf-8")])
            else:
                self._send(404, b"not found", [("Content-Type", "text/plain")])

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            if self.path != "/endpoint":
                self._send(404, b"not found", [("Content-Type", "text/plain")])
                return
            with rec.lock:
                status, why, mention = rec.check(self.headers.get("Content-Type", ""), raw)
                if mention is None:
                    rec.refused.append(why)
                    self._send(status, why.encode(), [("Content-Type", "text/plain")])
                    return
                answer = rec.answers.pop(0) if rec.answers else rec.answer
                if answer in (200, 201, 202):
                    rec.accepted.append(mention)
            headers = [("Content-Type", "text/plain")]
            if answer == 201:
                headers.append(("Location", f"{rec.base_url}/status/{len(rec.accepted)}"))
            self._send(answer, b"Accepted" if answer < 300 else b"trouble", headers)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
