"""The `syndicate` command's entry point: a build that would change nothing is answered from the
stamp the last build left (syndicate/quick.py), before the rest of syndicate is imported;
anything else runs the command line (syndicate/cli)."""

from __future__ import annotations

import sys

from . import quick


def main() -> None:
    code = quick.replay(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    quick.ARGV = sys.argv[1:]  # the full command may leave a stamp for this command line
    try:
        if quick.HINT:  # a rebuild after an edit the stamp named: without loading the command line
            from .cli.plain import build_without_click

            code = build_without_click(sys.argv[1:])
            if code is not None:
                sys.exit(code)
        from .cli.common import main as full

        full()
    finally:
        quick.LSTATS.clear()  # this command's: never a later one's
        quick.HINT.clear()
