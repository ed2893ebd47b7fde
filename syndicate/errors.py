"""Every error syndicate raises on purpose.

    SyndicateError                 base; ``str(e)`` is one line a user can act on
    ├── ConfigError                config/syndicate.toml is missing, unreadable or wrong
    ├── ContentError               one post cannot be published (knows path and line)
    ├── UnsafePathError            a write would land outside the output folder
    ├── OutputError                the output folder cannot be written
    └── LedgerLostError            the delivery ledger is missing, empty, another or older than
                                   the site's last publish: delivering would skip or repeat posts

A ``ContentError`` rejects one post and never stops a build; the others stop the command
with exit code 2 (config), 3 (output) or 6 (ledger). Library errors are chained with
``raise … from e``, so a traceback, should one ever be printed, shows where they came from.
"""

from __future__ import annotations


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


class UnsafePathError(SyndicateError):
    """A name built from user input would escape the output folder."""


class OutputError(SyndicateError):
    """The output folder cannot be written."""


class LedgerLostError(SyndicateError):
    """The ledger is not the one this site published with: delivering now would skip or repeat posts."""
