"""Questionnaire items → what speech needs (pure): the field spec to read answers, the grammar phrases to
listen for, and the answer value in the engine's terms (``scripts_questionnaires`` answer values)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import cn2an

from asr.field_types import Duration, FieldKind, FieldResult, FieldSpec, to_jsonable
from asr.fields import parse_answer
from asr.grammar import Grammar, build_grammar
from asr.option_match import is_korean
from asr.phrases import UNKNOWN, yes_no_phrases
from asr.zh_numbers import BloodPressure, NumberRange
from scripts_questionnaires.model import Item, ItemType

_UNIT_KINDS = {"cel": FieldKind.temperature, "°c": FieldKind.temperature, "℃": FieldKind.temperature,
               "mmol/l": FieldKind.glucose, "kg": FieldKind.weight}
_UCUM_DAYS = {"min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0}
MAX_NUMBER_PHRASES = 400  # beyond this an enumerated number grammar stops helping (RECIPES: 0–200 list works)
_KO_DIGITS = "영일이삼사오육칠팔구"


def spec_from_item(item: Item, locale: str) -> FieldSpec | None:
    """How to read an answer to ``item`` from speech in ``locale``; None for items with no spoken answer."""
    rng = item.range
    bounds: dict[str, Any] = {}
    if rng is not None:
        bounds = {"minimum": rng.minimum, "maximum": rng.maximum, "unit": rng.unit, "decimals": rng.decimals}
    if item.type is ItemType.yes_no:
        return FieldSpec.of(FieldKind.yes_no, locale, item.phrases(locale))
    if item.type in (ItemType.single_choice, ItemType.multi_choice):
        return FieldSpec.of(FieldKind.choice, locale, item.phrases(locale))
    if item.type is ItemType.blood_pressure:
        return FieldSpec.of(FieldKind.blood_pressure, locale)
    if item.type is ItemType.scale:
        kind = FieldKind.pain_scale if rng is not None and rng.minimum >= 0 and rng.maximum <= 10 else FieldKind.number
        return FieldSpec.of(kind, locale, **bounds)
    if item.type is ItemType.number:
        kind = _UNIT_KINDS.get((rng.unit if rng else "").lower(), FieldKind.number)
        if kind is not FieldKind.number:
            bounds = {k: v for k, v in bounds.items() if k != "unit"}  # the kind knows its unit
            return FieldSpec.of(kind, locale, unit=rng.unit if rng else "", **bounds)
        return FieldSpec.of(kind, locale, **bounds)
    if item.type is ItemType.duration:
        return FieldSpec.of(FieldKind.duration, locale)
    if item.type is ItemType.date:
        return FieldSpec.of(FieldKind.date, locale)
    if item.type is ItemType.text:
        return FieldSpec.of(FieldKind.free_text, locale)
    return None


def number_words(n: int, locale: str) -> str:
    """How a whole number is said, as recogniser words: 一百三十 (zh), 백 삼십 (ko, Sino-Korean)."""
    if not is_korean(locale):
        return str(cn2an.an2cn(n))
    if n == 0:
        return "영"
    parts: list[str] = []
    for value, name in ((1000, "천"), (100, "백"), (10, "십")):
        digit, n = divmod(n, value)
        if digit:
            parts.append(name if digit == 1 else _KO_DIGITS[digit] + name)
    if n:
        parts.append(_KO_DIGITS[n])
    return " ".join(parts)


def grammar_phrases(item: Item, locale: str) -> tuple[str, ...]:
    """The phrases a recogniser should listen for while ``item`` is asked (empty: no grammar, no proposals)."""
    spec = spec_from_item(item, locale)
    if spec is None or spec.kind is FieldKind.free_text:
        return ()
    if spec.kind in (FieldKind.yes_no, FieldKind.choice):
        phrases = list(item.all_phrases(locale))
        if spec.kind is FieldKind.yes_no:
            phrases += [p for v in yes_no_phrases(locale).values() for p in v]
        phrases += list(yes_no_phrases(locale)[UNKNOWN])
        return tuple(dict.fromkeys(phrases))
    if spec.kind is FieldKind.blood_pressure:
        low, high = (40, 260)
    else:
        low, high = int(spec.minimum or 0), int(spec.maximum if spec.maximum is not None else 200)
        if high - low > MAX_NUMBER_PHRASES or spec.kind in (FieldKind.date, FieldKind.duration):
            low, high = 0, 100 if spec.kind in (FieldKind.date, FieldKind.duration) else 200
    numbers = [number_words(n, locale) for n in range(low, high + 1)]
    if spec.kind is FieldKind.number and spec.decimals == 0 and not is_korean(locale):
        numbers += ["两"]
    extra = () if is_korean(locale) else _ZH_UNIT_WORDS.get(spec.kind, ())
    decimals = _ZH_DIGITS if spec.decimals or spec.kind in (FieldKind.temperature, FieldKind.glucose) else ()
    return tuple(dict.fromkeys([*numbers, *extra, *decimals]))


# Words said around numbers, listed so the recogniser can hear them (the grammar is a bigram model of the
# phrases, so 三 + 天 + 前 combine into 三天前).
_ZH_UNIT_WORDS: dict[FieldKind, tuple[str, ...]] = {
    FieldKind.blood_pressure: ("高压", "低压", "血压", "收缩压", "舒张压"),
    FieldKind.temperature: ("度", "点", "体温", "多", "左右"),
    FieldKind.glucose: ("点", "空腹", "餐后", "血糖", "多", "左右"),
    FieldKind.weight: ("公斤", "斤", "千克", "点", "多", "左右"),
    FieldKind.pain_scale: ("分", "不疼", "不痛"),
    FieldKind.duration: ("天", "个", "月", "星期", "礼拜", "周", "年", "半", "小时", "多", "几", "好几"),
    FieldKind.date: ("天", "个", "月", "星期", "礼拜", "周", "年", "半", "前", "以前", "之前", "号", "日",
                     "今天", "昨天", "前天", "大前天", "上周", "上个月", "上个星期", "去年"),
    FieldKind.number: ("次", "多", "左右", "几"),
}
_ZH_DIGITS = ("点", "零", "一", "二", "三", "四", "五", "六", "七", "八", "九")


def item_grammar(item: Item, locale: str, has_word: Callable[[str], bool]) -> Grammar:
    return build_grammar(grammar_phrases(item, locale), has_word)


def _number(value: float | NumberRange) -> float:
    return (value.low + value.high) / 2 if isinstance(value, NumberRange) else value


def answer_value(item: Item, result: FieldResult) -> Any:
    """A parsed value in the shape the questionnaire engine stores for ``item`` (None when there is none).
    A range (两三天) becomes its middle; the result's reasons already ask the nurse to confirm it."""
    value = result.value
    if value is None:
        return None
    if item.type is ItemType.yes_no:
        return "yes" if value is True else "no" if value is False else None
    if isinstance(value, BloodPressure):
        return {"systolic": value.systolic, "diastolic": value.diastolic}
    if isinstance(value, Duration):
        unit = item.range.unit if item.range and item.range.unit in _UCUM_DAYS else "d"
        return round(_number(value.days) / _UCUM_DAYS[unit], item.range.decimals if item.range else 0)
    if isinstance(value, NumberRange):
        decimals = item.range.decimals if item.range else 0
        return round(_number(value), decimals)
    if isinstance(value, dt.date):
        return value.isoformat()
    if item.type is ItemType.multi_choice:
        return [value]
    return to_jsonable(value)


def heard_value(item: Item, text: str, locale: str) -> Any:
    """What a patient's utterance says for ``item`` in the engine's terms, or None when it says nothing clear.

    The ``TextParser`` the script-adherence check (``callcenter.adherence``) takes: the composition root passes
    it in so that numbers, blood pressure and durations are compared too, not only choices.
    """
    spec = spec_from_item(item, locale)
    if spec is None:
        return None
    return answer_value(item, parse_answer(spec, text))
