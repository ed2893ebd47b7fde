"""Post files → posts: through the cache when a file is unchanged, else read and parsed (on every
core when there are many); a post's HTML is made later, from its file (``file_recipe``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from ..core.bodies import MAX_FILE_BYTES, post_body, relative
from ..core.feeds import settle_conflicts
from ..core.markup import render_body
from ..core.model import Content, Post, Problem, RenderArgs, Settings
from ..core.posts import body_args
from ..core.sources import source_prefix
from ..core.templating import Site, resolve, shown
from ..errors import ContentError
from ..files import read_limited
from .cache import CachedPost, PostCache, post_to_json
from .discover import PostIndex, Scanned, scan
from .parse import Job, Parsed, parse_file
from .report import Progress
from .workers import Workers


def _parse_file_light(job: Job) -> Parsed:
    """As :func:`_parse_file`, but the post remembers its file, not its body (less to send back),
    and comes with its cache row when the cache will keep it."""
    parsed = parse_file(job)
    if parsed.post is not None:
        parsed.post.content.set_recipe(file_recipe(job[0], job[1], parsed.post.url, job[2]))
        if job[3] and parsed.lasting:
            return parsed._replace(row=post_to_json(parsed.post))
    return parsed


def file_recipe(
    source: str, path: str, url: str, settings: Settings, links: tuple[tuple[str, str], ...] = ()
) -> Callable[[], tuple[str, str]]:
    c = settings.content
    return partial(
        render_file, source, path, url, settings.render_args, c.generator, c.dir, settings.site.url, links, c.site
    )


def render_file(
    source: str,
    path: str,
    url: str,
    args: RenderArgs,
    generator: str = "syndicate",
    content_dir: str = "content",
    site_url: str = "",
    links: tuple[tuple[str, str], ...] = (),
    site: tuple[tuple[str, str], ...] = (),
) -> tuple[str, str]:
    """A post's HTML and summary, made from its file (whose front matter was parsed before);
    ``links``: the URL of each file its body links to (see :func:`link_posts`)."""
    try:
        data = read_limited(path, MAX_FILE_BYTES, source)
        body = post_body(source, data, generator, content_dir, site_url, links, site)
    except ContentError:
        return "", ""  # changed or gone since it was parsed: the next build parses it again
    return render_body(body, url, *body_args(source, args))


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
    plain = settings.render_key(targets=False)  # a post that names no target is read the same with any
    files = scan(site_dir, settings) if files is None else files
    incremental = index is not None and changed is not None and index.key == key
    subset = [f for f in files if f.source in changed] if incremental and changed is not None else files
    resolved: dict[str, CachedPost] = {}
    jobs: list[Job] = []
    cached = cache.path is not None
    signatures: dict[str, str] = {}
    for f in subset:
        if f.error:
            resolved[f.source] = CachedPost("", key, None, [Problem(f.source, f.error, severity=f.severity)])
            continue
        hit = cache.get(f.source, f.signature, plain) or cache.get(f.source, f.signature, key)
        if hit is None:
            jobs.append((f.source, f.path, settings, cached))
            signatures[f.source] = f.signature
            continue
        if hit.post is not None and hit.post.content.needs_recipe:
            hit.post.content.set_recipe(file_recipe(f.source, f.path, hit.post.url, settings))
        resolved[f.source] = hit
    workers = workers or Workers()
    parse = _parse_file_light if workers.worth_it(len(jobs)) else parse_file
    for (source, *_), (post, found, lasting, row) in zip(jobs, workers.map(parse, jobs, progress), strict=True):
        valid = plain if post is not None and not post.names_targets else key
        resolved[source] = CachedPost(signatures[source], valid, post, found, row)
        if lasting:
            cache.put(source, resolved[source])
    if parse is _parse_file_light and cached:
        cache.save(posts_only=True)  # the rows the workers made, saved now and let go: memory for the render
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
    if index is not None:  # a long-running process: patched where the changed files are
        posts, problems, kept, conflicts = index.gather(changed if incremental else None)
    else:
        posts = [e.post for e in entries.values() if e.post is not None]
        problems = [p for e in entries.values() for p in e.problems]
        kept, conflicts = settle_conflicts(posts)
    unlinked: list[Problem] = []
    if index is None or index.with_refs:
        kept, unlinked = link_posts(kept, site_dir, settings, {f.source: f.path for f in files}, index)
    return kept, problems + conflicts + unlinked, len(jobs)


def link_posts(
    posts: list[Post], site_dir: Path, settings: Settings, paths: dict[str, str], index: PostIndex | None = None
) -> tuple[list[Post], list[Problem]]:
    """Posts whose bodies link to other files with template code (``{% link %}``, ``{{< ref >}}``,
    ``@/x.md``, ``{filename}``), made with those files' URLs, which only the whole set of posts
    knows: their HTML is made with them, and their revision covers them, so a post is rendered
    again when a post it links to moves. A target that is nowhere: one warning per post.

    A long-running process's ``index`` keeps the linked posts, so one whose links did not change
    is the same object from cycle to cycle (the incremental planner matches posts by identity)."""
    linking = [p for p in posts if p.refs]
    if not linking:
        return posts, []
    c = settings.content
    folder = site_dir / source_prefix(c.dir)
    site = Site(
        c.generator,
        settings.site.url,
        {relative(p.source, c.dir): p.url for p in posts},
        lambda rel: ".." not in rel.split("/") and (folder / rel).is_file(),
    )
    memo = index.linked if index is not None else {}
    problems: list[Problem] = []
    swapped: dict[int, Post] = {}
    for post in linking:
        found = resolve(post.refs, site)
        missing = [shown(ref) for ref in post.refs if ref not in found]
        if missing:
            names = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            why = f"links to {names}: no such post or file; the link's text is kept"
            problems.append(Problem(post.source, why, None, "warning"))
        links = tuple(sorted(found.items()))
        revision = hashlib.sha256(json.dumps([post.revision, links]).encode()).hexdigest()[:16]
        kept = memo.get(post.source)
        if kept is not None and kept[0] is post and kept[1].revision == revision:
            swapped[id(post)] = kept[1]
            continue
        path = paths.get(post.source, str(site_dir / post.source))
        recipe = file_recipe(post.source, path, post.url, settings, links)
        linked = replace(post, revision=revision, content=Content(recipe, summary=post.content.given_summary))
        memo[post.source] = (post, linked)
        swapped[id(post)] = linked
    return [swapped.get(id(p), p) for p in posts], problems
