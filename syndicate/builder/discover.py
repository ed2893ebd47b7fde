"""Which files are posts: the content folder scanned (``scan``), or kept up to date by the file
watcher's events in a long-running process (``ContentWatch``)."""

from __future__ import annotations

import os
import threading
from bisect import bisect_left, insort
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..core.dialects import Dialect, bundle_folders, dialect, file_stem, prune_folder, skip_reason
from ..core.model import Post, Settings, Severity, printable
from ..core.sources import is_post_file, source_prefix
from ..errors import ContentError
from ..files import examine, name_problem
from .cache import CachedPost, stat_signature


def find_post_files(content_dir: Path, d: Dialect | None = None) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(path relative to ``content_dir``, entry) for each post file, in a stable order.

    Hidden files and folders, editor temp and backup files, and non-Markdown files are
    skipped, as are the folders no generator keeps posts in (node_modules, its output and
    templates: :func:`prune_folder`); symlinked folders are not followed (no loops). Whether a
    file may be read (a link, a FIFO) is :func:`examine`'s to say.
    """
    d = d or dialect("syndicate")
    stack = [(content_dir, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                if prune_folder(d, entry.name, not prefix):
                    continue
                subdirs.append((Path(entry.path), f"{prefix}{entry.name}/"))
            elif is_post_file(entry.name, d.suffixes + d.other_formats):
                yield f"{prefix}{entry.name}", entry
        stack.extend(reversed(subdirs))


@dataclass(frozen=True, slots=True)
class Scanned:
    """One post file found in the content folder."""

    source: str  # as messages name it: "content/…"
    path: str  # on disk (a link resolved)
    signature: str  # stat signature; "" when it is not read
    error: str = ""  # why it is not read
    severity: Severity = "error"


_NOT_READ = "\x00not a post in any format syndicate reads"


def link_roots(site_dir: Path, settings: Settings) -> tuple[Path, tuple[Path, ...]]:
    """The folders a post file that is a link may lead into: the site and ``[content]
    allow_links_to``, resolved (once per scan: ``resolve`` costs a system call per path part)."""
    return site_dir.resolve(), tuple((site_dir / folder).resolve() for folder in settings.content.allow_links_to)


def scanned(
    source: str,
    path: str,
    site_dir: Path,
    settings: Settings,
    bundles: frozenset[str] = frozenset(),
    roots: tuple[Path, tuple[Path, ...]] | None = None,
) -> Scanned:
    """One post file as a scan finds it: readable (with its stat signature), or the reason it is
    not, or (severity "skipped") why it is no post: a section index, a README, a page, a bundle's
    resource (``bundles``: the folders that hold an index.md). ``roots``: :func:`link_roots`."""
    prefix = source_prefix(settings.content.dir)
    rel = source[len(prefix) :]
    d = dialect(settings.content.generator)
    skip = skip_reason(d, settings.content.sections, rel, bundles)
    if not is_post_file(rel.rsplit("/", 1)[-1], d.suffixes):  # another format the generator publishes
        if skip is not None:
            return Scanned(source, path, "", _NOT_READ, "skipped")  # a page or template: not worth a line
        ext = "." + rel.rsplit(".", 1)[-1]
        skip = f"a {ext} post, which {d.name.capitalize()} publishes but syndicate does not read (it reads Markdown)"
    if skip:
        return Scanned(printable(source), path, "", skip, "skipped")
    why = name_problem(source)
    if why:
        return Scanned(printable(source), path, "", why)
    site_root, allowed = roots or link_roots(site_dir, settings)
    found = examine(path, site_root, allowed)
    if found.st is None:
        return Scanned(source, path, "", found.problem, "warning" if found.severity == "warning" else "error")
    return Scanned(source, found.path, stat_signature(found.st))


def scan(site_dir: Path, settings: Settings) -> list[Scanned]:
    """Every post file under the content folder, with its stat signature. Raises ContentError."""
    content_dir = site_dir / settings.content.dir
    prefix = source_prefix(settings.content.dir)
    if not content_dir.is_dir():
        raise ContentError(
            prefix.rstrip("/") or ".", f"content folder {content_dir} not found; create it or set [content] dir"
        )
    d = dialect(settings.content.generator)
    files = list(find_post_files(content_dir, d))
    bundles = bundle_folders(rel for rel, _ in files) if d.bundle_resources else frozenset()
    roots = link_roots(site_dir, settings)
    found = [scanned(prefix + rel, entry.path, site_dir, settings, bundles, roots) for rel, entry in files]
    found.sort(key=lambda f: f.source)
    return [f for f in found if f.error != _NOT_READ]


class PostIndex:
    """What :func:`load_posts` found, kept by a long-running process between its cycles, so
    that a cycle after a file event looks only at the files that changed."""

    def __init__(self) -> None:
        self.entries: dict[str, CachedPost] = {}
        self.key: str | None = None
        self.linked: dict[str, tuple[Post, Post]] = {}  # source → (post as parsed, with its links: load.link_posts)


class ContentWatch:
    """A long-running process's view of the content folder: the last scan, patched with the
    paths the file watcher reported, so a saved post costs one stat, not one per post.

    Anything it cannot patch with certainty (a folder created, moved or deleted; a
    different content folder; an event queue overflow) makes the next scan a full one, as
    does :meth:`rescan_all` (the daemon's periodic safety net).
    """

    def __init__(self) -> None:
        self._mx = threading.Lock()
        self._files: dict[str, Scanned] | None = None
        self._order: list[str] = []  # the keys of _files, sorted (kept sorted as files come and go)
        self._where: Path | None = None
        self.index = PostIndex()  # load_posts' result for these files
        self._paths: set[str] = set()
        self._full = True
        self.last_full = True  # the last scan looked at every file
        self.changed: set[str] | None = None  # else the sources the last scan patched
        self._site = Path(".")
        self._settings: Settings | None = None

    def note(self, path: str, is_directory: bool = False) -> None:
        with self._mx:
            if is_directory:
                self._full = True
            else:
                self._paths.add(path)

    def rescan_all(self) -> None:
        with self._mx:
            self._full = True

    def scan(self, site_dir: Path, settings: Settings) -> list[Scanned]:
        where = site_dir / settings.content.dir
        self._site, self._settings = site_dir, settings
        with self._mx:
            paths, self._paths = self._paths, set()
            full, self._full = self._full or self._files is None or where != self._where, False
        self.last_full = full
        self.changed = None if full else set()
        if full:
            self._files = {f.source: f for f in scan(site_dir, settings)}
            self._order = sorted(self._files)
            self._where = where
        else:
            assert self._files is not None
            prefix = source_prefix(settings.content.dir)
            for path in paths:
                if not self._patch(where, prefix, path):
                    self._files = {f.source: f for f in scan(site_dir, settings)}
                    self._order = sorted(self._files)
                    self.last_full, self.changed = True, None
                    break
        files = self._files
        return [files[k] for k in self._order]

    def _drop(self, source: str) -> None:
        assert self._files is not None
        if self._files.pop(source, None) is not None:
            i = bisect_left(self._order, source)
            if i < len(self._order) and self._order[i] == source:
                del self._order[i]

    def _put(self, found: Scanned) -> None:
        assert self._files is not None
        if found.source not in self._files:
            insort(self._order, found.source)
        self._files[found.source] = found

    def _patch(self, where: Path, prefix: str, path: str) -> bool:
        """Apply one reported path; False when only a full scan can tell what happened."""
        assert self._files is not None
        try:
            rel = Path(path).relative_to(where).as_posix()
        except ValueError:
            return True  # not in the content folder (the config): nothing to patch
        d = dialect(self._settings.content.generator) if self._settings else dialect("syndicate")
        folders = rel.split("/")[:-1]
        if any(prune_folder(d, part, i == 0) for i, part in enumerate(folders)) or rel.startswith("."):
            return True  # hidden, or in a folder that never holds posts
        source = prefix + rel
        if self.changed is not None:
            self.changed.add(source)
        if not is_post_file(rel.rsplit("/", 1)[-1], d.suffixes):
            # not a post's name: a folder, if posts live under it (moved or deleted) or it is one now
            return not (os.path.isdir(path) or any(s.startswith(source + "/") for s in self._files))
        if d.bundle_resources and file_stem(rel) == "index" and (source in self._files) != os.path.lexists(path):
            return False  # a bundle's index.md came or went: its folder's other files changed what they are
        if not os.path.lexists(path):
            for known in (source, printable(source)):
                self._drop(known)
                if self.changed is not None:
                    self.changed.add(known)
            return True
        if os.path.isdir(path) and not os.path.islink(path):
            return False  # a folder with a post's name
        assert self._settings is not None
        bundles = bundle_folders(s[len(prefix) :] for s in self._files) if d.bundle_resources else frozenset()
        found = scanned(source, path, self._site, self._settings, bundles)
        if self.changed is not None:
            self.changed.add(found.source)  # a name that is not UTF-8 is known by its escaped form
        self._put(found)
        return True
