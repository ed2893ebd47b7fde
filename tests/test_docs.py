"""The documentation site is the manual: every command, config key and exit code is in it, as the
code has it, and the README opens with the two commands."""

from __future__ import annotations

import re
import tomllib
from dataclasses import MISSING, fields
from typing import Any

import click
import pytest

from syndicate import config as config_module
from syndicate.cli.all_commands import main
from syndicate.config import parse_settings
from syndicate.core.model import (
    ContentSettings,
    DeliverySettings,
    FeedSettings,
    OutputSettings,
    Settings,
    SiteSettings,
    TargetSettings,
)
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
DOCS = REPO / "docs"
CONFIG_PAGE = (DOCS / "reference" / "config.md").read_text(encoding="utf-8")
EVERY_PAGE = README + "".join(
    p.read_text(encoding="utf-8") for p in sorted(DOCS.rglob("*.md")) if "examples" not in p.parts
)
SECTIONS: dict[str, type] = {
    "site": SiteSettings,
    "feeds": FeedSettings,
    "content": ContentSettings,
    "output": OutputSettings,
    "delivery": DeliverySettings,
}
MINIMAL = '[site]\ntitle = "T"\nurl = "https://example.com/"\nauthor = "A"\n'


def table(section: str) -> dict[str, list[str]]:
    """The rows of the config page's table under ``## `[section]` ``, by key."""
    heading = f"## `[{section}]`\n" if section != "targets" else "## `[[targets]]`\n"
    assert heading in CONFIG_PAGE, f"docs/reference/config.md has no section {heading.strip()}"
    body = CONFIG_PAGE.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("| `")]
    out = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        out[cells[0].strip("`")] = cells[1:]
    return out


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def required_target_keys() -> set[str]:
    return {"name", "kind"} | {key for required, _ in config_module._KIND_KEYS.values() for key in required}


@pytest.mark.parametrize("section", [*SECTIONS, "websub", "state", "targets"])
def test_the_config_page_lists_every_key_the_code_reads_and_no_other(section: str) -> None:
    documented = set(table(section))
    if section in SECTIONS:
        known = {f.name for f in fields(SECTIONS[section])}
    elif section == "websub":
        known = {"hubs"}
    elif section == "state":
        known = {"path"}
    else:
        known = {f.name for f in fields(TargetSettings)}
    assert documented - known == set(), f"documented in [{section}] but not a key: {sorted(documented - known)}"
    assert known - documented == set(), (
        f"a key of [{section}] the config page does not document: {sorted(known - documented)}"
    )


@pytest.mark.parametrize("section", [*SECTIONS, "targets"])
def test_each_default_on_the_config_page_is_the_codes(section: str) -> None:
    cls = SECTIONS.get(section, TargetSettings)
    rows = table(section)
    for f in fields(cls):
        default_cell = rows[f.name][1 if section == "targets" else 0]
        required = f.default is MISSING if section != "targets" else f.name in required_target_keys()
        assert (default_cell == "required") == required, f"[{section}] {f.name}: {default_cell!r}"
        if f.default not in (MISSING, None, "", (), 0) or isinstance(f.default, bool):
            want = toml_value(f.default)
            assert default_cell.startswith(f"`{want}`"), (
                f"[{section}] {f.name}: the code's default is {want}, the page says {default_cell}"
            )
    other = Settings(site=SiteSettings(title="T", url="https://example.com/", author="A"))
    assert table("state")["path"][0] == f'`"{other.state_path}"`'
    assert table("websub")["hubs"][0] == "`[]`"


def examples(section: str) -> list[tuple[str, str]]:
    column = 2 if section == "targets" else 1
    out = []
    for key, cells in table(section).items():
        example = cells[column]
        assert example.startswith(f"`{key} = ") and example.endswith("`"), f"[{section}] {key}: no example line"
        out.append((key, example[1:-1]))
    return out


@pytest.mark.parametrize(
    ("section", "key", "line"),
    [(s, k, line) for s in [*SECTIONS, "websub", "state"] for k, line in examples(s)],
    ids=lambda v: str(v)[:30],
)
def test_each_example_on_the_config_page_is_accepted_as_written(section: str, key: str, line: str) -> None:
    """Each example parses, and the settings then hold the value the example wrote."""
    if section == "site":
        text = "".join(f"{row}\n" for row in MINIMAL.splitlines() if not row.startswith(f"{key} =")) + f"{line}\n"
    else:
        text = MINIMAL + f"\n[{section}]\n{line}\n"
    settings = parse_settings(text, "config/syndicate.toml")
    got = {"websub": settings.hubs, "state": settings.state_path}.get(section)
    if got is None:
        got = getattr(getattr(settings, section), key)
    assert plain(got) == plain(tomllib.loads(line)[key]), (line, got)


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, plain(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return value.rstrip("/")
    return value


@pytest.mark.parametrize(("key", "line"), examples("targets"), ids=lambda v: str(v)[:30])
def test_each_target_example_is_accepted_by_a_kind_that_takes_it(key: str, line: str) -> None:
    every = "webhook, mastodon, bluesky, discord, telegram, slack, webmention"
    kinds = table("targets")[key][0].replace("all", every).split(", ")
    base = {
        "webhook": {"url": "https://hooks.example.net/", "secret_env": "HOOK_SECRET"},
        "mastodon": {"instance": "https://mastodon.example", "token_env": "MASTODON_TOKEN"},
        "bluesky": {"handle": "ada.bsky.social", "password_env": "BSKY_PASSWORD"},
        "discord": {"url_env": "DISCORD_WEBHOOK_URL"},
        "telegram": {"chat": "@myblog", "token_env": "TELEGRAM_BOT_TOKEN"},
        # an incoming webhook (url_env) is the other way to reach Slack: no channel, no token
        "slack": {} if key == "url_env" else {"channel": "C0123456789", "token_env": "SLACK_BOT_TOKEN"},
        "webmention": {},
    }
    for kind in kinds:
        keys = {"name": "t", "kind": kind, **base[kind]}
        keys.pop(key, None)
        lines = "".join(f'{k} = "{v}"\n' for k, v in keys.items() if k != "kind" or key != "kind")
        if key == "kind":
            keys = {"name": "t", **base[tomllib.loads(line)["kind"]]}
            lines = "".join(f'{k} = "{v}"\n' for k, v in keys.items())
        parse_settings(MINIMAL + f"\n[[targets]]\n{lines}{line}\n", "config/syndicate.toml")


def test_every_command_and_option_says_what_it_does() -> None:
    """The commands page is made from these (mkdocs-click): an option without help is a blank row."""
    assert isinstance(main, click.Group)
    for name, command in main.commands.items():
        assert (command.help or "").strip(), f"`syndicate {name}` has no help text"
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert (param.help or "").strip(), f"`syndicate {name} {param.opts[0]}` has no help text"


def test_readme_opens_with_the_two_commands() -> None:
    blocks = README.split("```sh\n")
    assert blocks[1].startswith("python3 -m venv .venv && . .venv/bin/activate && pip install -q -e . && syndicate run")
    assert blocks[2].startswith("scripts/test")
    assert "scripts/test" in (REPO / ".ci" / "run").read_text()


def test_the_readme_is_short_and_links_into_the_site() -> None:
    assert len(README.splitlines()) < 150
    links = re.findall(r"\]\((docs/[^)#]+)", README)
    assert len(links) >= 5
    for link in links:
        assert (REPO / link).is_file(), link


def test_every_exit_code_is_documented() -> None:
    from syndicate import cli

    codes = sorted(v for k, v in vars(cli).items() if k.startswith("EXIT_"))
    assert codes == list(range(7))
    page = (DOCS / "reference" / "exit-codes.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert [int(row.split("|")[1]) for row in rows] == codes, "one row per code, in order"
    assert all(len(row.split("|")[2].strip()) > 10 for row in rows), "each says what it means"
    for code in codes:
        assert f"{code} " in (cli.__doc__ or ""), f"the module docstring documents exit {code}"


def test_the_docs_give_the_image_cap_and_thumb_alt_as_the_code_has_them() -> None:
    """It said 8 MB in one place (20 MiB in another), and that thumb_alt defaults to the title."""
    from syndicate.deliver.channels.base import MAX_IMAGE_BYTES

    assert MAX_IMAGE_BYTES == 20 * 1024 * 1024
    caps = [
        (m.group(1), m.group(2))
        for m in re.finditer(r"at most (\d+) (MB|MiB)\b(?! and 2000 px)", EVERY_PAGE)
        if "image" in EVERY_PAGE[max(0, m.start() - 200) : m.start()] and "post may be" not in m.group(0)
    ]
    assert caps and all(cap == ("20", "MiB") for cap in caps), caps
    rows = [line for line in EVERY_PAGE.splitlines() if line.startswith("| `thumb_alt`")]
    assert rows and all("the title" not in row and "none by default" in row for row in rows)


def test_every_page_is_in_the_nav() -> None:
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    for page in DOCS.rglob("*.md"):
        rel = page.relative_to(DOCS).as_posix()
        if rel.startswith("examples/"):  # example sites' posts, excluded from the site
            continue
        assert f" {rel}\n" in nav, f"{rel} is not in mkdocs.yml's nav"


def test_every_front_matter_key_syndicate_reads_is_on_the_front_matter_page() -> None:
    from syndicate.core.posts import READ_KEYS

    page = (DOCS / "reference" / "front-matter.md").read_text(encoding="utf-8").lower()
    documented = set(re.findall(r"`([a-z_]+)(?::[^`]*)?`", page))
    missing = sorted(key for key in READ_KEYS if key not in documented)
    assert not missing, f"docs/reference/front-matter.md does not list the key(s) {missing}"
