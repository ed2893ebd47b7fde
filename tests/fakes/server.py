"""A fake's HTTP server on 127.0.0.1, in a thread of the test process: each request goes to the
fake's ``handle``; a reply can be dropped after the fake applied it (the connection closed with no
answer: a lost outcome)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON; None: no body
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # applied, then the connection is closed without an answer


class Fake(Protocol):
    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Reply: ...


@contextmanager
def serve(fake: Fake) -> Iterator[str]:
    """Serve ``fake`` until the end of the block; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            parts = urlsplit(self.path)
            reply = fake.handle(
                self.command, parts.path, parts.query, {k.lower(): v for k, v in self.headers.items()}, body
            )
            if reply.drop:
                self.close_connection = True
                with suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            data = b"" if reply.body is None else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client killed mid-request (the crash tests): nothing to report

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
