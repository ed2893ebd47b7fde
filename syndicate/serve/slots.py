"""`syndicate host`'s cycle slots: how many sites build or deliver at once, taken in turn.

A site's cycle takes a slot and gives it back when it ends. The slots are handed out in the
order they were asked for (a plain semaphore wakes any waiter, and a busy site could take its
slot back before a site that has waited longer), and a site that has delivered for more than
``TURN`` seconds while others wait stops after the delivery in flight and asks again, at the back
of the line: a site with a backfill of two thousand posts delays another site's new post by one
turn, not by two thousand sends.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType

TURN = 1.0  # seconds a cycle delivers while other sites wait before it gives its slot up


class Slots:
    """``n`` slots, first come first served (see the module)."""

    def __init__(self, n: int) -> None:
        self._free = max(1, n)
        self._queue: deque[object] = deque()
        self._cv = threading.Condition()

    def __enter__(self) -> None:
        ticket = object()
        with self._cv:
            self._queue.append(ticket)
            self._cv.wait_for(lambda: self._free > 0 and self._queue[0] is ticket)
            self._queue.popleft()
            self._free -= 1
            self._cv.notify_all()  # the next in line may have a slot too

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        with self._cv:
            self._free += 1
            self._cv.notify_all()

    def waiting(self) -> int:
        """Sites waiting for a slot now."""
        with self._cv:
            return len(self._queue)
