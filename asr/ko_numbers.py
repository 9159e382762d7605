"""Korean numerals in recognised speech → numbers (pure): Sino-Korean (이 백 삼십) and native (열 다섯)."""

from __future__ import annotations

import re

from asr.phrases import KO_NATIVE_NUMBERS, KO_SINO_DIGITS
from asr.zh_numbers import to_number

_SINO_RUN = re.compile("[" + "".join(KO_SINO_DIGITS) + "]+")


def _sino(run: str) -> float | None:
    zh = "".join(KO_SINO_DIGITS[c] for c in run)
    if zh[0] in "十百千":
        zh = "一" + zh
    return to_number(zh)


def ko_numbers(text: str) -> list[float]:
    """Numbers said in a Korean text, left to right. A run of Sino-Korean syllables separated by spaces is
    one number (Vosk writes 이 백 삼십 for 230); native words add up (스물 셋 → 23)."""
    values: list[float] = []
    tokens = text.split()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in KO_NATIVE_NUMBERS:
            total = KO_NATIVE_NUMBERS[tok]
            while i + 1 < len(tokens) and tokens[i + 1] in KO_NATIVE_NUMBERS and KO_NATIVE_NUMBERS[tokens[i + 1]] < 10 <= total:
                i += 1
                total += KO_NATIVE_NUMBERS[tokens[i]]
            values.append(float(total))
            i += 1
            continue
        if _SINO_RUN.fullmatch(tok):
            run = tok
            while i + 1 < len(tokens) and _SINO_RUN.fullmatch(tokens[i + 1]):
                i += 1
                run += tokens[i]
            value = _sino(run)
            if value is not None:
                values.append(value)
        i += 1
    return values
