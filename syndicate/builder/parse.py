"""One post file → its post (read within the size limit, parsed), and one post's HTML made within
the render deadline: what a build does for each post, in a worker or here (builder/edit.py needs
nothing more)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from ..core.bodies import MAX_FILE_BYTES
from ..core.model import Post, Problem, Settings
from ..core.posts import FileTimes, parse_post
from ..deadline import DeadlinePassed, call_with_deadline
from ..errors import ContentError, FileUnreadable
from ..files import read_limited


class Parsed(NamedTuple):
    """One file, read and parsed: the post (None if rejected), its problems, and whether a later
    build would find the same (``lasting``: cache it) or the read may work next time."""

    post: Post | None
    problems: list[Problem]
    lasting: bool = True  # what a later build of the same file and settings would find (cache it)
    row: str | None = None  # the post as the cache keeps it, made by the worker (see CachedPost)


Job = tuple[str, str, Settings, bool]  # source, path, settings, whether the cache will keep the post


def parse_file(job: Job) -> Parsed:
    """Read and parse one file (in a worker process, or inline)."""
    source, path, settings, _ = job
    try:
        data = read_limited(path, MAX_FILE_BYTES, source)
    except FileUnreadable as e:
        return Parsed(None, [Problem(source, e.message)], lasting=False)
    except ContentError as e:
        return Parsed(None, [Problem(source, e.message)])
    result = parse_post(source, data, settings, _times(path) if settings.content.generator == "eleventy" else None)
    return Parsed(result.post, result.problems)


def parse_one(source: str, path: str, settings: Settings) -> Parsed:
    """One post file read and parsed here (builder/edit.py), as a build reads it."""
    return parse_file((source, path, settings, True))


def _times(path: str) -> FileTimes | None:
    """A file's modified and created times (Eleventy's ``date: Last Modified`` / ``Created``);
    where the system keeps no birth time, the earlier of its change and modify times."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    born = getattr(st, "st_birthtime", None) or min(st.st_ctime, st.st_mtime)
    return FileTimes(datetime.fromtimestamp(st.st_mtime, UTC), datetime.fromtimestamp(born, UTC))


def make_html(job: tuple[Callable[[], tuple[str, str]], float]) -> tuple[str, str] | str:
    """One post's HTML and summary, or why it could not be made: no post may hold a build or the
    daemon longer than ``[content] render_timeout`` (Python-Markdown is quadratic on some inputs)."""
    recipe, seconds = job
    try:
        return call_with_deadline(recipe, seconds)
    except DeadlinePassed:
        return (
            f"rendering took longer than {seconds:g} s (deeply nested brackets or tags?); simplify the post"
            " or raise [content] render_timeout"
        )
    except RecursionError:
        return "the Markdown is nested too deeply to render; simplify the post"
