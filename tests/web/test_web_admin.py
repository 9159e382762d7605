"""User administration and the audit trail page (admins only)."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from callcenter import users
from callcenter.models import AuditEvent


def test_admin_creates_a_user_who_can_then_log_in(client, auth, auth_for, sqlite_engine):
    auth.login("admin")
    response = client.post("/admin/users", data={"csrf_token": auth.csrf, "username": "zhaomin", "display_name": "赵敏",
                                                 "role": "doctor", "team": "", "password": "long-enough-1"})
    assert response.status_code == 302
    assert "zhaomin" in client.get("/admin/users").get_data(as_text=True)
    with Session(sqlite_engine) as s:
        assert users.authenticate(s, "zhaomin", "long-enough-1").role.value == "doctor"
        assert s.exec(select(AuditEvent.action).where(AuditEvent.action == "user.create")).all() == ["user.create"]


def test_short_password_is_shown_as_a_form_error(client, auth):
    auth.login("admin")
    response = client.post("/admin/users", data={"csrf_token": auth.csrf, "username": "x1", "role": "nurse",
                                                 "password": "short"})
    assert response.status_code == 200
    assert "field-error" in response.get_data(as_text=True)


def test_agent_token_is_shown_once_and_works(client, auth, sqlite_engine):
    auth.login("admin")
    page = client.post("/admin/users/nurse/agent-token", data={"csrf_token": auth.csrf}).get_data(as_text=True)
    token = re.search(r'<pre class="token" id="agent-token">([^<]+)</pre>', page).group(1)
    with Session(sqlite_engine) as s:
        assert users.member_for_agent_token(s, token).username == "nurse"


def test_deactivation_from_the_admin_page_blocks_login(client, auth, auth_for):
    auth.login("admin")
    assert client.post("/admin/users/nurse2/deactivate", data={"csrf_token": auth.csrf}).status_code == 302
    _, nurse2 = auth_for("nurse2")
    assert nurse2.login("nurse2").status_code == 401


def test_audit_page_lists_events_and_filters_by_action(client, auth, auth_for, call_data):
    recording_client, _ = auth_for("supervisor")
    recording_client.get(f"/recordings/{call_data.recording_id}/audio")
    auth.login("admin")
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "recording.play" in html and "auth.login" in html
    filtered = client.get("/admin/audit?action=recording.play").get_data(as_text=True)
    assert "recording.play" in filtered and "<td>auth.login</td>" not in filtered


def test_the_audit_filter_selects_qa_views_and_reviews(client, auth, auth_for, call_data):
    supervisor, supervisor_auth = auth_for("supervisor")
    assert supervisor.get(f"/supervisor/qa/calls/{call_data.attempt_id}").status_code == 200
    scores = {"score_identity": 10, "score_script": 25, "score_accuracy": 25, "score_communication": 15,
              "score_closing": 5}
    reviewed = supervisor.post(f"/supervisor/qa/calls/{call_data.attempt_id}/review",
                               data={**scores, "comment": "", "csrf_token": supervisor_auth.fresh_csrf()})
    assert reviewed.status_code in (200, 302)
    auth.login("admin")
    page = client.get("/admin/audit").get_data(as_text=True)
    options = re.findall(r'<option value="([^"]+)"', page)
    assert {"qa.view", "qa.review", "answer.edit"} <= set(options)
    for action in ("qa.view", "qa.review"):
        filtered = client.get(f"/admin/audit?action={action}").get_data(as_text=True)
        assert f'<option value="{action}" selected' in filtered
        rows = re.findall(r"<td>(qa\.[a-z]+|auth\.[a-z_]+|recording\.[a-z]+)</td>", filtered)
        assert rows == [action], action
