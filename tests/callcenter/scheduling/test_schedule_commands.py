import json
from datetime import date

from click.testing import CliRunner
from sqlmodel import select

from callcenter.cli import main
from callcenter.db import session_scope
from callcenter.models import FollowUpPlan, Task, TaskStatus


def cli(engine, *args):
    env = {"CALLCENTER_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_plans_load_list_show(engine):
    r = cli(engine, "plans", "load")
    assert r.exit_code == 0, r.output
    assert "discharge_general: added" in r.output
    assert "discharge_general: unchanged" in cli(engine, "plans", "load").output
    listed = json.loads(cli(engine, "plans", "list", "--json").output)
    assert {p["key"] for p in listed} >= {"discharge_general", "oncology", "hypertension_monthly",
                                          "diabetes_monthly", "post_surgical"}
    shown = cli(engine, "plans", "show", "discharge_general", "--anchor", "2025-09-20").output
    assert "d7     due 2025-09-27" in shown and "d720" in shown
    assert cli(engine, "plans", "show", "nope").exit_code != 0
    with session_scope(engine) as s:
        assert s.exec(select(FollowUpPlan).where(FollowUpPlan.key == "oncology")).one().max_attempts == 4


def test_plans_check_names_the_broken_file(engine, tmp_path):
    (tmp_path / "bad.yaml").write_text("key: x\nname: X\nquestionnaire: q\nschedule: {points: [7 days]}\n",
                                       encoding="utf-8")
    r = cli(engine, "plans", "check", "--dir", str(tmp_path))
    assert r.exit_code == 1
    assert "bad.yaml" in r.output and "7 days" in r.output


def test_run_once_plans_and_releases_then_tasks_due_lists_them(engine, hospital):
    assert cli(engine, "plans", "load").exit_code == 0
    pid = hospital.patient()
    hospital.stay(pid, date(2025, 9, 21), department="心内科")  # d7 = Sunday 9-28, a 调休 working day
    r = cli(engine, "schedule", "run-once", "--at", "2025-09-28T01:30", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["daily_planning"] == 2  # d7 and d30 within the horizon
    assert json.loads(cli(engine, "schedule", "run-once", "--at", "2025-09-28T08:30", "--json").output)[
        "release_due"] == 1
    items = json.loads(cli(engine, "tasks", "due", "--date", "2025-09-28", "--json").output)
    assert [(i["patient_id"], i["plan"], i["point"], i["status"]) for i in items] == [
        (pid, "discharge_general", "d7", "due")]
    assert items[0]["due_at"].startswith("2025-09-28T08:30")
    assert cli(engine, "tasks", "due", "--date", "2025-09-28", "--team", "nope").exit_code != 0
    with session_scope(engine) as s:
        assert {t.status for t in s.exec(select(Task)).all()} == {TaskStatus.due, TaskStatus.planned}
