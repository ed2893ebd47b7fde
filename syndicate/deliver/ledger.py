"""The site's ledger as a whole: where it lives, whether it is the one the site published with,
and which moment it vouches for.

A site that has published leaves a *mark* outside its ledger: ``.syndicate/published.json``
and ``.syndicate-ledger.json`` at the top of the output folder, each holding the ledger's id,
its generation (which grows with every run that changed the ledger) and the date of the
newest post it announced. If the ledger is then missing, empty, another one, or older than
the mark (restored from a backup), delivering would silently skip posts (a fresh ledger
records everything as baseline) or send them twice (an old one has forgotten what went
out), so `publish` and `run` stop with :class:`LedgerLostError` and say how to go on.

The ledger also vouches for time: a post it has seen live stays live although the clock
steps back (:func:`announced_until`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..core.model import Links, Settings
from ..errors import LedgerLostError, StoreError
from ..files import new_temp

if TYPE_CHECKING:  # the store (and the planner it holds deliveries in) loads when a ledger is there
    from contextlib import AbstractContextManager

    from .store import LedgerIdentity, Store

T = TypeVar("T")

SITE_MARK = Path(".syndicate") / "published.json"
OUTPUT_MARK = ".syndicate-ledger.json"


def state_path(site_dir: Path, settings: Settings) -> Path:
    path = Path(settings.state_path)
    return path if path.is_absolute() else site_dir / path


class Place:
    """Where a site's ledger is: a SQLite file (:class:`SQLitePlace`), or a site's rows in a
    PostgreSQL database (:class:`PostgresPlace`, with ``[store] url``). ``shown``: how messages
    name it (a URL never with its password)."""

    @property
    def shown(self) -> str:
        raise NotImplementedError

    def exists(self) -> bool:
        """Whether the ledger is there (a file; the site's ledger id in the database)."""
        raise NotImplementedError

    def lock(self) -> AbstractContextManager[int | None]:
        """Hold the site's delivery lock (LockedError at once when another process does); yields
        the fencing token to open the store with (None for SQLite, whose lock is on the file)."""
        raise NotImplementedError

    def open(self, *, readonly: bool = False, token: int | None = None) -> Store:
        raise NotImplementedError

    def identity(self) -> LedgerIdentity:
        """The identity of the ledger here, read and closed again (StoreError)."""
        store = self.open(readonly=True)
        try:
            return store.identity()
        finally:
            store.close()

    def check(self, existed: bool, identity: LedgerIdentity, marks: list[Mark]) -> None:
        """:func:`check` for the ledger here."""
        check(self.shown, existed, identity, marks)


@dataclass(frozen=True)
class SQLitePlace(Place):
    path: Path

    @property
    def shown(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.is_file()

    def lock(self) -> AbstractContextManager[int | None]:
        from .store import lock

        return lock(self.path)

    def open(self, *, readonly: bool = False, token: int | None = None) -> Store:
        from .sqlite_store import SQLiteStore

        return SQLiteStore(self.path, readonly=readonly)


@dataclass(frozen=True)
class PostgresPlace(Place):
    url: str
    password_env: str
    site: str
    sqlite: Path  # the SQLite ledger the site would have without [store]

    def check(self, existed: bool, identity: LedgerIdentity, marks: list[Mark]) -> None:
        """A site that published with its SQLite file and gained a [store] section without moving
        the file there is told to move it (a --rebaseline would forget what the file knows)."""
        if not existed and marks and self.sqlite.is_file():
            raise LedgerLostError(
                f"the delivery ledger {self.shown} holds nothing of this site, but this site has published"
                f" with the SQLite ledger {self.sqlite}: copy it there first with `syndicate store migrate --to"
                f" {self.url}` (nothing was sent), or remove [store] to go on with the file"
            )
        check(self.shown, existed, identity, marks)

    @property
    def shown(self) -> str:
        from .postgres_store import where_of

        return where_of(self.url, self.site)

    def password(self) -> str | None:
        from .postgres_store import password_of

        return password_of(self.password_env)

    def exists(self) -> bool:
        from .postgres_store import exists

        return exists(self.url, self.password(), self.site)

    def lock(self) -> AbstractContextManager[int | None]:
        from .postgres_store import site_lock

        return site_lock(self.url, self.password(), self.site)

    def open(self, *, readonly: bool = False, token: int | None = None) -> Store:
        from .postgres_store import PostgresStore

        return PostgresStore(self.url, self.password(), self.site, readonly=readonly, token=token)


# `syndicate run` holds the ledger it started with (the SQLite file's lock, or a lease on the
# [store]); a config that names another one since is not delivered with until it restarts.
STORE_CHANGED = (
    "the config names another delivery ledger than the one this `syndicate run` started with ([store] added,"
    " removed or changed): restart it to deliver with it; until then it builds and serves the feeds and delivers"
    " nothing"
)


def site_name(settings: Settings) -> str:
    """The name a site's rows carry in a shared database: ``[store] site``, else its ``[site] url``."""
    return (settings.store.site if settings.store else "") or settings.site.url


def place(site_dir: Path, settings: Settings) -> Place:
    """Where this site's ledger is: ``[store] url``, else the SQLite file ``[state] path``."""
    if settings.store is not None:
        return PostgresPlace(
            settings.store.url, settings.store.password_env, site_name(settings), state_path(site_dir, settings)
        )
    return SQLitePlace(state_path(site_dir, settings))


@dataclass(frozen=True)
class Mark:
    """What a site that has published remembers of its ledger, outside it."""

    where: str  # the file, as shown to the user
    ledger: str
    generation: int
    newest: datetime | None  # the newest post the ledger had announced


def read_marks(site_dir: Path, out_dir: Path) -> list[Mark]:
    marks = []
    for path, shown in ((site_dir / SITE_MARK, str(SITE_MARK)), (out_dir / OUTPUT_MARK, str(out_dir / OUTPUT_MARK))):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            newest = datetime.fromisoformat(data["newest"]) if data.get("newest") else None
            marks.append(Mark(shown, str(data["ledger"]), int(data["generation"]), newest))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            marks.append(Mark(shown, "?", 0, None))  # unreadable, but it says the site published
    return marks


def write_marks(site_dir: Path, out_dir: Path, identity: LedgerIdentity, newest: datetime | None) -> None:
    """Record (atomically) that this ledger, at this generation, is the site's. Best effort: a mark
    that cannot be written only weakens the check, it never stops a delivery."""
    text = json.dumps(
        {
            "ledger": identity.id,
            "generation": identity.generation,
            "newest": newest.isoformat() if newest else None,
            "about": "written by syndicate publish: the ledger this site publishes with (docs/running/backups.md)",
        },
        indent=1,
    )
    for path in (site_dir / SITE_MARK, out_dir / OUTPUT_MARK):
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = new_temp(path.parent, f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)


def check(ledger: Path | str, existed: bool, identity: LedgerIdentity, marks: list[Mark]) -> None:
    """Raise LedgerLostError when the marks say this site published with another (or a newer) ledger."""
    if not marks:
        return  # never published: a new ledger is the normal start
    mark = max(marks, key=lambda m: m.generation)
    if not existed:
        what = "is missing"
    elif identity.empty:
        what = "is empty"
    elif identity.id not in {m.ledger for m in marks}:
        what = f"is not the one this site published with (ledger {identity.id[:8]}, expected {mark.ledger[:8]})"
    elif identity.generation < max(m.generation for m in marks if m.ledger == identity.id):
        what = "is older than the last publish (restored from a backup?)"
    else:
        return
    after = (mark.newest + timedelta(seconds=1)).astimezone(UTC) if mark.newest else None
    since = f" --since {after:%Y-%m-%dT%H:%M:%SZ}" if after else " --since DATE"
    raise LedgerLostError(
        f"the delivery ledger {ledger} {what}, but this site has published before ({mark.where}); delivering now"
        " would skip or repeat posts. Restore the ledger from a backup, or go on with one of:\n"
        "  syndicate publish --rebaseline          record every live post as already delivered (nothing is sent)\n"
        f"  syndicate publish --backfill{since}    send the posts published since then"
    )


def lost(site_dir: Path, settings: Settings, out_dir: Path) -> str | None:
    """Why `publish` and `run` would not deliver with the ledger as it is (missing, empty, another
    one, older than the marks, unreadable), or None; read-only, for `check`."""
    if not settings.targets:
        return None  # nothing to skip or repeat: no ledger is needed
    from ..errors import ConfigError
    from .store import LedgerIdentity

    where = place(site_dir, settings)
    try:
        existed = where.exists()
        identity = where.identity() if existed else LedgerIdentity("", 0, 0, True)
        where.check(existed, identity, read_marks(site_dir, out_dir))
    except (StoreError, ConfigError) as e:  # LedgerLostError too
        return str(e)
    return None


def announced_until(site_dir: Path, settings: Settings) -> datetime | None:
    """The date of the newest post the ledger has seen live: a clock that steps back behind it must
    not take posts that went out off the feeds again. None without a readable ledger (a build
    goes on without the floor)."""
    return _read(site_dir, settings, lambda store: store.newest_published(), None)


def syndication_of(site_dir: Path, settings: Settings) -> dict[str, Links]:
    """Post id → its copies on social targets, as the ledger knows them: what `build` puts into
    the JSON Feed and syndication.json, the same as `publish` does. Empty without a readable
    ledger or a social target."""
    if not any(t.social for t in settings.targets):
        return {}
    from ..core.planning import syndication_links  # here: `build` reads the ledger's floor without the planner

    return _read(site_dir, settings, lambda store: syndication_links(store.link_rows()), {})


def known_revisions(site_dir: Path, settings: Settings) -> dict[str, str]:
    """Post id → the revision the ledger last saw (its posts not retracted); empty without a
    readable ledger. `check` looks closer at the posts that are new or edited since."""
    return _read(
        site_dir,
        settings,
        lambda store: {k.post_id: k.revision for k in store.known_posts().values() if not k.deleted},
        {},
    )


def _read(site_dir: Path, settings: Settings, what: Callable[[Store], T], default: T) -> T:
    """Something read from the ledger, read-only, for a command that also works without one
    (``default`` when it is missing or unreadable: `publish` is the one that reports that)."""
    from ..errors import ConfigError

    where = place(site_dir, settings)
    if isinstance(where, SQLitePlace) and not where.exists():
        return default
    try:
        store = where.open(readonly=True)
    except (StoreError, ConfigError):
        return default
    try:
        return what(store)
    except StoreError:
        return default
    finally:
        store.close()
