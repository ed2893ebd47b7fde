"""The feed server under real traffic, in-process on 127.0.0.1: keep-alive without a stall, many
connections at once, half-sent requests closed, nothing a client sends makes a traceback."""

from __future__ import annotations

import http.client
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from syndicate.config import load_settings
from syndicate.serve.server import FeedServer, ServerState, bind
from tests.conftest import Site


@pytest.fixture
def served(sample_site: Site) -> Iterator[tuple[int, Site]]:
    assert sample_site.run("build").code == 0
    state = ServerState(sample_site.public, load_settings(sample_site.root))
    server = FeedServer(bind("127.0.0.1", 0), state, header_timeout=1.0)
    server.start()
    try:
        yield server.server_address[1], sample_site
    finally:
        server.stop()


def test_keep_alive_requests_do_not_stall(served: tuple[int, Site]) -> None:
    port, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/feed.xml")
    first = conn.getresponse()
    first.read()
    started = time.perf_counter()
    for _ in range(50):
        conn.request("GET", "/feed.xml")
        r = conn.getresponse()
        assert r.status == 200 and len(r.read()) > 1000
    per_request = (time.perf_counter() - started) / 50
    conn.close()
    assert per_request < 0.02, f"{per_request * 1000:.1f} ms a request: Nagle against delayed ACK again?"


def test_five_hundred_simultaneous_requests_are_all_answered(served: tuple[int, Site]) -> None:
    port, _ = served

    def get(_: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            conn.request("GET", "/atom.xml")
            return conn.getresponse().status
        finally:
            conn.close()

    barrier = threading.Barrier(50)

    def burst(i: int) -> list[int]:
        barrier.wait()
        return [get(i) for _ in range(10)]

    with ThreadPoolExecutor(50) as pool:
        statuses = [s for part in pool.map(burst, range(50)) for s in part]
    assert statuses == [200] * 500


def test_a_half_sent_request_is_closed_and_the_server_still_answers(served: tuple[int, Site]) -> None:
    port, _ = served
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    for s in slow:
        s.sendall(b"GET /feed.xml HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        s.settimeout(5)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/feed.json")
    assert conn.getresponse().status == 200
    conn.close()
    started = time.monotonic()
    for s in slow:
        assert s.recv(100) == b""  # closed by the server
        s.close()
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"If-Modified-Since": "Fri, 31 Dec 99999 23:59:59 GMT"}, 200),
        ({"If-Modified-Since": "not a date at all"}, 200),
        ({"If-None-Match": "\x7f" * 100}, 400),
        ({"Accept-Encoding": "gzip;q=nonsense"}, 200),
    ],
)
def test_odd_headers_get_an_answer(served: tuple[int, Site], headers: dict[str, str], status: int) -> None:
    port, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/feed.xml", headers=headers)
    assert conn.getresponse().status == status
    conn.close()


def test_other_methods_get_405_and_resets_make_no_traceback(
    served: tuple[int, Site], caplog: pytest.LogCaptureFixture
) -> None:
    port, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/feed.xml", body=b"x")
    r = conn.getresponse()
    assert r.status == 405 and r.getheader("allow") == "GET, HEAD"
    conn.close()
    with caplog.at_level(logging.DEBUG):
        for _ in range(20):  # a client that resets the connection mid-answer
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /feed.xml HTTP/1.1\r\nHost: x\r\n\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"\x16\x03\x01 this is not HTTP at all\r\n\r\n")
        s.settimeout(5)
        answer = s.recv(100)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer
        s.close()
        time.sleep(0.3)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/feed.xml")
    assert conn.getresponse().status == 200
    conn.close()
