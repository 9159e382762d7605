"""The checker: every broken script in data/ fails with the file:line:column messages its header expects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scripts_questionnaires import Severity, check_file, check_text, errors

DATA = Path(__file__).parent / "data"
BROKEN = sorted(DATA.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+) (.+)$", re.MULTILINE)


def _expectations(path: Path) -> list[tuple[int, int, str]]:
    return [(int(m[1]), int(m[2]), m[3]) for m in EXPECT.finditer(path.read_text(encoding="utf-8"))]


def test_there_are_broken_scripts_to_check() -> None:
    assert len(BROKEN) >= 8


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_script_fails_with_expected_file_line_messages(path: Path) -> None:
    expected = _expectations(path)
    assert expected, f"{path.name} has no '# expect:' lines"
    found = errors(check_file(path))
    assert len(found) == len(expected), "\n".join(str(p) for p in found)
    for line, column, fragment in expected:
        matches = [p for p in found if (p.pos.line, p.pos.column) == (line, column) and fragment in p.message]
        assert matches, f"no error at {line}:{column} containing {fragment!r}; got:\n" + "\n".join(map(str, found))
        assert str(matches[0]).startswith(f"{path}:{line}:{column}: error: ")


BASE = """\
key: t
title: t
items:
  - id: a
    type: yes_no
    text: a?
  - id: n
    type: number
    text: n?
    min: 0
    max: 10
"""


@pytest.mark.parametrize("extra, fragment", [
    ("  - id: b\n    type: text\n    text: b\n    when: a.systolic > 1\n", "has no field 'systolic'"),
    ("  - id: b\n    type: text\n    text: b\n    when: band('nope') == 'x'\n", "no score with bands"),
    ("  - id: b\n    type: text\n    text: b\n    when: __import__('os')\n", "only these functions are allowed"),
    ("  - id: b\n    type: text\n    text: '{paitent.name}'\n", "unknown variable {paitent.name}"),
    ("  - id: b\n    type: single_choice\n    text: b\n    options: [{value: x, say: [x], dtmf: '1'}, "
     "{value: y, say: [y], dtmf: '1'}]\n", "DTMF key 1 is used twice"),
    ("  - id: b\n    type: number\n    text: b\n", "needs 'min:' and 'max:'"),
    ("  - id: b\n    type: text\n    text: b\n    when: n > 3 and n < 2\n", "unreachable"),
], ids=["field", "band", "function", "variable", "dtmf", "range", "contradiction"])
def test_semantic_errors_are_reported(extra: str, fragment: str) -> None:
    problems = errors(check_text(BASE + extra, "x.yaml"))
    assert any(fragment in p.message for p in problems), problems


def test_clean_script_has_no_errors_and_ambiguous_phrases_are_warnings() -> None:
    extra = ("  - id: b\n    type: single_choice\n    text: b\n    when: n >= 5 and a == 'yes'\n"
             "    options: [{value: x, say: [还行, 好]}, {value: y, say: [还行, 不好]}]\n")
    problems = check_text(BASE + extra, "x.yaml")
    assert errors(problems) == []
    assert [p.severity for p in problems] == [Severity.warning]
    assert "还行" in problems[0].message


_KEYS = ["key", "title", "items", "id", "type", "text", "when", "options", "value", "say", "score", "min", "max",
         "scores", "bands", "alerts", "severity", "message", "systolic", "diastolic", "code", "dtmf", "locale"]
_SCALARS = st.one_of(st.sampled_from(["yes", "a", "fever == 'yes'", "number", "single_choice", "yes_no", "1",
                                      "a >", "band('s')", "{patient.name}", "zh-CN"]),
                     st.integers(-5, 300), st.booleans(), st.none())
_YAMLISH = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)), max_leaves=25)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _YAMLISH, max_size=6))
def test_any_yaml_structure_gives_problems_never_a_crash(data: dict[str, object]) -> None:
    problems = check_text(yaml.safe_dump(data, allow_unicode=True), "fuzz.yaml")
    assert all(p.pos.line >= 1 and p.pos.column >= 1 for p in problems)
