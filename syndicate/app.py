"""The shell around the core: read the site, build the feeds, write the output folder."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import stat
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
from .errors import ContentError
from .feeds import IncrementalPlan, plan_feeds, settle_conflicts
from .markup import render_body
from .model import Feed, Post, Problem, Settings
from .output import make_folders, remove_stale, replace_file, write_all
from .posts import is_post_file, parse_post, post_body
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
    parsed: int = 0  # files read and rendered (not taken from the cache)
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
    skipped; symlinked folders are not followed (no loops).
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
            elif is_post_file(entry.name) and entry.is_file():
                yield f"{prefix}{entry.name}", entry
        stack.extend(reversed(subdirs))


PARALLEL_MIN = int(os.environ.get("SYNDICATE_PARALLEL_MIN", "48"))  # jobs before worker processes pay off


def _parse_file(job: tuple[str, str, Settings]) -> tuple[Post | None, list[Problem]]:
    """Read and parse one file (in a worker process, or inline)."""
    source, path, settings = job
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return None, [Problem(source, f"cannot read: {e.strerror}")]
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
    return partial(render_file, source, path, url, c.renderer, c.markdown_extensions, settings.feeds.summary_length)


def render_file(
    source: str, path: str, url: str, engine: str, extensions: tuple[str, ...], summary_length: int
) -> tuple[str, str]:
    """A post's HTML and summary, made from its file (whose front matter was parsed before)."""
    try:
        body = post_body(source, Path(path).read_bytes())
    except (OSError, ContentError):
        return "", ""  # changed or gone since it was parsed: the next build parses it again
    return render_body(body, url, engine, extensions, summary_length)


def _make(recipe: Callable[[], tuple[str, str]]) -> tuple[str, str]:
    return recipe()


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


def make_contents(posts: Iterable[Post], workers: Workers | None = None) -> int:
    """Make the HTML of every post not made yet, on every core when there are many."""
    todo = list({id(p.content): p.content for p in posts if not p.content.ready}.values())
    results = (workers or Workers()).map(_make, [c.recipe() for c in todo])
    for content, (html, summary) in zip(todo, results, strict=True):
        content.fill(html, summary)
    return len(todo)


@dataclass(frozen=True, slots=True)
class Scanned:
    """One post file found in the content folder."""

    source: str  # as messages name it: "content/…"
    path: str  # on disk
    signature: str  # stat signature; "" when it could not be read
    error: str = ""


def scan(site_dir: Path, settings: Settings) -> list[Scanned]:
    """Every post file under the content folder, with its stat signature. Raises ContentError."""
    content_dir = site_dir / settings.content.dir
    prefix = settings.content.dir.strip("/") + "/"
    if not content_dir.is_dir():
        raise ContentError(prefix.rstrip("/"), "content folder not found; create it or set [content] dir")
    found = []
    for rel, entry in find_post_files(content_dir):
        try:
            found.append(Scanned(prefix + rel, entry.path, stat_signature(entry.stat())))
        except OSError as e:
            found.append(Scanned(prefix + rel, entry.path, "", f"cannot read: {e.strerror}"))
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
        self._paths: set[str] = set()
        self._full = True
        self.last_full = True  # the last scan looked at every file

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
        with self._mx:
            paths, self._paths = self._paths, set()
            full, self._full = self._full or self._files is None or where != self._where, False
        self.last_full = full
        if full:
            self._files = {f.source: f for f in scan(site_dir, settings)}
            self._where = where
        else:
            assert self._files is not None
            prefix = settings.content.dir.strip("/") + "/"
            for path in paths:
                if not self._patch(where, prefix, path):
                    self._files = {f.source: f for f in scan(site_dir, settings)}
                    self.last_full = True
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
        if not is_post_file(rel.rsplit("/", 1)[-1]):
            # not a post's name: a folder, if posts live under it (moved or deleted) or it is one now
            return not (os.path.isdir(path) or any(s.startswith(source + "/") for s in self._files))
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._files.pop(source, None)
            return True
        except OSError as e:
            self._files[source] = Scanned(source, path, "", f"cannot read: {e.strerror}")
            return True
        if stat.S_ISREG(st.st_mode):
            self._files[source] = Scanned(source, path, stat_signature(st))
        else:
            self._files.pop(source, None)
        return True


def load_posts(
    site_dir: Path,
    settings: Settings,
    cache: PostCache,
    progress: Progress | None = None,
    workers: Workers | None = None,
    files: list[Scanned] | None = None,
) -> tuple[list[Post], list[Problem], int]:
    """Every post file under the content folder → accepted posts, problems, files parsed.

    Files whose stat signature and settings match the cache are taken from it unread; the
    others are parsed, on every core when there are many.
    """
    key = settings.render_key()
    entries: list[tuple[str, Entry | None]] = []
    jobs: list[tuple[str, str, Settings]] = []
    signatures: dict[str, str] = {}
    unreadable: list[Problem] = []
    for f in scan(site_dir, settings) if files is None else files:
        if f.error:
            unreadable.append(Problem(f.source, f.error))
            entries.append((f.source, Entry("", key, None, [])))
            continue
        hit = cache.get(f.source, f.signature, key)
        if hit is not None and hit.post is not None and hit.post.content.needs_recipe:
            hit.post.content.set_recipe(file_recipe(f.source, f.path, hit.post.url, settings))
        if hit is None:
            jobs.append((f.source, f.path, settings))
            signatures[f.source] = f.signature
        entries.append((f.source, hit))
    workers = workers or Workers()
    parse = _parse_file_light if workers.worth_it(len(jobs)) else _parse_file
    parsed = workers.map(parse, jobs, progress)
    fresh = dict(zip((job[0] for job in jobs), parsed, strict=True))
    posts: list[Post] = []
    problems: list[Problem] = list(unreadable)
    for source, hit in entries:
        if hit is None:
            post, found = fresh[source]
            hit = Entry(signatures[source], key, post, found)
            if not any(p.message.startswith("cannot read:") for p in found):
                cache.put(source, hit)
        problems.extend(hit.problems)
        if hit.post is not None:
            posts.append(hit.post)
    cache.forget_missing({source for source, _ in entries})
    kept, conflicts = settle_conflicts(posts)
    return kept, problems + conflicts, len(jobs)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass
class Prepared:
    """A build that has been rendered but not yet written."""

    report: BuildReport
    outputs: dict[str, bytes]
    out: Path
    cache: PostCache
    started: float
    on_disk: frozenset[str] = frozenset()  # outputs just read back from the output folder
    inputs: str = ""  # see inputs_key
    now: datetime | None = None
    memo: RenderMemo | None = None
    trust_kept: bool = False  # files the memo kept are as last written (a daemon cycle after a file event)
    streamed: dict[str, tuple[int, str, bool]] = field(default_factory=dict)  # written by workers (see render)
    _changed: list[str] | None = None
    _compared: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        """Every output file of this build, held here or already written by workers."""
        return sorted(self.outputs.keys() | self.streamed.keys())

    def changed(self) -> list[str]:
        """Output files whose bytes differ from what is on disk (compared once, then remembered).

        Files just read back are not compared; nor are those the memo kept in memory whose
        stat is still what it was after the last write (a long-running process).
        """
        if self._changed is None:
            self._changed = [rel for rel, (_, _, wrote) in sorted(self.streamed.items()) if wrote]
            memo = self.memo
            for rel, data in sorted(self.outputs.items()):
                if rel in self.on_disk:
                    continue
                if memo is not None and rel in memo.kept:
                    if self.trust_kept and rel in memo.stats:
                        continue
                    if memo.stats.get(rel) == _stat(self.out / rel) is not None:
                        continue
                self._compared.append(rel)
                try:
                    if (self.out / rel).read_bytes() == data:
                        continue
                except OSError:
                    pass
                self._changed.append(rel)
        return self._changed

    def digest(self, rel: str) -> str:
        """A short hash of one output file (for WebSub: one ping per feed version)."""
        if rel in self.streamed:
            return self.streamed[rel][1]
        return self.memo.digest(rel, self.outputs[rel]) if self.memo is not None else digest(self.outputs[rel])

    def feed_url(self, rel: str) -> str:
        return self.report.settings.feeds_url + "/".join(url_segment(seg) for seg in rel.split("/"))

    def is_feed(self, rel: str) -> bool:
        feeds = self.report.settings.feeds
        return rel.rsplit("/", 1)[-1] in (feeds.rss, feeds.atom, feeds.json)


RENDER_FORMAT = 1  # bump when the bytes a feed renders to change for the same input


class RenderMemo:
    """The bytes of each feed, reused while its posts and settings are unchanged.

    In memory, a long-running process (the daemon) re-renders only the feeds a saved post
    is in. Across processes, each feed's fingerprint is kept in the cache; a feed whose
    fingerprint matches and whose files are on disk is read back instead of rendered.
    """

    def __init__(self) -> None:
        self._feeds: dict[str, tuple[str, dict[str, bytes]]] = {}
        self._out: Path | None = None
        self._planned: dict[str, Feed] = {}  # the feed objects of the last call
        self._pages: tuple[Any, bytes, bytes] | None = None
        self.from_disk: set[str] = set()  # outputs of the last render that were read back, not rendered
        self.kept: set[str] = set()  # outputs of the last render kept in memory from the one before
        self.stats: dict[str, list[int] | None] = {}  # output file → its stat when last written or checked
        self._digests: dict[str, tuple[bytes, str]] = {}
        self.rendered = 0  # feeds rendered by the last call
        self.feeds_changed = True  # the last call's feeds are not those of the one before
        self.streamed: dict[str, tuple[int, str, bool]] = {}  # rel → size, digest, written: by workers
        self._streamed_keys: set[str] = set()

    def digest(self, rel: str, data: bytes) -> str:
        known = self._digests.get(rel)
        if known is None or known[0] is not data:
            known = self._digests[rel] = (data, digest(data))
        return known[1]

    def checked(self, out: Path, rels: Iterable[str]) -> None:
        """These files are now on disk as rendered: remember their stats."""
        for rel in rels:
            self.stats[rel] = _stat(out / rel)

    def render(
        self,
        feeds: list[Feed],
        settings: Settings,
        cache: PostCache | None = None,
        out_dir: Path | None = None,
        workers: Workers | None = None,
        write_to: Path | None = None,
    ) -> dict[str, bytes]:
        """Every output file's bytes. With ``write_to``, feeds rendered by forked workers are
        written there by the workers themselves and are not returned: see :attr:`streamed`."""
        base = (__version__, RENDER_FORMAT, settings.render_key(), repr(settings.feeds), settings.hubs, settings.site)
        out: dict[str, bytes] = {}
        self.from_disk = set()
        self.kept = set()
        self.streamed = {}
        if out_dir != self._out:
            self._feeds, self.stats, self._out, self._planned = {}, {}, out_dir, {}
        todo: list[tuple[Feed, str]] = []
        done: dict[str, tuple[str, dict[str, bytes]]] = {}
        for feed in feeds:
            hit = self._feeds.get(feed.key)
            if hit is not None and self._planned.get(feed.key) is feed:  # the planner kept it: unchanged
                done[feed.key] = hit
                self.kept.update(hit[1])
                continue
            posts = tuple((p.id, p.revision) for p in feed.posts)
            key = (base, feed.title, feed.description, feed.updated, feed.links.urls["rss"], posts)
            fingerprint = hashlib.sha256(repr(key).encode()).hexdigest()
            if hit is not None and hit[0] == fingerprint:
                done[feed.key] = hit
                self.kept.update(hit[1])
                continue
            stored = cache.feed_prints.get(f"{out_dir}\x1f{feed.key}", "") if cache is not None else ""
            if out_dir is not None and stored.split(" ")[0] == fingerprint:
                files = _read_back(out_dir, sorted(feed.links.paths.values()), stored.split(" ")[1:])
                if files is not None:
                    self.from_disk.update(files)
                    done[feed.key] = (fingerprint, files)
                    continue
            todo.append((feed, fingerprint))
        workers = workers or Workers()
        rendered: list[dict[str, bytes] | None]
        if workers.forks and workers.worth_it(len(todo)) and write_to is not None:
            # Forked workers inherit the posts, make the HTML of the posts in their feeds (a
            # post in feeds of two workers is made twice: cheaper than sending HTML around),
            # and write the files they render: 200 MB of feeds never cross a pipe or sit in
            # this process's memory.
            for files in workers.map(_render_and_write, [(feed, settings, write_to) for feed, _ in todo]):
                self.streamed.update(files)
            rendered = [None] * len(todo)
        elif workers.forks and workers.worth_it(len(todo)):
            rendered = list(workers.map(_render_forked, [(feed, settings) for feed, _ in todo]))
        else:
            make_contents((p for feed, _ in todo for p in feed.posts), workers)
            entries: Memo = {}
            rendered = [render_feed(feed, settings, entries) for feed, _ in todo]
        prints: dict[str, str] = {}
        for (feed, fingerprint), files in zip(todo, rendered, strict=True):
            if files is None:
                prints[feed.key] = fingerprint
            else:
                done[feed.key] = (fingerprint, files)
        for feed in feeds:
            if feed.key in prints:
                fingerprint, rels = prints[feed.key], sorted(feed.links.paths.values())
                sizes = " ".join(str(self.streamed[rel][0]) for rel in rels)
            else:
                fingerprint, files = done[feed.key]
                sizes = " ".join(str(len(files[rel])) for rel in sorted(files))
                out.update(files)
            if cache is not None and out_dir is not None:
                cache.put_feed_print(f"{out_dir}\x1f{feed.key}", f"{fingerprint} {sizes}")
        self.feeds_changed = (done.keys() | prints.keys()) != self._feeds.keys() | self._streamed_keys
        self._streamed_keys = set(prints)
        self._feeds = done
        self._planned = {feed.key: feed for feed in feeds}
        pages_key = (base, tuple((f.key, f.title, f.tag, len(f.posts)) for f in feeds))
        if self._pages is None or self._pages[0] != pages_key:
            self._pages = (pages_key, render_index(feeds, settings), render_opml(feeds, settings))
        out["index.html"], out["feeds.opml"] = self._pages[1], self._pages[2]
        self.rendered = len(todo)
        return out


_entries: Memo = {}  # in a forked worker: the entries made so far, shared by the feeds it renders


def _render_forked(job: tuple[Feed, Settings]) -> dict[str, bytes]:
    return render_feed(job[0], job[1], _entries)


_to_write: list[tuple[Path, bytes]] = []  # in a forked worker: files rendered, written when its range ends


def _render_and_write(job: tuple[Feed, Settings, Path]) -> dict[str, tuple[int, str, bool]]:
    """In a forked worker: render one feed and bring its files up to date on disk."""
    feed, settings, out = job
    files = render_feed(feed, settings, _entries)
    changed = {rel: data for rel, data in files.items() if not _same_on_disk(out / rel, data)}
    if changed:
        paths = make_folders(out, changed)
        _to_write.extend((paths[rel], data) for rel, data in changed.items())
    return {rel: (len(data), digest(data), rel in changed) for rel, data in files.items()}


def _same_on_disk(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _read_back(out_dir: Path, paths: list[str], sizes: list[str]) -> dict[str, bytes] | None:
    """The files of one feed as they are on disk, or None if any is missing or not of its size."""
    if len(paths) != len(sizes):
        return None
    files = {}
    for rel, size in zip(paths, sizes, strict=True):
        try:
            data = (out_dir / rel).read_bytes()
        except OSError:
            return None
        if str(len(data)) != size:
            return None  # cut short (a power cut before the data reached the disk) or changed by hand
        files[rel] = data
    return files


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
) -> Prepared:
    """Parse the site and render every output file, writing nothing.

    ``now`` decides which posts are live; nothing else reads the clock. Raises
    ConfigError; content problems are reported, never raised. A long-running caller
    passes its own ``cache`` and ``memo`` so that nothing unchanged is redone. With
    ``write``, the caller will write the outputs next (:func:`write_outputs`): the feeds
    that forked workers render are then written by them at once (OutputError).
    """
    started = time.perf_counter()
    settings = load_settings(site_dir)
    if cache is None:
        cache = PostCache(site_dir / STATE_DIR / "cache.db" if use_cache else None)
    report = BuildReport(settings)
    workers = Workers()
    try:
        trace("settings and cache loaded")
        files = watch.scan(site_dir, settings) if watch is not None else scan(site_dir, settings)
        out = out_dir if out_dir is not None else site_dir / "public"
        inputs = inputs_key(settings, files, out)
        report.posts, report.problems, report.parsed = load_posts(site_dir, settings, cache, progress, workers, files)
        trace(f"posts loaded ({report.parsed} parsed)")
        report.feeds = planner.plan(report.posts, settings, now) if planner else plan_feeds(report.posts, settings, now)
        trace("feeds planned")
        memo = memo or RenderMemo()  # fingerprints in the cache let a fresh process skip unchanged feeds
        outputs = memo.render(
            report.feeds,
            settings,
            cache if cache.path is not None else None,
            out.resolve(),
            workers,
            write_to=out if write else None,
        )
        trace(f"feeds rendered ({memo.rendered} of {len(report.feeds)})")
    finally:
        workers.close()
    report.files = len(outputs) + len(memo.streamed)
    trust = watch is not None and not watch.last_full
    prepared = Prepared(report, outputs, out, cache, started, frozenset(memo.from_disk), inputs, now, memo, trust)
    prepared.streamed = dict(memo.streamed)
    return prepared


def write_outputs(prepared: Prepared) -> BuildReport:
    """Bring the output folder up to date and save the cache. Raises OutputError."""
    report, settings = prepared.report, prepared.report.settings
    streamed = [rel for rel in prepared.changed() if rel in prepared.streamed]  # written already
    held = {rel: prepared.outputs[rel] for rel in prepared.changed() if rel not in prepared.streamed}
    report.written.extend(sorted([*streamed, *write_all(prepared.out, held)]))
    trace(f"{len(report.written)} files written")
    if prepared.memo is not None:
        prepared.memo.checked(prepared.out, prepared._compared)
    names = (settings.feeds.rss, settings.feeds.atom, settings.feeds.json)
    if not (prepared.trust_kept and prepared.memo is not None and not prepared.memo.feeds_changed):
        report.removed = remove_stale(prepared.out, settings.feeds.tags_dir, names, set(prepared.files))
    if prepared.cache.path is not None and prepared.now is not None and prepared.inputs:
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
        "inputs": prepared.inputs,
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
    if write and use_cache:
        started = time.perf_counter()
        settings = load_settings(site_dir)
        cache = PostCache(site_dir / STATE_DIR / "cache.db")
        out = out_dir if out_dir is not None else site_dir / "public"
        report = up_to_date(settings, cache, scan(site_dir, settings), out, now)
        if report is not None:
            trace("nothing changed since the last build")
            report.seconds = time.perf_counter() - started
            return report
    prepared = prepare(site_dir, now, out_dir=out_dir, use_cache=use_cache, progress=progress, write=write)
    return write_outputs(prepared) if write else finish(prepared)
