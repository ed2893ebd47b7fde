"""Serve the output folder to feed readers: right types, validators, 304s, gzip, WebSub links.

Only files inside the output folder are served: a path is decoded once, any "..", "."
or empty segment, backslash or NUL is refused, hidden files (our temporary files start
with ".") are never served, and the resolved file must still be inside the folder, so a
symlink pointing out gives 404 too. Files are replaced atomically by the builder (rename),
so a reader gets either the old bytes or the new ones, never a mix.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import http.server
import json
import mimetypes
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .model import MIME_TYPES, Settings
from .slugs import url_segment

TEXT_TYPES = {".html": "text/html", ".opml": "text/x-opml", ".xml": "application/xml", ".json": "application/json"}


@dataclass
class ServerState:
    """What the request handlers read; swapped whole when the config is reloaded."""

    out_dir: Path
    settings: Settings
    health: Callable[[], dict[str, Any]] = lambda: {"status": "ok"}
    log_request: Callable[[str, str, int], None] | None = None
    gz_cache: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def content_type(name: str, settings: Settings) -> str:
    feeds = settings.feeds
    by_name = {feeds.rss: MIME_TYPES["rss"], feeds.atom: MIME_TYPES["atom"], feeds.json: MIME_TYPES["json"]}
    if name in by_name:
        return f"{by_name[name]}; charset=utf-8"
    suffix = os.path.splitext(name)[1].lower()
    if suffix in TEXT_TYPES:
        return f"{TEXT_TYPES[suffix]}; charset=utf-8"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def resolve(out_dir: Path, raw_path: str) -> Path | None:
    """The file a request path names, or None when it is not a servable file inside ``out_dir``."""
    path = urlsplit(raw_path).path
    decoded = unquote(path, errors="strict") if "%" in path else path
    if "\x00" in decoded or "\\" in decoded:
        return None
    parts = decoded.split("/")[1:] if decoded.startswith("/") else None
    if parts is None:
        return None
    if parts and parts[-1] == "":
        parts[-1] = "index.html"
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    candidate = out_dir.joinpath(*parts)
    try:
        real = candidate.resolve(strict=True)
        root = out_dir.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if real.is_dir():
        real = real / "index.html"
        if not real.is_file():
            return None
    if not real.is_file() or not real.is_relative_to(root):
        return None
    return real


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    tags = [t.strip() for t in header.split(",")]
    return any(t.removeprefix("W/") == etag for t in tags)


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        bits = [b.strip() for b in part.split(";")]
        if bits[0].lower() in ("gzip", "*"):
            q = next((b[2:] for b in bits[1:] if b.startswith("q=")), "1")
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False


class FeedRequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ServerState  # set on the class made by make_server

    def version_string(self) -> str:
        return "syndicate"

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _send(self, status: int, headers: dict[str, str], body: bytes, head: bool) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and status != 304:
            self.wfile.write(body)
        if self.state.log_request:
            self.state.log_request(self.command, self.path, status)

    def _serve(self, head: bool) -> None:
        state = self.state
        if urlsplit(self.path).path == "/healthz":
            health = state.health()
            body = (json.dumps(health, sort_keys=True) + "\n").encode()
            code = 200 if health.get("status") == "ok" else 503  # what a load balancer or a monitor checks
            self._send(
                code, {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}, body, head
            )
            return
        try:
            path = resolve(state.out_dir, self.path)
        except UnicodeDecodeError:
            path = None
        if path is None:
            self._send(404, {"Content-Type": "text/plain; charset=utf-8"}, b"not found\n", head)
            return
        try:
            with path.open("rb") as f:  # one open file: the old or the new version, whole
                data = f.read()
                mtime = os.fstat(f.fileno()).st_mtime
        except OSError:
            self._send(404, {"Content-Type": "text/plain; charset=utf-8"}, b"not found\n", head)
            return
        digest = hashlib.sha256(data).hexdigest()[:20]
        gz = _accepts_gzip(self.headers.get("Accept-Encoding", "")) and len(data) > 256
        etag = f'"{digest}-gz"' if gz else f'"{digest}"'
        headers = {
            "Content-Type": content_type(path.name, state.settings),
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(mtime, usegmt=True),
            "Cache-Control": "no-cache",
            "Vary": "Accept-Encoding",
        }
        rel = path.relative_to(state.out_dir.resolve()).as_posix()
        if state.settings.hubs and path.name in (
            state.settings.feeds.rss,
            state.settings.feeds.atom,
            state.settings.feeds.json,
        ):
            self_url = state.settings.feeds_url + "/".join(url_segment(s) for s in rel.split("/"))
            links = [f'<{hub}>; rel="hub"' for hub in state.settings.hubs] + [f'<{self_url}>; rel="self"']
            headers["Link"] = ", ".join(links)
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        not_modified = False
        if inm is not None:
            not_modified = _etag_matches(inm, etag)
        elif ims is not None:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
                not_modified = int(mtime) <= since
            except (TypeError, ValueError):
                not_modified = False
        if not_modified:
            self._send(304, headers, b"", head)
            return
        if gz:
            with state.lock:
                cached = state.gz_cache.get(etag)
                if cached is None:
                    cached = gzip.compress(data, compresslevel=6, mtime=0)
                    if len(state.gz_cache) > 4096:
                        state.gz_cache.clear()
                    state.gz_cache[etag] = cached
            body = cached
            headers["Content-Encoding"] = "gzip"
        else:
            body = data
        self._send(200, headers, body, head)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are logged through state.log_request, errors never print tracebacks


class FeedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(host: str, port: int, state: ServerState) -> FeedServer:
    handler = type("Handler", (FeedRequestHandler,), {"state": state})
    return FeedServer((host, port), handler)
