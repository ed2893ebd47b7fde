"""What `build` leaves for the next `syndicate build` to tell, before importing the rest of
syndicate, that nothing changed (syndicate/quick.py): the build's inputs and what a rerun prints."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from .. import __version__, quick
from ..builder.manifest import inputs_key, replayed
from ..builder.report import STATE_DIR, BuildReport
from ..config import CONFIG_PATH
from ..deliver.ledger import state_path
from .plain import build_exit, build_lines, problem_lines

Before = tuple[int, dict[str, list[int] | None]]


def read_before(site: Path) -> Before | None:
    """When the build started (ns) and the stats of the files a build reads before it starts (the
    config, the ledger), taken before the build reads them: one that changes while it runs, or
    changed in the RACY_NS before it started (it may change again with the same stat), gets the
    build no stamp."""
    if quick.ARGV is None:
        return None
    started = time.time_ns()
    from ..config import load_settings
    from ..errors import SyndicateError

    try:
        settings = load_settings(site)
    except SyndicateError:
        return None
    if settings.store is not None:
        return None  # the ledger is in a database, whose changes no file's stat shows: no stamp
    ledger = state_path(site, settings)
    names = [str(site / CONFIG_PATH), str(ledger), f"{ledger}-wal"]
    return started, {name: quick.file_id(name) for name in names}


def leave_stamp(
    site: Path,
    report: BuildReport,
    moment: datetime,
    floor: datetime | None,
    out_dir: Path,
    before: Before | None,
) -> None:
    """Write the stamp of this build (or remove an old one when this build cannot have one);
    ``before``: :func:`read_before`."""
    seen = report.seen
    if quick.ARGV is None or seen is None or seen.manifest is None:
        return  # not the `syndicate` command itself (a test's runner), or no manifest
    if before is None or any(quick.file_id(name) != was for name, was in before[1].items()):
        quick.remove_stamp(str(site))
        return  # the config or the ledger changed while the build ran
    started, read = before
    if any(was is not None and max(was[1], was[2]) >= started - quick.RACY_NS for was in read.values()):
        quick.remove_stamp(str(site))
        return  # ... or just before it started: it may have changed again since, with the same stat
    m = seen.manifest
    settings = report.settings
    try:
        if seen.scanned is None or m["inputs"] != inputs_key(settings, seen.scanned, out_dir):
            quick.remove_stamp(str(site))
            return  # the manifest of another build, saved since this one saved its own (or not saved)
        rerun = replayed(settings, m, out_dir)  # what the full command prints when nothing changed
        outputs, terms, window = m["outputs"], m["tags"], (m["from"], m["until"])
    except (ValueError, KeyError, TypeError):
        quick.remove_stamp(str(site))
        return
    ledger = state_path(site, settings)
    cache = site / STATE_DIR / "cache.db"
    folders_are = {str(ledger): False}
    if settings.content.static:
        folders_are[str(site / settings.content.static)] = True
    quick.write_stamp(
        str(site),
        argv=quick.ARGV,
        seen=seen,
        watched=[str(site / CONFIG_PATH)],
        state_files=[str(p) for p in (ledger, Path(f"{ledger}-wal"), cache, Path(f"{cache}-wal"))],
        folders_are=folders_are,
        out=str(out_dir),
        outputs=outputs,
        terms=terms,
        window=window,
        floor=floor.isoformat() if floor else None,
        stdout=build_lines(rerun, moment, out_dir, quick.SECONDS) + "\n",
        stderr="".join(f"{line}\n" for line in problem_lines(site, rerun)),
        code=build_exit(rerun),
        version=__version__,
        real=[str(p) for p in (site, out_dir, site / settings.content.dir, site / CONFIG_PATH.parent)],
        since=started,
        inputs=m["inputs"],
        skipped=[[f.source, f.path, f.error, f.severity] for f in seen.scanned if f.error],
    )
