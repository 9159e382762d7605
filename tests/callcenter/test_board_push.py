"""The supervisors' live board is told "look again" (queue_changed to the supervisors' room) at most once per
interval: the first change at once, the ones within the interval held back and told as one when it ends (by a
timer, or by the owner's loop); the scheduler tells it when its jobs move tasks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from callcenter import scheduler
from callcenter.board_push import BoardPush
from callcenter.call_rules import CallRules
from callcenter.clock import FrozenClock
from callcenter.db import session_scope
from callcenter.models import Patient, Task, TaskStatus
from callcenter.settings import Settings

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.pushed: list[tuple[str, dict[str, Any], str]] = []
        self.arrived = threading.Event()

    def emit(self, event: str, payload: dict[str, Any], room: str) -> None:
        self.pushed.append((event, payload, room))
        self.arrived.set()


def test_a_burst_is_told_at_once_then_as_one_when_the_interval_ends() -> None:
    clock, board = FrozenClock(NOW), Recorder()
    push = BoardPush(board, clock, every_s=0.2)
    push.changed(1)
    assert board.pushed == [("queue_changed", {"task_id": 1}, "supervisors")]
    board.arrived.clear()
    for task_id in (2, 3, 4):  # within the interval: held back, one timer
        push.changed(task_id)
    assert len(board.pushed) == 1
    assert board.arrived.wait(5), "the held-back change was never told"
    # the frozen clock never moves: the timer itself waited out the interval
    assert board.pushed[1:] == [("queue_changed", {"task_id": 4}, "supervisors")]
    push.last_word()  # nothing held back: nothing more to tell
    assert len(board.pushed) == 2


def test_an_owner_with_a_loop_flushes_and_has_the_last_word() -> None:
    clock, board = FrozenClock(NOW), Recorder()
    push = BoardPush(board, clock, every_s=2.0, trailing=False)
    push.changed(1)
    push.changed()  # a change of no single task
    clock.advance(timedelta(seconds=1))
    push.flush()
    assert board.pushed == [("queue_changed", {"task_id": 1}, "supervisors")]
    clock.advance(timedelta(seconds=1))
    push.flush()
    assert board.pushed[1:] == [("queue_changed", {}, "supervisors")]
    push.changed(5)
    push.last_word()
    assert board.pushed[2:] == [("queue_changed", {"task_id": 5}, "supervisors")]


def test_a_board_that_cannot_be_told_does_not_fail_the_change() -> None:
    class Down:
        def emit(self, event: str, payload: dict[str, Any], room: str) -> None:
            raise ConnectionError("redis is down")

    BoardPush(Down(), FrozenClock(NOW)).changed(1)  # the claim or wrap-up it follows is committed already


class _Leader:
    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


def _planned_task(engine: Engine, at: datetime) -> int:
    with session_scope(engine) as s:
        patient = Patient(name="张三", source_system="his", mrn="BP001")
        s.add(patient)
        s.flush()
        task = Task(patient_id=patient.id or 0, status=TaskStatus.planned, due_at=at, next_attempt_at=at)
        s.add(task)
        s.flush()
        return task.id or 0


def test_the_scheduler_tells_the_board_when_it_releases_due_tasks(engine: Engine, tmp_path: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    task_id = _planned_task(engine, NOW - timedelta(minutes=1))
    board = Recorder()
    rt = scheduler.Runtime(engine=engine, settings=Settings(data_dir=str(tmp_path)), rules=CallRules(),
                           clock=FrozenClock(NOW), lock=_Leader(), notifier=board)
    monkeypatch.setattr(scheduler, "_runtime", rt)
    assert scheduler.job_escalate_alerts() == 0 and board.pushed == []  # a job that moves no task says nothing
    assert scheduler.job_release_due() == 1
    assert board.pushed == [("queue_changed", {}, "supervisors")]
    with session_scope(engine) as s:
        assert s.get(Task, task_id).status is TaskStatus.due  # told after the job's commit
    assert scheduler.job_release_due() == 0
    assert len(board.pushed) == 1  # nothing released: nothing told


def test_run_once_tells_the_board_once_and_holds_nothing_back(engine: Engine, tmp_path: Any) -> None:
    _planned_task(engine, NOW - timedelta(minutes=1))
    board = Recorder()
    rt = scheduler.Runtime(engine=engine, settings=Settings(data_dir=str(tmp_path)), rules=CallRules(),
                           clock=FrozenClock(NOW), lock=_Leader(), notifier=board)
    assert scheduler.run_once(rt, NOW)["release_due"] == 1
    assert board.pushed == [("queue_changed", {}, "supervisors")]
