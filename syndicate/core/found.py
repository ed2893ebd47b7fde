"""What a post's template code held (:mod:`syndicate.core.templating` finds it), and which
generators have any: what the parser needs without loading the template engine, whose patterns
cost a post of syndicate's own dialect (which has none) ~7 ms of every build that parses one. Pure."""

from __future__ import annotations

from dataclasses import dataclass

# Which dialects have template code in their bodies (syndicate's own and Astro's have none).
TEMPLATED = frozenset({"hugo", "jekyll", "eleventy", "zola", "pelican"})


@dataclass(frozen=True, slots=True)
class Found:
    """What :func:`~syndicate.core.templating.expand` found in a body: the link targets it names
    (keys for its ``resolve``), the template code it removed (by name, first use first) and the
    targets it could not link."""

    refs: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    def warning(self) -> str | None:
        """The one line a post with removed template code gets, or None."""
        if not self.removed:
            return None
        names = ", ".join(self.removed[:8]) + (f" and {len(self.removed) - 8} more" if len(self.removed) > 8 else "")
        return f"removed template code a feed cannot run ({names}); its inner text is kept"
