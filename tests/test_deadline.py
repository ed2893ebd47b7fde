"""call_with_deadline stops a pathological Markdown render in every place the project renders one.

The CLI's main thread (SIGALRM), a daemon's worker thread (an asynchronous exception), and the
worker processes of a ProcessPoolExecutor, forked or spawned. Around the deadline itself, nothing
may leak: no armed timer, no foreign handler, no thread, no exception raised later.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from types import FrameType
from typing import Any

import pytest

from syndicate.core.markup import render_body
from syndicate.deadline import DeadlinePassed, call_with_deadline

EXTENSIONS = ("extra", "sane_lists", "smarty")  # ContentSettings' default
# 100 KiB of "[": Python-Markdown's link parsing is quadratic in it (4,000 → 6 s, 8,000 → 25 s: over an
# hour at this size), and all of that time is Python bytecode, so it can be interrupted.
PATHOLOGICAL = "[" * 102_390 + " some text"
DEADLINE = 0.5
SLACK = 1.0  # the exception must arrive within the deadline + this


def _pathological_render() -> tuple[str, str]:
    return render_body(PATHOLOGICAL, "https://example.com/p/", "markdown", EXTENSIONS, 280)


def _timed(fn: Callable[[], object], seconds: float) -> tuple[str, float]:
    start = time.monotonic()
    try:
        fn_value = call_with_deadline(fn, seconds)
    except DeadlinePassed:
        return "DeadlinePassed", time.monotonic() - start
    return f"returned {fn_value!r:.40}", time.monotonic() - start


def _in_thread(fn: Callable[[], Any]) -> Any:
    """``fn()`` in a fresh non-main thread: its value, or its exception re-raised here."""
    out: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="test-worker")
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    if errors:
        raise errors[0]
    return out[0]


@pytest.fixture
def quiet_alarm() -> Iterator[None]:
    """No timer armed and the default SIGALRM disposition, before and after the test."""
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    previous = signal.getsignal(signal.SIGALRM)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- the real pathological render ------------------------------------------------------------------------------


def test_the_main_thread_interrupts_the_pathological_render(quiet_alarm: None) -> None:
    def sentinel(signum: int, frame: FrameType | None) -> None:
        raise AssertionError("the previous SIGALRM handler must not be called")

    signal.signal(signal.SIGALRM, sentinel)
    outcome, elapsed = _timed(_pathological_render, DEADLINE)
    assert outcome == "DeadlinePassed"
    assert DEADLINE <= elapsed < DEADLINE + SLACK
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is sentinel


def test_a_non_main_thread_interrupts_the_pathological_render(quiet_alarm: None) -> None:
    before = threading.active_count()
    outcome, elapsed = _in_thread(lambda: _timed(_pathological_render, DEADLINE))
    assert outcome == "DeadlinePassed"
    assert DEADLINE <= elapsed < DEADLINE + SLACK
    assert threading.active_count() == before  # the timer thread was joined
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL  # that path never touches signals


def _deadline_in_worker(seconds: float) -> tuple[str, float, bool, tuple[float, float], bool, int]:
    """Run in a pool worker: the outcome, the time it took, and what the worker looks like afterwards."""
    previous = signal.getsignal(signal.SIGALRM)
    outcome, elapsed = _timed(_pathological_render, seconds)
    return (
        outcome,
        elapsed,
        threading.current_thread() is threading.main_thread(),
        signal.getitimer(signal.ITIMER_REAL),
        signal.getsignal(signal.SIGALRM) is previous,
        threading.active_count(),
    )


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_workers_interrupt_the_pathological_render(method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(method)) as pool:
        assert pool.submit(int, "1").result(timeout=60) == 1  # the worker is up: time only the task below
        start = time.monotonic()
        outcome, elapsed, in_main, timer, restored, threads = pool.submit(_deadline_in_worker, DEADLINE).result(60)
        round_trip = time.monotonic() - start
    assert outcome == "DeadlinePassed"
    assert DEADLINE <= elapsed < DEADLINE + SLACK
    assert round_trip < DEADLINE + SLACK + 1.0
    assert in_main  # tasks run in the worker's main thread: the SIGALRM path
    assert timer == (0.0, 0.0) and restored
    assert threads == 1  # nothing left behind that would make the next fork unsafe


# --- ordinary calls leave nothing behind ---------------------------------------------------------------------


def test_a_fast_call_returns_its_value_and_restores_timer_and_handler(quiet_alarm: None) -> None:
    def sentinel(signum: int, frame: FrameType | None) -> None:
        raise AssertionError("not to be called")

    signal.signal(signal.SIGALRM, sentinel)
    html, summary = call_with_deadline(
        lambda: render_body("Hello *world*.", "https://example.com/p/", "markdown", EXTENSIONS, 280), 5
    )
    assert html == "<p>Hello <em>world</em>.</p>" and summary == "Hello world."
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is sentinel
    assert call_with_deadline(lambda: 42, 0.01) == 42


def test_fn_exceptions_pass_through_unchanged(quiet_alarm: None) -> None:
    def boom() -> None:
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        call_with_deadline(boom, 5)
    with pytest.raises(KeyError, match="mine"):
        _in_thread(lambda: call_with_deadline(boom, 5))
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_main_thread_path_starts_no_thread(quiet_alarm: None, monkeypatch: pytest.MonkeyPatch) -> None:
    names = sorted(t.name for t in threading.enumerate())
    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def recording_start(self: threading.Thread) -> None:
        started.append(self)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", recording_start)
    assert call_with_deadline(lambda: "fast", 1) == "fast"
    assert _timed(_busy(0.3), 0.05)[0] == "DeadlinePassed"
    assert started == []
    assert sorted(t.name for t in threading.enumerate()) == names
    _in_thread(lambda: call_with_deadline(lambda: None, 1))  # the other path does use a timer thread
    assert [t.name for t in started] == ["test-worker", "deadline"]


def test_a_previously_armed_timer_is_put_back_with_the_time_it_has_left(quiet_alarm: None) -> None:
    fired: list[float] = []
    signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(time.monotonic()))
    signal.setitimer(signal.ITIMER_REAL, 0.4)
    start = time.monotonic()
    assert call_with_deadline(lambda: "done", 5) == "done"
    left = signal.getitimer(signal.ITIMER_REAL)[0]
    assert 0.3 < left <= 0.4
    time.sleep(0.9)
    assert len(fired) == 1 and 0.35 < fired[0] - start < 0.9  # the outer timer went off, once, on time


def test_an_outer_timer_due_first_is_honoured(quiet_alarm: None) -> None:
    class Outer(Exception):
        pass

    def outer(signum: int, frame: FrameType | None) -> None:
        raise Outer

    signal.signal(signal.SIGALRM, outer)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    outcome = None
    start = time.monotonic()
    try:
        call_with_deadline(_busy(3), 2)
    except Outer:
        outcome = "outer"
    assert outcome == "outer" and 0.2 <= time.monotonic() - start < 0.7
    assert signal.getsignal(signal.SIGALRM) is outer
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # it was one-shot, and it fired


def test_nested_calls_in_the_main_thread(quiet_alarm: None) -> None:
    start = time.monotonic()
    assert _timed(lambda: call_with_deadline(_busy(3), 2), 0.2)[0] == "DeadlinePassed"  # the outer one
    assert 0.2 <= time.monotonic() - start < 0.7
    # the inner one passes; the outer one is still armed, then disarmed
    assert call_with_deadline(lambda: _timed(_busy(3), 0.1)[0], 5) == "DeadlinePassed"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL


def test_nesting_off_the_main_thread_is_refused() -> None:
    with pytest.raises(RuntimeError, match="does not nest"):
        _in_thread(lambda: call_with_deadline(lambda: call_with_deadline(lambda: 1, 1), 1))


@pytest.mark.parametrize("where", ["main", "thread"])
def test_a_deadline_that_fn_swallows_still_ends_the_call(where: str, quiet_alarm: None) -> None:
    def stubborn() -> str:
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            try:
                while time.monotonic() < end:
                    pass
            except DeadlinePassed:
                pass
        return "finished anyway"

    def call() -> str:
        return _timed(stubborn, 0.05)[0]

    assert (call() if where == "main" else _in_thread(call)) == "DeadlinePassed"


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_a_deadline_must_be_a_positive_finite_number(seconds: float) -> None:
    with pytest.raises(ValueError):
        call_with_deadline(lambda: 1, seconds)


# --- races at the deadline -----------------------------------------------------------------------------------


def _busy(seconds: float, value: object = None) -> Callable[[], object]:
    """A callable that spins (holding the GIL, running bytecode) for ``seconds``, then returns ``value``."""

    def spin() -> object:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
        return value

    return spin


def _other_work() -> int:
    """What a caller does next (for about 0.1 ms): a stray DeadlinePassed would be raised in here."""
    total = 0
    for i in range(600):
        total += len(str(i))
    return total


def _stress(calls: int, deadline: float, low: float, high: float, seed: int) -> Counter[str]:
    """``calls`` calls lasting ``low``…``high`` × the deadline, each followed by other work.

    A stray exception shows up as LEAKED (in the other work), as EARLY (a DeadlinePassed raised
    before the deadline: one meant for the call before), or escapes outside any ``try`` and fails the test.
    """
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    in_main = threading.current_thread() is threading.main_thread()
    for i in range(calls):
        spin = _busy(deadline * rng.uniform(low, high), i)
        start = time.perf_counter()
        try:
            value = call_with_deadline(spin, deadline)
        except DeadlinePassed:
            outcomes["deadline" if time.perf_counter() - start >= deadline else "EARLY"] += 1
        else:
            assert value == i
            outcomes["value"] += 1
        try:
            _other_work()
            if in_main:
                assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        except DeadlinePassed:
            outcomes["LEAKED"] += 1
    end = time.monotonic() + 0.05  # anything still in flight would land now
    try:
        while time.monotonic() < end:
            _other_work()
    except DeadlinePassed:
        outcomes["LEAKED"] += 1
    return outcomes


def test_no_exception_leaks_past_calls_ending_at_the_deadline_in_the_main_thread(quiet_alarm: None) -> None:
    threads = threading.active_count()
    outcomes = _stress(calls=1200, deadline=0.001, low=0.7, high=1.3, seed=1)
    assert outcomes["LEAKED"] == outcomes["EARLY"] == 0
    assert outcomes["value"] > 60 and outcomes["deadline"] > 60  # both sides of the deadline were hit
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
    assert threading.active_count() == threads


def test_no_exception_leaks_past_calls_ending_at_the_deadline_in_a_thread() -> None:
    before = threading.active_count()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # the timer thread gets the GIL soon after it wakes: it fires closer to on time
    try:
        outcomes = _in_thread(lambda: _stress(calls=600, deadline=0.001, low=0.8, high=2.5, seed=2))
    finally:
        sys.setswitchinterval(interval)
    assert outcomes["LEAKED"] == outcomes["EARLY"] == 0
    assert outcomes["value"] > 40 and outcomes["deadline"] > 40
    assert threading.active_count() == before  # every timer thread was joined
