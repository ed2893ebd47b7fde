"""The shell around the core: read the site, build the feeds, write the output folder."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import __version__
from .cache import Entry, PostCache, stat_signature
from .config import load_settings
from .errors import ContentError
from .feeds import plan_feeds, settle_conflicts
from .markup import Renderer
from .model import Feed, Post, Problem, Settings
from .output import remove_stale, write_if_changed
from .posts import is_post_file, parse_post
from .render import render_feed, render_site
from .render.pages import render_index, render_opml
from .slugs import url_segment

STATE_DIR = ".syndicate"
Progress = Callable[[int, int], None]


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


PARALLEL_MIN = int(os.environ.get("SYNDICATE_PARALLEL_MIN", "48"))  # files to parse before workers pay off

_worker_renderer: tuple[tuple[str, ...], Renderer] | None = None


def _parse_file(job: tuple[str, str, Settings]) -> tuple[Post | None, list[Problem]]:
    """Read and parse one file (in a worker process, or inline)."""
    global _worker_renderer
    source, path, settings = job
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return None, [Problem(source, f"cannot read: {e.strerror}")]
    extensions = (*settings.content.markdown_extensions, settings.content.renderer)
    if _worker_renderer is None or _worker_renderer[0] != extensions:
        _worker_renderer = (extensions, Renderer(settings.content.markdown_extensions, settings.content.renderer))
    result = parse_post(source, data, settings, _worker_renderer[1])
    return result.post, result.problems


def _parse_all(
    jobs: list[tuple[str, str, Settings]], progress: Progress | None
) -> list[tuple[Post | None, list[Problem]]]:
    """Parse files on every core when there are many (a cold build), else in this process."""
    cores = os.cpu_count() or 1
    if len(jobs) < PARALLEL_MIN or cores < 2:
        out = []
        for i, job in enumerate(jobs):
            out.append(_parse_file(job))
            if progress:
                progress(i + 1, len(jobs))
        return out
    # "spawn": the daemon has threads, and forking a threaded process can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=cores, mp_context=context) as pool:
        out = []
        for i, result in enumerate(pool.map(_parse_file, jobs, chunksize=16)):
            out.append(result)
            if progress:
                progress(i + 1, len(jobs))
        return out


def load_posts(
    site_dir: Path,
    settings: Settings,
    cache: PostCache,
    progress: Progress | None = None,
) -> tuple[list[Post], list[Problem], int]:
    """Every post file under the content folder → accepted posts, problems, files parsed.

    Files whose stat signature and settings match the cache are taken from it unread; the
    others are parsed, on every core when there are many.
    """
    content_dir = site_dir / settings.content.dir
    prefix = settings.content.dir.strip("/") + "/"
    if not content_dir.is_dir():
        raise ContentError(prefix.rstrip("/"), "content folder not found; create it or set [content] dir")
    key = settings.render_key()
    entries: list[tuple[str, Entry | None]] = []
    jobs: list[tuple[str, str, Settings]] = []
    signatures: dict[str, str] = {}
    unreadable: list[Problem] = []
    for rel, entry in find_post_files(content_dir):
        source = prefix + rel
        try:
            sig = stat_signature(entry.stat())
        except OSError as e:
            unreadable.append(Problem(source, f"cannot read: {e.strerror}"))
            entries.append((source, Entry("", key, None, [])))
            continue
        hit = cache.get(source, sig, key)
        if hit is None:
            jobs.append((source, entry.path, settings))
            signatures[source] = sig
        entries.append((source, hit))
    fresh = dict(zip((job[0] for job in jobs), _parse_all(jobs, progress), strict=True))
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
    _changed: list[str] | None = None

    def changed(self) -> list[str]:
        """Output files whose bytes differ from what is on disk (compared once, then remembered)."""
        if self._changed is None:
            self._changed = []
            for rel, data in sorted(self.outputs.items()):
                if rel in self.on_disk:
                    continue
                try:
                    if (self.out / rel).read_bytes() == data:
                        continue
                except OSError:
                    pass
                self._changed.append(rel)
        return self._changed

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
        self.from_disk: set[str] = set()  # outputs of the last render that were read back, not rendered

    def render(
        self, feeds: list[Feed], settings: Settings, cache: PostCache | None = None, out_dir: Path | None = None
    ) -> dict[str, bytes]:
        base = (__version__, RENDER_FORMAT, settings.render_key(), repr(settings.feeds), settings.hubs, settings.site)
        revisions: dict[str, str] = {}
        out: dict[str, bytes] = {}
        seen = set()
        self.from_disk = set()
        for feed in feeds:
            posts = tuple((p.id, revisions.setdefault(p.id, p.revision)) for p in feed.posts)
            key = (base, feed.title, feed.description, feed.updated, feed.links.urls["rss"], posts)
            fingerprint = hashlib.sha256(repr(key).encode()).hexdigest()
            hit = self._feeds.get(feed.key)
            if hit is None or hit[0] != fingerprint:
                files = None
                stored_as = f"{out_dir}\x1f{feed.key}"
                if cache is not None and out_dir is not None and cache.feed_prints.get(stored_as) == fingerprint:
                    files = _read_back(out_dir, feed.links.paths.values())
                    if files is not None:
                        self.from_disk.update(files)
                if files is None:
                    files = render_feed(feed, settings)
                if cache is not None and out_dir is not None:
                    cache.put_feed_print(stored_as, fingerprint)
                hit = (fingerprint, files)
                self._feeds[feed.key] = hit
            out.update(hit[1])
            seen.add(feed.key)
        for gone in set(self._feeds) - seen:
            del self._feeds[gone]
        out["index.html"] = render_index(feeds, settings)
        out["feeds.opml"] = render_opml(feeds, settings)
        return out


def _read_back(out_dir: Path, paths: Iterable[str]) -> dict[str, bytes] | None:
    """The files of one feed as they are on disk, or None if any cannot be read."""
    files = {}
    for rel in paths:
        try:
            files[rel] = (out_dir / rel).read_bytes()
        except OSError:
            return None
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
) -> Prepared:
    """Parse the site and render every output file, writing nothing.

    ``now`` decides which posts are live; nothing else reads the clock. Raises
    ConfigError; content problems are reported, never raised. A long-running caller
    passes its own ``cache`` and ``memo`` so that nothing unchanged is redone.
    """
    started = time.perf_counter()
    settings = load_settings(site_dir)
    if cache is None:
        cache = PostCache(site_dir / STATE_DIR / "cache.db" if use_cache else None)
    report = BuildReport(settings)
    report.posts, report.problems, report.parsed = load_posts(site_dir, settings, cache, progress)
    report.feeds = plan_feeds(report.posts, settings, now)
    out = out_dir if out_dir is not None else site_dir / "public"
    if memo is None and cache.path is not None:
        memo = RenderMemo()  # fingerprints from the cache let a fresh process skip unchanged feeds
    if memo is not None:
        outputs = memo.render(report.feeds, settings, cache if cache.path is not None else None, out.resolve())
    else:
        outputs = render_site(report.feeds, settings)
    report.files = len(outputs)
    on_disk = frozenset(memo.from_disk) if memo is not None else frozenset()
    return Prepared(report, outputs, out, cache, started, on_disk)


def write_outputs(prepared: Prepared) -> BuildReport:
    """Bring the output folder up to date and save the cache. Raises OutputError."""
    report, settings = prepared.report, prepared.report.settings
    for rel in prepared.changed():
        if write_if_changed(prepared.out, rel, prepared.outputs[rel]):
            report.written.append(rel)
    names = (settings.feeds.rss, settings.feeds.atom, settings.feeds.json)
    report.removed = remove_stale(prepared.out, settings.feeds.tags_dir, names, set(prepared.outputs))
    prepared.cache.save()
    return finish(prepared)


def finish(prepared: Prepared) -> BuildReport:
    report = prepared.report
    if prepared.cache.warning and prepared.cache.warning not in report.notes:
        report.notes.append(prepared.cache.warning)
    report.seconds = time.perf_counter() - prepared.started
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
    """Parse the site and (unless ``write`` is false) bring the output folder up to date."""
    prepared = prepare(site_dir, now, out_dir=out_dir, use_cache=use_cache, progress=progress)
    return write_outputs(prepared) if write else finish(prepared)
