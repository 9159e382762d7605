"""Chinese measurements and times in recognised speech (pure): temperature, glucose, weight, pain score,
durations and relative dates. Each parser returns the value (or None) and the reasons to confirm it."""

from __future__ import annotations

import calendar
import datetime as dt
import re

from asr.field_types import Duration, Reason
from asr.zh_numbers import DIGITS, NUMERAL_CHARS, BloodPressure, NumberRange, compact, numeral_runs, to_number

Parsed = tuple[float | NumberRange | BloodPressure | Duration | dt.date | None, tuple[Reason, ...]]

_APPROX_AFTER = ("多", "左右", "上下", "来", "出头", "不到")
_APPROX_BEFORE = ("大概", "大约", "差不多", "估计", "将近", "快", "接近", "至少", "最多")
_NUM = rf"[{NUMERAL_CHARS}0-9.]+几?|半"


def approximate_reasons(s: str) -> tuple[Reason, ...]:
    return (Reason.approximate,) if any(w in s for w in _APPROX_AFTER + _APPROX_BEFORE) else ()


def single_number(s: str) -> Parsed:
    """The one number (or range) of a text; several different numbers → the first, flagged."""
    runs = [r for r in numeral_runs(s) if r.text != "半"]
    if not runs:
        return None, (Reason.no_match,)
    values = {r.value for r in runs}
    reasons: tuple[Reason, ...] = (Reason.conflicting,) if len(values) > 1 else ()
    value = runs[0].value
    if isinstance(value, NumberRange):
        reasons += (Reason.range_given,)
    return value, reasons + approximate_reasons(s)


def temperature(text: str) -> Parsed:
    """Body temperature in °C: 三十七度五 → 37.5, 三十八度 → 38, 三十七点二 → 37.2."""
    s = compact(text)
    m = re.search(rf"([{NUMERAL_CHARS}0-9.]+)度([{DIGITS}0-9])?", s)
    if m:
        whole = to_number(m.group(1))
        if whole is not None:
            tenth = to_number(m.group(2)) if m.group(2) else 0.0
            return round(whole + (tenth or 0.0) / 10, 1), approximate_reasons(s)
    return single_number(s)


def glucose(text: str) -> Parsed:
    """Blood glucose in mmol/L: 七点二 → 7.2, 十一点五 → 11.5."""
    return single_number(compact(text))


def weight(text: str) -> Parsed:
    """Body weight in kg: 六十五公斤 → 65, 一百二十斤 → 60 (1 斤 = 0.5 kg); no unit → kg, flagged."""
    s = compact(text)
    value, reasons = single_number(s)
    if value is None or isinstance(value, (Duration, dt.date, BloodPressure)):
        return value, reasons
    m = re.search(rf"(?:{_NUM})(多|来)?(公斤|千克|kg|斤)", s)
    if m and m.group(2) == "斤":
        half = 0.5
        value = NumberRange(value.low * half, value.high * half) if isinstance(value, NumberRange) else value * half
    elif not m:
        reasons += (Reason.unit_assumed,)
    return value, reasons


_NO_PAIN = ("不疼", "不痛", "没有疼", "没疼", "没有痛", "一点都不疼", "一点也不疼", "不怎么疼")


def pain(text: str) -> Parsed:
    """Pain score 0–10: 五分 → 5, 七八分 → 7–8, 不疼 → 0."""
    s = compact(text)
    for phrase in _NO_PAIN:
        if phrase in s and not numeral_runs(s.replace(phrase, "")):
            return 0.0, ()
    return single_number(s)


_UNITS = (("小时", "hour"), ("钟头", "hour"), ("天", "day"), ("日", "day"), ("星期", "week"),
          ("礼拜", "week"), ("周", "week"), ("月", "month"), ("年", "year"))
_UNIT_RE = "|".join(u for u, _ in _UNITS)
_UNIT_OF = dict(_UNITS)
_DURATION = re.compile(rf"({_NUM}|好几|几)(多)?个?(多)?(半)?({_UNIT_RE})(半|多)?")


def duration(text: str) -> Parsed:
    """A length of time: 三天 → 3 days, 两个月 → 2 months, 一个半月 → 1.5 months, 两三天 → 2–3 days."""
    s = compact(text)
    m = _DURATION.search(s)
    if not m:
        return None, (Reason.no_match,)
    num_text, more, more_after_ge, half_before, unit_text, after = m.groups()
    more = more or more_after_ge
    unit = _UNIT_OF[unit_text]
    reasons = approximate_reasons(s)
    if num_text in ("几", "好几"):
        return Duration(NumberRange(2.0, 9.0), unit), reasons + (Reason.range_given,)
    runs = numeral_runs(num_text)
    if not runs:
        return None, (Reason.no_match,)
    amount = runs[0].value
    if isinstance(amount, NumberRange):
        reasons += (Reason.range_given,)
    elif half_before or after == "半":
        amount += 0.5
    if (more or after == "多") and Reason.approximate not in reasons:
        reasons += (Reason.approximate,)
    return Duration(amount, unit), reasons


def _months_before(today: dt.date, months: int) -> dt.date:
    y, m = divmod(today.year * 12 + today.month - 1 - months, 12)
    day = min(today.day, calendar.monthrange(y, m + 1)[1])
    return dt.date(y, m + 1, day)


_DAY_WORDS = {"今天": 0, "今儿": 0, "昨天": 1, "昨儿": 1, "前天": 2, "大前天": 3}
_AGO = "(?:前|以前|之前)"


def relative_date(text: str, today: dt.date) -> Parsed:
    """A date said relative to today: 三天前, 昨天, 上周, 上个月, 两个月前, 五号, 三月十号."""
    s = compact(text)
    for word in sorted(_DAY_WORDS, key=len, reverse=True):
        if word in s:
            return today - dt.timedelta(days=_DAY_WORDS[word]), ()
    if re.search("上(个)?(周|星期|礼拜)", s):
        return today - dt.timedelta(days=7), (Reason.approximate,)
    if "上个月" in s or "上月" in s:
        return _months_before(today, 1), (Reason.approximate,)
    if "去年" in s:
        return today.replace(year=today.year - 1), (Reason.approximate,)
    m = re.search(rf"({_NUM}|好几|几)多?个?多?半?({_UNIT_RE})(半|多)?{_AGO}", s)
    if m:
        dur, reasons = duration(m.group(0))
        if isinstance(dur, Duration):
            amount = dur.amount
            if isinstance(amount, NumberRange):
                amount = amount.high  # the earliest date the patient might mean; the nurse confirms the range
            if dur.unit == "month" and float(amount).is_integer():
                return _months_before(today, int(amount)), reasons + (Reason.approximate,)
            if dur.unit == "year" and float(amount).is_integer():
                return _months_before(today, 12 * int(amount)), reasons + (Reason.approximate,)
            days = Duration(amount, dur.unit).days
            assert isinstance(days, float)
            approx = (Reason.approximate,) if dur.unit != "day" and Reason.approximate not in reasons else ()
            return today - dt.timedelta(days=round(days)), reasons + approx
    m = re.search(rf"(?:({_NUM})月)?({_NUM})(?:号|日)", s)
    if m:
        month = to_number(m.group(1)) if m.group(1) else float(today.month)
        day = to_number(m.group(2))
        if month is not None and day is not None and 1 <= month <= 12 and 1 <= day <= 31:
            year = today.year
            candidate = _safe_date(year, int(month), int(day))
            if candidate is not None and candidate > today:
                candidate = (_safe_date(year - 1, int(month), int(day)) if m.group(1)
                             else _safe_date(*_prev_month(year, int(month)), int(day)))
            if candidate is not None:
                return candidate, ()
        return None, (Reason.out_of_range,)
    return None, (Reason.no_match,)


def _prev_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
