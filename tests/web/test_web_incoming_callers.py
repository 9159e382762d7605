"""The page of a call in without a task, over HTTP: only the nurse who took the call sees it, searches for the
caller and files it; the search is posted (names and ID numbers stay out of URLs), the htmx search answers with
the list only, and a call that is still up cannot be saved."""

from __future__ import annotations

from sqlmodel import select

from callcenter import inbound, users
from callcenter.db import session_scope
from callcenter.models import AuditEvent, CallAttempt


def _unknown_call_answered_by(sqlite_engine, clock, username: str, *, ended: bool) -> int:
    with session_scope(sqlite_engine) as s:
        nurse = users.find_member(s, username)
        ringing = inbound.register_incoming(s, nurse, call_ref="web-1", remote_uri="sip:13911116666@pbx",
                                            now=clock.now())
        attempt = s.get(CallAttempt, ringing.attempt_id)
        attempt.answered_at = clock.now()
        attempt.ended_at = clock.now() if ended else None
        return ringing.attempt_id


def test_only_the_nurse_who_took_the_call_sees_its_page_and_files_it(client, auth, auth_for, queue_data,
                                                                     sqlite_engine, clock):
    attempt_id = _unknown_call_answered_by(sqlite_engine, clock, "nurse", ended=True)
    other, other_auth = auth_for("nurse2")
    assert other.get(f"/workspace/incoming/{attempt_id}").status_code == 404
    refused = other.post(f"/workspace/incoming/{attempt_id}/identify",
                         data={"csrf_token": other_auth.csrf, "patient_id": queue_data.patient_id})
    assert refused.status_code == 404
    auth.login("nurse")
    page = client.get(f"/workspace/incoming/{attempt_id}").get_data(as_text=True)
    assert 'id="caller-unknown"' in page and "139****6666" in page and "13911116666" not in page
    queue = client.get("/workspace/queue").get_data(as_text=True)  # her unsaved call in is linked from the queue
    assert f'href="/workspace/incoming/{attempt_id}"' in queue
    assert client.get(f"/workspace/incoming/{attempt_id}/search?q=李四").status_code == 405  # never in a URL
    fragment = client.post(f"/workspace/incoming/{attempt_id}/search", data={"csrf_token": auth.csrf, "q": "李四"},
                           headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f'data-patient-id="{queue_data.patient_id}"' in fragment and "<html" not in fragment
    assert "caller-no-match" in client.post(f"/workspace/incoming/{attempt_id}/search",
                                            data={"csrf_token": auth.csrf, "q": "无此人"},
                                            headers={"HX-Request": "true"}).get_data(as_text=True)
    filed = client.post(f"/workspace/incoming/{attempt_id}/identify",
                        data={"csrf_token": auth.csrf, "patient_id": queue_data.patient_id})
    assert filed.status_code == 302
    with session_scope(sqlite_engine) as s:
        assert s.get(CallAttempt, attempt_id).patient_id == queue_data.patient_id
        assert s.exec(select(AuditEvent.user_id).where(AuditEvent.action == "call.identify")).all() == [
            users.find_member(s, "nurse").id]
    saved = client.post(f"/workspace/incoming/{attempt_id}/wrap-up",
                        data={"csrf_token": auth.csrf, "outcome": "completed"})
    assert saved.headers["Location"].endswith(f"/workspace/patients/{queue_data.patient_id}")
    assert f'href="/workspace/incoming/{attempt_id}"' not in client.get("/workspace/queue").get_data(as_text=True)


def test_a_call_that_is_still_up_is_not_saved(client, auth, queue_data, sqlite_engine, clock):
    attempt_id = _unknown_call_answered_by(sqlite_engine, clock, "nurse", ended=False)
    auth.login("nurse")
    response = client.post(f"/workspace/incoming/{attempt_id}/wrap-up",
                           data={"csrf_token": auth.csrf, "outcome": "completed"})
    assert response.status_code == 409 and "请先挂断" in response.get_data(as_text=True)
    with session_scope(sqlite_engine) as s:
        assert s.get(CallAttempt, attempt_id).wrapped_up_at is None
