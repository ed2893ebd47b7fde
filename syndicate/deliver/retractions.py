"""How a retraction that waits is said, the same way by `publish`, `status` and the daemon's log:
the post, where from, when, and (held by the guard) the numbers and the ways on."""

from __future__ import annotations

from collections.abc import Sequence

from ..core.planning import EVERY_TARGET, Retraction

SHOWN_RETRACTIONS = 5  # posts named in a line about retractions; the rest are counted


def retraction(r: Retraction) -> str:
    """One retraction as people read it: the post, where from, and when."""
    where = "every target" if r.target == EVERY_TARGET else r.target
    return f"{r.title or r.url} ({r.url}) from {where}, due {r.due:%Y-%m-%d %H:%M:%S} UTC"


def retraction_list(rows: Sequence[Retraction]) -> str:
    """The first few retractions, one per indented line, and how many more."""
    lines = [f"\n  {retraction(r)}" for r in sorted(rows, key=lambda r: (r.due, r.url, r.target))]
    more = len(lines) - SHOWN_RETRACTIONS
    return "".join(lines[:SHOWN_RETRACTIONS]) + (f"\n  … and {more} more" if more > 0 else "")


def waiting_line(rows: Sequence[Retraction]) -> str:
    """The retractions still inside their window."""
    return f"retractions waiting (nothing is deleted if the post comes back first):{retraction_list(rows)}"


def held_line(held: Sequence[Retraction], live: int, limit: int, percent: int) -> str:
    """What the guard says when it holds retractions, with the numbers and the ways on."""
    posts = len({r.post_id for r in held})
    return (
        f"{posts} post{'' if posts == 1 else 's'} would be retracted at once (copies deleted, receivers"
        f" told), of the {live} the ledger knows live: more than {limit} ([delivery]"
        f" max_retractions_percent = {percent}, at least 5), so none was:{retraction_list(held)}\n"
        "if they are really gone, run `syndicate publish --allow-deletions`; if not (a branch switched,"
        " a folder not mounted, a wrong [content] dir), put them back: nothing is deleted meanwhile"
    )
