"""What a newcomer's first tries meet (issue 20, points 4 and 6).

Values `syndicate init` could not find are stand-ins (CHANGE ME, https://change-me.invalid/):
`check` fails on them, and `publish` and the daemon deliver nothing while one is left: a toot or
a webhook that links to a stand-in cannot be taken back. Building and serving go on.
`syndicate run --preview` serves feeds whose links work on the local address, apart from the
folder that is deployed, and delivers nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CONFIG, Site
from tests.peers.fixtures import WebhookReceiverFactory
from tests.test_daemon import start, stop
from tests.test_delivery_promise import HOOK_ENV, SECRET, events, health, hook_target, write

STAND_IN_URL = CONFIG.replace('url = "https://example.com/"', 'url = "https://change-me.invalid/"')
STAND_IN_AUTHOR = CONFIG.replace('author = "Tess Ter"', 'author = "CHANGE ME"')


@pytest.mark.parametrize(
    ("config", "key"),
    [(STAND_IN_URL, "url is 'https://change-me.invalid/'"), (STAND_IN_AUTHOR, "author is 'CHANGE ME'")],
)
def test_publish_delivers_nothing_while_a_stand_in_is_left_and_says_which(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory, config: str, key: str
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(config + hook_target(receiver.url))
    write(site, "a", "First")
    run = site.run("publish", env=HOOK_ENV)
    assert run.code == 2, run
    assert run.err.startswith("error: config/syndicate.toml: nothing is delivered while the config holds stand-ins")
    assert f"[site] {key}, a stand-in" in run.err and "Traceback" not in run.err
    assert not (site.root / ".syndicate" / "state.db").exists(), "refused before the ledger is made"
    preview = site.run("publish", "--dry-run", env=HOOK_ENV)
    assert preview.code == 0, preview
    assert f"warning: [site] {key}, a stand-in" in preview.err and "a real run delivers nothing" in preview.err
    checked = site.run("check", env=HOOK_ENV)
    assert checked.code == 2 and f"config/syndicate.toml: error: [site] {key}, a stand-in" in checked.err
    assert site.run("build").code == 0, "a build for a look is fine"
    assert receiver.deliveries() == []


def test_a_site_without_targets_publishes_with_stand_ins(site: Site) -> None:
    site.config(STAND_IN_AUTHOR)
    write(site, "a", "First")
    assert site.run("publish").code == 0  # nothing is delivered anywhere: nothing to refuse


def test_the_daemon_holds_delivery_until_the_stand_in_is_replaced(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(STAND_IN_URL + hook_target(receiver.url))
    write(site, "a", "Before the first publish", date="2024-01-01")
    run = start(site, env=HOOK_ENV)
    try:
        run.wait_for(lambda: bool(run.events("held")), what="delivery held")
        assert health(run)[0] == 503 and health(run)[1]["status"] == "held"
        assert "[site] url is 'https://change-me.invalid/'" in health(run)[1]["problem"]
        assert b"Before the first publish" in run.get("feed.xml")[2]  # built and served
        site.config(CONFIG + hook_target(receiver.url))
        run.wait_for(lambda: bool(run.events("resumed")), timeout=15, what="delivery resumed")
        run.wait_for(lambda: health(run)[0] == 200, timeout=15, what="the first delivering cycle")
        write(site, "b", "After the fix", date="2024-06-01")
        run.wait_for(lambda: len(receiver.deliveries()) == 1, timeout=15, what="the new post delivered")
        assert events(receiver.deliveries()) == [("post.published", "After the fix")]
        assert len(run.events("held")) == 1
    finally:
        assert stop(run) == 0


def test_run_preview_serves_feeds_linking_to_the_local_address_apart_from_the_deploy_and_delivers_nothing(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    site.config(CONFIG + hook_target(receiver.url))
    write(site, "a", "Tried locally")
    run = start(site, "--preview", env=HOOK_ENV)
    try:
        local = run.url
        feed = run.get("feed.xml")[2].decode()
        assert f'href="{local}feed.xml"' in feed or f'<atom:link href="{local}feed.xml"' in feed
        assert "Tried locally" in feed and "https://example.com/blog/" in feed  # posts keep their real links
        index = run.get("")[2].decode()
        assert f'href="{local}atom.xml"' in index and "https://example.com/atom.xml" not in index
        [serving] = run.events("serving")
        assert "preview" in serving["message"] and ".syndicate/preview" in serving["message"]
        assert health(run)[0] == 200
        # a real publish can run beside it: the preview holds no lock and leaves the ledger alone
        assert site.run("publish", "--dry-run", env=HOOK_ENV).code == 0
    finally:
        assert stop(run) == 0
    assert receiver.deliveries() == []
    assert not site.public.exists(), "the deployed folder is not written with local links"
    assert not (site.root / ".syndicate" / "state.db").exists()


def test_cannot_connect_names_the_host_the_port_and_why(site: Site) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    site.config(CONFIG + hook_target(f"http://127.0.0.1:{port}/hooks/s3cret"))
    write(site, "a", "Before", date="2024-01-01")
    assert site.run("publish", env=HOOK_ENV).code == 0  # the first run records what is there
    write(site, "b", "After", date="2024-06-01")
    run = site.run("publish", env=HOOK_ENV)
    assert run.code == 4, run
    assert f"cannot connect to 127.0.0.1:{port} (connection refused: nothing listens there)" in run.out + run.err
    assert "s3cret" not in run.out + run.err


def test_messages_speak_the_files_own_language(site: Site) -> None:
    """A TOML post gets TOML advice; a date taken from a Zola page's `path =` says so; a folder
    post outside the sections is not called 'the index page of a listing'."""
    site.config(CONFIG)
    site.post("toml.md", "+++\ndate = 2024-01-01\n+++\nx\n")
    site.post("json.md", '{\n"date": "2024-01-01"\n}\nx\n')
    site.post("nodate.md", '+++\ntitle = "x"\n+++\nx\n')
    run = site.run("check")
    assert 'content/toml.md: error: title is missing; add `title = "…"` to the front matter' in run.err
    assert 'content/json.md: error: title is missing; add `"title": "…"` to the front matter' in run.err
    assert "add `date = YYYY-MM-DD`" in run.err


def test_a_zola_date_from_path_and_a_folder_post_are_named_as_what_they_are(site: Site) -> None:
    site.config(CONFIG.replace("[feeds]", '[content]\ngenerator = "zola"\nsections = ["blog"]\n\n[feeds]'))
    site.post("blog/_index.md", '+++\ntitle = "Blog"\n+++\n')
    site.post("blog/moved.md", '+++\ntitle = "Moved"\npath = "blog/2024/03/05/moved"\n+++\nx\n')
    site.post("other/index.md", '+++\ntitle = "Elsewhere"\ndate = 2024-01-01\n+++\nx\n')
    run = site.run("check")
    assert "date 2024-03-05 taken from its own `path` (blog/2024/03/05/moved)" in run.err
    assert "other/index.md" in run.err and "index page of a listing" not in run.err


def test_a_command_run_from_a_folder_that_was_deleted_says_so_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    gone = tmp_path / "gone"
    gone.mkdir()
    script = f'cd "{gone}" && rmdir "{gone}" && exec "{sys.executable}" -m syndicate check'
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr == "error: the current folder no longer exists (deleted or moved): cd into the site again\n"
