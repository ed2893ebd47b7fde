"""`syndicate publish` to a Telegram chat, against a stateful fake of the Bot API (tests/fakes):
text and photo messages, edits ("not modified" is done), deletions inside and past the 48-hour
window, HTML escaping, rate limits, a lost outcome held for the user's word, check, and the bot
token nowhere."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from syndicate.cli.all_commands import main
from syndicate.core.model import TargetSettings
from syndicate.deliver.secrets import Secrets
from tests.conftest import AT_ONCE, CONFIG, NOW, Run, Site
from tests.fakes.server import serve
from tests.fakes.telegram import CHAT, TOKEN, TelegramFake


@pytest.fixture
def telegram() -> Iterator[tuple[TelegramFake, str]]:
    fake = TelegramFake()
    with serve(fake) as base:
        yield fake, base


def configure(site: Site, api: str, extra: str = "", chat: str = CHAT) -> None:
    site.config(
        CONFIG
        + AT_ONCE
        + f"""
[[targets]]
name = "tg"
kind = "telegram"
chat = "{chat}"
token_env = "TELEGRAM_BOT_TOKEN"
api = "{api}"
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
    run = Run(result.exit_code, result.stdout, result.stderr)
    assert TOKEN not in run.out + run.err and TOKEN.split(":")[1] not in run.out + run.err, "the token is a secret"
    return run


def publish(site: Site, *args: str, token: str = TOKEN) -> tuple[int, str]:
    run = cli(site, "publish", *args, env={"TELEGRAM_BOT_TOKEN": token})
    return run.code, run.out + run.err


def write_post(site: Site, name: str = "hello", title: str = "Hello, Telegram", **fields: str) -> None:
    extra = "".join(f"{k}: {v}\n" for k, v in fields.items())
    fields.setdefault("summary", "A short summary.")
    site.post(f"{name}.md", f"---\ntitle: {title}\ndate: 2024-06-01\nsummary: {fields['summary']}\n{extra}---\nBody.\n")


def test_a_text_message_is_sent_edited_deleted_and_sent_again_once(
    site: Site, telegram: tuple[TelegramFake, str]
) -> None:
    fake, api = telegram
    configure(site, api)
    publish(site)
    write_post(site, title="Fish & <chips>", tags="[food]")
    code, out = publish(site)
    assert code == 0 and "sent    tg  post.published" in out and "https://t.me/syndicate_test/100" in out, out
    method, sent = fake.requests[-1]
    assert method == "sendMessage" and sent["parse_mode"] == "HTML"
    assert sent["text"].startswith("Fish &amp; &lt;chips&gt;\n\nA short summary."), sent["text"]
    assert sent["link_preview_options"] == {"url": "https://example.com/blog/hello/"}
    [message] = fake.messages.values()
    assert message["text"] == "Fish & <chips>\n\nA short summary.\n\nhttps://example.com/blog/hello/\n\n#food"

    write_post(site, title="Fish and chips", tags="[food]")
    code, out = publish(site)
    assert code == 0 and "message edited" in out, out
    assert list(fake.messages) == [100] and fake.messages[100]["text"].startswith("Fish and chips\n")

    (site.content / "hello.md").unlink()
    code, out = publish(site)
    assert code == 0 and "message deleted" in out and fake.messages == {} and fake.deleted == [100], out

    write_post(site, title="Back")
    code, out = publish(site)
    assert code == 0 and [m["text"].split("\n")[0] for m in fake.messages.values()] == ["Back"], out
    assert publish(site)[0] == 0 and len(fake.messages) == 1, "once"
    for path in site.root.rglob("*"):
        if path.is_file():
            assert TOKEN.split(":")[1].encode() not in path.read_bytes(), path


def test_a_post_with_an_image_is_a_photo_its_caption_edited_and_not_modified_is_done(
    site: Site, telegram: tuple[TelegramFake, str]
) -> None:
    fake, api = telegram
    configure(site, api, 'template = "{title} {url}"')
    publish(site)
    write_post(site, thumb="https://img.example.com/pic.png")
    code, out = publish(site)
    assert code == 0, out
    [message] = fake.messages.values()
    assert message["photo_url"] == "https://img.example.com/pic.png"
    assert message["caption"] == "Hello, Telegram https://example.com/blog/hello/"
    write_post(site, title="Hello again", thumb="https://img.example.com/pic.png")
    code, out = publish(site)
    assert code == 0 and "message edited" in out, out
    assert [m for m, _ in fake.requests[-2:]] == ["editMessageText", "editMessageCaption"]
    assert message["caption"] == "Hello again https://example.com/blog/hello/"
    # the summary changed, which this template does not show: the same caption, "not modified"
    write_post(site, title="Hello again", thumb="https://img.example.com/pic.png", summary="Another summary.")
    code, out = publish(site)
    assert code == 0 and "message already shows this text" in out, out
    assert len(fake.messages) == 1


def test_a_text_too_long_for_a_caption_goes_as_a_message_with_its_link_preview(
    site: Site, telegram: tuple[TelegramFake, str]
) -> None:
    fake, api = telegram
    configure(site, api)
    publish(site)
    write_post(site, thumb="https://img.example.com/pic.png", summary=" ".join(["words"] * 300))
    code, out = publish(site)
    assert code == 0, out
    method, sent = fake.requests[-1]
    assert method == "sendMessage" and len(sent["text"]) > 1024
    assert sent["link_preview_options"] == {"url": "https://example.com/blog/hello/"}


def test_a_message_older_than_48_hours_stays_and_says_so_once(site: Site, telegram: tuple[TelegramFake, str]) -> None:
    fake, api = telegram
    configure(site, api)
    publish(site)
    write_post(site)
    publish(site)
    fake.advance(49 * 3600)
    (site.content / "hello.md").unlink()
    code, out = publish(site)
    assert code == 4 and "dead    tg  post.deleted" in out, out
    assert "a bot deletes only messages of the last 48 hours" in out and "delete it by hand" in out, out
    assert len(fake.messages) == 1
    asked = len(fake.requests)
    assert publish(site)[0] == 0 and len(fake.requests) == asked, "never asked again by itself"
    status = cli(site, "status").out
    assert "dead" in status and "48 hours" in status, status


def test_rate_limits_short_waited_out_long_retried_later(site: Site, telegram: tuple[TelegramFake, str]) -> None:
    fake, api = telegram
    configure(site, api)
    publish(site)
    write_post(site)
    fake.rate_limit_next(1)
    code, out = publish(site)
    assert code == 0 and [m for m, _ in fake.requests] == ["sendMessage", "sendMessage"], out
    write_post(site, "second", "Second")
    fake.rate_limit_next(90)
    code, out = publish(site)
    assert code == 4 and "failed  tg" in out and "retry after 90 s" in out, out
    assert cli(site, "retry").code == 0
    code, out = publish(site)
    assert code == 0 and len(fake.messages) == 2, out


def test_a_lost_answer_is_held_until_the_user_says_to_send_it_again(
    site: Site, telegram: tuple[TelegramFake, str]
) -> None:
    fake, api = telegram
    configure(site, api)
    publish(site)
    write_post(site)
    fake.drop_next()
    code, out = publish(site)
    assert code == 4 and "held    tg  post.published" in out, out
    assert publish(site)[0] == 0 and len(fake.messages) == 1, "never repeated blindly"
    assert (
        "`syndicate retry --post https://example.com/blog/hello/ --target tg` sends it again" in cli(site, "status").out
    )
    assert cli(site, "retry", "--post", "hello", "--target", "tg").out.startswith("1 failed or dead delivery")
    assert publish(site)[0] == 0 and len(fake.messages) == 2


def test_the_dry_run_shows_the_request_and_check_names_what_is_wrong(
    site: Site, telegram: tuple[TelegramFake, str]
) -> None:
    fake, api = telegram
    configure(site, api)
    write_post(site)
    code, out = publish(site, "--dry-run", "--backfill")
    assert code == 0, out
    block = out.split("--- tg  post.published  https://example.com/blog/hello/\n", 1)[1]
    first, rest = block.split("\n", 1)
    assert first == f"POST {api}/bot***/sendMessage  (66/4096 characters)", first
    assert json.loads(rest.split("\n}\n", 1)[0] + "\n}") == {
        "chat_id": CHAT,
        "link_preview_options": {"url": "https://example.com/blog/hello/"},
        "parse_mode": "HTML",
        "text": "Hello, Telegram\n\nA short summary.\n\nhttps://example.com/blog/hello/",
    }
    assert fake.requests == []
    run = cli(site, "check", env={"TELEGRAM_BOT_TOKEN": "12345"})
    assert "environment variable TELEGRAM_BOT_TOKEN (token_env) must hold the bot's token" in run.err, run.err
    run = cli(site, "check", env={"TELEGRAM_BOT_TOKEN": ""})
    assert "environment variable TELEGRAM_BOT_TOKEN (token_env) is not set" in run.err, run.err
    code, out = publish(site, "--backfill", token="7000000001:AAWrongTokenButWellFormed_abcdefghijkl")
    assert code == 4 and "the bot token was refused; check token_env" in out, out
    assert "AAWrongToken" not in out
    configure(site, api, chat="my channel")
    run = cli(site, "check")
    assert run.code == 2 and "chat 'my channel' must be a channel's @username" in run.err, run.err
    configure(site, api, chat="@someone_else")
    assert cli(site, "retry").code == 0
    code, out = publish(site)
    assert code == 4 and "chat not found: is the bot in chat @someone_else" in out, out


def test_the_tokens_secret_part_is_masked_on_its_own_too() -> None:
    secrets = Secrets({"T": TOKEN})
    secrets.get(TargetSettings(name="tg", kind="telegram", chat=CHAT, token_env="T"))
    secret = TOKEN.split(":")[1]
    assert secrets.redact(f"bot{TOKEN}/sendMessage and {secret} alone") == "bot***/sendMessage and *** alone"


def test_a_posts_own_words_for_the_chat_are_sent_escaped(site: Site, telegram: tuple[TelegramFake, str]) -> None:
    fake, api = telegram
    configure(site, api)
    publish(site)
    site.post(
        "own.md",
        '---\ntitle: Not shown\ndate: 2024-06-01\nsyndicate:\n  tg: {text: "<b>not bold</b> & {url}"}\n---\nx\n',
    )
    code, out = publish(site)
    assert code == 0, out
    assert fake.requests[-1][1]["text"] == "&lt;b&gt;not bold&lt;/b&gt; &amp; https://example.com/blog/own/"
    [message] = fake.messages.values()
    assert message["text"] == "<b>not bold</b> & https://example.com/blog/own/"
