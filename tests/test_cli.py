"""The command line as a user meets it: help, exit codes, one-line errors, no traceback."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import pytest

from syndicate.cli.all_commands import main
from tests.conftest import CONFIG, Site

MASTO = '\n[[targets]]\nname = "m"\nkind = "mastodon"\ninstance = "https://m.example"\ntoken_env = "T"\n'
HOOK = '\n[[targets]]\nname = "h"\nkind = "webhook"\nurl = "https://h/"\nsecret_env = "S"\n'
COMMANDS = sorted(main.commands)


def test_there_are_the_eleven_commands_the_manual_lists() -> None:
    assert COMMANDS == [
        "build",
        "check",
        "feeds",
        "host",
        "init",
        "posts",
        "publish",
        "retry",
        "run",
        "status",
        "store",
    ]


def test_each_command_is_where_the_command_line_looks_for_it() -> None:
    """`syndicate` imports a command's module when it runs it: each name must lead to its module."""
    from syndicate.cli.common import Commands

    assert sorted(Commands.WHERE) == COMMANDS
    for name, module in Commands.WHERE.items():
        command = main.commands[name]
        assert command.callback is not None and command.callback.__module__ == f"syndicate.cli.{module}"


LEAVES = [
    " ".join(path)
    for name, command in sorted(main.commands.items())
    for path in ([(name, sub) for sub in sorted(command.commands)] if isinstance(command, click.Group) else [(name,)])
]


@pytest.mark.parametrize("command", LEAVES)
def test_every_command_has_help(site: Site, command: str) -> None:
    run = site.run(*command.split(), "--help", now=None)
    assert run.code == 0
    assert ("FOLDER" if command == "host" else "--site") in run.out  # host: a folder of sites, not one site
    assert "Usage: python -m syndicate " + command in run.out


def test_top_level_help_lists_commands_exit_codes_and_the_version(site: Site) -> None:
    run = site.run("--help", now=None)
    assert run.code == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", run.out, re.MULTILINE), command
    for code in range(7):
        assert f"{code} " in run.out.split("Exit codes", 1)[1], code
    version = site.run("--version", now=None)
    assert version.code == 0 and re.fullmatch(r"syndicate, version \d+\.\d+\.\d+\n", version.out)


def test_check_writes_nothing(sample_site: Site) -> None:
    before = sorted(p.relative_to(sample_site.root) for p in sample_site.root.rglob("*"))
    run = sample_site.run("check")
    assert run.code == 0, run.err
    assert run.out.strip() == "ok: 4 published posts, 1 draft, 1 scheduled, 9 feeds"
    assert sorted(p.relative_to(sample_site.root) for p in sample_site.root.rglob("*")) == before


def test_check_exits_1_and_names_the_file_when_a_post_is_broken(site: Site) -> None:
    site.post("ok.md", "---\ntitle: Fine\ndate: 2024-01-01\n---\nfine\n")
    site.post("bad.md", "---\ntitle: Broken\ndate: someday\n---\n")
    run = site.run("check")
    assert run.code == 1
    assert run.err == (
        "content/bad.md:3: error: date: cannot read 'someday' as a date; "
        "write YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS][+HH:MM]\n"
    )
    assert run.out.startswith("problems found: 1 published post, 1 rejected file")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (None, "config/syndicate.toml: no config file; run `syndicate init` to write config/syndicate.toml"),
        ("[site\ntitle='x'", "config/syndicate.toml: not valid TOML: "),
        (
            CONFIG.replace('url = "https://example.com/"', 'url = "example.com"'),
            "[site] url must be an absolute http(s) URL",
        ),
        (
            CONFIG.replace('timezone = "Europe/Paris"', 'timezone = "Mars/Olympus"'),
            "[site] timezone 'Mars/Olympus' is not a time zone",
        ),
        (CONFIG.replace("items = 20", "itmes = 20"), "unknown key 'itmes' in [feeds]; did you mean 'items'?"),
        (CONFIG.replace("items = 20", 'items = "20"'), "[feeds] items must be a whole number"),
        (CONFIG.replace("items = 20", "items = 0"), "[feeds] items must be between 1 and 1000"),
        (
            CONFIG.replace('permalink = "/blog/{slug}/"', 'permalink = "/blog/{year}/"'),
            "[site] permalink '/blog/{year}/' must contain {slug}",
        ),
        (
            CONFIG.replace('permalink = "/blog/{slug}/"', 'permalink = "/{year}/{slug}/{week}"'),
            "[site] permalink uses week",
        ),
        (CONFIG.replace('author = "Tess Ter"\n', ""), "[site] author is required"),
        (CONFIG + "\n[feed]\n", "unknown section [feed]; did you mean [feeds]?"),
        (CONFIG + '\n[[targets]]\nname = "x"\nkind = "twitter"\n', "[[targets]] 'x': kind must be one of webhook"),
        (CONFIG + '\n[[targets]]\nname = "x"\nkind = "webhook"\nsecret_env = "S"\n', "url is required for a webhook"),
        # a slack target: a bot token and a channel ID, or an incoming webhook (send only)
        (
            CONFIG + '\n[[targets]]\nname = "x"\nkind = "slack"\nchannel = "#general"\ntoken_env = "T"\n',
            "channel must be the channel's ID like C0123456789 (in Slack: the channel's details, at the bottom)",
        ),
        (
            CONFIG + '\n[[targets]]\nname = "x"\nkind = "slack"\nchannel = "C0123456789"\n',
            "give token_env (a bot token: send, edit, delete) or url_env (an incoming webhook: send only)",
        ),
        (
            CONFIG
            + '\n[[targets]]\nname = "x"\nkind = "slack"\nchannel = "C0123456789"\ntoken_env = "T"\nurl_env = "U"\n',
            "or url_env (an incoming webhook: send only), not both",
        ),
        (
            CONFIG + '\n[[targets]]\nname = "x"\nkind = "slack"\nurl_env = "U"\nchannel = "C0123456789"\n',
            "an incoming webhook posts to its own channel; remove channel",
        ),
        (
            CONFIG + '\n[[targets]]\nname = "x"\nkind = "slack"\nurl_env = "U"\non_delete = "delete"\n',
            "an incoming webhook cannot edit or delete a message; on_delete must be 'ignore'",
        ),
        (
            CONFIG + '\n[[targets]]\nname = "x"\nkind = "slack"\nurl_env = "https://hooks.slack.com/services/T/B/x"\n',
            "url_env names an environment variable (like MY_SECRET), never the secret itself",
        ),
        (
            CONFIG
            + '\n[[targets]]\nname = "x"\nkind = "webhook"\nurl = "https://h/"\nsecret_env = "S"\ntoken_env = "T"\n',
            "unknown key 'token_env'; token_env is for mastodon targets",
        ),
        (
            CONFIG + '\n[[targets]]\nname = "x"\nkind = "webhook"\nurl = "https://h/"\nsecret_env = "whsec_a+b/c="\n',
            "secret_env names an environment variable (like MY_SECRET), never the secret itself",
        ),
        (
            CONFIG + '\n[[targets]]\nname = "x"\nkind = "webhook"\nurl = "https://h/"\nsecret_env = "S"\n'
            'events = ["post.created"]\n',
            "events must be some of post.published, post.updated, post.deleted",
        ),
        (
            CONFIG + '\n[[targets]]\nname = "x"\nkind = "mastodon"\ninstance = "https://m"\ntoken_env = "T"\n' * 2,
            "two targets are called 'x'",
        ),
        # settings that used to pass `check` and crash later, or be silently accepted
        (
            CONFIG + '\n[content]\nrenderer = "markdown"\nmarkdown_extensions = ["nosuchext"]\n',
            "markdown_extensions: ModuleNotFoundError: No module named 'nosuchext'",
        ),
        (CONFIG + '\n[state]\npath = "/"\n', "[state] path '/' must name a file"),
        (CONFIG.replace("items = 20", 'tag_title = "{nope}"'), "tag_title uses {nope}; it may use only {site}, {tag}"),
        (CONFIG.replace("items = 20", 'tag_title = "{title"'), "tag_title is not a valid template"),
        (CONFIG.replace("items = 20", 'tag_title = "{site.__class__}"'), "tag_title uses {site.__class__}"),
        (
            CONFIG + MASTO + 'template = "{title.__class__}"\n',
            "template uses {title.__class__}; it may use only {hashtags}, {summary}, {title}, {url}",
        ),
        (CONFIG + MASTO + "max_characters = -1\n", "max_characters must be 0 (ask the instance) or 50 to 100000"),
        (CONFIG + HOOK.replace("https://h/", "http://[::1"), "url must be an absolute http(s) URL"),
        (CONFIG + HOOK.replace("https://h/", "https://h /"), "(it holds spaces or control characters)"),
        (CONFIG + HOOK.replace("https://h/", "https://h/\\n"), "(it holds spaces or control characters)"),
        (CONFIG + HOOK.replace("https://h/", "https://h:99999/"), "Port out of range"),
        ("x = " + "[" * 5000 + "1" + "]" * 5000 + "\n", "not valid TOML: nested too deeply"),
        (CONFIG.replace("/blog/{slug}/", "/../../{slug}/"), "[site] permalink '/../../{slug}/' must be a path under"),
        (CONFIG + '\n[websub]\nhub = ["https://h/"]\n', "unknown key 'hub' in [websub]"),
        (CONFIG + '\n[websub]\nhubs = ["http://"]\n', "[websub] hub 'http://' must be an absolute http(s) URL"),
        (CONFIG.replace("items = 20", 'rss = "index.html"'), "rss = 'index.html' is a name syndicate writes"),
        (CONFIG + HOOK + "timeout = true\n", "timeout must be between 0.1 and 300 seconds"),
        (
            CONFIG + '\n[[targets]]\nname = "b"\nkind = "bluesky"\nhandle = "my handle"\npassword_env = "P"\n',
            "handle 'my handle' must be a domain name",
        ),
        (CONFIG.replace('author = "Tess Ter"', 'author = "T"\nlanguage = "<script>"'), "[site] language '<script>'"),
        (CONFIG + '\n[content]\nstatic = "no-such-folder"\n', "[content] static folder"),
        (CONFIG + '\n[content]\nfetch_allow = ["http://x/"]\n', "[content] fetch_allow entry"),
        (CONFIG + "\n[delivery]\nretry_schedule = [9223372036854775807]\n", "each from 0 to 2592000 (30 days)"),
        (CONFIG + "\n[delivery]\ndelete_after = -1\n", "delete_after must be seconds from 0 (at once) to 2592000"),
        (CONFIG + '\n[delivery]\ndelete_after = "5m"\n', "[delivery] delete_after must be a whole number"),
        (CONFIG + "\n[delivery]\nmax_retractions_percent = 150\n", "max_retractions_percent must be between 0 and 100"),
    ],
)
def test_config_mistakes_get_one_line_and_exit_2(site: Site, config: str | None, message: str) -> None:
    if config is None:
        (site.root / "config" / "syndicate.toml").unlink()
    else:
        site.config(config)
    for command in ("build", "check", "feeds", "posts", "publish", "status", "retry"):
        run = site.run(command)
        assert run.code == 2, run.err
        assert run.err.count("\n") == 1 and message in run.err and "Traceback" not in run.err
        assert run.err.startswith("error: ")
    assert not site.public.exists()


def test_site_option_before_or_after_the_command_and_paths_named_absolutely(site: Site) -> None:
    site.post("bad.md", "---\ntitle: x\n---\n")
    parent = Site(site.root.parent)
    missing = "error: date is missing; add `date: YYYY-MM-DD` (or start the file name with YYYY-MM-DD-)\n"
    expected = f"{site.root.resolve()}/content/bad.md: {missing}"
    for args in (("check", "--site", "site"), ("--site", "site", "check")):
        run = parent.run(*args)
        assert run.code == 1 and run.err == expected, (args, run)
    here = site.run("check")
    assert here.err == f"content/bad.md: {missing}", "from the site: relative"


def test_unwritable_output_exits_3(site: Site) -> None:
    site.post("ok.md", "---\ntitle: Fine\ndate: 2024-01-01\n---\nfine\n")
    (site.root / "blocker").write_text("a file where a folder should be")
    run = site.run("build", "--out", "blocker/public")
    assert run.code == 3
    assert run.err.startswith("error: cannot write ") and "Traceback" not in run.err


def test_posts_lists_every_post_with_its_status(sample_site: Site) -> None:
    run = sample_site.run("posts")
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0].split() == ["STATUS", "DATE", "(UTC)", "TITLE", "TAGS", "URL"]
    statuses = [line.split()[0] for line in lines[1:]]
    assert statuses == ["scheduled", "draft", "published", "published", "published", "published"]
    assert lines[1].rstrip().endswith("https://example.com/blog/from-the-future/")


def test_build_reports_the_next_scheduled_post(sample_site: Site) -> None:
    run = sample_site.run("build")
    assert "next scheduled: 2030-01-01 07:00 UTC  content/2030-01-01-from-the-future.md" in run.out


def test_now_must_be_a_date(site: Site) -> None:
    run = site.run("build", "--now", "tomorrow", now=None)
    assert run.code == 2 and "--now" in run.err and "Traceback" not in run.err


def test_feeds_lists_every_feed_with_its_urls(sample_site: Site) -> None:
    run = sample_site.run("feeds")
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0].split()[:2] == ["FEED", "POSTS"]
    assert lines[1].split() == ["(all", "posts)", "4", "2025-05-31", "22:00", "https://example.com/feed.xml"]
    assert lines[2].split() == ["https://example.com/atom.xml"]
    assert any(line.startswith("C#  ") and line.endswith("/tags/c-sharp/feed.xml") for line in lines)
    assert any(line.endswith("https://example.com/tags/%E6%97%A5%E6%9C%AC%E8%AA%9E/feed.json") for line in lines)
    assert not sample_site.public.exists()


def test_delivery_settings_are_read(site: Site) -> None:
    from syndicate.config import parse_settings

    settings = parse_settings(
        CONFIG + "\n[delivery]\nmax_attempts = 3\nretry_schedule = [1, 2]\n[state]\npath = 'x.db'\n"
    )
    assert settings.delivery.max_attempts == 3 and settings.delivery.retry_schedule == (1, 2)
    assert settings.state_path == "x.db"
    site.config(CONFIG + '\n[delivery]\nretry_schedule = ["5s"]\n')
    run = site.run("check")
    assert run.code == 2 and "[delivery] retry_schedule must be a list of whole numbers" in run.err


def test_publish_to_an_unknown_target_is_a_usage_error(site: Site) -> None:
    run = site.run("publish", "--target", "nope", now=None)
    assert run.code == 2 and run.err == "error: no target called 'nope'; targets: none configured\n"


def test_a_config_that_is_a_fifo_is_one_line_not_a_hang(site: Site) -> None:
    config = site.root / "config" / "syndicate.toml"
    config.unlink()
    os.mkfifo(config)
    run = site.run("check")
    assert (
        run.code == 2 and run.err == "error: config/syndicate.toml: not a regular file (a FIFO, a device or a socket)\n"
    )


def test_missing_secrets_are_reported_by_check_and_explained_by_publish_and_status(site: Site) -> None:
    site.config(CONFIG + HOOK)
    check = site.run("check", env={"S": ""})
    assert check.code == 0
    assert "warning: target 'h': environment variable S (secret_env) is not set" in check.err
    site.run("publish", env={"S": "whsec_" + "A" * 32})  # the baseline
    site.post("p.md", "---\ntitle: Waiting\ndate: 2024-06-01\n---\nx\n")
    run = site.run("publish", env={"S": ""})
    assert run.code == 4
    assert "error: h: target 'h': environment variable S (secret_env) is not set; 1 delivery waits for it" in run.err
    assert "1 waiting for a target that cannot be set up" in run.out
    status = site.run("status", env={"S": ""})
    assert "waits: environment variable S (secret_env) is not set" in status.out


@pytest.mark.parametrize("command", ["status", "retry", "publish"])
def test_unknown_target_or_post_names_are_errors_everywhere(site: Site, command: str) -> None:
    site.config(CONFIG + HOOK)
    site.post("p.md", "---\ntitle: Known\ndate: 2024-06-01\n---\nx\n")
    run = site.run(command, "--target", "nope", now=None)
    assert run.code == 2 and "no target called 'nope'; targets: h" in run.err
    run = site.run(command, "--post", "nope", now=None)
    assert run.code == 2 and "no post 'nope'; give its id, URL, slug or file" in run.err
    assert site.run(command, "--post", "p", now=None).code in (0, 4)  # a slug works everywhere


def test_a_dry_run_without_targets_says_so(site: Site) -> None:
    run = site.run("publish", "--dry-run")
    assert run.code == 0 and "nothing to send: no target is configured" in run.out


def test_status_keeps_the_end_of_long_rows_distinct(site: Site) -> None:
    import click.testing

    from syndicate.cli.show import print_table

    runner = click.testing.CliRunner()

    @click.command()
    def show() -> None:
        print_table(
            [
                ("POST", "URL"),
                ("https://example.com/a/very/long/path/that/goes/on/and/on/tags/alpha/feed.xml", "x"),
                ("https://example.com/a/very/long/path/that/goes/on/and/on/tags/beta/feed.xml", "y"),
            ],
            max_width=40,
        )

    lines = runner.invoke(show).output.splitlines()
    assert lines[1].split()[0] != lines[2].split()[0] and lines[1].split()[0].endswith("alpha/feed.xml")


def test_posts_lists_rejected_files_too(site: Site) -> None:
    site.post("good.md", "---\ntitle: Good\ndate: 2024-06-01\n---\nx\n")
    site.post("bad.md", "---\ntitle: Bad\n---\nx\n")
    run = site.run("posts")
    assert run.code == 1
    [row] = [line for line in run.out.splitlines() if line.startswith("rejected")]
    assert row.endswith("content/bad.md") and "date is missing" in row


def test_the_next_scheduled_post_is_named_printably(site: Site) -> None:
    """A file name can hold an escape sequence; `build` must not send it to the terminal."""
    site.post("\x1b[31mred.md", "---\ntitle: Red\nslug: red\ndate: 2099-01-01\n---\nLater.\n")
    done = site.run("build")
    assert "next scheduled:" in done.out, done
    assert "\x1b" not in done.out and "\\x1b[31mred.md" in done.out


def test_a_folder_whose_name_is_not_utf8_is_refused_in_one_line(site: Site, tmp_path: Path) -> None:
    """The cache, the ledger and the messages keep text: such a path used to end the build in a
    traceback after the feeds were written."""
    site.post("a.md", "---\ntitle: A\ndate: 2024-01-01\n---\nA.\n")
    done = site.run("build", "--out", os.fsdecode(b"pub\xff"))
    assert done.code == 2 and "Traceback" not in done.err, done
    assert done.err.strip().endswith("pub\\xff is not valid UTF-8; rename it or choose another folder")
    moved = tmp_path / os.fsdecode(b"s\xff")
    site.root.rename(moved)
    done = Site(moved).run("build")
    assert done.code == 2 and "Traceback" not in done.err, done
    assert "error: the site folder " in done.err and "s\\xff is not valid UTF-8" in done.err
    assert not (moved / "public").exists()
