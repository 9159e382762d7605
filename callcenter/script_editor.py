"""What the doctor's script editor needs besides drafts and versions (``callcenter.questionnaires``): the
checker's findings as line-addressed values, a preview of each question as the nurse will see it, the
simulator on a draft, and the diff of two versions. Pure: text in, values out.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callcenter.errors import InvalidInput
from callcenter.ports import SpeechVocabulary
from scripts_questionnaires import (
    Problem,
    ScriptError,
    Severity,
    check,
    parse_script,
    render_text,
    simulate,
)

# What a preview or a simulation fills {patient.name} and the other placeholders with.
SAMPLE_VARIABLES: dict[str, dict[str, Any]] = {
    "patient": {"name": "张三", "age": 62, "sex": "男"},
    "hospital": {"name": "示例医院"},
    "nurse": {"name": "王护士"},
    "encounter": {"department": "心内科", "diagnosis": "高血压"},
    "task": {"point": "d7"},
}

NEW_SCRIPT_TEMPLATE = """key: {key}
title: 新问卷
locale: zh-CN
intro: "{{patient.name}}您好，这里是{{hospital.name}}随访中心。"
items:
  - id: feeling
    type: yes_no
    text: 出院后感觉好些了吗？
    options:
      - {{value: "yes", label: 好些了, say: [好些了, 好多了]}}
      - {{value: "no", label: 没有, say: [没有, 不好]}}
"""


@dataclass(frozen=True)
class Finding:
    line: int
    column: int
    severity: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "severity": self.severity, "message": self.message,
                "text": f"{self.line}:{self.column}: {self.severity}: {self.message}"}


@dataclass(frozen=True)
class PreviewOption:
    key: str  # the digit that picks it on the nurse's keyboard
    label: str
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class PreviewItem:
    number: int
    item_id: str
    type: str
    text: str
    help: str
    when: str
    options: tuple[PreviewOption, ...]
    unit: str
    minimum: float | None
    maximum: float | None


@dataclass(frozen=True)
class Preview:
    key: str
    title: str
    intro: str
    closing: str
    items: tuple[PreviewItem, ...]
    alerts: tuple[tuple[str, str, str], ...]  # (id, severity, when)


def findings(source: str, file: str = "<draft>", vocabulary: SpeechVocabulary | None = None) -> list[Finding]:
    """Loader and checker findings, by line; with ``vocabulary``, also warnings at the spoken phrases the speech
    model of their language lacks words for (they could never be recognised)."""
    return review(source, file, vocabulary)[0]


def review(source: str, file: str = "<draft>",
           vocabulary: SpeechVocabulary | None = None) -> tuple[list[Finding], list[str]]:
    """The findings, and what the speech check covered (the models checked against, the languages without one;
    nothing without ``vocabulary``)."""
    result = parse_script(source, file)
    problems: list[Problem] = list(result.problems)
    notes: list[str] = []
    if result.script is not None:
        problems += check(result.script)
        if vocabulary is not None:
            report = vocabulary.check_script(result.script)
            problems += report.problems
            notes = [f"spoken words checked against the {locale} speech model ({model})"
                     for locale, model in report.checked] + report.notes()
    found = sorted((Finding(p.pos.line, p.pos.column, p.severity.value, p.message) for p in problems),
                   key=lambda f: (f.line, f.column))
    return found, notes


def speech_problems(source: str, vocabulary: SpeechVocabulary) -> list[Problem]:
    """The speech check's warnings alone (empty when the text does not load)."""
    script = parse_script(source, "<draft>").script
    return list(vocabulary.check_script(script).problems) if script is not None else []


def has_errors(found: list[Finding]) -> bool:
    return any(f.severity == Severity.error.value for f in found)


def preview(source: str) -> Preview | None:
    """Every question in order, as the nurse's guided form shows it; None when the text does not load."""
    result = parse_script(source, "<draft>")
    script = result.script
    if script is None:
        return None
    variables = SAMPLE_VARIABLES
    items = tuple(
        PreviewItem(n, item.id, item.type.value, render_text(item.text, variables), render_text(item.help, variables),
                    item.when or "",
                    tuple(PreviewOption(str(k), o.label, tuple(o.phrases(script.locale)[:4]))
                          for k, o in enumerate(item.options[:9], start=1)),
                    item.range.unit if item.range else "", item.range.minimum if item.range else None,
                    item.range.maximum if item.range else None)
        for n, item in enumerate(script.items, start=1)
    )
    return Preview(script.key, script.title, render_text(script.intro, variables),
                   render_text(script.closing, variables), items,
                   tuple((a.id, a.severity.value, a.when) for a in script.alerts))


class SimulationFailed(InvalidInput):
    """The draft or the answers could not be simulated; the message says what to fix."""


def simulate_source(source: str, answers_json: str) -> dict[str, Any]:
    """Run the draft on ``answers_json`` (``{"item_id": value, …}``): path, scores, bands, alerts, ``missing``."""
    result = parse_script(source, "<draft>")
    if result.script is None or any(p.severity == Severity.error for p in result.problems):
        raise SimulationFailed("the draft has errors; fix them before simulating")
    try:
        answers = json.loads(answers_json or "{}")
    except ValueError as exc:
        raise SimulationFailed(f"the answers are not valid JSON ({exc}); write {{\"item_id\": value, …}}") from None
    if not isinstance(answers, Mapping):
        raise SimulationFailed("the answers must be a JSON object: {\"item_id\": value, …}")
    try:
        return simulate(result.script, answers, SAMPLE_VARIABLES).to_dict()
    except ScriptError as exc:
        raise SimulationFailed(str(exc)) from exc


def diff(old: str, new: str, old_label: str, new_label: str) -> list[tuple[str, str]]:
    """A unified diff as ``(kind, line)`` pairs, kind one of ``head``, ``hunk``, ``add``, ``del``, ``same``."""
    out: list[tuple[str, str]] = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), old_label, new_label, lineterm=""):
        if line.startswith(("---", "+++")):
            out.append(("head", line))
        elif line.startswith("@@"):
            out.append(("hunk", line))
        elif line.startswith("+"):
            out.append(("add", line))
        elif line.startswith("-"):
            out.append(("del", line))
        else:
            out.append(("same", line))
    return out
