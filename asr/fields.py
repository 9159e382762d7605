"""Answers from recognised text (pure): text → typed value + confidence + reasons to confirm, per question kind.

``parse_answer(spec, text, confidence, alternatives)`` is the one entry point. It never forces off-topic or
unsure speech onto an option silently: whatever is not a clean, confident, in-range reading carries at least
one ``Reason`` and so ``needs_confirmation``. Locales: zh-CN (the hospital's) and ko-KR (the automated tests'
Korean model).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from asr.field_types import Duration, FieldKind, FieldResult, FieldSpec, Reason
from asr.ko_numbers import ko_numbers
from asr.option_match import OptionMatch, is_korean, match_option
from asr.phrases import NO, UNKNOWN, YES, hedges, yes_no_phrases
from asr.zh_numbers import BloodPressure, NumberRange, blood_pressure_candidates, compact
from asr.zh_quantities import (
    Parsed,
    approximate_reasons,
    duration,
    glucose,
    pain,
    relative_date,
    single_number,
    temperature,
    weight,
)

LOW_CONFIDENCE = 0.7  # below this recogniser confidence the nurse confirms (RECIPES: AUC 0.77, flag < 0.6–0.8)
PARTIAL_COVERAGE = 0.5  # an option phrase covering less than this share of the words is flagged

_PLAUSIBLE: dict[FieldKind, tuple[float, float]] = {
    FieldKind.temperature: (34.0, 43.0),
    FieldKind.glucose: (1.0, 35.0),
    FieldKind.weight: (2.0, 300.0),
    FieldKind.pain_scale: (0.0, 10.0),
}
_DEFAULT_DECIMALS = {FieldKind.temperature: 1, FieldKind.glucose: 1, FieldKind.weight: 1}
_YES_NO_VALUES = {YES: True, NO: False, UNKNOWN: None}


def _strip_hedges(text: str, locale: str) -> tuple[str, bool]:
    hedged = False
    for h in sorted(hedges(locale), key=len, reverse=True):
        if h in text:
            text, hedged = text.replace(h, " "), True
    return text, hedged


def _option_result(match: OptionMatch | None, value: Any, hedged: bool) -> FieldResult:
    if match is None:
        return FieldResult(None, 0.0, (Reason.no_match,))
    reasons: list[Reason] = []
    confidence = match.score
    if not match.exact:
        reasons.append(Reason.fuzzy_match)
    if match.coverage < PARTIAL_COVERAGE:
        reasons.append(Reason.partial_match)
        confidence *= 0.7
    if match.competing:
        reasons.append(Reason.conflicting)
        confidence *= 0.6
    if hedged:
        reasons.append(Reason.hedged)
        confidence *= 0.8
    return FieldResult(value, confidence, tuple(reasons), match.phrase)


def _yes_no(spec: FieldSpec, text: str) -> FieldResult:
    stripped, hedged = _strip_hedges(text, spec.locale)
    options: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in yes_no_phrases(spec.locale).items()}
    for value, phrases in spec.options:
        key = value if value in options else (YES if value.lower() in {"true", "1", "y"} else NO)
        options[key] = options.get(key, ()) + phrases
    match = match_option(stripped, options, spec.locale)
    result = _option_result(match, _YES_NO_VALUES.get(match.value) if match else None, hedged)
    if match is not None and match.value == UNKNOWN:
        return FieldResult(None, result.confidence, (Reason.dont_know, *result.reasons), result.matched)
    return result


def _choice(spec: FieldSpec, text: str) -> FieldResult:
    stripped, hedged = _strip_hedges(text, spec.locale)
    match = match_option(stripped, spec.option_map, spec.locale)
    if match is None:
        unknown = match_option(stripped, {UNKNOWN: yes_no_phrases(spec.locale)[UNKNOWN]}, spec.locale)
        if unknown is not None and unknown.exact:
            return FieldResult(None, 0.0, (Reason.dont_know,), unknown.phrase)
    return _option_result(match, match.value if match else None, hedged)


def _blood_pressure(text: str) -> Parsed:
    found = blood_pressure_candidates(text)
    if not found:
        return None, (Reason.no_match,)
    reasons = (Reason.ambiguous_split,) if len(found) > 1 else ()
    return found[0], reasons + approximate_reasons(compact(text))


def _ko_number(text: str) -> Parsed:
    values = ko_numbers(text)
    if not values:
        return None, (Reason.no_match,)
    return values[0], ((Reason.conflicting,) if len(set(values)) > 1 else ())


def _in_range(value: Any, spec: FieldSpec) -> bool:
    low, high = _PLAUSIBLE.get(spec.kind, (float("-inf"), float("inf")))
    low = spec.minimum if spec.minimum is not None else low
    high = spec.maximum if spec.maximum is not None else high
    if isinstance(value, NumberRange):
        return low <= value.low and value.high <= high
    if isinstance(value, Duration):
        return _in_range(value.amount, FieldSpec(FieldKind.number, minimum=spec.minimum, maximum=spec.maximum))
    if isinstance(value, (int, float)):
        return low <= value <= high
    return True


def _quantity(spec: FieldSpec, text: str, today: dt.date | None) -> Parsed:
    if is_korean(spec.locale) and spec.kind not in (FieldKind.date, FieldKind.duration):
        return _ko_number(text)
    if spec.kind is FieldKind.blood_pressure:
        return _blood_pressure(text)
    if spec.kind is FieldKind.date:
        if today is None:
            raise ValueError("parse_answer needs today= for date questions (pass the call's local date)")
        return relative_date(text, today)
    parser = {FieldKind.temperature: temperature, FieldKind.glucose: glucose, FieldKind.weight: weight,
              FieldKind.pain_scale: pain, FieldKind.duration: duration}.get(spec.kind, single_number)
    return parser(compact(text))


def _rounded(value: Any, decimals: int) -> Any:
    if isinstance(value, float):
        r = round(value, decimals)
        return int(r) if decimals == 0 and r.is_integer() else r
    if isinstance(value, NumberRange):
        return NumberRange(_rounded(value.low, decimals), _rounded(value.high, decimals))
    return value


def _parse_text(spec: FieldSpec, text: str, today: dt.date | None) -> FieldResult:
    if not compact(text):
        return FieldResult(None, 0.0, (Reason.empty,))
    if spec.kind is FieldKind.free_text:
        return FieldResult(text.strip(), 1.0, (Reason.free_text,))
    if spec.kind is FieldKind.yes_no:
        return _yes_no(spec, text)
    if spec.kind is FieldKind.choice:
        return _choice(spec, text)
    _, hedged = _strip_hedges(text, spec.locale)
    value, reasons = _quantity(spec, text, today)  # hedge words hold no numerals; 大概/左右 mean approximate
    if value is None:
        return FieldResult(None, 0.0, reasons or (Reason.no_match,))
    if not _in_range(value, spec):
        reasons += (Reason.out_of_range,)
    if hedged and Reason.approximate not in reasons:
        reasons += (Reason.hedged,)
    if not isinstance(value, (BloodPressure, dt.date, Duration)):
        value = _rounded(value, max(spec.decimals, _DEFAULT_DECIMALS.get(spec.kind, 0)))
    confidence = 1.0 - 0.15 * len(reasons)
    return FieldResult(value, max(confidence, 0.1), tuple(dict.fromkeys(reasons)), text)


def parse_answer(spec: FieldSpec, text: str, confidence: float = 1.0, alternatives: Sequence[str] = (),
                 today: dt.date | None = None) -> FieldResult:
    """Read the answer to one question from one utterance.

    ``confidence`` is the recogniser's (e.g. minimum word confidence); ``alternatives`` its n-best texts after
    the first. The result's confidence combines both; a value read only from an alternative, or alternatives
    that mean other values, are flagged.
    """
    result = _parse_text(spec, text, today)
    reasons = list(result.reasons)
    if result.value is None and Reason.dont_know not in reasons:
        for alt in alternatives:
            alt_result = _parse_text(spec, alt, today)
            if alt_result.value is not None:
                result = alt_result
                reasons = [*alt_result.reasons, Reason.from_alternative]
                break
    elif alternatives and result.value is not None:
        alt_values = {_parse_text(spec, a, today).value for a in alternatives[:2]}
        alt_values.discard(None)
        if alt_values - {result.value}:
            reasons.append(Reason.alternatives_disagree)
    combined = result.confidence * max(0.0, min(confidence, 1.0))
    if confidence < LOW_CONFIDENCE and result.value is not None:
        reasons.append(Reason.low_confidence)
    return FieldResult(result.value, round(combined, 3), tuple(dict.fromkeys(reasons)), result.matched)
