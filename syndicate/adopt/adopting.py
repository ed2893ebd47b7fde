"""Adopting (pure): which files to read, then config texts in and :class:`Adopted` out, with
stand-ins for what is missing and the output names that collide with nothing the generator writes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from ..core.model import printable
from ..errors import ConfigError
from .astro import ASTRO_CONSTS, ASTRO_CONTENT, adopt_astro
from .draft import Draft
from .eleventy import adopt_eleventy, eleventy_data_files, eleventy_dirs, eleventy_post_folder
from .hugo import adopt_hugo
from .jekyll import adopt_jekyll
from .model import (
    EXAMPLE_URL,
    FEED_NAME_CHOICES,
    GENERATOR_OUTPUT,
    MAX_FILES,
    NAMES,
    UNKNOWN_AUTHOR,
    Adopted,
    SiteFiles,
    Value,
)
from .pelican import adopt_pelican
from .plain import adopt_plain
from .readers import join
from .zola import adopt_zola


def wanted_files(generator: str, evidence: str, texts: Mapping[str, str], files: Iterable[str]) -> list[str]:
    """The files to read for ``generator``, given those read so far."""
    if generator == "hugo":  # the config folder: one file per root key (params.toml…), merged
        names = ("hugo", "config", "params", "permalinks", "taxonomies")
        return [evidence, *(f"config/_default/{n}.{e}" for n in names for e in ("toml", "yaml", "json"))]
    if generator == "eleventy":
        wanted = [evidence, "package.json"]
        if evidence in texts:
            input_dir, data_dir = eleventy_dirs(texts[evidence], texts.get("package.json", ""))
            wanted += [join(data_dir, n) for n in ("metadata.json", "site.json", "metadata.js", "metadata.mjs")]
            listed = tuple(files)
            wanted += eleventy_data_files(input_dir, eleventy_post_folder(input_dir, listed), listed)
        return wanted
    if generator == "astro":
        return [evidence, *ASTRO_CONSTS, *ASTRO_CONTENT]
    if generator == "pelican":
        return [evidence, "publishconf.py"]
    return [evidence] if evidence else []


def adopt(site: SiteFiles, zone_ok: Callable[[str], bool] = lambda name: True) -> Adopted:
    """The syndicate settings that follow from a site's config files (pure; ``zone_ok`` says
    whether a time zone name exists). Raises ConfigError, naming the file, for a config that does
    not parse."""
    draft = Draft(site)
    try:
        _ADOPTERS[site.generator](draft)
    except RecursionError:
        raise ConfigError("nested too deeply to be read", path=printable(site.shown_prefix + site.evidence)) from None
    draft.clean()  # a control character copied from a generator's config is removed, with a warning
    if site.truncated:
        draft.checks.append(f"the site holds over {MAX_FILES} files: sections were chosen from the first {MAX_FILES}")
    return _finish(draft, zone_ok)


_ADOPTERS: dict[str, Callable[[Draft], None]] = {
    "syndicate": adopt_plain,
    "jekyll": adopt_jekyll,
    "hugo": adopt_hugo,
    "zola": adopt_zola,
    "eleventy": adopt_eleventy,
    "astro": adopt_astro,
    "pelican": adopt_pelican,
}


def _finish(d: Draft, zone_ok: Callable[[str], bool]) -> Adopted:
    v = d.values

    def none(what: str) -> str:
        return f"{d.ev} names no {what}" if d.ev else f"no {what} found (no generator's config)"

    if "title" not in v:
        d.stand_in(
            "title",
            UNKNOWN_AUTHOR,
            f"{none('title')}: write the site's title",
            f"[site] title: {none('title')}; replace {UNKNOWN_AUTHOR!r} with the site's title",
        )
    url = v.get("url")
    problem = None if url is None or url.check else _url_problem(str(url.value))
    if url is None or problem:
        said = none("site URL") if url is None else f"{url.source} is {str(url.value)!r}, {problem}"
        d.stand_in(
            "url", EXAMPLE_URL, f"{said}: write the site's address", f"[site] url: {said}; write the site's address"
        )
    elif not url.check:
        v["url"] = Value(str(url.value).rstrip("/") + "/", url.source)
    if "author" not in v:
        d.stand_in(
            "author",
            UNKNOWN_AUTHOR,
            f"{none('author')}: write the name the feeds show",
            f"[site] author: {none('author')}; replace {UNKNOWN_AUTHOR!r} with the name the feeds should show",
        )
    zone = v.setdefault("timezone", Value("UTC", "syndicate's default"))
    if not zone_ok(str(zone.value)):
        said = f"{zone.source} is {str(zone.value)!r}, not a time zone name like 'Europe/Berlin'"
        d.stand_in("timezone", "UTC", said, f"[site] timezone: {said}; wrote UTC")
    v.setdefault("language", Value("en", "syndicate's default"))
    email = v.get("email")
    if email is not None and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", str(email.value)):
        d.warnings.append(f"{email.source}: {str(email.value)!r} is not an email address; left out")
        del v["email"]
    v.setdefault("dir", Value("content", "syndicate's default"))
    v.setdefault("taxonomies", Value(("tags",), "syndicate's default"))
    v.setdefault("sections", Value((), "every folder"))
    v.setdefault("permalink", Value("/{slug}/", "syndicate's default"))
    outputs, deploy = _outputs(d.site.generator)
    return Adopted(
        d.site.generator,
        d.ev,
        output_dir=outputs.get("output_dir"),
        output_index=outputs.get("output_index"),
        output_opml=outputs.get("output_opml"),
        feeds_rss=outputs.get("feeds_rss"),
        feeds_atom=outputs.get("feeds_atom"),
        feeds_json=outputs.get("feeds_json"),
        deploy=deploy,
        title=v["title"],
        url=v["url"],
        author=v["author"],
        timezone=v["timezone"],
        language=v["language"],
        permalink=v["permalink"],
        dir=v["dir"],
        taxonomies=v["taxonomies"],
        sections=v["sections"],
        description=v.get("description"),
        email=v.get("email"),
        slug_source=v.get("slug_source"),
        filename_metadata=v.get("filename_metadata"),
        permalinks=tuple(sorted(d.permalinks.items())),
        checks=tuple(dict.fromkeys(d.checks)),
        warnings=tuple(dict.fromkeys(d.warnings)),
    )


def _outputs(generator: str) -> tuple[dict[str, Value], str]:
    """[output] and [feeds] names for an adopted site: a folder of syndicate's own, its page in
    feeds/, and feed names none of the generator's own feeds take; and how they join the deploy."""
    if generator not in GENERATOR_OUTPUT:
        return {}, ""
    folder, taken = GENERATOR_OUTPUT[generator]
    name = NAMES[generator]
    out: dict[str, Value] = {
        "output_dir": Value(".syndicate/public", f"syndicate's own folder, apart from {name}'s {folder}/"),
        "output_index": Value("feeds/index.html", f"not over {name}'s home page"),
        "output_opml": Value("feeds/feeds.opml", "beside that page"),
    }
    for fmt, choices in FEED_NAME_CHOICES.items():
        pick = next(c for c in choices if c not in taken)
        said = f"not {', '.join(sorted(taken & set(choices)))}: {name} writes those" if taken & set(choices) else ""
        out[f"feeds_{fmt}"] = Value(pick, said or f"no {name} feed has this name")
    deploy = (
        f"to deploy the feeds with the site, build it with {name}, then `syndicate build --out {folder}`:"
        f" it adds syndicate's own files to {folder}/ and never writes over one of {name}'s"
    )
    return out, deploy


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an absolute http(s) URL"
    if any(c.isspace() or not c.isprintable() for c in url) or parts.query or parts.fragment:
        return "not a plain site address"
    return None
