"""The `when` language: what it accepts, what it refuses (never eval), and how missing answers behave."""

from __future__ import annotations

import pytest

from scripts_questionnaires import Context, Expression, ExpressionError
from scripts_questionnaires.expressions import MAX_SEQUENCE_LENGTH, ValueTooLong


@pytest.mark.parametrize("source, values, expected", [
    ("fever == 'yes'", {"fever": "yes"}, True),
    ("temp >= 38.5", {"temp": 38.5}, True),
    ("temp >= 38.5", {}, False),  # unanswered: comparisons with None are false
    ("not temp >= 38.5", {}, True),
    ("bp.systolic >= 180 or bp.diastolic >= 110", {"bp": {"systolic": 150, "diastolic": 112}}, True),
    ("'nausea' in symptoms", {"symptoms": ["nausea", "fatigue"]}, True),
    ("'nausea' in symptoms", {}, False),
    ("medication in ['on_time', 'missed']", {"medication": "missed"}, True),
    ("answered('temp') and temp - 37 > 1", {"temp": 38.2}, True),
    ("len(symptoms) >= 2", {"symptoms": ["a"]}, False),
    ("max(a, b) > 3", {"a": 1, "b": 4}, True),
    ("a / 0 > 1", {"a": 1}, False),  # errors are false, never a crash
    ("x == None", {}, True),
])
def test_evaluation(source: str, values: dict[str, object], expected: bool) -> None:
    assert Expression.parse(source).is_true(Context(values)) is expected


def test_bands_and_patient_variables() -> None:
    expr = Expression.parse("band('risk') == 'high' and patient.age >= 65")
    assert expr.is_true(Context({}, {"risk": "high"}, {"patient": {"age": 70}}))
    assert not expr.is_true(Context({}, {"risk": "high"}, {}))


@pytest.mark.parametrize("source, fragment", [
    ("__import__('os').system('id')", "only these functions"),
    ("open('/etc/passwd')", "only these functions"),
    ("x.__class__", "underscore"),
    ("bp.systolic.real", "one level"),
    ("(lambda: 1)()", "only these functions"),
    ("[y for y in x]", "ListComp"),
    ("a if b else c", "IfExp"),
    ("x ** 100000", "only + - * / %"),
    ("answered(x)", "one id in quotes"),
    ("{'a': 1}", "Dict"),
    ("", "empty"),
    ("a ==", "not a valid condition"),
])
def test_anything_outside_the_language_is_refused(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError, match=fragment.replace("*", r"\*").replace("+", r"\+")):
        Expression.parse(source)


def test_references_carry_their_column() -> None:
    refs = Expression.parse("fever == 'yes' and band('risk') == 'high'").references()
    assert [(r.name, r.offset, r.via) for r in refs] == [("fever", 0, "name"), ("risk", 25, "band")]


@pytest.mark.parametrize("source, values", [
    ("len(note * n) > 3", {"note": "ab", "n": 50_001}),  # just over the cap: cheap to build if unguarded
    ("len(n * note) > 3", {"note": "ab", "n": 10**12}),  # a terabyte if it were built
    ("len(items * n) > 3", {"items": ["a"], "n": 100_001}),
    ("len(note + note) > 3", {"note": "x" * 60_000}),
    ("len(note % n) > 3", {"note": "%0100001d", "n": 1}),  # string formatting with a huge width
])
def test_strings_and_lists_longer_than_the_cap_are_never_built(source: str, values: dict[str, object]) -> None:
    expr = Expression.parse(source)
    with pytest.raises(ValueTooLong):
        expr.evaluate(Context(values))
    assert expr.is_true(Context(values)) is False


def test_sequences_within_the_cap_still_work() -> None:
    assert Expression.parse("len(note * n) == 100000").is_true(Context({"note": "ab", "n": MAX_SEQUENCE_LENGTH // 2}))
    assert Expression.parse("a * b == 12 and a % b == 3").is_true(Context({"a": 3, "b": 4}))


@pytest.mark.parametrize("source", ["'ab' * 999999999 == x", "[0] * 100001 == x", "'%099999999d' % 1 == x"])
def test_oversized_literals_are_refused_when_the_script_is_checked(source: str) -> None:
    with pytest.raises(ExpressionError, match="do not build text"):
        Expression.parse(source)
