"""`syndicate publish` to Slack, against a stateful fake of the Web API and incoming webhooks
(tests/peers/slack_fake.py: no Slack server runs here), through the real command line."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import AT_ONCE, CONFIG, Site
from tests.peers.slack_fake import CHANNEL, OUTSIDE, TOKEN, SlackFake, slack_fake

POST = "---\ntitle: Hello, Slack & friends\ndate: 2024-06-01\nsummary: A first message <b>here</b>.\n---\nBody.\n"
URL = "https://example.com/blog/hello/"


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    with slack_fake() as fake:
        yield fake


def configure(site: Site, fake: SlackFake, extra: str = "", *, hook: bool = False, channel: str = CHANNEL) -> None:
    how = 'url_env = "SLACK_WEBHOOK_URL"' if hook else f'channel = "{channel}"\ntoken_env = "SLACK_BOT_TOKEN"'
    site.config(
        CONFIG
        + AT_ONCE
        + f"""
[[targets]]
name = "team"
kind = "slack"
{how}
api = "{fake.api}"
timeout = 5
{extra}
"""
    )


def publish(site: Site, fake: SlackFake, *args: str, token: str = TOKEN) -> tuple[int, str]:
    run = site.run("publish", *args, env={"SLACK_BOT_TOKEN": token, "SLACK_WEBHOOK_URL": fake.hook_url})
    assert "Traceback" not in run.err, run.err
    return run.code, run.out + run.err


def retry_now(site: Site, fake: SlackFake) -> tuple[int, str]:
    queued = site.run("retry")
    assert queued.code == 0 and "due now" in queued.out, queued
    return publish(site, fake)


def section(message_blocks: list[dict[str, object]]) -> str:
    block = message_blocks[0]
    assert block["type"] == "section"
    text = block["text"]
    assert isinstance(text, dict)
    return str(text["text"])


def test_the_whole_life_of_a_post_one_message_edited_then_deleted(site: Site, slack: SlackFake) -> None:
    configure(site, slack)
    assert publish(site, slack)[0] == 0  # baseline: nothing yet
    site.post("hello.md", POST)
    shown = dry_run_request(site, slack)
    code, out = publish(site, slack)
    assert code == 0 and "sent    team" in out and "message posted" in out, out
    [call] = slack.posts()
    assert call.params == shown  # what the dry run showed is what was sent
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    [message] = slack.messages()
    assert section(message.blocks) == message.text  # the fallback is the block's text
    assert message.text.startswith("Hello, Slack &amp; friends\n\nA first message") and URL in message.text
    assert message.metadata is not None and message.metadata["event_type"] == "syndicate_post"
    first = message.ts

    site.post("hello.md", POST.replace("Hello, Slack & friends", "Hello again"))
    code, out = publish(site, slack)
    assert code == 0 and "message edited" in out, out
    [message] = slack.messages()
    assert message.ts == first and message.edited and message.text.startswith("Hello again")

    (site.content / "hello.md").unlink()
    code, out = publish(site, slack)
    assert code == 0 and "message deleted" in out, out
    assert slack.messages() == []

    site.post("hello.md", POST)  # back after its deletion: a new message, once
    assert publish(site, slack)[0] == 0
    assert publish(site, slack)[0] == 0
    assert len(slack.messages()) == 1 and len(slack.posts()) == 2


def test_a_message_deleted_by_hand_is_no_failure_to_delete_and_never_posted_again_by_an_edit(
    site: Site, slack: SlackFake
) -> None:
    configure(site, slack)
    publish(site, slack)
    site.post("hello.md", POST)
    publish(site, slack)
    slack.channels[CHANNEL].clear()  # someone deleted it in Slack
    site.post("hello.md", POST.replace("Hello, Slack", "Edited"))
    code, out = publish(site, slack)
    assert code == 4 and "dead    team" in out and "is gone from the channel" in out, out
    (site.content / "hello.md").unlink()
    code, out = publish(site, slack)
    assert code == 0 and "already deleted in the channel" in out, out
    assert slack.messages() == [] and len(slack.posts()) == 1


def test_a_lost_answer_is_found_in_the_channel_history_and_never_sent_twice(site: Site, slack: SlackFake) -> None:
    """The fake carries out chat.postMessage and drops the connection: the outcome is unknown. The
    retry looks through the history since that attempt for the delivery id in the metadata."""
    configure(site, slack)
    publish(site, slack)
    site.post("hello.md", POST)
    slack.drop_next()
    code, out = publish(site, slack)
    assert code == 4 and "failed  team" in out and "connection was lost" in out, out
    assert len(slack.messages()) == 1
    code, out = retry_now(site, slack)
    assert code == 0 and "already posted (found in the channel)" in out, out
    assert len(slack.messages()) == 1 and len(slack.posts()) == 1
    [history] = [c for c in slack.calls if c.method == "conversations.history"]
    assert history.params["include_all_metadata"] == "true" and float(history.params["oldest"]) > 0
    # the ts found is the ledger's: an edit now edits that message
    site.post("hello.md", POST.replace("Hello, Slack", "Later"))
    code, out = publish(site, slack)
    assert code == 0 and "message edited" in out, out
    assert [m.text.split("\n")[0] for m in slack.messages()] == ["Later &amp; friends"]


def test_a_process_killed_mid_request_is_reconciled_by_the_history(site: Site, slack: SlackFake) -> None:
    configure(site, slack)
    publish(site, slack)
    site.post("hello.md", POST)
    publish(site, slack)
    db = sqlite3.connect(site.root / ".syndicate" / "state.db")
    with db:  # as if the process had died before the answer was recorded (the message was made)
        db.execute("UPDATE attempts SET finished_at = NULL, outcome = NULL")
        db.execute("UPDATE deliveries SET state = 'sending', remote_id = NULL WHERE target = 'team'")
    db.close()
    code, out = publish(site, slack)
    assert code == 0 and "already posted" in out, out
    assert len(slack.messages()) == 1 and len(slack.posts()) == 1


def test_a_rate_limit_is_waited_out_as_slack_says_and_counts_no_failure(site: Site, slack: SlackFake) -> None:
    configure(site, slack)
    site.config((site.root / "config" / "syndicate.toml").read_text() + "\n[delivery]\nmax_attempts = 1\n")
    site.config((site.root / "config" / "syndicate.toml").read_text().replace(AT_ONCE, "\n"))
    publish(site, slack)
    site.post("hello.md", POST)
    site.post("two.md", POST.replace("Hello", "Two"))
    slack.rate_limit_next(1, retry_after=120)
    code, out = publish(site, slack)
    assert "failed  team" in out and "rate limited by Slack (HTTP 429)" in out, out
    assert "dead    team" not in out and "0 dead" in out  # one attempt allowed; a rate limit uses up none
    assert "team: 1 more left for a later run" in out, "the other delivery waits instead of meeting the 429"
    db = sqlite3.connect(site.root / ".syndicate" / "state.db")
    [(wait,)] = db.execute(
        "SELECT (julianday(next_attempt_at) - julianday(updated_at)) * 86400 FROM deliveries WHERE state='failed'"
    ).fetchall()
    db.close()
    assert wait >= 119
    code, out = retry_now(site, slack)
    assert code == 0 and len(slack.messages()) == 2 and len(slack.posts()) == 3, out


def dry_run_request(site: Site, slack: SlackFake) -> dict[str, object]:
    """The JSON body `publish --dry-run` shows for the new post (checking the lines above it)."""
    code, out = publish(site, slack, "--dry-run")
    assert code == 0 and slack.posts() == [], out
    block = out.split(f"--- team  post.published  {URL}\n", 1)[1]
    head, body = block.split("\n{", 1)
    assert head == f"POST {slack.api}/chat.postMessage\nauthorization: Bearer (the token in SLACK_BOT_TOKEN)"
    assert TOKEN not in out
    shown: dict[str, object] = json.loads("{" + body.rsplit("\n}", 1)[0] + "\n}")
    return shown


def test_an_image_goes_as_an_image_block_a_long_post_is_fitted_and_a_post_has_its_own_words(
    site: Site, slack: SlackFake
) -> None:
    configure(site, slack)
    publish(site, slack)
    site.post("pic.md", POST + '\n![A red door](https://img.example.net/door.jpg "x")\n')
    site.post("noalt.md", POST.replace("Hello", "Bare") + "\n![](https://img.example.net/bare.jpg)\n")
    summary = " ".join(f"w{i}&" for i in range(2000))
    site.post("long.md", f'---\ntitle: Long\ndate: 2024-06-01\nsummary: "{summary}"\n---\nx\n')
    site.post("own.md", '---\ntitle: Own\ndate: 2024-06-01\nsyndicate: {team: {text: "My own words {url}"}}\n---\nx\n')
    code, out = publish(site, slack)
    assert code == 0 and "Traceback" not in out, out
    assert "My own words https://example.com/blog/own/" in [m.text for m in slack.messages()]
    by_title = {m.text.split("\n")[0]: m for m in slack.messages()}
    assert by_title["Hello, Slack &amp; friends"].blocks[1] == {
        "type": "image",
        "image_url": "https://img.example.net/door.jpg",
        "alt_text": "A red door",
    }
    assert len(by_title["Bare, Slack &amp; friends"].blocks) == 1  # no alt text: no image made up
    long = by_title["Long"].text  # fitted to a section block's 3,000 characters, escaped
    assert len(long) <= 3000 and long.endswith("https://example.com/blog/long/") and "…" in long


def test_what_slack_refuses_is_dead_with_what_to_do_and_no_secret_anywhere(site: Site, slack: SlackFake) -> None:
    wrong = "xoxb-wrong-token-123456"
    targets = [
        ("bad", CHANNEL, "WRONG_TOKEN"),
        ("outside", OUTSIDE, "SLACK_BOT_TOKEN"),
        ("nowhere", "C0999999999", "SLACK_BOT_TOKEN"),
    ]
    site.config(
        CONFIG
        + "".join(
            f'\n[[targets]]\nname = "{name}"\nkind = "slack"\nchannel = "{channel}"\ntoken_env = "{env}"\n'
            f'api = "{slack.api}"\n'
            for name, channel, env in targets
        )
    )
    env = {"SLACK_BOT_TOKEN": TOKEN, "WRONG_TOKEN": wrong}
    site.run("publish", env=env)
    site.post("hello.md", POST)
    run = site.run("publish", env=env)
    out = run.out + run.err
    status = site.run("status").out
    for name, said in (
        ("bad", "invalid_auth: Slack refused the token; check token_env"),
        ("outside", "not_in_channel: the app is not in C0NOTMEMBER; invite it there"),
        ("nowhere", "channel_not_found: no channel C0999999999 that the app can see"),
    ):
        assert f"dead    {name}  post.published  {URL}  {said}" in out and said in status, out
    state = (site.root / ".syndicate" / "state.db").read_bytes()
    for secret in (wrong, TOKEN):
        assert secret not in out and secret not in status and secret.encode() not in state


def test_a_token_that_is_no_bot_token_is_a_setup_error_naming_the_variable(site: Site, slack: SlackFake) -> None:
    configure(site, slack)
    check = site.run("check", env={"SLACK_BOT_TOKEN": "xapp-1-not-a-bot-token"})
    assert "warning: target 'team': SLACK_BOT_TOKEN (token_env) must hold a bot token (xoxb-…)" in check.err, check
    assert "xapp-1-not-a-bot-token" not in check.err + check.out
    publish(site, slack)
    site.post("hello.md", POST)
    _, out = publish(site, slack, token="not-a-token-at-all")
    assert "SLACK_BOT_TOKEN (token_env) must hold a bot token (xoxb-…)" in out, out
    assert "not-a-token-at-all" not in out and slack.calls == []


def test_an_incoming_webhook_sends_and_says_it_cannot_edit_or_delete(site: Site, slack: SlackFake) -> None:
    configure(site, slack, hook=True)
    check = site.run("check", env={"SLACK_WEBHOOK_URL": slack.hook_url})
    assert check.code == 0 and "target 'team' is an incoming webhook: it can only send" in check.err, check
    publish(site, slack)
    site.post("hello.md", POST)
    code, out = publish(site, slack, "--dry-run")
    assert "POST (the incoming webhook in SLACK_WEBHOOK_URL)" in out and slack.hook_url not in out, out
    code, out = publish(site, slack)
    assert code == 0 and "message posted (incoming webhook)" in out, out
    [message] = slack.messages()
    assert URL in message.text
    site.post("hello.md", POST.replace("Hello", "Edited"))
    (site.content / "other.md").write_text(POST.replace("Hello", "Other"))
    (site.content / "other.md").unlink()
    code, out = publish(site, slack)
    assert code == 0 and len(slack.posts()) == 1, out  # an edit is not carried over (and never reposted)
    assert slack.hook_url.rsplit("/", 1)[1] not in out + site.run("status").out


def test_an_incoming_webhook_whose_answer_was_lost_waits_for_the_users_word(site: Site, slack: SlackFake) -> None:
    configure(site, slack, hook=True)
    publish(site, slack)
    site.post("hello.md", POST)
    slack.drop_next()
    code, out = publish(site, slack)
    assert code == 4 and "dead    team" in out and "not sent again blindly" in out, out
    assert "the connection was lost before Slack answered (cannot connect to 127.0.0.1:" in out
    assert slack.hook_url.rsplit("/", 1)[1] not in out, "the webhook's path is its secret"
    assert publish(site, slack)[0] == 0 and len(slack.posts()) == 1  # held: nothing sent
    assert "not sent again blindly" in site.run("status").out
    code, out = retry_now(site, slack)  # the user looked, and says: send it
    assert code == 0 and "message posted (incoming webhook)" in out, out
    assert len(slack.posts()) == 2


def test_an_incoming_webhook_that_refuses_is_dead_without_its_url(site: Site, slack: SlackFake) -> None:
    configure(site, slack, hook=True)
    run = site.run("publish", env={"SLACK_WEBHOOK_URL": slack.base_url + "/services/T0FAKE/B0FAKE/wrongsecret99"})
    site.post("hello.md", POST)
    run = site.run("publish", env={"SLACK_WEBHOOK_URL": slack.base_url + "/services/T0FAKE/B0FAKE/wrongsecret99"})
    out = run.out + run.err
    assert run.code == 4 and "invalid_token: Slack refused the url; check url_env" in out, out
    assert "wrongsecret99" not in out


def test_the_fake_refuses_what_slack_refuses(slack: SlackFake) -> None:
    """The fake is only worth what it refuses: each refusal of the reference, asked directly."""

    def call(method: str, body: dict[str, object], token: str | None = TOKEN) -> tuple[int, dict[str, object]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = requests.post(f"{slack.api}/{method}", json=body, headers=headers, timeout=5)
        return r.status_code, r.json()

    assert call("chat.postMessage", {"channel": CHANNEL, "text": "x"}, token=None)[1]["error"] == "not_authed"
    assert call("chat.postMessage", {"channel": CHANNEL, "text": "x"}, token="xoxb-no")[1]["error"] == "invalid_auth"
    assert call("chat.postMessage", {"channel": CHANNEL})[1]["error"] == "no_text"
    assert call("chat.postMessage", {"channel": CHANNEL, "text": "x" * 40_001}) == (
        200,
        {"ok": False, "error": "msg_too_long"},
    )
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    assert call("chat.postMessage", {"channel": CHANNEL, "blocks": [section]})[1]["error"] == "invalid_blocks"
    image = {"type": "image", "image_url": "https://a.example/i.png"}
    assert (
        call("chat.postMessage", {"channel": CHANNEL, "text": "x", "blocks": [image]})[1]["error"] == "invalid_blocks"
    )
    assert call("chat.delete", {"channel": CHANNEL, "ts": "1.000001"})[1]["error"] == "message_not_found"
    assert call("chat.update", {"channel": CHANNEL, "ts": "1.000001", "text": "y"})[1]["error"] == "message_not_found"
    status, made = call("chat.postMessage", {"channel": CHANNEL, "text": "x"})
    assert status == 200 and made["ok"] is True and isinstance(made["ts"], str)
    slack.rate_limit_next(1, retry_after=7)
    r = requests.post(f"{slack.api}/chat.postMessage", json={"channel": CHANNEL, "text": "x"}, timeout=5)
    assert r.status_code == 429 and r.headers["Retry-After"] == "7" and r.json()["error"] == "ratelimited"
    history = requests.get(
        f"{slack.api}/conversations.history",
        params={"channel": CHANNEL, "oldest": made["ts"]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    ).json()
    assert history["ok"] is True and history["messages"] == [], "oldest is exclusive"
