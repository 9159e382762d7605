"""Chinese numerals in recognised speech → numbers (pure), with the rules cn2an alone gets wrong.

- Numeral runs are pulled out first (Vosk output is unpunctuated and space separated), then each run is
  converted with ``cn2an`` in normal mode; cn2an raises ValueError *or* KeyError on bad input.
- Approximate ranges are detected before conversion: 两三天 → 2–3, 十几天 → 11–19, 七八十 → 70–80,
  一百四五 → 140–150 (cn2an would read 两三 as 23).
- Blood pressure said in one breath (一百三十八十五) is split at every point where both halves are numerals and
  plausible (systolic 70–250, diastolic 40–150, systolic > diastolic).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import cn2an

DIGITS = "零〇幺一二两三四五六七八九"
_DIGIT_VALUE = {"零": 0, "〇": 0, "幺": 1, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
                "六": 6, "七": 7, "八": 8, "九": 9}
NUMERAL_CHARS = DIGITS + "十百千万点"

SYSTOLIC_RANGE = (70.0, 250.0)
DIASTOLIC_RANGE = (40.0, 150.0)


@dataclass(frozen=True)
class NumberRange:
    """An approximate answer such as 两三天 (2–3) or 十几天 (11–19)."""

    low: float
    high: float


@dataclass(frozen=True)
class BloodPressure:
    systolic: int
    diastolic: int


@dataclass(frozen=True)
class NumeralRun:
    """One numeral run found in a text: its value (a number or a range) and where it ends."""

    value: float | NumberRange
    start: int
    end: int
    text: str


def compact(text: str) -> str:
    """The text without spaces (Vosk separates words with spaces); 千克 spelt 公斤 so 千 stays a numeral."""
    return re.sub(r"\s+", "", text).replace("千克", "公斤")


def to_number(run: str) -> float | None:
    """One numeral run → number; None when it is not a well-formed numeral."""
    if not run:
        return None
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", run):
        return float(run)
    if run == "半":
        return 0.5
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = cn2an.cn2an(run, "normal")
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return float(value)


def _range_of(run: str) -> NumberRange | None:
    """Approximate ranges said as adjacent digits: 两三 → 2–3, 七八十 → 70–80, 一百四五 → 140–150, 十几 → 11–19."""
    if run.endswith("点几") and len(run) > 2:
        whole = to_number(run[:-2])
        return NumberRange(whole, whole + 0.9) if whole is not None else None
    if run.endswith("几"):
        base = to_number(run[:-1]) if len(run) > 1 else None
        if run[:-1] == "十":
            return NumberRange(11.0, 19.0)
        if base is not None and run[-2] == "十":
            return NumberRange(base + 1, base + 9)
        if base is not None and run[-2] == "百":
            return NumberRange(base + 1, base + 99)
        return None
    m = re.fullmatch(rf"(.*?)([{DIGITS}])([{DIGITS}])(十|百)?", run)
    if not m:
        return None
    prefix, a_char, b_char, unit = m.groups()
    a, b = _DIGIT_VALUE[a_char], _DIGIT_VALUE[b_char]
    if not (b == a + 1 or (a, b) == (3, 5)) or a == 0:
        return None
    scale = {"十": 10, "百": 100, None: 1}[unit]
    base = 0.0
    if prefix and unit == "十" and prefix[-1] == "百":  # 一百二三十 → 120–130
        hundreds = to_number(prefix)
        return NumberRange(hundreds + a * 10, hundreds + b * 10) if hundreds is not None else None
    if prefix:
        if unit is not None or prefix[-1] not in "十百千":
            return None
        prefix_value = to_number(prefix)
        if prefix_value is None:
            return None
        base = prefix_value
        scale = {"十": 1, "百": 10, "千": 100}[prefix[-1]]
    return NumberRange(base + a * scale, base + b * scale)


def numeral_runs(text: str) -> list[NumeralRun]:
    """Every numeral run in ``text`` (spaces removed) with its value, left to right."""
    s = compact(text)
    runs: list[NumeralRun] = []
    for m in re.finditer(rf"[{NUMERAL_CHARS}0-9.]+几?|几十|半", s):
        run = m.group()
        if run == "几十":
            runs.append(NumeralRun(NumberRange(20.0, 90.0), m.start(), m.end(), run))
            continue
        rng = _range_of(run)
        if rng is not None:
            runs.append(NumeralRun(rng, m.start(), m.end(), run))
            continue
        value = to_number(run)
        if value is not None:
            runs.append(NumeralRun(value, m.start(), m.end(), run))
    return runs


def _plausible_bp(sys_v: float | None, dia_v: float | None) -> bool:
    return (
        sys_v is not None and dia_v is not None
        and SYSTOLIC_RANGE[0] <= sys_v <= SYSTOLIC_RANGE[1]
        and DIASTOLIC_RANGE[0] <= dia_v <= DIASTOLIC_RANGE[1]
        and sys_v > dia_v
        and float(sys_v).is_integer() and float(dia_v).is_integer()
    )


def blood_pressure_candidates(text: str) -> list[BloodPressure]:
    """Plausible systolic/diastolic readings in a text: two runs, or one run split at each point."""
    s = compact(text)
    runs = [r for r in re.findall(rf"[{NUMERAL_CHARS}0-9]+", s) if r not in {"点"}]
    found: list[BloodPressure] = []
    if len(runs) >= 2:
        first, second = to_number(runs[0]), to_number(runs[1])
        if _plausible_bp(first, second):
            assert first is not None and second is not None
            return [BloodPressure(int(first), int(second))]
    for run in runs:
        for cut in range(1, len(run)):
            left, right = to_number(run[:cut]), to_number(run[cut:])
            if _plausible_bp(left, right):
                assert left is not None and right is not None
                bp = BloodPressure(int(left), int(right))
                if bp not in found:
                    found.append(bp)
        if found:
            break
    return found
