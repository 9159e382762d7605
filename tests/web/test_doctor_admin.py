"""Administration added with the doctor consoles: change a user's role, team and department (audited with what
changed), reactivate a user, and filter the audit trail by user, object and date."""

from __future__ import annotations

from datetime import timedelta

from callcenter import audit, users
from callcenter.db import session_scope


def test_admin_changes_role_team_and_department_and_the_change_is_audited(client, auth, sqlite_engine, staff):
    auth.login("admin")
    done = client.post("/admin/users/nurse2/update", data={"csrf_token": auth.csrf, "role": "supervisor",
                                                           "team": "team-c", "department": "心内科"})
    assert done.status_code == 302
    with session_scope(sqlite_engine) as session:
        member = users.find_member(session, "nurse2")
        assert (member.role.value, member.department) == ("supervisor", "心内科")
        assert [t.key for t in users.list_teams(session) if t.id == member.team_id] == ["team-c"]
        (event,) = audit.recent(session, action="user.update")
    assert event.object_id == str(staff["nurse2"].id)
    assert event.detail["role"] == ["nurse", "supervisor"] and event.detail["department"] == ["", "心内科"]
    page = client.get("/admin/users").get_data(as_text=True)
    assert 'value="team-c"' in page and 'value="心内科"' in page


def test_a_deactivated_user_is_reactivated_and_can_log_in_again(client, auth, auth_for):
    auth.login("admin")
    client.post("/admin/users/nurse2/deactivate", data={"csrf_token": auth.csrf})
    blocked, _ = auth_for("nurse2")
    assert blocked.get("/workspace/queue").status_code == 302
    client.post("/admin/users/nurse2/reactivate", data={"csrf_token": auth.csrf})
    allowed, _ = auth_for("nurse2")
    assert allowed.get("/workspace/queue").status_code == 200


def test_the_audit_trail_filters_by_user_object_and_date(client, auth, sqlite_engine, staff, clock):
    with session_scope(sqlite_engine) as session:
        audit.record(session, action="patient.view", at=clock.now() - timedelta(days=3), user_id=staff["doctor"].id,
                     object_type="patient", object_id=7)
        audit.record(session, action="patient.view", at=clock.now(), user_id=staff["doctor"].id,
                     object_type="patient", object_id=8)
        audit.record(session, action="patient.view", at=clock.now(), user_id=staff["nurse"].id,
                     object_type="patient", object_id=9)
    auth.login("admin")

    def objects(query: str) -> list[str]:
        page = client.get(f"/admin/audit?{query}").get_data(as_text=True)
        return sorted(set(part.split("<")[0] for part in page.split("patient:")[1:]))

    assert objects("action=patient.view&user=doctor") == ["7", "8"]
    assert objects("action=patient.view&user=doctor&from=2026-11-25&to=2026-11-25") == ["8"]
    assert objects("object_type=patient&object_id=9") == ["9"]
    assert objects("user=nobody-here") == []
    assert client.get("/admin/audit?from=25.11.2026").status_code == 422
