"""Which static site generator made a folder: a few stats in the order of evidence, cheap enough
for `build` and `check` to ask when a site has no ``config/syndicate.toml``, and the first fact
`syndicate init` needs. Only an ambiguous ``config.toml`` (Hugo's old name, and Zola's) is
peeked at, for Hugo's ``baseURL`` or Zola's ``base_url``. Never raises, never reads a FIFO."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

# The files that say which generator made a site, in the order of evidence.
JEKYLL_FILES = ("_config.yml", "_config.yaml")
HUGO_FILES = ("hugo.toml", "hugo.yaml", "hugo.json")  # Hugo's order of precedence
AMBIGUOUS_FILES = ("config.toml", "config.yaml", "config.json")  # Hugo's old name; Zola's too (toml)
HUGO_DIR_FILES = tuple(f"config/_default/{n}.{e}" for n in ("hugo", "config") for e in ("toml", "yaml", "json"))
ZOLA_FILES = ("zola.toml",)
ELEVENTY_FILES = (".eleventy.js", "eleventy.config.js", "eleventy.config.mjs", "eleventy.config.cjs")
ASTRO_FILES = ("astro.config.mjs", "astro.config.js", "astro.config.ts", "astro.config.mts")
PELICAN_FILES = ("pelicanconf.py",)
_HUGO_KEY = re.compile(r"(?im)^[ \t]*[\"']?baseurl[\"']?[ \t]*[=:]")
_HUGO_JSON_KEY = re.compile(r"(?i)\"baseurl\"\s*:")
_ZOLA_KEY = re.compile(r"(?m)^[ \t]*base_url[ \t]*=")
_PEEK_BYTES = 256 * 1024


def detect_generator(site_dir: Path) -> tuple[str, str] | None:
    """(generator, the file that says so) for a site made by a known generator, else None.

    A few stats in the order of evidence; only an ambiguous ``config.toml|yaml|json`` (Hugo's old
    name, Zola's too) is peeked at for Hugo's ``baseURL`` or Zola's ``base_url``. Never raises."""
    try:
        peeked = {n: _config_kind(n, _peek(site_dir, n)) for n in AMBIGUOUS_FILES if os.path.lexists(site_dir / n)}
        order: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("jekyll", JEKYLL_FILES),
            ("hugo", HUGO_FILES),
            ("hugo", tuple(n for n, kind in peeked.items() if kind == "hugo")),
            ("hugo", HUGO_DIR_FILES),
            ("zola", ZOLA_FILES),  # before config.toml, as Zola reads them
            ("zola", tuple(n for n, kind in peeked.items() if kind == "zola")),
            ("eleventy", ELEVENTY_FILES),
            ("astro", ASTRO_FILES),
            ("pelican", PELICAN_FILES),
        )
        for generator, names in order:
            for name in names:
                if os.path.lexists(site_dir / name):
                    return generator, name
    except (OSError, ValueError):  # a folder name the OS refuses (NUL, too long): nothing detected
        return None
    return None


def _config_kind(name: str, head: str) -> str | None:
    """Hugo or Zola, from the first bytes of a ``config.*`` file (None: neither's)."""
    if name.endswith(".json"):
        return "hugo" if _HUGO_JSON_KEY.search(head) else None
    if _HUGO_KEY.search(head):
        return "hugo"
    return "zola" if name.endswith(".toml") and _ZOLA_KEY.search(head) else None


def _peek(site_dir: Path, name: str) -> str:
    """The first bytes of a file inside the site, as text ("" for what cannot be read without
    risk: a link out of the site, a FIFO, a device)."""
    real = os.path.realpath(site_dir / name)
    if not inside(real, os.path.realpath(site_dir)):
        return ""
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return ""
    try:
        return os.read(fd, _PEEK_BYTES).decode("utf-8", "replace") if stat.S_ISREG(os.fstat(fd).st_mode) else ""
    except OSError:
        return ""
    finally:
        os.close(fd)


def inside(real: str, root: str) -> bool:
    """Is the real path ``real`` the folder ``root`` or in it?"""
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def find_site(start: Path, config: Path) -> Path | None:
    """The site a command run from ``start`` (a folder inside a site: ``content/``, ``_posts/``…)
    is about, found as git finds a repository: the nearest folder, ``start`` or above, that holds
    ``config`` (config/syndicate.toml) or, failing that, a generator's config (the site to
    `init`). The search stops at a repository's top (a folder holding ``.git``) and at the root.
    None when nothing is found. Never raises."""
    try:
        here = start.resolve()
    except (OSError, RuntimeError):
        return None
    generator: Path | None = None
    for folder in (here, *here.parents):
        try:
            if (folder / config).is_file():
                return folder
            if generator is None and detect_generator(folder) is not None:
                generator = folder
            if os.path.lexists(folder / ".git"):
                break
        except OSError:
            break
    return generator
