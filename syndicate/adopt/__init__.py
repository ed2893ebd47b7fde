"""`syndicate init`: adopting a blog that another static site generator made.

Three questions; the first answered in syndicate/detect.py, the others here:

- *Which generator made it?* :func:`syndicate.detect.detect_generator` (its own module, below
  the config, so that `build` and `check` can ask it without this one).
- *What does its config say?* :func:`adopt` is pure: the texts of the generator's config files
  and the list of the site's files go in (a :class:`SiteFiles`), an :class:`Adopted` comes out,
  each value with the file and key it came from, and what the user must check.
- *What is written and printed?* :func:`render_config` (TOML, a comment on every key) and
  :func:`report` (one line per value, with its source).

Reading and writing are the shell's part (``shell.py``: :func:`gather`, :func:`read_text`,
:func:`list_files`, :func:`write_config`): every config file is read with
:func:`syndicate.files.read_limited` (a regular file inside the site, at most 1 MiB, never a
FIFO), and every failure — unreadable, a link out of the site, not UTF-8, not valid
YAML/TOML/JSON/Python — is one :class:`ConfigError` naming the file. Nothing is executed:
JavaScript configs are read with regular expressions, Python ones with :mod:`ast` (literal
assignments only), YAML with the safe loader and no aliases.

One module per generator (``jekyll.py``, ``hugo.py``, ``zola.py``, ``eleventy.py``, ``astro.py``,
``pelican.py``, ``plain.py``), each a function of a :class:`~.draft.Draft`; ``adopting.py`` picks
one and finishes the result; ``written.py`` turns it into TOML and the report. Data flows one
way: model → readers → draft → permalinks → generators → adopting → shell.
"""

from .adopting import adopt, wanted_files
from .model import (
    EXAMPLE_URL,
    FEED_NAME_CHOICES,
    GENERATOR_OUTPUT,
    NAMES,
    UNKNOWN_AUTHOR,
    Adopted,
    SiteFiles,
    Value,
)
from .shell import adopt_site, config_problem, gather, list_files, read_text, shown_prefix, write_config, zone_exists
from .written import render_config, report

__all__ = [
    "EXAMPLE_URL",
    "FEED_NAME_CHOICES",
    "GENERATOR_OUTPUT",
    "NAMES",
    "UNKNOWN_AUTHOR",
    "Adopted",
    "SiteFiles",
    "Value",
    "adopt",
    "adopt_site",
    "config_problem",
    "gather",
    "list_files",
    "read_text",
    "render_config",
    "report",
    "shown_prefix",
    "wanted_files",
    "write_config",
    "zone_exists",
]
