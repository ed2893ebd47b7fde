"""The process pool of a build: posts' HTML made within the render deadline, on every core for
big batches, and (in a forked CLI) feeds rendered and written by the workers themselves, which
make the HTML of the posts their feeds show."""

from __future__ import annotations

import gc
import heapq
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
_PARTS: Any = None  # with parts: each part's next job and end (lo, hi, lo, hi, …), shared by the forked workers
_STEP = 1  # with parts: jobs a forked worker takes at once


def _run_range(bounds: tuple[int, int]) -> list[Any]:
    assert _FORKED is not None
    fn, jobs = _FORKED
    out = [fn(jobs[i]) for i in range(*bounds)]
    _write_pending()
    return out


def _write_pending() -> None:
    while _to_write:  # a range is done when its files are on disk (in batches: a worker that
        replace_file(*_to_write.pop())  # writes while it renders renders slower)


def _run_part(part: int) -> list[tuple[int, Any]]:
    """A forked worker's share of a map with parts: its part in order, a few jobs at a time; when
    its part is done, it takes the second half of the part with the most jobs left (all of it when
    that is a few) as its own, and so on until no job is left. Each job is done once: the parts'
    bounds are shared, and changed under their lock."""
    assert _FORKED is not None and _PARTS is not None
    fn, jobs = _FORKED
    out: list[tuple[int, Any]] = []
    while True:
        taken = False
        with _PARTS.get_lock():
            lo, hi = _PARTS[2 * part], _PARTS[2 * part + 1]
            if lo >= hi:
                left = [_PARTS[2 * p + 1] - _PARTS[2 * p] for p in range(len(_PARTS) // 2)]
                other = max(range(len(left)), key=left.__getitem__)
                if left[other] <= 0:
                    break
                hi = _PARTS[2 * other + 1]
                lo = hi - (left[other] if left[other] <= _STEP else left[other] // 2)
                _PARTS[2 * other + 1] = lo
                _PARTS[2 * part + 1] = hi
                taken = True
            _PARTS[2 * part] = stop = min(lo + _STEP, hi)
        if taken:
            _forget_entries()  # what this worker kept was for jobs of the part it worked on
        out.extend((i, fn(jobs[i])) for i in range(lo, stop))
        _write_pending()
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

    def map(
        self,
        fn: Callable[[Any], Any],
        jobs: Sequence[Any],
        progress: Progress | None = None,
        parts: Sequence[tuple[int, int]] | None = None,
    ) -> list[Any]:
        """``fn`` of every job, in order. With ``parts`` (consecutive ranges of ``jobs``, one per
        core) and forked workers, each worker does one part in order, then helps with the others'
        ends (see :func:`_run_part`)."""
        global _FORKED, _PARTS, _STEP
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
            context = multiprocessing.get_context("fork")
            if parts is not None:
                _PARTS = context.Array("q", [bound for part in parts for bound in part])
                _STEP = step
            # What the workers inherit (every post) is frozen: their collector never scans it, so
            # never writes to its pages (which copy-on-write would copy into each worker), and
            # neither does this process's. While the results come in (long-lived posts, nothing
            # to collect) this process does not collect at all, and they are frozen too; the
            # workers collect their own garbage.
            gc.freeze()
            collecting = gc.isenabled()
            gc.disable()
            try:
                with ProcessPoolExecutor(self.cores, mp_context=context, initializer=gc.enable) as pool:
                    if parts is None:
                        for part in pool.map(_run_range, ranges):
                            out.extend(part)
                            if progress:
                                progress(len(out), len(jobs))
                    else:  # each share comes at the end of its worker's part: put back in order
                        shares = [done for share in pool.map(_run_part, range(len(parts))) for done in share]
                        out = [result for _, result in sorted(shares, key=lambda done: done[0])]
            finally:
                _FORKED, _PARTS = None, None
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
# In a forked writer: post id → the next job of its part that shows the post, and the keys of its
# entries; and those jobs as a heap (farthest first, some out of date), for when there are too many.
_kept: dict[str, tuple[int, tuple[tuple[str, str, str], ...]]] = {}
_farthest: list[tuple[int, str]] = []


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


def _keep_for_later(feed: Feed, links: dict[str, Links], later: tuple[int, ...]) -> None:
    """After a feed is rendered: each of its posts' entries is kept while a later job of this part
    shows the post, and let go after its last; above WORKER_ENTRIES, those needed last go first."""
    for post, then in zip(feed.posts, later, strict=True):
        keys = entry_keys(post, links.get(post.id, ()))
        if then < 0:
            _kept.pop(post.id, None)
            for key in keys:
                _entries.pop(key, None)
        else:
            _kept[post.id] = (then, keys)
            heapq.heappush(_farthest, (-then, post.id))
    while len(_entries) > WORKER_ENTRIES and _farthest:
        then, post_id = heapq.heappop(_farthest)
        kept = _kept.get(post_id)
        if kept is not None and kept[0] == -then:
            del _kept[post_id]
            for key in kept[1]:
                _entries.pop(key, None)
    if len(_farthest) > 4 * len(_kept) + 64:  # mostly out of date: made anew
        _farthest[:] = [(-then, post_id) for post_id, (then, _) in _kept.items()]
        heapq.heapify(_farthest)


def _forget_entries() -> None:
    """What a writer kept for later jobs of a part it no longer works on."""
    _entries.clear()
    _kept.clear()
    _farthest.clear()


def shared_order(feeds: Sequence[Feed]) -> list[int]:
    """The feeds' indexes in an order where each next feed is the one that shows the most posts
    already shown (ties: the first planned): feeds that share posts come close together, so a
    writer makes a post's HTML and entries once and keeps them a short while."""
    shown_in: dict[str, list[int]] = {}
    for i, feed in enumerate(feeds):
        for post in feed.posts:
            shown_in.setdefault(post.id, []).append(i)
    shared = [0] * len(feeds)
    done = [False] * len(feeds)
    best: list[tuple[int, int]] = []  # (-shared, index), some out of date
    seen: set[str] = set()
    order: list[int] = []
    first = 0
    while len(order) < len(feeds):
        pick = -1
        while best:
            count, i = heapq.heappop(best)
            if not done[i] and -count == shared[i]:
                pick = i
                break
        if pick < 0:
            while done[first]:
                first += 1
            pick = first
        done[pick] = True
        order.append(pick)
        for post in feeds[pick].posts:
            if post.id not in seen:
                seen.add(post.id)
                for i in shown_in[post.id]:
                    if not done[i]:
                        shared[i] += 1
                        heapq.heappush(best, (-shared[i], i))
    return order


def cut_in_parts(feeds: Sequence[Feed], count: int) -> list[tuple[int, int]]:
    """``count`` consecutive ranges of ``feeds`` with about the same work each: a feed's files (as
    much as making three posts' HTML) and the posts no feed before it shows (their HTML)."""
    seen: set[str] = set()
    work: list[int] = []
    for feed in feeds:
        new = [post.id for post in feed.posts if post.id not in seen]
        seen.update(new)
        work.append(3 + len(new))
    parts: list[tuple[int, int]] = []
    total, start, sofar = sum(work), 0, 0
    for i, w in enumerate(work):
        sofar += w
        if len(parts) < count - 1 and sofar * count >= total * (len(parts) + 1):
            parts.append((start, i + 1))
            start = i + 1
    parts.append((start, len(feeds)))
    return parts + [(len(feeds), len(feeds))] * (count - len(parts))


def next_uses(feeds: Sequence[Feed], parts: Sequence[tuple[int, int]]) -> list[tuple[int, ...]]:
    """For each feed, for each of its posts: the next feed of the same part that shows it, or -1."""
    out: list[tuple[int, ...]] = [()] * len(feeds)
    for lo, hi in parts:
        after: dict[str, int] = {}
        for i in range(hi - 1, lo - 1, -1):
            posts = feeds[i].posts
            out[i] = tuple(after.get(post.id, -1) for post in posts)
            for post in posts:
                after[post.id] = i
    return out


WriteJob = tuple[Feed, Settings, Path, dict[str, Links], float]


def render_feeds(workers: Workers, jobs: Sequence[WriteJob]) -> list[Any]:
    """:func:`render_and_write` of every job, on forked workers, each result in its job's place.

    Feeds that show the same posts go to the same worker, one after the other (a part per core,
    :func:`shared_order`), and a worker keeps a post's entries until the last feed of its part
    that shows it: each post's HTML is made about once (at 10,000 posts, 6,100 times for 5,369
    posts shown, where ranges handed out in turn and the oldest half of the entries let go made
    7,200)."""
    order = shared_order([job[0] for job in jobs])
    feeds = [jobs[i][0] for i in order]
    parts = cut_in_parts(feeds, workers.cores)
    later = next_uses(feeds, parts)
    ordered = [(*jobs[i], later[k]) for k, i in enumerate(order)]
    results = workers.map(render_and_write, ordered, parts=parts)
    back: list[Any] = [None] * len(jobs)
    for k, i in enumerate(order):
        back[i] = results[k]
    return back


_to_write: list[tuple[Path, bytes]] = []  # in a forked worker: files rendered, written when its range ends
OWNERSHIP: Ownership | None = None  # set before the fork: which files of the output folder are syndicate's

FileDone = dict[str, tuple[int, str, bool]]  # rel → size, digest, written now


def render_and_write(
    job: tuple[Feed, Settings, Path, dict[str, Links], float, tuple[int, ...]],
) -> tuple[FileDone, dict[str, str], dict[str, str]]:
    """In a forked worker: make the HTML its posts need (each within ``timeout`` seconds), render
    one feed and bring its files up to date on disk, never over a file syndicate did not write
    (those are returned, rel → why, and left as they are). A post whose HTML cannot be made is
    returned (source → why) and nothing of the feed is rendered. The last item of ``job`` says,
    for each post, which later job of the worker's part shows it (see :func:`render_feeds`)."""
    feed, settings, out, links, timeout, later = job
    made, failed = _make_html(feed, links, timeout)
    if failed:
        return {}, {}, failed
    files = render_feed(feed, settings, _entries, links)
    for content in made:  # its entries are made: the HTML is not kept (memory), but made again if needed
        content.release()
    _keep_for_later(feed, links, later)
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
