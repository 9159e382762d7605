"""Validate and normalise an answer value for its item (the forms listed in ``__init__``)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence

from scripts_questionnaires.errors import AnswerInvalid
from scripts_questionnaires.model import DIASTOLIC_RANGE, SYSTOLIC_RANGE, Item, ItemType, NumberRange

Value = str | int | float | bool | list[str] | dict[str, object] | None
_BP_TEXT = re.compile(r"^\s*(\d{2,3})\s*/\s*(\d{2,3})\s*$")


def normalize_answer(item: Item, value: object) -> Value:
    """The canonical form of ``value`` for ``item``; raises :class:`AnswerInvalid` saying what is accepted."""
    kind = item.type
    if kind == ItemType.info:
        return True
    if kind == ItemType.yes_no:
        if isinstance(value, bool):
            return "yes" if value else "no"
        return _option(item, value)
    if kind == ItemType.single_choice:
        return _option(item, value)
    if kind == ItemType.multi_choice:
        return _multi(item, value)
    if kind in (ItemType.number, ItemType.scale, ItemType.duration):
        return _number(item, value, item.range or NumberRange(-math.inf, math.inf, 6))
    if kind == ItemType.blood_pressure:
        return _blood_pressure(item, value)
    if kind == ItemType.date:
        return _date(item, value)
    if kind == ItemType.appointment:
        return _appointment(item, value)
    if not isinstance(value, str) or not value.strip():
        raise AnswerInvalid(item.id, "give the answer as non-empty text")
    return value.strip()


def _option(item: Item, value: object) -> str:
    if not isinstance(value, str) or value not in item.option_values:
        raise AnswerInvalid(item.id, f"{value!r} is not an option; choose one of {', '.join(item.option_values)}")
    return value


def _multi(item: Item, value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise AnswerInvalid(item.id, "give a list of option values")
    chosen = [_option(item, v) for v in value]
    if len(set(chosen)) != len(chosen):
        raise AnswerInvalid(item.id, "an option is given twice")
    exclusive = [v for v in chosen if item.option(v).exclusive]
    if exclusive and len(chosen) > 1:
        raise AnswerInvalid(item.id, f"{exclusive[0]!r} cannot be combined with other options")
    return [v for v in item.option_values if v in chosen]  # in the script's order


def _number(item: Item, value: object, spec: NumberRange) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise AnswerInvalid(item.id, "give a number")
    try:
        number = float(value)
    except ValueError:
        raise AnswerInvalid(item.id, f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise AnswerInvalid(item.id, "give a finite number")
    if item.type == ItemType.scale and number != int(number):
        raise AnswerInvalid(item.id, "a scale takes whole numbers")
    rounded = round(number, spec.decimals)
    if not spec.contains(rounded):
        raise AnswerInvalid(item.id, f"{number:g} is outside {spec.minimum:g}–{spec.maximum:g} {spec.unit}".rstrip()
                            + "; check the reading or skip with a reason")
    return int(rounded) if spec.decimals == 0 else rounded


def _blood_pressure(item: Item, value: object) -> dict[str, object]:
    if isinstance(value, str) and (m := _BP_TEXT.match(value)):
        value = {"systolic": int(m.group(1)), "diastolic": int(m.group(2))}
    if not isinstance(value, Mapping) or set(value) != {"systolic", "diastolic"}:
        raise AnswerInvalid(item.id, "give {'systolic': 130, 'diastolic': 85} or '130/85'")
    systolic = _number(item, value["systolic"], item.range or SYSTOLIC_RANGE)
    diastolic = _number(item, value["diastolic"], item.diastolic or DIASTOLIC_RANGE)
    if diastolic >= systolic:
        raise AnswerInvalid(item.id, f"diastolic {diastolic} must be below systolic {systolic}; were they swapped?")
    return {"systolic": int(systolic), "diastolic": int(diastolic)}


def _date(item: Item, value: object) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise AnswerInvalid(item.id, f"{value!r} is not a date; give YYYY-MM-DD")


def _appointment(item: Item, value: object) -> dict[str, object]:
    if not isinstance(value, Mapping) or "date" not in value:
        raise AnswerInvalid(item.id, "give {'department': '心内科', 'date': 'YYYY-MM-DD'}")
    department = str(value.get("department", "") or (item.departments[0] if item.departments else ""))
    if item.departments and department not in item.departments:
        raise AnswerInvalid(item.id, f"department {department!r} is not one of {', '.join(item.departments)}")
    out: dict[str, object] = {"department": department, "date": _date(item, value["date"])}
    if value.get("time"):
        out["time"] = str(value["time"])
    return out
