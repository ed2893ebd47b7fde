"""How `syndicate run` serves feeds, measured beside nginx serving the same folder, in one run.

    python bench/serve.py [--seconds 8] [--connections 16]
    python bench/serve.py --load-only [--load-connections 1000 --load-seconds 10]

Needs wrk (apt: wrk); nginx (apt: nginx-light) for the ratio, else the ratio is left out.
Builds a copy of the sample site, starts `syndicate run` on it and nginx (one worker, etag on)
on its output folder, then measures with wrk:

- requests/s for a feed (200) and with its ETag (304), and the ratio to nginx (goal ≥ 10 %);
- one keep-alive connection (wrk -c1): requests/s and mean latency (no ~40 ms Nagle stall);
- 1,000 connections at once for 10 s (issue 23's row): requests, errors (socket errors and
  answers other than 2xx/3xx), timeouts (wrk --timeout 2s, its default) and requests/s beside
  nginx's (goal: 0 errors, 0 timeouts, ≥ 20 % of nginx);
- 200 connections that send half a request and stop: how long until the server closes them
  (goal ≤ 30 s), and whether it still answers meanwhile.

From another script (bench/build.py): ``load_row()`` starts both servers, measures the row and
returns it as a dict (see its docstring); ``format_load_row(row)`` prints it as the issue names it.

wrk counts a timeout per connection and per check (every 2 s) while that connection's request
is older than --timeout: one connection stuck for 10 s counts 4 or 5 times.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOAD_CONNECTIONS = 1000
LOAD_SECONDS = 10
LOAD_TIMEOUT = 2  # seconds before wrk calls a request a timeout (its default)
LOAD_GOAL = 0.20  # of nginx's requests/s
# The row as issue 23's table names it: (column, key in load_row's dict).
LOAD_COLUMNS = (
    ("connections", "connections"),
    ("seconds", "seconds"),
    ("requests", "requests"),
    ("errors", "errors"),
    ("timeouts", "timeouts"),
    ("requests/s", "requests_per_s"),
    ("% of nginx", "pct_of_nginx"),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def wait_answering(port: int, path: str = "/feed.xml", timeout: float = 600) -> None:
    """Until the server answers ``path`` with 200 (the daemon listens before its first cycle ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"127.0.0.1:{port}{path} did not answer 200 within {timeout:.0f} s")


def wrk(
    url: str, seconds: int, connections: int, headers: dict[str, str] | None = None, timeout: int = 2
) -> dict[str, float]:
    threads = "-t2" if connections > 1 else "-t1"
    cmd = ["wrk", threads, f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout}s", "--latency", url]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = re.search(r"Latency\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = float(lat.group(1)) * scale[lat.group(2)] if lat else float("nan")
    socket_errors = {k: int(n) for k, n in re.findall(r"(connect|read|write|timeout) (\d+)", out)}
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    return {
        "rps": rps,
        "requests": int(requests.group(1)) if requests else 0,
        "latency_ms": latency,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "errors": sum(socket_errors.values()),
        "socket_errors": sum(n for k, n in socket_errors.items() if k != "timeout"),
        "timeouts": socket_errors.get("timeout", 0),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def wait_idle(pid: int, timeout: float = 600) -> None:
    """Until the process has used under 5 % of a core for a second (the daemon's catch-up cycle
    after it starts serving is done), so the load is measured on a daemon at rest."""
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    deadline = time.monotonic() + timeout
    before = cpu()
    while time.monotonic() < deadline:
        time.sleep(1)
        now = cpu()
        if now - before < 0.05:
            return
        before = now


@dataclass
class Servers:
    """`syndicate run` and, when installed, nginx (one worker) on the same output folder."""

    syndicate: int  # ports
    nginx: int | None
    daemon_log: Path  # the daemon's stderr

    def url(self, name: str, path: str = "/feed.xml") -> str:
        return f"http://127.0.0.1:{getattr(self, name)}{path}"

    def log(self) -> str:
        return self.daemon_log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def servers(site: Path, path: str = "/feed.xml") -> Iterator[Servers]:
    """Start `syndicate run` in ``site`` (a folder with config/ and content/; the daemon builds
    its public/) and nginx on its output folder; both answer ``path`` when this yields."""
    port = free_port()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    nginx = None
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "daemon.err", "w") as err:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "run", "--port", str(port)], cwd=site, env=env, stderr=err
        )
        try:
            wait_port(port)
            wait_answering(port, path)
            wait_idle(daemon.pid)
            nport = None
            if shutil.which("nginx"):
                nport = free_port()
                conf = Path(tmp) / "nginx.conf"
                conf.write_text(
                    f"worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx.err;\n"
                    "events { worker_connections 4096; }\n"
                    f"http {{ access_log off; server {{ listen 127.0.0.1:{nport} backlog=2048;"
                    f" root {site / 'public'}; etag on; }} }}\n"
                )
                nginx = subprocess.Popen(["nginx", "-c", str(conf)])
                wait_port(nport)
                wait_answering(nport, path, timeout=20)
            yield Servers(port, nport, Path(tmp) / "daemon.err")
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
            if nginx is not None:
                nginx.terminate()
                nginx.wait(timeout=10)


def measure_load(
    running: Servers,
    connections: int = LOAD_CONNECTIONS,
    seconds: int = LOAD_SECONDS,
    path: str = "/feed.xml",
    timeout: int = LOAD_TIMEOUT,
) -> dict[str, Any]:
    """Issue 23's row on servers already running: wrk on ours, then on nginx, same settings."""
    ours = wrk(running.url("syndicate", path), seconds, connections, timeout=timeout)
    theirs = wrk(running.url("nginx", path), seconds, connections, timeout=timeout) if running.nginx else None
    return {
        "connections": connections,
        "seconds": seconds,
        "requests": ours["requests"],
        "errors": ours["socket_errors"] + ours["non2xx"],
        "timeouts": ours["timeouts"],
        "requests_per_s": ours["rps"],
        "p99_ms": ours["p99_ms"],
        "nginx_requests_per_s": theirs["rps"] if theirs else None,
        "nginx_errors": theirs["socket_errors"] + theirs["non2xx"] if theirs else None,
        "nginx_timeouts": theirs["timeouts"] if theirs else None,
        "pct_of_nginx": 100 * ours["rps"] / theirs["rps"] if theirs else None,
    }


def load_row(
    connections: int = LOAD_CONNECTIONS,
    seconds: int = LOAD_SECONDS,
    site: Path | None = None,
    path: str = "/feed.xml",
    timeout: int = LOAD_TIMEOUT,
) -> dict[str, Any]:
    """Issue 23's feed-server row, measured now: start `syndicate run` and nginx (one worker) on
    the same output folder, put ``connections`` keep-alive connections on ``path`` for
    ``seconds`` with wrk (2 threads, --timeout ``timeout`` s), ours first, then nginx's.

    ``site``: a site folder (config/ and content/) the daemon may build in; None: a copy of the
    sample site in a temporary folder. Returns ``connections``, ``seconds``, ``requests``,
    ``errors`` (socket errors and answers other than 2xx/3xx), ``timeouts``, ``requests_per_s``,
    ``p99_ms``, ``nginx_requests_per_s``, ``nginx_errors``, ``nginx_timeouts`` and
    ``pct_of_nginx`` (the last four None without nginx); ``met`` says whether the goal is met
    (0 errors, 0 timeouts, ≥ 20 % of nginx)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        if site is None:
            os.chmod(tmp, 0o755)  # nginx's worker (nobody, when started by root) must read the folder
            site = Path(tmp) / "site"
            shutil.copytree(REPO / "content", site / "content")
            shutil.copytree(REPO / "config", site / "config")
        with servers(site, path) as running:
            row = measure_load(running, connections, seconds, path, timeout)
    return {**row, "met": load_met(row)}


def load_met(row: dict[str, Any]) -> bool:
    pct = row["pct_of_nginx"]
    return row["errors"] == 0 and row["timeouts"] == 0 and (pct is None or pct >= 100 * LOAD_GOAL)


def format_load_row(row: dict[str, Any]) -> str:
    """The row under its header, columns as issue 23's table names them."""
    cells = []
    for column, key in LOAD_COLUMNS:
        value = row[key]
        if value is None:
            text = "n/a (no nginx)"
        elif key == "pct_of_nginx":
            text = f"{value:.1f} %"
        elif isinstance(value, float):
            text = f"{value:,.0f}"
        else:
            text = f"{value:,}" if key == "requests" else str(value)
        cells.append((column, text))
    widths = [max(len(c), len(t)) for c, t in cells]
    head = "  ".join(c.ljust(w) for (c, _), w in zip(cells, widths, strict=True))
    line = "  ".join(t.ljust(w) for (_, t), w in zip(cells, widths, strict=True))
    return f"{head.rstrip()}\n{line.rstrip()}"


def slowloris(port: int, count: int, limit: float) -> tuple[float | None, bool]:
    """Open ``count`` connections that send half a request; seconds until all are closed by the
    server (None: not within ``limit``), and whether a normal request is answered meanwhile."""
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /feed.xml HTTP/1.1\r\nHost: bench\r\n")
        s.setblocking(False)
        socks.append(s)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/feed.xml", timeout=5) as r:
            answered = r.status == 200
    except OSError:
        answered = False
    open_ = set(range(count))
    while open_ and time.monotonic() - started < limit:
        for i in list(open_):
            try:
                if socks[i].recv(4096) == b"":
                    open_.discard(i)
            except BlockingIOError:
                pass
            except OSError:
                open_.discard(i)
        time.sleep(0.2)
    took = time.monotonic() - started
    for s in socks:
        s.close()
    return (None if open_ else took), answered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--load-connections", type=int, default=LOAD_CONNECTIONS)
    parser.add_argument("--load-seconds", type=int, default=LOAD_SECONDS)
    parser.add_argument("--load-only", action="store_true", help="only issue 23's row (1,000 connections)")
    parser.add_argument("--slowloris", type=int, default=200)
    parser.add_argument("--report-only", action="store_true", help="exit 0 even when a goal is missed (CI)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    if args.load_only:
        row = load_row(args.load_connections, args.load_seconds)
        print(format_load_row(row))
        return 0 if row["met"] or args.report_only else 1
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # nginx's worker (nobody, when started by root) must read the folder
        site = Path(tmp) / "site"
        shutil.copytree(REPO / "content", site / "content")
        shutil.copytree(REPO / "config", site / "config")
        with servers(site) as running:
            load = measure_load(running, args.load_connections, args.load_seconds)
            results: dict[str, dict[str, dict[str, float]]] = {}
            for name in ("syndicate", "nginx") if running.nginx else ("syndicate",):
                url = running.url(name)
                with urllib.request.urlopen(url, timeout=5) as r:
                    etag = r.headers["ETag"]
                results[name] = {
                    "200": wrk(url, args.seconds, args.connections),
                    "304": wrk(url, args.seconds, args.connections, {"If-None-Match": etag}),
                    "keepalive": wrk(url, max(3, args.seconds // 2), 1),
                }
            closed_after, answered = slowloris(running.syndicate, args.slowloris, 45)
            err = running.log()
    ours = results["syndicate"]
    theirs = results.get("nginx")

    def ratio(kind: str) -> str:
        return f"{ours[kind]['rps'] / theirs[kind]['rps']:.1%}" if theirs else "n/a (no nginx)"

    pct = load["pct_of_nginx"]
    rows = [
        ("measure", "syndicate", "nginx", "goal", "met"),
        (
            f"200 req/s ({args.connections} connections)",
            f"{ours['200']['rps']:,.0f}",
            f"{theirs['200']['rps']:,.0f}" if theirs else "-",
            "≥ 10 % of nginx",
            f"{ratio('200')} {'yes' if not theirs or ours['200']['rps'] >= 0.1 * theirs['200']['rps'] else 'NO'}",
        ),
        (
            "304 req/s (If-None-Match)",
            f"{ours['304']['rps']:,.0f}",
            f"{theirs['304']['rps']:,.0f}" if theirs else "-",
            "≥ 10 % of nginx",
            f"{ratio('304')} {'yes' if not theirs or ours['304']['rps'] >= 0.1 * theirs['304']['rps'] else 'NO'}",
        ),
        (
            "one keep-alive connection",
            f"{ours['keepalive']['rps']:,.0f}/s, {ours['keepalive']['latency_ms']:.2f} ms",
            f"{theirs['keepalive']['rps']:,.0f}/s" if theirs else "-",
            "no stall (< 5 ms)",
            "yes" if ours["keepalive"]["latency_ms"] < 5 else "NO",
        ),
        (
            f"{args.load_connections:,} connections, {args.load_seconds} s",
            f"{load['requests_per_s']:,.0f}/s, {load['errors']} errors, {load['timeouts']} timeouts",
            f"{load['nginx_requests_per_s']:,.0f}/s, {load['nginx_errors']} errors, {load['nginx_timeouts']} timeouts"
            if running.nginx
            else "-",
            f"0 errors, 0 timeouts, ≥ {LOAD_GOAL * 100:.0f} % of nginx",
            f"{'n/a' if pct is None else f'{pct:.1f} %'} {'yes' if load_met(load) else 'NO'}",
        ),
        (
            f"{args.slowloris} half-sent requests",
            f"closed after {closed_after:.1f} s" if closed_after is not None else "still open after 45 s",
            "-",
            "closed ≤ 30 s, still serving",
            "yes" if closed_after is not None and closed_after <= 31 and answered else "NO",
        ),
        (
            "tracebacks in the daemon's log",
            str(err.count("Traceback")),
            "-",
            "0",
            "yes" if "Traceback" not in err else "NO",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print()
    print(format_load_row(load))
    met = all(r[4].split()[-1] == "yes" for r in rows[1:])
    return 0 if met or args.report_only else 1


if __name__ == "__main__":
    sys.exit(main())
