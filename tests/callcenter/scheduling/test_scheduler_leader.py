"""Acceptance: however many scheduler processes run, exactly one acts; a standby takes over when it dies."""

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from callcenter.scheduler import FileLock, PgAdvisoryLock, leader_lock_for

RUNNER = Path(__file__).with_name("scheduler_proc.py")  # what `callcenter schedule run` runs: scheduler.serve
WAIT_S = 60


class SchedulerProcess:
    def __init__(self, url: str, tmp: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(RUNNER), url, str(tmp)],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put("")

    def wait_for(self, text: str, count: int = 1) -> None:
        """Block until ``text`` has appeared ``count`` times in the log (or fail after WAIT_S)."""
        while sum(text in s for s in self.seen) < count:
            try:
                line = self.lines.get(timeout=WAIT_S)
            except queue.Empty:
                pytest.fail(f"no {text!r} within {WAIT_S}s; log tail: {self.seen[-5:]}")
            if line == "":
                pytest.fail(f"process exited before {text!r}; log tail: {self.seen[-5:]}")
            self.seen.append(line)

    def ran(self) -> int:
        return sum("scheduler leader pid=" in s and " ran " in s for s in self.seen)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=WAIT_S)


@pytest.mark.slow
def test_one_scheduler_acts_and_a_standby_takes_over(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    first = SchedulerProcess(url, tmp_path)
    second = None
    try:
        first.wait_for("scheduler started (leader)")
        second = SchedulerProcess(url, tmp_path)
        second.wait_for("scheduler started (standby)")
        second.wait_for("is standby; release_due skipped", count=3)
        first.wait_for(" ran release_due", count=3)
        assert second.ran() == 0
        first.stop(signal.SIGKILL)  # a crash: the lock must go with the process
        second.wait_for(" ran release_due", count=2)
    finally:
        for p in (first, second):
            if p is not None:
                p.stop()
    assert first.ran() >= 3


def test_leader_lock_is_exclusive_within_the_database(engine):
    a, b = leader_lock_for(engine), leader_lock_for(engine)
    assert isinstance(a, FileLock if engine.dialect.name == "sqlite" else PgAdvisoryLock)
    try:
        assert a.try_acquire()
        assert a.try_acquire()  # re-entrant for the holder
        assert not b.try_acquire()
        a.release()
        assert b.try_acquire()
    finally:
        a.release()
        b.release()
