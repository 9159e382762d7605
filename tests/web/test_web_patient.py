"""The patient panel masks identifiers; revealing them is an explicit, audited act."""

from __future__ import annotations

from sqlmodel import Session, select

from callcenter.models import AuditEvent


def test_patient_page_masks_national_id_and_phone(client, auth, call_data):
    auth.login("nurse")
    html = client.get(f"/workspace/patients/{call_data.patient_id}").get_data(as_text=True)
    assert "张三" in html
    assert "110***********1234" in html and call_data.national_id not in html
    assert "138****8000" in html and call_data.phone not in html
    assert f"/recordings/{call_data.recording_id}" in html  # the call on the timeline links its recording


def test_revealing_identifiers_shows_them_and_is_audited(client, auth, call_data, sqlite_engine, staff):
    auth.login("nurse")
    auth.fresh_csrf()
    response = client.post(f"/workspace/patients/{call_data.patient_id}/reveal", headers={"X-CSRFToken": auth.csrf})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert call_data.national_id in body and call_data.phone in body
    with Session(sqlite_engine) as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.action == "patient.reveal")).all()
    assert [(r.user_id, r.object_id) for r in rows] == [(staff["nurse"].id, str(call_data.patient_id))]


def test_unknown_patient_is_a_404_page_in_chinese(client, auth):
    auth.login("doctor")
    response = client.get("/workspace/patients/4242")
    assert response.status_code == 404
    assert "未找到" in response.get_data(as_text=True)


def test_patient_panel_api_returns_masked_json(client, auth, call_data):
    auth.login("supervisor")
    body = client.get(f"/api/patients/{call_data.patient_id}/panel").get_json()
    assert body["masked_national_id"] == "110***********1234"
    assert body["phones"][0]["masked"] == "138****8000" and body["phones"][0]["attempts"] == 1
    assert call_data.phone not in str(body)
