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

from .. import quick
from ..config import load_settings, output_dir
from ..core.feeds import IncrementalPlan, is_feed_file, output_url, plan_feeds
from ..core.model import Post, Problem, Settings
from ..quick import Recorder
from .cache import CachedPost, PostCache
from .discover import ContentWatch, PostIndex, Scanned, scan
from .edit import edited_build, hinted_build, keep_plans, links_key
from .manifest import inputs_key, manifest, manifest_key, up_to_date
from .output import FileStat, digest, file_stat, remove_files, same_bytes, write_all
from .owned import RECORD, Ownership
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
    ownership: Ownership | None = None  # which files of the output folder syndicate wrote (when writing)
    refused: dict[str, str] = field(default_factory=dict)  # files left alone: not syndicate's (rel → why)
    links_key: str | None = None  # a hash of the syndication links rendered (builder/edit.py)
    links: Mapping[str, Links] = field(default_factory=dict)  # the syndication links rendered
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
        out = output_dir(site_dir, settings, out_dir)
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
        ownership = _ownership(memo, out, cache, settings) if write and render else None
        while render:
            rendered = memo.render(
                report.feeds,
                settings,
                cache if cache.path else None,
                out.resolve(),
                workers,
                write,
                trust,
                links or {},
                ownership,
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
    # a file the workers left alone (not syndicate's) is one of the build's files all the same
    report.files = len(rendered.outputs.keys() | rendered.known.keys() | rendered.refused.keys())
    inputs = partial(inputs_key, settings, files, out)  # for the manifest, after the files are written
    return UnwrittenBuild(
        report,
        rendered.outputs,
        out,
        cache,
        started,
        rendered.known,
        inputs,
        now,
        memo,
        trust,
        ownership,
        rendered.refused,
        links_key=links_key(links or {}),
        links=links or {},
    )


def in_the_way(site_dir: Path, report: BuildReport, out_dir: Path | None = None) -> dict[str, str]:
    """The files a build would want to write but may not (syndicate did not write them), rel → why:
    what `check` reports before a build refuses them."""
    settings = report.settings
    out = output_dir(site_dir, settings, out_dir)
    rels = {path for feed in report.feeds for path in feed.links.paths.values()}
    rels |= {rel for rel in (settings.output.index, settings.output.opml) if rel}
    if any(t.social for t in settings.targets):
        rels.add(SYNDICATION_FILE)
    cache = PostCache(site_dir / STATE_DIR / "cache.db")
    ownership = Ownership(out, _last_outputs(cache, out), settings.output.take_over)
    return {rel: why for rel in sorted(rels) if (why := ownership.in_the_way(rel))}


def _ownership(memo: IncrementalRender, out: Path, cache: PostCache, settings: Settings) -> Ownership:
    """The record of the output folder's files: the one the last build of this process kept, when
    the file on disk is still as it left it (a daemon's cycle reads it only after another writer),
    else read anew; the last manifest vouches for the files only where there is no record yet."""
    kept = memo.ownership
    if kept is not None and kept.root == out and kept.take_over == settings.output.take_over and kept.is_current():
        return kept
    legacy = {} if (out / RECORD).is_file() else _last_outputs(cache, out)
    memo.ownership = Ownership(out, legacy, settings.output.take_over)
    return memo.ownership


def _last_outputs(cache: PostCache, out: Path) -> dict[str, FileStat | None]:
    """The output files the last build left, with their stats (its manifest), for an output folder
    written before syndicate kept the record of its files."""
    raw = cache.meta(manifest_key(out))
    try:
        outputs = json.loads(raw)["outputs"] if raw else {}
        return {str(rel): stat for rel, stat in outputs.items()} if isinstance(outputs, dict) else {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


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
            index.changed_behind()


def write_outputs(prepared: UnwrittenBuild, later: list[Callable[[], None]] | None = None) -> BuildReport:
    """Bring the output folder up to date and save the cache, never writing over or deleting a
    file syndicate did not write (each such file is reported). Raises OutputError.

    With ``later`` (a long-running process), the manifest a later build reads is not made now:
    ``later`` holds what makes it, for the caller to run once it is idle (a manifest that is not
    the last one only makes that build look at everything: it never matches the disk)."""
    report, ownership = prepared.report, prepared.ownership
    by_workers = [rel for rel in prepared.changed() if rel in prepared.known]  # written already
    held = {rel: prepared.outputs[rel] for rel in prepared.changed() if rel in prepared.outputs}
    refused = dict(prepared.refused)
    if ownership is not None:
        refused.update(ownership.claim(held))
        held = {rel: data for rel, data in held.items() if rel not in refused}
    report.written.extend(sorted([*by_workers, *write_all(prepared.out, held)]))
    trace(f"{len(report.written)} files written")
    if prepared.memo is not None:
        prepared.memo.checked(prepared.out, [*prepared._compared, *by_workers])
        if later is not None and report.feeds:  # a long-running process: its next save's site feed
            prepared.memo.warm(report.feeds[0], report.settings, prepared.links)
    feeds_may_go = not prepared.trusted or prepared.memo is None or prepared.memo.feeds_changed
    if ownership is not None and feeds_may_go:  # every file of ours it no longer makes: a tag gone, a feed renamed
        gone = remove_files(prepared.out, ownership.leftovers(set(prepared.files)))
        ownership.removed(gone)
        report.removed += gone
    if ownership is not None:
        _record_unchanged(prepared, ownership, refused)
    report.refused = {rel: refused[rel] for rel in sorted(refused)}
    report.out = str(prepared.out)
    if refused and prepared.memo is not None:
        prepared.memo.forget(prepared.out, prepared.cache if prepared.cache.path else None, refused)
    if prepared.cache.path is not None and prepared.now is not None and prepared.inputs is not None:
        if later is None:
            _put_manifest(prepared)
        else:
            later[:] = [partial(_put_manifest, prepared, save=True)]
    prepared.cache.save()
    trace("cache saved")
    return final_report(prepared)


def _put_manifest(prepared: UnwrittenBuild, save: bool = False) -> None:
    """Keep in the cache what a later build needs to tell from stats alone that nothing changed."""
    assert prepared.now is not None and prepared.inputs is not None
    outputs = {rel: _known_stat(prepared, rel) for rel in prepared.files}
    inputs = prepared.inputs()
    kept = manifest(prepared.report, prepared.out, outputs, inputs, prepared.now, prepared.links_key)
    prepared.cache.put_meta(manifest_key(prepared.out), json.dumps(kept, ensure_ascii=False))
    keep_plans(prepared.cache, prepared.out, prepared.report.feeds, inputs)
    if save:
        prepared.cache.save()
        trace("manifest saved")


def _record_unchanged(prepared: UnwrittenBuild, ownership: Ownership, refused: dict[str, str]) -> None:
    """Files this build left as they were are syndicate's too, as long as they hold its bytes: the
    record learns those it does not know yet (an output folder from before the record, or a file
    that already held exactly these bytes); then it is compacted when it has grown."""
    current: dict[str, str] = {}
    unknown: dict[str, bytes] = {}
    for rel in prepared.files:
        if rel in refused:
            continue
        dig = prepared.digest(rel)
        current[rel] = dig
        if dig not in ownership.digests.get(rel, ()) and not (rel in prepared.known and prepared.known[rel][2]):
            data = prepared.outputs.get(rel)
            if data is None:  # a feed not rendered this time: its bytes are on disk, if they are still its
                try:
                    data = (prepared.out / rel).read_bytes()
                except OSError:
                    continue
                if digest(data) != dig:
                    continue
            unknown[rel] = data
    refused.update(ownership.claim(unknown))
    ownership.compact({rel: dig for rel, dig in current.items() if rel not in refused})


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
    seen = Recorder() if write and use_cache else None
    if write and use_cache:
        out = output_dir(site_dir, settings, out_dir)
        if cache.path is not None and quick.HINT:  # the stamp named the edited posts: no scan
            report = hinted_build(settings, cache.path, site_dir, out, now, links, seen)
            if report is not None:
                trace("a few posts edited in place: only their feeds made again")
                report.seconds = time.perf_counter() - started
                report.seen = _with_manifest(seen, cache, out) if seen and seen.scanned is not None else None
                if report.seen is None:  # the stamp of the build before, which no longer holds
                    quick.remove_stamp(str(site_dir))
                return report
        files = scan(site_dir, settings, seen)
        trace(f"content scanned ({len(files)} files)")
        inputs = inputs_key(settings, files, out)  # once: 0.05 s at 100,000 posts
        report = up_to_date(settings, cache, files, out, now, inputs)
        if report is not None:
            trace("nothing changed since the last build")
            report.seconds = time.perf_counter() - started
            report.seen = _with_manifest(seen, cache, out)
            return report
        if cache.path is not None:
            report = edited_build(settings, cache.path, files, out, now, links, inputs, seen)
            if report is not None:
                trace("a few posts edited in place: only their feeds made again")
                report.seconds = time.perf_counter() - started
                report.seen = _with_manifest(seen, cache, out)
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
    if not write:
        return final_report(prepared)
    report = write_outputs(prepared)
    report.seen = _with_manifest(seen, cache, prepared.out)
    return report


def _with_manifest(seen: Recorder | None, cache: PostCache, out: Path) -> Recorder | None:
    """What the scan saw, with the manifest the build left (for the stamp: syndicate/quick.py)."""
    raw = cache.meta(manifest_key(out)) if seen is not None else None
    if seen is None or raw is None:
        return None
    try:
        seen.manifest = json.loads(raw)
    except ValueError:
        return None
    return seen
