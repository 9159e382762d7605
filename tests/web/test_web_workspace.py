"""The nurse's queue, claiming a task, the call screen and the wrap-up with an outcome."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from callcenter.models import CallAttempt, Task, TaskStatus


def _queue_task_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-task-id="(\d+)"', html)]


def test_queue_lists_her_team_tasks_callbacks_first_with_masked_numbers(client, auth, queue_data):
    auth.login("nurse")
    html = client.get("/workspace/queue").get_data(as_text=True)
    assert _queue_task_ids(html) == [queue_data.callback_task_id, queue_data.due_task_id]
    assert "心内科出院随访" in html and "预约回访" in html and "出院后7天" in html
    assert "139****9000" in html and "13900139000" not in html


def test_claim_opens_the_call_screen_and_the_task_leaves_other_queues(auth_for, client, auth, queue_data):
    auth.login("nurse")
    response = client.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": auth.csrf})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/workspace/tasks/{queue_data.due_task_id}"
    screen = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "李四" in screen and 'id="transcript"' in screen and "完成" in screen
    other, other_auth = auth_for("nurse2")
    assert queue_data.due_task_id not in _queue_task_ids(other.get("/workspace/queue").get_data(as_text=True))
    taken = other.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": other_auth.csrf})
    assert taken.status_code == 409


def test_wrap_up_completed_closes_the_task_and_records_the_attempt(client, auth, queue_data, sqlite_engine, staff):
    auth.login("nurse")
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": auth.csrf})
    response = client.post(f"/workspace/tasks/{queue_data.due_task_id}/wrap-up",
                           data={"csrf_token": auth.csrf, "outcome": "completed", "phone_id": queue_data.phone_id})
    assert response.status_code == 302 and response.headers["Location"] == "/workspace/queue"
    with Session(sqlite_engine) as s:
        task = s.get(Task, queue_data.due_task_id)
        attempts = s.exec(select(CallAttempt).where(CallAttempt.task_id == queue_data.due_task_id)).all()
    assert task.status == TaskStatus.completed and task.final_outcome == "completed"
    assert [(a.user_id, a.outcome_code, a.phone_id) for a in attempts] == [
        (staff["nurse"].id, "completed", queue_data.phone_id)]


def test_callback_needs_a_time_and_stays_with_the_nurse(client, auth, queue_data, sqlite_engine, staff):
    auth.login("nurse")
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": auth.csrf})
    url = f"/workspace/tasks/{queue_data.due_task_id}/wrap-up"
    missing = client.post(url, data={"csrf_token": auth.csrf, "outcome": "callback_requested"})
    assert missing.status_code == 422 and "回访时间" in missing.get_data(as_text=True)
    ok = client.post(url, data={"csrf_token": auth.csrf, "outcome": "callback_requested",
                                "callback_at": "2026-11-25T15:00"})
    assert ok.status_code == 302
    with Session(sqlite_engine) as s:
        task = s.get(Task, queue_data.due_task_id)
    assert task.status == TaskStatus.callback and task.assignee_id == staff["nurse"].id
    assert task.callback_at.isoformat() == "2026-11-25T07:00:00+00:00"  # 15:00 Asia/Shanghai


def test_another_nurse_cannot_wrap_up_a_task_she_does_not_hold(auth_for, client, auth, queue_data):
    auth.login("nurse")
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": auth.csrf})
    other, other_auth = auth_for("nurse2")
    response = other.post(f"/workspace/tasks/{queue_data.due_task_id}/wrap-up",
                          data={"csrf_token": other_auth.csrf, "outcome": "completed"})
    assert response.status_code == 409
    assert "不由您处理" in other.get(f"/workspace/tasks/{queue_data.due_task_id}").get_data(as_text=True)


def test_release_puts_the_task_back_in_the_queue(client, auth, queue_data):
    auth.login("nurse")
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": auth.csrf})
    assert queue_data.due_task_id not in _queue_task_ids(client.get("/workspace/queue").get_data(as_text=True))
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/release", data={"csrf_token": auth.csrf})
    assert queue_data.due_task_id in _queue_task_ids(client.get("/workspace/queue").get_data(as_text=True))


def test_wrap_up_can_advance_to_the_next_patient_of_her_queue(client, auth, queue_data, sqlite_engine, staff):
    auth.login("nurse")
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": auth.csrf})
    response = client.post(f"/workspace/tasks/{queue_data.due_task_id}/wrap-up",
                           data={"csrf_token": auth.csrf, "outcome": "busy", "phone_id": queue_data.phone_id,
                                 "next": "1"})
    assert response.headers["Location"] == f"/workspace/tasks/{queue_data.callback_task_id}"
    with Session(sqlite_engine) as s:
        task = s.get(Task, queue_data.callback_task_id)
    assert task.status == TaskStatus.leased and task.lease_owner == f"user:{staff['nurse'].id}"


def test_call_screen_says_when_no_speech_model_serves_the_patients_language(client, auth, queue_data):
    auth.login("nurse")
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": auth.csrf})
    html = client.get(f"/workspace/tasks/{queue_data.due_task_id}").get_data(as_text=True)
    assert 'id="asr-missing"' in html and "zh-CN" in html  # the default settings serve ko-KR only
