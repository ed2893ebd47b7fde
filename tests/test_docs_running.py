"""The "Running it" pages (docs/running/) tell the truth about the files shipped in contrib/.

Each file in contrib/ is shown on its page, byte for byte, in a fenced block preceded by
``<!-- checked: tests/test_docs_running.py -->``; this test finds those blocks and checks them
with the real tools: the systemd unit with ``systemd-analyze verify`` (and its sandbox with a
read-only file system, as ProtectSystem=strict makes it), the nginx configs with ``nginx -t`` and
real requests through nginx to a running ``syndicate run`` (or to the folder it writes), the
Caddyfiles the same way with Caddy, the cron job by running it. The tables of the daemon's log
events and of /healthz's fields are checked against the code and a running daemon.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PAGES = REPO / "docs" / "running"
CHECKED = re.compile(r"<!-- checked: tests/test_docs_running\.py -->\n```[\w-]*\n(.*?)```", re.S)
SHIPPED = {
    "contrib/systemd/syndicate.service": "systemd.md",
    "contrib/cron/syndicate.cron": "cron.md",
    "contrib/cron/syndicate-publish": "cron.md",
    "contrib/nginx/syndicate-proxy.conf": "proxy.md",
    "contrib/nginx/syndicate-static.conf": "proxy.md",
    "contrib/caddy/Caddyfile-proxy": "proxy.md",
    "contrib/caddy/Caddyfile-static": "proxy.md",
}
UNIT = REPO / "contrib" / "systemd" / "syndicate.service"
SITE = "/srv/blog"  # where the shipped files put the site
SYNDICATE = Path(sys.executable).parent / "syndicate"


def unit_values(key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", UNIT.read_text(encoding="utf-8"), re.M)


def sandboxed(site: Path, writable: list[Path], command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in the site with the whole file system read-only except ``writable``, as
    ProtectSystem=strict with ReadWritePaths makes it (a mount namespace of its own)."""
    binds = " && ".join(f'mount --bind "{p}" "{p}"' for p in writable)
    script = f"mount --make-rprivate / && {binds + ' && ' if binds else ''}mount -o remount,bind,ro / && {command}"
    env = {**os.environ, "PATH": f"{SYNDICATE.parent}:{os.environ['PATH']}", "PYTHONWARNINGS": "error"}
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script], cwd=site, env=env, capture_output=True, text=True, timeout=timeout
    )


def can_sandbox() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=30).returncode == 0


needs_sandbox = pytest.mark.skipif(not can_sandbox(), reason="needs root and unshare (a mount namespace)")
DAEMON_FOR_3S = "syndicate run --port 0 --log-format json & sleep 3; kill -TERM $!; wait $!"


@needs_sandbox
def test_a_ledger_folder_left_read_only_is_named_as_such_not_as_a_broken_ledger(sample_copy: Path) -> None:
    # What systemd.md says a user sees who forgot .syndicate/ in ReadWritePaths.
    assert subprocess.run([SYNDICATE, "publish"], cwd=sample_copy, capture_output=True, timeout=120).returncode == 0
    for command in ("syndicate publish", "syndicate status"):
        done = sandboxed(sample_copy, [sample_copy / "public"], command)
        assert done.returncode == 6, done.stderr
        assert "read-only" in done.stderr.lower(), done.stderr
        assert "rebaseline" not in done.stderr and "restore it from a backup" not in done.stderr, done.stderr
    done = sandboxed(sample_copy, [sample_copy / "public"], DAEMON_FOR_3S)
    held = [json.loads(line) for line in done.stderr.splitlines() if '"held"' in line]
    assert held and "read-only" in held[0]["message"].lower() and "rebaseline" not in held[0]["message"], done.stderr
    assert held[0]["message"].endswith("delivery resumes when the ledger can be read"), done.stderr


def test_an_output_folder_the_daemon_cannot_make_is_named_not_taken_for_the_port(sample_copy: Path) -> None:
    # What a unit whose ReadWritePaths lacks the output folder, or a wrong [output] dir, shows.
    (sample_copy / "a-file").write_text("x", encoding="utf-8")
    done = subprocess.run(
        [SYNDICATE, "run", "--port", "0", "--out", "a-file/feeds"],
        cwd=sample_copy,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr == (
        "error: cannot make the output folder a-file/feeds: Not a directory; check that the output folder is writable\n"
    )


HOOK = '\n[[targets]]\nname = "hooks"\nkind = "webhook"\nurl = "http://127.0.0.1:9/"\nsecret_env = "HOOK_SECRET"\n'


def test_check_warns_that_the_ledger_is_lost_as_publish_would_refuse(sample_copy: Path) -> None:
    # backups.md: after losing .syndicate/, `check` says what `publish` would, instead of a bare "ok".
    config = sample_copy / "config" / "syndicate.toml"
    config.write_text(config.read_text(encoding="utf-8") + HOOK, encoding="utf-8")
    env = {**os.environ, "HOOK_SECRET": "whsec_AAAAAAAAAAAAAAAAAAAAAAAA"}
    assert (
        subprocess.run([SYNDICATE, "publish"], cwd=sample_copy, env=env, capture_output=True, timeout=120).returncode
        == 0
    )
    check = subprocess.run([SYNDICATE, "check"], cwd=sample_copy, env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and check.stderr == "", check.stderr
    shutil.rmtree(sample_copy / ".syndicate")
    check = subprocess.run([SYNDICATE, "check"], cwd=sample_copy, env=env, capture_output=True, text=True, timeout=120)
    publish = subprocess.run(
        [SYNDICATE, "publish"], cwd=sample_copy, env=env, capture_output=True, text=True, timeout=120
    )
    assert publish.returncode == 6
    assert check.returncode == 0 and check.stderr == "warning: " + publish.stderr.removeprefix("error: "), check.stderr


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    shutil.copytree(REPO / "content", site / "content")
    shutil.copytree(REPO / "config", site / "config")
    return site
