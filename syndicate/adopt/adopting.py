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
from .eleventy_templates import template_files
from .hugo import adopt_hugo, hugo_config_files
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
from .readers import is_post, join
from .zola import adopt_zola


def wanted_files(generator: str, evidence: str, texts: Mapping[str, str], files: Iterable[str]) -> list[str]:
    """The files to read for ``generator``, given those read so far."""
    if generator == "hugo":  # the config folder: one file per root key (params.toml…), merged
        return [evidence, *hugo_config_files(files)]
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


MAX_PAGES = 20_000  # posts and templates init looks into, at most


def wanted_pages(generator: str, evidence: str, texts: Mapping[str, str], files: Iterable[str]) -> list[str]:
    """The posts and templates to look into (read leniently: see SiteFiles.pages), given the
    config files read: a Jekyll site's Markdown files; an Eleventy site's layouts and other
    templates, and its posts when their folder's data names no layout."""
    listed = tuple(files)
    if generator == "jekyll":  # what {{ site.<key> }} the posts use
        return [f for f in listed if is_post(f) and "_posts" in f.split("/")[:-1]][:MAX_PAGES]
    if generator != "eleventy" or evidence not in texts:
        return []
    input_dir, _ = eleventy_dirs(texts[evidence], texts.get("package.json", ""))
    folder = eleventy_post_folder(input_dir, listed)
    wanted = template_files(input_dir, texts[evidence], listed, folder)
    base = join(input_dir, folder) if folder else None
    data = eleventy_data_files(input_dir, folder, listed)
    if base and not any(
        "layout" in texts.get(f, "") for f in data if f.startswith(base + "/") and f.count("/") == base.count("/") + 1
    ):
        wanted += [f for f in listed if f.startswith(base + "/") and is_post(f)]
    return wanted[:MAX_PAGES]


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
    publish_dir = d.output[0] if d.output else GENERATOR_OUTPUT.get(d.site.generator, ("",))[0]
    outputs, deploy = _outputs(d.site.generator, d.feeds_taken, d.output, d.site.built)
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
        publish_dir=publish_dir,
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
        site_values=tuple(sorted(d.site_values.items())),
        checks=tuple(dict.fromkeys(d.checks)),
        warnings=tuple(dict.fromkeys(d.warnings)),
    )


def _outputs(
    generator: str,
    named: Mapping[str, str],
    moved: tuple[str, str] | None = None,
    built: frozenset[str] = frozenset(),
) -> tuple[dict[str, Value], str]:
    """[output] and [feeds] names for an adopted site: a folder of syndicate's own, its page in
    feeds/, and feed names none of the generator's own feeds take (by default, and the ones its
    config names: ``named``, file name → where), nor any file its output folder holds now
    (``built``, when it was built here); and how they join the deploy."""
    if generator not in GENERATOR_OUTPUT:
        return {}, ""
    folder, default = GENERATOR_OUTPUT[generator]
    folder, whence = (moved[0], f" ({moved[1]})") if moved else (folder, "")
    taken = default | set(named) | built
    name = NAMES[generator]
    pages = next((p for p in ("feeds", "syndicate-feeds", "syndicate") if f"{p}/index.html" not in built), "syndicate")
    out: dict[str, Value] = {
        "output_dir": Value(".syndicate/public", f"syndicate's own folder, apart from {name}'s {folder}/{whence}"),
        "output_index": Value(f"{pages}/index.html", f"not over {name}'s home page"),
        "output_opml": Value(f"{pages}/feeds.opml", "beside that page"),
    }
    for fmt, choices in FEED_NAME_CHOICES.items():
        pick = next((c for c in choices if c not in taken), choices[-1])
        clash = sorted(taken & set(choices))
        whence = "; ".join(f"{named[c]} = {c!r}" for c in clash if c in named and c not in default)
        said = f"not {', '.join(clash)}: {name} writes those" + (f" ({whence})" if whence else "") if clash else ""
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
