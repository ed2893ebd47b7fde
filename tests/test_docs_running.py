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

import contextlib
import gzip
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import docblocks
from tests.conftest import REPO

PAGES = REPO / "docs" / "running"
SHIPPED = {
    "contrib/systemd/syndicate.service": "systemd.md",
    "contrib/cron/syndicate.cron": "cron.md",
    "contrib/cron/syndicate-publish": "cron.md",
    "contrib/cron/syndicate-backup.cron": "backups.md",
    "contrib/nginx/syndicate-proxy.conf": "proxy.md",
    "contrib/nginx/syndicate-static.conf": "proxy.md",
    "contrib/caddy/Caddyfile-proxy": "proxy.md",
    "contrib/caddy/Caddyfile-static": "proxy.md",
}
UNIT = REPO / "contrib" / "systemd" / "syndicate.service"
SITE = "/srv/blog"  # where the shipped files put the site
SYNDICATE = Path(sys.executable).parent / "syndicate"


def shipped(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


def checked_blocks(page: str) -> list[str]:
    return [b.text for b in docblocks.checked_blocks(PAGES / page, "test_docs_running.py")]


def test_every_file_in_contrib_is_shown_on_its_page_as_it_is() -> None:
    files = {p.relative_to(REPO).as_posix() for p in (REPO / "contrib").rglob("*") if p.is_file()}
    assert files == set(SHIPPED), "a file in contrib/ with no page, or a page naming a file that is gone"
    for name, page in SHIPPED.items():
        assert shipped(name) in checked_blocks(page), f"docs/running/{page} does not show {name} as it is"
    shown = [block for page in {*SHIPPED.values()} for block in checked_blocks(page)]
    assert sorted(shown) == sorted(shipped(name) for name in SHIPPED), "a checked block that is no file in contrib/"


# -- systemd ------------------------------------------------------------------------------


def unit_values(key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", UNIT.read_text(encoding="utf-8"), re.M)


def test_the_unit_names_one_site_and_lets_it_write_only_its_two_folders() -> None:
    assert unit_values("WorkingDirectory") == [SITE]
    assert unit_values("ExecStart")[0].startswith("/opt/syndicate/bin/syndicate run ")
    assert unit_values("ReadWritePaths") == [f"{SITE}/.syndicate {SITE}/public"]
    assert unit_values("ProtectSystem") == ["strict"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (Debian: systemd)")
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this checkout's syndicate.
    text = UNIT.read_text(encoding="utf-8").replace("ExecStart=/opt/syndicate/bin/syndicate", f"ExecStart={SYNDICATE}")
    unit = tmp_path / "syndicate.service"
    unit.write_text(text, encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120)
    ours = [line for line in (done.stdout + done.stderr).splitlines() if "syndicate.service" in line]
    assert done.returncode == 0 and not ours, done.stdout + done.stderr


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
def test_the_daemon_runs_in_the_units_sandbox(sample_copy: Path) -> None:
    folders = [sample_copy / p.removeprefix(SITE + "/") for p in unit_values("ReadWritePaths")[0].split()]
    for folder in folders:
        folder.mkdir()  # as the install steps make them
    done = sandboxed(sample_copy, folders, DAEMON_FOR_3S)
    events = [json.loads(line) for line in done.stderr.splitlines()]
    kinds = [e["event"] for e in events]
    assert done.returncode == 0, done.stderr
    assert kinds[:2] == ["built", "serving"] and kinds[-2:] == ["stopping", "stopped"], done.stderr
    assert not {"error", "held", "warning"} & set(kinds), done.stderr
    assert (sample_copy / ".syndicate" / "state.db").is_file() and (sample_copy / "public" / "feed.xml").is_file()


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


# -- a daemon on the sample site, for the proxies and /healthz -------------------------------


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    shutil.copytree(REPO / "content", site / "content")
    shutil.copytree(REPO / "config", site / "config")
    return site


@dataclass
class Daemon:
    site: Path
    proc: subprocess.Popen[str]
    port: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout} s")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """`syndicate run` on a copy of the sample site with a WebSub hub (so feeds carry Link headers)."""
    root = tmp_path_factory.mktemp("running")
    site = root / "site"
    shutil.copytree(REPO / "content", site / "content")
    shutil.copytree(REPO / "config", site / "config")
    config = site / "config" / "syndicate.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[websub]\nhubs = ["https://hub.example/"]\n')
    port = free_port()
    proc = subprocess.Popen(
        [SYNDICATE, "run", "--port", str(port), "--log-format", "json"],
        cwd=site,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    run = Daemon(site, proc, port)

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            run.events.append(json.loads(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_port(port, proc)
        deadline = time.monotonic() + 30
        while health(port)[1].get("cycles", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the cycle after the watcher starts: /healthz says all it says
        yield run
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        reader.join(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()
        assert [e["event"] for e in run.events][-1] == "stopped"
        assert not {"error", "held", "config"} & {e["event"] for e in run.events}, run.events


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/{path.lstrip('/')}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        status, _, body = get(port, "healthz")
    except OSError:
        return 0, {}
    return status, json.loads(body)


# -- /healthz and the log --------------------------------------------------------------------


def table_column(page: str, heading: str) -> list[str]:
    """The first column of the table under ``heading`` on a page, without its backticks."""
    text = (PAGES / page).read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    rows = re.findall(r"^\| *`([^`]+)`", section.split("\n#", 1)[0], re.M)
    assert rows, f"no table under {heading!r} in {page}"
    return rows


def test_the_health_page_lists_every_field_of_healthz(daemon: Daemon) -> None:
    status, body = health(daemon.port)
    assert status == 200 and body["status"] == "ok"
    documented = set(table_column("health.md", "## The fields"))
    # An ok answer has these; the others come with a problem (held, failing, degraded, stale), or
    # with a [store] (lease: tests/test_postgres_daemon.py).
    assert set(body) <= documented
    assert documented - set(body) == {"problem", "last_error", "failures", "lease"}


def logged_events() -> set[str]:
    """Every event kind the daemon can log, from its source."""
    source = (REPO / "syndicate" / "serve" / "daemon.py").read_text(encoding="utf-8")
    source += (REPO / "syndicate" / "serve" / "lease.py").read_text(encoding="utf-8")  # with a [store]
    kinds = set(re.findall(r'log\.event\(\s*"(\w+)"', source))
    outcomes = re.search(r"kind = \{SENT: \"(\w+)\", FAILED: \"(\w+)\", DEAD: \"(\w+)\", HELD: \"(\w+)\"\}", source)
    assert outcomes, "the delivered/retry/dead line of the daemon moved: update this test"
    run_cmd = (REPO / "syndicate" / "cli" / "run_cmd.py").read_text(encoding="utf-8")
    return kinds | set(outcomes.groups()) | set(re.findall(r'log\.event\("(\w+)"', run_cmd)) | {"built"}


def test_the_log_table_lists_every_event_the_daemon_logs() -> None:
    assert set(table_column("index.md", "## What it logs")) == logged_events()


# -- backups -----------------------------------------------------------------------------


def ledger_id(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return str(db.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchone()[0])


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 program (Debian: sqlite3)")
def test_sqlite_copies_the_ledger_of_a_running_daemon_whole(daemon: Daemon, tmp_path: Path) -> None:
    # backups.md: `.backup` and `VACUUM INTO` while the daemon holds its lock on the ledger.
    ledger = daemon.site / ".syndicate" / "state.db"
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    for command in (f".backup {one}", f"VACUUM INTO '{two}'"):
        done = subprocess.run(["sqlite3", str(ledger), command], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stderr == "", done.stderr
    assert ledger_id(one) == ledger_id(two) == ledger_id(ledger)
    assert health(daemon.port)[0] == 200


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 program (Debian: sqlite3)")
def test_the_nightly_backup_line_copies_the_ledger_and_keeps_two_weeks(daemon: Daemon, tmp_path: Path) -> None:
    [line] = [x for x in shipped("contrib/cron/syndicate-backup.cron").splitlines() if x[:1].isdigit()]
    fields = line.split(maxsplit=6)
    assert fields[:5] == ["15", "3", "*", "*", "*"] and fields[5] == unit_values("User")[0]
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "state-2000-01-01.db"
    old.write_bytes(b"")
    os.utime(old, (0, 0))
    # cron turns \% into %, and runs the rest with sh
    command = (
        fields[6].replace("\\%", "%").replace(SITE, str(daemon.site)).replace("/var/backups/syndicate", str(backups))
    )
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    [copy] = backups.iterdir()
    assert re.fullmatch(r"state-\d{4}-\d\d-\d\d\.db", copy.name), copy.name
    assert ledger_id(copy) == ledger_id(daemon.site / ".syndicate" / "state.db")


# -- nginx and Caddy -------------------------------------------------------------------------

FEEDS = ["feed.xml", "atom.xml", "feed.json", "tags/ai/feed.xml", "tags/ai/atom.xml", "tags/ai/feed.json"]
OTHERS = ["feeds.opml", "index.html", ""]
HIDDEN = [".syndicate-ledger.json", ".syndicate-files", "tags/.hidden"]


def nginx_conf(tmp: Path, server: str) -> Path:
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # its workers must read the test's private folders
        + f"worker_processes 1;\ndaemon off;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\ninclude /etc/nginx/mime.types;\ndefault_type application/octet-stream;\n"  # as Debian's nginx.conf
        f"access_log off;\nclient_body_temp_path {tmp}/body;\nproxy_temp_path {tmp}/proxy;\n"
        f"fastcgi_temp_path {tmp}/fastcgi;\nuwsgi_temp_path {tmp}/uwsgi;\nscgi_temp_path {tmp}/scgi;\n"
        f"{server}\n}}\n",
        encoding="utf-8",
    )
    return conf


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[Any]:
    """Start nginx or Caddy with a config; stopped at the end of the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], port: int) -> None:
        proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        wait_port(port, proc)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)
        assert proc.stderr is not None
        proc.stderr.close()


def listen_here(config: str, port: int) -> str:
    """A shipped config, made to listen on a free port of 127.0.0.1 instead of the public one."""
    return config.replace("listen 80;", f"listen 127.0.0.1:{port};").replace(
        "example.com {", f"http://127.0.0.1:{port} {{"
    )


needs_nginx = pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx (Debian: nginx-light)")
needs_caddy = pytest.mark.skipif(shutil.which("caddy") is None, reason="needs caddy (Debian: caddy)")


@needs_nginx
@pytest.mark.parametrize("name", ["syndicate-proxy.conf", "syndicate-static.conf"])
def test_the_nginx_configs_pass_nginx_t(tmp_path: Path, name: str) -> None:
    conf = nginx_conf(
        tmp_path, shipped(f"contrib/nginx/{name}").replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
    )
    done = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "test is successful" in done.stderr, done.stderr
    assert "[warn]" not in done.stderr and "[emerg]" not in done.stderr, done.stderr


def answers(port: int, path: str) -> dict[str, Any]:
    """What a reader cares about in an answer: status, type, caching, hub links, gzip, 304."""
    status, headers, body = get(port, path, {"Accept-Encoding": "gzip"})
    out: dict[str, Any] = {"status": status}
    if status != 200:
        return out
    plain = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
    out.update(
        type=headers["content-type"].replace(" ", "").lower(),
        cache=headers.get("cache-control"),
        link=headers.get("link"),
        gzip=headers.get("content-encoding") == "gzip",
        body=plain,
    )
    again = get(port, path, {"Accept-Encoding": "gzip", "If-None-Match": headers["etag"]})
    out["revalidated"] = again[0]
    return out


def other_files_keep_their_types(site: Path, port: int) -> None:
    """A generator's own .xml and .json files in the same folder are not called feeds."""
    for name in ("sitemap.xml", "data.json"):
        (site / "public" / name).write_text("<x/>" if name.endswith(".xml") else "{}", encoding="utf-8")
        status, headers, _ = get(port, name)
        assert status == 200 and "rss" not in headers["content-type"] and "feed" not in headers["content-type"], name


def same_answers(ours: int, theirs: int, hub_links: bool) -> None:
    for path in FEEDS + OTHERS:
        want, got = answers(ours, path), answers(theirs, path)
        if not hub_links:
            want.pop("link", None), got.pop("link", None)
        assert got == want, path
    for path in HIDDEN:
        assert answers(theirs, path)["status"] == 404, path


@needs_nginx
def test_nginx_in_front_of_the_daemon_passes_its_answers_on(daemon: Daemon, tmp_path: Path, web_server: Any) -> None:
    port = free_port()
    config = listen_here(shipped("contrib/nginx/syndicate-proxy.conf"), port)
    web_server(
        [
            "nginx",
            "-p",
            str(tmp_path),
            "-c",
            str(nginx_conf(tmp_path, config.replace("127.0.0.1:8080", f"127.0.0.1:{daemon.port}"))),
        ],
        port,
    )
    same_answers(daemon.port, port, hub_links=True)
    status, _, body = get(port, "healthz")  # asked from 127.0.0.1: allowed
    assert status == 200 and json.loads(body)["status"] == "ok"


@needs_nginx
def test_nginx_serving_the_output_folder_answers_as_the_daemon_does(
    daemon: Daemon, tmp_path: Path, web_server: Any
) -> None:
    port = free_port()
    config = listen_here(shipped("contrib/nginx/syndicate-static.conf"), port).replace(
        f"{SITE}/public", str(daemon.site / "public")
    )
    web_server(["nginx", "-p", str(tmp_path), "-c", str(nginx_conf(tmp_path, config))], port)
    same_answers(daemon.port, port, hub_links=False)
    other_files_keep_their_types(daemon.site, port)


def caddyfile(tmp_path: Path, config: str) -> Path:
    path = tmp_path / "Caddyfile"
    path.write_text("{\n\tadmin off\n}\n\n" + config, encoding="utf-8")
    return path


@needs_caddy
@pytest.mark.parametrize("name", ["Caddyfile-proxy", "Caddyfile-static"])
def test_the_caddyfiles_are_valid_and_formatted(tmp_path: Path, name: str) -> None:
    path = tmp_path / "Caddyfile"
    path.write_text(shipped(f"contrib/caddy/{name}"), encoding="utf-8")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run(
        ["caddy", "validate", "--adapter", "caddyfile", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0 and "Valid configuration" in done.stdout + done.stderr, done.stderr
    assert '"level":"warn"' not in done.stderr, done.stderr  # e.g. "Caddyfile input is not formatted"


def caddy_command(tmp_path: Path, config: str) -> list[str]:
    """`caddy run` on this Caddyfile, its state kept in tmp_path (not the user's home)."""
    home = [f"HOME={tmp_path}", f"XDG_DATA_HOME={tmp_path}", f"XDG_CONFIG_HOME={tmp_path}"]
    return ["env", *home, "caddy", "run", "--adapter", "caddyfile", "--config", str(caddyfile(tmp_path, config))]


@needs_caddy
def test_caddy_in_front_of_the_daemon_passes_its_answers_on(daemon: Daemon, tmp_path: Path, web_server: Any) -> None:
    port = free_port()
    config = listen_here(shipped("contrib/caddy/Caddyfile-proxy"), port).replace(
        "127.0.0.1:8080", f"127.0.0.1:{daemon.port}"
    )
    web_server(caddy_command(tmp_path, config), port)
    same_answers(daemon.port, port, hub_links=True)
    assert get(port, "healthz")[0] == 200  # asked from 127.0.0.1: allowed


@needs_caddy
def test_caddy_serving_the_output_folder_answers_as_the_daemon_does(
    daemon: Daemon, tmp_path: Path, web_server: Any
) -> None:
    port = free_port()
    config = listen_here(shipped("contrib/caddy/Caddyfile-static"), port).replace(
        f"{SITE}/public", str(daemon.site / "public")
    )
    web_server(caddy_command(tmp_path, config), port)
    same_answers(daemon.port, port, hub_links=False)
    other_files_keep_their_types(daemon.site, port)


# -- cron -----------------------------------------------------------------------------------


def run_cron_job(site: Path, tmp_path: Path) -> tuple[str, str]:
    secrets = tmp_path / "blog.env"
    secrets.write_text("HOOK_SECRET=whsec_AAAAAAAAAAAAAAAAAAAAAAAA\n", encoding="utf-8")
    log = tmp_path / "publish.log"
    env = {**os.environ, "SITE": str(site), "SECRETS": str(secrets), "LOG": str(log), "SYNDICATE": str(SYNDICATE)}
    done = subprocess.run(
        [REPO / "contrib" / "cron" / "syndicate-publish"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout, log.read_text(encoding="utf-8") if log.exists() else ""


def test_the_cron_line_runs_the_script_as_the_user_of_the_unit() -> None:
    jobs = [
        line.split()
        for line in shipped("contrib/cron/syndicate.cron").splitlines()
        if line[:1].isdigit() or line.startswith("*")
    ]
    assert len(jobs) == 1 and len(jobs[0]) == 7, jobs
    assert jobs[0][5] == unit_values("User")[0] and jobs[0][6] == "/usr/local/bin/syndicate-publish"
    script = shipped("contrib/cron/syndicate-publish")
    assert f"SITE=${{SITE:-{SITE}}}" in script and "SYNDICATE=${SYNDICATE:-/opt/syndicate/bin/syndicate}" in script
    assert unit_values("EnvironmentFile")[0] in script


def test_the_cron_job_says_nothing_when_all_is_well_and_one_line_when_a_person_should_look(
    sample_copy: Path, tmp_path: Path
) -> None:
    config = sample_copy / "config" / "syndicate.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[[targets]]\nname = "hooks"\nkind = "webhook"\nurl = "http://127.0.0.1:9/"\nsecret_env = "HOOK_SECRET"\n'
    )
    said, log = run_cron_job(sample_copy, tmp_path)  # the first run records the posts as baseline
    assert said == "" and "4 recorded as baseline" in log
    (sample_copy / "content" / "new.md").write_text("---\ntitle: New\ndate: 2020-01-01\n---\nx\n", encoding="utf-8")
    said, log = run_cron_job(sample_copy, tmp_path)  # nothing listens on port 9: exit 4
    assert said.startswith("syndicate publish: exit 4,") and said.count("\n") == 1, said
    assert "1 to retry" in log
    shutil.rmtree(sample_copy / ".syndicate")
    said, _ = run_cron_job(sample_copy, tmp_path)  # a lost ledger: exit 6
    assert said.startswith("syndicate publish: exit 6;"), said
