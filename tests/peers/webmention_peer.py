"""The real Webmention receiver of INTEROP.md (PyPI ``webmentions[flask,db]``), as a peer:
``python webmention_peer.py PORT DB`` serves on 127.0.0.1:PORT

- ``/page/<name>``: a page of this site, whose ``Link`` header names the endpoint (the library
  adds it to every text response);
- ``POST /webmentions``: the library's endpoint (it fetches the source, checks that it links to
  the target exactly, parses its microformats and stores the mention; a source that answers
  404/410 or no longer links deletes it);
- ``GET /webmentions?resource=<page>&direction=in``: the mentions stored for a page.

Two quirks of the library are handled here (INTEROP.md): its SSRF protection refuses loopback
sources, so it is turned off (this peer only ever listens on 127.0.0.1 and fetches our test
pages); and a source without a published date made it answer 500 (its table wants one), so
``store_webmention`` fills in the time it was received.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from flask import Flask  # type: ignore[import-untyped,import-not-found,unused-ignore]
from webmentions import WebmentionsHandler  # type: ignore[import-untyped,import-not-found,unused-ignore]
from webmentions.server.adapters.flask import bind_webmentions  # type: ignore[import-untyped,import-not-found,unused-ignore]
from webmentions.storage.adapters.db import init_db_storage  # type: ignore[import-untyped,import-not-found,unused-ignore]


def main() -> None:
    port, db = int(sys.argv[1]), sys.argv[2]
    base = f"http://127.0.0.1:{port}"
    storage = init_db_storage(f"sqlite:///{db}")
    store = storage.store_webmention

    def stored(mention: Any) -> Any:
        if mention.published is None:
            mention.published = datetime.now(UTC)
        return store(mention)

    storage.store_webmention = stored
    handler = WebmentionsHandler(storage, base_url=base, ssrf_protection=False, http_timeout=5)
    app = Flask("webmention-peer")
    bind_webmentions(app, handler, "/webmentions")

    @app.get("/page/<name>")
    def page(name: str) -> tuple[str, int, dict[str, str]]:
        return f"<!doctype html><title>{name}</title><p>A page.</p>", 200, {"Content-Type": "text/html"}

    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
