"""A persistent cache of parsed posts, so unchanged files are neither re-read nor re-rendered.

One SQLite row per post file, keyed by its path. A row is reused only while the file's
stat signature (size, mtime, ctime, inode) *and* the settings' render key are unchanged;
anything else re-parses the file. The cache is an optimisation only: deleting
``.syndicate/cache.db`` is always safe, and a cache that cannot be opened is skipped.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from .model import Image, Post, Problem

SCHEMA_VERSION = 2


def stat_signature(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def post_to_json(post: Post) -> str:
    data = asdict(post)
    data["published"] = post.published.isoformat()
    data["updated"] = post.updated.isoformat()
    return json.dumps(data, ensure_ascii=False)


def post_from_json(text: str) -> Post:
    data: dict[str, Any] = json.loads(text)
    data["published"] = datetime.fromisoformat(data["published"])
    data["updated"] = datetime.fromisoformat(data["updated"])
    data["tags"] = tuple(data["tags"])
    data["syndicate"] = tuple(data["syndicate"]) if data["syndicate"] is not None else None
    data["image"] = Image(**data["image"]) if data["image"] else None
    return Post(**data)


class Entry:
    __slots__ = ("post", "problems", "render_key", "signature")

    def __init__(self, signature: str, render_key: str, post: Post | None, problems: list[Problem]) -> None:
        self.signature = signature
        self.render_key = render_key
        self.post = post
        self.problems = problems


class PostCache:
    """path → Entry; loaded whole at start, changes saved in one transaction."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, Entry] = {}
        self._dirty: dict[str, Entry | None] = {}
        self.feed_prints: dict[str, str] = {}  # "<output folder>\x1f<feed key>" → fingerprint of what was rendered
        self._dirty_prints: dict[str, str] = {}
        self.warning: str | None = None
        if path is not None:
            self._load(path)

    def _connect(self, path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS posts (path TEXT PRIMARY KEY, signature TEXT NOT NULL,"
            " render_key TEXT NOT NULL, post TEXT, problems TEXT NOT NULL)"
        )
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("CREATE TABLE IF NOT EXISTS feeds (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL)")
        row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None or int(row[0]) != SCHEMA_VERSION:
            db.execute("DELETE FROM posts")
            db.execute("DELETE FROM feeds")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.commit()
        return db

    def _load(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            try:
                row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                if row is None or int(row[0]) != SCHEMA_VERSION:
                    return
                has_feeds = db.execute("SELECT 1 FROM sqlite_master WHERE name='feeds'").fetchone()
                if has_feeds:
                    self.feed_prints = dict(db.execute("SELECT key, fingerprint FROM feeds").fetchall())
                for p, sig, key, post, problems in db.execute("SELECT * FROM posts"):
                    self.entries[p] = Entry(
                        sig,
                        key,
                        post_from_json(post) if post else None,
                        [Problem(**x) for x in json.loads(problems)],
                    )
            finally:
                db.close()
        except (sqlite3.Error, ValueError, TypeError, KeyError) as e:
            self.entries.clear()
            self.warning = f"{path}: cache unreadable ({e}); every post is read afresh"

    def get(self, rel: str, signature: str, render_key: str) -> Entry | None:
        entry = self.entries.get(rel)
        if entry and entry.signature == signature and entry.render_key == render_key:
            return entry
        return None

    def put(self, rel: str, entry: Entry) -> None:
        self.entries[rel] = entry
        self._dirty[rel] = entry

    def put_feed_print(self, key: str, fingerprint: str) -> None:
        if self.feed_prints.get(key) != fingerprint:
            self.feed_prints[key] = fingerprint
            self._dirty_prints[key] = fingerprint

    def forget_missing(self, present: set[str]) -> None:
        for rel in [r for r in self.entries if r not in present]:
            del self.entries[rel]
            self._dirty[rel] = None

    def save(self) -> None:
        """Save changed posts and feed fingerprints; call it only after the files are written."""
        if self.path is None or not (self._dirty or self._dirty_prints):
            return
        try:
            self._save(self.path)
        except sqlite3.DatabaseError:  # a corrupt file: it is only a cache, start a new one
            try:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                self._save(self.path)
            except (sqlite3.Error, OSError) as e:
                self.warning = f"{self.path}: could not save the cache ({e}); the next build re-reads every post"
        except OSError as e:
            self.warning = f"{self.path}: could not save the cache ({e}); the next build re-reads every post"
        self._dirty.clear()
        self._dirty_prints.clear()

    def _save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect(path)
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO feeds VALUES (?, ?)", list(self._dirty_prints.items()))
                for rel, entry in self._dirty.items():
                    if entry is None:
                        db.execute("DELETE FROM posts WHERE path=?", (rel,))
                        continue
                    db.execute(
                        "INSERT OR REPLACE INTO posts VALUES (?, ?, ?, ?, ?)",
                        (
                            rel,
                            entry.signature,
                            entry.render_key,
                            post_to_json(entry.post) if entry.post else None,
                            json.dumps([asdict(p) for p in entry.problems], ensure_ascii=False),
                        ),
                    )
        finally:
            db.close()
