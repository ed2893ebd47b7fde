"""Kill `syndicate publish` with SIGKILL many times while it delivers, and count what arrived.

    python bench/crash.py --kills 120 [--seed 7]

Runs tests/test_crash.py (real webhook receiver, mastodon-mock and Bluesky PDS on 127.0.0.1;
install them with `bash .ci/peers/install.sh`) with many kills, and prints its counts: posts,
kills, kills that interrupted a delivery in flight, what each receiver got, duplicates, losses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=120, help="how many runs to kill (default 120)")
    parser.add_argument("--seed", type=int, default=7, help="random seed for kill times and post batches")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "crash.json"
        env = {
            **os.environ,
            "SYNDICATE_CRASH_KILLS": str(args.kills),
            "SYNDICATE_CRASH_SEED": str(args.seed),
            "SYNDICATE_CRASH_REPORT": str(report),
        }
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_crash.py"]
        result = subprocess.run(cmd, cwd=REPO, env=env, timeout=3600)
        if result.returncode != 0 or not report.exists():
            print("CRASH BENCHMARK FAILED: see the pytest output above", file=sys.stderr)
            return 1
        summary = json.loads(report.read_text())
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
