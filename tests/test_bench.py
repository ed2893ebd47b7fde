"""bench/build.py, the benchmark of issue #23, at a tiny size: it prints every goal row, stops
with exit 1 and the build's problem when a build fails, and measures what it says it measures
(a child's memory, not the bench's; a child stopped at its timeout with its workers). No
speed is asserted here: the numbers are the benchmark's to print."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import build as bench  # noqa: E402
import gensite  # noqa: E402

from syndicate import quick  # noqa: E402

QUICK = ["--runs", "1", "--no-hugo", "--no-daemon"]


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(BENCH / "build.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_every_goal_row_is_printed_for_a_site_beside_its_reference() -> None:
    done = run_bench("--posts", "40", "--tags", "8", "--reference", "20", *QUICK)
    assert done.returncode == 0, done.stdout + done.stderr
    goals = done.stdout.split("Goals of issue #23", 1)[1]
    for row in (
        "20/4 cold build",
        "20 no-change rebuild (at rest)",
        "20 no-change rebuild, just after an edit",
        "20 one post edited",
        "20 daemon: save → every affected feed on disk",
        "40/8 cold",
        "40 no-change (at rest)",
        "40 no-change, just after an edit",
        "40 daemon start to serving (cache warm)",
        "40 daemon: save → the site's and the tag's feeds on disk",
        "feed server, 1,000 concurrent connections",
    ):
        assert f"\n  {row} " in goals, f"{row!r} missing from\n{goals}"
    assert "≤ 2× the 20 cold of the same run, ≤ 1 GB" in goals
    assert "× baseline (" in goals


def test_a_failed_build_stops_the_bench_with_exit_1_and_the_problem(tmp_path: Path) -> None:
    gensite.generate(tmp_path / "site", 12, 3, 1)
    broken = sorted((tmp_path / "site" / "content").glob("*.md"))[0]
    broken.write_text("---\ntitle: [unclosed\n---\nbody\n")
    done = run_bench("--posts", "12", "--site-dir", str(tmp_path / "site"), *QUICK)
    assert done.returncode == 1
    assert "BENCHMARK FAILED: the build failed" in done.stderr
    assert f"{broken.name}:" in done.stderr and "error: front matter is not valid YAML" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_childs_peak_memory_is_its_own_not_the_benchs() -> None:
    held = bytearray(300 * 1024 * 1024)  # the bench after reading 100,000 posts, and more
    for i in range(0, len(held), 4096):
        held[i] = 1
    child = bench.run_child([sys.executable, "-c", "pass"], REPO, 60)
    assert child.returncode == 0
    assert child.peak_mb < 100, child.peak_mb  # ru_maxrss alone said 300+ MB
    del held


def test_a_child_stopped_at_its_timeout_takes_its_workers_with_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    child = bench.run_child(["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"], tmp_path, 1.0)
    assert child.timed_out
    worker = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(worker):
        time.sleep(0.05)
    assert not alive(worker), "the worker outlived the timeout"


def alive(pid: int) -> bool:
    """Running, not gone nor a zombie waiting for whichever process reaps orphans here."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_p99_is_the_nearest_rank() -> None:
    assert bench.p99([5.0]) == 5.0
    assert bench.p99([float(n) for n in range(1, 21)]) == 20.0  # fewer than 100 values: the maximum
    assert bench.p99([float(n) for n in range(1, 201)]) == 198.0


def test_settle_waits_until_every_file_is_older_than_the_racy_window(tmp_path: Path) -> None:
    """The no-change build at rest is measured after a build that left a stamp, which no file
    changed in the racy window before it allows."""
    for part in ("content", "config"):
        (tmp_path / part).mkdir()
    (tmp_path / "content" / "old.md").write_text("old\n", encoding="utf-8")
    past = time.time_ns() - 10 * quick.RACY_NS
    for path in (tmp_path / "content" / "old.md", tmp_path / "content", tmp_path / "config"):
        os.utime(path, ns=(past, past))  # mtime only: ctime stays now, as after a copy
    started = time.monotonic()
    bench.settle(tmp_path)
    assert time.monotonic() - started >= quick.RACY_NS / 1e9 - 0.5
    assert bench.newest_change(tmp_path / "content") < time.time_ns() - quick.RACY_NS
    started = time.monotonic()
    assert bench.settle(tmp_path) == 0.0 and time.monotonic() - started < 1
