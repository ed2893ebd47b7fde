"""A counting reverse proxy on 127.0.0.1 in front of an S3 server (moto's), for tests: it logs each
request (method, path without the query, status), can wait before forwarding (to stretch an
upload) and calls a hook before forwarding (another writer, a kill at the N-th request)."""

from __future__ import annotations

import http.client
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade", "content-length"}


@dataclass
class Proxy:
    url: str
    log: list[tuple[str, str, int]] = field(default_factory=list)
    hook: Callable[[str, str], None] | None = None
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def proxy(upstream: str) -> Iterator[Proxy]:
    up = urlsplit(upstream)
    state: Proxy

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length", 0) or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            hook = state.hook
            if hook is not None:
                hook(self.command, path)
            if state.delay:
                time.sleep(state.delay)
            conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                with state.lock:
                    state.log.append((self.command, path, resp.status))
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Proxy(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
