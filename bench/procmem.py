"""Peak memory of a process *and all its descendants* (worker processes too), sampled.

``os.wait4`` reports the peak RSS of one process only; syndicate's cold build forks
workers, so the benchmark samples the whole tree every few milliseconds. Each process
counts by its PSS (proportional set size, Linux ``smaps_rollup``): pages a forked worker
still shares with its parent are split between them, not counted twice. Where PSS is not
available, RSS is used (an over-count).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path


def _parents() -> dict[int, list[int]]:
    """pid → its children's pids, from every /proc/PID/stat (the parent is the 4th field). A process
    that ends meanwhile is skipped (a glob of /proc raised ProcessLookupError and ended the sampler)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{name}/stat", "rb") as f:
                text = f.read()
            ppid = int(text[text.rindex(b")") + 2 :].split()[1])  # after "pid (comm) state"
            children.setdefault(ppid, []).append(int(name))
    return children


def _kib(pid: int) -> int:
    for name, field in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                if line.startswith(field):
                    return int(line.split()[1])
        except (OSError, ValueError):
            continue
    return 0


def tree_kib(pid: int) -> int:
    """Memory of ``pid`` and its descendants now, in KiB (0 if it is gone)."""
    children = _parents()
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += _kib(p)
        todo += children.get(p, [])
    return total


class PeakMemory:
    """Samples a process tree in a thread until :meth:`stop`; ``peak_mb`` is the highest sum seen."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid, self.every = pid, every
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.available = Path(f"/proc/{os.getpid()}/status").exists()

    def start(self) -> PeakMemory:
        if self.available:
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, tree_kib(self.pid))
            self._stop.wait(self.every)

    def stop(self) -> float:
        self._stop.set()
        if self.available:
            self._thread.join()
        return self.peak_mb

    @property
    def peak_mb(self) -> float:
        return self.peak_kib / 1024
