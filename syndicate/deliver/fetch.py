"""What syndicate may fetch from the network on behalf of a post, and how.

A post's front matter names images (``thumb: https://…``) that syndicate downloads and re-uploads.
This module promises that such a download:

* talks only to public addresses: the address the TCP socket actually connected to is checked
  (after DNS, so DNS rebinding cannot slip a private address in), on every connection and every
  redirect hop, before a single byte is sent; hosts named in ``allow`` are exempt;
* uses only ``http``/``https`` URLs without user info, no proxy, no ``.netrc``, at most 3 redirects;
* is bounded: at most ``max_bytes`` bytes (also after decompression) and ``timeout`` seconds in total;
* yields an image whose type is sniffed from its bytes (never from the URL or ``Content-Type``);
* fails only with :class:`FetchRefused`, whose ``str()`` is one line: the URL and a short reason.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import BaseHTTPResponse, HTTPResponse

from ..core.addresses import ALLOW_HINT, Allow, is_allowed, normalize_host, parse_allow, why_not_public
from ..errors import FetchRefused
from .sniff import IMAGE_TYPES, Fetched, sniff_image

__all__ = [
    "IMAGE_TYPES",
    "MAX_REDIRECTS",
    "FetchRefused",
    "Fetched",
    "Got",
    "fetch_image",
    "fetch_page",
    "fetch_public",
    "public_session",
    "sniff_image",
]

MAX_REDIRECTS = 3

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_IMAGE_ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/gif;q=0.9,*/*;q=0.1"


class _AddressRefused(FetchRefused):
    """Raised from inside urllib3 (connection level): the peer address is not public and not allowed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------------
# The connection-level check and the total deadline
# --------------------------------------------------------------------------------------------------


class _Deadline:
    """Cuts the connections of one fetch at its total deadline, whatever urllib3 is blocked in.

    Socket timeouts bound each ``recv`` only; a server dripping a byte at a time never trips them. So the
    connections a fetch uses register here, and a timer shuts them down (``shutdown(SHUT_RDWR)`` wakes a
    blocked ``recv`` in another thread) when the deadline passes. We keep our own duplicate of each socket's
    file descriptor: TLS wrapping detaches the original socket object, and the duplicate is only ever
    shut down or closed by us, so it cannot hit a file descriptor that was reused by someone else.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._done = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def passed(self) -> bool:
        """The deadline has come, whether or not the timer has run yet: a read timeout set to the
        time that remained fires at the same instant, and on a busy machine it may come first."""
        return self.expired or time.monotonic() >= self._end - 0.01

    def watch(self, sock: socket.socket) -> None:
        try:
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        except OSError:
            return
        with self._lock:
            if self._done:
                dup.close()
                return
            self._socks.append(dup)
            if self.expired:
                _shutdown(dup)

    def forget(self) -> None:
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            s.close()

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
        self.forget()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for s in self._socks:
                _shutdown(s)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_DEADLINE: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar("syndicate_fetch_deadline", default=None)


def _watch(sock: socket.socket | None) -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and sock is not None:
        deadline.watch(sock)


def _check_peer(sock: socket.socket, host: str, port: int, rules: Allow) -> None:
    """Close ``sock`` and raise unless the address it is connected to is public or ``host`` is allowed."""
    try:
        peer = str(sock.getpeername()[0])
    except OSError:
        sock.close()
        raise _AddressRefused(f"cannot tell which address {host} connected to; {ALLOW_HINT}") from None
    why = why_not_public(peer)
    if why is None or is_allowed(host, port, rules):
        return
    sock.close()
    try:
        same = normalize_host(host) == normalize_host(peer)
    except ValueError:
        same = False
    what = f"{peer} is {why}" if same else f"{host} is {peer}, {why}"
    raise _AddressRefused(f"{what}; {ALLOW_HINT}")


class _CheckedHTTPConnection(HTTPConnection):
    allow_rules: ClassVar[Allow] = frozenset()

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # TCP connect to whatever the name resolves to right now
        _check_peer(sock, self.host, self.port, self.allow_rules)  # before anything is sent
        _watch(sock)
        return sock

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as in urllib3
        _watch(self.sock)  # also covers a kept-alive connection that was not created by this fetch
        return super().getresponse()


class _CheckedHTTPSConnection(HTTPSConnection):
    allow_rules: ClassVar[Allow] = frozenset()

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # plain TCP; the TLS handshake happens after this returns
        _check_peer(sock, self.host, self.port, self.allow_rules)
        _watch(sock)
        return sock

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as in urllib3
        _watch(self.sock)
        return super().getresponse()


class _PublicAdapter(HTTPAdapter):
    """An adapter whose urllib3 pools create only peer-checked connections, and never use a proxy."""

    # Pickled along with HTTPAdapter's attributes, and restored before __setstate__ calls init_poolmanager.
    __attrs__ = [*HTTPAdapter.__attrs__, "_allow_rules"]  # noqa: RUF012

    def __init__(self, allow: Allow) -> None:
        self._allow_rules = allow  # read by init_poolmanager, which HTTPAdapter.__init__ calls
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        rules = self._allow_rules

        class Connection(_CheckedHTTPConnection):
            allow_rules = rules

        class SecureConnection(_CheckedHTTPSConnection):
            allow_rules = rules

        class Pool(HTTPConnectionPool):
            ConnectionCls = Connection

        class SecurePool(HTTPSConnectionPool):
            ConnectionCls = SecureConnection

        self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": SecurePool}

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if request.url and "@" in urlsplit(request.url).netloc:
            raise FetchRefused(f"{_show(request.url)}: URLs with a user name or password are not fetched")
        # No proxy, ever: a proxy would be the peer, hiding the address actually fetched from.
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies={})


def public_session(allow: frozenset[str] = frozenset(), user_agent: str = "syndicate") -> requests.Session:
    """A session that connects only to public addresses, except for the hosts in ``allow``.

    ``allow`` entries are host names or IP addresses as written in URLs, compared case-insensitively and
    exactly (no wildcards, no subdomains; a trailing dot is ignored; non-ASCII names are compared in their
    IDNA form): ``"media.lan"`` allows every port of that host, ``"media.lan:8080"`` only that port (the
    URL's port, 80/443 when none is written), ``"[fd00::1]:8080"`` for IPv6. A name is not its address:
    allowing ``127.0.0.1`` does not allow ``localhost``. Raises ValueError for a malformed entry.

    The session ignores the environment (no proxies, no ``.netrc``, no CA bundle variables), never uses a
    proxy, follows at most 3 redirects, and asks for uncompressed bodies. Each connection's peer address is
    checked after connecting, so every request made with it (and every redirect hop) is covered; use
    :func:`fetch_image` for downloads, which also bounds size and time.
    """
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = MAX_REDIRECTS
    session.headers["User-Agent"] = user_agent
    session.headers["Accept-Encoding"] = "identity"
    adapter = _PublicAdapter(parse_allow(allow))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --------------------------------------------------------------------------------------------------
# fetch_image
# --------------------------------------------------------------------------------------------------


def _show(url: str) -> str:
    """The URL for a message: one line, user info redacted, at most 200 characters."""
    try:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            url = urlunsplit(parts._replace(netloc="…@" + parts.netloc.rpartition("@")[2]))
    except ValueError:
        pass
    url = "".join(c if c.isprintable() else "?" for c in url)
    return url if len(url) <= 200 else url[:199] + "…"


def _check_url(url: str, where: str) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise FetchRefused(f"{where}: not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        what = f"{scheme}:" if scheme else "a relative URL"
        raise FetchRefused(f"{where}: only http and https URLs are fetched, not {what}")
    if "@" in parts.netloc:
        raise FetchRefused(f"{where}: URLs with a user name or password are not fetched")
    if not host:
        raise FetchRefused(f"{where}: the URL has no host")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (causes, contexts, urllib3's ``reason``, exceptions in ``args``)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        nested = [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
        stack.extend(x for x in nested if isinstance(x, BaseException))


def _reason(exc: BaseException, deadline: _Deadline, timeout: float) -> str:
    """A short, secret-free reason for a requests/urllib3/socket failure."""
    if deadline.passed():
        return f"timed out (the download took more than {timeout:g} s)"
    chain = list(_causes(exc))

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    # Order matters: urllib3's NameResolutionError < NewConnectionError < ConnectTimeoutError.
    if has(urllib3.exceptions.NameResolutionError, socket.gaierror):
        return "cannot resolve the host name"
    if has(ConnectionRefusedError):
        return "cannot connect (connection refused)"
    if has(urllib3.exceptions.NewConnectionError):
        return "cannot connect"
    if has(requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError):
        return "timed out connecting"
    if has(requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return "timed out waiting for the server"
    if has(requests.exceptions.SSLError, urllib3.exceptions.SSLError):
        for e in chain:
            if isinstance(e, ssl.SSLError) and e.reason:
                return f"TLS failed ({e.reason})"
        return "TLS failed"
    if has(
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.IncompleteRead,
        requests.exceptions.ChunkedEncodingError,
        ConnectionError,
    ):
        return "the connection broke during the download"
    if has(requests.exceptions.InvalidURL, urllib3.exceptions.LocationParseError, ValueError):
        return "not a valid URL"
    if has(requests.exceptions.ConnectionError):
        return "cannot connect"
    return f"the download failed ({type(exc).__name__})"


def _read_body(resp: requests.Response, where: str, max_bytes: int, deadline: _Deadline, timeout: float) -> bytes:
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    decoder: Any = None  # zlib's decompressor type has no public name
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(wbits=31)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding not in ("", "identity"):
        raise FetchRefused(f"{where}: unsupported Content-Encoding {encoding[:40]!r}")
    length = resp.headers.get("Content-Length", "").strip()
    if length.isdigit() and int(length) > max_bytes:
        raise FetchRefused(f"{where}: too large ({int(length)} bytes, the limit is {max_bytes})")

    raw = cast(BaseHTTPResponse, resp.raw)
    body = bytearray()
    while True:
        # read1 returns what one recv brought, so size and deadline are checked as bytes trickle in.
        chunk = raw.read1(_CHUNK, decode_content=False)
        if deadline.expired:
            raise FetchRefused(f"{where}: {_reason(TimeoutError(), deadline, timeout)}")
        if not chunk:
            break
        if decoder is not None:
            # Never inflate past the limit: max_length caps the output, leftover input means "too large".
            try:
                chunk = decoder.decompress(chunk, max_bytes + 1 - len(body))
            except zlib.error:
                raise FetchRefused(f"{where}: the compressed response is corrupt") from None
        body += chunk
        if len(body) > max_bytes:
            raise FetchRefused(f"{where}: too large (more than {max_bytes} bytes)")
    if decoder is not None and not decoder.eof:
        raise FetchRefused(f"{where}: the compressed response is truncated")
    return bytes(body)


def _require_public(session: requests.Session, url: str) -> None:
    try:
        adapter = session.get_adapter(url)
    except requests.exceptions.InvalidSchema:
        adapter = None
    if not isinstance(adapter, _PublicAdapter):
        raise ValueError("fetch_image needs a session made by syndicate.deliver.fetch.public_session()")


def fetch_image(session: requests.Session, url: str, *, max_bytes: int, timeout: float) -> Fetched:
    """Download the image at ``url`` through a :func:`public_session`, within ``max_bytes`` and ``timeout`` s.

    ``timeout`` is the total for everything (connecting, each redirect hop, headers and body) except name
    resolution. Redirects (at most 3) are followed here, each hop checked like the first; redirect bodies are
    not read. Raises :class:`FetchRefused` for any refusal or failure, ValueError for a session that is not
    a public session.
    """
    got = _fetch(session, url, {"Accept": _IMAGE_ACCEPT}, max_bytes, timeout)
    mime_type = sniff_image(got.body)
    if mime_type is None:
        raise FetchRefused(f"{got.where}: not an image (JPEG, PNG, GIF, WebP or AVIF)")
    return Fetched(got.body, mime_type)


@dataclass(frozen=True)
class Got:
    """What a GET brought: the status (200, or 304 to a conditional GET), the ETag, the body
    (decoded: as the file was before any Content-Encoding), and the URL as messages show it."""

    status: int
    etag: str
    body: bytes
    where: str
    url: str = ""  # where the body came from: the last hop of the redirects
    link: str = ""  # its Link header (several joined by commas)


def fetch_public(
    session: requests.Session, url: str, *, max_bytes: int, timeout: float, etag: str | None = None
) -> Got:
    """GET ``url`` as :func:`fetch_image` does (a :func:`public_session`, the same bounds and
    redirect rules), any type of body; with ``etag``, conditionally (``If-None-Match``: a 304
    says the server's current bytes are those). Raises :class:`FetchRefused`."""
    return _fetch(session, url, {"If-None-Match": f'"{etag}"'} if etag else {}, max_bytes, timeout)


def fetch_page(session: requests.Session, url: str, *, max_bytes: int, timeout: float) -> Got:
    """GET a page as :func:`fetch_public` does, for what it says about itself: its final URL, its
    Link header, and its body when it is HTML (anything else is not read: b"")."""
    return _fetch(session, url, {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"}, max_bytes, timeout, True)


def _fetch(
    session: requests.Session,
    url: str,
    headers: dict[str, str],
    max_bytes: int,
    timeout: float,
    html_only: bool = False,
) -> Got:
    shown = _show(url)
    deadline_at = time.monotonic() + timeout
    deadline = _Deadline(timeout)
    token = _DEADLINE.set(deadline)
    try:
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            where = shown if hop == 0 else f"{shown} (redirected to {_show(current)})"
            _check_url(current, where)
            _require_public(session, current)
            remaining = deadline_at - time.monotonic()
            if remaining <= 0 or deadline.expired:
                raise FetchRefused(f"{where}: {_reason(TimeoutError(), deadline, timeout)}")
            try:
                resp = session.get(
                    current,
                    stream=True,
                    allow_redirects=False,
                    timeout=(remaining, remaining),
                    headers={**headers, "Accept-Encoding": "identity"},
                )
            except _AddressRefused as e:
                raise FetchRefused(f"{where}: {e.reason}") from e
            except FetchRefused:
                raise
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as e:
                raise FetchRefused(f"{where}: {_reason(e, deadline, timeout)}") from e
            try:
                if resp.status_code in _REDIRECT_STATUSES:
                    location = resp.headers.get("Location", "").strip()
                    if not location:
                        raise FetchRefused(f"{where}: HTTP {resp.status_code} without a Location")
                    current = urljoin(current, location)
                    continue
                etag = resp.headers.get("ETag", "").strip().removeprefix("W/").strip('"')
                if resp.status_code == 304 and "If-None-Match" in headers:
                    return Got(304, etag, b"", where)
                if resp.status_code != 200:
                    raise FetchRefused(f"{where}: HTTP {resp.status_code}")
                link = resp.headers.get("Link", "")
                kind = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if html_only and kind not in ("text/html", "application/xhtml+xml"):
                    return Got(200, etag, b"", where, current, link)
                try:
                    data = _read_body(resp, where, max_bytes, deadline, timeout)
                except FetchRefused:
                    raise
                except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as e:
                    raise FetchRefused(f"{where}: {_reason(e, deadline, timeout)}") from e
            finally:
                resp.close()  # closes the connection unless fully read: no unread bytes go back to the pool
                deadline.forget()
            if deadline.expired:
                raise FetchRefused(f"{where}: {_reason(TimeoutError(), deadline, timeout)}")
            return Got(200, etag, data, where, current, link)
        raise FetchRefused(f"{shown}: more than {MAX_REDIRECTS} redirects")
    finally:
        deadline.stop()
        _DEADLINE.reset(token)
