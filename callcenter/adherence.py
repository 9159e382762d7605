"""Script adherence of one call (pure): were the mandatory questions asked, and does any confirmed answer disagree
with what the patient is heard saying in the transcript? Every call is checked, so QA sees 100 % of calls with
the doubtful ones flagged, instead of a 1–2 % random sample.

What the patient said is turned into a value by a ``TextParser`` passed in by the caller. The default,
``phrase_parser``, uses only the script's own spoken phrases (choice and yes/no items); the composition root may
inject a richer parser (numbers, blood pressure) — the core never imports the speech package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scripts_questionnaires.engine import Engine
from scripts_questionnaires.errors import ScriptError
from scripts_questionnaires.model import Item, ItemType, Script

TextParser = Callable[[Item, str, str], object | None]  # (item, heard text, locale) -> value, None = no opinion

# Items that carry no answer to check.
_NO_ANSWER = frozenset({ItemType.info})


@dataclass(frozen=True)
class RecordedAnswer:
    item_id: str
    value: Any
    text: str = ""  # what was heard or typed when it was confirmed
    source: str = "nurse"


@dataclass(frozen=True)
class Heard:
    speaker: str  # patient / nurse / robot
    text: str
    item_id: str  # the question on screen when it was said


@dataclass(frozen=True)
class Disagreement:
    item_id: str
    recorded: str
    heard: str
    heard_value: str

    def to_dict(self) -> dict[str, str]:
        return {"item_id": self.item_id, "recorded": self.recorded, "heard": self.heard,
                "heard_value": self.heard_value}


@dataclass(frozen=True)
class AdherenceResult:
    missing_items: tuple[str, ...]
    disagreements: tuple[Disagreement, ...]

    @property
    def flagged(self) -> bool:
        return bool(self.missing_items or self.disagreements)


def phrase_parser(item: Item, text: str, locale: str) -> object | None:
    """The option whose spoken phrase occurs in ``text``, if exactly one option's phrases do (longest phrases
    first, so 没有好多少 is not read as 好多了's 好多). Other item types: no opinion."""
    if not item.options or not text.strip():
        return None
    spoken = text.replace(" ", "")
    candidates = sorted(((p.replace(" ", ""), value) for value, phrases in item.phrases(locale).items()
                         for p in phrases if p.strip()), key=lambda pv: -len(pv[0]))
    found: set[str] = set()
    for phrase, value in candidates:
        if phrase in spoken:
            found.add(value)
            spoken = spoken.replace(phrase, "|")  # a longer phrase hides the shorter ones inside it
    return found.pop() if len(found) == 1 else None


def _same(recorded: Any, heard: object) -> bool:
    if isinstance(recorded, list) and not isinstance(heard, list):
        return heard in recorded
    if isinstance(recorded, int | float) and isinstance(heard, int | float) and not isinstance(recorded, bool):
        return abs(float(recorded) - float(heard)) < 1e-9
    if isinstance(recorded, Mapping) and isinstance(heard, Mapping):
        return all(recorded.get(k) == v for k, v in heard.items())
    return bool(recorded == heard) or str(recorded) == str(heard)


def _shown(value: object) -> str:
    if isinstance(value, Mapping) and {"systolic", "diastolic"} <= set(value):
        return f"{value['systolic']}/{value['diastolic']}"
    if isinstance(value, list):
        return "+".join(str(v) for v in value)
    return "" if value is None else str(value)


def missing_items(script: Script, run_state: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Required items that the script's branching made reachable but that were neither answered nor skipped
    with a reason. A run that never started (no answers at all) is not checked: the call did not reach the
    questionnaire (no answer, refusal)."""
    if not run_state or not run_state.get("entries"):
        return ()
    engine = Engine(script)
    try:
        state = engine.resume(dict(run_state))
    except ScriptError:
        return ()  # a run that does not fit the script is reported by the form itself, not guessed at here
    walk = engine.walk(state)
    return tuple(i.id for i in script.items
                 if i.required and i.type not in _NO_ANSWER and walk.enabled[i.id] and i.id not in walk.done)


def disagreements(script: Script, answers: Sequence[RecordedAnswer], heard: Sequence[Heard],
                  parse: TextParser = phrase_parser) -> tuple[Disagreement, ...]:
    """Confirmed answers that what the patient said while the question was on screen contradicts. When the
    transcript has no patient line for an item, the text recorded with the answer (what the recogniser heard)
    is used instead."""
    said: dict[str, list[str]] = {}
    for line in heard:
        if line.speaker == "patient" and line.item_id and line.text.strip():
            said.setdefault(line.item_id, []).append(line.text.strip())
    out = []
    for answer in answers:
        if not script.has_item(answer.item_id):
            continue
        item = script.item(answer.item_id)
        text = " ".join(said.get(answer.item_id, [])) or (answer.text if answer.source == "asr" else "")
        if not text:
            continue
        value = parse(item, text, script.locale)
        if value is not None and not _same(answer.value, value):
            out.append(Disagreement(answer.item_id, _shown(answer.value), text, _shown(value)))
    return tuple(out)


def check(script: Script, run_state: Mapping[str, Any] | None, answers: Sequence[RecordedAnswer],
          heard: Sequence[Heard], parse: TextParser = phrase_parser) -> AdherenceResult:
    return AdherenceResult(missing_items(script, run_state), disagreements(script, answers, heard, parse))
