"""Login, logout, CSRF and sessions of deactivated users."""

from __future__ import annotations

from sqlmodel import Session, select

from callcenter import users
from callcenter.db import session_scope
from callcenter.models import AuditEvent


def test_nurse_logs_in_and_lands_on_her_queue(client, auth):
    response = auth.login("nurse")
    assert response.status_code == 302
    assert response.headers["Location"] == "/workspace/queue"
    page = client.get("/workspace/queue")
    assert page.status_code == 200
    assert "我的随访队列" in page.get_data(as_text=True)


def test_admin_lands_on_user_administration(auth):
    assert auth.login("admin").headers["Location"] == "/admin/users"


def test_wrong_password_is_refused_and_audited(client, auth, sqlite_engine):
    response = auth.login("nurse", "wrong-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/workspace/queue").status_code == 302
    with Session(sqlite_engine) as s:
        actions = s.exec(select(AuditEvent.action, AuditEvent.user_id)).all()
    assert ("auth.login_failed", None) in actions


def test_login_without_csrf_token_is_rejected(client):
    response = client.post("/login", data={"username": "nurse", "password": "correct-horse-1"})
    assert response.status_code == 400
    assert client.get("/workspace/queue").status_code == 302


def test_login_follows_a_local_next_but_never_another_site(client, auth):
    token = auth.fresh_csrf()
    ok = client.post("/login?next=/workspace/", data={"username": "nurse", "password": "correct-horse-1",
                                                       "csrf_token": token})
    assert ok.headers["Location"] == "/workspace/"
    client.post("/logout", data={"csrf_token": auth.fresh_csrf()})
    token = auth.fresh_csrf()
    evil = client.post("/login?next=//evil.example/x", data={"username": "nurse", "password": "correct-horse-1",
                                                              "csrf_token": token})
    assert evil.headers["Location"] == "/workspace/queue"


def test_logout_needs_post_with_csrf_and_ends_the_session(client, auth):
    auth.login("nurse")
    assert client.post("/logout").status_code == 400  # no token
    assert client.get("/workspace/queue").status_code == 200
    assert client.post("/logout", data={"csrf_token": auth.csrf}).status_code == 302
    assert client.get("/workspace/queue").status_code == 302


def test_deactivating_a_user_ends_her_open_session(client, auth, sqlite_engine):
    auth.login("nurse")
    assert client.get("/workspace/queue").status_code == 200
    with session_scope(sqlite_engine) as s:
        users.deactivate(s, "nurse")
    response = client.get("/workspace/queue")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_api_answers_401_json_without_a_session(client):
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.get_json()["error"] == "login_required"


def test_api_me_describes_the_logged_in_user(client, auth, staff):
    auth.login("doctor")
    body = client.get("/api/me").get_json()
    assert body == {"id": staff["doctor"].id, "username": "doctor", "display_name": "doctor-显示名",
                    "role": "doctor", "team_id": staff["doctor"].team_id}


def test_pages_are_chinese_and_load_only_local_assets(client, auth):
    auth.login("nurse")
    html = client.get("/workspace/queue").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "/static/vendor/socket.io.min.js" in html and "/static/vendor/htmx.min.js" in html
    assert "http://" not in html and "https://" not in html
