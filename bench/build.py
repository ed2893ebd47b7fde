"""Benchmark syndicate on a synthetic site against Hugo: every goal of issue #23, in one run.

    python bench/build.py                           # 10,000 posts, 500 tags, 3 runs
    python bench/build.py --posts 100000 --tags 5000 [--site-dir /tmp/b100k]
    python bench/build.py --posts 1000 --tags 200 --runs 5 [--seed 1] [--renderer markdown]

The site comes from bench/gensite.py (or bench/out/site-N-T-S when that folder exists; pass
--save-site to create it; or --site-dir DIR, a site gensite.py made before: its content/ and
config/ are copied). Everything runs on a copy in a temporary folder, so the benchmark never
changes its source. With more than 10,000 posts the same run also builds a reference site of
10,000 posts with the same ratio of tags (--reference N), the size of the issue's "10k" rows:
the big site's cold build is judged against it (no superlinear step).

Every build runs in a fresh child process (`python -m syndicate build`), timed from spawn to
exit, its peak memory sampled with its worker processes (bench/procmem.py):

    startup              `python -m syndicate --version`: interpreter + imports only
    cold, --no-cache     no .syndicate/, no output folder, cache off
    cold, fills cache    no .syndicate/, no output folder, cache on (a first build)
    no change, at rest   cache warm, output present, nothing touched, no file changed in the
                         racy window (syndicate/quick.py's RACY_NS, 2 s) before the build that
                         left the stamp: the stamp answers, as for a writer's next build
    rebuild, 1 edited    one sentence appended to the newest post, then build
    no change, just      the same build right after that one: the edit is in the racy
      edited             window, so no stamp was left and the build takes the full check
    baseline: python     `python -c pass`
    baseline: + stat     `python -c` that os.stat()s every file under content/, config/ and the
                         output folder: the floor of a no-change build, measured beside it

and the daemon (`syndicate run`; --no-daemon skips these):

    start to serving     spawn to the first 200 for /feed.xml, cache warm and feeds on disk
    save → disk          a new post saved, until the three files of the site feed and of its
                         tag hold it (bench/latency.py); median, p99 and max of --saves saves
    1,000 connections    wrk -c1000 for --serve-seconds on /feed.xml of the daemon, then of nginx
                         serving the same folder: bench/serve.py's load_row when it has one,
                         else own_thousand_connections below (--no-serve skips it)

Cold builds of sites over 20,000 posts run once (--cold-runs), Hugo's are stopped after
--hugo-timeout seconds (600) and the table says so. Every build must exit 0, print nothing on
stderr and publish all N posts; otherwise the benchmark stops with exit code 1. Everything
listens and connects on 127.0.0.1 only. The last table holds the goals of issue #23, each with
the goal and whether it is met.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gensite
from procmem import PeakMemory

from syndicate.quick import RACY_NS, STAMP

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HUGO_SITE = BENCH / "hugo-site"
SAVED_SITES = BENCH / "out"
HOST = "127.0.0.1"
REFERENCE = 10_000  # the "10k" rows
BIG_COLD = 20_000  # above this many posts a cold build runs once unless --cold-runs says otherwise
SMOKE = 1_000  # below this many posts fewer saves and a shorter wrk (see --saves, --serve-seconds)

_BUILT = re.compile(r"^built (\d+) feeds \((\d+) files\) from (\d+) published posts? in ", re.MULTILINE)
_WRITTEN = re.compile(r": (\d+) written, (\d+) unchanged", re.MULTILINE)
_DATE = re.compile(r"^date: *(\S+)", re.MULTILINE)

# The floor of a no-change build: start Python, stat every file it would have to look at.
STAT_EVERY_FILE = """
import os, sys
def walk(folder):
    n = 0
    with os.scandir(folder) as entries:
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                n += walk(e.path)
            else:
                os.stat(e.path, follow_symlinks=False)
                n += 1
    return n
print(sum(walk(f) for f in sys.argv[1:] if os.path.isdir(f)))
"""


class BenchError(Exception):
    """The benchmark cannot go on: a build failed or produced something unexpected."""


@dataclass(frozen=True)
class Child:
    """One finished child process."""

    cmd: tuple[str, ...]
    returncode: int
    seconds: float  # wall clock, spawn to exit
    cpu: float  # user + system seconds of the child
    peak_mb: float  # peak memory of the child and its worker processes (see bench/procmem.py)
    stdout: str
    stderr: str
    timed_out: bool = False

    def describe(self) -> str:
        return (
            f"command: {' '.join(self.cmd)}\nexit code: {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )


@dataclass
class Measure:
    name: str
    runs: list[Child] = field(default_factory=list)
    written: list[int] = field(default_factory=list)

    def add(self, child: Child, written: int | None = None) -> None:
        self.runs.append(child)
        if written is not None:
            self.written.append(written)
        if sys.stderr.isatty():  # progress for people; CI logs get only the table
            print(f"  {self.name}: {child.seconds:.2f} s", file=sys.stderr, flush=True)

    def median(self) -> float:
        return statistics.median(c.seconds for c in self.runs)

    def peak(self) -> float:
        return max(c.peak_mb for c in self.runs)


def kill_group(pid: int) -> None:
    """SIGKILL a child started in a session of its own, and every process of it (forked workers too)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_child(cmd: Sequence[str], cwd: Path, timeout: float) -> Child:
    """Run ``cmd`` to completion (killed after ``timeout`` s); wall time, CPU time (of that
    process) and peak memory (with its workers)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        killer = threading.Timer(timeout, kill_group, args=(proc.pid,))
        killer.start()
        sampler = PeakMemory(proc.pid).start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: no build left running, its forked workers included
            kill_group(proc.pid)
            raise
        finally:
            killer.cancel()
            tree_mb = sampler.stop()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    # A child's ru_maxrss starts at the RSS of the bench itself (fork and vfork copy the high-water
    # mark, exec keeps it): 130 MB for `python -c pass` once the bench had read 100,000 posts. Only
    # a figure above the bench's own peak is the child's; below it the sampler's figure stands.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss = usage.ru_maxrss if usage.ru_maxrss > own else 0
    # ru_maxrss is in KiB on Linux and in bytes on macOS
    peak = max(rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024, tree_mb)
    timed_out = proc.returncode < 0 and seconds >= timeout
    if timed_out:
        stderr += f"\n(killed after {timeout:.0f} s)\n"
    return Child(tuple(cmd), proc.returncode, seconds, usage.ru_utime + usage.ru_stime, peak, stdout, stderr, timed_out)


def count_posts(site: Path) -> int:
    return sum(1 for _ in (site / "content").glob("*.md"))


def prepare_site(work: Path, name: str, posts: int, tags: int, seed: int, *, save: bool, source: Path | None) -> Path:
    """The site to build, ``work/name``; it says where it came from on stdout."""
    site = work / name
    saved = source or SAVED_SITES / f"site-{posts}-{tags}-{seed}"
    if source is None and not saved.is_dir() and save:
        gensite.generate(saved, posts, tags, seed)
    if saved.is_dir():
        found = count_posts(saved)
        if found != posts or not (saved / "config" / "syndicate.toml").is_file():
            raise BenchError(
                f"{saved} has {found} posts, not {posts}, or no config/syndicate.toml"
                + ("" if source else "; delete it to regenerate")
            )
        started = time.perf_counter()
        for part in ("config", "content"):  # never its cache or its feeds: the run makes its own
            shutil.copytree(saved / part, site / part)
        shown = saved.relative_to(REPO) if saved.is_relative_to(REPO) else saved
        print(f"{posts} posts: copied from {shown} in {time.perf_counter() - started:.1f} s", flush=True)
    elif source is not None:
        raise BenchError(f"--site-dir {source}: no such folder")
    else:
        started = time.perf_counter()
        gensite.generate(site, posts, tags, seed)
        print(f"{posts} posts: generated in {time.perf_counter() - started:.1f} s", flush=True)
    return site


def newest_post(site: Path) -> Path:
    """The post with the latest front-matter date (the one a writer would fix a typo in)."""
    best: tuple[str, Path] | None = None
    for path in sorted((site / "content").glob("*.md")):
        with path.open(encoding="utf-8") as f:
            head = f.read(2048)
        m = _DATE.search(head)
        if m and (best is None or m.group(1) >= best[0]):
            best = (m.group(1), path)
    if best is None:
        raise BenchError(f"no post with a date under {site / 'content'}")
    return best[1]


def reset(site: Path, out: Path) -> None:
    shutil.rmtree(site / ".syndicate", ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)


class Syndicate:
    def __init__(self, site: Path, posts: int, timeout: float) -> None:
        self.site, self.posts, self.timeout = site, posts, timeout
        self.out = site / "public"  # the default output folder: `syndicate run` writes there too
        self.feeds = 0

    def version(self) -> Child:
        child = run_child([sys.executable, "-m", "syndicate", "--version"], REPO, self.timeout)
        if child.returncode != 0:
            raise BenchError("`python -m syndicate --version` failed\n" + child.describe())
        return child

    def build(self, *extra: str) -> tuple[Child, int]:
        """One build; the child and how many files it wrote. Anything unexpected raises."""
        cmd = [sys.executable, "-m", "syndicate", "build", "--site", str(self.site), *extra]
        child = run_child(cmd, REPO, self.timeout)
        if child.returncode != 0:
            raise BenchError("the build failed (the synthetic site must build cleanly)\n" + child.describe())
        if child.stderr.strip():
            raise BenchError(
                "the build printed problems or notes (the synthetic site must have none)\n" + child.describe()
            )
        built, written = _BUILT.search(child.stdout), _WRITTEN.search(child.stdout)
        if built is None or written is None:
            raise BenchError("cannot read the build's summary line\n" + child.describe())
        if int(built.group(3)) != self.posts:
            raise BenchError(f"expected {self.posts} published posts and nothing else\n" + child.describe())
        self.feeds = int(built.group(1))
        return child, int(written.group(1))

    def unchanged(self) -> tuple[Child, int]:
        """A build with nothing changed: it must write nothing."""
        child, written = self.build()
        if written:
            raise BenchError(f"a rebuild with nothing changed wrote {written} files\n" + child.describe())
        return child, written

    def baseline(self) -> tuple[Child, Child, int]:
        """`python -c pass`, and a Python that stats every file of the site; and how many files."""
        bare = run_child([sys.executable, "-c", "pass"], REPO, self.timeout)
        folders = [str(self.site / "content"), str(self.site / "config"), str(self.out)]
        stat = run_child([sys.executable, "-c", STAT_EVERY_FILE, *folders], REPO, self.timeout)
        if bare.returncode != 0 or stat.returncode != 0:
            raise BenchError("the baseline (python -c) failed\n" + bare.describe() + stat.describe())
        return bare, stat, int(stat.stdout.strip() or 0)


@dataclass
class Hugo:
    measure: Measure
    feeds: int
    timed_out: float | None = None  # the timeout, when a build did not finish within it

    def median(self) -> float | None:
        return None if self.timed_out is not None or not self.measure.runs else self.measure.median()


@dataclass
class Tier:
    """One site size and everything measured on it."""

    posts: int
    tags: int
    site: Path
    measures: dict[str, Measure] = field(default_factory=dict)
    files: int = 0  # stat'ed by the baseline
    feeds: int = 0
    hugo: Hugo | None = None
    serving: float | None = None  # daemon spawn → first 200, seconds
    server: dict[str, Any] | None = None  # 1,000 connections (see measure_serving)
    daemon: dict[str, Any] | None = None  # bench/latency.py's answer

    @property
    def out(self) -> Path:
        return self.site / "public"

    def median(self, name: str) -> float:
        return self.measures[name].median()


COLD, FILL, EDIT = "cold, --no-cache", "cold, fills cache", "rebuild, 1 post edited"
SAME, JUST_EDITED = "no change, at rest", "no change, just edited"
BARE, STAT = "baseline: python -c pass", "baseline: + stat all"


def measure_syndicate(tier: Tier, runs: int, cold_runs: int, timeout: float) -> None:
    """Cold builds (``cold_runs`` times), then ``runs`` × (no-change build at rest beside its
    baseline, one post edited, no-change build right after it)."""
    tool = Syndicate(tier.site, tier.posts, timeout)
    names = ["startup (--version)", COLD, FILL, SAME, EDIT, JUST_EDITED, BARE, STAT]
    m = tier.measures = {name: Measure(name) for name in names}
    edited = newest_post(tier.site)
    for _ in range(cold_runs):
        m["startup (--version)"].add(tool.version())
        for name, extra in ((COLD, ("--no-cache",)), (FILL, ())):
            reset(tier.site, tier.out)
            m[name].add(*tool.build(*extra))
    for run in range(runs):
        settle(tier.site)
        tool.unchanged()  # leaves the stamp: no file changed in the racy window before it
        if not (tier.site / STAMP).is_file():
            raise BenchError(f"a build at rest left no {STAMP}: the next no-change build would take the full check")
        bare, stat, tier.files = tool.baseline()
        m[BARE].add(bare)
        m[STAT].add(stat)
        m[SAME].add(*tool.unchanged())
        with edited.open("a", encoding="utf-8", newline="\n") as f:
            f.write(f"\nOne more sentence, added by the benchmark (run {run + 1}).\n")
        child, written = tool.build()
        if not written:
            raise BenchError(f"editing {edited.name} changed no output file\n" + child.describe())
        m[EDIT].add(child, written)
        m[JUST_EDITED].add(*tool.unchanged())
    tier.feeds = tool.feeds


def newest_change(folder: Path) -> int:
    """The latest mtime or ctime (ns) of ``folder`` and everything under it, links not followed."""
    st = os.lstat(folder)
    newest = max(st.st_mtime_ns, st.st_ctime_ns)
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                newest = max(newest, newest_change(Path(entry.path)))
            else:
                st = entry.stat(follow_symlinks=False)
                newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    return newest


def settle(site: Path) -> float:
    """Sleep until every file and folder under the site's content/ and config/ last changed more
    than RACY_NS (syndicate/quick.py) ago, so that the next build leaves a stamp, as it does for
    a writer whose last save is seconds old; the seconds slept."""
    newest = max(newest_change(site / part) for part in ("content", "config"))
    wait = (newest + RACY_NS - time.time_ns()) / 1e9
    if wait <= 0:
        return 0.0
    time.sleep(wait + 0.1)  # file times come from a coarser clock than time.time_ns(): a margin
    return wait + 0.1


def hugo_version(hugo: str) -> str:
    done = subprocess.run([hugo, "version"], capture_output=True, text=True, check=False, timeout=60)
    return done.stdout.strip().split(" BuildDate")[0] or "hugo (unknown version)"


def measure_hugo(hugo: str, tier: Tier, work: Path, runs: int, timeout: float) -> Hugo:
    """Hugo builds of the same content, each stopped after ``timeout`` s (and then no more runs)."""
    site = work / f"hugo-site-{tier.posts}"  # a copy: Hugo writes .hugo_build.lock and resources/ into its site
    shutil.copytree(HUGO_SITE, site)
    out = work / f"hugo-out-{tier.posts}"
    cmd = [hugo, "--quiet", "-s", str(site), "--contentDir", str(tier.site / "content"), "-d", str(out)]
    measure = Measure("hugo (cold)")
    result = Hugo(measure, 0)
    for _ in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        child = run_child([*cmd, "--baseURL", gensite.SITE_URL], work, timeout)
        if child.timed_out:
            result.timed_out = timeout
            measure.name = f"hugo (stopped at {timeout:g} s)"
            measure.runs.append(child)
            break
        if child.returncode != 0:
            raise BenchError("the Hugo build failed\n" + child.describe())
        measure.add(child)
    result.feeds = sum(1 for _ in out.rglob("index.xml"))
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(site, ignore_errors=True)
    return result


# -- the daemon ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def get_status(url: str, timeout: float) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return None


class Daemon:
    """`syndicate run` on a site, its log (JSON lines) in a file; stopped by :meth:`stop`."""

    def __init__(self, site: Path, work: Path, timeout: float) -> None:
        self.port = free_port()
        self.timeout = timeout
        self.log = work / f"daemon-{site.name}-{self.port}.log"
        cmd = [sys.executable, "-m", "syndicate", "run", "--site", str(site), "--host", HOST, "--port", str(self.port)]
        with self.log.open("wb") as log:
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(
                [*cmd, "--log-format", "json"],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.url = f"http://{HOST}:{self.port}/feed.xml"

    def events(self) -> list[str]:
        found = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                found.append(str(json.loads(line).get("event")))
            except (json.JSONDecodeError, AttributeError):
                continue
        return found

    def tail(self) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])

    def until_serving(self) -> float:
        """Seconds from spawn to the first 200 for /feed.xml."""
        while time.perf_counter() - self.started < self.timeout:
            if self.proc.poll() is not None:
                raise BenchError(f"`syndicate run` exited with {self.proc.returncode} before serving\n{self.tail()}")
            if get_status(self.url, timeout=5) == 200:
                return time.perf_counter() - self.started
            time.sleep(0.01)
        raise BenchError(f"`syndicate run` did not serve {self.url} within {self.timeout:.0f} s\n{self.tail()}")

    def until_built(self) -> None:
        """Until the first cycle (the catch-up behind the server) is done."""
        while "built" not in self.events():
            if self.proc.poll() is not None or time.perf_counter() - self.started > self.timeout:
                raise BenchError(f"`syndicate run` did not finish its first build\n{self.tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=min(self.timeout, 300))
            except subprocess.TimeoutExpired:
                kill_group(self.proc.pid)
                self.proc.wait()


def _wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    """wrk -c``connections`` on ``url``: requests/s, requests, socket errors and timeouts, non-2xx/3xx."""
    # --timeout 2s, wrk's default, as bench/serve.py's load_row: a request waiting longer is a timeout
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout=2s", "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ", out)
    if rps is None or total is None:
        raise BenchError(f"cannot read wrk's output:\n{out}")
    socket_errors = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    connect, read, write, timeouts = (int(n) for n in socket_errors.groups()) if socket_errors else (0, 0, 0, 0)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": float(rps.group(1)),
        "requests": int(total.group(1)),
        "errors": connect + read + write,
        "timeouts": timeouts,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
    }


def _nginx(public: Path, work: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    """nginx (one worker, etag on) serving ``public`` on 127.0.0.1, or None without nginx."""
    if shutil.which("nginx") is None:
        return None
    port = free_port()
    folder = work / f"nginx-{port}"
    folder.mkdir()
    conf = folder / "nginx.conf"
    conf.write_text(
        f"worker_processes 1; daemon off; pid {folder}/nginx.pid; error_log {folder}/error.log;\n"
        "events { worker_connections 4096; }\n"
        f"http {{ access_log off; client_body_temp_path {folder}; proxy_temp_path {folder};"
        f" fastcgi_temp_path {folder}; uwsgi_temp_path {folder}; scgi_temp_path {folder};\n"
        f"  server {{ listen {HOST}:{port} backlog=2048; root {public}; etag on; }} }}\n"
    )
    proc = subprocess.Popen(["nginx", "-e", str(folder / "error.log"), "-c", str(conf)], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        if get_status(f"http://{HOST}:{port}/feed.xml", timeout=2) is not None:
            return proc, port
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise BenchError(f"nginx did not answer on {HOST}:{port}: {(folder / 'error.log').read_text(errors='replace')}")


def own_thousand_connections(public: Path, daemon_url: str, work: Path, seconds: int) -> dict[str, Any]:
    """The adapter used while bench/serve.py offers no ``load_row``: wrk -c1000 on the daemon's
    /feed.xml, then on nginx serving the same folder (when installed)."""
    result: dict[str, Any] = {"syndicate": _wrk(daemon_url, seconds, 1000), "nginx": None}
    started = _nginx(public, work)
    if started is not None:
        proc, port = started
        try:
            url = f"http://{HOST}:{port}/feed.xml"
            status = get_status(url, timeout=5)
            if status != 200:  # nginx's worker cannot read the folder: no ratio rather than a wrong one
                result["nginx_note"] = f"nginx answered {status} for /feed.xml"
            else:
                result["nginx"] = _wrk(url, seconds, 1000)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return result


def serve_load_row() -> Callable[..., dict[str, Any]] | None:
    """bench/serve.py's ``load_row(connections, seconds, site=…)`` (issue 23's row, its own daemon
    and nginx on the site), when that version of it is here; None: use :func:`own_thousand_connections`."""
    import serve

    theirs: Callable[..., dict[str, Any]] | None = getattr(serve, "load_row", None)
    if theirs is None or not {"connections", "seconds", "site"} <= set(inspect.signature(theirs).parameters):
        return None
    return theirs


def from_load_row(row: dict[str, Any]) -> dict[str, Any]:
    """serve.load_row's answer in the shape of :func:`own_thousand_connections`'s. Its ``errors``
    are socket errors and answers other than 2xx/3xx together, so they are all counted there."""
    nginx = row.get("nginx_requests_per_s")
    return {
        "syndicate": {
            "rps": float(row["requests_per_s"]),
            "requests": int(row["requests"]),
            "errors": int(row["errors"]),
            "timeouts": int(row["timeouts"]),
            "non2xx": 0,
        },
        "nginx": {"rps": float(nginx)} if nginx else None,
        "source": "bench/serve.py load_row",
    }


def measure_serving(tier: Tier, work: Path, timeout: float, serve_seconds: int | None) -> None:
    """Spawn `syndicate run` on the built site (cache warm, feeds on disk): seconds to the first 200;
    then, with ``serve_seconds``, 1,000 connections: bench/serve.py's ``load_row`` on the site (its
    own daemon, once this one is stopped: two daemons on one site would share its lock), else
    this daemon once its first cycle is done, and nginx beside it."""
    if sys.stderr.isatty():
        print("  daemon: start to serving…", file=sys.stderr, flush=True)
    os.chmod(work, 0o755)  # nginx's worker (nobody, when started by root) must reach the folder
    load_row = serve_load_row() if serve_seconds else None
    daemon = Daemon(tier.site, work, timeout)
    try:
        tier.serving = daemon.until_serving()
        if serve_seconds and load_row is None:
            daemon.until_built()
            if sys.stderr.isatty():
                print(f"  1,000 connections, {serve_seconds} s each…", file=sys.stderr, flush=True)
            tier.server = {
                **own_thousand_connections(tier.out, daemon.url, work, serve_seconds),
                "source": "bench/build.py",
            }
    finally:
        daemon.stop()
    if serve_seconds and load_row is not None:
        if sys.stderr.isatty():
            print(f"  1,000 connections (bench/serve.py), {serve_seconds} s each…", file=sys.stderr, flush=True)
        try:
            tier.server = from_load_row(load_row(connections=1000, seconds=serve_seconds, site=tier.site))
        except SystemExit as e:  # serve.py's way to say a server did not come up
            raise BenchError(f"bench/serve.py: {e}") from None


def measure_saves(tier: Tier, saves: int) -> None:
    """bench/latency.py on the site itself (it adds a webhook target and posts: run it last)."""
    import latency

    if sys.stderr.isatty():
        print(f"  daemon: {saves} saves → disk…", file=sys.stderr, flush=True)
    try:
        tier.daemon = latency.measure_site(tier.site, "synthetic", tier.posts, saves)
    except SystemExit as e:  # latency.py's way to say the daemon failed
        raise BenchError(f"bench/latency.py: {e}") from None


# -- the tables ---------------------------------------------------------------------------------


def print_table(tier: Tier) -> None:
    measures = list(tier.measures.values())
    if tier.hugo is not None:
        measures.append(tier.hugo.measure)
    header = f"{'measure':<26} {'median s':>9} {'min':>7} {'max':>7} {'peak MB':>8} {'cpu s':>7} {'written':>8}"
    print(f"\n{tier.posts} posts, {tier.tags} tags:")
    print(header)
    print("-" * len(header))
    for m in measures:
        if not m.runs:
            continue
        secs = [c.seconds for c in m.runs]
        cpu = statistics.median(c.cpu for c in m.runs)
        written = f"{statistics.median(m.written):.0f}" if m.written else "-"
        print(
            f"{m.name:<26} {statistics.median(secs):>9.3f} {min(secs):>7.3f} {max(secs):>7.3f} "
            f"{m.peak():>8.1f} {cpu:>7.2f} {written:>8}"
        )
    print(f"syndicate: {tier.feeds} feeds × RSS, Atom and JSON Feed; the baseline stats {tier.files} files")
    hugo = tier.hugo
    if hugo is not None:
        if hugo.timed_out is not None:
            print(f"hugo: stopped after {hugo.timed_out:g} s, did not finish: no comparison at this size")
        else:
            print(
                f"hugo: {hugo.feeds} feeds × RSS only" + (" (not the same number)" if hugo.feeds != tier.feeds else "")
            )
    if tier.serving is not None:
        print(f"daemon: spawn → first 200 for /feed.xml {tier.serving:.2f} s")
    if tier.server is not None:
        print(f"1,000 connections: measured by {tier.server['source']}")
    if tier.daemon is not None:
        ms = [v * 1000 for v in tier.daemon["disk"]]
        hook = [v * 1000 for v in tier.daemon["webhook"]]
        print(
            f"daemon: {len(ms)} saves → feeds on disk median {statistics.median(ms):.0f} ms "
            f"({min(ms):.0f}–{max(ms):.0f}); → webhook received {statistics.median(hook):.0f} ms; "
            f"first build {tier.daemon['startup_s']:.1f} s; peak {tier.daemon['peak_mb']:.0f} MB"
            + (f"; serving after {tier.daemon['serving_s']:.1f} s" if tier.daemon.get("serving_s") else "")
            + " (bench/latency.py: a webhook target added to the config)"
        )


def p99(values: Sequence[float]) -> float:
    """The 99th percentile (nearest rank): the maximum below 100 values."""
    ordered = sorted(values)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]


Row = tuple[str, str, str, str]


def _met(ok: bool | None) -> str:
    return "?" if ok is None else "yes" if ok else "no"


def _size(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def small_rows(t: Tier, hugo_wanted: bool) -> list[Row]:
    """The issue's 10k rows, measured on ``t``."""
    size = _size(t.posts)
    cold = max(t.median(COLD), t.median(FILL))
    h = t.hugo.median() if t.hugo else None
    rows: list[Row] = []
    if h is not None:
        rows.append(
            (
                f"{size}/{t.tags} cold build",
                f"{cold:.2f} s = {cold / h:.2f}× Hugo ({h:.2f} s)",
                "≤ 0.5× Hugo",
                _met(cold <= 0.5 * h),
            )
        )
    else:
        why = (
            "Hugo not run"
            if not hugo_wanted
            else "Hugo not on PATH"
            if t.hugo is None
            else f"Hugo did not finish in {t.hugo.timed_out:g} s"
        )
        rows.append((f"{size}/{t.tags} cold build", f"{cold:.2f} s ({why})", "≤ 0.5× Hugo", "?"))
    same = t.median(SAME)
    base = t.median(STAT)
    rows.append(
        (
            f"{size} no-change rebuild (at rest)",
            f"{same:.3f} s = {same / base:.1f}× baseline ({base:.3f} s: python + stat of {t.files} files;"
            f" python -c pass {t.median(BARE):.3f} s)",
            "≤ 0.1 s and ≤ 2× baseline",
            _met(same <= 0.1 and same <= 2 * base),
        )
    )
    rows.append(just_edited_row(f"{size} no-change rebuild", t))
    edit = t.median(EDIT)
    rows.append((f"{size} one post edited", f"{edit:.3f} s", "≤ 0.2 s", _met(edit <= 0.2)))
    if t.daemon is not None:
        ms = [v * 1000 for v in t.daemon["disk"]]
        med, top = statistics.median(ms), p99(ms)
        rows.append(
            (
                f"{size} daemon: save → every affected feed on disk",
                f"median {med:.0f} ms, p99 {top:.0f} ms, max {max(ms):.0f} ms ({len(ms)} saves)",
                "≤ 20 ms median, ≤ 50 ms p99",
                _met(med <= 20 and top <= 50),
            )
        )
    else:
        rows.append(
            (
                f"{size} daemon: save → every affected feed on disk",
                "not measured (--no-daemon)",
                "≤ 20 ms median, ≤ 50 ms p99",
                "?",
            )
        )
    return rows


def just_edited_row(name: str, t: Tier) -> Row:
    """The no-change build right after an edit, beside the one at rest: no goal of its own."""
    return (
        f"{name}, just after an edit",
        f"{t.median(JUST_EDITED):.3f} s (a post saved < {RACY_NS / 1e9:g} s before: no stamp, the full check)",
        "(shown beside the row above)",
        "-",
    )


def large_rows(t: Tier | None, ref: Tier) -> list[Row]:
    """The issue's 100k rows, measured on ``t`` (None: no bigger site in this run)."""
    names = (
        "cold",
        "no-change (at rest)",
        "daemon start to serving (cache warm)",
        "daemon: save → the site's and the tag's feeds on disk",
    )
    goals = (
        "≤ 10× the 10k cold of the same run, ≤ 1 GB",
        "≤ 0.5 s",
        "≤ 3 s",
        "≤ 100 ms median, ≤ 250 ms max",
    )
    if t is None:
        why = "not measured (no bigger site in this run)"
        return [(f"100k {name}", why, goal, "?") for name, goal in zip(names, goals, strict=True)]
    size, scale = _size(t.posts), t.posts / ref.posts
    cold = max(t.median(COLD), t.median(FILL))
    ref_cold = max(ref.median(COLD), ref.median(FILL))
    peak = max(t.measures[n].peak() for n in (COLD, FILL, SAME, EDIT, JUST_EDITED))
    h = t.hugo.median() if t.hugo else None
    hugo = (
        f"; Hugo {h:.1f} s ({cold / h:.2f}×)"
        if h is not None
        else f"; Hugo did not finish in {t.hugo.timed_out:g} s"
        if t.hugo is not None and t.hugo.timed_out is not None
        else ""
    )
    rows: list[Row] = [
        (
            f"{size}/{t.tags} cold",
            f"{cold:.1f} s = {cold / ref_cold:.1f}× the {_size(ref.posts)} cold ({ref_cold:.2f} s),"
            f" peak {peak:.0f} MB{hugo}",
            f"≤ {scale:g}× the {_size(ref.posts)} cold of the same run, ≤ 1 GB",
            _met(cold <= scale * ref_cold and peak <= 1024),
        )
    ]
    same, base = t.median(SAME), t.median(STAT)
    rows.append(
        (
            f"{size} {names[1]}",
            f"{same:.3f} s = {same / base:.1f}× baseline ({base:.3f} s: stat of {t.files} files)",
            goals[1],
            _met(same <= 0.5),
        )
    )
    rows.append(just_edited_row(f"{size} no-change", t))
    if t.serving is not None:
        rows.append((f"{size} {names[2]}", f"{t.serving:.2f} s", goals[2], _met(t.serving <= 3)))
    else:
        rows.append((f"{size} {names[2]}", "not measured (--no-daemon)", goals[2], "?"))
    if t.daemon is not None:
        ms = [v * 1000 for v in t.daemon["disk"]]
        med = statistics.median(ms)
        rows.append(
            (
                f"{size} {names[3]}",
                f"median {med:.0f} ms, p99 {p99(ms):.0f} ms, max {max(ms):.0f} ms ({len(ms)} saves)",
                goals[3],
                _met(med <= 100 and max(ms) <= 250),
            )
        )
    else:
        rows.append((f"{size} {names[3]}", "not measured (--no-daemon)", goals[3], "?"))
    return rows


def server_row(t: Tier | None, seconds: int) -> Row:
    name = "feed server, 1,000 concurrent connections"
    goal = "0 errors, 0 timeouts, ≥ 20 % of nginx"
    if t is None or t.server is None:
        return (name, "not measured (--no-serve or --no-daemon)", goal, "?")
    ours, theirs = t.server["syndicate"], t.server.get("nginx")
    ratio = ours["rps"] / theirs["rps"] if theirs else None
    shown = (
        f"{ours['errors']:.0f} errors, {ours['timeouts']:.0f} timeouts, {ours['non2xx']:.0f} non-2xx"
        f" of {ours['requests']:.0f} in {seconds} s; {ours['rps']:,.0f}/s"
        + (
            f" = {ratio:.0%} of nginx ({theirs['rps']:,.0f}/s)"
            if theirs
            else f" ({t.server.get('nginx_note', 'no nginx')})"
        )
    )
    clean = ours["errors"] == 0 and ours["timeouts"] == 0 and ours["non2xx"] == 0
    return (name, shown, goal, _met(clean and ratio >= 0.2) if ratio is not None else "no" if not clean else "?")


def print_goals(small: Tier, large: Tier | None, hugo_wanted: bool, serve_seconds: int) -> list[Row]:
    """The goals of issue #23, measured here, and whether each is met."""
    rows = [*small_rows(small, hugo_wanted), *large_rows(large, small), server_row(small, serve_seconds)]
    sizes = f"{small.posts} posts, {small.tags} tags" + (
        f" and {large.posts} posts, {large.tags} tags" if large else ""
    )
    print(f"\nGoals of issue #23 ({sizes}; 20 items per feed, full content, RSS + Atom + JSON Feed):")
    table = [("measure", "measured", "goal", "met"), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    for name, measured, goal, met in table:
        print(f"  {name:<{widths[0]}}  {measured:<{widths[1]}}  {goal:<{widths[2]}}  {met}")
    if large is None:
        print(f"  (the 100k rows: --posts 100000 --tags 5000, which measures a {REFERENCE}-post site beside it)")
    return rows


def profile_cold_build(site: Path, top: int) -> None:
    """One cold build under cProfile (not timed); the top functions by cumulative time."""
    import pstats

    reset(site, site / "public")
    stats_file = site.parent / "cold.prof"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "syndicate", "build"]
    subprocess.run([*cmd, "--site", str(site), "--no-cache"], cwd=REPO, capture_output=True, check=False)
    if not stats_file.exists():
        raise BenchError("the profiled build wrote no statistics")
    print(f"\ncProfile of one cold build (--no-cache), top {top} by cumulative time:")
    stats = pstats.Stats(str(stats_file), stream=sys.stdout)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    print(f"top {top} by own time:")
    stats.sort_stats("tottime").print_stats(top)


def run_tier(tier: Tier, args: argparse.Namespace, work: Path, *, serve: bool) -> None:
    """Everything measured on one site, in an order that keeps each measure honest: builds,
    Hugo, the daemon's start on what the builds left, then bench/latency.py (it changes the site)."""
    if args.renderer != "cmark":
        config = tier.site / "config" / "syndicate.toml"
        config.write_text(config.read_text() + f'\n[content]\nrenderer = "{args.renderer}"\n')
    cold_runs = args.cold_runs or (1 if tier.posts > BIG_COLD else args.runs)
    if sys.stderr.isatty():
        print(f"{tier.posts} posts:", file=sys.stderr, flush=True)
    measure_syndicate(tier, args.runs, cold_runs, args.timeout)
    hugo = None if args.no_hugo else shutil.which("hugo")
    if hugo is not None:
        tier.hugo = measure_hugo(hugo, tier, work, cold_runs, min(args.timeout, args.hugo_timeout))
    if not args.no_daemon:
        measure_serving(tier, work, args.timeout, args.serve_seconds if serve else None)
        measure_saves(tier, args.saves)
    print_table(tier)


def compile_package() -> None:
    """Byte-compile syndicate as `pip install` does: with PYTHONDONTWRITEBYTECODE set (some
    machines set it), every child would compile its imports from source, 0.1-0.2 s a start."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "syndicate")], env=env, check=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark syndicate on a synthetic site against Hugo (see bench/build.py).",
    )
    parser.add_argument("--posts", type=int, default=10_000, metavar="N", help="posts in the site (default 10000)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measure (default 3)")
    parser.add_argument("--tags", type=int, default=500, metavar="T", help="distinct tags (default 500)")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    parser.add_argument("--save-site", action="store_true", help="keep the generated site in bench/out/ for reuse")
    parser.add_argument(
        "--site-dir",
        type=Path,
        metavar="DIR",
        help="take the site's content/ and config/ from DIR (made by gensite.py with --posts N) instead of generating",
    )
    parser.add_argument(
        "--reference",
        type=int,
        metavar="R",
        help="also measure an R-post site (same tags ratio) for the issue's 10k rows"
        f" (default {REFERENCE} when --posts is larger; 0: none)",
    )
    parser.add_argument("--no-hugo", action="store_true", help="skip the Hugo comparison")
    parser.add_argument(
        "--hugo-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="stop a Hugo build after S seconds and say so (default 600)",
    )
    parser.add_argument(
        "--cold-runs",
        type=int,
        metavar="K",
        help=f"cold builds per site (default --runs; 1 above {BIG_COLD} posts)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=25,
        default=0,
        metavar="TOP",
        help="also profile one cold build and print the TOP (25) functions",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds before a build (or a daemon's start) is given up (default 900)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder and print its path")
    parser.add_argument(
        "--renderer",
        choices=["cmark", "markdown"],
        default="cmark",
        help="the site's [content] renderer (default cmark; markdown is Python-Markdown)",
    )
    parser.add_argument("--no-daemon", action="store_true", help="skip the daemon's measures (`syndicate run`)")
    parser.add_argument(
        "--saves",
        type=int,
        metavar="K",
        help=f"posts saved for the daemon's save → disk (default 20; 5 below {SMOKE} posts, a smoke run)",
    )
    parser.add_argument("--no-serve", action="store_true", help="skip the 1,000 connections measure")
    parser.add_argument(
        "--serve-seconds",
        type=int,
        metavar="S",
        help=f"wrk's duration for 1,000 connections (default 10; 2 below {SMOKE} posts, a smoke run)",
    )
    args = parser.parse_args(argv)
    smoke = args.posts < SMOKE  # scripts/test runs 50 posts so that the bench cannot rot: quick, not judged
    args.saves = args.saves or (5 if smoke else 20)
    args.serve_seconds = args.serve_seconds or (2 if smoke else 10)
    if args.posts < 1 or args.tags < 1 or args.runs < 1 or args.saves < 1 or args.serve_seconds < 1:
        parser.error("--posts, --tags, --runs, --saves and --serve-seconds must be at least 1")
    if args.cold_runs is not None and args.cold_runs < 1:
        parser.error("--cold-runs must be at least 1")
    reference = args.reference if args.reference is not None else REFERENCE if args.posts > REFERENCE else 0
    if reference < 0 or (reference and reference >= args.posts):
        parser.error("--reference must be smaller than --posts (0: none)")
    serve = not args.no_serve and not args.no_daemon
    if serve and shutil.which("wrk") is None:
        print("wrk is not on PATH (apt-get install wrk): no 1,000 connections measure", flush=True)
        serve = False

    compile_package()
    work = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    try:
        print(
            f"syndicate bench: {args.posts} posts, {args.tags} tags, seed {args.seed}, {args.runs} run(s)"
            + (f", renderer {args.renderer}" if args.renderer != "cmark" else "")
            + f"\n{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}; load {os.getloadavg()[0]:.2f}"
            + (f"; {hugo_version(h)}" if not args.no_hugo and (h := shutil.which("hugo")) else ""),
            flush=True,
        )
        small: Tier | None = None
        if reference:
            ref_tags = max(1, round(args.tags * reference / args.posts))
            site = prepare_site(work, "reference", reference, ref_tags, args.seed, save=args.save_site, source=None)
            small = Tier(reference, ref_tags, site)
            run_tier(small, args, work, serve=serve)
        site = prepare_site(work, "site", args.posts, args.tags, args.seed, save=args.save_site, source=args.site_dir)
        main_tier = Tier(args.posts, args.tags, site)
        run_tier(main_tier, args, work, serve=serve and small is None)
        if small is None:
            print_goals(main_tier, None, not args.no_hugo, args.serve_seconds)
        else:
            print_goals(small, main_tier, not args.no_hugo, args.serve_seconds)
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.profile:
            profile_cold_build(main_tier.site, args.profile)
    except BenchError as e:
        sys.stdout.flush()
        print(f"\nBENCHMARK FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"\nwork folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
