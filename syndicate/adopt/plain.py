"""A folder with no generator's config: a plain syndicate site."""

from __future__ import annotations

from .draft import Draft


def adopt_plain(d: Draft) -> None:
    d.checks.append(
        "no generator's config found (Jekyll, Hugo, Zola, Eleventy, Astro, Pelican): this is a config for a plain"
        " syndicate site, with its posts in content/"
    )
    d.set("dir", "content", "syndicate's default")
    d.default("sections", (), "syndicate's default: every folder")
