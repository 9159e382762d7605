"""docs/scripts.md stays true: its example script passes the checker and runs as documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

from scripts_questionnaires import check_text, errors, load_library, parse_script, simulate

DOC = (Path(__file__).resolve().parents[2] / "docs" / "scripts.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, re.S)


def test_first_example_script_passes_the_checker_and_its_answers_file_runs() -> None:
    example = _blocks("yaml")[0]
    assert errors(check_text(example, "docs/scripts.md")) == []
    script = parse_script(example).script
    assert script is not None
    data = json.loads(_blocks("json")[0])
    result = simulate(script, data["answers"], data["variables"]).to_dict()
    assert result["path"] == ["fever", "temperature", "mood"]
    assert [a["id"] for a in result["alerts"]] == ["high_fever"]


def test_every_builtin_key_is_documented() -> None:
    for key in load_library():
        assert f"| `{key}` |" in DOC, key
