"""Staff accounts: hashing, authentication, deactivation, agent tokens (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from callcenter import users
from callcenter.errors import InvalidInput
from callcenter.models import Role, Team, User


def test_password_is_stored_salted_and_authenticates(session: Session):
    a = users.create_user(session, username="Nurse1", password="s3cret-pass", role=Role.nurse)
    b = users.create_user(session, username="nurse2", password="s3cret-pass", role=Role.nurse)
    rows = {u.username: u for u in session.exec(select(User))}
    assert a.username == "nurse1"
    assert "s3cret-pass" not in rows["nurse1"].password_hash
    assert rows["nurse1"].password_hash != rows["nurse2"].password_hash  # salted
    assert users.authenticate(session, "NURSE1", "s3cret-pass") == a
    assert users.authenticate(session, "nurse1", "wrong-pass") is None
    assert users.authenticate(session, "nobody", "s3cret-pass") is None
    assert b.role is Role.nurse


def test_duplicate_username_is_refused(session: Session):
    users.create_user(session, username="dup", password="password1", role=Role.doctor)
    with pytest.raises(users.UsernameTaken, match="exists already"):
        users.create_user(session, username="dup", password="password2", role=Role.nurse)


@pytest.mark.parametrize(("username", "password"), [("a", "longenough"), ("ok-name", "short"), ("bad name", "longenough")])
def test_bad_username_or_short_password_is_refused(sqlite_engine, username, password):
    with Session(sqlite_engine) as session, pytest.raises(InvalidInput):
        users.create_user(session, username=username, password=password, role=Role.nurse)


def test_team_is_created_once_and_shared(session: Session):
    a = users.create_user(session, username="n1", password="password1", role=Role.nurse, team_key="cardio")
    b = users.create_user(session, username="n2", password="password1", role=Role.nurse, team_key="cardio")
    assert a.team_id == b.team_id is not None
    assert len(session.exec(select(Team)).all()) == 1


def test_deactivated_user_cannot_log_in_and_loses_agent_token(session: Session):
    users.create_user(session, username="leaver", password="password1", role=Role.nurse)
    token = users.issue_agent_token(session, "leaver")
    assert users.member_for_agent_token(session, token) is not None
    users.deactivate(session, "leaver")
    assert users.authenticate(session, "leaver", "password1") is None
    assert users.member_for_agent_token(session, token) is None
    assert [m.username for m in users.list_members(session)] == []
    assert [m.username for m in users.list_members(session, include_inactive=True)] == ["leaver"]


def test_new_agent_token_replaces_the_old_one_and_is_stored_hashed(session: Session):
    member = users.create_user(session, username="seat1", password="password1", role=Role.nurse)
    first = users.issue_agent_token(session, "seat1")
    second = users.issue_agent_token(session, "seat1")
    assert users.member_for_agent_token(session, first) is None
    assert users.member_for_agent_token(session, second) == member
    stored = session.exec(select(User.agent_token_sha256)).one()
    assert second not in stored and len(stored) == 64
    assert users.member_for_agent_token(session, "") is None


def test_unknown_role_names_the_choices():
    with pytest.raises(InvalidInput, match="nurse, supervisor, doctor, admin"):
        users.parse_role("boss")


def test_users_command_adds_lists_issues_token_and_deactivates(tmp_path):
    from click.testing import CliRunner

    from callcenter.cli import main

    env = {"CALLCENTER_DATA_DIR": str(tmp_path), "CALLCENTER_LOG_LEVEL": "WARNING"}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    added = runner.invoke(main, ["users", "add", "wangfang", "--role", "nurse", "--name", "王芳", "--team", "t1"],
                          input="pass-word-1\npass-word-1\n", env=env)
    assert added.exit_code == 0, added.output
    assert "created wangfang (nurse)" in added.output
    dup = runner.invoke(main, ["users", "add", "wangfang", "--role", "nurse", "--password", "pass-word-2"], env=env)
    assert dup.exit_code == 1 and "exists already" in dup.output and "Traceback" not in dup.output
    listed = runner.invoke(main, ["users", "list"], env=env)
    assert "wangfang" in listed.output and "王芳" in listed.output
    token = runner.invoke(main, ["users", "token", "wangfang"], env=env).output.strip()
    assert len(token) >= 40
    assert runner.invoke(main, ["users", "deactivate", "wangfang"], env=env).exit_code == 0
    assert "wangfang" not in runner.invoke(main, ["users", "list"], env=env).output
    assert "deactivated" in runner.invoke(main, ["users", "list", "--all"], env=env).output
