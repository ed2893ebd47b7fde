"""Which files are posts: the content folder scanned (``scan``), or kept up to date by the file
watcher's events in a long-running process (``ContentWatch``)."""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from stat import S_ISREG

from ..core.dialects import Dialect, bundle_folders, dialect, file_stem, prune_folder, skip_reason
from ..core.feeds import settle_conflicts
from ..core.model import Post, Problem, Settings, Severity, printable
from ..core.sources import is_post_file, source_prefix
from ..errors import ContentError
from ..files import examine, name_problem
from ..quick import LSTATS, Recorder, signature_of
from .cache import CachedPost, stat_signature


def find_post_files(
    content_dir: Path,
    d: Dialect | None = None,
    seen: Recorder | None = None,
    unreadable: list[tuple[str, str]] | None = None,
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(path relative to ``content_dir``, entry) for each post file, in a stable order.

    Hidden files and folders, editor temp and backup files, and non-Markdown files are
    skipped, as are the folders no generator keeps posts in (node_modules, its output and
    templates: :func:`prune_folder`); symlinked folders are not followed (no loops). Whether a
    file may be read (a link, a FIFO) is :func:`examine`'s to say. ``seen`` records each folder's
    listing (for the stamp of a build: syndicate/quick.py); ``unreadable`` gets each folder that
    cannot be listed (relative path with a trailing slash, why).
    """
    d = d or dialect("syndicate")
    suffixes = d.suffixes + d.other_formats
    stack = [(content_dir, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            if seen is not None:
                seen.unreadable(str(folder))
            if unreadable is not None:
                unreadable.append((prefix, e.strerror or str(e)))
            continue
        subdirs = []
        names: list[tuple[str, bool]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            names.append((entry.name, is_dir))
            if is_dir:
                if prune_folder(d, entry.name, not prefix):
                    continue
                subdirs.append((Path(entry.path), f"{prefix}{entry.name}/"))
            elif is_post_file(entry.name, suffixes):
                yield f"{prefix}{entry.name}", entry
        if seen is not None:
            seen.folder(str(folder), names)
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
_CLOSED = "cannot read this folder ({why}): the posts in it are skipped; make it readable by the user syndicate runs as"


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
    d: Dialect | None = None,
    rel: str | None = None,
) -> Scanned:
    """One post file as a scan finds it: readable (with its stat signature), or the reason it is
    not, or (severity "skipped") why it is no post: a section index, a README, a page, a bundle's
    resource (``bundles``: the folders that hold an index.md). ``roots``: :func:`link_roots`;
    ``d``: the site's dialect and ``rel`` the path under the content folder (known to a scan)."""
    rel = source[len(source_prefix(settings.content.dir)) :] if rel is None else rel
    d = d or dialect(settings.content.generator)
    skip = skip_reason(d, settings.content.sections, rel, bundles)
    if d.other_formats and not is_post_file(rel.rsplit("/", 1)[-1], d.suffixes):  # another format it publishes
        if skip is not None:
            return Scanned(source, path, "", _NOT_READ, "skipped")  # a page or template: not worth a line
        ext = "." + rel.rsplit(".", 1)[-1]
        skip = f"a {ext} post, which {d.name.capitalize()} publishes but syndicate does not read (it reads Markdown)"
    if skip:
        return Scanned(printable(source), path, "", skip, "skipped")
    why = None if source.isascii() else name_problem(source)
    if why:
        return Scanned(printable(source), path, "", why)
    taken = LSTATS.pop(path, None)  # the stamp check's, if it took one
    if taken is not None and S_ISREG(taken[1]):
        return Scanned(source, path, signature_of(taken[0]))
    try:
        st = os.lstat(path)
    except OSError:
        st = None
    if st is not None and S_ISREG(st.st_mode):  # the common case, at one system call: a regular file
        return Scanned(source, path, stat_signature(st))
    site_root, allowed = roots or link_roots(site_dir, settings)
    found = examine(path, site_root, allowed)
    if found.st is None:
        return Scanned(source, path, "", found.problem, "warning" if found.severity == "warning" else "error")
    return Scanned(source, found.path, stat_signature(found.st))


def scan(site_dir: Path, settings: Settings, seen: Recorder | None = None) -> list[Scanned]:
    """Every post file under the content folder, with its stat signature; ``seen`` records the
    folders' listings and the files' signatures (syndicate/quick.py). Raises ContentError."""
    content_dir = site_dir / settings.content.dir
    prefix = source_prefix(settings.content.dir)
    if not content_dir.is_dir():
        raise ContentError(
            prefix.rstrip("/") or ".", f"content folder {content_dir} not found; create it or set [content] dir"
        )
    d = dialect(settings.content.generator)
    closed: list[tuple[str, str]] = []
    files = list(find_post_files(content_dir, d, seen, closed))
    bundles = bundle_folders(rel for rel, _ in files) if d.bundle_resources else frozenset()
    roots = link_roots(site_dir, settings)
    found = [scanned(prefix + rel, entry.path, site_dir, settings, bundles, roots, d, rel) for rel, entry in files]
    if seen is not None:
        for (rel, entry), f in zip(files, found, strict=True):
            # a link (its target may change under it) or a file examine() refused: no stamp
            doubtful = not f.signature and f.severity != "skipped" and name_problem(prefix + rel) is None
            seen.file(entry.path, f.signature, entry.is_symlink() or doubtful)
    for rel, why in closed:  # its posts are not lost in silence
        folder = (prefix + rel).rstrip("/") or "."
        found.append(Scanned(printable(folder), folder, "", _CLOSED.format(why=why), "warning"))
    found.sort(key=lambda f: f.source)
    result = [f for f in found if f.error != _NOT_READ]
    if seen is not None:
        seen.scanned = result
    return result


class PostIndex:
    """What :func:`load_posts` found, kept by a long-running process between its cycles, so
    that a cycle after a file event looks only at the files that changed: the entries, and
    what :meth:`gather` made of them (patched where those files are, not made again)."""

    def __init__(self) -> None:
        self.entries: dict[str, CachedPost] = {}
        self.key: str | None = None
        self.linked: dict[str, tuple[Post, Post]] = {}  # source → (post as parsed, with its links: load.link_posts)
        self._posts: list[Post] = []  # the entries' posts, in the entries' order
        self._sources: list[str] = []  # the entry of each of _posts
        self._at: dict[str, int] = {}  # source → its post's place in _posts
        self._problems: list[Problem] = []  # the entries' problems, in the entries' order
        self._with_problems: set[str] = set()
        self._urls: dict[str, int] = {}  # how many posts have each URL, each id
        self._ids: dict[str, int] = {}
        self._shared = 0  # URLs and ids more than one post has
        self.with_refs = 0  # posts whose bodies link to other files (load.link_posts)
        self._valid = False

    def gather(self, changed: Iterable[str] | None) -> tuple[list[Post], list[Problem], list[Post], list[Problem]]:
        """(the entries' posts, their problems, the posts :func:`settle_conflicts` keeps, its
        problems), as a pass over every entry gives them: after a cycle that changed only the
        entries of ``changed`` (None: unknown), by patching the last call's where they are. A
        post that comes or goes anywhere but at the end, or a shared URL or id, takes a full pass."""
        if changed is None or not self._valid or not self._patched(set(changed)):
            self._rebuild()
        posts = list(self._posts)
        if self._shared:
            kept, conflicts = settle_conflicts(posts)
        else:
            kept, conflicts = list(posts), []  # what settle_conflicts gives when nothing is shared
        return posts, list(self._problems), kept, conflicts

    def changed_behind(self) -> None:
        """An entry was changed outside :func:`load_posts` (a post rejected after it was loaded):
        the next :meth:`gather` makes everything again."""
        self._valid = False

    def _rebuild(self) -> None:
        self._sources = [source for source, e in self.entries.items() if e.post is not None]
        self._posts = [e.post for e in self.entries.values() if e.post is not None]
        self._at = {source: i for i, source in enumerate(self._sources)}
        self._with_problems = {source for source, e in self.entries.items() if e.problems}
        self._problems = [p for e in self.entries.values() for p in e.problems]
        self._urls, self._ids, self.with_refs, self._shared = {}, {}, 0, 0
        for p in self._posts:
            self._count(p, 1)
        self._valid = True

    def _count(self, p: Post, n: int) -> None:
        """Count a post in (n=1) or out (n=-1): its URL, its id, whether it has links to resolve."""
        self.with_refs += n if p.refs else 0
        for counts, key in ((self._urls, p.url), (self._ids, p.id)):
            before = counts.get(key, 0)
            counts[key] = before + n
            self._shared += (before + n > 1) - (before > 1)
            if not counts[key]:
                del counts[key]

    def _patched(self, changed: set[str]) -> bool:
        """Patch the last call's lists for the entries of ``changed``; False when only a full pass
        can. An entry changed in place keeps its place; one that came (a new file) is among the
        last ``len(changed)`` entries, whose posts are laid again at the end of the list."""
        tail = list(islice(reversed(self.entries), len(changed)))[::-1]
        in_tail = set(tail)
        for source in changed - in_tail:
            entry = self.entries.get(source)
            post = entry.post if entry is not None else None
            at = self._at.get(source)
            if at is not None and post is not None:
                self._count(self._posts[at], -1)
                self._posts[at] = post
                self._count(post, 1)
            elif at is not None or post is not None:
                return False  # a post gone, or come in the middle: the places of the others move
        cut = min((self._at[s] for s in tail if s in self._at), default=len(self._posts))
        if any(source not in in_tail for source in self._sources[cut:]):
            return False
        for source, post in zip(self._sources[cut:], self._posts[cut:], strict=True):
            self._count(post, -1)
            del self._at[source]
        del self._sources[cut:], self._posts[cut:]
        for source in tail:
            post = self.entries[source].post
            if post is not None:
                self._at[source] = len(self._posts)
                self._sources.append(source)
                self._posts.append(post)
                self._count(post, 1)
        if any(s in self._with_problems or ((e := self.entries.get(s)) is not None and e.problems) for s in changed):
            self._with_problems = {source for source, e in self.entries.items() if e.problems}
            self._problems = [p for e in self.entries.values() for p in e.problems]
        return True


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
        self._list: list[Scanned] = []  # the values of _files in that order
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
            self._sorted({f.source: f for f in scan(site_dir, settings)})
            self._where = where
        else:
            assert self._files is not None
            prefix = source_prefix(settings.content.dir)
            for path in paths:
                if not self._patch(where, prefix, path):
                    self._sorted({f.source: f for f in scan(site_dir, settings)})
                    self.last_full, self.changed = True, None
                    break
        return list(self._list)  # a copy: the build that gets it may keep it after the next scan

    def _sorted(self, files: dict[str, Scanned]) -> None:
        self._files, self._order = files, sorted(files)
        self._list = [files[k] for k in self._order]

    def _drop(self, source: str) -> None:
        assert self._files is not None
        if self._files.pop(source, None) is not None:
            i = bisect_left(self._order, source)
            if i < len(self._order) and self._order[i] == source:
                del self._order[i], self._list[i]

    def _put(self, found: Scanned) -> None:
        assert self._files is not None
        i = bisect_left(self._order, found.source)
        if found.source in self._files:
            self._list[i] = found
        else:
            self._order.insert(i, found.source)
            self._list.insert(i, found)
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
