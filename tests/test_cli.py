"""The command line as a user meets it: help, exit codes, one-line errors, no traceback."""

from __future__ import annotations

import re

import pytest

from tests.conftest import CONFIG, Site

COMMANDS = ["build", "check", "feeds", "posts"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(site: Site, command: str) -> None:
    run = site.run(command, "--help", now=None)
    assert run.code == 0
    assert "--site" in run.out and "Usage: python -m syndicate " + command in run.out


def test_top_level_help_lists_commands_and_exit_codes(site: Site) -> None:
    run = site.run("--help", now=None)
    assert run.code == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", run.out, re.MULTILINE), command
    assert "Exit codes" in run.out


def test_check_writes_nothing(sample_site: Site) -> None:
    before = sorted(p.relative_to(sample_site.root) for p in sample_site.root.rglob("*"))
    run = sample_site.run("check")
    assert run.code == 0, run.err
    assert run.out.strip() == "ok: 4 published posts (1 draft, 1 scheduled), 9 feeds"
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
    assert run.out.startswith("problems found: 1 published post (1 rejected)")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (None, "config/syndicate.toml: no config file; create config/syndicate.toml"),
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
            CONFIG.replace('permalink = "/blog/{slug}/"', 'permalink = "/blog/{title}/"'),
            "[site] permalink '/blog/{title}/' must contain {slug}",
        ),
        (
            CONFIG.replace('permalink = "/blog/{slug}/"', 'permalink = "/{year}/{slug}/{hour}"'),
            "[site] permalink uses hour",
        ),
        (CONFIG.replace('author = "Tess Ter"\n', ""), "[site] author is required"),
        (CONFIG + "\n[feed]\n", "unknown section [feed]; did you mean [feeds]?"),
        (CONFIG + '\n[[targets]]\nname = "x"\nkind = "twitter"\n', "[[targets]] 'x': kind must be one of webhook"),
        (CONFIG + '\n[[targets]]\nname = "x"\nkind = "webhook"\nsecret_env = "S"\n', "url is required for a webhook"),
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
    ],
)
def test_config_mistakes_get_one_line_and_exit_2(site: Site, config: str | None, message: str) -> None:
    if config is None:
        (site.root / "config" / "syndicate.toml").unlink()
    else:
        site.config(config)
    for command in ("build", "check"):
        run = site.run(command)
        assert run.code == 2, run.err
        assert run.err.count("\n") == 1 and message in run.err and "Traceback" not in run.err
        assert run.err.startswith("error: ")
    assert not site.public.exists()


def test_site_option_and_paths_relative_to_the_caller(site: Site) -> None:
    site.post("bad.md", "---\ntitle: x\n---\n")
    parent = Site(site.root.parent)
    run = parent.run("check", "--site", "site")
    assert run.code == 1
    assert run.err == "site/content/bad.md: error: date is missing; add `date: YYYY-MM-DD`\n"


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
