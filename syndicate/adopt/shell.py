"""The shell of `syndicate init`: reading a site's config files (inside the site, at most 1 MiB,
never a FIFO) and writing config/syndicate.toml atomically, never over an existing one."""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import replace
from pathlib import Path

from ..core.bodies import decode
from ..core.model import printable
from ..detect import detect_generator, inside
from ..errors import ConfigError, ContentError
from .adopting import adopt, wanted_files, wanted_pages
from .model import MAX_CONFIG_BYTES, MAX_FILES, Adopted, SiteFiles

# Build output and dependencies never hold a generator's posts (hidden folders are skipped too).
_SKIPPED_DIRS = frozenset({"node_modules", "_site", "public", "dist", "output", "resources", "vendor", "__pycache__"})


def shown_prefix(site_dir: Path) -> str:
    """Paths in messages: relative to the site when it is the current folder, else absolute."""
    return "" if site_dir.resolve() == Path.cwd().resolve() else f"{site_dir.resolve()}/"


def read_text(site_dir: Path, rel: str, prefix: str = "") -> str | None:
    """The text of a config file of the site (None when there is none). A link that leads out of
    the site or nowhere, anything but a regular file, over 1 MiB or not UTF-8 is a ConfigError."""
    path = site_dir / rel
    shown = printable(prefix + rel)
    if not os.path.lexists(path):
        return None
    real = os.path.realpath(path)
    if not inside(real, os.path.realpath(site_dir)):
        raise ConfigError(f"a link to {printable(real)}, outside the site: not read", path=shown)
    if not os.path.exists(real):
        raise ConfigError("a link that leads nowhere", path=shown)
    from ..files import read_limited  # the one reader of a user's files (FIFOs, sizes)

    try:
        data = read_limited(real, MAX_CONFIG_BYTES, shown, "a generator's config file")
    except ContentError as e:
        raise ConfigError(e.message, path=shown) from None
    try:
        return decode(shown, data)
    except ContentError as e:
        raise ConfigError(f"line {e.line}: {e.message}", path=shown) from None


def list_files(site_dir: Path) -> tuple[tuple[str, ...], bool]:
    """The site's files (relative posix paths, sorted) without build output, dependencies or
    hidden folders; links to folders are not followed. At most MAX_FILES (then True)."""
    out: list[str] = []
    root = str(site_dir)
    for top, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        rel = os.path.relpath(top, root)
        base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        out.extend(base + name for name in names)
        if len(out) >= MAX_FILES:
            return tuple(sorted(out[:MAX_FILES])), True
    return tuple(sorted(out)), False


def gather(site_dir: Path, found: tuple[str, str] | None) -> SiteFiles:
    """Read what :func:`adopt` needs: the evidence file, then the files it points to (an Eleventy
    data folder, Pelican's publishconf.py…), each once."""
    prefix = shown_prefix(site_dir)
    generator, evidence = found if found else ("syndicate", "")
    files, truncated = list_files(site_dir)
    texts: dict[str, str] = {}
    tried: set[str] = set()
    for _ in range(4):  # a file may name the next (a config names its data folder): a few rounds
        wanted = [rel for rel in wanted_files(generator, evidence, texts, files) if rel not in tried]
        for rel in wanted:
            tried.add(rel)
            text = read_text(site_dir, rel, prefix)
            if text is not None:
                texts[rel] = text
        if not wanted:
            break
    if evidence and evidence not in texts:
        raise ConfigError("disappeared while it was read", path=printable(prefix + evidence))
    pages: dict[str, str] = {}
    for rel in wanted_pages(generator, evidence, texts, files):
        try:
            text = read_text(site_dir, rel, prefix)
        except ConfigError:
            continue  # a post or template init cannot read: the build says why, init looks past it
        if text is not None:
            pages[rel] = text
    name = site_dir.resolve().name or "my site"
    return SiteFiles(generator, evidence, texts, files, name, prefix, truncated, pages=pages)


def adopt_site(site_dir: Path) -> Adopted:
    """The whole of it for one site folder: detect, read, adopt; then, when the generator's output
    folder is there (built here), adopt again knowing the names of the files in it, so that
    syndicate's feeds take none (a theme's own feed.xml, a custom output format)."""
    site = gather(site_dir, detect_generator(site_dir))
    adopted = adopt(site, zone_exists)
    built = built_names(site_dir, adopted.publish_dir) if adopted.publish_dir else frozenset()
    return adopt(replace(site, built=built), zone_exists) if built else adopted


def built_names(site_dir: Path, folder: str, most: int = MAX_FILES) -> frozenset[str]:
    """The file names (and paths, for the first two levels) in a generator's output folder inside
    the site; links are not followed, and at most ``most`` files are looked at. Files a
    ``syndicate build --out`` wrote there (named in its record, their bytes unchanged) are not the
    generator's: init run again after a build keeps the names it chose."""
    from ..builder.owned import RECORD, Ownership

    root = site_dir / folder
    if not root.is_dir() or root.is_symlink() or not inside(os.path.realpath(root), os.path.realpath(site_dir)):
        return frozenset()
    ownership = Ownership(root)

    def ours(rel: str) -> bool:
        if rel == RECORD:
            return True
        if rel not in ownership.digests:
            return False
        path = root / rel
        with contextlib.suppress(OSError):
            st = path.lstat()
            return stat.S_ISREG(st.st_mode) and ownership.owns(rel, path.read_bytes(), st)
        return False

    names: set[str] = set()
    seen = 0
    for top, dirs, files in os.walk(root, followlinks=False):
        rel = os.path.relpath(top, root).replace(os.sep, "/")
        depth = 0 if rel == "." else rel.count("/") + 1
        for name in files:
            if ours(name if depth == 0 else f"{rel}/{name}"):
                continue
            names.add(name)
            if depth < 2:
                names.add(name if depth == 0 else f"{rel}/{name}")
        seen += len(files)
        if seen >= most:
            break
        dirs.sort()
    return frozenset(names)


def zone_exists(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def config_problem(text: str) -> str | None:
    """What `syndicate check` would say of the config written (None: nothing): the one gate for
    config (config.parse_settings), so that init never writes what no other command reads."""
    from ..config import parse_settings

    try:
        parse_settings(text)
    except ConfigError as e:
        return e.message
    return None


def write_config(site_dir: Path, text: str, *, force: bool) -> None:
    """Write ``config/syndicate.toml`` atomically (temp file + rename). Without ``force`` an
    existing file is never replaced, not even one that appeared a moment ago."""
    from ..config import CONFIG_PATH

    folder, target = site_dir / CONFIG_PATH.parent, site_dir / CONFIG_PATH
    shown = printable(shown_prefix(site_dir) + CONFIG_PATH.as_posix())
    if folder.is_symlink() and not inside(os.path.realpath(folder), os.path.realpath(site_dir)):
        raise ConfigError(f"{CONFIG_PATH.parent}/ is a link out of the site: not written", path=shown)
    if os.path.lexists(target) and not force:
        raise ConfigError(f"{shown} exists; pass --force to replace it")
    if target.is_dir() and not target.is_symlink():
        raise ConfigError("is a folder; remove it first", path=shown)
    if os.path.lexists(folder) and not folder.is_dir():
        raise ConfigError(f"{CONFIG_PATH.parent} is a file, not a folder; move it away first", path=shown)
    temp = folder / f".syndicate.toml.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(temp, "x", encoding="utf-8", newline="\n") as out:
            out.write(text)
        if force:
            os.replace(temp, target)
        else:
            os.link(temp, target)  # refuses a file that appeared since the check: never clobbered
    except FileExistsError:
        raise ConfigError(f"{shown} exists; pass --force to replace it") from None
    except OSError as e:
        raise ConfigError(f"cannot write it: {e.strerror}", path=shown) from None
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)
