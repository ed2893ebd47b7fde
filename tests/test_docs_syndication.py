"""The code on the Syndication pages (docs/syndication/) is what runs.

A fenced block preceded by ``<!-- checked: tests/test_docs_syndication.py -->`` is checked here:

- the webhook receivers of webhook.md (Python with the ``standardwebhooks`` PyPI package,
  JavaScript with the npm one) are docs/examples/webhook/receiver.py and receiver.mjs byte for
  byte, and each, started on 127.0.0.1, verifies the real deliveries syndicate makes to it
  (``post.published``, ``post.updated``, ``post.deleted``), acts once per ``webhook-id`` and
  refuses a forged or a stale request;
- the payload shown is what syndicate sends for the post shown above it;
- the secret recipe makes a secret that syndicate and the library accept;
- every TOML block, added to the sample site's config, passes ``syndicate check``.

And each target kind's page names every key its ``[[targets]]`` table takes, the Mastodon
page every scope the code needs, the pages every ``[delivery]`` key.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest

from syndicate.config import _KIND_KEYS
from syndicate.core.model import DeliverySettings
from syndicate.deliver.channels.mastodon import SCOPES
from syndicate.deliver.channels.webhook import decode_secret, sign
from tests.conftest import REPO, Site
from tests.docblocks import Block, checked_blocks
from tests.httpd import recorder
from tests.peers.fixtures import free_port, http_request, in_ci, new_webhook_secret, require_modules, run_peer

PAGES = REPO / "docs" / "syndication"
TEST = "test_docs_syndication.py"
EXAMPLES = REPO / "docs" / "examples" / "webhook"
TARGET = """
[delivery]
delete_after = 0

[[targets]]
name = "newsletter"
kind = "webhook"
url = "{url}"
secret_env = "NEWSLETTER_WEBHOOK_SECRET"
events = ["post.published", "post.updated", "post.deleted"]
"""


def block(page: str, lang: str, title: str = "") -> Block:
    [found] = [b for b in checked_blocks(PAGES / page, TEST) if b.lang == lang and (not title or b.title == title)]
    return found


def test_the_pages_check_their_blocks() -> None:
    kinds = sorted((b.page, b.lang) for b in checked_blocks(PAGES / "webhook.md", TEST))
    assert kinds == [("webhook.md", x) for x in ("js", "json", "markdown", "python", "sh", "toml")], kinds


def test_the_receivers_on_the_page_are_the_files_in_the_repository() -> None:
    for lang, name in (("python", "receiver.py"), ("js", "receiver.mjs")):
        shown = block("webhook.md", lang, name).text
        assert shown == (EXAMPLES / name).read_text(encoding="utf-8"), (
            f"webhook.md's {name} differs from {EXAMPLES / name}"
        )


def test_the_secret_recipe_makes_a_secret_both_sides_accept() -> None:
    from standardwebhooks import Webhook

    done = subprocess.run(["bash", "-c", block("webhook.md", "sh").text], capture_output=True, text=True, check=True)
    secret = done.stdout.strip()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+={0,2}", secret), secret
    assert len(decode_secret(secret, "newsletter")) == 32
    Webhook(secret).verify(b"{}", signed(secret, "msg_x", int(time.time()), b"{}"))


def signed(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    key = decode_secret(secret, "test")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, msg_id, timestamp, body),
        "content-type": "application/json",
    }


def ships(site: Site) -> Path:
    """The post the webhook page shows, written where its block's title says."""
    shown = block("webhook.md", "markdown")
    path = site.root / shown.title
    path.write_text(shown.text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "toml", [b for p in sorted(PAGES.glob("*.md")) for b in checked_blocks(p, TEST) if b.lang == "toml"]
)
def test_every_config_block_passes_check(sample_site: Site, toml: Block) -> None:
    config = sample_site.root / "config" / "syndicate.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + toml.text, encoding="utf-8")
    run = sample_site.run("check")
    assert run.code == 0 and "\nok: " in "\n" + run.out, (toml.page, run.out + run.err)


def test_the_payload_on_the_page_is_what_syndicate_sends(sample_site: Site) -> None:
    secret = new_webhook_secret()
    env = {"NEWSLETTER_WEBHOOK_SECRET": secret}
    with recorder() as rec:
        config = sample_site.root / "config" / "syndicate.toml"
        config.write_text(config.read_text(encoding="utf-8") + TARGET.format(url=rec.url + "/hooks"), encoding="utf-8")
        assert sample_site.run("publish", env=env).code == 0
        ships(sample_site)
        run = sample_site.run("publish", env=env)
        assert (
            run.code == 0 and "sent    newsletter  post.published  https://example.com/blog/syndicate-ships/" in run.out
        )
    [request] = rec.requests
    from standardwebhooks import Webhook

    Webhook(secret).verify(request.body, request.headers)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "syndicate-webhooks/1"
    got = json.loads(request.body)
    shown = json.loads(block("webhook.md", "json").text)
    assert got == {**shown, "timestamp": got["timestamp"]}


# ---------------------------------------------------------------------------- the receivers


def receiver_argv(kind: str) -> list[str]:
    """How to start a receiver of the page; skipped (failed under CI=true) when its library is missing."""
    if kind == "python":
        require_modules("the Python receiver of webhook.md", "standardwebhooks")
        return [sys.executable, str(EXAMPLES / "receiver.py")]
    node = shutil.which("node")
    if node is None or not (EXAMPLES / "node_modules" / "standardwebhooks" / "package.json").is_file():
        why = "the JavaScript receiver of webhook.md needs node, and `npm ci` in docs/examples/webhook (scripts/test)"
        if in_ci():
            pytest.fail(f"CI=true: {why}", pytrace=False)
        pytest.skip(why)
    return [node, str(EXAMPLES / "receiver.mjs")]


def printed(log: Path, count: int) -> list[str]:
    """The receiver's event lines, once ``count`` of them came (or after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        lines = [line for line in text.splitlines() if line.startswith("post.")]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


@pytest.fixture(params=["python", "javascript"])
def receiver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A receiver of the page running on 127.0.0.1: (its URL, its secret, its output)."""
    argv = receiver_argv(request.param)
    port, secret, log = free_port(), new_webhook_secret(), tmp_path / f"{request.param}.log"
    env = {"PORT": str(port), "NEWSLETTER_WEBHOOK_SECRET": secret}
    with run_peer(f"the {request.param} receiver", argv, port=port, log_path=log, env=env):
        yield f"http://127.0.0.1:{port}/hooks", secret, log


def test_a_receiver_on_the_page_verifies_what_syndicate_sends(
    sample_site: Site, receiver: tuple[str, str, Path]
) -> None:
    url, secret, log = receiver
    env = {"NEWSLETTER_WEBHOOK_SECRET": secret}
    config = sample_site.root / "config" / "syndicate.toml"
    config.write_text(config.read_text(encoding="utf-8") + TARGET.format(url=url), encoding="utf-8")
    assert "4 recorded as baseline" in sample_site.run("publish", env=env).out
    post = ships(sample_site)
    runs = [sample_site.run("publish", env=env)]
    post.write_text(post.read_text(encoding="utf-8").replace('"syndicate ships"', '"syndicate ships, again"'))
    runs.append(sample_site.run("publish", env=env))
    post.unlink()
    runs.append(sample_site.run("publish", env=env))
    for run, event in zip(runs, ("post.published", "post.updated", "post.deleted"), strict=True):
        assert run.code == 0, run.out + run.err
        assert f"sent    newsletter  {event}  https://example.com/blog/syndicate-ships/  HTTP 204" in run.out, run.out
    assert printed(log, 3) == [
        "post.published https://example.com/blog/syndicate-ships/ syndicate ships",
        "post.updated https://example.com/blog/syndicate-ships/ syndicate ships, again",
        "post.deleted https://example.com/blog/syndicate-ships/ syndicate ships, again",
    ]

    body = json.dumps({"type": "post.published", "data": {"url": "https://example.com/x/", "title": "X"}}).encode()
    now = int(time.time())
    forged = signed("whsec_" + base64.b64encode(b"not the secret, not at all").decode(), "msg_1", now, body)
    assert http_request("POST", url, body=body, headers=forged)[0] == 401
    assert http_request("POST", url, body=body, headers=signed(secret, "msg_2", now - 600, body))[0] == 401, "stale"
    assert http_request("POST", url, body=body + b" ", headers=signed(secret, "msg_3", now, body))[0] == 401, "changed"
    assert http_request("POST", url, body=body, headers=signed(secret, "msg_4", now, body))[0] == 204
    assert http_request("POST", url, body=body, headers=signed(secret, "msg_4", now + 1, body))[0] == 204, "a retry"
    lines = printed(log, 5)
    assert lines[3:] == ["post.published https://example.com/x/ X"], "acted on once per webhook-id"


# ---------------------------------------------------------------------------- what the pages name


def test_each_kind_page_names_every_key_of_its_targets() -> None:
    pages = {
        "webhook": "webhook.md",
        "mastodon": "mastodon.md",
        "bluesky": "bluesky.md",
        "discord": "discord.md",
        "telegram": "telegram.md",
        "slack": "slack.md",
        "webmention": "webmention.md",
    }
    assert set(pages) == set(_KIND_KEYS)
    for kind, (required, optional) in _KIND_KEYS.items():
        text = (PAGES / pages[kind]).read_text(encoding="utf-8")
        for key in ("name", "kind", "timeout", *required, *optional):
            assert f"`{key}`" in text, f"{pages[kind]} does not name the key {key}"


def test_the_mastodon_page_names_every_scope_the_code_needs() -> None:
    text = (PAGES / "mastodon.md").read_text(encoding="utf-8")
    for scope in SCOPES:
        assert f"`{scope}`" in text, scope


def test_the_pages_name_every_delivery_key() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in PAGES.glob("*.md"))
    for field in fields(DeliverySettings):
        assert f"`[delivery] {field.name}`" in text, field.name
    assert "`[websub] hubs`" in text and "`--allow-deletions`" in text and "`--backfill`" in text
