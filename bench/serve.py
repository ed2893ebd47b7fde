"""How `syndicate run` serves feeds, measured beside nginx serving the same folder, in one run.

    python bench/serve.py [--seconds 8] [--connections 16]

Needs wrk (apt: wrk); nginx (apt: nginx-light) for the ratio, else the ratio is left out.
Builds a copy of the sample site, starts `syndicate run` on it and nginx (one worker, etag on)
on its output folder, then measures with wrk:

- requests/s for a feed (200) and with its ETag (304), and the ratio to nginx (goal ≥ 10 %);
- one keep-alive connection (wrk -c1): requests/s and mean latency (no ~40 ms Nagle stall);
- 1,000 connections at once: socket errors, a request timing out after 10 s included (goal 0);
- 200 connections that send half a request and stop: how long until the server closes them
  (goal ≤ 30 s), and whether it still answers meanwhile.
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
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "latency_ms": latency,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "errors": errors,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


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
    parser.add_argument("--slowloris", type=int, default=200)
    parser.add_argument("--report-only", action="store_true", help="exit 0 even when a goal is missed (CI)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # nginx's worker (nobody, when started by root) must read the folder
        site = Path(tmp) / "site"
        shutil.copytree(REPO / "content", site / "content")
        shutil.copytree(REPO / "config", site / "config")
        port = free_port()
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "run", "--port", str(port)],
            cwd=site,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        nginx = None
        try:
            wait_port(port)
            peers = {"syndicate": port}
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
                peers["nginx"] = nport
            results: dict[str, dict[str, dict[str, float]]] = {}
            for name, p in peers.items():
                url = f"http://127.0.0.1:{p}/feed.xml"
                with urllib.request.urlopen(url, timeout=5) as r:
                    etag = r.headers["ETag"]
                results[name] = {
                    "200": wrk(url, args.seconds, args.connections),
                    "304": wrk(url, args.seconds, args.connections, {"If-None-Match": etag}),
                    "keepalive": wrk(url, max(3, args.seconds // 2), 1),
                    # a request may wait its turn behind 999 others: 10 s before wrk calls it an error
                    "c1000": wrk(url, max(3, args.seconds // 2), 1000, timeout=10),
                }
            closed_after, answered = slowloris(port, args.slowloris, 45)
        finally:
            daemon.terminate()
            _, err = daemon.communicate(timeout=60)
            if nginx is not None:
                nginx.terminate()
                nginx.wait(timeout=10)
    ours = results["syndicate"]
    theirs = results.get("nginx")

    def ratio(kind: str) -> str:
        return f"{ours[kind]['rps'] / theirs[kind]['rps']:.1%}" if theirs else "n/a (no nginx)"

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
            "1,000 connections at once",
            f"{ours['c1000']['errors']:.0f} errors, p99 {ours['c1000']['p99_ms']:.0f} ms",
            f"{theirs['c1000']['errors']:.0f} errors" if theirs else "-",
            "0 errors",
            "yes" if ours["c1000"]["errors"] == 0 and ours["c1000"]["non2xx"] == 0 else "NO",
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
    met = all(r[4].split()[-1] == "yes" for r in rows[1:])
    return 0 if met or args.report_only else 1


if __name__ == "__main__":
    sys.exit(main())
