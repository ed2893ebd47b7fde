"""What a user probably meant by a key or name syndicate does not know (a "did you mean" hint)."""

from __future__ import annotations

from collections.abc import Iterable


def close_match(word: str, options: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The option closest to ``word``, when one is close enough (difflib's ratio ≥ ``cutoff``)."""
    import difflib  # only when a mistake is found: not on every command's start (3 ms)

    found = difflib.get_close_matches(word, list(options), n=1, cutoff=cutoff)
    return found[0] if found else None
