"""`init`: adopt a blog that another static site generator made (syndicate/adopt/)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..errors import ConfigError
from .common import EXIT_OK, main, one_line_errors, site_option


@main.command("init")
@site_option
@click.option("--force", is_flag=True, help="Replace an existing config/syndicate.toml.")
def init_cmd(site: Path, force: bool) -> None:
    """Write config/syndicate.toml for a blog made by another generator.

    \b
    Finds which generator made the site (Jekyll, Hugo, Zola, Eleventy, Astro or
    Pelican) by its config file, reads that config without running anything,
    writes config/syndicate.toml with a comment on every key saying where its
    value came from, and prints what it found and what to check. A folder of
    no known generator gets a config for a plain syndicate site. An existing
    config is replaced only with --force.
    """
    from ..adopt import adopt_site, config_problem, render_config, report, shown_prefix, write_config
    from ..config import CONFIG_PATH

    with one_line_errors():
        if not site.is_dir():
            raise ConfigError(f"no site folder {site}; pass --site DIR with the blog's folder")
        written = shown_prefix(site) + CONFIG_PATH.as_posix()
        if os.path.lexists(site / CONFIG_PATH) and not force:  # before reading anything
            raise ConfigError(f"{written} exists; pass --force to replace it")
        adopted = adopt_site(site)
        text = render_config(adopted)
        write_config(site, text, force=force)
    for line in report(adopted, written):
        click.echo(line)
    problem = config_problem(text)
    if problem:
        click.echo(f"check: `syndicate check` will say: {problem}")
    for warning in adopted.warnings:
        click.echo(f"warning: {warning}", err=True)
    where = "" if site.resolve() == Path.cwd().resolve() else f" --site {site}"
    click.echo(f"next: syndicate{where} check  then  syndicate{where} build")
    sys.exit(EXIT_OK)
