"""Questionnaire scripts (随访问卷 / 话术): format, checker, engine, FHIR mapping, the built-in library.

Pure code: no database, telephony, speech or web imports (import-linter checks it). The public API:

Loading and checking (``docs/scripts.md`` documents the YAML format)::

    from scripts_questionnaires import load_script, load_file, check_file, library_paths
    script = load_script("library/phq9.yaml")   # raises ScriptInvalid (problems with file:line:column)
    problems = check_file(path)                 # loader + checker findings, [] when clean

The model (frozen dataclasses, ``model.py``): ``Script`` (key, version, title, locale, intro, closing,
items, scores, alerts), ``Item`` (id, type: ``ItemType``, text, help, required, when, options, range,
diastolic, departments), ``Option`` (value, label, say {locale: phrases}, score, dtmf, exclusive),
``NumberRange`` (minimum, maximum, decimals, unit), ``Score`` + ``Band``, ``AlertRule``.

For speech recognition, per item::

    item.type                      # ItemType.yes_no / single_choice / multi_choice / number / blood_pressure / scale / ...
    item.phrases("zh-CN")          # {"yes": ("有", "有的", …), "no": ("没有", "没", …)}  option value -> phrases
    item.all_phrases("zh-CN")      # every phrase once, in option order: a grammar word list
    item.range                     # NumberRange(minimum, maximum, decimals, unit) of number/scale/duration,
                                   # the systolic range of a blood_pressure item
    item.diastolic                 # the diastolic NumberRange of a blood_pressure item
    item.dtmf_map()                # {"1": "confirm", …} for robot calls
    item.option_values             # ("yes", "no")

Answer values by type: yes_no → ``"yes"``/``"no"``; single_choice → option value; multi_choice → list of
option values; number/scale/duration → number (duration in ``item.range.unit``); blood_pressure →
``{"systolic": 130, "diastolic": 85}`` (``"130/85"`` accepted); date → ``"YYYY-MM-DD"``; text → str;
info → ``True`` (delivered); appointment → ``{"department": str, "date": "YYYY-MM-DD"}``.
``normalize_answer(item, value)`` validates and normalises (raises ``AnswerInvalid``).

Running a script (``engine.py``; the run state is a frozen, JSON-serialisable value)::

    engine = Engine(script)
    state = engine.start(variables={"patient": {"name": "张三"}})
    item = engine.current_item(state)                 # None when every enabled item is answered or skipped
    state = engine.answer(state, item.id, "yes", Provenance(source=AnswerSource.asr, confidence=0.82,
                                                            t0_s=3.1, t1_s=3.9, confirmed_by="nurse:7"))
    state = engine.amend(state, "fever", "no", prov)  # re-evaluates branching
    state = engine.skip(state, item_id, "患者拒答")
    state = engine.back(state)
    state = engine.finish(state)
    result = engine.result(state)                     # scores, bands, alerts, path, answers
    RunState.from_dict(json.loads(json.dumps(state.to_dict())))  # resume after an interruption

Text with patient variables: ``render_text("{patient.name}您好", variables)`` (missing → empty, never an error).
FHIR R4: ``to_fhir_questionnaire(script)``, ``from_fhir_questionnaire(dict) -> ImportResult`` (script +
notes on what was not mapped), ``to_fhir_response(engine, state)``; ``validate_questionnaire`` /
``validate_response`` check them with ``fhir.resources``. YAML out: ``dump_yaml(script)``.
Simulator: ``simulate(script, answers)`` (answers file) and ``interactive(script, ask, say)`` (terminal).
"""

from __future__ import annotations

from scripts_questionnaires.checker import check, check_file, check_text, errors
from scripts_questionnaires.dump import dump_yaml
from scripts_questionnaires.engine import Engine, RaisedAlert, RunResult, Walk
from scripts_questionnaires.errors import (
    AnswerInvalid,
    ExpressionError,
    Pos,
    Problem,
    RunError,
    ScriptError,
    ScriptInvalid,
    Severity,
)
from scripts_questionnaires.expressions import Context, Expression
from scripts_questionnaires.fhir_export import (
    questionnaire_url,
    to_fhir_questionnaire,
    to_fhir_response,
    validate_questionnaire,
    validate_response,
)
from scripts_questionnaires.fhir_import import ImportResult, from_fhir_questionnaire
from scripts_questionnaires.library import library_paths, library_script, load_library
from scripts_questionnaires.loader import LoadResult, load_file, load_script, parse_script
from scripts_questionnaires.model import (
    AlertRule,
    AlertSeverity,
    Band,
    Item,
    ItemType,
    NumberRange,
    Option,
    Score,
    Script,
)
from scripts_questionnaires.render import render_text
from scripts_questionnaires.runstate import AnswerSource, Entry, EntryKind, Provenance, RunState, RunStatus
from scripts_questionnaires.simulator import Simulation, interactive, read_answers_file, simulate
from scripts_questionnaires.values import Value, normalize_answer

__all__ = [
    "AlertRule", "AlertSeverity", "AnswerInvalid", "AnswerSource", "Band", "Context", "Engine", "Entry",
    "EntryKind", "Expression", "ExpressionError", "ImportResult", "Item", "ItemType", "LoadResult", "NumberRange", "Option", "Pos",
    "Problem", "Provenance", "RaisedAlert", "RunError", "RunResult", "RunState", "RunStatus", "Score", "Script",
    "ScriptError", "ScriptInvalid", "Severity", "Simulation", "Value", "Walk", "check", "check_file", "check_text",
    "dump_yaml", "errors", "from_fhir_questionnaire", "interactive", "library_paths", "library_script",
    "load_file", "load_library", "load_script", "normalize_answer", "parse_script", "questionnaire_url",
    "read_answers_file", "render_text", "simulate", "to_fhir_questionnaire", "to_fhir_response",
    "validate_questionnaire", "validate_response",
]
