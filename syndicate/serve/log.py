"""One line per event, for people (default) or machines (``--log-format json``).

Every message passes through a redactor first, so a secret can never reach the log.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO


class EventLog:
    """The daemon's log: one event per line (``event`` and message, for people, or JSON), every
    line redacted of secrets before it is written."""

    def __init__(
        self,
        fmt: str = "human",
        stream: TextIO | None = None,
        redact: Callable[[str], str] = lambda s: s,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if fmt not in ("human", "json"):
            raise ValueError(f"log format must be human or json, not {fmt!r}")
        self.fmt = fmt
        self.stream = stream or sys.stderr
        self.redact = redact
        self.clock = clock
        self._lock = threading.Lock()
        self.site = ""  # `host`: the site the events are of, shown first

    def for_site(self, name: str) -> EventLog:
        """The same log, each event marked with the site it is of (`host` holds many)."""
        view = copy.copy(self)
        view.site = name
        return view

    def event(self, kind: str, message: str, **fields: Any) -> None:
        when = self.clock()
        message = self.redact(message)
        if self.fmt == "json":
            record = {"ts": when.isoformat(timespec="milliseconds"), "event": kind, "message": message}
            if self.site:
                record["site"] = self.site
            record.update({k: self.redact(v) if isinstance(v, str) else v for k, v in fields.items()})
            line = json.dumps(record, ensure_ascii=False, default=str)
        else:
            site = f"{self.site}: " if self.site else ""
            line = f"{when:%Y-%m-%d %H:%M:%S} {kind:<9} {site}{message}"
        with self._lock:
            print(line, file=self.stream, flush=True)
