"""Destructive acts wait and ask (issue 21, point 1), in real processes against mastodon-mock
and a real Bluesky PDS: a post file away for a moment (an editor's rename-away save, `rm` then
restore, `git checkout` of another branch and back) deletes nothing and posts nothing again;
a post gone for longer than ``[delivery] delete_after`` loses its copies once, the daemon
waking itself for it; half the content folder gone at once is held until `syndicate publish
--allow-deletions`, by hand or told to a running daemon."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from atproto import Client  # type: ignore[import-untyped,unused-ignore]
from mastodon import Mastodon

from tests.conftest import CONFIG, Site
from tests.peers.fixtures import BlueskyPds, MastodonMock
from tests.test_daemon import Running, start, stop
from tests.test_publish_bluesky import records
from tests.test_publish_mastodon import statuses

WINDOW = 3  # seconds: [delivery] delete_after in these tests


@pytest.fixture
def api(mastodon_peer: MastodonMock) -> Iterator[Mastodon]:
    client = Mastodon(access_token=mastodon_peer.token, api_base_url=mastodon_peer.base_url, version_check_mode="none")
    yield client
    client.session.close()


@pytest.fixture
def reader(bluesky_pds: BlueskyPds) -> Iterator[Any]:
    client = Client(base_url=bluesky_pds.base_url)
    yield client
    client.request.close()


class Peers:
    """The site set up for mastodon-mock (and, when given, a Bluesky PDS), with what they hold."""

    def __init__(self, site: Site, mastodon: MastodonMock, pds: BlueskyPds | None, window: int) -> None:
        self.site = site
        self.env = {"MASTODON_TOKEN": mastodon.token}
        sky = ""
        self.did = ""
        if pds is not None:
            handle, password, self.did = pds.create_account()
            self.env["BSKY_PASSWORD"] = password
            sky = f'[[targets]]\nname = "sky"\nkind = "bluesky"\nservice = "{pds.base_url}"\nhandle = "{handle}"\n'
            sky += 'password_env = "BSKY_PASSWORD"\n'
        site.config(
            CONFIG
            + f"""
[delivery]
delete_after = {window}

[[targets]]
name = "masto"
kind = "mastodon"
instance = "{mastodon.base_url}"
token_env = "MASTODON_TOKEN"
timeout = 5

{sky}"""
        )

    def publish(self, *args: str) -> tuple[int, str]:
        run = self.site.run("publish", *args, env=self.env)
        assert "Traceback" not in run.err, run.err
        return run.code, run.out + run.err

    def write(self, n: int, title: str = "") -> Path:
        return self.site.post(
            f"p{n:02d}.md", f"---\ntitle: {title or f'Post {n}'}\ndate: 2024-06-{n % 28 + 1:02d}\n---\nBody {n}.\n"
        )

    def sent(self, count: int) -> None:
        assert self.publish()[0] == 0  # the targets are seen: nothing yet
        for n in range(count):
            self.write(n)
        code, out = self.publish()
        assert code == 0 and out.count("post.published") == count * (1 + bool(self.did)), out

    def daemon(self) -> Running:
        return start(self.site, env=self.env)


def deletions(run: Running) -> list[str]:
    return [e["message"] for e in run.events("delivered") if "post.deleted" in e["message"]]


def ids(api: Mastodon) -> list[str]:
    return sorted(str(s["id"]) for s in statuses(api))


def uris(reader: Any, did: str) -> list[str]:
    return sorted(r.uri for r in records(reader, did))


@pytest.mark.parametrize("away", [0.05, 2.0], ids=["50ms", "2s"])
def test_a_file_away_for_a_moment_under_the_daemon_deletes_nothing_and_posts_nothing_again(
    site: Site, mastodon_peer: MastodonMock, bluesky_pds: BlueskyPds, api: Mastodon, reader: Any, away: float
) -> None:
    peers = Peers(site, mastodon_peer, bluesky_pds, WINDOW)
    peers.sent(1)
    before = (ids(api), uris(reader, peers.did))
    run = peers.daemon()
    try:
        path = site.content / "p00.md"
        for _ in range(5 if away < 1 else 1):  # saves in a row, each moving the old file away a moment
            path.rename(site.root / "p00.md.away")
            time.sleep(away)
            (site.root / "p00.md.away").rename(path)
            time.sleep(0.3)
        time.sleep(WINDOW + 2.5)  # past the window it would have had
        assert deletions(run) == [] and not run.events("delivered")
        assert (ids(api), uris(reader, peers.did)) == before  # the same status and record: boosts and likes kept
        if away > 1:
            assert run.events("leaving"), "the daemon saw the post leave (and come back)"
    finally:
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)


def test_a_file_gone_past_the_window_is_deleted_once_when_the_daemon_wakes_for_it(
    site: Site, mastodon_peer: MastodonMock, bluesky_pds: BlueskyPds, api: Mastodon, reader: Any
) -> None:
    peers = Peers(site, mastodon_peer, bluesky_pds, WINDOW)
    peers.sent(1)
    run = peers.daemon()
    try:
        gone = time.monotonic()
        (site.content / "p00.md").unlink()
        run.wait_for(lambda: bool(run.events("leaving")), what="the daemon to notice the post leaving")
        assert len(ids(api)) == 1 and len(uris(reader, peers.did)) == 1  # inside the window: still there
        run.wait_for(lambda: len(deletions(run)) == 2, timeout=WINDOW + 20, what="the deletions")
        assert time.monotonic() - gone >= WINDOW
        assert ids(api) == [] and uris(reader, peers.did) == []
        time.sleep(2)
        assert len(deletions(run)) == 2  # once
    finally:
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)


def git(site: Site, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
        cwd=site.root,
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_a_git_checkout_of_a_branch_without_the_posts_and_back_deletes_nothing(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    peers = Peers(site, mastodon_peer, None, WINDOW)
    peers.sent(3)
    (site.root / ".gitignore").write_text(".syndicate/\npublic/\n")
    git(site, "init", "-q", "-b", "main")
    git(site, "add", "-A")
    git(site, "commit", "-q", "-m", "posts")
    git(site, "checkout", "-q", "-b", "redesign")
    git(site, "rm", "-q", "content/p00.md", "content/p01.md", "content/p02.md")
    git(site, "commit", "-q", "-m", "no posts on this branch")
    git(site, "checkout", "-q", "main")
    before = ids(api)
    run = peers.daemon()
    try:
        git(site, "checkout", "-q", "redesign")
        # a look at the other branch: long enough for the daemon to see the posts leave (waited
        # for, not slept: how soon a cycle runs is the machine's business)
        run.wait_for(lambda: len(run.events("leaving")) == 3, timeout=WINDOW, what="the posts seen leaving")
        git(site, "checkout", "-q", "main")
        time.sleep(WINDOW + 2.5)
        assert deletions(run) == [] and not run.events("delivered")
        assert ids(api) == before
        assert len(run.events("leaving")) == 3, "each seen leaving once (and coming back)"
    finally:
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)


def test_dry_run_and_status_show_a_pending_retraction_and_a_post_back_in_time_keeps_its_status(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    peers = Peers(site, mastodon_peer, None, 300)
    peers.sent(1)
    before = ids(api)
    (site.content / "p00.md").unlink()
    code, out = peers.publish()
    assert code == 0 and "retractions waiting" in out and "Post 0 (https://example.com/blog/p00/)" in out, out
    assert "from every target, due " in out and "status deleted" not in out, out
    code, out = peers.publish("--dry-run")
    assert code == 0 and "retractions waiting" in out and "delete the status" not in out, out
    shown = site.run("status")
    assert shown.code == 0 and "retractions waiting" in shown.out and "Post 0" in shown.out, shown
    as_json = json.loads(site.run("status", "--json").out)  # it had no retractions at all
    [waiting] = as_json["retractions"]
    assert waiting["url"] == "https://example.com/blog/p00/" and waiting["target"] is None, waiting
    assert waiting["due"] > datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") and not as_json["retractions_held"]
    assert ids(api) == before
    peers.write(0, title="Post 0, back with a new title")
    code, out = peers.publish()
    assert code == 0 and "status edited" in out and "post.published" not in out, out  # at most an edit
    assert ids(api) == before and "retractions" not in site.run("status").out
    assert json.loads(site.run("status", "--json").out)["retractions"] == []


def test_half_the_content_folder_gone_is_held_until_publish_allow_deletions(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    peers = Peers(site, mastodon_peer, None, 0)
    peers.sent(12)
    for n in range(6):
        (site.content / f"p{n:02d}.md").unlink()
    code, out = peers.publish()
    assert code == 4, out
    assert "6 posts would be retracted at once" in out and "of the 12 the ledger knows live" in out, out
    assert "more than 5" in out and "syndicate publish --allow-deletions" in out and "Post 0 (" in out, out
    assert len(ids(api)) == 12
    assert "retractions held" in site.run("status").out
    held = json.loads(site.run("status", "--json").out)
    assert held["retractions_held"] and len(held["retractions"]) == 6
    assert peers.publish("--dry-run")[1].count("delete the status") == 0
    assert peers.publish()[0] == 4 and len(ids(api)) == 12  # still held, run after run
    code, out = peers.publish("--allow-deletions")
    assert code == 0 and out.count("status deleted") == 6, out
    assert len(ids(api)) == 6
    code, out = peers.publish("--allow-deletions")
    assert code == 0 and "masto" not in out, out  # once


def test_a_running_daemon_holds_a_mass_retraction_and_carries_it_out_when_told(
    site: Site, mastodon_peer: MastodonMock, api: Mastodon
) -> None:
    peers = Peers(site, mastodon_peer, None, 1)
    peers.sent(12)
    run = peers.daemon()
    try:
        for n in range(6):
            (site.content / f"p{n:02d}.md").unlink()
        run.wait_for(lambda: bool(run.events("held")), timeout=20, what="the guard to hold the retractions")
        assert "6 posts would be retracted at once" in run.events("held")[0]["message"]
        time.sleep(2)
        assert deletions(run) == [] and len(ids(api)) == 12
        told = site.run("publish", "--allow-deletions", env=peers.env)
        assert told.code == 0 and "holds the ledger" in told.out, told
        run.wait_for(lambda: len(deletions(run)) == 6, timeout=20, what="the deletions")
        assert len(ids(api)) == 6
        time.sleep(2.5)
        assert len(deletions(run)) == 6  # once
    finally:
        assert stop(run) == 0
    assert not any("Traceback" in line for line in run.raw)
