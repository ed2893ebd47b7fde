from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.pg import Cluster, start_cluster

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
FAKETIME_LIB = "/usr/$LIB/faketime/libfaketime.so.1"  # ld.so expands $LIB, as the faketime wrapper has it


def faked(cmd: list[str], spec: str) -> list[str]:
    """``cmd`` under libfaketime with ``FAKETIME=spec`` ("-950d", "+5m", "-925386" seconds), the
    library loaded directly, not by the `faketime` wrapper: the wrapper keeps a named semaphore and
    a shared-memory segment per process id in /dev/shm, which a run killed by SIGKILL leaves
    behind, and a later wrapper that gets the same pid refuses to start ("sem_open: File exists",
    seen in a clean-clone CI run). Without them each process keeps the same offset on its own."""
    return ["env", f"LD_PRELOAD={FAKETIME_LIB}", f"FAKETIME={spec}", *cmd]


def offset_to(moment: datetime) -> str:
    """The FAKETIME spec that puts the clock at ``moment`` now (and lets it run from there)."""
    return f"{round(moment.timestamp() - datetime.now(UTC).timestamp()):+d}"


CONFIG = """\
[site]
title = "Test Site"
url = "https://example.com/"
author = "Tess Ter"
timezone = "Europe/Paris"
permalink = "/blog/{slug}/"

[feeds]
items = 20
"""

# Retract at once (the behaviour before [delivery] delete_after): for tests about what a
# retraction does, not about when; tests/test_retraction_window.py is about when.
AT_ONCE = """
[delivery]
delete_after = 0
"""


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Site:
    root: Path

    @property
    def content(self) -> Path:
        return self.root / "content"

    @property
    def public(self) -> Path:
        return self.root / "public"

    def config(self, text: str) -> None:
        (self.root / "config").mkdir(exist_ok=True)
        (self.root / "config" / "syndicate.toml").write_text(text, encoding="utf-8")

    def post(self, name: str, text: str | bytes) -> Path:
        path = self.content / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def run(self, *args: str, now: datetime | None = NOW, env: dict[str, str] | None = None) -> Run:
        """Run the real command line in a fresh process, as a user would."""
        cmd = [sys.executable, "-m", "syndicate", *args]
        if now is not None and args and args[0] in ("build", "check", "feeds", "posts", "publish"):
            cmd += ["--now", now.isoformat()]
        full_env = {**os.environ, "PYTHONWARNINGS": "error", "COLUMNS": "200", **(env or {})}
        result = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=120, env=full_env)
        return Run(result.returncode, result.stdout, result.stderr)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    s = Site(tmp_path / "site")
    s.content.mkdir(parents=True)
    s.config(CONFIG)
    return s


@pytest.fixture
def sample_site(tmp_path: Path) -> Site:
    """A copy of the bundled sample site (content/ and config/ of this repository)."""
    root = tmp_path / "sample"
    shutil.copytree(REPO / "content", root / "content")
    shutil.copytree(REPO / "config", root / "config")
    return Site(root)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One real PostgreSQL 15 for the whole session (tests/pg.py); skipped without it, failed under CI."""
    yield from start_cluster()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL (without the password: it is tests.pg.PASSWORD) of a fresh, migrated database."""
    return pg_cluster.url(pg_cluster.fresh())


# Real peers (tests/peers/fixtures.py): imported here, and only here, so each is defined once.
from tests.peers.fixtures import bluesky_pds as bluesky_pds  # noqa: E402
from tests.peers.fixtures import mastodon_peer as mastodon_peer  # noqa: E402
from tests.peers.fixtures import webhook_receiver as webhook_receiver  # noqa: E402
from tests.peers.fixtures import webhook_receiver_factory as webhook_receiver_factory  # noqa: E402
from tests.peers.fixtures import webmention_peer as webmention_peer  # noqa: E402
from tests.peers.fixtures import websub_hub as websub_hub  # noqa: E402
