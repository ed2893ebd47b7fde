"""SIGKILLs amid publishes, edits, deletions and restorations on Discord and Telegram (their fakes,
tests/fakes, answering each request some time after carrying it out, so that kills land in
between): every live post ends with exactly one message per target showing its latest title,
every deleted post with none, and a send whose outcome a kill lost is *held*, counted apart, and
never a duplicate: the test then does what `status` asks of the user (look in the channel; when
the message is not there, `syndicate retry --post … --target …`).

Small in CI; `python bench/crash.py --scenario chat --chat-rounds 40` runs it at full size
(SYNDICATE_CRASH_CHAT_ROUNDS)."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import AT_ONCE, CONFIG, NOW, Site
from tests.fakes.discord import TOKEN as DISCORD_TOKEN
from tests.fakes.discord import WEBHOOK_ID, DiscordFake
from tests.fakes.server import serve
from tests.fakes.telegram import CHAT, TelegramFake
from tests.fakes.telegram import TOKEN as TELEGRAM_TOKEN
from tests.test_crash import SEED, _kill_within, _save

ROUNDS = int(os.environ.get("SYNDICATE_CRASH_CHAT_ROUNDS", "4"))
PUBLISH = [sys.executable, "-m", "syndicate", "publish", "--now", NOW.isoformat()]


@pytest.fixture
def fakes() -> Iterator[tuple[DiscordFake, str, TelegramFake, str]]:
    discord, telegram = DiscordFake(limit=10_000, latency=0.15), TelegramFake(latency=0.15)
    with serve(discord) as d, serve(telegram) as t:
        yield discord, f"{d}/api/webhooks/{WEBHOOK_ID}/{DISCORD_TOKEN}", telegram, t


def _post(site: Site, n: int, edit: int) -> None:
    site.post(f"c{n:03d}.md", f"---\ntitle: Post {n} edit {edit} end\ndate: 2024-06-01 {n % 24:02d}:00\n---\nx\n")


def _url(n: int) -> str:
    return f"https://example.com/blog/c{n:03d}/"


def _rows(site: Site, sql: str) -> list[Any]:
    db = sqlite3.connect(site.root / ".syndicate" / "state.db")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _found(site: Site, discord: DiscordFake, telegram: TelegramFake, target: str, post_id: str) -> str | None:
    """The id of a message of this post the channel shows that the ledger does not know (a held send's)."""
    known = {r for (r,) in _rows(site, f"SELECT remote_id FROM deliveries WHERE target = '{target}'") if r}
    if target == "chat":
        ids = [i for i, m in discord.messages.items() if m["embeds"][0]["url"] == post_id]
    else:
        ids = [str(i) for i, m in telegram.messages.items() if m["link_preview_options"]["url"] == post_id]
    return next((i for i in ids if i not in known), None)


def _attempts(site: Site, post_id: str, target: str) -> list[Any]:
    """A post's rows on a target with their attempts, for a failure's message."""
    return _rows(
        site,
        "SELECT d.event, d.revision, d.state, d.remote_id, a.n, a.outcome, a.detail FROM deliveries d"
        f" JOIN attempts a ON a.delivery_id = d.id WHERE d.post_id = '{post_id}' AND d.target = '{target}'",
    )


def test_kills_amid_discord_and_telegram_deliveries_leave_each_post_once_and_lost_sends_held_apart(
    site: Site, fakes: tuple[DiscordFake, str, TelegramFake, str]
) -> None:
    discord, discord_url, telegram, api = fakes
    site.config(
        CONFIG
        + AT_ONCE
        + f"""
[[targets]]
name = "chat"
kind = "discord"
url_env = "DISCORD_WEBHOOK_URL"
timeout = 5

[[targets]]
name = "tg"
kind = "telegram"
chat = "{CHAT}"
token_env = "TELEGRAM_BOT_TOKEN"
api = "{api}"
timeout = 5
"""
    )
    env = {**os.environ, "DISCORD_WEBHOOK_URL": discord_url, "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN}

    def publish() -> int:
        done = subprocess.run(PUBLISH, cwd=site.root, env=env, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode

    def finish() -> None:
        for _ in range(10):
            subprocess.run([sys.executable, "-m", "syndicate", "retry"], cwd=site.root, env=env, capture_output=True)
            publish()
            if not _rows(site, "SELECT 1 FROM deliveries WHERE state IN ('pending', 'sending', 'failed')"):
                return
        raise AssertionError(_rows(site, "SELECT state, COUNT(*) FROM deliveries GROUP BY state"))

    def shown(target: str) -> dict[str, list[str]]:
        """Post URL → the titles its messages show on a target (what the user sees there)."""
        out: dict[str, list[str]] = {}
        if target == "chat":
            for m in discord.messages.values():
                out.setdefault(m["embeds"][0]["url"], []).append(m["embeds"][0]["title"])
        else:
            for m in telegram.messages.values():
                out.setdefault(m["link_preview_options"]["url"], []).append(m["text"].split("\n")[0])
        return out

    rng = random.Random(SEED + 11)
    publish()  # the first run: nothing yet
    live: dict[int, int] = {}
    gone: dict[int, int] = {}
    tally: Counter[str] = Counter()
    started = time.monotonic()
    for _ in range(ROUNDS):
        for _new in range(rng.randint(1, 2)):
            n = len(live) + len(gone)
            live[n] = 0
            _post(site, n, 0)
            tally["new posts"] += 1
        for n in rng.sample(sorted(live), k=min(len(live), rng.randint(0, 2))):
            live[n] += 1
            _post(site, n, live[n])
            tally["edits"] += 1
        if live and rng.random() < 0.4:
            n = rng.choice(sorted(live))
            gone[n] = live.pop(n)
            (site.content / f"c{n:03d}.md").unlink()
            tally["deletions"] += 1
        if gone and rng.random() < 0.3:
            n = rng.choice(sorted(gone))
            live[n] = gone.pop(n) + 1
            _post(site, n, live[n])
            tally["restorations"] += 1
        proc = subprocess.Popen(PUBLISH, cwd=site.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tally["kills"] += _kill_within(proc, rng.uniform(0.2, 2.0))
        proc.wait(timeout=120)
    finish()
    # A post that went away while its send was held: its deletion says "delete it by hand if it is
    # there"; the user deletes what the channel shows of it that the ledger does not know.
    for target, post_id in _rows(
        site, "SELECT target, post_id FROM deliveries WHERE state = 'dead' AND last_error LIKE '%delete it by hand%'"
    ):
        known = {r for (r,) in _rows(site, f"SELECT remote_id FROM deliveries WHERE target = '{target}'") if r}
        if target == "chat":
            by_hand = [i for i, m in discord.messages.items() if m["embeds"][0]["url"] == post_id and i not in known]
            for i in by_hand:
                del discord.messages[i]
        else:
            ids = [i for i, m in telegram.messages.items() if m["link_preview_options"]["url"] == post_id]
            gone_by_hand = [i for i in ids if str(i) not in known]
            for n in gone_by_hand:
                del telegram.messages[n]
            by_hand = [str(n) for n in gone_by_hand]
        tally["copies of a held send deleted by hand, as asked"] += len(by_hand)
    # What `status` asks of the user: look in the channel; send again only what is not there.
    held = _rows(site, "SELECT post_id, target FROM deliveries WHERE state = 'held'")
    found_held: set[tuple[str, str]] = set()
    tally["held (a kill lost the outcome)"] = len(held)
    for post_id, target in held:
        found = _found(site, discord, telegram, target, post_id)
        word = ["--sent", found] if found else []
        if found:
            found_held.add((post_id, target))
        tally["held, found in the channel (recorded with --sent)" if found else "held, not there (sent again)"] += 1
        subprocess.run(
            [sys.executable, "-m", "syndicate", "retry", "--post", post_id, "--target", target, *word],
            cwd=site.root,
            env=env,
            capture_output=True,
            check=True,
        )
    finish()
    assert _rows(site, "SELECT COUNT(*) FROM deliveries WHERE state = 'held'") == [(0,)]
    settled = {(p, t) for p, t in held if (p, t) in found_held}
    dead = _rows(site, "SELECT target, event, last_error FROM deliveries WHERE state = 'dead'")
    assert all("delete it by hand" in why for _t, _e, why in dead), dead  # a lost send's copy, if any
    summary: dict[str, Any] = {key: tally[key] for key in sorted(tally)}
    for target in ("chat", "tg"):
        seen = shown(target)
        duplicates = sum(len(titles) - 1 for titles in seen.values() if len(titles) > 1)
        missing = [n for n in live if _url(n) not in seen]
        latest = {n: f"Post {n} edit {e} end" for n, e in live.items()}
        kept = {n for n in live if (_url(n), target) in settled}  # edited while held: reached by its next edit
        stale = [n for n in live if n not in kept and seen.get(_url(n), [""])[0] != latest[n]]
        left = [n for n in gone if _url(n) in seen]
        summary |= {
            f"{target}_messages": sum(len(t) for t in seen.values()),
            f"{target}_duplicates": duplicates,
            f"{target}_lost": len(missing),
            f"{target}_stale": len(stale),
            f"{target}_left_after_deletion": len(left),
        }
        doubled = [u for u, titles in seen.items() if len(titles) > 1]
        assert duplicates == 0, (target, doubled, [_attempts(site, u, target) for u in doubled], tally)
        assert missing == [], (target, missing)
        assert stale == [], (target, stale, seen)
        assert left == [], (target, left)
    summary["seconds"] = round(time.monotonic() - started, 1)
    _save("chat", summary)
    assert not any(tok in str(summary) for tok in (DISCORD_TOKEN, TELEGRAM_TOKEN))
