"""Files that writers (and co-authors) control: which ones syndicate reads, how, and how their
names are shown.

- A post file is read only when it is a regular file inside the site (a link that leads out
  of the site is skipped with a warning, as GitHub Pages does for Jekyll; ``[content]
  allow_links_to`` names folders outside the site that links may lead to). A FIFO, a device
  or ``/proc/kmsg`` is never opened for reading, so nothing can hang a build.
- Its size is checked before it is read, and never more than the limit is read.
- A file is written through a temporary file that is always new (:func:`new_temp`), never
  through a file or a link already at its name.
- Any name the file system allows can be shown: control characters (a newline, an escape
  sequence), bidirectional overrides and bytes that are not UTF-8 are printed escaped, so a
  file name can never forge or colour a line of output.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .core.model import printable as shown
from .errors import ContentError, FileUnreadable

# os.fsdecode turns each byte that is not UTF-8 into a lone surrogate, U+DC80..U+DCFF.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


TEMP_TRIES = 100  # random names tried before giving up (tempfile's TMP_MAX is 10,000)


def new_temp(folder: str | os.PathLike[str], prefix: str, suffix: str = ".tmp") -> tuple[int, str]:
    """A new file in ``folder`` (as tempfile.mkstemp makes one: created by this call, never a file or
    a link already there, mode 0600, not inherited by child processes), open for writing: (its
    descriptor, its path). tempfile itself costs a one-post rebuild ~4 ms of imports (random,
    shutil and the compressors). Raises OSError (FileExistsError when every name tried was taken)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(TEMP_TRIES):
        path = os.path.join(os.fspath(folder), f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for a temporary file in {os.fspath(folder)}")


def name_problem(name: str) -> str | None:
    """Why a file name cannot be a post's (None: it can)."""
    if not name.isascii() and _NOT_UTF8.search(name):
        return "the file name is not valid UTF-8; rename the file (its URL and messages need readable text)"
    return None


@dataclass(frozen=True)
class Examined:
    """What :func:`examine` found: the path to read (links resolved), its stat, or why it is skipped."""

    path: str
    st: os.stat_result | None
    problem: str = ""
    severity: str = "error"


def examine(path: str, site_dir: Path, allowed: tuple[Path, ...]) -> Examined:
    """Decide whether the post file at ``path`` may be read, following a link only when it leads to
    a regular file inside ``site_dir`` or one of the ``allowed`` folders (all resolved)."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return Examined(path, None, f"cannot read: {e.strerror}")
    real = path
    if stat.S_ISLNK(st.st_mode):
        real = os.path.realpath(path)
        inside = [root for root in (site_dir, *allowed) if _within(real, root)]
        if not inside:
            return Examined(
                path,
                None,
                f"a link to {shown(real)}, outside the site: skipped (add its folder to [content] allow_links_to"
                " to publish it)",
                "warning",
            )
        try:
            st = os.stat(real)
        except OSError as e:
            return Examined(path, None, f"a link to {shown(real)}, which cannot be read: {e.strerror}", "warning")
    if not stat.S_ISREG(st.st_mode):
        return Examined(path, None, "not a regular file (a FIFO, a device or a socket): skipped", "warning")
    return Examined(real, st)


def _within(real: str, root: Path) -> bool:
    try:
        return Path(real).is_relative_to(root)
    except ValueError:
        return False


def read_limited(path: str, limit: int, shown_as: str, what: str = "a post") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Raises ContentError (with ``shown_as``
    as the file's name) for anything else: missing, not a regular file, too big.

    Opened without following a final link and without blocking (a FIFO put in place since the
    file was examined must not hang the read), checked with fstat before a byte is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise FileUnreadable(shown_as, f"cannot read: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ContentError(shown_as, "not a regular file (a FIFO, a device or a socket)")
        if st.st_size > limit:
            raise ContentError(shown_as, f"file is {_size(st.st_size)}; {what} may be at most {_size(limit)}")
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:  # grew while being read
            raise ContentError(shown_as, f"file is over {_size(limit)}; {what} may be at most {_size(limit)}")
        return data
    except OSError as e:
        raise FileUnreadable(shown_as, f"cannot read: {e.strerror}") from None
    finally:
        os.close(fd)


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f}".removesuffix(".0") + " MiB"
    return f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"
