"""Which files of an output folder syndicate wrote: the only ones it creates, replaces or deletes.

An output folder may be shared: a Hugo site's ``public/`` holds Hugo's home page and Hugo's own
``index.xml``, and a user who deploys it wants syndicate to add its feeds beside them, never to
write over one byte of Hugo's. So syndicate keeps a record, ``.syndicate-files`` at the top of the
output folder, one JSON line per write: ``["tags/python/feed.xml", "<digest>"]`` says the file at
that path holds (or is about to hold) bytes syndicate wrote; ``["…", null]`` that syndicate
removed it. A line is appended *before* its file is written, so a build killed between the two
leaves the path owned under its old bytes and its new; a record that has grown past twice its
files is rewritten with one line per file after a build that finished.

A path syndicate wants is *free* when nothing is there, *ours* when the bytes there are bytes
syndicate wrote (a digest in the record; for an output folder from before the record, the stat
its last build's manifest kept) or the bytes it is about to write or their beginning (a file cut
short by a power cut; an empty file), and *somebody else's* otherwise: that file is left alone,
and the build reports it and exits 3.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..files import new_temp
from .output import FileStat, digest

RECORD = ".syndicate-files"
_HEADER = "# written by syndicate: the files of this folder it wrote (path, digest); leave it here\n"


_CUT = object()  # a line that does not read as JSON


def _items(lines: list[str]) -> list[Any]:
    """Each line's JSON value (_CUT for one that does not read): the whole record in one parse
    (a line each took 5 ms of a one-post rebuild at 10,000 posts), or line by line when that does
    not give one value a line (a line cut short by a crash, or one holding two values). Lines
    crafted to pair up differently (one holding ``],[``) could read otherwise than one by one, but
    whoever can write the record can add any claim with a line of its own anyway."""
    try:
        items = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        items = None
    if (
        isinstance(items, list)
        and len(items) == len(lines)
        and all(line[:1] == "[" and line[-1:] == "]" for line in lines)
    ):
        return items
    return [_one(line) for line in lines]


def _one(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return _CUT


class Ownership:
    """The record of one output folder, read once per build. Forked workers inherit it and
    append their own claims; the parent's copy then knows only its own (each path is written
    by one process in a build)."""

    def __init__(
        self, root: Path, legacy: Mapping[str, FileStat | None] | None = None, take_over: tuple[str, ...] = ()
    ) -> None:
        self.root = root
        self.take_over = take_over  # [output] take_over: another program's files syndicate may replace
        self.digests: dict[str, set[str]] = {}
        self.lines = 0
        self.found = False
        self._seen: tuple[int, int, int] | None = None  # the record's stat when this object last read or wrote it
        self._read()
        # An output folder written before the record existed: its last build's manifest vouches
        # for the files it lists, as long as each is still as that build left it.
        self.legacy = {} if self.found else dict(legacy or {})

    def is_current(self) -> bool:
        """Is the record on disk as this object last read or wrote it (one stat)? A long-running
        process then keeps this object from one build to the next instead of reading the record
        again; any other writer (a `build` beside it, forked workers) changes its size or inode."""
        return self._seen is not None and _stat_of(self.root / RECORD) == self._seen

    def _read(self) -> None:
        try:
            with open(self.root / RECORD, "rb") as f:
                seen = _stat_key(os.fstat(f.fileno()))  # before reading: lines appended since make it stale
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return
        self._seen = seen
        self.found = True
        lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        for item in _items(lines):
            try:
                rel, dig = item
            except (ValueError, TypeError):
                continue  # a line cut short by a crash: the others still count
            if not isinstance(rel, str):
                continue
            self.lines += 1
            if dig is None:
                self.digests.pop(rel, None)
            elif isinstance(dig, str):
                self.digests.setdefault(rel, set()).add(dig)

    def owns(self, rel: str, current: bytes, st: os.stat_result) -> bool:
        """Did syndicate write these bytes (``current``, at ``rel``, with stat ``st``)?"""
        if digest(current) in self.digests.get(rel, ()):
            return True
        kept = self.legacy.get(rel)
        return kept is not None and kept == [st.st_size, st.st_mtime_ns, st.st_ino]

    def claim(self, files: Mapping[str, bytes], digests: Mapping[str, str] | None = None) -> dict[str, str]:
        """Before writing ``files`` (rel → new bytes; paths already checked; ``digests``: theirs, when
        known): record the claim on each path syndicate may write and return the others, rel → why not."""
        refused: dict[str, str] = {}
        claims: list[tuple[str, str | None]] = []
        for rel, data in files.items():
            why = self._why_not(rel, data)
            if why is None:
                claims.append((rel, digests[rel] if digests is not None else digest(data)))
            else:
                refused[rel] = why
        self._append(claims)
        return refused

    def in_the_way(self, rel: str) -> str | None:
        """Why a build could not write at ``rel`` (without knowing what it would write), or None."""
        return self._why_not(rel, None)

    def _why_not(self, rel: str, data: bytes | None) -> str | None:
        path = self.root / rel
        try:
            st = path.lstat()
        except (FileNotFoundError, NotADirectoryError):
            return None  # nothing there (the write says why a folder cannot be made)
        except OSError as e:
            return f"cannot be examined ({e.strerror or e})"
        if stat.S_ISDIR(st.st_mode):
            return "is a folder syndicate did not make"
        if not stat.S_ISREG(st.st_mode):
            return "is a link or a special file, not one syndicate wrote"
        try:
            current = path.read_bytes()
        except OSError as e:
            return f"cannot be read ({e.strerror or e})"
        if data is not None and data.startswith(current):
            return None  # the bytes it is about to write, or their beginning: a file cut short by a crash
        if self.owns(rel, current, st) or taken_over(rel, self.take_over):
            return None
        return "was not written by syndicate (it was there before, or was changed since)"

    def release(self, rel: str) -> bool:
        """May syndicate delete the file at ``rel`` (it wrote those bytes)? A file that is not
        there, or not ours, is left alone (False)."""
        path = self.root / rel
        try:
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode):
                return False
            return self.owns(rel, path.read_bytes(), st)
        except OSError:
            return False

    def leftovers(self, made: set[str]) -> list[str]:
        """The files syndicate wrote that a build no longer makes (``made``: every file it makes),
        their bytes still its own: a feed renamed, a taxonomy, a tag folder or an index page
        dropped. They may be deleted; a file changed since is somebody else's and stays."""
        known = self.digests.keys() | {rel for rel, kept in self.legacy.items() if kept is not None}
        return sorted(rel for rel in known if rel not in made and self.release(rel))

    def removed(self, rels: Iterable[str]) -> None:
        """These files are gone by syndicate's hand: they are nobody's now."""
        self._append([(rel, None) for rel in rels])

    def begin(self) -> None:
        """Start the record (its header line) before forked workers append to it: two workers
        appending to an empty record at once would each write the header."""
        path = self.root / RECORD
        try:
            if path.stat().st_size > 0:
                return
        except OSError:
            pass
        self._append([], force=True)

    def _append(self, claims: list[tuple[str, str | None]], force: bool = False) -> None:
        if not claims and not force:
            return
        text = "".join(json.dumps([rel, dig], ensure_ascii=False) + "\n" for rel, dig in claims)
        for rel, dig in claims:
            if dig is None:
                self.digests.pop(rel, None)
            else:
                self.digests.setdefault(rel, set()).add(dig)
        path = self.root / RECORD
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                before = os.fstat(fd)
                if before.st_size == 0:
                    text = _HEADER + text
                os.write(fd, text.encode("utf-8"))  # one write: a line is never split between processes
                # current still only if nobody else wrote since this object last looked
                ours = self._seen == _stat_key(before) or before.st_size == 0
                self._seen = _stat_key(os.fstat(fd)) if ours else None
            finally:
                os.close(fd)
        except OSError as e:
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
        self.lines += len(claims)
        self.found = True

    def compact(self, current: Mapping[str, str]) -> None:
        """After a build that finished: when the record has grown past twice its files, rewrite it
        with one line per file. ``current`` (rel → digest) are this build's files; any other path the
        record names keeps what it had."""
        fresh = self if self.is_current() else Ownership(self.root)  # with what forked workers appended
        if fresh.lines <= 2 * len(fresh.digests) + 64:
            return
        kept = {rel: sorted(digs) for rel, digs in fresh.digests.items() if rel not in current}
        lines = [json.dumps([rel, dig], ensure_ascii=False) for rel, digs in kept.items() for dig in digs]
        lines += [json.dumps([rel, dig], ensure_ascii=False) for rel, dig in current.items()]
        with contextlib.suppress(OSError):
            fd, tmp = new_temp(self.root, f"{RECORD}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(_HEADER + "".join(line + "\n" for line in sorted(lines)))
                os.chmod(tmp, 0o644)
                os.replace(tmp, self.root / RECORD)
                self.digests = {rel: set(digs) for rel, digs in kept.items()}
                self.digests.update({rel: {dig} for rel, dig in current.items()})
                self.lines, self._seen = len(lines), _stat_of(self.root / RECORD)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


def _stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_size, st.st_mtime_ns


def _stat_of(path: Path) -> tuple[int, int, int] | None:
    try:
        return _stat_key(os.stat(path))
    except OSError:
        return None


def taken_over(rel: str, patterns: tuple[str, ...]) -> bool:
    """Is ``rel`` one of the files the user gave syndicate to replace ([output] take_over)? A
    pattern's ``*`` stays within one folder: ``tags/*/index.xml`` is not ``tags/a/b/index.xml``."""
    parts = rel.split("/")
    for pattern in patterns:
        segments = pattern.split("/")
        if len(segments) == len(parts) and all(fnmatch.fnmatchcase(p, g) for p, g in zip(parts, segments, strict=True)):
            return True
    return False
