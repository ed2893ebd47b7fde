"""`syndicate host` serves many sites on one port: which site a request is for, by its ``Host``
header and the path of each site's feed URL ([feeds] url, else [site] url).

A request goes to the site whose feed URL has the request's host name (the port is not compared:
a reverse proxy in front passes the public name and this port is its own) and the longest path
that begins the request's path, with that path taken off (``https://example.org/blog/`` serves
``/blog/feed.xml`` from the site's ``feed.xml``). A request for no site answers 404, except
``/healthz``, which answers for the whole host (every site and what it is doing), and ``/metrics``
(every site's series, each labelled with its site).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .server import FeedApp, Receive, Scope, Send, ServerState


@dataclass(frozen=True)
class Route:
    name: str  # the site's name (its folder's)
    state: ServerState
    app: FeedApp


def feed_home(state: ServerState) -> tuple[str, str]:
    """(host name, path) of a site's feed URL as its settings say now: lower case, the path with a
    trailing slash."""
    parts = urlsplit(state.settings.feeds_url)
    return (parts.hostname or "").lower(), parts.path.rstrip("/") + "/"


class VirtualHosts:
    """The host's ASGI application: each request handed to the site it is for (see the module)."""

    def __init__(
        self,
        health: Callable[[], tuple[int, dict[str, Any]]],
        metrics: Callable[[str], tuple[str, bytes]] | None = None,
    ) -> None:
        self._routes: tuple[Route, ...] = ()
        self._mx = threading.Lock()
        self.health = health  # (status code, body) of the host's own /healthz
        self.metrics = metrics  # the host's /metrics: Accept → (type, body), every site's series

    def add(self, name: str, state: ServerState) -> None:
        with self._mx:
            self._routes = (*(r for r in self._routes if r.name != name), Route(name, state, FeedApp(state)))

    def remove(self, name: str) -> None:
        with self._mx:
            self._routes = tuple(r for r in self._routes if r.name != name)

    def names(self) -> list[str]:
        return sorted(r.name for r in self._routes)

    def route(self, host: str, path: str) -> tuple[Route, str] | None:
        """The site a request is for and the path within it; None: no site."""
        name = host.strip().lower()
        if name.startswith("["):  # [v6]:port
            name = name[1 : name.find("]")] if "]" in name else name
        else:
            name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
        best: tuple[Route, str] | None = None
        longest = -1
        for route in sorted(self._routes, key=lambda r: r.name):  # the same site first, whatever the order added
            hostname, prefix = feed_home(route.state)
            if hostname != name or len(prefix) <= longest:
                continue
            if path.startswith(prefix) or path + "/" == prefix:
                best, longest = (route, "/" + path[len(prefix) :]), len(prefix)
        return best

    def clashes(self) -> dict[str, str]:
        """Sites that serve nothing because another site (named) has the same feed host and path."""
        seen: dict[tuple[str, str], str] = {}
        out: dict[str, str] = {}
        for route in sorted(self._routes, key=lambda r: r.name):
            home = feed_home(route.state)
            if home in seen:
                out[route.name] = seen[home]
            else:
                seen[home] = route.name
        return out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = dict(scope.get("headers", []))
        host = headers.get(b"host", b"").decode("latin-1")
        raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        path = raw.decode("latin-1")
        found = self.route(host, path)
        if found is None and path.partition("?")[0] == "/metrics" and self.metrics is not None:
            accept = headers.get(b"accept", b"").decode("latin-1")
            kind, body = await asyncio.to_thread(self.metrics, accept)  # the ledgers' tallies: off the loop
            out = [(b"content-type", kind.encode()), (b"cache-control", b"no-store")]
            await send({"type": "http.response.start", "status": 200, "headers": out})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
            return
        if found is None:
            status, body = self._unrouted(path)
            out = [(b"content-type", b"application/json; charset=utf-8" if path == "/healthz" else b"text/plain")]
            out.append((b"cache-control", b"no-store"))
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
            return
        route, rest = found
        await route.app({**scope, "raw_path": rest.encode("latin-1"), "path": rest}, receive, send)

    def _unrouted(self, path: str) -> tuple[int, bytes]:
        if path == "/healthz":
            status, health = self.health()
            return status, (json.dumps(health, sort_keys=True) + "\n").encode()
        return 404, b"no site is served here for this host name: see /healthz for the sites this host serves\n"
