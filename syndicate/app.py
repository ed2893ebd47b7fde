"""The shell around the core: read the site, build the feeds, write the output folder."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from . import __version__
from .cache import Entry, PostCache, stat_signature
from .config import load_settings
from .deadline import DeadlinePassed, call_with_deadline
from .errors import ContentError
from .feeds import IncrementalPlan, plan_feeds, settle_conflicts
from .files import examine, name_problem, read_limited
from .markup import render_body
from .model import Feed, Post, Problem, Settings, Severity, printable
from .output import holds, make_folders, remove_stale, replace_file, write_all
from .posts import MAX_FILE_BYTES, is_post_file, parse_post, post_body
from .render import Memo, render_feed
from .render.pages import render_index, render_opml
from .slugs import url_segment

STATE_DIR = ".syndicate"
_TRACE = bool(os.environ.get("SYNDICATE_TRACE"))
_t0 = time.perf_counter()


def trace(what: str) -> None:
    """With SYNDICATE_TRACE=1 in the environment: where a build spends its time, on stderr."""
    if _TRACE:
        print(f"trace {time.perf_counter() - _t0:8.3f} s  {what}", file=sys.stderr, flush=True)


Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Tally:
    """What a build found, as `build` and `check` print it."""

    live: int
    drafts: int
    scheduled: tuple[tuple[datetime, str], ...]  # (date, file), soonest first
    rejected: int  # files
    feeds: int


@dataclass
class BuildReport:
    settings: Settings
    posts: list[Post] = field(default_factory=list)  # every accepted post, drafts and scheduled too
    problems: list[Problem] = field(default_factory=list)
    feeds: list[Feed] = field(default_factory=list)
    files: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    parsed: int = 0  # files read and parsed (not taken from the cache)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    stored_tally: Tally | None = None  # from the manifest, when nothing changed and no post was loaded

    def tally(self, now: datetime) -> Tally:
        if self.stored_tally is not None:
            return self.stored_tally
        return Tally(
            live=len(self.live(now)),
            drafts=len(self.drafts()),
            scheduled=tuple((p.published, p.source) for p in self.scheduled(now)),
            rejected=len({p.path for p in self.rejected}),
            feeds=len(self.feeds),
        )

    @property
    def rejected(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def live(self, now: datetime) -> list[Post]:
        return [p for p in self.posts if p.is_live(now)]

    def scheduled(self, now: datetime) -> list[Post]:
        return sorted((p for p in self.posts if not p.draft and p.published > now), key=lambda p: p.published)

    def drafts(self) -> list[Post]:
        return [p for p in self.posts if p.draft]


def find_post_files(content_dir: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(path relative to ``content_dir``, entry) for each post file, in a stable order.

    Hidden files and folders, editor temp and backup files, and non-Markdown files are
    skipped; symlinked folders are not followed (no loops). Whether a file may be read
    (a link, a FIFO) is :func:`examine`'s to say.
    """
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
                subdirs.append((Path(entry.path), f"{prefix}{entry.name}/"))
            elif is_post_file(entry.name):
                yield f"{prefix}{entry.name}", entry
        stack.extend(reversed(subdirs))


PARALLEL_MIN = int(os.environ.get("SYNDICATE_PARALLEL_MIN", "48"))  # jobs before worker processes pay off


def _parse_file(job: tuple[str, str, Settings]) -> tuple[Post | None, list[Problem]]:
    """Read and parse one file (in a worker process, or inline)."""
    source, path, settings = job
    try:
        data = read_limited(path, MAX_FILE_BYTES, source)
    except ContentError as e:
        return None, [Problem(source, e.message)]
    result = parse_post(source, data, settings)
    return result.post, result.problems


def _parse_file_light(job: tuple[str, str, Settings]) -> tuple[Post | None, list[Problem]]:
    """As :func:`_parse_file`, but the post remembers its file, not its body (less to send back)."""
    post, problems = _parse_file(job)
    if post is not None:
        post.content.set_recipe(file_recipe(job[0], job[1], post.url, job[2]))
    return post, problems


def file_recipe(source: str, path: str, url: str, settings: Settings) -> Callable[[], tuple[str, str]]:
    c = settings.content
    return partial(
        render_file,
        source,
        path,
        url,
        c.renderer,
        c.markdown_extensions,
        settings.feeds.summary_length,
        c.sanitize,
        c.embed_hosts,
    )


def render_file(
    source: str,
    path: str,
    url: str,
    engine: str,
    extensions: tuple[str, ...],
    summary_length: int,
    sanitize: bool = True,
    embeds: tuple[str, ...] = (),
) -> tuple[str, str]:
    """A post's HTML and summary, made from its file (whose front matter was parsed before)."""
    try:
        body = post_body(source, read_limited(path, MAX_FILE_BYTES, source))
    except ContentError:
        return "", ""  # changed or gone since it was parsed: the next build parses it again
    return render_body(body, url, engine, extensions, summary_length, sanitize, embeds)


def _make(job: tuple[Callable[[], tuple[str, str]], float]) -> tuple[str, str] | str:
    """One post's HTML and summary, or why it could not be made: no post may hold a build or the
    daemon longer than ``[content] render_timeout`` (Python-Markdown is quadratic on some inputs)."""
    recipe, seconds = job
    try:
        return call_with_deadline(recipe, seconds)
    except DeadlinePassed:
        return (
            f"rendering took longer than {seconds:g} s (deeply nested brackets or tags?); simplify the post"
            " or raise [content] render_timeout"
        )
    except RecursionError:
        return "the Markdown is nested too deeply to render; simplify the post"


_FORKED: tuple[Callable[[Any], Any], Sequence[Any]] | None = None  # what forked workers inherit


def _run_range(bounds: tuple[int, int]) -> list[Any]:
    assert _FORKED is not None
    fn, jobs = _FORKED
    out = [fn(jobs[i]) for i in range(*bounds)]
    while _to_write:  # a range is done when its files are on disk (in batches: a worker that
        replace_file(*_to_write.pop())  # writes while it renders renders slower)
    return out


class Workers:
    """All cores for big batches (a cold build); small batches run inline.

    A process without threads (the CLI) forks: workers start at once and inherit the jobs
    (the parsed posts, the planned feeds), so only results cross a pipe. A process with
    threads (the daemon) must not fork; it spawns workers, which import syndicate first
    and are sent their jobs.
    """

    def __init__(self) -> None:
        self.cores = os.cpu_count() or 1
        self.forks = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
        self._spawned: ProcessPoolExecutor | None = None

    def worth_it(self, jobs: int) -> bool:
        return jobs >= PARALLEL_MIN and self.cores >= 2

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any], progress: Progress | None = None) -> list[Any]:
        global _FORKED
        out: list[Any] = []
        if not self.worth_it(len(jobs)):
            for job in jobs:
                out.append(fn(job))
                if progress:
                    progress(len(out), len(jobs))
            return out
        if self.forks:
            step = max(1, len(jobs) // (self.cores * 4))
            ranges = [(i, min(i + step, len(jobs))) for i in range(0, len(jobs), step)]
            _FORKED = (fn, jobs)
            try:
                with ProcessPoolExecutor(self.cores, mp_context=multiprocessing.get_context("fork")) as pool:
                    for part in pool.map(_run_range, ranges):
                        out.extend(part)
                        if progress:
                            progress(len(out), len(jobs))
            finally:
                _FORKED = None
            return out
        if self._spawned is None:
            self._spawned = ProcessPoolExecutor(self.cores, mp_context=multiprocessing.get_context("spawn"))
        for result in self._spawned.map(fn, jobs, chunksize=max(1, min(64, len(jobs) // (self.cores * 8)))):
            out.append(result)
            if progress:
                progress(len(out), len(jobs))
        return out

    def close(self) -> None:
        if self._spawned is not None:
            self._spawned.shutdown()
            self._spawned = None


def make_contents(posts: Iterable[Post], workers: Workers | None = None, timeout: float = 5.0) -> list[Post]:
    """Make the HTML of every post not made yet, on every core when there are many, each within
    ``timeout`` seconds. Returns the posts whose HTML could not be made (``content.failed`` says why)."""
    posts = list(posts)
    todo = list({id(p.content): p.content for p in posts if not p.content.ready}.values())
    results = (workers or Workers()).map(_make, [(c.recipe(), timeout) for c in todo])
    for content, result in zip(todo, results, strict=True):
        if isinstance(result, str):
            content.fail(result)
        else:
            content.fill(*result)
    return list({p.id: p for p in posts if p.content.failed}.values())


@dataclass(frozen=True, slots=True)
class Scanned:
    """One post file found in the content folder."""

    source: str  # as messages name it: "content/…"
    path: str  # on disk (a link resolved)
    signature: str  # stat signature; "" when it is not read
    error: str = ""  # why it is not read
    severity: Severity = "error"


def scanned(source: str, path: str, site_dir: Path, settings: Settings) -> Scanned:
    """One post file as a scan finds it: readable (with its stat signature), or the reason it is not."""
    why = name_problem(source)
    if why:
        return Scanned(printable(source), path, "", why)
    allowed = tuple((site_dir / folder).resolve() for folder in settings.content.allow_links_to)
    found = examine(path, site_dir.resolve(), allowed)
    if found.st is None:
        return Scanned(source, path, "", found.problem, "warning" if found.severity == "warning" else "error")
    return Scanned(source, found.path, stat_signature(found.st))


def scan(site_dir: Path, settings: Settings) -> list[Scanned]:
    """Every post file under the content folder, with its stat signature. Raises ContentError."""
    content_dir = site_dir / settings.content.dir
    prefix = settings.content.dir.strip("/") + "/"
    if not content_dir.is_dir():
        raise ContentError(
            prefix.rstrip("/"), f"content folder {content_dir} not found; create it or set [content] dir"
        )
    found = [scanned(prefix + rel, entry.path, site_dir, settings) for rel, entry in find_post_files(content_dir)]
    found.sort(key=lambda f: f.source)
    return found


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
            self._where = where
        else:
            assert self._files is not None
            prefix = settings.content.dir.strip("/") + "/"
            for path in paths:
                if not self._patch(where, prefix, path):
                    self._files = {f.source: f for f in scan(site_dir, settings)}
                    self.last_full, self.changed = True, None
                    break
        return [self._files[k] for k in sorted(self._files)]

    def _patch(self, where: Path, prefix: str, path: str) -> bool:
        """Apply one reported path; False when only a full scan can tell what happened."""
        assert self._files is not None
        try:
            rel = Path(path).relative_to(where).as_posix()
        except ValueError:
            return True  # not in the content folder (the config): nothing to patch
        if any(part.startswith(".") for part in rel.split("/")):
            return True  # hidden: never a post
        source = prefix + rel
        if self.changed is not None:
            self.changed.add(source)
        if not is_post_file(rel.rsplit("/", 1)[-1]):
            # not a post's name: a folder, if posts live under it (moved or deleted) or it is one now
            return not (os.path.isdir(path) or any(s.startswith(source + "/") for s in self._files))
        if not os.path.lexists(path):
            for known in (source, printable(source)):
                self._files.pop(known, None)
                if self.changed is not None:
                    self.changed.add(known)
            return True
        if os.path.isdir(path) and not os.path.islink(path):
            return False  # a folder with a post's name
        assert self._settings is not None
        found = scanned(source, path, self._site, self._settings)
        if self.changed is not None:
            self.changed.add(found.source)  # a name that is not UTF-8 is known by its escaped form
        self._files[found.source] = found
        return True


class PostIndex:
    """What :func:`load_posts` found, kept by a long-running process between its cycles, so
    that a cycle after a file event looks only at the files that changed."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.key: str | None = None


def load_posts(
    site_dir: Path,
    settings: Settings,
    cache: PostCache,
    progress: Progress | None = None,
    workers: Workers | None = None,
    files: list[Scanned] | None = None,
    index: PostIndex | None = None,
    changed: set[str] | None = None,
) -> tuple[list[Post], list[Problem], int]:
    """Every post file under the content folder → accepted posts, problems, files parsed.

    Files whose stat signature and settings match the cache are taken from it unread; the
    others are parsed, on every core when there are many. With an ``index`` from the last
    call and the sources that ``changed`` since (None: unknown), only those are looked at.
    """
    key = settings.render_key()
    files = scan(site_dir, settings) if files is None else files
    incremental = index is not None and changed is not None and index.key == key
    subset = [f for f in files if f.source in changed] if incremental and changed is not None else files
    resolved: dict[str, Entry] = {}
    jobs: list[tuple[str, str, Settings]] = []
    signatures: dict[str, str] = {}
    for f in subset:
        if f.error:
            resolved[f.source] = Entry("", key, None, [Problem(f.source, f.error, severity=f.severity)])
            continue
        hit = cache.get(f.source, f.signature, key)
        if hit is None:
            jobs.append((f.source, f.path, settings))
            signatures[f.source] = f.signature
            continue
        if hit.post is not None and hit.post.content.needs_recipe:
            hit.post.content.set_recipe(file_recipe(f.source, f.path, hit.post.url, settings))
        resolved[f.source] = hit
    workers = workers or Workers()
    parse = _parse_file_light if workers.worth_it(len(jobs)) else _parse_file
    for (source, _, _), (post, found) in zip(jobs, workers.map(parse, jobs, progress), strict=True):
        resolved[source] = Entry(signatures[source], key, post, found)
        if not any(p.message.startswith("cannot read:") for p in found):
            cache.put(source, resolved[source])
    if incremental and index is not None and changed is not None:
        gone = changed - resolved.keys()
        for source in gone:
            index.entries.pop(source, None)
        cache.forget(gone)
        index.entries.update(resolved)
        entries = index.entries
    else:
        cache.forget_missing(set(resolved))
        entries = resolved
        if index is not None:
            index.entries, index.key = dict(resolved), key
    posts = [e.post for e in entries.values() if e.post is not None]
    problems = [p for e in entries.values() for p in e.problems]
    kept, conflicts = settle_conflicts(posts)
    return kept, problems + conflicts, len(jobs)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


FileInfo = tuple[int, str]  # an output file's size and digest


@dataclass
class Prepared:
    """A build that has been rendered but not yet (entirely) written.

    ``outputs`` holds the bytes of the files rendered by this process. ``known`` describes
    the files not held here: those whose feed did not change (on disk already) and those
    forked workers rendered and wrote themselves — rel → (size, digest, written now).
    """

    report: BuildReport
    outputs: dict[str, bytes]
    out: Path
    cache: PostCache
    started: float
    known: dict[str, tuple[int, str, bool]] = field(default_factory=dict)
    inputs: Callable[[], str] | None = None  # see inputs_key
    now: datetime | None = None
    memo: RenderMemo | None = None
    trusted: bool = False  # a daemon cycle after a file event: the output folder is as it left it
    _changed: list[str] | None = None
    _compared: list[str] = field(default_factory=list)
    _digests: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        """Every output file of this build."""
        return sorted(self.outputs.keys() | self.known.keys())

    def changed(self) -> list[str]:
        """Output files this build changes: written by workers, or held here and different from
        what is on disk (compared once, then remembered)."""
        if self._changed is None:
            changed = [rel for rel, (_, _, wrote) in self.known.items() if wrote]
            for rel, data in self.outputs.items():
                self._compared.append(rel)
                if not holds(self.out / rel, data):
                    changed.append(rel)
            self._changed = sorted(changed)
        return self._changed

    def digest(self, rel: str) -> str:
        """A short hash of one output file (for WebSub: one ping per feed version)."""
        if rel in self.known:
            return self.known[rel][1]
        if rel not in self._digests:
            self._digests[rel] = digest(self.outputs[rel])
        return self._digests[rel]

    def feed_url(self, rel: str) -> str:
        return self.report.settings.feeds_url + "/".join(url_segment(seg) for seg in rel.split("/"))

    def is_feed(self, rel: str) -> bool:
        feeds = self.report.settings.feeds
        return rel.rsplit("/", 1)[-1] in (feeds.rss, feeds.atom, feeds.json)


RENDER_FORMAT = 3  # bump when the bytes a feed renders to change for the same input
KEEP_ENTRIES_UP_TO = 16  # feeds rendered by one call whose entries the next call may reuse


@dataclass
class Rendered:
    outputs: dict[str, bytes]  # rendered here
    known: dict[str, tuple[int, str, bool]]  # not held here: unchanged on disk, or written by workers
    failed: list[Post] = field(default_factory=list)  # posts whose HTML could not be made: nothing was rendered


class RenderMemo:
    """Which feeds must be rendered again, and what the others' files are.

    Each feed has a fingerprint: a hash of syndicate's version, the settings and its posts
    (ids and revisions). A feed whose fingerprint is the one its files on disk were rendered
    from is not rendered: in memory for a long-running process (the daemon), and across
    processes through the fingerprints kept in the cache, each with its files' sizes and
    digests (a file whose size differs — cut short, or edited — renders its feed again).
    No feed bytes are kept between calls.
    """

    def __init__(self) -> None:
        self._feeds: dict[str, tuple[str, dict[str, FileInfo]]] = {}  # feed key → fingerprint, its files
        self._out: Path | None = None
        self._planned: dict[str, Feed] = {}  # the feed objects of the last call
        self._pages: tuple[Any, bytes, bytes] | None = None
        self.stats: dict[str, list[int] | None] = {}  # output file → its stat when last written or checked
        self.rendered = 0  # feeds rendered by the last call
        self.feeds_changed = True  # the last call's feeds are not those of the one before
        self._entries: Memo = {}  # the entries the last call rendered in this process
        self._entries_base: Any = None

    def checked(self, out: Path, rels: Iterable[str]) -> None:
        """These files are now on disk as rendered: remember their stats."""
        for rel in rels:
            self.stats[rel] = _stat(out / rel)

    def matches_disk(self, out: Path) -> bool:
        """Is every file of the last call's feeds (and the pages) on disk as it was last written or
        checked? False when one is missing or was changed by someone else: ``rm -rf public``, a
        write that failed. One stat per file."""
        if out.resolve() != self._out:
            return True  # not this output folder's memory
        rels = {rel for _, files in self._feeds.values() for rel in files} | {"index.html", "feeds.opml"}
        return all(_stat(out / rel) == self.stats[rel] for rel in rels if rel in self.stats)

    def _on_disk(self, out: Path, files: dict[str, FileInfo], trust: bool, from_memory: bool) -> bool:
        """Are these files (of a feed not rendered again) on disk as they were rendered?"""
        if from_memory and trust:
            return True  # a daemon cycle after a file event: the output folder is ours
        for rel, (size, _) in files.items():
            now = _stat(out / rel)
            if now is None or now[0] != size:
                return False
            if from_memory and self.stats.get(rel) not in (None, now):
                return False  # touched since we wrote it
        return True

    def render(
        self,
        feeds: list[Feed],
        settings: Settings,
        cache: PostCache | None,
        out_dir: Path,
        workers: Workers | None = None,
        write: bool = False,
        trust: bool = False,
    ) -> Rendered:
        """The files of ``feeds``, index.html and feeds.opml. With ``write``, feeds rendered by
        forked workers are written by the workers themselves (see :class:`Prepared`)."""
        base = (__version__, RENDER_FORMAT, settings.render_key(), repr(settings.feeds), settings.hubs, settings.site)
        if out_dir != self._out:
            self._feeds, self.stats, self._out, self._planned = {}, {}, out_dir, {}
        result = Rendered({}, {})
        todo: list[tuple[Feed, str]] = []
        done: dict[str, tuple[str, dict[str, FileInfo]]] = {}
        for feed in feeds:
            hit = self._feeds.get(feed.key)
            if hit is not None and self._planned.get(feed.key) is feed:  # the planner kept it: unchanged
                fingerprint = hit[0]
            else:
                posts = tuple((p.id, p.revision) for p in feed.posts)
                key = (base, feed.title, feed.description, feed.updated, feed.links.urls["rss"], posts)
                fingerprint = hashlib.sha256(repr(key).encode()).hexdigest()
            if hit is not None and hit[0] == fingerprint and self._on_disk(out_dir, hit[1], trust, True):
                done[feed.key] = hit
                continue
            stored = _parse_print(cache.feed_prints.get(f"{out_dir}\x1f{feed.key}", "")) if cache else None
            if stored is not None and stored[0] == fingerprint and self._on_disk(out_dir, stored[1], trust, False):
                done[feed.key] = stored
                continue
            todo.append((feed, fingerprint))
        for _, files in done.values():
            result.known.update({rel: (size, dig, False) for rel, (size, dig) in files.items()})
        workers = workers or Workers()
        # Each post's HTML is made once, on every core when there are many, each within the
        # render timeout; a post that cannot be made sends the caller back to plan without it.
        failed = make_contents((p for feed, _ in todo for p in feed.posts), workers, settings.content.render_timeout)
        if failed:
            result.failed = failed
            return result  # nothing rendered, nothing remembered
        if workers.forks and workers.worth_it(len(todo)) and write:
            # Forked workers inherit the posts with their HTML, render the feeds and write the
            # files themselves: 200 MB of feeds never cross a pipe or sit in this process's memory.
            jobs = [(feed, settings, out_dir) for feed, _ in todo]
            for (feed, fingerprint), files in zip(todo, workers.map(_render_and_write, jobs), strict=True):
                result.known.update(files)
                done[feed.key] = (fingerprint, {rel: (size, dig) for rel, (size, dig, _) in files.items()})
        else:
            if workers.forks and workers.worth_it(len(todo)):
                rendered = list(workers.map(_render_forked, [(feed, settings) for feed, _ in todo]))
            else:
                # entries of the last call that these feeds show again (the site feed's 19 others)
                old = self._entries if self._entries_base == base else {}
                entries: Memo = {}
                for feed, _ in todo:
                    for p in feed.posts:
                        for fmt in ("rss", "atom", "json"):
                            if (fmt, p.id, p.revision) in old:
                                entries[(fmt, p.id, p.revision)] = old[(fmt, p.id, p.revision)]
                rendered = [render_feed(feed, settings, entries) for feed, _ in todo]
                if len(todo) > KEEP_ENTRIES_UP_TO:  # a big render: keep the site feed's only (memory)
                    shown = {(p.id, p.revision) for feed in feeds[:1] for p in feed.posts}
                    entries = {k: v for k, v in entries.items() if (k[1], k[2]) in shown}
                self._entries, self._entries_base = entries, base
            for (feed, fingerprint), files in zip(todo, rendered, strict=True):
                result.outputs.update(files)
                done[feed.key] = (fingerprint, {rel: (len(data), digest(data)) for rel, data in files.items()})
        if cache is not None:
            for feed_key, (fingerprint, files) in done.items():
                cache.put_feed_print(f"{out_dir}\x1f{feed_key}", _print(fingerprint, files))
        self.feeds_changed = done.keys() != self._feeds.keys()
        self._feeds = done
        self._planned = {feed.key: feed for feed in feeds}
        pages_key = (base, tuple((f.key, f.title, f.tag, len(f.posts)) for f in feeds))
        if self._pages is None or self._pages[0] != pages_key:
            self._pages = (pages_key, render_index(feeds, settings), render_opml(feeds, settings))
        result.outputs["index.html"], result.outputs["feeds.opml"] = self._pages[1], self._pages[2]
        self.rendered = len(todo)
        return result


def _print(fingerprint: str, files: dict[str, FileInfo]) -> str:
    """How a feed's fingerprint and files are kept in the cache (fields split by ASCII separators)."""
    return "\x1e".join([fingerprint, *(f"{rel}\x1f{size}\x1f{dig}" for rel, (size, dig) in sorted(files.items()))])


def _parse_print(text: str) -> tuple[str, dict[str, FileInfo]] | None:
    try:
        fingerprint, *files = text.split("\x1e")
        parsed = {}
        for item in files:
            rel, size, dig = item.split("\x1f")
            parsed[rel] = (int(size), dig)
    except ValueError:
        return None
    return (fingerprint, parsed) if fingerprint and parsed else None


_entries: Memo = {}  # in a forked worker: the entries made so far, shared by the feeds it renders
WORKER_ENTRIES = 3000  # at most (~60 MB): a worker's memory must not grow with the site


def _render_forked(job: tuple[Feed, Settings]) -> dict[str, bytes]:
    files = render_feed(job[0], job[1], _entries)
    _bound_worker_memory(job[0])
    return files


def _bound_worker_memory(feed: Feed) -> None:
    """A worker keeps the entries it made for the next feeds, but not more than WORKER_ENTRIES
    (the older half goes)."""
    if len(_entries) > WORKER_ENTRIES:
        for key in list(_entries)[: len(_entries) // 2]:
            del _entries[key]


_to_write: list[tuple[Path, bytes]] = []  # in a forked worker: files rendered, written when its range ends


def _render_and_write(job: tuple[Feed, Settings, Path]) -> dict[str, tuple[int, str, bool]]:
    """In a forked worker: render one feed and bring its files up to date on disk."""
    feed, settings, out = job
    files = render_feed(feed, settings, _entries)
    _bound_worker_memory(feed)
    changed = {rel: data for rel, data in files.items() if not holds(out / rel, data)}
    if changed:
        paths = make_folders(out, changed)
        _to_write.extend((paths[rel], data) for rel, data in changed.items())
    return {rel: (len(data), digest(data), rel in changed) for rel, data in files.items()}


def prepare(
    site_dir: Path,
    now: datetime,
    *,
    out_dir: Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    cache: PostCache | None = None,
    memo: RenderMemo | None = None,
    watch: ContentWatch | None = None,
    planner: IncrementalPlan | None = None,
    write: bool = False,
    render: bool = True,
    files: list[Scanned] | None = None,
    settings: Settings | None = None,
) -> Prepared:
    """Parse the site and render every output file, writing nothing.

    ``now`` decides which posts are live; nothing else reads the clock. Raises
    ConfigError; content problems are reported, never raised. A long-running caller
    passes its own ``cache`` and ``memo`` so that nothing unchanged is redone. With
    ``write``, the caller will write the outputs next (:func:`write_outputs`): the feeds
    that forked workers render are then written by them at once (OutputError). Without
    ``render``, only the posts and the feeds are planned (`check`, `feeds`).
    """
    started = time.perf_counter()
    settings = settings or load_settings(site_dir)
    if cache is None:
        cache = PostCache(site_dir / STATE_DIR / "cache.db" if use_cache else None)
    report = BuildReport(settings)
    workers = Workers()
    try:
        trace("settings and cache loaded")
        if watch is not None:
            files = watch.scan(site_dir, settings)
        elif files is None:
            files = scan(site_dir, settings)
        out = out_dir if out_dir is not None else site_dir / "public"
        report.posts, report.problems, report.parsed = load_posts(
            site_dir,
            settings,
            cache,
            progress,
            workers,
            files,
            watch.index if watch is not None else None,
            watch.changed if watch is not None else None,
        )
        trace(f"posts loaded ({report.parsed} parsed)")
        report.feeds = planner.plan(report.posts, settings, now) if planner else plan_feeds(report.posts, settings, now)
        trace("feeds planned")
        rendered = Rendered({}, {})
        memo = memo or RenderMemo()  # fingerprints in the cache let a fresh process skip unchanged feeds
        trust = watch is not None and not watch.last_full  # after a file event, not a full scan
        while render:
            rendered = memo.render(
                report.feeds, settings, cache if cache.path else None, out.resolve(), workers, write, trust
            )
            trace(f"feeds rendered ({memo.rendered} of {len(report.feeds)})")
            if not rendered.failed:
                break
            # A post whose HTML could not be made is rejected like a broken one, remembered as
            # such (no second attempt for the same file and settings), and the feeds planned again.
            _reject(report, rendered.failed, cache, files, watch.index if watch is not None else None)
            report.feeds = (
                planner.plan(report.posts, settings, now) if planner else plan_feeds(report.posts, settings, now)
            )
    finally:
        workers.close()
    report.files = len(rendered.outputs) + len(rendered.known)
    inputs = partial(inputs_key, settings, files, out)  # for the manifest, after the files are written
    return Prepared(report, rendered.outputs, out, cache, started, rendered.known, inputs, now, memo, trust)


def _reject(
    report: BuildReport, failed: list[Post], cache: PostCache, files: list[Scanned], index: PostIndex | None
) -> None:
    signatures = {f.source: f.signature for f in files}
    key = report.settings.render_key()
    gone = {p.id for p in failed}
    report.posts = [p for p in report.posts if p.id not in gone]
    for post in failed:
        problem = Problem(post.source, post.content.failed or "cannot be rendered")
        report.problems.append(problem)
        entry = Entry(signatures.get(post.source, ""), key, None, [problem])
        cache.put(post.source, entry)
        if index is not None:
            index.entries[post.source] = entry


def write_outputs(prepared: Prepared) -> BuildReport:
    """Bring the output folder up to date and save the cache. Raises OutputError."""
    report, settings = prepared.report, prepared.report.settings
    by_workers = [rel for rel in prepared.changed() if rel in prepared.known]  # written already
    held = {rel: prepared.outputs[rel] for rel in prepared.changed() if rel in prepared.outputs}
    report.written.extend(sorted([*by_workers, *write_all(prepared.out, held)]))
    trace(f"{len(report.written)} files written")
    if prepared.memo is not None:
        prepared.memo.checked(prepared.out, [*prepared._compared, *by_workers])
    names = (settings.feeds.rss, settings.feeds.atom, settings.feeds.json)
    if not prepared.trusted or prepared.memo is None or prepared.memo.feeds_changed:
        report.removed = remove_stale(prepared.out, settings.feeds.tags_dir, names, set(prepared.files))
    if prepared.cache.path is not None and prepared.now is not None and prepared.inputs is not None:
        manifest = _manifest(prepared, prepared.now)
        prepared.cache.put_meta(_manifest_key(prepared.out), json.dumps(manifest, ensure_ascii=False))
    prepared.cache.save()
    trace("cache saved")
    return finish(prepared)


def finish(prepared: Prepared) -> BuildReport:
    report = prepared.report
    if prepared.cache.warning and prepared.cache.warning not in report.notes:
        report.notes.append(prepared.cache.warning)
    report.seconds = time.perf_counter() - prepared.started
    return report


def inputs_key(settings: Settings, files: list[Scanned], out: Path) -> str:
    """A hash of everything a build reads, but the clock: code, settings, post files' stat signatures."""
    h = hashlib.sha256(repr((__version__, RENDER_FORMAT, settings, str(out.resolve()))).encode())
    for f in files:
        h.update(f"{f.source}\x00{f.signature}\x00{f.error}\n".encode())
    return h.hexdigest()


def _manifest_key(out: Path) -> str:
    return f"manifest {out.resolve()}"


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _subfolders(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _known_stat(prepared: Prepared, rel: str) -> list[int] | None:
    memo = prepared.memo
    if memo is None:
        return _stat(prepared.out / rel)
    if rel not in memo.stats:
        memo.checked(prepared.out, [rel])
    return memo.stats[rel]


def _manifest(prepared: Prepared, now: datetime) -> dict[str, Any]:
    """What a later build needs to tell, from stats alone, that it would change nothing."""
    report, out = prepared.report, prepared.out
    live = [p.published for p in report.live(now)]
    tally = report.tally(now)
    return {
        "inputs": prepared.inputs() if prepared.inputs else "",
        "from": max(live).isoformat() if live else None,  # before this, a live post would be in the future
        "until": tally.scheduled[0][0].isoformat() if tally.scheduled else None,  # then a post goes live
        "outputs": {rel: _known_stat(prepared, rel) for rel in prepared.files},
        "tags": _subfolders(out / report.settings.feeds.tags_dir),
        "problems": [[p.path, p.message, p.line, p.severity] for p in report.problems],
        "tally": {
            "live": tally.live,
            "drafts": tally.drafts,
            "scheduled": [[when.isoformat(), source] for when, source in tally.scheduled],
            "rejected": tally.rejected,
            "feeds": tally.feeds,
        },
    }


def up_to_date(
    settings: Settings, cache: PostCache, files: list[Scanned], out: Path, now: datetime
) -> BuildReport | None:
    """The last build's report if a build now would change nothing, else None.

    True when the code, the settings and every post file's stat signature are those of the
    last build, ``now`` lies between its newest live post and its next scheduled one, and
    every output file is as that build left it (size, mtime, inode). No post is read.
    """
    raw = cache.meta(_manifest_key(out))
    if raw is None:
        return None
    try:
        m = json.loads(raw)
        if m["inputs"] != inputs_key(settings, files, out):
            return None
        if (m["from"] and now < datetime.fromisoformat(m["from"])) or (
            m["until"] and now >= datetime.fromisoformat(m["until"])
        ):
            return None
        if any(_stat(out / rel) != stat for rel, stat in m["outputs"].items()):
            return None
        if _subfolders(out / settings.feeds.tags_dir) != m["tags"]:
            return None
        t = m["tally"]
        report = BuildReport(settings, problems=[Problem(*p) for p in m["problems"]], files=len(m["outputs"]))
        report.stored_tally = Tally(
            t["live"],
            t["drafts"],
            tuple((datetime.fromisoformat(when), source) for when, source in t["scheduled"]),
            t["rejected"],
            t["feeds"],
        )
    except (ValueError, KeyError, TypeError):
        return None  # an unreadable manifest: build
    return report


def build(
    site_dir: Path,
    now: datetime,
    *,
    out_dir: Path | None = None,
    write: bool = True,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> BuildReport:
    """Parse the site and (unless ``write`` is false) bring the output folder up to date.

    With the cache on, a build that would change nothing is told from stats alone and
    returns the last build's report (see :func:`up_to_date`).
    """
    started = time.perf_counter()
    settings = load_settings(site_dir)
    cache = PostCache(site_dir / STATE_DIR / "cache.db" if use_cache else None)
    files = None
    if write and use_cache:
        out = out_dir if out_dir is not None else site_dir / "public"
        files = scan(site_dir, settings)
        report = up_to_date(settings, cache, files, out, now)
        if report is not None:
            trace("nothing changed since the last build")
            report.seconds = time.perf_counter() - started
            return report
    prepared = prepare(
        site_dir,
        now,
        out_dir=out_dir,
        progress=progress,
        cache=cache,
        write=write,
        render=write,
        files=files,
        settings=settings,
    )
    prepared.started = started
    return write_outputs(prepared) if write else finish(prepared)
