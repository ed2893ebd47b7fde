"""What `syndicate build` prints and the code it exits with, and the moment it builds for: made
without click, so that a rebuild the stamp named the edited posts of (syndicate/quick.py's HINT)
runs without the command line (cli/fast.py), and the same for the command line
(cli/common.py, cli/show.py and cli/stamp.py take them from here)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from ..builder.report import BuildReport, refused_line
from ..core.model import Problem, printable

EXIT_OK, EXIT_REJECTED, EXIT_CONFIG, EXIT_OUTPUT, EXIT_DELIVERY, EXIT_BUSY, EXIT_LEDGER = 0, 1, 2, 3, 4, 5, 6


def build_lines(report: BuildReport, moment: datetime, out_dir: Path, seconds: str) -> str:
    """What `build` prints on stdout after a build (the problems go to stderr first)."""
    tally = report.tally(moment)
    counts = post_counts(report, moment)
    lines = [f"built {plural(tally.feeds, 'feed')} ({report.files} files) from {counts} in {seconds} s"]
    unchanged = report.files - len(report.written) - len(report.refused)
    removed = f", {len(report.removed)} removed" if report.removed else ""
    refused = f", {len(report.refused)} left alone (not syndicate's)" if report.refused else ""
    lines.append(f"{out_dir}/: {len(report.written)} written, {unchanged} unchanged{removed}{refused}")
    if tally.scheduled:
        when, source = tally.scheduled[0]
        lines.append(f"next scheduled: {when:%Y-%m-%d %H:%M} UTC  {printable(source)}")
    return "\n".join(lines)


def post_counts(report: BuildReport, now: datetime) -> str:
    tally = report.tally(now)
    parts = [plural(tally.live, "published post")]
    if tally.drafts:
        parts.append(plural(tally.drafts, "draft"))
    if tally.scheduled:
        parts.append(f"{len(tally.scheduled)} scheduled")
    if tally.expired:
        parts.append(f"{tally.expired} expired")
    if tally.rejected:
        parts.append(plural(tally.rejected, "rejected file"))
    return ", ".join(parts)


def plural(n: int, noun: str) -> str:
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun[:-1]}ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else f"{n} {noun}s"


def place(site: Path, path: str) -> str:
    """A path relative to the site as printed: as it is when the site is here, else absolute."""
    return path if site.resolve() == Path.cwd().resolve() else f"{site.resolve()}/{path}"


def output_place(site: Path, path: Path) -> str:
    """A file in the output folder as printed: relative to the site when it is in the site."""
    try:
        return place(site, path.resolve().relative_to(site.resolve()).as_posix())
    except (ValueError, OSError):
        return str(path)


def build_exit(report: BuildReport) -> int:
    """A build's exit code: 3 when a file in the way was left alone, 1 when a post was rejected."""
    return EXIT_OUTPUT if report.refused else EXIT_REJECTED if report.rejected else EXIT_OK


def shown(site: Path, problem: Problem) -> str:
    """A problem, its path relative to the site when the site is here, else absolute."""
    return str(Problem(place(site, problem.path), problem.message, problem.line, problem.severity))


def problem_lines(site: Path, report: BuildReport, *, every: bool = False) -> list[str]:
    """One line per problem (errors and warnings), then the build's notes. Files that are no
    posts and how values were found are counted in one line, or (``every``: `check`) listed."""
    lines = []
    for problem in sorted(report.problems, key=lambda p: (p.path, p.line or 0)):
        if problem.severity in ("error", "warning"):
            lines.append(shown(site, problem))
    for rel, why in report.refused.items():
        lines.append(refused_line(report.settings, output_place(site, Path(report.out) / rel), rel, why))
    for note in report.notes:
        lines.append(f"note: {note}")
    if every:
        lines += _notes(site, report.info)
        if report.skipped:
            what = "not a post" if len(report.skipped) == 1 else "not posts"
            lines.append(f"skipped {plural(len(report.skipped), 'file')}, {what}:")
            for problem in sorted(report.skipped, key=lambda p: p.path):
                lines.append(f"  {printable(place(site, problem.path))}: {printable(problem.message)}")
    elif report.skipped:
        count = plural(len(report.skipped), "file")
        what = (
            "that is not a post; `syndicate check` lists it"
            if len(report.skipped) == 1
            else ("that are not posts; `syndicate check` lists them")
        )
        lines.append(f"note: skipped {count} {what}")
    return lines


def _notes(site: Path, notes: list[Problem], shown_each: int = 3) -> list[str]:
    """How values were found, a few of each kind and a count of the rest: a Jekyll blog of a
    thousand posts dated by their file names gets four lines, not a thousand."""
    kinds: dict[str, list[Problem]] = {}
    for note in sorted(notes, key=lambda p: p.path):
        kinds.setdefault(re.sub(r"\d", "0", note.message), []).append(note)
    lines = []
    for same in kinds.values():
        lines += [shown(site, note) for note in same[:shown_each]]
        if len(same) > shown_each:
            lines.append(f"note: … and {len(same) - shown_each} more like these")
    return lines


def clock_and_floor(site: Path) -> tuple[datetime, datetime | None]:
    """The moment a build without ``--now`` is for: the clock (to the second), but never before the
    newest post the ledger has seen live; and that floor (None without a ledger). Raises
    SyndicateError (cli/common.py's ``moment_and_floor`` says it in one line)."""
    from ..config import load_settings
    from ..deliver import ledger

    until = ledger.announced_until(site, load_settings(site))
    now = datetime.now(UTC).replace(microsecond=0)
    return (max(now, until) if until is not None else now), until
