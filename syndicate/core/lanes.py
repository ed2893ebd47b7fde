"""A site's lanes (site × target), as operations see them: how many deliveries in each state, the
oldest one that is due, and how many are late. Pure: the ledger's one aggregate query
(:meth:`syndicate.deliver.store.Store.tally`) gives the :class:`Tally` rows, read at ``now`` with a
cutoff for "late"; `syndicate status --store` and the daemon's ``/metrics`` both read them here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

# What `status --store` shows (and /metrics reports) of each lane, in this order; the others
# (baseline, skipped) only with --all.
SHOWN_STATES = ("sent", "pending", "sending", "failed", "dead", "held")  # held: a lost send, waiting for a person
EVERY_STATE = (*SHOWN_STATES, "baseline", "skipped")


@dataclass(frozen=True)
class Tally:
    """One group of the ledger's aggregate: the deliveries of one target in one state."""

    target: str
    state: str
    count: int
    oldest_due: datetime | None = None  # open states only: when the earliest one that is due now became due
    late: int = 0  # open deliveries due before the cutoff


@dataclass(frozen=True)
class Lane:
    """One target of one site: its deliveries by state, the oldest due and how many are late."""

    target: str
    counts: dict[str, int] = field(default_factory=dict)
    oldest_due: datetime | None = None
    late: int = 0

    def count(self, state: str) -> int:
        return self.counts.get(state, 0)


def lanes(tallies: Iterable[Tally]) -> list[Lane]:
    """The tallies of one site gathered per target, sorted by target."""
    counts: dict[str, dict[str, int]] = {}
    oldest: dict[str, datetime] = {}
    late: dict[str, int] = {}
    for t in tallies:
        lane = counts.setdefault(t.target, {})
        lane[t.state] = lane.get(t.state, 0) + t.count
        if t.oldest_due is not None:
            was = oldest.get(t.target)
            oldest[t.target] = t.oldest_due if was is None else min(was, t.oldest_due)
        late[t.target] = late.get(t.target, 0) + t.late
    return [Lane(target, counts[target], oldest.get(target), late.get(target, 0)) for target in sorted(counts)]


def waited(lane: Lane, now: datetime) -> float:
    """Seconds the lane's oldest due delivery has waited at ``now`` (0 when none is due)."""
    if lane.oldest_due is None:
        return 0.0
    return max(0.0, (now - lane.oldest_due).total_seconds())
