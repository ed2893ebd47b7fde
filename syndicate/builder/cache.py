"""A persistent cache of parsed posts, so unchanged files are not re-read.

One SQLite row per post file, keyed by its path: the post's front matter as parsed, its
revision and its problems — not its HTML. A row is reused only while the file's stat
signature (size, mtime, ctime, inode) *and* the settings' render key are unchanged;
anything else re-parses the file. HTML is made only for the feeds that must be rendered
again, from the file (see :class:`syndicate.core.model.Content`): with the C renderer that is
as fast as reading it back, and the cache stays small. The cache is an optimisation
only: deleting ``.syndicate/cache.db`` is always safe, and a cache that cannot be opened
is skipped.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.model import Content, Image, Post, Problem
from ..quick import signature

SCHEMA_VERSION = 6  # 4: live_from, expires, terms; 5: social; 6: refs
# Bump when the bytes a feed renders to, or what a post file is read as, change for the same input
# (4: template code in posts done as the generator does it; 5: Liquid loops dropped whole, <noscript>
# shown, item ids of taken-over feeds).
RENDER_FORMAT = 5
# A cache is this syndicate's when all three are its own: another version may read or render
# posts otherwise, so an upgrade reads every post again rather than keep what an older one made.
_STAMP = {"schema": str(SCHEMA_VERSION), "version": f"{__version__}/{RENDER_FORMAT}"}


def _stamped(db: sqlite3.Connection) -> bool:
    rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('schema', 'version')").fetchall())
    return rows == _STAMP


stat_signature = signature  # one definition: the stamp (syndicate/quick.py) compares the same


def post_to_json(post: Post) -> str:
    data = {f.name: getattr(post, f.name) for f in fields(post) if f.name != "content"}
    data["image"] = asdict(post.image) if post.image else None
    data["published"] = post.published.isoformat()
    data["updated"] = post.updated.isoformat()
    data["live_from"] = post.live_from.isoformat() if post.live_from else None
    data["expires"] = post.expires.isoformat() if post.expires else None
    data["summary"] = post.content.given_summary
    return json.dumps(data, ensure_ascii=False)


def post_from_json(text: str) -> Post:
    """A cached post; its content is made from the file once the caller names it (set_recipe)."""
    data: dict[str, Any] = json.loads(text)
    data["published"] = datetime.fromisoformat(data["published"])
    data["updated"] = datetime.fromisoformat(data["updated"])
    data["tags"] = tuple(data["tags"])
    data["terms"] = tuple((tax, tuple(terms)) for tax, terms in data["terms"])
    data["social"] = tuple((name, tuple((k, v) for k, v in options)) for name, options in data["social"])
    data["refs"] = tuple(data["refs"])
    for key in ("live_from", "expires"):
        data[key] = datetime.fromisoformat(data[key]) if data[key] else None
    data["syndicate"] = tuple(data["syndicate"]) if data["syndicate"] is not None else None
    data["image"] = Image(**data["image"]) if data["image"] else None
    data["content"] = Content(summary=data.pop("summary"))
    return Post(**data)


class CachedPost:
    """What the cache keeps of one post file: valid while the file's stat ``signature`` and the
    settings' ``render_key`` are those it was made with; ``post`` is None for a rejected file.
    ``row``: the post as the cache stores it (:func:`post_to_json`), when the worker that parsed
    it made it already (on every core, rather than in this process after the build)."""

    __slots__ = ("post", "problems", "render_key", "row", "signature")

    def __init__(
        self, signature: str, render_key: str, post: Post | None, problems: list[Problem], row: str | None = None
    ) -> None:
        self.signature = signature
        self.render_key = render_key
        self.post = post
        self.problems = problems
        self.row = row


class PostCache:
    """path → CachedPost; read whole on first use, changes saved in one transaction.

    Also holds each feed's fingerprint and the manifest of the last build (see
    :func:`syndicate.builder.build`), which a no-change rebuild reads without the posts.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, CachedPost] | None = None
        self._dirty: dict[str, CachedPost | None] = {}
        self._feed_prints: dict[str, str] = {}  # "<output folder>\x1f<feed key>" → what was rendered there
        self._dirty_prints: dict[str, str] = {}
        self._dirty_meta: dict[str, str] = {}
        self._dirty_plans: dict[tuple[str, str], str | None] = {}  # (output folder, feed) → its plan
        self.plans_memo: dict[str, tuple[str, dict[str, Any]]] = {}  # a long-lived cache's (builder/edit.py)
        self.partial = False  # only some rows known (see hold_only): never a whole-cache operation
        self.warning: str | None = None

    @property
    def entries(self) -> dict[str, CachedPost]:
        if self._entries is None:
            self._entries = {}
            if self.path is not None:
                self._load(self.path)
        return self._entries

    @property
    def feed_prints(self) -> dict[str, str]:
        self.entries  # noqa: B018 (loads)
        return self._feed_prints

    def meta(self, key: str) -> str | None:
        """One value of the meta table, read on its own (no posts loaded)."""
        if key in self._dirty_meta:
            return self._dirty_meta[key]
        if self.path is None or not self.path.exists():
            return None
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
            try:
                ours = _stamped(db)
                row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            return None
        return row[0] if ours and row is not None else None

    def put_meta(self, key: str, value: str) -> None:
        self._dirty_meta[key] = value

    def _read(self, query: str, args: tuple[str, ...] = ()) -> list[tuple[Any, ...]] | None:
        """Rows of one query of a cache of this syndicate's, read-only; None when there is none."""
        if self.path is None or not self.path.exists():
            return None
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
            try:
                return db.execute(query, args).fetchall() if _stamped(db) else None
            finally:
                db.close()
        except sqlite3.Error:
            return None

    def signatures(self, sources: list[str] | None = None) -> dict[str, tuple[str, str]] | None:
        """Each cached post file's (stat signature, render key), without reading its post: of every
        file, or of these ``sources`` only."""
        if sources is None:
            rows = self._read("SELECT path, signature, render_key FROM posts")
        else:
            marks = ",".join("?" * len(sources))
            rows = self._read(f"SELECT path, signature, render_key FROM posts WHERE path IN ({marks})", tuple(sources))
        return None if rows is None else {path: (sig, key) for path, sig, key in rows}

    def rows(self, sources: list[str]) -> dict[str, CachedPost] | None:
        """The kept rows of these post files (not all: a build of a few edited posts, builder/edit.py);
        None when the cache cannot be read."""
        rows = self._read(f"SELECT * FROM posts WHERE path IN ({','.join('?' * len(sources))})", tuple(sources))
        if rows is None:
            return None
        try:
            return {
                p: CachedPost(
                    sig, key, post_from_json(post) if post else None, [Problem(**x) for x in json.loads(problems)]
                )
                for p, sig, key, post, problems in rows
            }
        except (ValueError, TypeError, KeyError):
            return None

    def hold_only(self, print_keys: set[str]) -> None:
        """From now on, know only these feeds' fingerprints and no post (builder/edit.py): what is
        put is saved as usual; nothing may ask for the whole cache."""
        keys = sorted(print_keys)
        prints = self._read(
            f"SELECT key, fingerprint FROM feeds WHERE key IN ({','.join('?' * len(keys))})", tuple(keys)
        )
        self._entries, self._feed_prints, self.partial = {}, dict(prints or []), True

    def plans(self, out: str, feeds: list[str]) -> dict[str, str] | None:
        """The kept plans (see put_plan) of these feeds (plan keys) of output folder ``out``; None
        when the cache cannot be read."""
        marks = ",".join("?" * len(feeds))
        rows = self._read(f"SELECT feed, plan FROM feed_plans WHERE out = ? AND feed IN ({marks})", (out, *feeds))
        return None if rows is None else dict(rows)

    def all_plans(self, out: str) -> dict[str, str]:
        return dict(self._read("SELECT feed, plan FROM feed_plans WHERE out = ?", (out,)) or [])

    def put_plan(self, out: str, feed: str, plan: str | None) -> None:
        """What a feed of output folder ``out`` showed when it was last rendered (builder/edit.py
        reads it); None: the feed is gone."""
        self._dirty_plans[(out, feed)] = plan

    def _connect(self, path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a cache: a power cut may lose the last save, never corrupt it
        db.execute(
            "CREATE TABLE IF NOT EXISTS posts (path TEXT PRIMARY KEY, signature TEXT NOT NULL,"
            " render_key TEXT NOT NULL, post TEXT, problems TEXT NOT NULL)"
        )
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("CREATE TABLE IF NOT EXISTS feeds (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS feed_plans (out TEXT NOT NULL, feed TEXT NOT NULL, plan TEXT NOT NULL,"
            " PRIMARY KEY (out, feed))"
        )
        if not _stamped(db):
            db.execute("DELETE FROM posts")
            db.execute("DELETE FROM feeds")
            db.execute("DELETE FROM feed_plans")
            db.execute("DELETE FROM meta")
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", sorted(_STAMP.items()))
            db.commit()
        return db

    def _load(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            try:
                if not _stamped(db):
                    return
                has_feeds = db.execute("SELECT 1 FROM sqlite_master WHERE name='feeds'").fetchone()
                if has_feeds:
                    self._feed_prints = dict(db.execute("SELECT key, fingerprint FROM feeds").fetchall())
                for p, sig, key, post, problems in db.execute("SELECT * FROM posts"):
                    self.entries[p] = CachedPost(
                        sig,
                        key,
                        post_from_json(post) if post else None,
                        [Problem(**x) for x in json.loads(problems)],
                    )
            finally:
                db.close()
        except (sqlite3.Error, ValueError, TypeError, KeyError) as e:
            self.entries.clear()
            self._feed_prints.clear()
            self.warning = f"{path}: cache unreadable ({e}); every post is read afresh"

    def get(self, rel: str, signature: str, render_key: str) -> CachedPost | None:
        entry = self.entries.get(rel)
        if entry and entry.signature == signature and entry.render_key == render_key:
            return entry
        return None

    def put(self, rel: str, entry: CachedPost) -> None:
        self.entries[rel] = entry
        self._dirty[rel] = entry

    def put_feed_print(self, key: str, fingerprint: str) -> None:
        if self.feed_prints.get(key) != fingerprint:
            self.feed_prints[key] = fingerprint
            self._dirty_prints[key] = fingerprint

    def forget(self, sources: set[str]) -> None:
        for rel in sources:
            if rel in self.entries:
                del self.entries[rel]
                self._dirty[rel] = None

    def forget_missing(self, present: set[str]) -> None:
        assert not self.partial, "a cache read in part knows only some posts"
        for rel in [r for r in self.entries if r not in present]:
            del self.entries[rel]
            self._dirty[rel] = None

    def save(self, posts_only: bool = False) -> None:
        """Save changed posts and feed fingerprints; call it only after the files are written.
        ``posts_only``: the changed posts alone, which may be saved at any time (what a post file
        is read as does not depend on what a build writes); their rows are let go (memory)."""
        later = self._dirty_prints or self._dirty_meta or self._dirty_plans
        if self.path is None or not (self._dirty or (not posts_only and later)):
            return
        try:
            self._save(self.path, posts_only)
        except sqlite3.DatabaseError:  # a corrupt file: it is only a cache, start a new one
            try:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                self._save(self.path, posts_only)
            except (sqlite3.Error, OSError) as e:
                self.warning = f"{self.path}: could not save the cache ({e}); the next build re-reads every post"
        except OSError as e:
            self.warning = f"{self.path}: could not save the cache ({e}); the next build re-reads every post"
        for entry in self._dirty.values():
            if entry is not None:
                entry.row = None
        self._dirty.clear()
        if not posts_only:
            self._dirty_prints.clear()
            self._dirty_meta.clear()
            self._dirty_plans.clear()

    def _save(self, path: Path, posts_only: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect(path)
        try:
            with db:
                if not posts_only:
                    db.executemany("INSERT OR REPLACE INTO feeds VALUES (?, ?)", list(self._dirty_prints.items()))
                    plans = self._dirty_plans.items()
                    db.executemany("DELETE FROM feed_plans WHERE out=? AND feed=?", [k for k, v in plans if v is None])
                    db.executemany(
                        "INSERT OR REPLACE INTO feed_plans VALUES (?, ?, ?)",
                        [(*k, v) for k, v in plans if v is not None],
                    )
                    db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(self._dirty_meta.items()))
                gone = [(rel,) for rel, entry in self._dirty.items() if entry is None]
                db.executemany("DELETE FROM posts WHERE path=?", gone)
                db.executemany(
                    "INSERT OR REPLACE INTO posts VALUES (?, ?, ?, ?, ?)",
                    (
                        (
                            rel,
                            entry.signature,
                            entry.render_key,
                            (entry.row or post_to_json(entry.post)) if entry.post else None,
                            json.dumps([asdict(p) for p in entry.problems], ensure_ascii=False)
                            if entry.problems
                            else "[]",
                        )
                        for rel, entry in self._dirty.items()
                        if entry is not None
                    ),
                )
        finally:
            db.close()
