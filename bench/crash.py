"""Break `syndicate publish` on purpose, many times, and count what arrived at the real peers.

    python bench/crash.py                        # every scenario at full size
    python bench/crash.py --scenario burst --burst-posts 500 --burst-kills 12
    python bench/crash.py --scenario chaos --chaos-runs 80
    python bench/crash.py --scenario kills --kills 40
    python bench/crash.py --scenario lifecycle --life-rounds 40
    python bench/crash.py --scenario vanish --vanish-rounds 30
    python bench/crash.py --scenario chat --chat-rounds 40

Scenarios (tests/test_crash.py; a real webhook receiver, mastodon-mock and a Bluesky PDS on
127.0.0.1, installed by `bash .ci/peers/install.sh`; chaos needs `faketime` from apt):

- kills: a few new posts per run, each run SIGKILLed at a random point;
- burst: hundreds of new posts at once, the long run SIGKILLed at random points;
- chaos: SIGKILLs, the clock stepped back (an hour, 950 days) and forth (libfaketime), deleted
  lock files, a second publisher started beside the first, Mastodon answering 503, 429 or
  too late and the webhook receiver answering 503, 429 or 500;
- lifecycle: SIGKILLs while new posts, edits of their titles, deletions and restorations are in
  flight (Mastodon edits in place, Bluesky reposts): every live post ends with one status and
  one record showing its latest title, every deleted post with none;
- vanish: post files moved away for a moment and back while runs deliver (some runs start with
  a file away, some are SIGKILLed), with `[delivery] delete_after = 60`: 0 deletions, 0 copies
  posted again, 0 duplicates;
- chat (tests/test_crash_chat.py: the Discord and Telegram fakes of tests/fakes): SIGKILLs amid
  publishes, edits, deletions and restorations; a send a kill lost is held, counted apart, and sent
  again only where the channel lacks it (as `status` asks): 0 duplicates, 0 lost, 0 stale.

Each ends with `syndicate retry` + `publish` until nothing is open, then counts per peer:
posts, deliveries, duplicates and losses (both must be 0, or the scenario fails). Kills, chaos,
lifecycle and vanish run twice, the ledger in SQLite and in PostgreSQL (Debian's PostgreSQL 15,
started by the tests), at the same size: their counts print as `kills` and `kills_postgres`.
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
TESTS = {
    "kills": "test_sigkill_at_random_points_never_loses_or_doubles_a_post",
    "burst": "test_a_burst_of_new_posts_under_sigkill_arrives_once_everywhere",
    "chaos": "test_chaos_of_kills_clock_steps_stolen_locks_and_flaky_targets_ends_with_each_post_once",
    "lifecycle": "test_kills_while_edits_and_deletions_are_in_flight_leave_one_status_with_the_latest_text",
    "vanish": "test_post_files_that_vanish_and_come_back_during_delivery_delete_nothing_and_post_nothing_twice",
    "chat": "test_kills_amid_discord_and_telegram_deliveries_leave_each_post_once_and_lost_sends_held_apart",
}
FILES = {"chat": "tests/test_crash_chat.py"}  # the others: tests/test_crash.py


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=[*TESTS, "all"], default="all")
    parser.add_argument("--kills", type=int, default=40, help="kills: runs to kill (default 40)")
    parser.add_argument("--burst-posts", type=int, default=500, help="burst: new posts at once (default 500)")
    parser.add_argument("--burst-kills", type=int, default=10, help="burst: kills during the burst (default 10)")
    parser.add_argument("--chaos-runs", type=int, default=60, help="chaos: runs (default 60)")
    parser.add_argument("--life-rounds", type=int, default=40, help="lifecycle: rounds (default 40)")
    parser.add_argument("--vanish-rounds", type=int, default=30, help="vanish: rounds (default 30)")
    parser.add_argument("--chat-rounds", type=int, default=40, help="chat: rounds (default 40)")
    parser.add_argument("--seed", type=int, default=7, help="random seed for kill times, clocks and faults")
    args = parser.parse_args()
    chosen = list(TESTS) if args.scenario == "all" else [args.scenario]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "crash.json"
        env = {
            **os.environ,
            "SYNDICATE_CRASH_KILLS": str(args.kills),
            "SYNDICATE_CRASH_BURST_POSTS": str(args.burst_posts),
            "SYNDICATE_CRASH_BURST_KILLS": str(args.burst_kills),
            "SYNDICATE_CRASH_CHAOS_RUNS": str(args.chaos_runs),
            "SYNDICATE_CRASH_LIFE_ROUNDS": str(args.life_rounds),
            "SYNDICATE_CRASH_VANISH_ROUNDS": str(args.vanish_rounds),
            "SYNDICATE_CRASH_CHAT_ROUNDS": str(args.chat_rounds),
            "SYNDICATE_CRASH_SEED": str(args.seed),
            "SYNDICATE_CRASH_REPORT": str(report),
        }
        selection = " or ".join(TESTS[name] for name in chosen)
        files = sorted({FILES.get(name, "tests/test_crash.py") for name in chosen})
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files, "-k", selection]
        result = subprocess.run(cmd, cwd=REPO, env=env, timeout=4 * 3600)
        summary = json.loads(report.read_text()) if report.exists() else {}
    for name in [n for c in chosen for n in (c, f"{c}_postgres") if n == c or n in summary]:
        print(f"\n{name}")
        for key, value in summary.get(name, {"result": "FAILED (see the pytest output above)"}).items():
            print(f"  {key:<32} {value}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
