"""Every audit event the code writes names an ``AuditAction`` member: the admins' audit page offers exactly those
actions in its filter, so an action written as a free string could never be selected there."""

from __future__ import annotations

import ast
from pathlib import Path

from callcenter.audit import AuditAction

ROOT = Path(__file__).resolve().parents[2]


def _record_calls() -> list[tuple[str, int, ast.expr]]:
    """(file, line, action argument) of every ``audit.record(...)`` / ``record(...)`` of callcenter.audit."""
    found = []
    for path in sorted([*(ROOT / "callcenter").rglob("*.py"), *(ROOT / "web").rglob("*.py")]):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            is_audit = (isinstance(func, ast.Attribute) and func.attr == "record"
                        and isinstance(func.value, ast.Name) and func.value.id == "audit")
            if is_audit:
                action = next((k.value for k in node.keywords if k.arg == "action"), None)
                assert action is not None, f"{path}:{node.lineno}: audit.record without action="
                found.append((str(path.relative_to(ROOT)), node.lineno, action))
    return found


def _names_an_action(expr: ast.expr) -> bool:
    """``AuditAction.x`` / ``audit.AuditAction.x`` with x a member, or a variable (checked where it is set)."""
    if isinstance(expr, ast.Attribute):
        owner = expr.value
        named = (isinstance(owner, ast.Name) and owner.id == "AuditAction") or (
            isinstance(owner, ast.Attribute) and owner.attr == "AuditAction")
        return named and expr.attr in AuditAction.__members__
    if isinstance(expr, ast.IfExp):
        return _names_an_action(expr.body) and _names_an_action(expr.orelse)
    return isinstance(expr, ast.Name)  # e.g. disclosure's ``action = AuditAction.recording_play if …``


def test_every_audit_record_names_an_audit_action_member() -> None:
    calls = _record_calls()
    assert len(calls) >= 15  # the scan finds the audit calls (qa, disclosure, admin, alerts, exports…)
    free = [f"{file}:{line}: {ast.unparse(action)}" for file, line, action in calls if not _names_an_action(action)]
    assert free == [], "write these actions as AuditAction members (the admin audit filter lists only those)"


def test_the_audit_filter_knows_the_qa_and_answer_edit_actions() -> None:
    values = {a.value for a in AuditAction}
    assert {"qa.view", "qa.review", "answer.edit"} <= values
