"""Questionnaire versions in the database (SQLite and PostgreSQL): drafts, immutable published versions,
references KEY[@VERSION]; and the ``callcenter scripts`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import select

from callcenter import questionnaires
from callcenter.cli import main
from callcenter.db import session_scope
from callcenter.errors import NotFound
from callcenter.models import Questionnaire, QuestionnaireStatus
from callcenter.models.questionnaires import PublishedVersionImmutable
from scripts_questionnaires import library_paths

ROOT = Path(__file__).resolve().parents[2]
PHQ9 = (ROOT / "scripts_questionnaires" / "library" / "phq9.yaml").read_text(encoding="utf-8")
BROKEN = ROOT / "tests" / "scripts_questionnaires" / "data" / "unknown_item.yaml"


def _publish(engine: Engine, source: str) -> tuple[int, int, bool]:
    with session_scope(engine) as session:
        row, created = questionnaires.publish(session, source, "phq9.yaml")
        assert row.id is not None
        return row.id, row.version, created


def test_publish_stores_version_sha256_and_compiled_script(engine: Engine) -> None:
    row_id, version, created = _publish(engine, PHQ9)
    assert (version, created) == (1, True)
    with session_scope(engine) as session:
        row = session.get(Questionnaire, row_id)
        assert row is not None
        assert row.status is QuestionnaireStatus.published and row.published_at is not None
        assert row.sha256 == questionnaires.sha256_of(PHQ9) and row.source == PHQ9
        script = questionnaires.script_of(row)
        assert script.key == "phq9" and script.version == 1 and len(script.items) == 10


def test_same_text_is_not_published_twice_and_a_change_makes_a_new_version(engine: Engine) -> None:
    first_id, _, _ = _publish(engine, PHQ9)
    with session_scope(engine) as session:
        before = session.get(Questionnaire, first_id)
        assert before is not None
        snapshot = (before.source, before.compiled, before.sha256, before.published_at, before.status)
    assert _publish(engine, PHQ9) == (first_id, 1, False)
    changed = PHQ9.replace("感到心情低落、沮丧或绝望？", "感到心情低落、沮丧或者绝望？")
    second_id, version, created = _publish(engine, changed)
    assert (version, created) == (2, True) and second_id != first_id
    with session_scope(engine) as session:
        after = session.get(Questionnaire, first_id)
        assert after is not None
        assert (after.source, after.compiled, after.sha256, after.published_at, after.status) == snapshot
        assert questionnaires.latest_published(session, "phq9").version == 2


def test_a_published_row_cannot_be_modified_or_deleted(engine: Engine) -> None:
    row_id, _, _ = _publish(engine, PHQ9)
    with pytest.raises(PublishedVersionImmutable, match="publish a new version"):
        with session_scope(engine) as session:
            row = session.get(Questionnaire, row_id)
            assert row is not None
            row.title = "changed"
            session.add(row)
    with pytest.raises(PublishedVersionImmutable, match="retire it instead"):
        with session_scope(engine) as session:
            row = session.get(Questionnaire, row_id)
            session.delete(row)
    with session_scope(engine) as session:
        row = session.get(Questionnaire, row_id)
        assert row is not None and row.title == "PHQ-9 抑郁症筛查量表"


def test_a_published_version_can_only_be_retired(engine: Engine) -> None:
    _publish(engine, PHQ9)
    with session_scope(engine) as session:
        assert questionnaires.retire(session, "phq9", 1).status is QuestionnaireStatus.retired
    with session_scope(engine) as session:
        with pytest.raises(NotFound, match="no published version"):
            questionnaires.latest_published(session, "phq9")


def test_draft_is_editable_and_resolves_until_a_version_is_published(engine: Engine) -> None:
    with session_scope(engine) as session:
        questionnaires.save_draft(session, PHQ9.replace("version: 1", "version: 1\n# draft 1"), "phq9.yaml")
    with session_scope(engine) as session:
        draft, problems = questionnaires.save_draft(session, PHQ9, "phq9.yaml")
        assert problems == [] and draft.version == 0
    with session_scope(engine) as session:
        rows = session.exec(select(Questionnaire).where(Questionnaire.key == "phq9")).all()
        assert [(r.version, r.status) for r in rows] == [(0, QuestionnaireStatus.draft)]
        assert questionnaires.resolve(session, "phq9").version == 0
    _publish(engine, PHQ9)
    with session_scope(engine) as session:
        assert questionnaires.resolve(session, "phq9").version == 1
        assert questionnaires.resolve(session, "phq9@draft").version == 0
        assert questionnaires.resolve(session, "phq9@1").status is QuestionnaireStatus.published
        with pytest.raises(NotFound):
            questionnaires.resolve(session, "phq9@7")


def test_publishing_a_script_with_errors_is_refused_with_file_line(engine: Engine) -> None:
    source = BROKEN.read_text(encoding="utf-8")
    with session_scope(engine) as session:
        with pytest.raises(questionnaires.ScriptRejected) as caught:
            questionnaires.publish(session, source, "unknown_item.yaml")
    assert [str(p.pos) for p in caught.value.problems] == ["unknown_item.yaml:10:11"]
    with session_scope(engine) as session:
        assert questionnaires.list_questionnaires(session) == []


# ---- the command ----------------------------------------------------------------------------------------
def _run(engine: Engine, *args: str) -> tuple[int, str, str]:
    env = {"CALLCENTER_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(main, ["--log-level", "WARNING", "scripts", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_scripts_check_passes_the_library_and_fails_a_broken_file(sqlite_engine: Engine) -> None:
    code, out, _ = _run(sqlite_engine, "check", *map(str, library_paths()))
    assert code == 0 and out.count(": OK") == len(library_paths())
    code, _, err = _run(sqlite_engine, "check", str(BROKEN))
    assert code == 1 and f"{BROKEN}:10:11: error: unknown item 'fevr'" in err


def test_scripts_publish_list_show_and_export_fhir(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "phq9.yaml"
    path.write_text(PHQ9, encoding="utf-8")
    code, out, _ = _run(engine, "publish", str(path))
    assert code == 0 and out.startswith("phq9@1 published")
    code, out, _ = _run(engine, "list", "--json")
    assert [(r["key"], r["version"], r["status"]) for r in json.loads(out)] == [("phq9", 1, "published")]
    code, out, _ = _run(engine, "show", "phq9@1", "--source")
    assert code == 0 and out == PHQ9
    code, out, _ = _run(engine, "export-fhir", "phq9")
    resource = json.loads(out)
    assert resource["resourceType"] == "Questionnaire" and resource["version"] == "1"
    fhir_file = tmp_path / "phq9.json"
    fhir_file.write_text(out, encoding="utf-8")
    code, out, err = _run(engine, "import-fhir", str(fhir_file))
    assert code == 0 and out.startswith("key: phq9\n")


def test_scripts_simulate_from_answers_prints_scores_and_alerts(sqlite_engine: Engine, tmp_path: Path) -> None:
    answers = {f"phq9_{n}": "nearly_every_day" for n in range(1, 10)} | {"phq9_10": "very_difficult"}
    answers_file = tmp_path / "answers.json"
    answers_file.write_text(json.dumps(answers), encoding="utf-8")
    library = ROOT / "scripts_questionnaires" / "library" / "phq9.yaml"
    code, out, _ = _run(sqlite_engine, "simulate", str(library), "--answers", str(answers_file), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["scores"] == {"phq9_total": 27.0} and result["bands"]["phq9_total"]["code"] == "severe"
    assert {a["id"] for a in result["alerts"]} == {"phq9_self_harm", "phq9_severe"}
    code, out, _ = _run(sqlite_engine, "simulate", str(library), "--answers", str(answers_file))
    assert "ALERT [critical] phq9_self_harm" in out and "score phq9_total = 27.0 (重度抑郁)" in out


def test_publish_library_is_idempotent(sqlite_engine: Engine) -> None:
    code, out, _ = _run(sqlite_engine, "publish", "--library")
    assert code == 0 and out.count(" published (sha256") == len(library_paths())
    code, out, _ = _run(sqlite_engine, "publish", "--library")
    assert code == 0 and out.count("nothing published") == len(library_paths())
    with session_scope(sqlite_engine) as session:
        assert questionnaires.latest_published(session, "recall-reminder").version == 1
