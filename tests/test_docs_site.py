"""The documentation site builds with ``mkdocs build --strict``: a broken link, a missing anchor, a
page left out of the nav or a nav entry without its page fails the build, and so this test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_the_documentation_site_builds_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    commands = (tmp_path / "site" / "reference" / "commands" / "index.html").read_text(encoding="utf-8")
    from syndicate.cli.all_commands import main

    for name in main.commands:
        assert f"syndicate {name}" in commands, f"the commands page lacks `syndicate {name}`"
    assert "Sentinel" not in commands, "a click default shown as its sentinel (mkdocs-click's table style does that)"
