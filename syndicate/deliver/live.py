"""Live before told: after an upload to a bucket, nothing is sent (no WebSub ping, no webhook, no
toot) until the feeds uploaded serve their new bytes at their public URLs — a hub that fetches at
once, or a reader who follows a toot, must not get the old feed from a CDN's cache.

Which objects: those the bucket shell (:mod:`syndicate.builder.bucket`) uploaded and no run has
seen live yet (kept in its state before the PUTs, so a run killed after them checks too). Before
anything is sent: ``[output] purge_command`` is run with their public URLs on stdin, then (when
:func:`syndicate.core.uploads.live_check` says so) each feed's public URL is fetched, through the
same guarded session as a post's images, until its ETag or its bytes are the ones uploaded; with
``[output] verify_page``, the page of each post about to be sent too, until it answers 200 (its
URL also goes to the purge command). A purge that fails, or a URL not live when ``verify_timeout``
has passed, stops the run with one line (BucketError, exit 3) and nothing sent: the deliveries stay
in the ledger for the next run, which purges and checks again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from ..builder.bucket import settle, unverified
from ..core.feeds import is_feed_file, output_url
from ..core.model import Settings
from ..core.uploads import Bucket, live_check
from ..errors import BucketError, FetchRefused
from .fetch import fetch_public, public_session

MAX_WAIT = 30.0  # seconds between two checks, at most
MAX_FEED_BYTES = 64 * 1024 * 1024  # a feed larger than this is not read (the check fails with its reason)
REQUEST_TIMEOUT = 30.0  # seconds one GET may take


def make_live(
    settings: Settings,
    staging: Path,
    bucket: Bucket,
    pages: Sequence[str] = (),
    cwd: Path | None = None,
    echo: Callable[[str], None] = lambda line: None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Purge, then wait until the feeds uploaded are live, and with ``[output] verify_page`` the
    ``pages`` (the URLs of the posts about to be sent) too (see the module's docstring). Raises
    BucketError with one line when they are not; returns at once when nothing waits."""
    waiting = unverified(staging)
    out = settings.output
    checked = sorted(set(pages)) if out.verify_page else []
    if not waiting and not checked:
        return
    if out.purge_command:
        urls = {output_url(settings, rel) for rel in waiting} | set(checked)
        purge(list(out.purge_command), sorted(urls), out.purge_timeout, cwd)
    probes = {url: _Probe(None, None) for url in checked}
    if live_check(settings, bucket)[0]:
        for rel, md5 in waiting.items():
            if is_feed_file(settings, rel):
                probes[output_url(settings, rel)] = _Probe(md5, staging / rel)
    if probes:
        started = time.monotonic()
        _wait(settings, probes, sleep)
        took = time.monotonic() - started
        feeds = sum(1 for p in probes.values() if p.md5 is not None)
        what = ", ".join(x for x in (_count(feeds, "feed"), _count(len(checked), "post page")) if x)
        echo(f"live    {what} serve their new bytes ({took:.1f} s)")
    settle(staging, waiting)


@dataclass(frozen=True)
class _Probe:
    """What a URL must serve: the object uploaded (its MD5, and the file it was made from), or
    (a post's page, not syndicate's) any 200."""

    md5: str | None
    local: Path | None


def stoppable(should_stop: Callable[[], bool]) -> Callable[[float], None]:
    """The check's wait between two rounds, cut short (BucketError, nothing sent) when the process
    is asked to stop: a daemon's SIGTERM must not wait out ``verify_timeout``. The deliveries stay in
    the ledger and the objects on the list of those not seen live, so the next run checks again."""

    def sleep(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if should_stop():
                raise BucketError(
                    "stopped while waiting for the feeds to be live; nothing was sent, the next run checks again"
                )
            time.sleep(min(left, 0.1))

    return sleep


def _count(n: int, noun: str) -> str:
    return "" if n == 0 else f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def purge(argv: list[str], urls: list[str], timeout: float, cwd: Path | None = None) -> None:
    """Run the purge command (no shell) in ``cwd`` (the site's folder), the URLs on its stdin one per
    line, within ``timeout`` seconds (then its process group is killed). Its output is not shown:
    it may hold secrets."""
    shown = os.path.basename(argv[0])
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=cwd,
        )
    except OSError as e:
        raise BucketError(
            f"[output] purge_command {shown!r} cannot be run ({e.strerror or type(e).__name__}); nothing was"
            " sent, the next run purges again"
        ) from None
    try:
        proc.communicate("".join(f"{u}\n" for u in urls).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise BucketError(
            f"[output] purge_command {shown!r} took more than {timeout:g} s (purge_timeout) and was stopped;"
            " nothing was sent, the next run purges again"
        ) from None
    if proc.returncode != 0:
        raise BucketError(
            f"[output] purge_command {shown!r} failed (exit status {proc.returncode}; its output is not shown,"
            " run it by hand to see why); nothing was sent, the next run purges again"
        )


def _wait(settings: Settings, probes: dict[str, _Probe], sleep: Callable[[float], None]) -> None:
    """Fetch each URL until it serves what it must, waiting ``verify_interval`` seconds, then twice
    as long each round (at most MAX_WAIT), ``verify_timeout`` seconds in all."""
    out = settings.output
    deadline = time.monotonic() + out.verify_timeout
    wait = out.verify_interval
    left = dict(probes)
    session = public_session(frozenset(settings.content.fetch_allow))
    why = ""
    try:
        while True:
            first = ""  # the round's first reason: the one with the most time to answer
            for url in sorted(left):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                live, reason = _is_live(session, url, left[url], min(REQUEST_TIMEOUT, remaining))
                if live:
                    del left[url]
                first = first or reason
            why = first or why
            if not left:
                return
            if time.monotonic() + wait > deadline:
                raise BucketError(
                    f"not live after {out.verify_timeout:g} s (verify_timeout): {why}"
                    f" ({len(left)} of {len(probes)} URLs); nothing was sent, the next run checks again"
                )
            sleep(wait)
            wait = min(wait * 2, MAX_WAIT)
    finally:
        session.close()


def _is_live(session: requests.Session, url: str, probe: _Probe, timeout: float) -> tuple[bool, str]:
    """Does ``url`` serve what it must? For an object: a 304 to ``If-None-Match`` or the same
    ETag says so (a CDN that passes on the bucket's ETags), else the body equals the file. A
    private address refused is final (BucketError): waiting cannot help."""
    try:
        got = fetch_public(session, url, max_bytes=MAX_FEED_BYTES, timeout=timeout, etag=probe.md5)
    except FetchRefused as e:
        text = str(e)
        if "fetch_allow" in text:
            raise BucketError(f"cannot check that the feeds are live: {text}; nothing was sent") from None
        return False, text
    if probe.md5 is None or got.status == 304 or got.etag == probe.md5:
        return True, ""
    try:
        local = probe.local.read_bytes() if probe.local is not None else None
    except OSError:
        local = None
    if local is not None and got.body == local:
        return True, ""
    return False, f"{got.where} still serves other bytes"
