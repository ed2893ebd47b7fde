"""Run a callable with a deadline: ``call_with_deadline(fn, seconds)`` is ``fn()``, or ``DeadlinePassed``.

Contract
--------
``call_with_deadline(fn, seconds)`` calls ``fn()`` in the calling thread and returns its value (or lets its
exception through) unless the deadline passes first; then it raises :class:`DeadlinePassed`.

*Which outcome, deterministically.* The call raises ``DeadlinePassed`` if and only if the deadline timer
expired before ``call_with_deadline`` disarmed it on the way out, whatever ``fn`` did meanwhile:

- ``fn`` was interrupted: that ``DeadlinePassed`` is re-raised (its traceback shows where ``fn`` was);
- ``fn`` had just returned, or caught the exception and carried on (``except Exception: pass``): its
  value is dropped and a fresh ``DeadlinePassed`` is raised from ``call_with_deadline`` itself — a late
  expiry is never swallowed and never delivered later;
- ``fn`` raised an ``Exception`` of its own: ``DeadlinePassed`` is raised with it as ``__cause__``; a
  ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``, ``SystemExit``) propagates as is.

Otherwise ``fn``'s value is returned or its exception propagates. Nothing from this call's timer is ever
raised in the caller's later code: before ``call_with_deadline`` returns or raises, the timer is disarmed
and an exception it sent but that was not delivered yet is withdrawn (an outer timer put back may of
course go off later, in the caller's code, as it would have without this call).

*Main thread* (when ``signal.setitimer`` exists and the current SIGALRM handler was set from Python):
``ITIMER_REAL`` plus a SIGALRM handler that raises. No thread is started. Calls nest: the previous
handler is put back afterwards, and so is a previously armed ``ITIMER_REAL``, with the time it has left
and its interval. An outer timer due before our deadline is honoured: the single real timer is armed for
whichever comes first (a tie goes to the outer one) and, when the outer one is due, the previous handler
is called from ours as if the signal had gone straight to it (so it may raise, e.g. an outer
``DeadlinePassed``, which propagates out of ``fn``); if the previous disposition was ``SIG_DFL`` its
default action, terminating the process, is carried out; with ``SIG_IGN`` nothing happens. A SIGALRM that
did not come from the timer (``kill -ALRM``) goes to the previous Python-level handler, if any. ``fn``
must not itself use SIGALRM or ``ITIMER_REAL``.

*Any other thread* (and the main thread if its SIGALRM handler was installed by C code, which Python
cannot restore): a ``threading.Timer`` raises ``DeadlinePassed`` in the calling thread with
``PyThreadState_SetAsyncExc``. The timer and the finishing caller race for a one-shot claim
(``dict.setdefault``, one atomic step under the GIL): if the caller claims first the timer never
injects; if the timer did, the caller joins the timer thread (so the injection has been made) and then
withdraws it with ``PyThreadState_SetAsyncExc(tid, NULL)`` if it was not delivered yet; a delivery during
that clean-up is caught there. Only one exception can be in flight, because nested calls in the same
thread are refused with ``RuntimeError`` on this path. The timer thread is joined before the call ends.

*Limits.* Both mechanisms interrupt Python code only: a long single C call (one cmark render, one
``time.sleep`` off the main thread) is interrupted when it returns to the interpreter. In the main
thread, two kinds of C call are interrupted early because they poll for signals: blocking system calls
(``time.sleep``, I/O) and CPython's ``re`` engine while it matches. Asynchronous exceptions are not
polled by ``re``, so off the main thread a long regular-expression match runs to its end first. The
deadline is wall-clock time (``ITIMER_REAL``, ``time.monotonic``).
"""

from __future__ import annotations

import ctypes
import math
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from .errors import DeadlinePassed

T = TypeVar("T")

__all__ = ["DeadlinePassed", "call_with_deadline"]

_MIN_DELAY = 1e-5  # setitimer() works in microseconds, and 0 would disarm


def call_with_deadline(fn: Callable[[], T], seconds: float) -> T:
    """``fn()``, or :class:`DeadlinePassed` if it runs longer than ``seconds`` (see the module docstring).

    Only Python-level code is interrupted: a long single C call is interrupted when it returns to the
    interpreter (in the main thread, blocking system calls and ``re`` matching are interrupted too).
    """
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"deadline must be a positive number of seconds, not {seconds!r}")
    if (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) is not None
    ):
        return _in_main_thread(fn, seconds)
    return _in_any_thread(fn, seconds)


def _message(seconds: float) -> str:
    return f"took longer than {seconds:g} s"


def _conclude(fired: bool, error: BaseException | None, seconds: float) -> None:
    """Apply the contract's rule once the timer is disarmed: raise what the call must raise, if anything."""
    if fired:
        if isinstance(error, DeadlinePassed):
            if not error.args:  # an asynchronous exception is created without arguments
                error.args = (_message(seconds),)
            raise error
        if error is None or isinstance(error, Exception):
            raise DeadlinePassed(_message(seconds)) from error
    if error is not None:
        raise error


# --- main thread: ITIMER_REAL + SIGALRM -------------------------------------------------------------------------


def _flush() -> None:
    """A Python-level call: the interpreter runs pending signal handlers when it enters one."""


class _Alarm:
    """One call's SIGALRM state: our deadline, the outer timer if one was armed, the previous handler."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.previous: Any = None
        self.outer_at: float | None = None
        self.outer_interval = 0.0
        self.ours_at = 0.0
        self.armed_for_ours = True
        self.stopped_outer = False  # the outer timer was read and stopped: restore() must re-arm it
        self.installed = False  # our handler is in place
        self.armed = False  # the real timer was armed at least once by us
        self.finished = False  # set on the way out, before restore(): from then on the handler never raises
        self.fired = False  # our timer expired before it was disarmed
        self.foreign: list[FrameType | None] = []  # SIGALRMs not from the timer, seen while finishing

    def install(self) -> None:
        self.previous = signal.getsignal(signal.SIGALRM)
        outer_delay, self.outer_interval = signal.setitimer(signal.ITIMER_REAL, 0)
        now = time.monotonic()
        self.ours_at = now + self.seconds
        self.outer_at = now + outer_delay if outer_delay > 0 else None
        self.stopped_outer = True
        signal.signal(signal.SIGALRM, self.handle)
        self.installed = True
        self.arm()

    def arm(self) -> None:
        """Arm the real timer for our deadline or the outer one, whichever is first."""
        self.armed_for_ours = self.outer_at is None or self.ours_at < self.outer_at
        at = self.ours_at if self.outer_at is None or self.armed_for_ours else self.outer_at
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, max(at - time.monotonic(), _MIN_DELAY))

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if signal.getitimer(signal.ITIMER_REAL)[0] > 0:  # the timer is still running: someone sent it
            if self.finished:
                self.foreign.append(frame)
            elif callable(self.previous):
                self.previous(signum, frame)
            return
        if self.armed_for_ours:
            if not self.fired:
                self.fired = True
                if not self.finished:
                    raise DeadlinePassed(_message(self.seconds))
            return
        if self.finished:  # the outer timer is due: restore() re-arms it at once, for its own handler
            return
        assert self.outer_at is not None
        self.outer_at = self.outer_at + self.outer_interval if self.outer_interval > 0 else None
        # Deliver before re-arming: a nested call_with_deadline's handler tells its timer's signal from a
        # foreign one by the timer having stopped. If it raises, the exception goes through fn to restore().
        if callable(self.previous):
            self.previous(signum, frame)
        elif self.previous == signal.SIG_DFL:  # the default action: the process ends
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGALRM)
        self.arm()

    def restore(self) -> None:
        """Disarm, put the previous handler and timer back. Call with ``finished`` already set."""
        self.finished = True
        if self.stopped_outer:
            remaining = signal.setitimer(signal.ITIMER_REAL, 0)[0]
            if self.armed and self.armed_for_ours and remaining == 0:
                self.fired = True  # it expired before the disarm; its handler may not have run yet
        if self.installed:
            _flush()  # a signal caught just before the disarm reaches our handler, not the previous one
            signal.signal(signal.SIGALRM, self.previous)
        if self.stopped_outer and self.outer_at is not None:  # last: the outer handler may raise at once
            delay = max(self.outer_at - time.monotonic(), _MIN_DELAY)
            signal.setitimer(signal.ITIMER_REAL, delay, self.outer_interval)
        if self.foreign and callable(self.previous):
            self.previous(signal.SIGALRM, self.foreign[0])


def _in_main_thread(fn: Callable[[], T], seconds: float) -> T:
    alarm = _Alarm(seconds)
    error: BaseException | None = None
    try:
        alarm.install()
        value = fn()
    except BaseException as exc:  # ours (the handler raises at most once), fn's own, or an outer handler's
        error = exc
    # No check for signals can happen between the line above and this one: the handler cannot raise any more.
    alarm.finished = True
    alarm.restore()
    _conclude(alarm.fired, error, seconds)
    return value


# --- any thread: threading.Timer + PyThreadState_SetAsyncExc ---------------------------------------------------

_set_async_exc = ctypes.pythonapi["PyThreadState_SetAsyncExc"]  # a private copy: argtypes stay ours
_set_async_exc.argtypes = [ctypes.c_ulong, ctypes.py_object]
_set_async_exc.restype = ctypes.c_int

_active = threading.local()  # .depth: calls on this path running in this thread


def _inject(claim: dict[str, str], thread_id: int) -> None:
    """The timer's side: raise DeadlinePassed in the caller's thread unless the caller claimed first."""
    if claim.setdefault("winner", "timer") == "timer":
        _set_async_exc(ctypes.c_ulong(thread_id), ctypes.py_object(DeadlinePassed))


def _settle(claim: dict[str, str], timer: threading.Timer, thread_id: int) -> bool:
    """The caller's side, idempotent: claim, or learn that the timer did; leave nothing pending; join it."""
    if claim.setdefault("winner", "caller") == "caller":
        timer.cancel()  # it would find the claim taken anyway
        if timer.ident is not None:  # started
            timer.join()
        return False
    timer.join()  # the injection is made before the timer thread ends; it may be delivered in here
    _set_async_exc(ctypes.c_ulong(thread_id), ctypes.py_object())  # an empty py_object is NULL: withdraw it
    return True


def _in_any_thread(fn: Callable[[], T], seconds: float) -> T:
    if getattr(_active, "depth", 0):
        raise RuntimeError("call_with_deadline does not nest outside the main thread")
    thread_id = threading.get_ident()
    claim: dict[str, str] = {}
    timer = threading.Timer(seconds, _inject, (claim, thread_id))
    timer.daemon = True
    timer.name = "deadline"
    error: BaseException | None = None
    _active.depth = 1
    try:
        timer.start()
        value = fn()
    except BaseException as exc:  # ours, delivered in fn or just after it, or fn's own
        error = exc
    try:
        fired = _settle(claim, timer, thread_id)
    except DeadlinePassed:  # ours, delivered during _settle: only our timer injects here, and only once
        fired = _settle(claim, timer, thread_id)  # nothing can be delivered any more
    finally:
        _active.depth = 0
    _conclude(fired, error, seconds)
    return value
