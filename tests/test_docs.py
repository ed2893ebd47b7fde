"""The README is the manual: every command and every config key is in it."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import click

from syndicate.cli import main
from syndicate.core.model import ContentSettings, DeliverySettings, FeedSettings, SiteSettings, TargetSettings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_command_is_documented() -> None:
    assert isinstance(main, click.Group)
    for name, command in main.commands.items():
        assert f"`syndicate {name}" in README, f"README does not document `syndicate {name}`"
        for param in command.params:
            if isinstance(param, click.Option) and param.name not in ("site", "help"):
                assert param.opts[0] in README, f"README does not mention {name} {param.opts[0]}"


def test_every_config_key_is_documented() -> None:
    rows = [line for line in README.splitlines() if line.startswith("| `[")]
    for section, cls in (("site", SiteSettings), ("feeds", FeedSettings), ("content", ContentSettings)):
        for field in fields(cls):
            first_cell = [row.split(" | ")[0] for row in rows if row.startswith(f"| `[{section}] ")]
            documented = any(f"[{section}] {field.name}`" in c or f"`{field.name}`" in c for c in first_cell)
            assert documented, f"README's config table lacks [{section}] {field.name}"
    assert "`[websub] hubs`" in README
    for field in fields(DeliverySettings):
        assert f"`[delivery] {field.name}`" in README, field.name
    assert "`[state] path`" in README
    kinds = {"all", "webhook", "mastodon", "bluesky", "mastodon, bluesky"}
    split = [line.split(" | ") for line in README.splitlines() if line.startswith("| `")]
    target_rows = [cells[0] for cells in split if len(cells) > 1 and cells[1] in kinds]
    for field in fields(TargetSettings):
        assert any(f"`{field.name}`" in row for row in target_rows), f"README's targets table lacks {field.name}"


def test_readme_opens_with_the_two_commands() -> None:
    blocks = README.split("```sh\n")
    assert blocks[1].startswith("python3 -m venv .venv && . .venv/bin/activate && pip install -q -e . && syndicate run")
    assert blocks[2].startswith("scripts/test")
    assert "scripts/test" in (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()


def test_every_exit_code_is_documented() -> None:
    from syndicate import cli

    codes = sorted(v for k, v in vars(cli).items() if k.startswith("EXIT_"))
    assert codes == list(range(7))
    table = README.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert [int(row.split("|")[1]) for row in rows] == codes, "one row per code, in order"
    assert all(len(row.split("|")[2].strip()) > 10 for row in rows), "each says what it means"
    for code in codes:
        assert f"{code} " in (cli.__doc__ or ""), f"the module docstring documents exit {code}"


def test_the_readme_gives_the_image_cap_and_thumb_alt_as_the_code_has_them() -> None:
    """It said 8 MB in one place (20 MiB in another), and that thumb_alt defaults to the title."""
    from syndicate.deliver.channels.base import MAX_IMAGE_BYTES

    assert MAX_IMAGE_BYTES == 20 * 1024 * 1024
    caps = re.findall(r"at most (\d+) (MB|MiB)\b(?! and 2000 px)", README)
    assert caps and all(cap == ("20", "MiB") for cap in caps), caps
    row = next(line for line in README.splitlines() if line.startswith("| `thumb_alt`"))
    assert "the title" not in row and "none by default" in row
