"""Value types of the text → answer step: what to parse (``FieldSpec``) and what came out (``FieldResult``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asr.zh_numbers import BloodPressure, NumberRange


class FieldKind(enum.StrEnum):
    yes_no = "yes_no"
    choice = "choice"
    number = "number"
    blood_pressure = "blood_pressure"
    temperature = "temperature"
    glucose = "glucose"
    weight = "weight"
    pain_scale = "pain_scale"
    duration = "duration"
    date = "date"
    free_text = "free_text"


class Reason(enum.StrEnum):
    """Why a proposed answer needs the nurse's confirmation (none: it can be proposed as is)."""

    empty = "empty"  # nothing was heard
    no_match = "no_match"  # the words fit no option / no value: off-topic or misheard
    low_confidence = "low_confidence"  # the recogniser was unsure
    fuzzy_match = "fuzzy_match"  # only a near (homophone/misspelt) match to the option
    partial_match = "partial_match"  # the option is a small part of what was said
    conflicting = "conflicting"  # several options / values were heard
    hedged = "hedged"  # 好像 / 可能 / 大概 …
    dont_know = "dont_know"  # the patient does not know
    out_of_range = "out_of_range"  # outside the question's range or not plausible
    range_given = "range_given"  # 两三天, 七八分: an approximate range
    approximate = "approximate"  # 左右, 多, 大概 with a number
    ambiguous_split = "ambiguous_split"  # several ways to read a blood pressure said in one breath
    unit_assumed = "unit_assumed"  # no unit said; the question's unit was assumed
    from_alternative = "from_alternative"  # taken from the recogniser's n-best list, not its best guess
    alternatives_disagree = "alternatives_disagree"  # the n-best alternatives mean different answers
    free_text = "free_text"  # free-text questions are always typed or confirmed by the nurse


@dataclass(frozen=True)
class FieldSpec:
    """What a question accepts, in the terms the text parser needs.

    ``options`` maps an answer value to the phrases that mean it (the script's spoken words). For yes/no the
    values are ``"yes"``/``"no"`` and the built-in phrases of the locale are added.
    """

    kind: FieldKind
    locale: str = "zh-CN"
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    decimals: int = 0

    @staticmethod
    def of(kind: FieldKind | str, locale: str = "zh-CN", options: Mapping[str, Sequence[str]] | None = None,
           **kw: Any) -> FieldSpec:
        opts = tuple((str(v), tuple(p)) for v, p in (options or {}).items())
        return FieldSpec(FieldKind(kind), locale, opts, **kw)

    @property
    def option_map(self) -> dict[str, tuple[str, ...]]:
        return {value: phrases for value, phrases in self.options}


@dataclass(frozen=True)
class Duration:
    """A length of time as said (三天, 两个月, 两三天); ``days`` is the approximate length in days."""

    amount: float | NumberRange
    unit: str  # hour, day, week, month, year

    @property
    def days(self) -> float | NumberRange:
        per = {"hour": 1 / 24, "day": 1.0, "week": 7.0, "month": 30.0, "year": 365.0}[self.unit]
        if isinstance(self.amount, NumberRange):
            return NumberRange(self.amount.low * per, self.amount.high * per)
        return self.amount * per


@dataclass(frozen=True)
class FieldResult:
    """The typed value read from one utterance (None when nothing usable), a confidence 0–1, and the reasons
    the nurse must confirm it. ``needs_confirmation`` is true whenever there is any reason."""

    value: Any
    confidence: float
    reasons: tuple[Reason, ...] = ()
    matched: str = ""  # the option phrase or numeral that was recognised

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.reasons) or self.value is None


Value = bool | int | float | str | BloodPressure | NumberRange | Duration | dt.date | None


def to_jsonable(value: Any) -> Any:
    """A FieldResult value as JSON-compatible data (dataclasses → dicts, dates → ISO strings)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Duration):
        return {"amount": to_jsonable(value.amount), "unit": value.unit, "days": to_jsonable(value.days)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
