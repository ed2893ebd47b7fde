"""`syndicate build` when nothing changed, told before the rest of syndicate is imported.

A build that changes nothing is told from stats alone (builder/manifest.py), but getting there
imports the command line, the config parser and the model: three times what it takes to stat
every file of a 10,000-post site. So each full build leaves a *stamp* (``.syndicate/quick.json``)
with everything that decided it and what a rerun would print, and the command's entry point
(syndicate/command.py) asks :func:`replay` first, which uses the standard library only:

- the same command line, current folder, syndicate version, Python and file name encoding, and
  the same real paths (links resolved) for the site, its content, config and output folders;
- the config file (the site's own: a stamp that does not name it never holds), the ledger and the
  cache with the same stats (size, mtime, ctime, inode), none a link, and the folders the config
  names still what they were (the static folder a folder, the ledger no folder);
- every folder the scan went through listing the same names (hidden ones aside), each a folder or
  not as before: told by the folder's own stat when it is the one the stamp took (see below), else
  by listing it; and every file the scan looked at with the same stat signature, none a link
  (a link's target can change under an unchanged link: a site with one gets no stamp);
- every output file with the stat the last build left, each term folder holding the same
  sub-folders;
- the clock inside the window in which the same posts are live (as the manifest says), the
  ledger's floor for it (``moment_of``) applied as the full command does.

A folder's mtime and ctime change whenever a name is added to it, removed from it or renamed in it
(POSIX asks it of creat, mkdir, unlink, rmdir, rename, link and symlink), so a folder with the stat
it had when the stamp was written lists what the scan listed, provided no change came in the
RACY_NS before the build started (one in the same clock tick would keep the stat): the stamp takes
each folder's stat when it is written and keeps it only when it is older than that. A folder whose
stat changed (a hidden file added) is listed and compared as before.

Then it prints what the full command printed for such a rerun (its time aside; escape sequences
stripped off a stream that is no terminal, as click.echo does) and exits with its code. Anything
else, or any doubt (a stamp that does not read or is no regular file, an option it does not know,
a file edited in the two seconds before the build started: a later edit in the same clock tick
would keep its stat), and the full command runs, exactly as without the stamp, and writes a new one.
When only post files' stats changed, it hands that command which of the stamp's chunks of files
changed (:func:`edit_hint`), so that a rebuild after an edit finds the edited posts without a scan.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import json
import marshal
import os
import re
import stat
import sys
import time
from datetime import UTC, datetime

try:
    from _blake2 import blake2b  # hashlib's BLAKE2 without OpenSSL, whose loading took 3 ms of a 70 ms answer
except ImportError:  # a Python built without its own BLAKE2
    from hashlib import blake2b

TYPE_CHECKING = False  # typing is not imported: this module runs before anything else (see above)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

STAMP = os.path.join(".syndicate", "quick.json")
CONFIG = os.path.join("config", "syndicate.toml")  # config.CONFIG_PATH, the file the full command reads first
FORMAT = 3
MAX_STAMP_BYTES = 256 * 1024 * 1024  # a stamp for 100,000 posts takes 5 MB
RACY_NS = 2_000_000_000  # a file changed this close to the stamp may change again with the same stat
SECONDS = "\x00seconds\x00"  # where the printed lines hold the build's time
ARGV: list[str] | None = None  # the command line, when syndicate runs as the `syndicate` command
# The lstat of each post file ((size, mtime, ctime, inode), mode), taken by a stamp check that then
# failed on one of them: the scan of the same command (builder/discover.py) takes each from here
# once; command.main empties it after.
LSTATS: dict[str, tuple[tuple[int, int, int, int], int]] = {}
# What a stamp check knew when everything held but some post files' stats (see :func:`edit_hint`),
# for the build of the same command (builder/edit.py's ``hinted_build``); command.main empties it.
HINT: dict[str, Any] = {}
CHUNK = 64  # post files per hash of their stats in the stamp: a failed check names the chunks that changed
MOST_CHUNKS = 16  # changed chunks beyond which no hint is given (builder/edit.py's MOST edited posts)

Stat = list[int]


def signature(st: os.stat_result) -> str:
    """A file's stat signature (builder/cache.py's ``stat_signature``)."""
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def signature_of(numbers: tuple[int, int, int, int]) -> str:
    """:func:`signature` from the numbers of :func:`signed`."""
    return "{}:{}:{}:{}".format(*numbers)


def signed(st: os.stat_result) -> tuple[int, int, int, int]:
    """The numbers of :func:`signature`, in its order: what the stamp hashes (no text made per file)."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _numbers(sig: str) -> tuple[int, ...]:
    """:func:`signed` of the file a :func:`signature` was taken of."""
    return tuple(map(int, sig.split(":")))


def _stats_hash(stats: Iterable[object]) -> str:
    """A short hash of stats (tuples or lists of ints, or None). marshal's version 2 writes no
    back-references, so equal values give equal bytes; it only ever dumps numbers this process
    computed: nothing is loaded with marshal."""
    return blake2b(marshal.dumps(list(stats), 2), digest_size=16).hexdigest()


def by_folder(paths: Iterable[str]) -> list[list[Any]]:
    """Paths as [prefix, [names...]] (each path is a prefix and a name joined as they are), each
    run of paths in one folder naming the folder (up to its last "/") once."""
    groups: list[list[Any]] = []
    names: list[str] = []
    for path in paths:
        folder, slash, name = path.rpartition("/")
        prefix = folder + slash
        if not groups or groups[-1][0] != prefix:
            names = []
            groups.append([prefix, names])
        names.append(name)
    return groups


def out_stat(path: str) -> Stat | None:
    """The stat an output file is remembered by (builder/output.py's ``file_stat``)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def listing(names: Iterable[tuple[str, bool]]) -> str:
    """What a folder holds as far as a scan cares: its names (hidden ones aside), each marked when
    it is a folder, as a short hash."""
    shown = sorted(f"{name}/" if is_dir else name for name, is_dir in names if not name.startswith("."))
    return _hash(shown)


def _hash(items: Iterable[str]) -> str:
    return blake2b("\x00".join(items).encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def folder_listing(folder: str) -> str | None:
    try:
        with os.scandir(folder) as entries:
            return listing((e.name, e.is_dir(follow_symlinks=False)) for e in entries)
    except OSError:
        return None


def subfolders(folder: str) -> list[str]:
    """The sub-folders of a folder of term feeds (builder/manifest.py)."""
    try:
        with os.scandir(folder) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def file_id(path: str) -> Stat | None:
    """What tells that a state file (config, ledger, cache) changed: size, mtime, ctime, inode."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, stat.S_IFMT(st.st_mode)]


def command_key(argv: Sequence[str]) -> tuple[str | None, str | None] | None:
    """(--site, --out) of a plain `syndicate [--site S] build [--site S] [--out O]`, else None."""
    site: str | None = None
    out: str | None = None
    seen_build = False
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg == "build" and not seen_build:
            seen_build = True
        elif name in ("--site", "--out") and (eq or i + 1 < len(args)):
            if not eq:
                i += 1
                value = args[i]
            if name == "--out" and not seen_build:
                return None
            if name == "--site":
                site = value
            else:
                out = value
        else:
            return None
        i += 1
    return (site, out) if seen_build else None


class Recorder:
    """What a scan saw, for the stamp: folders with their listings, files with their stats."""

    def __init__(self) -> None:
        self._folders: list[tuple[str, list[tuple[str, bool]] | str | None]] = []  # listed: hashed if a stamp is made
        self.files: list[tuple[str, str]] = []  # (path, stat signature) of each file read
        self.read_anew: list[str] = []  # the signatures of the files this build parsed: the likeliest racy ones
        self.doubtful = False  # a post file that is a link, or was not examined: no stamp
        self.manifest: dict[str, Any] | None = None  # the build's manifest (builder/manifest.py), once written
        self.scanned: list[Any] | None = None  # what the scan returned (builder/discover.py): the manifest's inputs

    def folder(self, path: str, names: Iterable[tuple[str, bool]]) -> None:
        self._folders.append((path, list(names)))

    def unreadable(self, path: str) -> None:
        self._folders.append((path, None))

    def listed(self, path: str, hashed: str | None) -> None:
        """A folder as the last stamp's :attr:`folders` has it, when its listing is known to be the
        same (a build that made no scan: builder/edit.py's ``hinted_build``)."""
        self._folders.append((path, hashed))

    @property
    def folders(self) -> list[tuple[str, str | None]]:
        """Each folder the scan went through and its :func:`listing` (None: it could not be listed)."""
        return [
            (path, names if names is None or isinstance(names, str) else listing(names))
            for path, names in self._folders
        ]

    def file(self, path: str, sig: str, doubtful: bool = False) -> None:
        """A post file (with the signature the build read it by; "" when it is not read: its
        name says why, and the folder's listing keeps it)."""
        if sig:
            self.files.append((path, sig))
        self.doubtful = self.doubtful or doubtful


def write_stamp(
    site: str,
    *,
    argv: Sequence[str],
    seen: Recorder,
    watched: Sequence[str],
    state_files: Sequence[str],
    folders_are: dict[str, bool],
    out: str,
    outputs: dict[str, Stat | None],
    terms: list[list[Any]],
    window: tuple[str | None, str | None],
    floor: str | None,
    stdout: str,
    stderr: str,
    code: int,
    version: str,
    real: Sequence[str] = (),
    since: int | None = None,
    inputs: str | None = None,
    skipped: Sequence[Sequence[str]] = (),
) -> bool:
    """Write the stamp (see the module's doc); False when this build cannot have one. ``real``:
    the folders whose real path (links resolved) the build printed or compared (the site, its
    output folder...): a link re-pointed or a folder moved under one changes what it prints.
    ``since``: when the build started (time.time_ns(); else now): a file changed in the RACY_NS
    before it is racy, as the build read it after that (a long build: not only before the stamp).
    ``inputs``: the inputs' hash of the manifest the build left (builder/manifest.py's
    ``inputs_key``), and ``skipped``: its scan's files that are not read ([source, path, why,
    severity]), so that a failed check can hand a build what it needs to find the edited posts
    without a scan (:func:`edit_hint`)."""
    path = os.path.join(site, STAMP)
    key = command_key(argv)
    racy = (time.time_ns() if since is None else min(since, time.time_ns())) - RACY_NS
    if key is None or seen.doubtful or os.environ.get("SYNDICATE_TRACE"):
        remove_stamp(site)
        return False
    if any(_racy(sig, racy) for sig in seen.read_anew):  # first the files just read: an edit build's
        remove_stamp(site)
        return False
    numbers = []
    for _, sig in seen.files:
        n = _numbers(sig)
        if max(n[1], n[2]) >= racy:  # mtime, ctime: changed in the RACY_NS before the build started, or since
            remove_stamp(site)  # (a later change in the same clock tick, of the same size, would keep its signature)
            return False
        numbers.append(n)
    config = {name: file_id(name) for name in watched}
    if any(f is None or max(f[1], f[2]) >= racy or stat.S_ISLNK(f[4]) for f in config.values()):
        remove_stamp(site)
        return False
    state = {name: file_id(name) for name in state_files}
    if any(f is not None and stat.S_ISLNK(f[4]) for f in state.values()):
        remove_stamp(site)
        return False  # a ledger that is a link: what it leads to changes under an unchanged link
    stamp = {
        "format": FORMAT,
        "version": version,
        "python": sys.version,
        "fs": [sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()],
        "argv": [key[0], key[1]],
        "cwd": os.getcwd(),
        "real": {name: os.path.realpath(name) for name in real},
        "config": config,
        "state": state,
        "folders_are": folders_are,
        "folders": [
            [name, listed, _folder_stat(name, racy) if listed is not None else None] for name, listed in seen.folders
        ],
        "files": by_folder(path for path, _ in seen.files),
        "signatures": _stats_hash(numbers),
        "chunks": _chunks(numbers),
        "inputs": inputs,
        "skipped": [list(line) for line in skipped],
        "out": out,
        "outputs": by_folder(outputs),
        "output_stats": _stats_hash(outputs.values()),
        "terms": terms,
        "window": list(window),
        "floor": floor,
        "stdout": stdout,
        "stderr": stderr,
        "code": code,
    }
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        # a new file, never one already there: a link planted at this name would be written through
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError:
        remove_stamp(site)
        return False
    try:
        with open(fd, "w", encoding="ascii") as f:
            f.write(json.dumps(stamp))  # not json.dump: it encodes in Python, 48 ms against 35 at 100k posts
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # the file this build created
        remove_stamp(site)
        return False
    return True


def _folder_stat(folder: str, racy: int) -> list[int] | None:
    """The stat a folder's listing is told by (see the module's doc): taken now, after the scan
    listed it, and kept only when the folder did not change since RACY_NS before the build
    started, so not between the listing and now either; else None (the folder is listed)."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or max(st.st_mtime_ns, st.st_ctime_ns) >= racy:
        return None
    return list(signed(st))


def remove_stamp(site: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(site, STAMP))


def _moment(floor: str | None, clock: Callable[[], datetime]) -> datetime:
    """The moment the full command would build for (cli.common.moment_of, without --now)."""
    now = clock().replace(microsecond=0)
    if floor is not None:
        now = max(now, datetime.fromisoformat(floor))
    return now


def _now() -> datetime:
    return datetime.now(UTC)


def replay(argv: Sequence[str], clock: Callable[[], datetime] | None = None) -> int | None:
    """The exit code after printing what the full command would, when the stamp shows that
    nothing changed (``clock``: the time now); None when the full command must run."""
    started = time.perf_counter()
    key = command_key(argv)
    if key is None or os.environ.get("SYNDICATE_TRACE"):
        return None
    site = key[0] if key[0] is not None else "."
    collecting = gc.isenabled()
    gc.disable()  # the stamp's 100,000 names and as many stats make no cycles: no passes over them
    try:
        stamp = read_stamp(os.path.join(site, STAMP))
        if stamp is None or not _holds(stamp, site, key, clock or _now):
            return None
        stdout, stderr, code = stamp["stdout"], stamp["stderr"], stamp["code"]
        if not (isinstance(stdout, str) and isinstance(stderr, str) and type(code) is int and 0 <= code < 256):
            return None
        (stdout + stderr).encode("utf-8")  # UnicodeEncodeError (a lone surrogate): no build wrote it
        if ascii_stream(sys.stdout) or ascii_stream(sys.stderr):
            return None  # click.echo writes UTF-8 to a stream set to ASCII (PYTHONIOENCODING=ascii)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    finally:
        if collecting:
            gc.enable()
    took = f"{time.perf_counter() - started:.2f}"
    if stderr:
        sys.stderr.write(as_echoed(stderr, sys.stderr))
        sys.stderr.flush()
    sys.stdout.write(as_echoed(stdout.replace(SECONDS, took), sys.stdout))
    sys.stdout.flush()
    return code


def read_stamp(path: str) -> Any:
    """The stamp's JSON, or None for one that is not a regular file of at most MAX_STAMP_BYTES:
    a link is not followed (out of the site), a FIFO not waited for, /dev/zero not read.
    Raises OSError, ValueError, RecursionError (JSON nested too deep)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_STAMP_BYTES:
            return None
        data = f.read(MAX_STAMP_BYTES + 1)
    return None if len(data) > MAX_STAMP_BYTES else json.loads(data.decode("ascii"))


# click.echo's: what it strips from a line written to a stream that is not a terminal
_ANSI = re.compile(r"\033\[[0-?]*[ -/]*[@-~]")


def ascii_stream(stream: Any) -> bool:
    """click's "misconfigured" stream (``_stream_is_misconfigured``), which it rewraps."""
    try:
        return codecs.lookup(getattr(stream, "encoding", None) or "ascii").name == "ascii"
    except LookupError:
        return False


def as_echoed(text: str, stream: Any) -> str:
    """``text`` as click.echo writes it to ``stream`` (the full command prints with it): escape
    sequences stripped unless the stream is a terminal."""
    try:
        tty = stream.isatty()
    except Exception:  # click's isatty: any failure means "not a terminal"
        tty = False
    return text if tty else _ANSI.sub("", text)


def _holds(stamp: dict[str, Any], site: str, key: tuple[str | None, str | None], clock: Callable[[], datetime]) -> bool:
    """Is everything the stamp was written from still so? (See the module's doc.) A stamp vouches
    for the config of this site, as it was then: one written (or planted) without it never holds."""
    from . import __version__

    if stamp["format"] != FORMAT or stamp["version"] != __version__ or stamp["python"] != sys.version:
        return False
    if stamp["fs"] != [sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()]:
        return False  # how file names decode decides which are posts (not UTF-8: none)
    if stamp["argv"] != [key[0], key[1]] or stamp["cwd"] != os.getcwd():
        return False
    config = file_id(os.path.join(site, CONFIG))
    if config is None or config not in stamp["config"].values():
        return False
    for name, was in (*stamp["config"].items(), *stamp["state"].items()):
        if file_id(name) != was:
            return False
    if any(os.path.realpath(name) != was for name, was in stamp["real"].items()):
        return False
    for name, is_dir in stamp["folders_are"].items():
        if os.path.isdir(name) != is_dir:
            return False
    since, until = stamp["window"]
    now = _moment(stamp["floor"], clock)
    if (since and now < datetime.fromisoformat(since)) or (until and now >= datetime.fromisoformat(until)):
        return False
    for name, listed, was in stamp["folders"]:
        if (was is None or _stat_now(name) != was) and folder_listing(name) != listed:
            return False
    lstat = os.lstat
    signatures: list[tuple[int, int, int, int]] = []
    modes: list[int] = []
    try:
        for prefix, names in stamp["files"]:
            for name in names:
                st = lstat(prefix + name)  # (kept as numbers: 100,000 stat objects cost 65 ms to keep)
                signatures.append((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
                modes.append(st.st_mode)
    except OSError:
        return False
    if _stats_hash(signatures) != stamp["signatures"]:
        # a post changed: the full command's scan takes these stats rather than stat every file again
        paths = (prefix + name for prefix, names in stamp["files"] for name in names)
        LSTATS.update(zip(paths, zip(signatures, modes, strict=True), strict=True))
        edit_hint(stamp, site, signatures, modes)
        return False
    return _outputs_hold(stamp)


def _outputs_hold(stamp: dict[str, Any]) -> bool:
    """Is every output file as the stamp's build left it, and each term folder?"""
    out = os.path.join(stamp["out"], "")
    stats: list[Stat | None] = []
    for prefix, names in stamp["outputs"]:
        folder = out + prefix
        stats += [out_stat(folder + name) for name in names]
    if _stats_hash(stats) != stamp["output_stats"]:
        return False
    return all(subfolders(os.path.join(out, folder)) == names for folder, names in stamp["terms"])


def _chunks(numbers: Sequence[Sequence[int]]) -> list[str]:
    """:func:`_stats_hash` of each CHUNK of the files' stats, in the stamp's order."""
    return [_stats_hash(numbers[i : i + CHUNK]) for i in range(0, len(numbers), CHUNK)]


def edit_hint(stamp: dict[str, Any], site: str, signatures: list[tuple[int, int, int, int]], modes: list[int]) -> None:
    """A stamp that held but for some post files' stats (``signatures``, ``modes``: each file's
    now, in the stamp's order): when at most MOST_CHUNKS of its chunks changed and every output
    file is as the stamp's build left it, keep in HINT what a build needs to find the edited posts
    without a scan: the stamp's files and its skipped ones, their stats now, the files of the
    chunks that changed (the candidates), and the inputs' hash of the manifest it was made from.
    Nothing here is trusted by itself: builder/edit.py takes the build its way only when the
    files it makes of it, with the cache's stats for the edited ones, give that manifest's hash."""
    kept = stamp.get("chunks")
    if not isinstance(kept, list) or not isinstance(stamp.get("inputs"), str):
        return
    now = _chunks(signatures)
    if len(now) != len(kept):
        return
    changed = [i for i, (a, b) in enumerate(zip(now, kept, strict=True)) if a != b]
    if not changed or len(changed) > MOST_CHUNKS or not _outputs_hold(stamp):
        return
    candidates = [i for c in changed for i in range(c * CHUNK, min((c + 1) * CHUNK, len(signatures)))]
    HINT.update(
        site=os.path.realpath(site),
        cwd=stamp["cwd"],
        out=stamp["out"],
        inputs=stamp["inputs"],
        folders=stamp["folders"],
        files=stamp["files"],
        skipped=stamp["skipped"],
        signatures=signatures,
        modes=modes,
        candidates=candidates,
    )


def _racy(sig: str, since: int) -> bool:
    """Was the file of this signature changed at or after ``since`` (ns)?"""
    n = _numbers(sig)
    return max(n[1], n[2]) >= since


def _stat_now(folder: str) -> list[int] | None:
    try:
        return list(signed(os.stat(folder)))
    except OSError:
        return None
