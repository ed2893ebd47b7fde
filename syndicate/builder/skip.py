"""Which feeds must be rendered again: fingerprints of what each feed shows, in memory for the
daemon and in the cache across processes, so that an unchanged feed is never rendered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.model import Feed, Links, Post, Settings
from ..core.render import EntryMemo, entry_keys, render_feed
from ..core.render.jsonfeed import NO_LINKS, memo_key
from ..core.render.pages import RowMemo, render_index, render_opml
from . import workers as workers_module
from .cache import PostCache
from .fingerprints import FileInfo, feed_fingerprint, feed_print, read_feed_print, render_base
from .output import digest, file_stat
from .owned import Ownership
from .workers import Workers, failed_posts, make_contents, render_feeds, render_forked

KEEP_ENTRIES_UP_TO = 16  # feeds rendered by one call whose entries the next call may reuse


@dataclass
class Rendered:
    """What one render call made: bytes held here, files known on disk (unchanged, or written by
    workers), and the posts that could not be made (then nothing was rendered)."""

    outputs: dict[str, bytes]  # rendered here
    known: dict[str, tuple[int, str, bool]]  # not held here: unchanged on disk, or written by workers
    failed: list[Post] = field(default_factory=list)  # posts whose HTML could not be made: nothing was rendered
    refused: dict[str, str] = field(default_factory=dict)  # files workers left alone: not syndicate's (rel → why)


class IncrementalRender:
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
        self._rows: RowMemo = {}  # each feed's row of index.html, as the last call made it
        self._page_rels: set[str] = set()  # where the last call put index.html and feeds.opml
        self.stats: dict[str, list[int] | None] = {}  # output file → its stat when last written or checked
        self.rendered = 0  # feeds rendered by the last call
        self.feeds_changed = True  # the last call's feeds are not those of the one before
        self._entries: EntryMemo = {}  # the entries the last call rendered in this process
        self._entries_base: Any = None
        self._links: Mapping[str, Links] = NO_LINKS  # the syndication links of the last call
        self.ownership: Ownership | None = None  # the output folder's record, kept between builds (pipeline)
        self._written_early: set[str] = set()  # written by a call that then found a post it could not make

    def checked(self, out: Path, rels: Iterable[str]) -> None:
        """These files are now on disk as rendered: remember their stats."""
        for rel in rels:
            self.stats[rel] = file_stat(out / rel)

    def matches_disk(self, out: Path) -> bool:
        """Is every file of the last call's feeds (and the pages) on disk as it was last written or
        checked? False when one is missing or was changed by someone else: ``rm -rf public``, a
        write that failed. One stat per file."""
        if out.resolve() != self._out:
            return True  # not this output folder's memory
        rels = {rel for _, files in self._feeds.values() for rel in files} | self._page_rels
        return all(file_stat(out / rel) == self.stats[rel] for rel in rels if rel in self.stats)

    def forget(self, out: Path, cache: PostCache | None, rels: Iterable[str]) -> None:
        """The feeds with one of these files were not (entirely) written: render them again next time."""
        gone = set(rels)
        for key, (_, files) in list(self._feeds.items()):
            if gone & files.keys():
                del self._feeds[key]
                if cache is not None:
                    cache.put_feed_print(f"{out.resolve()}\x1f{key}", "")

    def _on_disk(self, out: Path, files: dict[str, FileInfo], trust: bool, from_memory: bool) -> bool:
        """Are these files (of a feed not rendered again) on disk as they were rendered?"""
        if from_memory and trust:
            return True  # a daemon cycle after a file event: the output folder is ours
        for rel, (size, _) in files.items():
            now = file_stat(out / rel)
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
        links: Mapping[str, Links] = NO_LINKS,
        ownership: Ownership | None = None,
        pages: bool = True,
    ) -> Rendered:
        """The files of ``feeds``, and the pages ([output] index and opml). With ``write``, feeds rendered by
        forked workers are written by the workers themselves (see :class:`UnwrittenBuild`).
        ``links`` (post id → its copies on social targets) are in the JSON Feed items: a feed
        one of whose posts got or lost a link is rendered again. Workers write only where
        ``ownership`` allows; a feed with a file they refused is not remembered as done. Without
        ``pages``, ``feeds`` are some of the site's (builder/edit.py): the pages are left as they are."""
        base = render_base(settings)
        if out_dir != self._out:
            self._feeds, self.stats, self._out, self._planned = {}, {}, out_dir, {}
        moved = {k for k in links.keys() | self._links.keys() if links.get(k) != self._links.get(k)}
        self._links = links
        result = Rendered({}, {})
        todo, done = self._to_render(feeds, base, cache, out_dir, trust, links, moved)
        result.known = {rel: (size, dig, False) for _, files in done.values() for rel, (size, dig) in files.items()}
        workers = workers or Workers()
        timeout = settings.content.render_timeout
        # Each post's HTML is made within the render timeout: by the forked writers, for the posts
        # their feeds show, or first, once, on every core when there are many. A post that cannot be
        # made sends the caller back to plan without it.
        writers = workers.forks and workers.worth_it(len(todo)) and write
        failed = [] if writers else make_contents((p for feed, _ in todo for p in feed.posts), workers, timeout)
        if failed:
            result.failed = failed
            return result  # nothing rendered, nothing remembered
        if writers:
            # Forked workers inherit the posts, make their HTML, render the feeds and write the
            # files themselves: neither the posts' HTML nor 200 MB of feeds cross a pipe or sit in
            # this process's memory.
            jobs = [(feed, settings, out_dir, _links_of(feed, links), timeout) for feed, _ in todo]
            if ownership is not None:
                ownership.begin()  # the record's header, once, before the workers append to it
            workers_module.OWNERSHIP = ownership  # inherited by the forked workers
            try:
                made = render_feeds(workers, jobs)
            finally:
                workers_module.OWNERSHIP = None
            result.failed = failed_posts((feed for feed, _ in todo), made)
            if result.failed:  # the other feeds are written: the next call finds their bytes, and says so
                self._written_early |= {rel for files, _, _ in made for rel, (_, _, wrote) in files.items() if wrote}
                return result
            for (feed, fingerprint), (files, refused, _) in zip(todo, made, strict=True):
                result.known.update(
                    {rel: (n, dig, wrote or rel in self._written_early) for rel, (n, dig, wrote) in files.items()}
                )
                result.refused.update(refused)
                if not refused:
                    done[feed.key] = (fingerprint, {rel: (size, dig) for rel, (size, dig, _) in files.items()})
            self._written_early.clear()
        else:
            if workers.forks and workers.worth_it(len(todo)):
                jobs2 = [(feed, settings, _links_of(feed, links)) for feed, _ in todo]
                rendered = list(workers.map(render_forked, jobs2))
            else:
                rendered = self._render_here([feed for feed, _ in todo], feeds, settings, base, links)
            for (feed, fingerprint), files in zip(todo, rendered, strict=True):
                result.outputs.update(files)
                done[feed.key] = (fingerprint, {rel: (len(data), digest(data)) for rel, data in files.items()})
        if cache is not None:
            for feed, _ in todo:  # the others' prints are in the cache already: they came from there, or went there
                if feed.key in done:
                    fingerprint, files = done[feed.key]
                    cache.put_feed_print(f"{out_dir}\x1f{feed.key}", feed_print(fingerprint, files))
        self.feeds_changed = done.keys() != self._feeds.keys()
        self._feeds = done
        self.rendered = len(todo)
        if not pages:
            return result
        self._planned = {feed.key: feed for feed in feeds}
        shown = tuple((f.key, f.title, f.tag) for f in feeds)
        opml_key = (base, settings.output.index, settings.output.opml, shown)  # the index also shows the counts
        index_key = (opml_key, tuple(len(f.posts) for f in feeds))
        if self._pages is None or self._pages[0] != index_key:
            same_list = self._pages is not None and self._pages[0][0] == opml_key
            opml_bytes = self._pages[2] if same_list and self._pages is not None else render_opml(feeds, settings)
            self._pages = (index_key, render_index(feeds, settings, self._rows), opml_bytes)
        index, opml = settings.output.index, settings.output.opml
        self._page_rels = {rel for rel in (index, opml) if rel}
        if index:
            result.outputs[index] = self._pages[1]
        if opml:
            result.outputs[opml] = self._pages[2]
        return result

    def _to_render(
        self,
        feeds: list[Feed],
        base: Any,
        cache: PostCache | None,
        out_dir: Path,
        trust: bool,
        links: Mapping[str, Links],
        moved: set[str],
    ) -> tuple[list[tuple[Feed, str]], dict[str, tuple[str, dict[str, FileInfo]]]]:
        """(feeds to render with their fingerprints, feed key → fingerprint and files of the others):
        a feed is skipped when its fingerprint is the one its files on disk were rendered from."""
        todo: list[tuple[Feed, str]] = []
        done: dict[str, tuple[str, dict[str, FileInfo]]] = {}
        for feed in feeds:
            hit = self._feeds.get(feed.key)
            kept = self._planned.get(feed.key) is feed and not (moved and any(p.id in moved for p in feed.posts))
            if hit is not None and kept:  # the planner kept it, and its posts' links are the same: unchanged
                fingerprint = hit[0]
            else:
                fingerprint = feed_fingerprint(base, feed, [(p.id, p.revision) for p in feed.posts], links)
            if hit is not None and hit[0] == fingerprint and self._on_disk(out_dir, hit[1], trust, True):
                done[feed.key] = hit
                continue
            stored = read_feed_print(cache.feed_prints.get(f"{out_dir}\x1f{feed.key}", "")) if cache else None
            if stored is not None and stored[0] == fingerprint and self._on_disk(out_dir, stored[1], trust, False):
                done[feed.key] = stored
                continue
            todo.append((feed, fingerprint))
        return todo, done

    def warm(self, feed: Feed, settings: Settings, links: Mapping[str, Links] = NO_LINKS) -> None:
        """Make ``feed``'s entries (the site feed's) for the next call, when this process has not:
        after a start whose feeds were all on disk, or were rendered by worker processes, the
        first save would otherwise make the HTML of the feed's other posts (19 of them) before its
        files are written. A post whose HTML cannot be made is left to that call, which rejects it."""
        base = render_base(settings)
        old = self._entries if self._entries_base == base else {}
        if all(key in old for p in feed.posts for key in entry_keys(p, links.get(p.id, ()))):
            return
        if make_contents(feed.posts, Workers(), settings.content.render_timeout):
            return
        entries = dict(old)
        render_feed(feed, settings, entries, links)
        self._entries, self._entries_base = entries, base

    def _render_here(
        self, todo: list[Feed], feeds: list[Feed], settings: Settings, base: Any, links: Mapping[str, Links]
    ) -> list[dict[str, bytes]]:
        """Render in this process, reusing the entries of the last call that these feeds show
        again (a new post: the site feed's 19 others); a big render keeps the site feed's only."""
        old = self._entries if self._entries_base == base else {}
        entries: EntryMemo = {}
        for feed in todo:
            for p in feed.posts:
                for key in (("rss", p.id, p.revision), ("atom", p.id, p.revision), memo_key(p, links.get(p.id, ()))):
                    if key in old:
                        entries[key] = old[key]
        rendered = [render_feed(feed, settings, entries, links) for feed in todo]
        if len(todo) > KEEP_ENTRIES_UP_TO:  # memory
            shown = {p.id for feed in feeds[:1] for p in feed.posts}
            entries = {k: v for k, v in entries.items() if k[1] in shown}
        self._entries, self._entries_base = entries, base
        return rendered


def _links_of(feed: Feed, links: Mapping[str, Links]) -> dict[str, Links]:
    """The links of a feed's posts only: what a worker needs to render it."""
    return {p.id: links[p.id] for p in feed.posts if p.id in links}
