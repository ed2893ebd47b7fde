"""The process pool of a build: posts' HTML made within the render deadline, on every core for
big batches, and (in a forked CLI) feeds rendered and written by the workers themselves, which
make the HTML of the posts their feeds show."""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ..core.model import Content, Feed, Links, Post, Settings
from ..core.render import EntryMemo, entry_keys, render_feed
from .output import digest, make_folders, replace_file, same_bytes
from .owned import Ownership
from .parse import make_html
from .report import Progress

PARALLEL_MIN = int(os.environ.get("SYNDICATE_PARALLEL_MIN", "48"))  # jobs before worker processes pay off
RANGE_MAX = 1000  # jobs a forked worker takes at once


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
            # Small ranges: a worker's results (and the files a feed worker holds until its range
            # is written) stay small, and the last range leaves a core idle only briefly.
            step = max(1, min(RANGE_MAX, len(jobs) // (self.cores * 16)))
            ranges = [(i, min(i + step, len(jobs))) for i in range(0, len(jobs), step)]
            _FORKED = (fn, jobs)
            # What the workers inherit (every post) is frozen: their collector never scans it, so
            # never writes to its pages (which copy-on-write would copy into each worker), and
            # neither does this process's. While the results come in (long-lived posts, nothing
            # to collect) this process does not collect at all, and they are frozen too; the
            # workers collect their own garbage.
            gc.freeze()
            collecting = gc.isenabled()
            gc.disable()
            try:
                with ProcessPoolExecutor(
                    self.cores, mp_context=multiprocessing.get_context("fork"), initializer=gc.enable
                ) as pool:
                    for part in pool.map(_run_range, ranges):
                        out.extend(part)
                        if progress:
                            progress(len(out), len(jobs))
            finally:
                _FORKED = None
                gc.freeze()
                if collecting:
                    gc.enable()
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
    results = (workers or Workers()).map(make_html, [(c.recipe(), timeout) for c in todo])
    for content, result in zip(todo, results, strict=True):
        if isinstance(result, str):
            content.fail(result)
        else:
            content.fill(*result)
    return list({p.id: p for p in posts if p.content.failed}.values())


_entries: EntryMemo = {}  # in a forked worker: the entries made so far, shared by the feeds it renders
WORKER_ENTRIES = 3000  # at most (~60 MB): a worker's memory must not grow with the site


def render_forked(job: tuple[Feed, Settings, dict[str, Links]]) -> dict[str, bytes]:
    files = render_feed(job[0], job[1], _entries, job[2])
    _bound_worker_memory(job[0])
    return files


def _bound_worker_memory(feed: Feed) -> None:
    """A worker keeps the entries it made for the next feeds, but not more than WORKER_ENTRIES
    (the older half goes)."""
    if len(_entries) > WORKER_ENTRIES:
        for key in list(_entries)[: len(_entries) // 2]:
            del _entries[key]


_to_write: list[tuple[Path, bytes]] = []  # in a forked worker: files rendered, written when its range ends
OWNERSHIP: Ownership | None = None  # set before the fork: which files of the output folder are syndicate's

FileDone = dict[str, tuple[int, str, bool]]  # rel → size, digest, written now


def render_and_write(
    job: tuple[Feed, Settings, Path, dict[str, Links], float],
) -> tuple[FileDone, dict[str, str], dict[str, str]]:
    """In a forked worker: make the HTML its posts need (each within ``timeout`` seconds), render
    one feed and bring its files up to date on disk, never over a file syndicate did not write
    (those are returned, rel → why, and left as they are). A post whose HTML cannot be made is
    returned (source → why) and nothing of the feed is rendered."""
    feed, settings, out, links, timeout = job
    made, failed = _make_html(feed, links, timeout)
    if failed:
        return {}, {}, failed
    files = render_feed(feed, settings, _entries, links)
    for content in made:  # its entries are made: the HTML is not kept (memory), but made again if needed
        content.release()
    _bound_worker_memory(feed)
    changed = {rel: data for rel, data in files.items() if not same_bytes(out / rel, data)}
    digests = {rel: digest(data) for rel, data in files.items()}  # once: 200 MB of feeds at 10,000 posts
    refused: dict[str, str] = {}
    if changed:
        paths = make_folders(out, changed)
        if OWNERSHIP is not None:
            refused = OWNERSHIP.claim(changed, digests)
        _to_write.extend((paths[rel], data) for rel, data in changed.items() if rel not in refused)
    done = {rel: (len(data), digests[rel], rel in changed) for rel, data in files.items() if rel not in refused}
    return done, refused, {}


def _make_html(feed: Feed, links: dict[str, Links], timeout: float) -> tuple[list[Content], dict[str, str]]:
    """The HTML of the feed's posts whose entries this worker has not made yet (each post of a
    feed whose entries were made earlier needs none); the contents made, and the posts that could
    not be made, source → why."""
    made: list[Content] = []
    failed: dict[str, str] = {}
    for post in feed.posts:
        content = post.content
        if content.ready or all(key in _entries for key in entry_keys(post, links.get(post.id, ()))):
            continue
        result = make_html((content.recipe(), timeout))
        if isinstance(result, str):
            failed[post.source] = result
        else:
            content.fill(*result)
            made.append(content)
    return made, failed


def failed_posts(feeds: Iterable[Feed], made: Iterable[tuple[FileDone, dict[str, str], dict[str, str]]]) -> list[Post]:
    """The posts forked writers could not make the HTML of (their ``content.failed`` says why)."""
    why = {source: reason for _, _, failed in made for source, reason in failed.items()}
    if not why:
        return []
    posts = {p.id: p for feed in feeds for p in feed.posts if p.source in why}
    for post in posts.values():
        post.content.fail(why[post.source])
    return list(posts.values())
