"""One JSON request to a chat service that cannot be read back (Discord, Telegram): what its failure
means, and the short waits its rate limits ask for.

A request that never left (no connection) is an ordinary failure, retried later. One that left and
got no answer (a timeout, the connection dropped) may have been carried out: an *unknown outcome*,
which the planner holds for the user's word when it was a send (core/planning.py HELD). A rate
limit of at most ``MAX_WAIT`` seconds is waited out here, and the request made again (the 429 says
it was not carried out): no failure is counted. A longer one fails the attempt with the time to
wait, and the target's other deliveries are left for a later run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
import urllib3.exceptions

from ...core.images import post_images
from ...core.model import TargetSettings
from ...errors import DeliveryFailed, Failure
from ..fetch import _causes
from .base import Payload, cannot_connect

MAX_WAIT = 10.0  # seconds of a rate limit waited out inside a run; a longer one is retried later
MAX_TRIES = 4  # requests one call makes at most (the first, then after each short rate limit)
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Answer:
    """What the service answered: the status, the headers and the JSON body (None when it sent none)."""

    status: int
    headers: Mapping[str, str]
    body: Any
    reason: str = ""


@dataclass
class ChatHTTP:
    """Sends JSON requests to one service. ``limited`` reads an answer: the seconds to wait before
    the request may be made again when it was refused for a rate limit (None: it was not), and
    ``pause`` the seconds to wait before the *next* request (a bucket used up), if any."""

    session: requests.Session
    timeout: float
    limited: Callable[[Answer], float | None]
    pause: Callable[[Answer], float | None] = lambda answer: None
    sleep: Sleep = time.sleep
    clock: Callable[[], float] = time.monotonic
    _resume_at: float = 0.0

    def call(self, method: str, url: str, payload: Any, now: datetime, where: str) -> Answer:
        """Make the request (``where``, the URL without its secret, is what messages name); wait
        out short rate limits; raise DeliveryFailed for what cannot be answered now."""
        data = None if payload is None else json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        headers = {"content-type": "application/json"} if data is not None else {}
        for _ in range(MAX_TRIES):
            self._wait(self._resume_at - self.clock(), "the service asked us to slow down")
            answer = self._send(method, url, data, headers, where)
            pause = self.pause(answer)
            if pause is not None:
                self._resume_at = self.clock() + pause
            wait = self.limited(answer)
            if wait is None:
                return answer
            self._wait(wait, f"rate limited (HTTP {answer.status}, retry after {wait:g} s)")
        raise DeliveryFailed(Failure(f"still rate limited after {MAX_TRIES} tries", retry_after=MAX_WAIT))

    def _wait(self, seconds: float, why: str) -> None:
        if seconds <= 0:
            return
        if seconds > MAX_WAIT:
            raise DeliveryFailed(Failure(why, retry_after=seconds))
        self.sleep(seconds)

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str], where: str) -> Answer:
        try:
            r = self.session.request(
                method, url, data=data, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.ConnectTimeout:
            raise DeliveryFailed(Failure(f"no connection to {where} within {self.timeout:g} s")) from None
        except requests.Timeout:
            raise DeliveryFailed(Failure(f"no answer within {self.timeout:g} s", unknown_outcome=True)) from None
        except requests.ConnectionError as e:
            if _never_left(e):
                raise DeliveryFailed(cannot_connect(url, e)) from None
            raise DeliveryFailed(
                Failure("the connection dropped before the answer came", unknown_outcome=True)
            ) from None
        except requests.RequestException as e:
            raise DeliveryFailed(Failure(f"request failed: {type(e).__name__}")) from None
        try:
            body = r.json() if r.content else None
        except ValueError:
            body = None
        return Answer(r.status_code, r.headers, body, r.reason or "")


def _never_left(e: BaseException) -> bool:
    """Did the request fail before a byte of it was sent (no connection could be made)?"""
    never = urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError | ConnectionRefusedError
    return any(isinstance(c, never) for c in _causes(e))


def first_image(target: TargetSettings, payload: Payload) -> str | None:
    """The URL of the one image a Discord embed or a Telegram photo carries (none with images = 0)."""
    post = payload.post
    if post is None or target.images == 0:
        return None
    found = post_images(post.content_html, post.url, post.image.url if post.image else None, post.image_alt, limit=1)
    return found[0].url if found else None
