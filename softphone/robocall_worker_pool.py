"""The robocaller's telephony workers: N ``robocall_worker`` processes (≤ 4 calls each) behind two queues.

The supervisor puts ``CallJob``s on one queue (a worker takes a job only when it has a free call, so load
spreads by itself) and reads ``CallReport``s from the other. Workers are spawned, not forked: the supervisor
holds database connections and threads that a forked pjsua2 process must not inherit.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from callcenter.robocall_jobs import CallJob, CallProgress, CallReport, WorkerStarted, WorkerStopped
from softphone.config import WHEEL_MAX_CALLS, PhoneConfig
from softphone.errors import SoftphoneError

logger = logging.getLogger(__name__)

# Scheduling of a robocaller's processes (docs/robocalls.md, "Processes"): the telephony workers' pjmedia clock
# and RTP threads run real-time round-robin, the workers' other threads at a raised priority, the ASR workers
# below normal, so that nothing else on the machine delays call audio. Not permitted (no CAP_SYS_NICE): logged,
# normal scheduling.
MEDIA_RT_PRIORITY = 10
TELEPHONY_NICE = -5
ASR_NICE = 10


class WorkerPoolError(SoftphoneError):
    """A worker process could not start; the message carries its reason."""


def _worker_entry(name: str, config: PhoneConfig, jobs: Any, reports: Any, max_calls: int, log_level: int,
                  speech: Any) -> None:
    # imported in the child only: the supervisor process never loads pjsua2
    from softphone.robocall_worker import run_worker

    run_worker(name, config, jobs, reports, max_calls, log_level, speech)


class WorkerPool:
    def __init__(self, phone_config: PhoneConfig, *, workers: int, calls_per_worker: int = WHEEL_MAX_CALLS,
                 first_port: int | None = None, on_progress: Callable[[CallProgress], None] | None = None,
                 speech: Any = None) -> None:
        """``speech``: a picklable SpeechFactory (see softphone.robocall_worker) each worker calls once."""
        self.on_progress = on_progress
        self.speech = speech
        if not 1 <= calls_per_worker <= WHEEL_MAX_CALLS:
            raise WorkerPoolError(f"calls per worker must be 1-{WHEEL_MAX_CALLS} (the pjsua2 wheel's limit)")
        self.calls_per_worker = calls_per_worker
        base = phone_config.bind_port if first_port is None else first_port
        self.configs = [replace(phone_config, bind_port=(base + 2 * i) if base else 0, user=f"robot{i + 1}")
                        for i in range(workers)]
        self._ctx = mp.get_context("spawn")
        self.jobs: Any = self._ctx.Queue()
        self.reports: Any = self._ctx.Queue()
        self.processes: list[Any] = []
        self.outstanding = 0
        self.local_uris: dict[str, str] = {}

    @property
    def capacity(self) -> int:
        return len(self.configs) * self.calls_per_worker

    def start(self, timeout_s: float | None = None) -> None:
        """Spawn the workers and wait until each has its SIP transport (default: 30 s + 10 s per worker)."""
        timeout_s = timeout_s if timeout_s is not None else 30.0 + 10.0 * len(self.configs)
        deadline = time.monotonic() + timeout_s
        for n, config in enumerate(self.configs, start=1):
            proc = self._ctx.Process(target=_worker_entry, name=f"robocall-w{n}",
                                     args=(f"w{n}", config, self.jobs, self.reports, self.calls_per_worker,
                                           logging.getLogger().getEffectiveLevel(), self.speech))
            proc.start()
            self.processes.append(proc)
        while len(self.local_uris) < len(self.configs):
            try:
                msg = self.reports.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise WorkerPoolError(f"robocall workers did not start within {timeout_s} s") from None
            if isinstance(msg, WorkerStarted):
                self.local_uris[msg.worker] = msg.local_uri
            elif isinstance(msg, WorkerStopped):
                self.stop()
                raise WorkerPoolError(f"robocall worker {msg.worker} could not start: {msg.error}")
        logger.info("robocall workers up: %s", ", ".join(sorted(self.local_uris)))

    def submit(self, job: CallJob) -> None:
        self.jobs.put(job)
        self.outstanding += 1

    def next_report(self, timeout_s: float) -> CallReport | None:
        """The next finished call, or None after ``timeout_s``. Progress messages go to ``on_progress`` meanwhile.
        A worker that died raises WorkerPoolError."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                msg = self.reports.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if isinstance(msg, WorkerStopped):
                raise WorkerPoolError(f"robocall worker {msg.worker} stopped: {msg.error or 'no reason given'}")
            if isinstance(msg, CallReport):
                self.outstanding -= 1
                return msg
            if isinstance(msg, CallProgress) and self.on_progress is not None:
                self.on_progress(msg)

    def stop(self, timeout_s: float = 30.0) -> None:
        for _ in self.processes:
            self.jobs.put(None)
        for proc in self.processes:
            proc.join(timeout=timeout_s)
            if proc.is_alive():
                logger.warning("robocall worker %s did not stop; terminating it", proc.name)
                proc.terminate()
                proc.join(timeout=5)
        self.processes.clear()
