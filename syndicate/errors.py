"""Every error syndicate raises on purpose, in one tree.

    SyndicateError                 base; ``str(e)`` is one line a user can act on
    ├── ConfigError                config/syndicate.toml is missing, unreadable or wrong       exit 2
    ├── ContentError               one post cannot be published (knows path and line)        exit 1
    │   └── FileUnreadable         the OS would not give its bytes now (permissions, I/O):
    │                              reported, never remembered, so the next build reads it again
    ├── UnsafePathError            a write would land outside the output folder              exit 3
    ├── OutputError                the output folder cannot be written                       exit 3
    │   └── BucketError            the bucket cannot be written, or another writer changed it
    │                              under us (HTTP 412): the upload stops there               exit 3
    ├── StoreError                 the delivery ledger cannot be read or written             exit 6
    │   ├── LockedError            another syndicate process is delivering for this site     exit 5
    │   └── LedgerLostError        the ledger is missing, empty, another or older than the
    │                              site's last publish: delivering would skip or repeat posts exit 6
    ├── DeliveryFailed             one attempt at one target failed; carries the Failure that
    │                              says what to do next (retry when, dead, disable the target)
    ├── KeyTaken                   the remote key holds an object this delivery did not make
    ├── FitError                   a social post cannot fit even in its shortest form
    ├── FetchRefused               a fetch syndicate will not make (a private address) or that
    │                              failed (too big, too slow, not an image)
    └── DeadlinePassed             a post took longer than ``[content] render_timeout``

Who sees what: a ``ContentError`` rejects one post and never stops a build (exit 1 at the end
when any post was rejected). ``DeliveryFailed``, ``KeyTaken``, ``FitError``, ``FetchRefused``
and ``DeadlinePassed`` never leave the shell: publish records the first three in the ledger,
a refused thumbnail is a warning and the post goes without it, a post past its deadline is a
rejected post. The others stop the command with the exit code on their line, mapped in one
place (:func:`syndicate.cli.common.exit_code`). Library errors are chained with ``raise … from e``;
no traceback is printed for any of them (``SYNDICATE_TRACE=1`` prints timings, not errors).
"""

from __future__ import annotations

from dataclasses import dataclass


class SyndicateError(Exception):
    """Base of every error syndicate raises on purpose."""


class ConfigError(SyndicateError):
    """The configuration cannot be used as it is."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class ContentError(SyndicateError):
    """One post cannot be published; the build goes on without it."""

    def __init__(self, path: str, message: str, *, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


class FileUnreadable(ContentError):
    """The file could not be read this time (permissions, I/O); unlike a broken post, not cached."""


class UnsafePathError(SyndicateError):
    """A name built from user input would escape the output folder."""


class OutputError(SyndicateError):
    """The output folder cannot be written."""


class BucketError(OutputError):
    """The upload to a bucket stopped: no credentials, the service refused or failed, or another
    writer changed an object since it was listed (a conditional PUT answered 412)."""


class StoreError(SyndicateError):
    """The ledger cannot be read or written (the only error a store raises)."""


class LockedError(StoreError):
    """Another syndicate process is delivering for this site."""


class LedgerLostError(StoreError):
    """The ledger is not the one this site published with: delivering now would skip or repeat posts."""


@dataclass(frozen=True)
class Failure:
    """Why an attempt did not end in ``sent``."""

    message: str
    permanent: bool = False
    retry_after: float | None = None  # seconds, from Retry-After / X-RateLimit-Reset
    disable_target: bool = False  # 410 Gone from a webhook
    unknown_outcome: bool = False  # no answer: the request may still be carried out (a timeout)
    # A 429: tried again after its wait, never given up for it (both); ``throttled`` also makes every
    # delivery to the target's server wait (deliver/throttles.py), where the target names one server.
    throttled: bool = False  # rate limited (HTTP 429): its server asks every sender to wait, not only this one
    rate_limited: bool = False  # the target said "not now" (429) for this request (a webmention endpoint)


class DeliveryFailed(SyndicateError):
    """One attempt failed; ``failure`` says whether and when to try again."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class KeyTaken(SyndicateError):
    """The remote key of this delivery holds an object that this delivery did not make: nothing of
    ours was created under it, so the delivery needs a new key (the ledger gives one)."""


class FitError(SyndicateError):
    """Even the shortest form of a social post (the template and the link) is over the limit."""


class FetchRefused(SyndicateError):
    """A fetch that syndicate will not make or could not complete; ``str()`` is one user-actionable line."""


class DeadlinePassed(SyndicateError):
    """``fn`` ran longer than its deadline: it was stopped, or its result dropped."""
