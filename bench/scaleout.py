"""Many `syndicate host` processes on one PostgreSQL, broken on purpose; count what arrived where.

    python bench/scaleout.py                      # 200 sites, 4 hosts, 100 kills, 20 on Bluesky
    python bench/scaleout.py --sites 50 --kills 40 --bluesky-sites 5
    python bench/scaleout.py --logs /tmp/scale-logs   # keep every host's log (one file per start)

The scenario of tests/test_scaleout.py, at full size: S sites, each checked out once per host,
every site sending to a webhook receiver of ours (Standard Webhooks, verified; 5 % 500s, 2 %
applied-then-dropped, 2 % 429s with Retry-After while the faults last) and mastodon-mock, some to
a real Bluesky PDS; H hosts with `--store` on one PostgreSQL and a 3 s lease. First deliveries per
second with 1, 2 and 4 hosts (no faults); then new posts, title edits and deletions written to
every copy while a random host is SIGKILLed and restarted every 0.5–3 s, one is SIGSTOPped for
twice the lease, PostgreSQL restarts (``pg_ctl restart -m immediate``) and one host runs an hour
behind (libfaketime). It needs PostgreSQL 15, the peers (`bash .ci/peers/install.sh`) and faketime.

It prints duplicates and losses (both must be 0, or it fails), zombie writes refused, deliveries
per second, due → sent p50/p99 and the time to resume after a kill.
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
    parser.add_argument("--sites", type=int, default=200, help="sites (default 200)")
    parser.add_argument("--hosts", type=int, default=4, help="syndicate host processes (default 4)")
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs of a random host (default 100)")
    parser.add_argument("--mastodon-sites", type=int, help="sites that also post to mastodon-mock (default: all)")
    parser.add_argument("--bluesky-sites", type=int, default=20, help="sites that also post to the PDS (default 20)")
    parser.add_argument("--rates", default="1,2,4", help="host counts of the throughput phases (default 1,2,4)")
    parser.add_argument("--rate-posts", type=int, default=2, help="new posts per site in each throughput phase")
    parser.add_argument("--write-every", type=float, default=0.2, help="seconds between writes in the chaos")
    parser.add_argument("--lease", type=float, default=3, help="[store] lease in seconds (default 3)")
    parser.add_argument("--settle", type=float, default=600, help="seconds the hosts get to settle (default 600)")
    parser.add_argument("--seed", type=int, default=11, help="random seed for kills, writes and faults")
    parser.add_argument("--logs", help="a folder to keep every host's log in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "scaleout.json"
        env = {
            **os.environ,
            "SYNDICATE_SCALE_SITES": str(args.sites),
            "SYNDICATE_SCALE_HOSTS": str(args.hosts),
            "SYNDICATE_SCALE_KILLS": str(args.kills),
            "SYNDICATE_SCALE_MASTODON_SITES": str(args.sites if args.mastodon_sites is None else args.mastodon_sites),
            "SYNDICATE_SCALE_BLUESKY_SITES": str(args.bluesky_sites),
            "SYNDICATE_SCALE_RATES": args.rates,
            "SYNDICATE_SCALE_RATE_POSTS": str(args.rate_posts),
            "SYNDICATE_SCALE_WRITE_EVERY": str(args.write_every),
            "SYNDICATE_SCALE_LEASE": str(args.lease),
            "SYNDICATE_SCALE_SETTLE": str(args.settle),
            "SYNDICATE_SCALE_SEED": str(args.seed),
            "SYNDICATE_SCALE_REPORT": str(report),
            **({"SYNDICATE_SCALE_LOGS": args.logs} if args.logs else {}),
        }
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_scaleout.py"]
        result = subprocess.run(cmd, cwd=REPO, env=env, timeout=6 * 3600)
        summary = json.loads(report.read_text()) if report.exists() else {}
    print("\nscaleout")
    for key, value in summary.get("scaleout", {"result": "FAILED (see the pytest output above)"}).items():
        print(f"  {key:<40} {json.dumps(value)}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
