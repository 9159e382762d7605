"""Script → FHIR R4 Questionnaire; finished run → FHIR R4 QuestionnaireResponse.

Standard elements carry what FHIR can say (types, answerOption, enableWhen/enableBehavior, required,
repeats, min/max/unit, ordinalValue scores, optionExclusive); this project's extensions (``fhir_common.EXT``)
carry the rest, so that export → import gives back the same script. Both resources validate with
``fhir.resources`` (R4B models, identical to R4 for these resources).
"""

from __future__ import annotations

import ast
from typing import Any

from scripts_questionnaires.engine import Engine
from scripts_questionnaires.expressions import Expression
from scripts_questionnaires.fhir_common import (
    EXT_ALERT,
    EXT_ANSWER_SOURCE,
    EXT_AUDIO_SPAN,
    EXT_CLOSING,
    EXT_CONFIDENCE,
    EXT_CONFIRMED_BY,
    EXT_DEPARTMENT,
    EXT_DTMF,
    EXT_HELP,
    EXT_INTRO,
    EXT_ITEM_TYPE,
    EXT_RAISED_ALERT,
    EXT_SCORE,
    EXT_SKIP_REASON,
    EXT_SPOKEN,
    EXT_WHEN,
    ITEM_CONTROL,
    MAX_DECIMALS,
    MAX_VALUE,
    MIN_VALUE,
    OPTION_EXCLUSIVE,
    ORDINAL_VALUE,
    UNIT,
    number_text,
    option_system,
)
from scripts_questionnaires.model import Item, ItemType, NumberRange, Option, Script
from scripts_questionnaires.runstate import Entry, EntryKind, RunState, RunStatus

_FHIR_TYPE = {
    ItemType.yes_no: "choice", ItemType.single_choice: "choice", ItemType.multi_choice: "choice",
    ItemType.scale: "integer", ItemType.date: "date", ItemType.duration: "quantity", ItemType.text: "text",
    ItemType.info: "display", ItemType.blood_pressure: "group", ItemType.appointment: "group",
}
_OPS = {ast.Eq: "=", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def questionnaire_url(key: str) -> str:
    return f"http://callcenter.local/fhir/Questionnaire/{key}"


def to_fhir_questionnaire(script: Script, *, status: str = "active") -> dict[str, Any]:
    exts: list[dict[str, Any]] = []
    if script.intro:
        exts.append({"url": EXT_INTRO, "valueString": script.intro})
    if script.closing:
        exts.append({"url": EXT_CLOSING, "valueString": script.closing})
    exts += [_score_ext(s.to_dict()) for s in script.scores]
    exts += [{"url": EXT_ALERT, "extension": [
        {"url": "id", "valueString": a.id}, {"url": "when", "valueString": a.when},
        {"url": "severity", "valueCode": a.severity.value}, {"url": "message", "valueString": a.message}]}
        for a in script.alerts]
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire", "id": script.key.replace("_", "-"), "url": questionnaire_url(script.key),
        "version": str(script.version), "name": script.key.replace("-", "_"), "title": script.title,
        "status": status, "language": script.locale,
        "item": [_item(script, i) for i in script.items],
    }
    if script.description:
        resource["description"] = script.description
    if exts:
        resource["extension"] = exts
    return resource


def _score_ext(score: dict[str, Any]) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"url": "id", "valueString": score["id"]},
                                   {"url": "label", "valueString": score["label"]}]
    parts += [{"url": "item", "valueString": i} for i in score["items"]]
    for band in score["bands"]:
        sub: list[dict[str, Any]] = [{"url": "code", "valueString": band["code"]},
                                     {"url": "label", "valueString": band["label"]}]
        sub += [{"url": k, "valueDecimal": band[k]} for k in ("min", "max") if band[k] is not None]
        parts.append({"url": "band", "extension": sub})
    return {"url": EXT_SCORE, "extension": parts}


def _item(script: Script, item: Item) -> dict[str, Any]:
    kind = _FHIR_TYPE.get(item.type) or ("decimal" if item.range and item.range.decimals else "integer")
    out: dict[str, Any] = {"linkId": item.id, "text": item.text, "type": kind}
    exts: list[dict[str, Any]] = [{"url": EXT_ITEM_TYPE, "valueCode": item.type.value}]
    if item.help:
        exts.append({"url": EXT_HELP, "valueString": item.help})
    if item.when is not None:
        exts.append({"url": EXT_WHEN, "valueString": item.when})
        enable = _enable_when(script, item.when)
        if enable is not None:
            out["enableWhen"], behavior = enable
            if len(out["enableWhen"]) > 1:
                out["enableBehavior"] = behavior
    if item.type == ItemType.info:
        out["extension"] = exts
        return out
    out["required"] = item.required
    if item.type == ItemType.multi_choice:
        out["repeats"] = True
    if item.is_choice:
        out["answerOption"] = [_option(script, item, o) for o in item.options]
    elif item.type == ItemType.blood_pressure:
        assert item.range is not None and item.diastolic is not None
        out["item"] = [_number_child(f"{item.id}.systolic", "收缩压（高压）", item.range),
                       _number_child(f"{item.id}.diastolic", "舒张压（低压）", item.diastolic)]
    elif item.type == ItemType.appointment:
        department: dict[str, Any] = {"linkId": f"{item.id}.department", "text": "科室", "type": "string"}
        if item.departments:
            department["type"] = "choice"
            department["answerOption"] = [{"valueString": d} for d in item.departments]
        out["item"] = [department, {"linkId": f"{item.id}.date", "text": "日期", "type": "date", "required": True}]
    elif item.range is not None:
        exts += _range_exts(item.range)
        if item.type == ItemType.scale:
            exts.append({"url": ITEM_CONTROL, "valueCodeableConcept": {"coding": [
                {"system": "http://hl7.org/fhir/questionnaire-item-control", "code": "slider"}]}})
    for dept in item.departments if item.type != ItemType.appointment else ():
        exts.append({"url": EXT_DEPARTMENT, "valueString": dept})
    out["extension"] = exts
    return out


def _range_exts(spec: NumberRange) -> list[dict[str, Any]]:
    exts: list[dict[str, Any]] = [{"url": MIN_VALUE, "valueDecimal": number_text(spec.minimum)},
                                  {"url": MAX_VALUE, "valueDecimal": number_text(spec.maximum)},
                                  {"url": MAX_DECIMALS, "valueInteger": spec.decimals}]
    if spec.unit:
        exts.append({"url": UNIT, "valueCoding": {"system": "http://unitsofmeasure.org", "code": spec.unit,
                                                  "display": spec.unit}})
    return exts


def _number_child(link_id: str, text: str, spec: NumberRange) -> dict[str, Any]:
    return {"linkId": link_id, "text": text, "type": "integer", "required": True, "extension": _range_exts(spec)}


def _option(script: Script, item: Item, option: Option) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": option_system(script.key, item.id), "code": option.value,
                              "display": option.label}
    if option.score is not None:
        coding["extension"] = [{"url": ORDINAL_VALUE, "valueDecimal": number_text(option.score)}]
    exts: list[dict[str, Any]] = []
    for locale, phrases in option.say.items():
        for phrase in phrases:
            exts.append({"url": EXT_SPOKEN, "extension": [{"url": "locale", "valueCode": locale},
                                                          {"url": "phrase", "valueString": phrase}]})
    if option.dtmf is not None:
        exts.append({"url": EXT_DTMF, "valueString": option.dtmf})
    if option.exclusive:
        exts.append({"url": OPTION_EXCLUSIVE, "valueBoolean": True})
    out: dict[str, Any] = {"valueCoding": coding}
    if exts:
        out["extension"] = exts
    return out


def _enable_when(script: Script, when: str) -> tuple[list[dict[str, Any]], str] | None:
    """Standard enableWhen for conditions made of ``item op literal`` joined by one kind of and/or."""
    tree = Expression.parse(when).tree
    behavior = "all"
    clauses: list[ast.expr] = [tree]
    if isinstance(tree, ast.BoolOp):
        behavior = "all" if isinstance(tree.op, ast.And) else "any"
        clauses = list(tree.values)
    out: list[dict[str, Any]] = []
    for clause in clauses:
        converted = _clause(script, clause)
        if converted is None:
            return None
        if len(converted) > 1 and (behavior == "all" and len(clauses) > 1):
            return None
        if len(converted) > 1:
            behavior = "any"
        out += converted
    return out, behavior


def _clause(script: Script, node: ast.expr) -> list[dict[str, Any]] | None:
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name)
            and script.has_item(node.left.id)):
        return None
    item = script.item(node.left.id)
    op, right = node.ops[0], node.comparators[0]
    if isinstance(op, ast.In) and isinstance(right, ast.List) and item.is_choice:
        values = [e.value for e in right.elts if isinstance(e, ast.Constant)]
        return [_answer(script, item, "=", v) for v in values]
    if type(op) not in _OPS or not isinstance(right, ast.Constant):
        return None
    if item.is_choice and isinstance(right.value, str) and item.type != ItemType.multi_choice:
        return [_answer(script, item, _OPS[type(op)], right.value)] if _OPS[type(op)] in ("=", "!=") else None
    if item.is_numeric and isinstance(right.value, (int, float)) and not isinstance(right.value, bool):
        return [_answer(script, item, _OPS[type(op)], right.value)]
    return None


def _answer(script: Script, item: Item, operator: str, value: object) -> dict[str, Any]:
    out: dict[str, Any] = {"question": item.id, "operator": operator}
    if item.is_choice:
        out["answerCoding"] = {"system": option_system(script.key, item.id), "code": str(value)}
    elif isinstance(value, (int, float)) and item.range is not None and item.range.decimals == 0 \
            and float(value).is_integer():
        out["answerInteger"] = int(value)
    else:
        out["answerDecimal"] = value
    return out


# ---- QuestionnaireResponse --------------------------------------------------------------------------------
_RESPONSE_STATUS = {RunStatus.in_progress: "in-progress", RunStatus.completed: "completed",
                    RunStatus.partial: "stopped"}


def to_fhir_response(engine: Engine, state: RunState, *, subject: str | None = None,
                     authored: str | None = None) -> dict[str, Any]:
    """The run as a QuestionnaireResponse: answers of enabled items with provenance, skips, scores, alerts."""
    script = engine.script
    walk = engine.walk(state)
    latest = state.latest_by_item()
    items = [_response_item(script, script.item(i), latest[i]) for i in engine.path(state)
             if script.item(i).type != ItemType.info or i in walk.values]
    result = engine.result(state)
    exts: list[dict[str, Any]] = []
    for score in script.scores:
        value = result.scores[score.id]
        band = result.bands[score.id]
        parts: list[dict[str, Any]] = [{"url": "id", "valueString": score.id}]
        if value is not None:
            parts.append({"url": "value", "valueDecimal": number_text(value)})
        if band is not None:
            parts.append({"url": "band", "valueString": band.code})
        exts.append({"url": EXT_SCORE, "extension": parts})
    exts += [{"url": EXT_RAISED_ALERT, "extension": [{"url": "id", "valueString": a.id},
                                                     {"url": "severity", "valueCode": a.severity.value}]}
             for a in result.alerts]
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse", "status": _RESPONSE_STATUS[state.status],
        "questionnaire": f"{questionnaire_url(script.key)}|{script.version}", "item": items,
    }
    if subject:
        resource["subject"] = {"reference": subject}
    if authored:
        resource["authored"] = authored
    if exts:
        resource["extension"] = exts
    return resource


def _response_item(script: Script, item: Item, entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {"linkId": item.id, "text": item.text}
    if entry.kind == EntryKind.skip:
        out["extension"] = [{"url": EXT_SKIP_REASON, "valueString": entry.reason}]
        return out
    value = entry.value
    if item.type == ItemType.blood_pressure and isinstance(value, dict):
        out["item"] = [{"linkId": f"{item.id}.{k}", "answer": [{"valueInteger": int(str(value[k]))}]}
                       for k in ("systolic", "diastolic")]
        return out
    if item.type == ItemType.appointment and isinstance(value, dict):
        out["item"] = [{"linkId": f"{item.id}.department", "answer": [{"valueString": str(value["department"])}]},
                       {"linkId": f"{item.id}.date", "answer": [{"valueDate": str(value["date"])}]}]
        return out
    answers = [_answer_value(script, item, v) for v in (value if isinstance(value, list) else [value])]
    prov = entry.provenance
    prov_exts: list[dict[str, Any]] = [{"url": EXT_ANSWER_SOURCE, "valueCode": prov.source.value}]
    if prov.confidence is not None:
        prov_exts.append({"url": EXT_CONFIDENCE, "valueDecimal": prov.confidence})
    if prov.t0_s is not None and prov.t1_s is not None:
        prov_exts.append({"url": EXT_AUDIO_SPAN, "extension": [{"url": "t0", "valueDecimal": prov.t0_s},
                                                               {"url": "t1", "valueDecimal": prov.t1_s}]})
    if prov.confirmed_by:
        prov_exts.append({"url": EXT_CONFIRMED_BY, "valueString": prov.confirmed_by})
    for answer in answers:
        answer["extension"] = prov_exts
    out["answer"] = answers
    return out


def _answer_value(script: Script, item: Item, value: object) -> dict[str, Any]:
    if item.is_choice:
        option = item.option(str(value))
        return {"valueCoding": {"system": option_system(script.key, item.id), "code": option.value,
                                "display": option.label}}
    if item.type == ItemType.info:
        return {"valueBoolean": True}
    if item.type == ItemType.date:
        return {"valueDate": str(value)}
    if item.type == ItemType.duration:
        unit = item.range.unit if item.range else "d"
        return {"valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}
    if item.is_numeric:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"valueInteger": value}
        return {"valueDecimal": value}
    return {"valueString": str(value)}


def validate_questionnaire(resource: dict[str, Any]) -> None:
    """Raise (pydantic ``ValidationError``) unless ``resource`` is a structurally valid R4 Questionnaire."""
    from fhir.resources.R4B.questionnaire import Questionnaire  # heavy import, only when validating

    Questionnaire.model_validate(resource)


def validate_response(resource: dict[str, Any]) -> None:
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    QuestionnaireResponse.model_validate(resource)
