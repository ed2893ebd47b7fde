"""`syndicate status --store URL` on a real PostgreSQL 15 (tests/pg.py) into which two sites have
published through the real command line: one whose receiver takes every post, one whose receiver
answers 503 (its deliveries failed, then left 61 minutes overdue, as when no host delivers for it).
Read from a folder that is no site: the command reads only the database."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import CONFIG, Site
from tests.httpd import Answer, recorder
from tests.pg import PASSWORD, Cluster
from tests.test_postgres_publish import ENV, hook, store_section, write_posts

A, B = "https://example.com/", "https://b.example.org/"


def published(root: Path, url: str, site_url: str, receiver: str) -> Site:
    site = Site(root)
    site.content.mkdir(parents=True)
    site.config(CONFIG.replace(A, site_url) + hook(receiver) + store_section(url))
    write_posts(site, 2)
    site.run("publish", "--backfill", env=ENV)  # sent at once, not recorded as baseline
    return site


@pytest.fixture
def store(tmp_path: Path, pg_url: str, pg_cluster: Cluster) -> str:
    """Two sites published into the database at ``pg_url``; site B's failures 61 minutes overdue."""
    with recorder() as ok, recorder(default=Answer(503)) as failing:
        published(tmp_path / "a", pg_url, A, ok.url)
        published(tmp_path / "b", pg_url, B, failing.url)
        assert len(ok.requests) == 2 and len(failing.requests) == 2
    db = urlsplit(pg_url).path.strip("/")
    pg_cluster.admin(
        "UPDATE deliveries SET next_attempt_at = now() - interval '61 minutes'"
        f" WHERE site = '{B}' AND state = 'failed'",
        db=db,
    )
    return pg_url


def status(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    nowhere = Site(tmp_path / "nowhere")  # no config, no content: the store is all it reads
    nowhere.root.mkdir(exist_ok=True)
    done = nowhere.run("status", *args, env=env)
    assert "Traceback" not in done.err and PASSWORD not in done.out + done.err, done
    return done.code, done.out, done.err


def rows(out: str) -> dict[tuple[str, str], list[str]]:
    """The table's lines by (site, target): the cells up to LATE (HELD before it)."""
    lines = out.splitlines()
    assert lines[0].split()[:10] == [
        "SITE",
        "TARGET",
        "SENT",
        "PENDING",
        "SENDING",
        "FAILED",
        "DEAD",
        "HELD",
        "LATE",
        "OLDEST",
    ]
    return {(cells[0], cells[1]): cells[2:9] for line in lines[1:] if (cells := line.split()) and "://" in cells[0]}


def test_every_site_and_lane_with_its_counts_and_what_is_late(tmp_path: Path, store: str) -> None:
    code, out, err = status(tmp_path, "--store", store, "--password-env", "LEDGER_PASSWORD", env=ENV)
    assert code == 4 and err == "", (out, err)  # late: exit 4, as for a publish whose deliveries failed
    assert rows(out) == {
        (A, "hooks"): ["2", "0", "0", "0", "0", "0", "0"],
        (B, "hooks"): ["0", "0", "0", "2", "0", "0", "2"],
    }
    b_line = next(line for line in out.splitlines() if line.startswith(B))
    assert "(1 h 1 min ago)" in b_line, b_line
    assert "2 sites, 2 lanes: 2 sent, 0 pending, 2 failed, 0 dead; 2 deliveries due for more than 15 min:" in out
    assert f"late: {B} hooks: 2 due, the oldest for 1 h 1 min" in out

    code, out, _ = status(tmp_path, "--store", store, "--late-after", "90", env={"PGPASSWORD": PASSWORD})
    assert code == 0 and "; nothing due for more than 90 min" in out and "late:" not in out, out

    code, out, _ = status(tmp_path, "--store", store, "--json", env={"PGPASSWORD": PASSWORD})
    doc = json.loads(out)
    assert code == 4 and doc["late_after_minutes"] == 15 and doc["now"].endswith("Z")
    assert set(doc["sites"]) == {A, B}
    a, b = doc["sites"][A]["hooks"], doc["sites"][B]["hooks"]
    assert (a["sent"], a["pending"], a["failed"], a["late"], a["oldest_due"]) == (2, 0, 0, 0, None)
    assert (b["sent"], b["failed"], b["dead"], b["late"]) == (0, 2, 0, 2)
    assert 3660 <= b["waited_seconds"] < 3700 and b["oldest_due"].endswith("Z")

    code, out, _ = status(tmp_path, "--store", store, "--all", "--target", "hooks", env={"PGPASSWORD": PASSWORD})
    header = out.splitlines()[0].split()
    assert code == 4 and header[8:10] == ["BASELINE", "SKIPPED"] and len(out.splitlines()) > 3, out

    code, out, _ = status(tmp_path, "--store", store, "--target", "other", env={"PGPASSWORD": PASSWORD})
    assert code == 0 and rows(out) == {(A, "-"): ["0"] * 7, (B, "-"): ["0"] * 7}, out


def test_a_wrong_or_missing_password_is_one_line_and_never_shown(tmp_path: Path, pg_url: str) -> None:
    store = pg_url
    code, out, err = status(tmp_path, "--store", store, "--password-env", "WRONG", env={"WRONG": "not-it"})
    assert code == 6 and out == "" and "password authentication failed" in err and "not-it" not in err, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "@127.0.0.1" in err
    code, _, err = status(tmp_path, "--store", store, "--password-env", "UNSET_HERE")
    assert code == 2 and "--password-env names UNSET_HERE, which is not set here" in err, err
    code, _, err = status(tmp_path, "--store", store.replace("syndicate@", f"syndicate:{PASSWORD}@"))
    assert code == 2 and "--store holds a password" in err, err
    code, _, err = status(tmp_path, "--store", store, "--post", "p1", env={"PGPASSWORD": PASSWORD})
    assert code == 2 and "--post reads a site's posts" in err, err
    code, _, err = status(tmp_path, "--late-after", "5")
    assert code == 2 and "--password-env and --late-after go with --store URL" in err, err


def test_a_database_without_sites_says_so(tmp_path: Path, pg_cluster: Cluster) -> None:
    empty = pg_cluster.url(pg_cluster.fresh(template=None))
    code, out, _ = status(tmp_path, "--store", empty, env={"PGPASSWORD": PASSWORD})
    assert code == 0 and out.startswith("no site in ") and "yet" in out, out
