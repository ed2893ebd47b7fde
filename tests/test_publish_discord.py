"""`syndicate publish` to a Discord webhook, against a stateful fake of Discord's API (tests/fakes):
the whole life of a post, rate limits, a lost outcome held for the user's word, the dry run, check,
and the webhook's token nowhere."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from syndicate.cli.all_commands import main
from syndicate.core.model import TargetSettings
from syndicate.deliver.secrets import Secrets
from tests.conftest import AT_ONCE, CONFIG, NOW, Run, Site
from tests.fakes.discord import TOKEN, WEBHOOK_ID, DiscordFake
from tests.fakes.server import serve
from tests.test_daemon import start, stop


@pytest.fixture
def discord() -> Iterator[tuple[DiscordFake, str]]:
    fake = DiscordFake(limit=50)
    with serve(fake) as base:
        yield fake, f"{base}/api/webhooks/{WEBHOOK_ID}/{TOKEN}"


def configure(site: Site, extra: str = "") -> None:
    site.config(
        CONFIG
        + AT_ONCE
        + f"""
[[targets]]
name = "chat"
kind = "discord"
url_env = "DISCORD_WEBHOOK_URL"
timeout = 2
{extra}
"""
    )


def cli(site: Site, *args: str, env: dict[str, str] | None = None) -> Run:
    """The command line, in this process (a fresh process per command costs a second each)."""
    now = ["--now", NOW.isoformat()] if args[0] in ("publish", "check") else []
    result = CliRunner().invoke(main, [args[0], "--site", str(site.root), *now, *args[1:]], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def publish(site: Site, url: str, *args: str) -> tuple[int, str]:
    run = cli(site, "publish", *args, env={"DISCORD_WEBHOOK_URL": url})
    assert "Traceback" not in run.err, run.err
    assert TOKEN not in run.out + run.err, "the webhook's token is a secret"
    return run.code, run.out + run.err


def write_post(site: Site, name: str = "hello", title: str = "Hello, Discord", **fields: str) -> None:
    extra = "".join(f"{k}: {v}\n" for k, v in fields.items())
    site.post(f"{name}.md", f"---\ntitle: {title}\ndate: 2024-06-01\nsummary: A short summary.\n{extra}---\nBody.\n")


def no_secret_anywhere(site: Site) -> None:
    for path in [*site.root.rglob("*")]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_a_post_is_sent_edited_in_place_and_deleted_and_sent_again_once_when_it_comes_back(
    site: Site, discord: tuple[DiscordFake, str]
) -> None:
    fake, url = discord
    configure(site)
    publish(site, url)  # the first run: baseline
    write_post(site, thumb="https://img.example.com/pic.png", thumb_alt="A picture")
    code, out = publish(site, url)
    assert code == 0 and "sent    chat  post.published" in out, out
    [(message_id, message)] = fake.messages.items()
    assert message["content"] == "<https://example.com/blog/hello/>"
    [embed] = message["embeds"]
    assert embed["title"] == "Hello, Discord" and embed["url"] == "https://example.com/blog/hello/"
    assert embed["description"] == "A short summary." and embed["image"] == {"url": "https://img.example.com/pic.png"}
    assert message["allowed_mentions"] == {"parse": []}, "nobody is pinged by a post"
    method, path, _ = fake.requests[-1]
    assert (method, path) == ("POST", f"/api/webhooks/{WEBHOOK_ID}/{TOKEN}?wait=true")

    write_post(site, title="Hello again, Discord", thumb="https://img.example.com/pic.png")
    code, out = publish(site, url)
    assert code == 0 and "sent    chat  post.updated" in out and "message edited" in out, out
    assert list(fake.messages) == [message_id], "edited in place, never posted again"
    assert fake.messages[message_id]["embeds"][0]["title"] == "Hello again, Discord"
    assert fake.requests[-1][:2] == ("PATCH", f"/api/webhooks/{WEBHOOK_ID}/{TOKEN}/messages/{message_id}")

    (site.content / "hello.md").unlink()
    code, out = publish(site, url)
    assert code == 0 and "sent    chat  post.deleted" in out and "message deleted" in out, out
    assert fake.messages == {} and fake.deleted == [message_id]

    write_post(site, title="Back again")
    code, out = publish(site, url)
    assert code == 0 and "sent    chat  post.published" in out, out
    assert [m["embeds"][0]["title"] for m in fake.messages.values()] == ["Back again"]
    assert publish(site, url)[0] == 0 and len(fake.messages) == 1, "once"
    no_secret_anywhere(site)


def test_a_message_deleted_by_hand_is_not_posted_again_by_an_edit_and_its_deletion_is_done(
    site: Site, discord: tuple[DiscordFake, str]
) -> None:
    fake, url = discord
    configure(site)
    publish(site, url)
    write_post(site)
    publish(site, url)
    fake.messages.clear()  # deleted in Discord by hand
    write_post(site, title="Edited")
    code, out = publish(site, url)
    assert code == 4 and "dead    chat  post.updated" in out and "gone from the channel" in out, out
    assert fake.messages == {}
    (site.content / "hello.md").unlink()
    code, out = publish(site, url)
    assert code == 0 and "already deleted in the channel" in out, out  # 404 code 10008: gone is done


def test_the_dry_run_shows_the_exact_request_without_the_token(site: Site, discord: tuple[DiscordFake, str]) -> None:
    fake, url = discord
    configure(site)
    write_post(site, thumb="https://img.example.com/pic.png")
    code, out = publish(site, url, "--dry-run", "--backfill")
    assert code == 0, out
    block = out.split("--- chat  post.published  https://example.com/blog/hello/\n", 1)[1]
    first, rest = block.split("\n", 1)
    shown = url.rsplit("/", 1)[0] + "/***"
    assert first == f"POST {shown}?wait=true  (33/2000 characters)", first
    body = json.loads(rest.split("\n}\n", 1)[0] + "\n}")
    assert body == {
        "allowed_mentions": {"parse": []},
        "content": "<https://example.com/blog/hello/>",
        "embeds": [
            {
                "description": "A short summary.",
                "image": {"url": "https://img.example.com/pic.png"},
                "title": "Hello, Discord",
                "url": "https://example.com/blog/hello/",
            }
        ],
    }
    assert fake.requests == [], "a dry run sends nothing"


def test_a_short_rate_limit_is_waited_out_and_counts_no_failure(site: Site, discord: tuple[DiscordFake, str]) -> None:
    fake, url = discord
    configure(site)
    publish(site, url)
    write_post(site)
    fake.rate_limit_next(0.3)
    code, out = publish(site, url)
    assert code == 0 and "sent    chat" in out, out
    assert [m for m, _p, _b in fake.requests] == ["POST", "POST"] and len(fake.messages) == 1
    status = cli(site, "status").out
    assert "chat" in status and " sent " in status and "  1  " in status, status  # one attempt


def test_a_used_up_bucket_is_waited_for_before_the_next_send(site: Site, discord: tuple[DiscordFake, str]) -> None:
    """X-RateLimit-Remaining: 0 → the next request waits Reset-After: the fake's bucket of 2 per
    second never answers 429 to three posts in one run."""
    fake, url = discord
    fake.limit, fake.window = 2, 1.0
    configure(site)
    publish(site, url)
    for n in range(3):
        write_post(site, f"p{n}", f"Post {n}")
    code, out = publish(site, url)
    assert code == 0 and out.count("sent    chat") == 3, out
    assert len(fake.messages) == 3 and [m for m, _p, _b in fake.requests] == ["POST"] * 3


def test_a_long_rate_limit_is_retried_later_and_the_message_exists_once(
    site: Site, discord: tuple[DiscordFake, str]
) -> None:
    fake, url = discord
    configure(site)
    publish(site, url)
    write_post(site)
    write_post(site, "second", "Second")
    fake.rate_limit_next(120.5, is_global=True)
    code, out = publish(site, url)
    assert code == 4 and "failed  chat" in out and "retry after 120.5 s" in out, out
    assert "1 more left for a later run" in out, "the target asked us to wait: its other deliveries wait too"
    assert fake.messages == {}
    assert cli(site, "retry").code == 0
    code, out = publish(site, url)
    assert code == 0 and len(fake.messages) == 2, out


def test_a_send_whose_answer_was_lost_is_held_shown_and_sent_again_only_on_the_users_word(
    site: Site, discord: tuple[DiscordFake, str]
) -> None:
    fake, url = discord
    configure(site)
    publish(site, url)
    write_post(site)
    fake.drop_next()  # carried out, the connection closed before the answer
    code, out = publish(site, url)
    assert code == 4 and "held    chat  post.published" in out and "1 held" in out, out
    assert "check the channel" in out
    assert len(fake.messages) == 1
    status = cli(site, "status").out
    assert (
        "held" in status
        and (
            "held: 'Hello, Discord' on chat: its send's outcome was lost (it may have been posted); check the channel;"
            " `syndicate retry --post https://example.com/blog/hello/ --target chat` sends it again"
            " (or, if it is there, add `--sent MESSAGE_ID` to record it)"
        )
        in status
    ), status
    code, out = publish(site, url)
    assert code == 0 and len(fake.messages) == 1, "never repeated blindly"
    assert cli(site, "retry").out.startswith("0 failed or dead deliveries"), "a bare retry is not the word"
    assert len(fake.messages) == 1
    queued = cli(site, "retry", "--post", "https://example.com/blog/hello/", "--target", "chat")
    assert queued.code == 0 and queued.out.startswith("1 failed or dead delivery due now"), queued
    code, out = publish(site, url)
    assert code == 0 and "sent    chat  post.published" in out, out
    assert len(fake.messages) == 2, "sent again, as the user said (the first one was there)"


def test_a_send_cut_short_by_a_crash_is_held_not_sent_again(site: Site, discord: tuple[DiscordFake, str]) -> None:
    fake, url = discord
    configure(site)
    publish(site, url)
    write_post(site)
    publish(site, url)
    db = sqlite3.connect(site.root / ".syndicate" / "state.db")
    with db:  # as if the process had been killed after the request left
        db.execute("UPDATE attempts SET finished_at = NULL, outcome = NULL")
        db.execute("UPDATE deliveries SET state = 'sending', remote_id = NULL WHERE target = 'chat'")
    db.close()
    code, out = publish(site, url)
    assert code == 4 and "held    chat" in out and "the process stopped while this was being sent" in out, out
    assert len(fake.messages) == 1 and [m for m, _p, _b in fake.requests] == ["POST"]


def test_a_post_removed_while_its_send_is_held_says_its_copy_cannot_be_found(
    site: Site, discord: tuple[DiscordFake, str]
) -> None:
    fake, url = discord
    configure(site)
    publish(site, url)
    write_post(site)
    fake.drop_next()
    publish(site, url)
    (site.content / "hello.md").unlink()
    code, out = publish(site, url)
    assert code == 4 and "dead    chat  post.deleted" in out and "delete it by hand if it is there" in out, out
    status = cli(site, "status").out
    assert "held:" not in status, "the held send was skipped: it will never go out now"


TOO_LONG = "Must be 2000 or fewer in length."


def test_the_fake_refuses_what_discord_refuses(discord: tuple[DiscordFake, str]) -> None:
    _fake, url = discord
    r = requests.post(url + "?wait=true", json={"content": "x" * 2001}, timeout=5)
    assert r.status_code == 400 and r.json() == {
        "code": 50035,
        "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": TOO_LONG}]}},
        "message": "Invalid Form Body",
    }
    assert requests.post(url, json={"content": ""}, timeout=5).json()["code"] == 50006
    assert requests.post(url, json={"content": "hi"}, timeout=5).status_code == 204, "no wait: no message back"
    assert requests.delete(url + "/messages/1", timeout=5).json() == {"message": "Unknown Message", "code": 10008}
    assert requests.post(url.replace(TOKEN, "wrong"), json={"content": "x"}, timeout=5).status_code == 401


def test_a_very_long_text_of_the_posts_own_is_fitted_to_2000_characters(
    site: Site, discord: tuple[DiscordFake, str]
) -> None:
    fake, url = discord
    configure(site)
    publish(site, url)
    words = " ".join(f"word{i}" for i in range(600))
    own = 'syndicate:\n  chat: {text: "{summary} {url}"}\n'
    site.post("long.md", f"---\ntitle: Long\ndate: 2024-06-01\nsummary: {words}\n{own}---\nx\n")
    code, out = publish(site, url)
    assert code == 0, out
    [message] = fake.messages.values()
    assert len(message["content"]) <= 2000 and message["content"].endswith("… <https://example.com/blog/long/>")


def test_check_names_a_missing_or_wrong_webhook_url_without_saying_it(site: Site, tmp_path: Path) -> None:
    configure(site)
    write_post(site)
    run = cli(site, "check", env={"DISCORD_WEBHOOK_URL": ""})
    assert "target 'chat': environment variable DISCORD_WEBHOOK_URL (url_env) is not set" in run.err, run.err
    wrong = "https://discord.com/api/channels/12/s3cr3t-t0ken-value"
    run = cli(site, "check", env={"DISCORD_WEBHOOK_URL": wrong})
    assert (
        "warning: target 'chat': environment variable DISCORD_WEBHOOK_URL (url_env) must hold a webhook URL ending in"
        " /webhooks/<id>/<token>"
    ) in run.err, run.err
    assert "s3cr3t" not in run.out + run.err
    code, out = publish(site, wrong, "--backfill")
    assert code == 4 and "chat: target 'chat': environment variable DISCORD_WEBHOOK_URL" in out, out
    assert "s3cr3t" not in out


def test_the_webhook_token_is_masked_even_where_the_whole_url_is_not() -> None:
    """A URL with a query (a thread) shows up in a message with the message's path before it."""
    secrets = Secrets({"U": "https://discord.com/api/webhooks/1/tok3n-tok3n-tok3n?thread_id=5"})
    secrets.get(TargetSettings(name="chat", kind="discord", url_env="U"))
    seen = "DELETE https://discord.com/api/webhooks/1/tok3n-tok3n-tok3n/messages/9?thread_id=5"
    assert secrets.redact(seen) == "DELETE https://discord.com/api/webhooks/1/***/messages/9?thread_id=5"


def test_check_asks_for_no_alt_text_on_discord(site: Site) -> None:
    """An embed has no place for alt text: check does not ask for it for this target."""
    configure(site)
    write_post(site, thumb="https://img.example.com/pic.png")
    run = cli(site, "check", env={"DISCORD_WEBHOOK_URL": f"https://discord.com/api/webhooks/1/{TOKEN}"})
    assert run.code == 0 and "alt text" not in run.err, run.err


def test_the_daemon_says_a_lost_send_once_and_sends_it_on_the_users_word(
    site: Site, discord: tuple[DiscordFake, str]
) -> None:
    fake, url = discord
    configure(site)
    cli(site, "publish", env={"DISCORD_WEBHOOK_URL": url})
    daemon = start(site, env={"DISCORD_WEBHOOK_URL": url})
    try:
        fake.drop_next()
        write_post(site)
        daemon.wait_for(lambda: bool(daemon.events("lost")), what="the lost send")
        [lost] = daemon.events("lost")
        assert lost["message"].startswith("chat post.published https://example.com/blog/hello/ ")
        assert "check the channel" in lost["message"] and len(fake.messages) == 1
        assert cli(site, "retry", "--post", "hello", "--target", "chat").code == 0
        daemon.wait_for(lambda: len(fake.messages) == 2, what="the send the user asked for")
        assert len(daemon.events("lost")) == 1
    finally:
        assert stop(daemon) == 0
    assert all(TOKEN not in line for line in daemon.raw)


def test_the_dry_run_of_an_edit_and_a_deletion_names_the_message_and_its_texts(
    site: Site, discord: tuple[DiscordFake, str]
) -> None:
    fake, url = discord
    configure(site, 'template = "{title} {url}"')
    publish(site, url)
    write_post(site)
    publish(site, url)
    [message_id] = fake.messages
    shown = url.rsplit("/", 1)[0] + "/***"
    write_post(site, title="Edited")
    code, out = publish(site, url, "--dry-run")
    assert code == 0, out
    assert f"PATCH {shown}/messages/{message_id}\nold:\n  Hello, Discord <https://example.com/blog/hello/>" in out, out
    assert '"content": "Edited <https://example.com/blog/hello/>"' in out
    publish(site, url)
    (site.content / "hello.md").unlink()
    code, out = publish(site, url, "--dry-run")
    assert f"DELETE {shown}/messages/{message_id}\nold:\n  Edited <https://example.com/blog/hello/>" in out, out
    assert list(fake.messages) == [message_id] and [m for m, _p, _b in fake.requests].count("DELETE") == 0


def test_a_held_send_found_in_the_channel_is_recorded_and_then_edited_and_deleted_there(
    site: Site, discord: tuple[DiscordFake, str]
) -> None:
    fake, url = discord
    configure(site)
    publish(site, url)
    write_post(site)
    fake.drop_next()
    publish(site, url)
    [message_id] = fake.messages  # the user finds it in the channel: Copy Message ID
    usage = cli(site, "retry", "--sent", message_id)
    assert usage.code == 2 and "--sent needs --post and --target" in usage.err, usage
    wrong = cli(site, "retry", "--post", "hello", "--target", "chat", "--sent", "the-link")
    assert wrong.code == 2 and "--sent takes the message's id, a number (not 'the-link')" in wrong.err, wrong
    said = cli(site, "retry", "--post", "hello", "--target", "chat", "--sent", message_id)
    assert said.code == 0 and said.out.startswith(
        f"recorded https://example.com/blog/hello/ on chat as sent (message {message_id})"
    )
    assert "held" not in cli(site, "status").out
    again = cli(site, "retry", "--post", "hello", "--target", "chat", "--sent", message_id)
    assert again.code == 2 and "has no held send to chat" in again.err, again
    write_post(site, title="Edited after all")
    code, out = publish(site, url)
    assert code == 0 and "message edited" in out, out
    assert list(fake.messages) == [message_id] and fake.messages[message_id]["embeds"][0]["title"] == "Edited after all"
    (site.content / "hello.md").unlink()
    code, out = publish(site, url)
    assert code == 0 and fake.messages == {}, out
