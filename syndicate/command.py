"""The `syndicate` command's entry point: a build that would change nothing is answered from the
stamp the last build left (syndicate/quick.py), before the rest of syndicate is imported;
anything else runs the command line (syndicate/cli)."""

from __future__ import annotations

import gc
import sys

from . import quick


def main() -> None:
    code = quick.replay(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    quick.ARGV = sys.argv[1:]  # the full command may leave a stamp for this command line
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    try:
        if quick.HINT:  # a rebuild after an edit the stamp named: without loading the command line
            # The stamp's names and stats it keeps are never gone over again, and collections
            # wait for 50,000 new objects: 37 of them took 5-10 ms of a 0.2 s rebuild (imports,
            # mostly); a whole build it may turn into still collects (forked workers too).
            gc.freeze()
            gc.set_threshold(50_000, *thresholds[1:])
            from .cli.fast import build_without_click

            code = build_without_click(sys.argv[1:])
            if code is not None:
                sys.exit(code)
        from .cli.common import main as full

        full()
    finally:
        quick.LSTATS.clear()  # this command's: never a later one's
        quick.HINT.clear()
        gc.set_threshold(*thresholds)  # as it was (a test runs commands in its own process)
        if not frozen:
            gc.unfreeze()
