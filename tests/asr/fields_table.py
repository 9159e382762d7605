"""Reading the zh-CN field tables (tests/asr/data/*.tsv) and comparing a FieldResult to a row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from asr.field_types import Duration, FieldKind, FieldResult, FieldSpec
from asr.zh_numbers import BloodPressure, NumberRange

DATA = Path(__file__).parent / "data"
TODAY = dt.date(2026, 11, 25)

OPTION_SETS: dict[str, dict[str, list[str]]] = {
    "condition": {
        "better": ["好多了", "好了很多", "好转", "比以前好"],
        "same": ["差不多", "还是老样子", "没什么变化", "没有好多少", "跟以前一样"],
        "worse": ["更严重了", "加重了", "越来越差"],
    },
    "medication": {
        "on_time": ["按时吃", "天天吃", "每天都吃"],
        "missed": ["偶尔忘记", "忘了吃", "漏了", "漏服"],
        "stopped": ["停了", "停药", "不吃了"],
    },
    "symptom": {
        "nausea": ["恶心"],
        "vomiting": ["呕吐", "吐了"],
        "fatigue": ["乏力", "没力气"],
        "fever": ["发烧", "发热"],
        "none_of_these": ["都没有"],
    },
}
KINDS = {"yes_no": FieldKind.yes_no, "number": FieldKind.number, "bp": FieldKind.blood_pressure,
         "temperature": FieldKind.temperature, "glucose": FieldKind.glucose, "weight": FieldKind.weight,
         "pain": FieldKind.pain_scale, "duration": FieldKind.duration, "date": FieldKind.date}


@dataclass(frozen=True)
class Case:
    line: int
    set_name: str
    text: str
    expected: str
    check: str

    @property
    def id(self) -> str:
        return f"{self.line}:{self.set_name}:{self.text or '<empty>'}"

    def spec(self) -> FieldSpec:
        if self.set_name in OPTION_SETS:
            return FieldSpec.of(FieldKind.choice, "zh-CN", OPTION_SETS[self.set_name])
        return FieldSpec.of(KINDS[self.set_name], "zh-CN")


def load_cases(name: str) -> list[Case]:
    cases = []
    for number, line in enumerate((DATA / name).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        assert len(cols) == 4, f"{name}:{number}: expected 4 tab-separated columns, got {len(cols)}"
        cases.append(Case(number, *cols))
    return cases


def _number(text: str) -> float:
    return float(text)


def expected_value(case: Case) -> object:
    e = case.expected
    if e == "none":
        return None
    if case.set_name == "yes_no":
        return {"true": True, "false": False}[e]
    if case.set_name in OPTION_SETS:
        return e
    if case.set_name == "bp":
        s, d = e.split("/")
        return BloodPressure(int(s), int(d))
    if case.set_name == "date":
        return dt.date.fromisoformat(e)
    if case.set_name == "duration":
        amount, unit = e.split(" ")
        return Duration(_range_or_number(amount), unit)
    return _range_or_number(e)


def _range_or_number(text: str) -> float | NumberRange:
    if "-" in text:
        low, high = text.split("-")
        return NumberRange(_number(low), _number(high))
    return _number(text)


def mismatch(case: Case, result: FieldResult) -> str:
    """Empty when the result is what the row expects, else what differs."""
    want = expected_value(case)
    if result.value != want:
        return f"value {result.value!r} != expected {want!r} (reasons {[r.value for r in result.reasons]})"
    reasons = {r.value for r in result.reasons}
    if case.check == "ok":
        return f"expected no confirmation, got reasons {sorted(reasons)}" if result.needs_confirmation else ""
    if case.check == "confirm":
        return "" if result.needs_confirmation else "expected a confirmation flag"
    missing = set(case.check.split(",")) - reasons
    return f"missing reasons {sorted(missing)} (got {sorted(reasons)})" if missing else ""
