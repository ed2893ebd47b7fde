"""Serve the output folder to feed readers: right types, validators, 304s, gzip, WebSub links.

The answers are made by :class:`FeedApp`, an ASGI application, from the files on disk; the
connections are uvicorn's (httptools, asyncio), run in a thread of the daemon on a socket the
daemon bound itself (so a port in use is an error at start, and ``--port 0`` works), with:

- a listen backlog of 2048, every waiting connection accepted as soon as the socket is readable
  (libuv takes one per turn of the loop; see :class:`_Acceptor`), and every connection kept alive
  (HTTP/1.1) for 5 s of quiet;
- a request whose headers have not all arrived 20 s after it began is closed (slowloris);
- a client that resets, a malformed request or a date from another millennium is an answer
  (or a closed connection), never a traceback in the log.

Only files inside the output folder are served: a path is decoded once, any "..", "." or
empty segment, backslash or NUL is refused, hidden files (our temporary files start with
".") are never served, and the resolved file must still be inside the folder, so a symlink
pointing out gives 404 too. Files are replaced atomically by the builder (rename), so a
reader gets either the old bytes or the new ones; the bytes of each file are kept in memory
while its (inode, size, mtime) stay the same, so a request costs one ``stat``.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import gzip
import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..core.feeds import is_feed_file, output_url
from ..core.model import Settings
from ..core.uploads import content_type

BACKLOG = 2048
HEADER_TIMEOUT = 20.0  # seconds a request may take to send its headers
KEEP_ALIVE = 5  # seconds a quiet keep-alive connection is kept open
GZIP_CACHE = 4096  # gzip variants kept in memory
ACCEPT_RETRY = 0.5  # seconds before accepting again when the process is out of file descriptors

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class ServerState:
    """What the app reads; ``settings`` is swapped whole when the config is reloaded."""

    out_dir: Path
    settings: Settings
    health: Callable[[], dict[str, Any]] = lambda: {"status": "ok"}
    log_request: Callable[[str, str, int], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    metrics: Callable[[str], tuple[str, bytes]] | None = None  # /metrics: Accept → (type, body), off the loop
    served: Callable[[int], None] | None = None  # told each answer's status (not /healthz's or /metrics')


def resolve(out_dir: Path, raw_path: str) -> Path | None:
    """The file a request path names, or None when it is not a servable file inside ``out_dir``."""
    path = urlsplit(raw_path).path
    try:
        decoded = unquote(path, errors="strict") if "%" in path else path
    except UnicodeDecodeError:
        return None
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
    except (OSError, RuntimeError, ValueError):
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


def _not_modified_since(header: str, mtime: float) -> bool:
    """``If-Modified-Since`` says the reader has this version (an unreadable or absurd date: no)."""
    try:
        since = email.utils.parsedate_to_datetime(header)
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return int(mtime) <= since.timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
        return False


@dataclass(frozen=True)
class _File:
    """One file as served: its bytes and the headers that do not depend on the request."""

    real: str
    data: bytes
    etag: str
    etag_gz: str
    headers: list[tuple[bytes, bytes]]
    mtime: float
    gzippable: bool
    length: tuple[bytes, bytes]


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class FeedApp:
    """The feed server's answers, as an ASGI application (GET and HEAD; anything else is 405)."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._files: dict[str, tuple[tuple[int, int, int], _File]] = {}  # request path → what it served
        self._gzip: dict[str, bytes] = {}
        self._settings = state.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        path = raw.decode("latin-1")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        own = _own_page(path)  # /healthz, /metrics: not the feeds'
        if own == "/metrics" and self.state.metrics is not None and scope["method"] in ("GET", "HEAD"):
            # It may read the ledger (a query at most every few seconds): in a thread, not on the loop.
            kind, body = await asyncio.to_thread(self.state.metrics, headers.get("accept", ""))
            status, out = 200, [(b"content-type", kind.encode()), (b"cache-control", b"no-store")]
            out.append((b"content-length", str(len(body)).encode()))
        else:
            status, out, body = self.answer(scope["method"], path, headers)
            if self.state.served is not None and own is None:
                self.state.served(status)
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
        if self.state.log_request:
            self.state.log_request(scope["method"], path, status)

    def answer(self, method: str, path: str, headers: dict[str, str]) -> Answer:
        """(status, headers, body) for one request; ``headers`` have lower-case names."""
        if method not in ("GET", "HEAD"):
            return _plain(405, "only GET and HEAD\n", [(b"allow", b"GET, HEAD")])
        if path == "/healthz" or path.startswith("/healthz?"):
            health = self.state.health()
            code = 200 if health.get("status") == "ok" else 503  # what a load balancer or a monitor checks
            body = (json.dumps(health, sort_keys=True) + "\n").encode()
            return code, [(b"content-type", b"application/json; charset=utf-8"), (b"cache-control", b"no-store")], body
        found = self._find(path)
        if found is None:
            return _plain(404, "not found\n")
        gz = found.gzippable and _accepts_gzip(headers.get("accept-encoding", ""))
        etag = found.etag_gz if gz else found.etag
        out = [*found.headers, (b"etag", etag.encode())]
        inm, ims = headers.get("if-none-match"), headers.get("if-modified-since")
        if (inm is not None and _etag_matches(inm, etag)) or (
            inm is None and ims is not None and _not_modified_since(ims, found.mtime)
        ):
            return 304, out, b""
        if gz:
            body = self._gzipped(etag, found.data)
            return 200, [*out, (b"content-encoding", b"gzip"), (b"content-length", str(len(body)).encode())], body
        return 200, [*out, found.length], found.data

    def _find(self, path: str) -> _File | None:
        """The file a request path names, as it is on disk now: one ``stat`` for a path asked before
        whose file did not change (files are replaced, not rewritten, so a new version is a new
        inode); anything else is resolved and checked in full (:func:`resolve`) and read."""
        settings = self.state.settings
        if settings is not self._settings:
            if settings != self._settings:
                self.forget()  # types and hub links come from the settings
            self._settings = settings
        hit = self._files.get(path)
        if hit is not None:
            sig, found = hit
            try:
                st = os.stat(found.real)
            except OSError:
                st = None
            if st is not None and (st.st_ino, st.st_size, st.st_mtime_ns) == sig:
                return found
        real = resolve(self.state.out_dir, path)
        if real is None:
            return None
        try:
            with open(real, "rb") as f:  # one open file: the old or the new version, whole
                data = f.read()
                st = os.fstat(f.fileno())
        except OSError:
            return None
        digest = hashlib.sha256(data).hexdigest()[:20]
        headers = [
            (b"content-type", content_type(real.name, self.state.settings).encode()),
            (b"last-modified", email.utils.formatdate(st.st_mtime, usegmt=True).encode()),
            (b"cache-control", b"no-cache"),
            (b"vary", b"Accept-Encoding"),
        ]
        link = self._links(real)
        if link:
            headers.append((b"link", link.encode()))
        found = _File(
            str(real),
            data,
            f'"{digest}"',
            f'"{digest}-gz"',
            headers,
            st.st_mtime,
            len(data) > 256,
            (b"content-length", str(len(data)).encode()),
        )
        with self.state.lock:
            if len(self._files) > 20_000:
                self._files.clear()
            self._files[path] = ((st.st_ino, st.st_size, st.st_mtime_ns), found)
        return found

    def forget(self) -> None:
        """Settings changed (types, hub links): make every answer afresh."""
        with self.state.lock:
            self._files.clear()

    def _gzipped(self, etag: str, data: bytes) -> bytes:
        cached = self._gzip.get(etag)
        if cached is None:
            cached = gzip.compress(data, compresslevel=6, mtime=0)
            with self.state.lock:
                if len(self._gzip) > GZIP_CACHE:
                    self._gzip.clear()
                self._gzip[etag] = cached
        return cached

    def _links(self, real: Path) -> str:
        settings = self.state.settings
        if not settings.hubs:
            return ""
        rel = real.relative_to(self.state.out_dir.resolve()).as_posix()
        if not is_feed_file(settings, rel):
            return ""
        self_url = output_url(settings, rel)
        return ", ".join([*(f'<{hub}>; rel="hub"' for hub in settings.hubs), f'<{self_url}>; rel="self"'])


def _own_page(path: str) -> str | None:
    """ "/healthz" or "/metrics" when the request is for one of them (a query string aside), else None."""
    page = path.split("?", 1)[0]
    return page if page in ("/healthz", "/metrics") else None


def _plain(status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> Answer:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    return status, headers + (extra or []), body


class _HeaderTimeout(HttpToolsProtocol):
    """httptools' protocol, closing a connection whose request headers take too long (uvicorn has
    a keep-alive timeout, but none for a request that starts and never finishes its headers)."""

    _timer: asyncio.TimerHandle | None = None
    timeout = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._timer = self.loop.call_later(self.timeout, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class _Acceptor(asyncio.AbstractServer):
    """A listening socket, drained whole each time it is readable.

    libuv (uvloop's core; since 1.45, "don't accept() connections in a loop") accepts one
    connection per turn of the event loop. A turn that answers hundreds of busy keep-alive
    connections takes tens of milliseconds, so under load new connections were taken at 20–50 a
    second and a burst of 1,000 waited in the kernel's queue for up to 20 s, their requests
    unread (wrk counts them as timeouts). Here every waiting connection (at most a backlog's
    worth) is accepted in the turn that sees the socket readable, as asyncio's own loop does,
    and handed to uvloop as an accepted socket: the transports are uvloop's either way."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        factory: Callable[[], asyncio.Protocol],
        backlog: int,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = factory
        self._backlog = backlog
        self._serving = False
        self._opening: set[asyncio.Task[None]] = set()

    def _listen(self) -> None:
        if not self._serving:
            self._serving = True
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(self._backlog):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # none left
            except ConnectionAbortedError:
                continue  # the client gave up while it waited
            except OSError as e:
                if e.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                # Out of file descriptors: the connections wait in the queue; try again shortly
                # (libuv would close them all, and uvloop would then close the listening socket).
                self._loop.remove_reader(self._sock.fileno())
                self._serving = False
                self._loop.call_later(ACCEPT_RETRY, self._listen)
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._open(conn))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    async def _open(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError:
            conn.close()  # reset before it could be served

    def close(self) -> None:
        if self._serving:
            self._loop.remove_reader(self._sock.fileno())
            self._serving = False

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._listen()

    async def serve_forever(self) -> None:
        raise NotImplementedError("uvicorn runs its own main loop")

    async def wait_closed(self) -> None:
        return None


class _Loop(uvloop.Loop):
    """uvloop, with a socket given to ``create_server`` served by :class:`_Acceptor` (how uvicorn
    serves sockets it is handed; any other ``create_server`` is uvloop's)."""

    async def create_server(self, protocol_factory: Any, *args: Any, **kwargs: Any) -> asyncio.AbstractServer:  # type: ignore[override]
        sock = kwargs.get("sock")
        if sock is None or args or kwargs.get("ssl") is not None:
            return await super().create_server(protocol_factory, *args, **kwargs)
        server = _Acceptor(self, sock, protocol_factory, kwargs.get("backlog") or BACKLOG)
        server._listen()
        return server


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (raises OSError: the port is taken, the address is not ours)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said out loud: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto
    # is TCP, and without it a response written as headers then body waits ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class FeedServer:
    """The app on a bound socket, served by uvicorn in a thread of its own."""

    def __init__(
        self,
        sock: socket.socket,
        state: ServerState | None,
        header_timeout: float = HEADER_TIMEOUT,
        app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
    ) -> None:
        """Serve ``state`` (one site), or ``app`` (`host`: serve/vhosts.py)."""
        if app is None:
            assert state is not None
            app = FeedApp(state)
        self.sock = sock
        self.server_address = sock.getsockname()[:2]
        protocol = type("Protocol", (_HeaderTimeout,), {"timeout": header_timeout})
        config = uvicorn.Config(
            app,
            http=protocol,
            loop="uvloop",
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE,
            backlog=BACKLOG,
            server_header=False,
            date_header=True,
            headers=[("server", "syndicate")],
        )
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)  # a reset client is not an error
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with asyncio.Runner(loop_factory=_Loop) as runner:  # libuv: a third faster here
            runner.run(self._server.serve(sockets=[self.sock]))

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sock.close()


def make_server(host: str, port: int, state: ServerState) -> FeedServer:
    return FeedServer(bind(host, port), state)


__all__ = ["FeedApp", "FeedServer", "ServerState", "bind", "content_type", "make_server", "resolve"]
