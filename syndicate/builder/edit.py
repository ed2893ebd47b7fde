"""A rebuild after a few posts were edited in place: only the feeds that show them are written
again, from what the last build kept (its manifest, the edited posts' cache rows, each feed's
plan and its files on disk), without reading any other post. builder/pipeline.py asks here after
the no-change check and before the whole build; None sends it the whole way, which is always
right (with SYNDICATE_TRACE it says why).

It answers only when the answer is the whole build's, byte for byte:

- the last build's inputs (code, settings, output folder, every post file's stat) are today's
  but for the edited files, whose cache rows are the posts that build read (the inputs' hash,
  taken with those rows' stats, is the manifest's); every output file is as that build left it,
  the clock in the same live window, no file left alone (refused), the same syndication links;
- each edited post parses, was and is accepted, keeps what decides where it shows (id, URL,
  dates, terms, draft, publish and expiry dates) and links to no other post by template code;
- at most MOST posts edited, and the output folder has a record of syndicate's files.

Then the feeds that show an edited post are exactly those it was and is in, with the same own
fields: its entries in their files are replaced by its new ones (core/render's replace_entry),
and the manifest, the plans, the fingerprints and the cache rows are brought up to date, so the
next build (no-change, edit, or whole) starts from this one as if the whole build had run.
tests/test_edit_build.py holds it to the whole build over random rounds of edits.

The edited files are found by the scan, or without one (:func:`hinted_build`) when the stamp check
of the same command (syndicate/quick.py) held but for the stats of the post files in a few of its
chunks: the files are then made from the stamp's, and held to the manifest's inputs' hash as a
scan's are.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from stat import S_ISREG
from typing import Any

from .. import quick
from ..core.feeds import Plan, feed_from_plan, feed_plan, plan_key, post_plan_keys
from ..core.model import Feed, Links, Post, Settings, Severity
from ..core.sources import source_prefix
from ..quick import Recorder, signature_of
from .cache import CachedPost, PostCache, post_to_json
from .discover import Scanned
from .manifest import in_window, input_line, inputs_key, lines_key, manifest_key, outputs_hold, replayed
from .output import digest, file_stat, same_bytes, write_all
from .owned import Ownership
from .report import BuildReport, trace

MOST = 16  # edited posts beyond which the whole build is as quick
SEVERITIES: frozenset[Severity] = frozenset({"error", "warning", "skipped"})


def plans_key(out: Path) -> str:
    """The meta key that says which build the kept plans are of (its inputs' hash)."""
    return f"plans {out.resolve()}"


def links_key(links: Mapping[str, Links]) -> str:
    """A hash of the syndication links a build rendered with."""
    return hashlib.sha256(repr(sorted(links.items())).encode()).hexdigest()


def keep_plans(cache: PostCache, out: Path, feeds: list[Feed], inputs: str) -> None:
    """After a whole build: each feed's plan, where it changed, and which build they are of. A
    long-running process (the daemon) keeps what it wrote: a feed its planner kept (the same object)
    is not written out again, nor are the plans read back, while no other process wrote them."""
    root = str(out.resolve())
    memo = cache.plans_memo.get(root)
    if memo is not None and cache.meta(plans_key(out)) == memo[0]:
        known = memo[1]
        kept = {key: text for key, (_, text) in known.items()}
    else:
        known, kept = {}, cache.all_plans(root)
    made: dict[str, tuple[Feed, str]] = {}
    for feed in feeds:
        key = plan_key(feed)
        was = known.get(key)
        text = was[1] if was is not None and was[0] is feed else json.dumps(feed_plan(feed), ensure_ascii=False)
        made[key] = (feed, text)
        if kept.get(key) != text:
            cache.put_plan(root, key, text)
    for key in kept.keys() - made.keys():
        cache.put_plan(root, key, None)
    cache.put_meta(plans_key(out), inputs)
    cache.plans_memo[root] = (inputs, made)


def _moved(old: Post, new: Post) -> bool:
    """Does the edit change where the post shows (or is it linked by template code)?"""
    fields = ("id", "url", "published", "updated", "tags", "terms", "draft", "live_from", "expires")
    return any(getattr(old, f) != getattr(new, f) for f in fields) or bool(old.refs or new.refs)


def edited_build(
    settings: Settings,
    path: Path,
    files: list[Scanned],
    out: Path,
    now: datetime,
    links: Callable[[Settings], Mapping[str, Links]] | None,
    inputs: str,
    seen: Recorder | None = None,
) -> BuildReport | None:
    """The report of a build that made only the feeds showing the posts edited since the last
    build (``path``: the cache's; ``inputs``: :func:`inputs_key` of ``files``), or None when the
    whole build must run (see the module's doc). ``seen`` learns which files it read anew."""
    cache = PostCache(path)
    raw, plans_of = cache.meta(manifest_key(out)), cache.meta(plans_key(out))
    if raw is None or plans_of is None:
        return _whole("no manifest or plans of the last build")
    try:
        m: dict[str, Any] = json.loads(raw)
        trace("manifest read")
        if m.get("refused") or not in_window(m, now) or not outputs_hold(m, settings, out):
            return _whole("files left alone, the clock out of the live window, or the output changed")
        if plans_of != m["inputs"]:
            return _whole("the plans are of another build")
        trace("output as the last build left it")
        edited = _edited(cache, settings, files, out, m["inputs"])
        if not edited:
            return _whole("other inputs changed (settings, files added or removed, or many edited)")
        trace(f"edited since the last build: {len(edited)} post file(s)")
        if seen is not None:
            seen.read_anew = [f.signature for f in edited]  # the stamp looks at these first
        return _build(cache, settings, edited, out, m, links, inputs)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return _whole("a cache that does not read")


def hinted_build(
    settings: Settings,
    path: Path,
    site_dir: Path,
    out: Path,
    now: datetime,
    links: Callable[[Settings], Mapping[str, Links]] | None,
    seen: Recorder | None = None,
) -> BuildReport | None:
    """:func:`edited_build` without a scan, from what the stamp check of this command found
    (syndicate/quick.py's HINT: every folder lists what the stamp's build listed, every output
    file is as it left it, the config and the cache are unchanged, and only the post files of some
    chunks have other stats): the files are made from the stamp's, with their stats now, and the
    edited ones are those candidates whose stats are not their cache rows'. The build goes this way
    only when those files, with the rows' stats for the edited ones, give the manifest's inputs'
    hash, as :func:`_edited` asks of a scan's; None sends it on to the scan. ``seen`` learns what a
    scan would have recorded (for the stamp), unless an edited file is racy (it gets no stamp)."""
    hint = quick.HINT
    cache = PostCache(path)
    try:
        if (hint.get("cwd"), hint.get("site"), hint.get("out")) != (os.getcwd(), os.path.realpath(site_dir), str(out)):
            return None  # the stamp of another command
        raw, plans_of = cache.meta(manifest_key(out)), cache.meta(plans_key(out))
        if raw is None or plans_of is None:
            return _whole("no manifest or plans of the last build")
        m: dict[str, Any] = json.loads(raw)
        if m["inputs"] != hint["inputs"] or plans_of != m["inputs"] or m.get("refused") or not in_window(m, now):
            return _whole("the stamp is of another build, files were left alone, or the clock is out of the window")
        lines, edited = _hinted_files(cache, settings, site_dir, hint)
        if not edited:
            return _whole("other inputs changed (settings, files added or removed, or many edited)")
        then = {input_line(f.source, f.signature, ""): input_line(f.source, was, "") for f, was in edited}
        if lines_key(settings, [then.get(line, line) for line in lines], out) != m["inputs"]:
            return _whole("other inputs changed (settings, files added or removed, or many edited)")
        trace(f"edited since the last build, told by the stamp: {len(edited)} post file(s)")
        report = _build(cache, settings, [f for f, _ in edited], out, m, links, lines_key(settings, lines, out))
        if report is not None and seen is not None:
            _as_scanned(seen, settings, site_dir, hint, [f for f, _ in edited])
        return report
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return _whole("a cache or a stamp that does not read")


def _as_scanned(
    seen: Recorder, settings: Settings, site_dir: Path, hint: dict[str, Any], edited: list[Scanned]
) -> None:
    """What a scan would have recorded (see :func:`hinted_build`), from the stamp's folders and files
    with their stats now; nothing when an edited file changed in the RACY_NS before now (the build
    then leaves no stamp)."""
    racy = time.time_ns() - quick.RACY_NS
    if any(max(int(x) for x in f.signature.split(":")[1:3]) >= racy for f in edited):
        return
    content = os.path.join(str(site_dir / settings.content.dir), "")
    prefix, cut = source_prefix(settings.content.dir), len(content)
    paths = [folder + name for folder, names in hint["files"] for name in names]
    sigs = ["{}:{}:{}:{}".format(*n) for n in hint["signatures"]]
    scanned = [Scanned(prefix + p[cut:], p, sig) for p, sig in zip(paths, sigs, strict=True)]
    scanned += [Scanned(source, at, "", why, severity) for source, at, why, severity in hint["skipped"]]
    scanned.sort(key=lambda f: f.source)
    for folder, listed, _ in hint["folders"]:
        seen.listed(folder, listed)
    seen.files = list(zip(paths, sigs, strict=True))
    seen.read_anew = [f.signature for f in edited]
    seen.scanned = scanned


def _hinted_files(
    cache: PostCache, settings: Settings, site_dir: Path, hint: dict[str, Any]
) -> tuple[list[str], list[tuple[Scanned, str]]]:
    """The files a scan would find now as :func:`lines_key` takes them, made from the stamp's (see
    :func:`hinted_build`), and the edited ones with their cache rows' signatures; no edited ones
    when a candidate is no longer a regular file, has no row or a row of other settings, or too
    many were edited."""
    content = os.path.join(str(site_dir / settings.content.dir), "")
    prefix = source_prefix(settings.content.dir)
    cut = len(content)
    paths = [folder + name for folder, names in hint["files"] for name in names]
    numbers, modes = hint["signatures"], hint["modes"]
    if len(paths) != len(numbers) or not all(p.startswith(content) for p in paths):
        return [], []
    candidates = [Scanned(prefix + paths[i][cut:], paths[i], signature_of(numbers[i])) for i in hint["candidates"]]
    kept = cache.signatures([f.source for f in candidates])
    if kept is None:
        return [], []
    keys = (settings.render_key(), settings.render_key(targets=False))  # as load_posts keeps them
    edited: list[tuple[Scanned, str]] = []
    for i, f in zip(hint["candidates"], candidates, strict=True):
        was = kept.get(f.source)
        if was is None or was[1] not in keys or not S_ISREG(modes[i]):
            return [], []
        if was[0] != f.signature:
            edited.append((f, was[0]))
    if len(edited) > MOST:
        return [], []
    lines = [f"{prefix}{p[cut:]}\x00{a}:{b}:{c}:{d}\x00\n" for p, (a, b, c, d) in zip(paths, numbers, strict=True)]
    for source, _, why, severity in hint["skipped"]:
        if severity not in SEVERITIES:
            return [], []
        lines.append(input_line(str(source), "", str(why)))
    lines.sort()
    return lines, edited


def _whole(why: str) -> BuildReport | None:
    """None: the whole build must run (why, with SYNDICATE_TRACE)."""
    trace(f"the whole build: {repr(why)[1:-1]}")  # a file name may hold a newline or an escape: escaped
    return None


def _edited(cache: PostCache, settings: Settings, files: list[Scanned], out: Path, inputs: str) -> list[Scanned]:
    """The post files edited since the last build, when all else is as it read it (see the
    module's doc); [] when the whole build must run."""
    kept = cache.signatures()
    if kept is None:
        return []
    keys = (settings.render_key(), settings.render_key(targets=False))  # as load_posts keeps them
    edited: list[Scanned] = []
    then: list[Scanned] = []
    for f in files:
        was = kept.get(f.source) if not f.error else None
        if was is not None and was[0] != f.signature and was[1] in keys:
            edited.append(f)
            then.append(replace(f, signature=was[0]))
        else:
            then.append(f)
    if not edited or len(edited) > MOST or inputs_key(settings, then, out) != inputs:
        return []
    return edited


def _build(
    cache: PostCache,
    settings: Settings,
    edited: list[Scanned],
    out: Path,
    m: dict[str, Any],
    links: Callable[[Settings], Mapping[str, Links]] | None,
    inputs: str,
) -> BuildReport | None:
    from .parse import parse_one

    trace("parser loaded")
    old = cache.rows([f.source for f in edited])
    if old is None:
        return _whole("a cache that does not read")
    rejected = {p[0] for p in m["problems"] if p[3] == "error"}
    new: dict[str, CachedPost] = {}
    for f in edited:
        was = old.get(f.source)
        parsed = parse_one(f.source, f.path, settings)
        if was is None or was.post is None or parsed.post is None or not parsed.lasting or f.source in rejected:
            return _whole(f"{f.source} was or is rejected")
        if any(p.severity == "error" for p in parsed.problems):
            return _whole(f"{f.source} is rejected")
        if _moved(was.post, parsed.post):
            return _whole(f"{f.source} moved (its id, URL, dates, terms or state) or links to other posts")
        valid = settings.render_key(targets=parsed.post.names_targets)  # as load_posts keeps it
        new[f.source] = CachedPost(f.signature, valid, parsed.post, parsed.problems)
    trace("edited posts parsed")
    keys = list(dict.fromkeys(k for e in new.values() if e.post for k in post_plan_keys(e.post, settings)))
    plans = cache.plans(str(out.resolve()), keys)
    given = links(settings) if links is not None else {}
    if plans is None or m.get("links") != links_key(given):
        return _whole("no plans, or the syndication links changed")
    read: dict[str, Plan] = {key: json.loads(text) for key, text in plans.items()}
    shown = {key: plan for key, plan in read.items() if any(s in new for s, _, _ in plan[7])}
    return _write(cache, settings, shown, new, out, m, given, inputs)


def _write(
    cache: PostCache,
    settings: Settings,
    plans: dict[str, Plan],
    new: dict[str, CachedPost],
    out: Path,
    m: dict[str, Any],
    links: Mapping[str, Links],
    inputs: str,
) -> BuildReport | None:
    """Each feed that shows an edited post: its files on disk with the post's entries replaced (core
    render's replace_entry), its fingerprint and plan kept; then the manifest and the cache rows."""
    from ..core.render import EntryMemo, entry_bytes, replace_entry
    from .fingerprints import feed_fingerprint, feed_print, render_base
    from .parse import make_html

    root = out.resolve()
    ownership = Ownership(out)
    if not ownership.found:
        return _whole("no record of syndicate's files in the output folder yet")
    cache.hold_only({f"{root}\x1f{plan[0]}" for plan in plans.values()})  # no other row is read
    base = render_base(settings)
    memo: EntryMemo = {}
    made: dict[str, bytes] = {}
    edited = {source: e.post for source, e in new.items() if e.post is not None}
    for one in edited.values():
        if not one.content.ready:
            html = make_html((one.content.recipe(), settings.content.render_timeout))
            if isinstance(html, str):
                return _whole("a post whose HTML cannot be made")  # the whole build rejects it
            one.content.fill(*html)
    for key, plan in plans.items():
        feed = feed_from_plan(plan, settings)
        shown = plan[7]
        for fmt, rel in feed.links.paths.items():
            try:
                data: bytes | None = (out / rel).read_bytes()
            except OSError:
                return _whole(f"{rel} cannot be read")
            for i, (source, _, _) in enumerate(shown):
                post = edited.get(source)
                if post is not None and data is not None:
                    text = entry_bytes(fmt, post, settings, links.get(post.id, ()), memo)
                    data = replace_entry(fmt, data, i, len(shown), text)
            if data is None:
                return _whole(f"{rel} is not the file its plan says")
            made[rel] = data
        plan[7] = [[s, edited[s].id, edited[s].revision] if s in edited else [s, i, r] for s, i, r in shown]
        fingerprint = feed_fingerprint(base, feed, [(i, r) for _, i, r in plan[7]], links)
        sizes = {rel: (len(made[rel]), digest(made[rel])) for rel in feed.links.paths.values()}
        cache.put_plan(str(root), key, json.dumps(plan, ensure_ascii=False))
        cache.put_feed_print(f"{root}\x1f{feed.key}", feed_print(fingerprint, sizes))
    trace(f"{len(plans)} feeds show them")
    held = {rel: data for rel, data in made.items() if not same_bytes(out / rel, data)}
    if ownership.claim(held):
        return _whole("a file in the way that is not syndicate's")  # the whole build says so
    written = write_all(out, held)
    ownership.compact({rel: digest(held[rel]) for rel in written})  # when it has grown: as the whole build
    for rel in written:
        m["outputs"][rel] = file_stat(out / rel)
    m["inputs"] = inputs
    m["problems"] = [p for p in m["problems"] if p[0] not in new] + [
        [p.path, p.message, p.line, p.severity] for e in new.values() for p in e.problems
    ]
    for source, entry in new.items():
        assert entry.post is not None
        entry.row = post_to_json(entry.post)
        cache.put(source, entry)
    cache.put_meta(manifest_key(out), json.dumps(m, ensure_ascii=False))
    cache.put_meta(plans_key(out), m["inputs"])
    cache.save()
    trace(f"{len(written)} files written, cache saved")
    report = replayed(settings, m, out)
    report.written = written
    if cache.warning:
        report.notes.append(cache.warning)
    return report
