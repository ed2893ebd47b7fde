"""Writing the output folder: never outside it, never half a file, never an unchanged file."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OutputError, UnsafePathError
from ..files import new_temp
from ..quick import out_stat

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

FileStat = list[int]  # size, mtime in ns, inode: what tells that a file is as it was left


def file_stat(path: Path) -> FileStat | None:
    """The stat of an output file (None when it is missing)."""
    return out_stat(str(path))


def digest(data: bytes) -> str:
    """A short hash of an output file's bytes."""
    return hashlib.sha256(data).hexdigest()[:16]


def _checked(root: Path, rel: str) -> Path:
    """``root / rel`` after the string checks (cheap; no file-system access)."""
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel:
        raise UnsafePathError(f"refusing to write {rel!r}: not a plain relative path")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UnsafePathError(f"refusing to write {rel!r}: it would leave the output folder")
    return root.joinpath(*parts)


def safe_join(root: Path, rel: str) -> Path:
    """``root / rel``, refusing anything that could leave ``root``.

    ``rel`` is "/"-separated and built from user input (tag slugs, file names): absolute
    paths, "..", ".", empty segments, backslashes and NUL are refused outright, and the
    resolved parent folder must still be inside the resolved root (no symlinks out).
    """
    path = _checked(root, rel)
    real_root = root.resolve()
    real_parent = path.parent.resolve()
    if real_parent != real_root and real_root not in real_parent.parents:
        raise UnsafePathError(f"refusing to write {rel!r}: {path.parent} leads outside {root}")
    return path


def _ensure_folder(root: Path, folder: str) -> None:
    """Make ``root/folder`` (for the files of one batch), never through a symlink that leads out."""
    probe = f"{folder}/x" if folder else "x"
    safe_join(root, probe)  # resolved: no symlinked folder may lead out, before anything is made
    try:
        (root / folder).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot write {root / folder}: {e.strerror or e}") from e
    safe_join(root, probe)  # and still not after


def same_bytes(path: Path, data: bytes) -> bool:
    """Does the file hold exactly ``data``? (Missing or unreadable: no; writing reports why.)"""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def replace_file(path: Path, data: bytes) -> bool:
    """Atomically give ``path`` (checked by :func:`make_folders`) the bytes ``data``, unless it has them."""
    if same_bytes(path, data):
        return False
    try:
        fd, tmp = new_temp(path.parent, f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    return True


SERIAL_UP_TO = 16  # files written one after the other: threads pay off for more (a one-post edit writes ~12)


def write_all(root: Path, files: dict[str, bytes]) -> list[str]:
    """Atomically write each file unless it already holds exactly its bytes; returns those
    written, in sorted order.

    Readers see the old file or the new one, never a mix: the bytes go to a temporary file
    in the same folder that replaces the old file with one rename. There is no flush to
    disk per file (a big build writes 200 MB in 1,500 files; flushing each cost seconds):
    after a power cut a file may be short, which the next build notices (sizes are kept
    with the feed fingerprints) and rewrites. Every path is checked before anything is
    written; each folder is checked and made once; the files are written by a few threads.
    """
    rels = sorted(files)
    if len(rels) <= SERIAL_UP_TO:  # a one-post edit, a daemon's save: threads cost more than they save
        paths = make_folders(root, rels)
        return [rel for rel in rels if replace_file(paths[rel], files[rel])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(16, len(rels))) as pool:
        paths = make_folders(root, rels, pool)
        done = list(pool.map(lambda rel: replace_file(paths[rel], files[rel]), rels))
    return [rel for rel, wrote in zip(rels, done, strict=True) if wrote]


def make_folders(root: Path, rels: Iterable[str], pool: ThreadPoolExecutor | None = None) -> dict[str, Path]:
    """Check every path (UnsafePathError) and make the folders they need; rel → path."""
    paths = {rel: _checked(root, rel) for rel in rels}
    folders = sorted({rel.rpartition("/")[0] for rel in paths}, key=lambda f: (f.count("/"), f))
    for depth in sorted({f.count("/") for f in folders}):  # parents before their children
        level = [f for f in folders if f.count("/") == depth]
        if pool is None or len(level) < 2:
            for folder in level:
                _ensure_folder(root, folder)
        else:
            list(pool.map(lambda f: _ensure_folder(root, f), level))
    return paths


def remove_files(root: Path, rels: Iterable[str]) -> list[str]:
    """Delete these files of the output folder (already vouched for as syndicate's), and each
    folder they leave empty, up to ``root``. A path that would leave the output folder (a record
    that names ``../x``, a folder that is a link out of it) is skipped. Returns what was removed."""
    removed: list[str] = []
    for rel in rels:
        try:
            path = safe_join(root, rel)
            path.unlink()
        except (UnsafePathError, FileNotFoundError):
            continue
        removed.append(rel)
        parent = path.parent
        while parent != root and root in parent.parents:
            try:
                parent.rmdir()  # only succeeds when nothing else is left in it
            except OSError:
                break
            parent = parent.parent
    return removed
