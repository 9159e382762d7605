"""Script → YAML in the documented format (used by ``import-fhir`` to write a script the checker accepts)."""

from __future__ import annotations

from typing import Any

import yaml

from scripts_questionnaires.fhir_common import number_text
from scripts_questionnaires.model import DIASTOLIC_RANGE, SYSTOLIC_RANGE, Item, ItemType, Option, Script
from scripts_questionnaires.phrases import default_yes_no_options


def dump_yaml(script: Script) -> str:
    data: dict[str, Any] = {"key": script.key, "version": script.version, "title": script.title,
                            "locale": script.locale}
    for name in ("description", "intro", "closing"):
        if getattr(script, name):
            data[name] = getattr(script, name)
    data["items"] = [_item(script, i) for i in script.items]
    if script.scores:
        data["scores"] = [{"id": s.id, "label": s.label, "items": list(s.items),
                           "bands": [{k: (number_text(v) if isinstance(v, float) else v)
                                      for k, v in b.to_dict().items() if v is not None} for b in s.bands]}
                          for s in script.scores]
    if script.alerts:
        data["alerts"] = [a.to_dict() for a in script.alerts]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=110)


def _item(script: Script, item: Item) -> dict[str, Any]:
    out: dict[str, Any] = {"id": item.id, "type": item.type.value, "text": item.text}
    if item.help:
        out["help"] = item.help
    if not item.required:
        out["required"] = False
    if item.when is not None:
        out["when"] = item.when
    if item.options and not (item.type == ItemType.yes_no
                             and item.options == default_yes_no_options(script.locale)):
        out["options"] = [_option(script, o) for o in item.options]
    if item.type == ItemType.blood_pressure:
        if item.range is not None and item.range != SYSTOLIC_RANGE:
            out["systolic"] = {"min": number_text(item.range.minimum), "max": number_text(item.range.maximum)}
        if item.diastolic is not None and item.diastolic != DIASTOLIC_RANGE:
            out["diastolic"] = {"min": number_text(item.diastolic.minimum), "max": number_text(item.diastolic.maximum)}
    elif item.range is not None:
        out.update({"min": number_text(item.range.minimum), "max": number_text(item.range.maximum)})
        if item.range.decimals:
            out["decimals"] = item.range.decimals
        if item.range.unit:
            out["unit"] = item.range.unit
    if item.departments:
        out["departments"] = list(item.departments)
    return out


def _option(script: Script, option: Option) -> dict[str, Any]:
    out: dict[str, Any] = {"value": option.value, "label": option.label}
    if option.score is not None:
        out["score"] = number_text(option.score)
    if option.dtmf is not None:
        out["dtmf"] = option.dtmf
    if option.exclusive:
        out["exclusive"] = True
    if set(option.say) <= {script.locale}:
        out["say"] = list(option.say.get(script.locale, ()))
    else:
        out["say"] = {loc: list(p) for loc, p in option.say.items()}
    return out
