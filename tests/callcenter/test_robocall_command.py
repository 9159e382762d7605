"""`callcenter robocaller`: starts its telephony workers, finds nothing to call, stops; refuses to start
without the published recall-reminder script."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter import migrate
from callcenter.cli import main
from callcenter.db import make_engine, session_scope
from callcenter.models import Questionnaire, QuestionnaireStatus
from scripts_questionnaires.loader import load_script
from tests.softphone.peers import free_port

LIBRARY = Path(__file__).resolve().parents[2] / "scripts_questionnaires" / "library"


def _env(tmp_path: Path, publish: bool) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'cmd.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    if publish:
        script = load_script(LIBRARY / "recall_reminder.yaml")
        with session_scope(engine) as s:
            s.add(Questionnaire(key="recall-reminder", version=1, status=QuestionnaireStatus.published,
                                compiled=script.to_dict()))
    engine.dispose()
    return {"CALLCENTER_DATABASE_URL": url, "CALLCENTER_DATA_DIR": str(tmp_path / "var"),
            "CALLCENTER_RECORDINGS_DIR": str(tmp_path / "rec"), "CALLCENTER_SIP_BIND": f"127.0.0.1:{free_port()}"}


@pytest.mark.sip
@pytest.mark.slow
def test_robocaller_once_with_an_empty_queue_starts_and_stops_its_workers(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["robocaller", "--workers", "1", "--once"], env=_env(tmp_path, True))
    assert result.exit_code == 0, result.output
    assert "robot calls recorded: 0" in result.output


def test_robocaller_needs_the_published_recall_script(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["robocaller", "--once"], env=_env(tmp_path, False))
    assert result.exit_code != 0
    assert result.exit_code == 1 and "publish the recall-reminder script" in result.output
