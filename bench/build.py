"""Benchmark `syndicate build` and `syndicate run` on a synthetic site, against Hugo.

    python bench/build.py                  # 10,000 posts, 500 tags, 3 runs: the goals of issue #5
    python bench/build.py --posts 1000 --tags 200 --runs 5 [--seed 1] [--renderer markdown]

The site comes from bench/gensite.py (or bench/out/site-N-T-S when that folder exists; pass
--save-site to create it). It is copied into a temporary folder, so the benchmark never
changes it. Every measurement runs in a fresh child process (`python -m syndicate build`),
timed from spawn to exit, its peak memory sampled with its worker processes (bench/procmem.py):

    startup              `python -m syndicate --version`: interpreter + imports only
    cold, --no-cache     no .syndicate/, no output folder, cache off
    cold, fills cache    no .syndicate/, no output folder, cache on (a first build)
    rebuild, no change   cache warm, output present, nothing touched
    rebuild, 1 edited    one sentence appended to the newest post, then build

    daemon: save → disk  `syndicate run` on the site; a new post saved, until the three files of
                         the site feed and of its tag hold it (bench/latency.py)

Every build must exit 0, print nothing on stderr and publish all N posts; otherwise the
benchmark stops with exit code 1. If `hugo` is on PATH the same content is also built with
the minimal Hugo site in bench/hugo-site/ (RSS only, site + one per tag, 20 items each).
The last table holds the goals of issue #5 and whether each is met.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gensite
from procmem import PeakMemory

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HUGO_SITE = BENCH / "hugo-site"
SAVED_SITES = BENCH / "out"

_BUILT = re.compile(r"^built (\d+) feeds \((\d+) files\) from (\d+) published posts? in ", re.MULTILINE)
_WRITTEN = re.compile(r": (\d+) written, (\d+) unchanged", re.MULTILINE)
_DATE = re.compile(r"^date: *(\S+)", re.MULTILINE)


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


def run_child(cmd: Sequence[str], cwd: Path, timeout: float) -> Child:
    """Run ``cmd`` to completion; wall time, CPU time (of that process) and peak memory (with its workers)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        sampler = PeakMemory(proc.pid).start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            tree_mb = sampler.stop()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    # ru_maxrss is in KiB on Linux and in bytes on macOS
    peak = usage.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else usage.ru_maxrss / 1024
    peak = max(peak, tree_mb)
    if proc.returncode < 0 and seconds >= timeout:
        stderr += f"\n(killed after {timeout:.0f} s)\n"
    return Child(tuple(cmd), proc.returncode, seconds, usage.ru_utime + usage.ru_stime, peak, stdout, stderr)


def prepare_site(work: Path, posts: int, tags: int, seed: int, *, save: bool) -> tuple[Path, str]:
    """The site to build, in ``work``; and where it came from."""
    name = f"site-{posts}-{tags}-{seed}"
    saved = SAVED_SITES / name
    site = work / "site"
    if not saved.is_dir() and save:
        gensite.generate(saved, posts, tags, seed)
    if saved.is_dir():
        found = len(list((saved / "content").glob("*.md")))
        if found != posts or not (saved / "config" / "syndicate.toml").is_file():
            raise BenchError(f"{saved} has {found} posts, not {posts}, or no config; delete it to regenerate")
        shutil.copytree(saved, site, ignore=shutil.ignore_patterns(".syndicate", "public"))
        return site, f"copied from {saved.relative_to(REPO)}"
    started = time.perf_counter()
    gensite.generate(site, posts, tags, seed)
    return site, f"generated in {time.perf_counter() - started:.1f} s"


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
    def __init__(self, site: Path, out: Path, posts: int, timeout: float) -> None:
        self.site, self.out, self.posts, self.timeout = site, out, posts, timeout
        self.feeds = 0

    def version(self) -> Child:
        child = run_child([sys.executable, "-m", "syndicate", "--version"], REPO, self.timeout)
        if child.returncode != 0:
            raise BenchError("`python -m syndicate --version` failed\n" + child.describe())
        return child

    def build(self, *extra: str) -> tuple[Child, int]:
        """One build; the child and how many files it wrote. Anything unexpected raises."""
        cmd = [
            sys.executable,
            "-m",
            "syndicate",
            "build",
            "--site",
            str(self.site),
            "--out",
            str(self.out),
            *extra,
        ]
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


def measure_syndicate(site: Path, out: Path, posts: int, runs: int, timeout: float) -> tuple[list[Measure], int]:
    """The five syndicate measures, and how many feeds the site has."""
    tool = Syndicate(site, out, posts, timeout)
    startup = Measure("startup (--version)")
    cold = Measure("cold, --no-cache")
    fill = Measure("cold, fills cache")
    same = Measure("rebuild, no change")
    edit = Measure("rebuild, 1 post edited")
    edited = newest_post(site)
    for run in range(runs):
        startup.add(tool.version())
        for measure, extra in ((cold, ("--no-cache",)), (fill, ())):
            reset(site, out)
            measure.add(*tool.build(*extra))
        child, written = tool.build()
        if written:
            raise BenchError(f"a rebuild with nothing changed wrote {written} files\n" + child.describe())
        same.add(child, written)
        with edited.open("a", encoding="utf-8", newline="\n") as f:
            f.write(f"\nOne more sentence, added by the benchmark (run {run + 1}).\n")
        child, written = tool.build()
        if not written:
            raise BenchError(f"editing {edited.name} changed no output file\n" + child.describe())
        edit.add(child, written)
    return [startup, cold, fill, same, edit], tool.feeds


def hugo_version(hugo: str) -> str:
    done = subprocess.run([hugo, "version"], capture_output=True, text=True, check=False)
    return done.stdout.strip().split(" BuildDate")[0] or "hugo (unknown version)"


def measure_hugo(hugo: str, content: Path, work: Path, runs: int, timeout: float) -> tuple[Measure, int]:
    """Hugo builds of the same content; the measure and how many RSS feeds it wrote."""
    site = work / "hugo-site"  # a copy: Hugo writes .hugo_build.lock and resources/ into its site
    shutil.copytree(HUGO_SITE, site)
    out = work / "hugo-out"
    cmd = [
        hugo,
        "--quiet",
        "-s",
        str(site),
        "--contentDir",
        str(content),
        "-d",
        str(out),
        "--baseURL",
        gensite.SITE_URL,
    ]
    measure = Measure("hugo (cold)")
    for _ in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        child = run_child(cmd, work, timeout)
        if child.returncode != 0:
            raise BenchError("the Hugo build failed\n" + child.describe())
        measure.add(child)
    return measure, sum(1 for _ in out.rglob("index.xml"))


def print_table(measures: Sequence[Measure]) -> None:
    header = f"{'measure':<24} {'median s':>9} {'min':>7} {'max':>7} {'peak MB':>8} {'cpu s':>7} {'written':>8}"
    print(header)
    print("-" * len(header))
    for m in measures:
        secs = [c.seconds for c in m.runs]
        cpu = statistics.median(c.cpu for c in m.runs)
        peak = max(c.peak_mb for c in m.runs)
        written = f"{statistics.median(m.written):.0f}" if m.written else "-"
        print(
            f"{m.name:<24} {statistics.median(secs):>9.3f} {min(secs):>7.3f} {max(secs):>7.3f} "
            f"{peak:>8.1f} {cpu:>7.2f} {written:>8}"
        )


def measure_daemon(site: Path, work: Path, posts: int, runs: int) -> dict[str, Any]:
    """`syndicate run` on a copy of the site (cache and feeds from the builds above): saves → disk."""
    import latency

    copy = work / "daemon-site"
    shutil.copytree(site, copy, ignore=shutil.ignore_patterns("public"))
    return latency.measure_site(copy, "synthetic", posts, max(runs, 5))


def print_goals(
    posts: int, tags: int, measures: Sequence[Measure], hugo: Measure | None, daemon: dict[str, Any] | None
) -> None:
    """The goals of issue #5, measured here, and whether each is met."""
    by = {m.name: m for m in measures}
    cold = max(by["cold, --no-cache"].median(), by["cold, fills cache"].median())
    peaks = [max(c.peak_mb for c in m.runs) for m in measures[1:]]
    rows = [
        (
            "cold build (fresh process, no cache)",
            f"{cold:.2f} s" + (f" = {cold / hugo.median():.2f}× Hugo" if hugo else ""),
            f"≤ Hugo ({hugo.median():.2f} s)" if hugo else "≤ Hugo (not installed)",
            "yes" if hugo and cold <= hugo.median() else "no" if hugo else "?",
        ),
        (
            "rebuild, nothing changed",
            f"{by['rebuild, no change'].median():.2f} s",
            "≤ 0.5 s",
            "yes" if by["rebuild, no change"].median() <= 0.5 else "no",
        ),
    ]
    if daemon is not None:
        disk = statistics.median(daemon["disk"]) * 1000
        rows.append(
            ("one post saved → feeds on disk (daemon)", f"{disk:.0f} ms", "≤ 100 ms", "yes" if disk <= 100 else "no")
        )
        peaks.append(daemon["peak_mb"])
    peak = max(peaks)
    rows.append(("peak memory, any of the above", f"{peak:.0f} MB", "≤ 500 MB", "yes" if peak <= 500 else "no"))
    print(f"\nGoals ({posts} posts, {tags} tags, 20 items per feed, full content, RSS + Atom + JSON Feed):")
    table = [("measure", "measured", "goal", "met"), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for name, measured, goal, met in table:
        print(f"  {name:<{widths[0]}}  {measured:<{widths[1]}}  {goal:<{widths[2]}}  {met}")


def profile_cold_build(site: Path, out: Path, top: int) -> None:
    """One cold build under cProfile (not timed); the top functions by cumulative time."""
    import pstats

    reset(site, out)
    stats_file = site.parent / "cold.prof"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "syndicate", "build"]
    subprocess.run(
        [*cmd, "--site", str(site), "--out", str(out), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if not stats_file.exists():
        raise BenchError("the profiled build wrote no statistics")
    print(f"\ncProfile of one cold build (--no-cache), top {top} by cumulative time:")
    stats = pstats.Stats(str(stats_file), stream=sys.stdout)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    print(f"top {top} by own time:")
    stats.sort_stats("tottime").print_stats(top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark `syndicate build` on a synthetic site (see bench/build.py).",
    )
    parser.add_argument("--posts", type=int, default=10_000, metavar="N", help="posts in the site (default 10000)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measure (default 3)")
    parser.add_argument("--tags", type=int, default=500, metavar="T", help="distinct tags (default 500)")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    parser.add_argument("--save-site", action="store_true", help="keep the generated site in bench/out/ for reuse")
    parser.add_argument("--no-hugo", action="store_true", help="skip the Hugo comparison")
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
        help="seconds before a build is killed (default 900)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder and print its path")
    parser.add_argument(
        "--renderer",
        choices=["cmark", "markdown"],
        default="cmark",
        help="the site's [content] renderer (default cmark; markdown is Python-Markdown)",
    )
    parser.add_argument("--no-daemon", action="store_true", help="skip the daemon's save → disk measure")
    args = parser.parse_args(argv)
    if args.posts < 1 or args.tags < 1 or args.runs < 1:
        parser.error("--posts, --tags and --runs must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    try:
        site, origin = prepare_site(work, args.posts, args.tags, args.seed, save=args.save_site)
        if args.renderer != "cmark":
            config = site / "config" / "syndicate.toml"
            config.write_text(config.read_text() + f'\n[content]\nrenderer = "{args.renderer}"\n')
            origin += f", renderer {args.renderer}"
        out = work / "public"
        print(
            f"syndicate build: {args.posts} posts, {args.tags} tags, seed {args.seed}, "
            f"{args.runs} run(s); site {origin}\n"
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}\n",
            flush=True,
        )
        measures, feeds = measure_syndicate(site, out, args.posts, args.runs, args.timeout)
        daemon = None if args.no_daemon else measure_daemon(site, work, args.posts, args.runs)
        hugo = None if args.no_hugo else shutil.which("hugo")
        yardstick = None
        if hugo is None:
            print_table(measures)
            print(f"\nsyndicate: {feeds} feeds × RSS, Atom and JSON Feed")
            if not args.no_hugo:
                print("hugo: not on PATH, no comparison (apt-get install hugo)")
        else:
            yardstick, hugo_feeds = measure_hugo(hugo, site / "content", work, args.runs, args.timeout)
            print_table([*measures, yardstick])
            print(f"\nsyndicate: {feeds} feeds × RSS, Atom and JSON Feed")
            print(f"hugo: {hugo_version(hugo)}; {hugo_feeds} feeds × RSS only")
            if hugo_feeds != feeds:
                print("  note: not the same number of feeds, so not quite the same work")
            for m in measures[1:]:
                print(f"  syndicate/hugo, {m.name + ':':<24} {m.median() / yardstick.median():6.2f}×")
        if daemon is not None:
            ms = [v * 1000 for v in daemon["disk"]]
            hook = [v * 1000 for v in daemon["webhook"]]
            print(
                f"\ndaemon (`syndicate run`, {len(ms)} saves): save → feeds on disk median"
                f" {statistics.median(ms):.0f} ms"
                f" ({min(ms):.0f}–{max(ms):.0f}); save → webhook received {statistics.median(hook):.0f} ms;"
                f" peak {daemon['peak_mb']:.0f} MB"
            )
        print_goals(args.posts, args.tags, measures, yardstick, daemon)
        if args.profile:
            profile_cold_build(site, out, args.profile)
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
