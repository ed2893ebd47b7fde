"""A control character in a config value (a hand-written ``description = "bell \\u0007 here"``,
or one `init` copied from a generator's config) once passed `check` and then made `build`,
`publish` and the daemon end in lxml's ``ValueError: All strings must be XML compatible``. Now
the config refuses it with one line naming the key and the character, and `init` removes it
with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from syndicate.adopt import SiteFiles, adopt, render_config
from syndicate.config import parse_settings
from syndicate.errors import ConfigError
from tests.conftest import CONFIG, Site
from tests.test_init import config_of, run, write

TARGET = '\n[[targets]]\nname = "masto"\nkind = "mastodon"\ninstance = "https://m.example"\ntoken_env = "T"\n'


@pytest.mark.parametrize(
    ("config", "line"),
    [
        (
            CONFIG.replace('author = "Tess Ter"', 'author = "Tess Ter"\ndescription = "bell \\u0007 here"'),
            "[site] description contains a control character U+0007; remove it",
        ),
        (CONFIG.replace('"Test Site"', '"My Lab\\u0007"'), "[site] title contains a control character U+0007"),
        (CONFIG.replace('"Tess Ter"', '"Tess\\u001b[31m"'), "[site] author contains a control character U+001B"),
        (CONFIG + 'tag_title = "{site}\\u0000{tag}"\n', "[feeds] tag_title contains a control character U+0000"),
        (
            CONFIG.replace('author = "Tess Ter"', 'author = "T"\nemail = "t\\u0085@example.com"'),
            "[site] email contains a control character U+0085",
        ),
        (CONFIG.replace('"Test Site"', '"Lab\\uffff"'), "[site] title contains the noncharacter U+FFFF"),
        (CONFIG + TARGET + 'template = "{title}\\u0008"\n', "[[targets]] 'masto' template contains a control"),
        (CONFIG + '\n[site.permalinks]\n"news" = "/n/\\u0007{slug}/"\n', "[site.permalinks] news contains a control"),
    ],
)
def test_check_refuses_a_control_character_in_a_text_with_one_line_and_build_never_tracebacks(
    site: Site, config: str, line: str
) -> None:
    site.config(config)
    site.post("a.md", "---\ntitle: Hello\ndate: 2024-01-01\n---\nBody.\n")
    for command in ("check", "build", "publish"):
        result = site.run(command, env={"T": "token"})
        assert result.code == 2, (command, result)
        assert line in result.err and "Traceback" not in result.err, (command, result.err)
        assert len(result.err.strip().splitlines()) == 1, result.err
    assert not site.public.exists()


def test_tabs_and_newlines_are_text_and_stay() -> None:
    text = CONFIG.replace('author = "Tess Ter"', 'author = "Tess Ter"\ndescription = """two\nlines\tand a tab"""')
    assert parse_settings(text).site.description == "two\nlines\tand a tab"


def test_a_key_with_a_control_character_is_named_escaped() -> None:
    with pytest.raises(ConfigError, match=r"\[site.permalinks\] 'a\\x07b': the key contains a control character"):
        parse_settings(CONFIG + '\n[site.permalinks]\n"a\\u0007b" = "/{slug}/"\n')


def test_init_removes_a_control_character_from_a_generators_config_with_a_warning(tmp_path: Path) -> None:
    root = write(
        tmp_path / "lab",
        {
            "_config.yml": 'title: "My Lab\\a"\nurl: https://lab.example\n'
            'author: "Ann\\e"\ndescription: "a\\x1b[31m"\n',
            "_posts/2024-01-01-hi.md": "---\ntitle: Hi\n---\nHello.\n",
        },
    )
    result = run(root, "init")
    assert result.code == 0, result.err
    site = config_of(root)["site"]
    assert (site["title"], site["author"], site["description"]) == ("My Lab", "Ann", "a[31m")
    assert "warning: _config.yml: title: removed a control character U+0007 (a feed cannot carry it)" in result.err
    assert "warning: _config.yml: description: removed a control character U+001B" in result.err
    checked = run(root, "check")
    assert checked.code == 0, checked.err
    built = run(root, "build")
    assert built.code == 0 and "Traceback" not in built.err
    assert "<title>My Lab</title>" in (root / ".syndicate" / "public" / "rss.xml").read_text(encoding="utf-8")


def test_adopt_cleans_every_value_and_folder_it_found() -> None:
    zola = 'base_url = "https://z.example/"\ntitle = "Z\\u0007"\ntaxonomies = [{name = "ta\\u0001gs"}]\n'
    texts = {"zola.toml": zola}
    adopted = adopt(SiteFiles("zola", "zola.toml", texts))
    assert adopted.title.value == "Z"
    assert "\x01" not in str(adopted.taxonomies.value)
    parse_settings(render_config(adopted))  # what init writes, check accepts
