"""A build, start to end: prepare (settings → files → posts → feeds → rendered bytes), write the
output folder, report. ``build`` is what `syndicate build` runs; the daemon and `publish` call
``prepare`` and ``write_outputs`` with their own long-lived cache, memo and watch."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import load_settings
from ..core.feeds import IncrementalPlan, feed_file_names, feed_folders, is_feed_file, output_url, plan_feeds
from ..core.model import Post, Problem, Settings
from .cache import CachedPost, PostCache
from .discover import ContentWatch, PostIndex, Scanned, scan
from .manifest import inputs_key, manifest, manifest_key, up_to_date
from .output import FileStat, digest, file_stat, remove_stale, same_bytes, write_all
from .report import STATE_DIR, BuildReport, Progress, trace

SYNDICATION_FILE = "syndication.json"  # post URL → its copies on social targets (a site with social targets)

if TYPE_CHECKING:
    from ..core.model import Links
    from .skip import IncrementalRender


@dataclass
class UnwrittenBuild:
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
    memo: IncrementalRender | None = None
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
                if not same_bytes(self.out / rel, data):
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
        return output_url(self.report.settings, rel)

    def is_feed(self, rel: str) -> bool:
        return is_feed_file(self.report.settings, rel)


# ~70 lines: one step after another (settings, files, posts, feeds, the render that rejects a
# post too slow to render and plans again); each step is a call, the length is their arguments.
def prepare(
    site_dir: Path,
    now: datetime,
    *,
    out_dir: Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    cache: PostCache | None = None,
    memo: IncrementalRender | None = None,
    watch: ContentWatch | None = None,
    planner: IncrementalPlan | None = None,
    write: bool = False,
    render: bool = True,
    files: list[Scanned] | None = None,
    settings: Settings | None = None,
    links: Mapping[str, Links] | None = None,
) -> UnwrittenBuild:
    """Parse the site and render every output file, writing nothing.

    ``now`` decides which posts are live; nothing else reads the clock. Raises
    ConfigError; content problems are reported, never raised. A long-running caller
    passes its own ``cache`` and ``memo`` so that nothing unchanged is redone. With
    ``write``, the caller will write the outputs next (:func:`write_outputs`): the feeds
    that forked workers render are then written by them at once (OutputError). Without
    ``render``, only the posts and the feeds are planned (`check`, `feeds`). ``links`` (post
    id → its copies on social targets, from the ledger) go into the JSON Feed items and, on a
    site with social targets, into ``syndication.json``.
    """
    started = time.perf_counter()
    settings = settings or load_settings(site_dir)
    if cache is None:
        cache = PostCache(site_dir / STATE_DIR / "cache.db" if use_cache else None)
    report = BuildReport(settings)
    # Imported here: a build that changes nothing (see build) never loads the parser, the
    # renderers or the process pool.
    from .load import load_posts
    from .skip import IncrementalRender, Rendered
    from .workers import Workers

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
        memo = memo or IncrementalRender()  # fingerprints in the cache let a fresh process skip unchanged feeds
        trust = watch is not None and not watch.last_full  # after a file event, not a full scan
        while render:
            rendered = memo.render(
                report.feeds, settings, cache if cache.path else None, out.resolve(), workers, write, trust, links or {}
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
    if render and any(t.social for t in settings.targets):
        from ..core.render.jsonfeed import render_syndication

        rendered.outputs[SYNDICATION_FILE] = render_syndication(report.live(now), links or {})
    report.files = len(rendered.outputs) + len(rendered.known)
    inputs = partial(inputs_key, settings, files, out)  # for the manifest, after the files are written
    return UnwrittenBuild(report, rendered.outputs, out, cache, started, rendered.known, inputs, now, memo, trust)


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
        entry = CachedPost(signatures.get(post.source, ""), key, None, [problem])
        cache.put(post.source, entry)
        if index is not None:
            index.entries[post.source] = entry


def write_outputs(prepared: UnwrittenBuild) -> BuildReport:
    """Bring the output folder up to date and save the cache. Raises OutputError."""
    report, settings = prepared.report, prepared.report.settings
    by_workers = [rel for rel in prepared.changed() if rel in prepared.known]  # written already
    held = {rel: prepared.outputs[rel] for rel in prepared.changed() if rel in prepared.outputs}
    report.written.extend(sorted([*by_workers, *write_all(prepared.out, held)]))
    trace(f"{len(report.written)} files written")
    if prepared.memo is not None:
        prepared.memo.checked(prepared.out, [*prepared._compared, *by_workers])
    names = tuple(feed_file_names(settings).values())
    if not prepared.trusted or prepared.memo is None or prepared.memo.feeds_changed:
        keep = set(prepared.files)
        for folder in feed_folders(settings):
            report.removed += remove_stale(prepared.out, folder, names, keep)
    if prepared.cache.path is not None and prepared.now is not None and prepared.inputs is not None:
        outputs = {rel: _known_stat(prepared, rel) for rel in prepared.files}
        kept = manifest(report, prepared.out, outputs, prepared.inputs(), prepared.now)
        prepared.cache.put_meta(manifest_key(prepared.out), json.dumps(kept, ensure_ascii=False))
    prepared.cache.save()
    trace("cache saved")
    return final_report(prepared)


def _known_stat(prepared: UnwrittenBuild, rel: str) -> FileStat | None:
    memo = prepared.memo
    if memo is None:
        return file_stat(prepared.out / rel)
    if rel not in memo.stats:
        memo.checked(prepared.out, [rel])
    return memo.stats[rel]


def final_report(prepared: UnwrittenBuild) -> BuildReport:
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
    links: Callable[[Settings], Mapping[str, Links]] | None = None,
) -> BuildReport:
    """Parse the site and (unless ``write`` is false) bring the output folder up to date.

    With the cache on, a build that would change nothing is told from stats alone and
    returns the last build's report (see :func:`up_to_date`). ``links`` reads the
    syndication links (from the ledger) when the feeds are rendered.
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
        links=links(settings) if links is not None and write else None,
    )
    prepared.started = started
    return write_outputs(prepared) if write else final_report(prepared)
