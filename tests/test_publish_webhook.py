"""`syndicate publish` to Standard Webhooks receivers: verified by the `standardwebhooks`
library in a real receiver, scripted failures from a recording server, each post once."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syndicate.deliver.store import lock
from tests.conftest import AT_ONCE, CONFIG, Site
from tests.httpd import Answer, recorder
from tests.peers.fixtures import WebhookReceiverFactory, new_webhook_secret

SECRET = new_webhook_secret()
ENV = {"HOOK_SECRET": SECRET}


def configure(site: Site, url: str, events: str = '["post.published", "post.updated", "post.deleted"]') -> None:
    site.config(
        CONFIG
        + AT_ONCE
        + f"""
[[targets]]
name = "hooks"
kind = "webhook"
url = "{url}"
secret_env = "HOOK_SECRET"
events = {events}
timeout = 2
"""
    )


def write_post(site: Site, name: str, title: str, body: str = "Body text.", date: str = "2024-06-01") -> None:
    site.post(f"{name}.md", f"---\ntitle: {title}\ndate: {date}\ntags: [news]\n---\n{body}\n")


def publish(site: Site, *args: str, now: datetime | None = None) -> tuple[int, str, str]:
    run = site.run("publish", *args, now=now, env=ENV)
    assert "Traceback" not in run.err, run.err
    return run.code, run.out, run.err


def retry_now(site: Site) -> tuple[int, str, str]:
    """`syndicate retry` (what failed is due now), then `publish`."""
    queued = site.run("retry")
    assert queued.code == 0 and "due now" in queued.out, queued
    return publish(site)


def test_first_publish_sends_nothing_then_each_new_post_once(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    configure(site, receiver.url)
    write_post(site, "old", "An old post")
    code, out, _ = publish(site)
    assert code == 0 and "1 recorded as baseline" in out
    assert receiver.deliveries() == []

    write_post(site, "new", "A new post")
    code, out, _ = publish(site)
    assert code == 0, out
    assert "sent    hooks  post.published  https://example.com/blog/new/" in out
    [delivery] = receiver.deliveries()
    assert delivery["verified"] and delivery["status"] == 204
    body = json.loads(delivery["body"])
    assert body["type"] == "post.published"
    assert body["data"]["title"] == "A new post" and body["data"]["url"] == "https://example.com/blog/new/"
    assert body["data"]["content_html"] == "<p>Body text.</p>"

    code, out, _ = publish(site)
    assert code == 0 and len(receiver.deliveries()) == 1, "nothing is sent twice"


def test_backfill_sends_what_the_baseline_held_back(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    configure(site, receiver.url)
    write_post(site, "a", "A", date="2023-01-01")
    write_post(site, "b", "B", date="2024-01-01")
    publish(site)
    code, out, _ = publish(site, "--backfill", "--since", "2023-06-01")
    assert code == 0, out
    publish(site)
    assert [json.loads(d["body"])["data"]["title"] for d in receiver.deliveries()] == ["B"]
    publish(site, "--backfill")
    publish(site, "--backfill")
    assert [json.loads(d["body"])["data"]["title"] for d in receiver.deliveries()] == ["B", "A"]


def test_retries_keep_the_webhook_id_until_it_is_delivered(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(statuses=[503, 500], secret=SECRET)
    configure(site, receiver.url)
    publish(site)
    write_post(site, "p", "Flaky receiver")
    code, out, err = publish(site)
    assert code == 4 and "failed  hooks  post.published" in out and "HTTP 503" in out
    assert "syndicate status" in err
    code, out, _ = retry_now(site)
    assert code == 4 and "HTTP 500" in out
    code, out, _ = retry_now(site)
    assert code == 0 and "sent    hooks" in out
    ids = [d["id"] for d in receiver.deliveries()]
    assert len(ids) == 3 and len(set(ids)) == 1, "one webhook-id for every retry of one event"
    assert [d["status"] for d in receiver.deliveries()] == [503, 500, 204]
    assert all(d["verified"] for d in receiver.deliveries())


def test_status_shows_what_went_where(site: Site, webhook_receiver_factory: WebhookReceiverFactory) -> None:
    receiver = webhook_receiver_factory(statuses=[503], secret=SECRET)
    configure(site, receiver.url)
    publish(site)
    write_post(site, "p", "Shown in status")
    write_post(site, "q", "Also shown")
    publish(site)
    run = site.run("status")
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0].split()[:4] == ["POST", "TARGET", "EVENT", "STATE"]
    failed = next(line for line in lines if "failed" in line)
    assert "hooks" in failed and "HTTP 503" in failed and " 1 " in failed
    assert any("sent" in line and "msg_" in line for line in lines)
    assert lines[-1] == "1 failed, 1 sent"


def test_a_hanging_receiver_times_out_and_the_retry_keeps_the_id(site: Site) -> None:
    with recorder(Answer(204, delay=4)) as rec:
        configure(site, rec.url + "/hook")
        publish(site)
        write_post(site, "p", "Slow")
        code, out, _ = publish(site)
        assert code == 4 and "no answer within 2 s" in out
        code, out, _ = retry_now(site)
        assert code == 0
    ids = [r.headers["webhook-id"] for r in rec.requests]
    assert len(ids) == 2 and ids[0] == ids[1]


def test_429_retry_after_is_honoured(site: Site) -> None:
    with recorder(Answer(429, headers=(("Retry-After", "3600"),))) as rec:
        configure(site, rec.url)
        publish(site)
        write_post(site, "p", "Rate limited")
        code, _, _ = publish(site)
        assert code == 4
        db = sqlite3.connect(site.root / ".syndicate" / "state.db")
        (next_at,) = db.execute("SELECT next_attempt_at FROM deliveries WHERE state='failed'").fetchone()
        db.close()
        wait = datetime.fromisoformat(next_at) - datetime.now(UTC)
        assert timedelta(minutes=55) < wait <= timedelta(hours=1, minutes=1)
        code, _, _ = publish(site)
        assert code == 0 and len(rec.requests) == 1, "not retried before Retry-After"


@pytest.mark.parametrize("status", [400, 404, 422])
def test_4xx_is_permanent(site: Site, status: int) -> None:
    with recorder(Answer(status)) as rec:
        configure(site, rec.url)
        publish(site)
        write_post(site, "p", "Refused")
        code, out, _ = publish(site)
        assert code == 4 and f"dead    hooks  post.published  https://example.com/blog/p/  HTTP {status}" in out
        publish(site)
        assert len(rec.requests) == 1


def test_410_disables_the_target_until_retry(site: Site) -> None:
    with recorder(Answer(410)) as rec:
        configure(site, rec.url)
        publish(site)
        write_post(site, "p", "Gone")
        write_post(site, "q", "Gone too")
        code, out, _ = publish(site)
        assert code == 4 and "asked us to stop" in out
        assert len(rec.requests) == 1, "a disabled target gets nothing more"
        status = site.run("status")
        assert "target hooks is disabled" in status.out
        rec.default = Answer(204)
        run = site.run("retry", "--target", "hooks")
        assert run.code == 0 and run.out.startswith("1 failed or dead delivery due now")
        code, out, _ = publish(site)
        assert code == 0 and out.count("sent    hooks") == 2


def test_edits_and_removals_reach_webhooks_that_asked(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    configure(site, receiver.url)
    publish(site)
    write_post(site, "p", "Version one")
    publish(site)
    write_post(site, "p", "Version two")
    code, out, _ = publish(site)
    assert code == 0 and "post.updated" in out
    # a broken edit is not a removal
    site.post("p.md", "---\ntitle: [broken\n---\n")
    code, out, _ = publish(site)
    assert code == 1 and "post.deleted" not in out
    (site.content / "p.md").unlink()
    code, out, _ = publish(site)
    assert code == 0 and "post.deleted" in out
    events = [
        (json.loads(d["body"])["type"], json.loads(d["body"])["data"].get("title")) for d in receiver.deliveries()
    ]
    assert events == [
        ("post.published", "Version one"),
        ("post.updated", "Version two"),
        ("post.deleted", "Version two"),
    ]
    assert len({d["id"] for d in receiver.deliveries()}) == 3


def test_only_the_events_a_target_asked_for(site: Site, webhook_receiver_factory: WebhookReceiverFactory) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    configure(site, receiver.url, events='["post.published"]')
    publish(site)
    write_post(site, "p", "Version one")
    publish(site)
    write_post(site, "p", "Version two")
    publish(site)
    (site.content / "p.md").unlink()
    publish(site)
    assert [json.loads(d["body"])["type"] for d in receiver.deliveries()] == ["post.published"]


def test_dry_run_changes_nothing(site: Site) -> None:
    with recorder() as rec:
        configure(site, rec.url)
        write_post(site, "p", "Not yet")
        code, out, _ = publish(site, "--dry-run", "--backfill")
        assert code == 0, out
        assert "--- hooks  post.published  https://example.com/blog/p/" in out
        assert f"POST {rec.url}" in out and "nothing written, nothing sent" in out
        assert rec.requests == []
        assert not (site.root / ".syndicate" / "state.db").exists()
        assert not site.public.exists()


def test_secrets_never_leave_the_environment(site: Site, webhook_receiver_factory: WebhookReceiverFactory) -> None:
    receiver = webhook_receiver_factory(statuses=[500], secret=SECRET)
    configure(site, receiver.url)
    publish(site)
    write_post(site, "p", "Secret-free")
    outputs = [publish(site), publish(site, "--dry-run"), retry_now(site)]
    outputs.append((0, site.run("status").out, ""))
    raw = SECRET.removeprefix("whsec_")
    for _, out, err in outputs:
        assert raw not in out and raw not in err
    for path in site.root.rglob("*"):
        if path.is_file():
            assert raw.encode() not in path.read_bytes(), path
    assert SECRET not in (site.root / "config" / "syndicate.toml").read_text()


def test_a_missing_secret_is_one_clear_line_and_nothing_is_lost(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory
) -> None:
    receiver = webhook_receiver_factory(secret=SECRET)
    configure(site, receiver.url)
    publish(site)
    write_post(site, "p", "Waits for its secret")
    run = site.run("publish", env={"HOOK_SECRET": ""})
    assert run.code == 4
    assert "error: hooks: target 'hooks': environment variable HOOK_SECRET (secret_env) is not set" in run.err
    assert receiver.deliveries() == []
    code, out, _ = publish(site)
    assert code == 0 and "sent    hooks" in out


def test_two_publishers_never_deliver_at_once(site: Site, tmp_path: Path) -> None:
    with recorder() as rec:
        configure(site, rec.url)
        with lock(site.root / ".syndicate" / "state.db"):
            run = site.run("publish", env=ENV, now=None)
        assert run.code == 5
        assert run.err.startswith("error: another syndicate (pid ") and "is delivering for this site" in run.err


def test_a_retried_post_deleted_still_carries_the_post(site: Site) -> None:
    with recorder() as rec:
        configure(site, rec.url)
        publish(site)
        write_post(site, "p", "Soon gone")
        publish(site)
        (site.content / "p.md").unlink()
        rec.script.append(Answer(503))
        code, _, _ = publish(site)
        assert code == 4
        code, _, _ = retry_now(site)
        assert code == 0
    bodies = [json.loads(r.body) for r in rec.requests]
    assert [b["type"] for b in bodies] == ["post.published", "post.deleted", "post.deleted"]
    assert bodies[2]["data"]["title"] == "Soon gone" and bodies[2] == bodies[1]


@pytest.mark.parametrize("after_baseline", [False, True], ids=["first run", "after the baseline"])
def test_a_backfill_of_one_post_or_one_target_sends_only_that(
    site: Site, webhook_receiver_factory: WebhookReceiverFactory, after_baseline: bool
) -> None:
    """`--backfill --post X` and `--backfill --target T` send what they name, and the next plain
    run sends nothing more (they made every baseline post pending, for every target, and the
    next run sent them all)."""
    one, two = webhook_receiver_factory(secret=SECRET), webhook_receiver_factory(secret=SECRET)
    site.config(
        CONFIG
        + "".join(
            f'\n[[targets]]\nname = "{name}"\nkind = "webhook"\nurl = "{r.url}"\nsecret_env = "HOOK_SECRET"\n'
            for name, r in (("one", one), ("two", two))
        )
    )
    for name in ("a", "b", "c"):
        write_post(site, name, name.upper())
    if after_baseline:
        assert "6 recorded as baseline" in publish(site)[1]

    def sent() -> list[str]:
        return sorted(
            f"{n}:{json.loads(d['body'])['data']['title']}"
            for n, r in (("one", one), ("two", two))
            for d in r.deliveries()
        )

    code, out, _ = publish(site, "--backfill", "--post", "a")
    assert code == 0 and sent() == ["one:A", "two:A"], out
    code, out, _ = publish(site, "--backfill", "--target", "one", "--post", "b")
    assert code == 0 and sent() == ["one:A", "one:B", "two:A"], out
    code, out, _ = publish(site)
    assert code == 0 and "sent " not in out and len(sent()) == 3, out
    code, out, _ = publish(site, "--backfill", "--target", "two")
    assert code == 0 and sent() == ["one:A", "one:B", "two:A", "two:B", "two:C"], out
    code, out, _ = publish(site)
    assert code == 0 and "sent " not in out and len(sent()) == 5, out


def test_status_finds_a_post_gone_from_the_content_folder_by_its_slug_or_file(site: Site) -> None:
    """`status --post` names a post by id, URL, slug or file; a post whose file was removed (its
    retraction waiting, or done) was found by its full URL only: "no post 'gone'"."""
    with recorder() as rec:
        configure(site, rec.url)
        site.config(
            (site.root / "config" / "syndicate.toml").read_text().replace("delete_after = 0", "delete_after = 600")
        )
        publish(site)
        write_post(site, "gone", "Soon gone")
        assert publish(site)[0] == 0
        (site.content / "gone.md").unlink()
        publish(site)
        for ref in ("gone", "gone.md", "content/gone.md", "https://example.com/blog/gone/"):
            run = site.run("status", "--post", ref)
            assert run.code == 0 and "Soon gone" in run.out and "retractions waiting" in run.out, (ref, run.err)
        assert site.run("status", "--post", "never-was").code == 2
