"""Lanes to a rate-limited server: an origin that answered 429 makes every delivery to it wait
(from any site and, on PostgreSQL, any host: the store keeps it), and how that is said, the same
way by `publish` and `status`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..core.model import Settings
from ..core.origins import target_origin
from ..core.planning import Delivery
from .store import Store

DEFAULT_WAIT = 60.0  # seconds an origin waits after a 429 that said nothing and whose delivery is not retried


@dataclass
class Lanes:
    """The throttles the store holds as a run starts, and those it records during the run."""

    store: Store
    settings: Settings
    until: dict[str, datetime] = field(default_factory=dict)  # origin → until when it waits
    _origins: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def read(cls, store: Store, settings: Settings, now: datetime) -> Lanes:
        return cls(store, settings, store.throttles(now))

    def origin(self, target: str) -> str | None:
        if target not in self._origins:
            self._origins[target] = target_origin(self.settings, target)
        return self._origins[target]

    def waits(self, d: Delivery, now: datetime) -> tuple[str, datetime] | None:
        """(origin, until) when ``d``'s origin is throttled at ``now``; None when it may go."""
        origin = self.origin(d.target)
        until = self.until.get(origin) if origin is not None else None
        return (origin, until) if origin is not None and until is not None and until > now else None

    def due_at(self, d: Delivery, when: datetime) -> datetime:
        """When ``d``, due at ``when`` by its own retry times, may go: not before its origin's throttle."""
        origin = self.origin(d.target)
        until = self.until.get(origin) if origin is not None else None
        return max(when, until) if until is not None else when

    def told(self, target: str, seconds: float, now: datetime) -> None:
        """A delivery to ``target`` was answered 429: its origin waits ``seconds`` (kept in the store)."""
        origin = self.origin(target)
        if origin is not None:
            self.until[origin] = self.store.throttle(origin, seconds, now)


def throttle_line(origin: str, until: datetime, count: int) -> str:
    """One line for an origin that asked us to slow down, and the deliveries that wait for it."""
    waits = f"{count} delivery to it waits" if count == 1 else f"{count} deliveries to it wait"
    return (
        f"{origin} asked to slow down (HTTP 429): {waits} until {until:%Y-%m-%d %H:%M:%S} UTC"
        " (not counted as attempts; for every site that sends there)"
    )
