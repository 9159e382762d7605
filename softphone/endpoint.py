"""The one thread that owns pjsua2 in this process.

pjsua2 runs with ``threadCnt = 0``: this thread polls ``libHandleEvents`` and runs queued commands between
polls, so every SIP callback and every pj object's creation and destruction happen here. Other threads only
enqueue work (``call``/``post``) and wait on a ``Future``. Media callbacks still run on pjmedia's clock thread.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

import pjsua2 as pj

from softphone.config import PhoneConfig
from softphone.errors import SoftphoneClosed, SoftphoneError, log_exception

logger = logging.getLogger(__name__)

T = TypeVar("T")
POLL_MS = 10
COMMAND_TIMEOUT_S = 15.0

_libc = ctypes.CDLL(None)
_instance_lock = threading.Lock()
_instance_alive = False  # pjsua2's Endpoint is a process-wide singleton
# A second Endpoint while the previous C++ object lives throws inside SWIG's constructor -> std::terminate.
_last_endpoint: weakref.ref[pj.Endpoint] | None = None


MEDIA_THREADS = ("clock", "media")  # pjmedia's bridge clock (sends every call's RTP) and its RTP receive thread


def set_thread_nice(nice: int) -> bool:
    """Set the calling thread's nice value (threads it starts later inherit it). False if not permitted."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)  # Linux: PRIO_PROCESS 0 is the calling thread
    except OSError as exc:
        logger.warning("cannot set nice %s (%s): this process runs at its normal priority", nice, exc.strerror)
        return False
    return True


def realtime_threads(priority: int, names: tuple[str, ...] = MEDIA_THREADS, wait_s: float = 2.0) -> list[str]:
    """Give this process's threads with these names SCHED_RR ``priority``; returns the names changed. A new
    pjlib thread names itself once it runs, so names not seen yet are looked for again for up to ``wait_s``."""
    changed: list[str] = []
    deadline = time.monotonic() + wait_s
    tasks = f"/proc/{os.getpid()}/task"
    while True:
        for tid in os.listdir(tasks):
            try:
                with open(f"{tasks}/{tid}/comm") as fh:
                    name = fh.read().strip()
            except OSError:
                continue  # the thread ended
            if name not in names or name in changed:
                continue
            try:
                os.sched_setscheduler(int(tid), os.SCHED_RR, os.sched_param(priority))
            except OSError as exc:
                logger.warning("cannot give the %s thread real-time priority (%s): audio may gap when the machine "
                               "is busy (grant CAP_SYS_NICE or LimitRTPRIO)", name, exc.strerror)
                return changed
            changed.append(name)
        if len(changed) == len(names) or time.monotonic() > deadline:
            return changed
        time.sleep(0.02)  # sleep-ok: polling /proc for a thread that has not named itself yet (bounded)


def _detached(exc: BaseException) -> BaseException:
    """The exception without tracebacks (its frames reach the pj thread's frames and their pj objects, which
    must never be released by another thread, nor outlive ``libDestroy``)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        stack += [current.__cause__, current.__context__]
    return exc


class _Command:
    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[], object], future: Future[object] | None) -> None:
        self.fn = fn
        self.future = future


class PjThread:
    """Owns the Endpoint. ``setup(ep)`` runs on the thread after ``libStart``; ``teardown()`` before destroy."""

    def __init__(self, config: PhoneConfig, name: str = "pjsua") -> None:
        self.config = config
        self._commands: queue.Queue[_Command] = queue.Queue()
        self._stop = threading.Event()
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._setup: Callable[[pj.Endpoint], None] | None = None
        self._teardown: Callable[[], None] | None = None
        self.ep: pj.Endpoint | None = None
        self.stopped = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self, setup: Callable[[pj.Endpoint], None], teardown: Callable[[], None]) -> None:
        global _instance_alive
        with _instance_lock:
            gc.collect()  # a cycle may still hold the previous Endpoint
            previous = _last_endpoint() if _last_endpoint is not None else None
            if _instance_alive or previous is not None:
                raise SoftphoneError(
                    "a softphone is already running in this process (pjsua2 allows one Endpoint per process): "
                    "close it first, or run another process"
                )
            _instance_alive = True
        self._setup, self._teardown = setup, teardown
        self._thread.start()
        self._started.wait()
        if self._startup_error is not None:
            self._thread.join(timeout=5)
            raise SoftphoneError(f"the SIP stack did not start: {self._startup_error}") from self._startup_error

    def stop(self, timeout_s: float = 10.0) -> None:
        """Run the teardown and destroy the library on the pj thread; wait for it."""
        if not self._thread.is_alive():
            return
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            logger.error("pjsua thread did not stop within %.1f s", timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    # -- commands --------------------------------------------------------------------------------------------
    def call(self, fn: Callable[[], T], timeout_s: float = COMMAND_TIMEOUT_S) -> T:
        """Run ``fn`` on the pj thread and return its result (its exception is re-raised here)."""
        if self.on_thread():
            return fn()
        if not self.alive:
            raise SoftphoneClosed("the softphone is closed: start a new one")
        future: Future[object] = Future()
        self._commands.put(_Command(fn, future))
        try:
            return future.result(timeout=timeout_s)  # type: ignore[return-value]
        except TimeoutError as exc:
            raise SoftphoneError(f"the SIP thread did not answer within {timeout_s:.0f} s") from exc

    def post(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the pj thread later (fire and forget; errors are logged)."""
        self._commands.put(_Command(fn, None))

    def pump(self, duration_ms: int) -> None:
        """Handle SIP events for a while (only on the pj thread, e.g. during teardown)."""
        assert self.ep is not None and self.on_thread()
        remaining = duration_ms
        while remaining > 0:
            self.ep.libHandleEvents(POLL_MS)
            remaining -= POLL_MS

    # -- the thread ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        global _instance_alive
        try:
            self._create()
            assert self._setup is not None and self.ep is not None
            self._setup(self.ep)
        except BaseException as exc:  # report any start-up failure to start()
            log_exception(logger, "pjsua start-up failed")
            self._startup_error = exc
            self._destroy()
            self._started.set()
            with _instance_lock:
                _instance_alive = False
            return
        self._started.set()
        try:
            self._loop()
        finally:
            self._fail_pending()
            try:
                if self._teardown is not None:
                    self._teardown()
            except Exception:
                log_exception(logger, "softphone teardown failed; destroying the library anyway")
            self._destroy()
            with _instance_lock:
                _instance_alive = False
            self.stopped.set()

    def _create(self) -> None:
        cfg = self.config
        ep = pj.Endpoint()
        # libCreate prints pjlib's banner on stdout before any log config applies: keep stdout clean (--json).
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            os.dup2(2, 1)
            ep.libCreate()
        finally:
            _libc.fflush(None)  # C stdio buffers the banner: flush it to stderr before restoring stdout
            os.dup2(saved, 1)
            os.close(saved)
        global _last_endpoint
        self.ep = ep
        _last_endpoint = weakref.ref(ep)
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0
        ep_cfg.uaConfig.mainThreadOnly = False
        ep_cfg.uaConfig.maxCalls = cfg.max_calls
        ep_cfg.uaConfig.userAgent = "callcenter-softphone"
        ep_cfg.logConfig.level = cfg.pj_log_level if cfg.pj_log_file else 0
        ep_cfg.logConfig.consoleLevel = 0
        if cfg.pj_log_file:
            ep_cfg.logConfig.filename = cfg.pj_log_file
        ep_cfg.medConfig.clockRate = cfg.clock_rate_hz
        ep_cfg.medConfig.sndClockRate = cfg.clock_rate_hz
        ep_cfg.medConfig.channelCount = 1
        # The null sound device is the bridge's clock: never auto-close it when idle (a hold re-INVITE that
        # moves the call to a new bridge slot would stop every frame port until the next connection to it).
        ep_cfg.medConfig.sndAutoCloseTime = -1
        ep_cfg.medConfig.noVad = True  # keep RTP flowing in silence: steady timing for recordings and taps
        ep.libInit(ep_cfg)

    def _loop(self) -> None:
        # No local reference to the Endpoint here: a traceback passing through this frame would keep it alive.
        while not self._stop.is_set():
            self.ep.libHandleEvents(POLL_MS)  # type: ignore[union-attr]
            while True:
                try:
                    cmd = self._commands.get_nowait()
                except queue.Empty:
                    break
                self._execute(cmd)

    @staticmethod
    def _execute(cmd: _Command) -> None:
        try:
            result = cmd.fn()
        except BaseException as exc:
            if cmd.future is None or not isinstance(exc, SoftphoneError):
                log_exception(logger, "softphone command failed")
            if cmd.future is not None:
                cmd.future.set_exception(_detached(exc))
            return
        if cmd.future is not None:
            cmd.future.set_result(result)

    def _fail_pending(self) -> None:
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            if cmd.future is not None:
                cmd.future.set_exception(SoftphoneClosed("the softphone closed before running the command"))

    def _destroy(self) -> None:
        # A traceback kept by the interpreter holds frames (and their pj objects) alive until exit -> SIGABRT.
        sys.last_type = sys.last_value = sys.last_traceback = None
        ep, self.ep = self.ep, None
        if ep is None:
            return
        try:
            ep.libDestroy(pj.PJSUA_DESTROY_NO_RX_MSG)
        except Exception:
            log_exception(logger, "libDestroy failed")
        del ep
