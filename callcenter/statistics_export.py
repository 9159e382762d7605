"""A statistics report as CSV (UTF-8 with BOM, so Excel opens Chinese text) or XLSX (openpyxl): one table of
figures per group, then calls by hour, the daily trend and the answer distributions (XLSX: one sheet each).

Text cells come from the data (department, plan and nurse names, answer values), so none may become a formula in
the spreadsheet (OWASP "CSV injection"): in CSV a text starting like a formula gets a leading ``'`` and every text
is quoted; in XLSX every text cell is written as a string (openpyxl would store ``=…`` as a formula) with Excel's
quote prefix when it starts like a formula. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlmodel import Session

from callcenter import audit
from callcenter.audit import AuditAction
from callcenter.statistics import Dimension, Figures, Report
from callcenter.statistics_queries import Filters, build_report

FIGURE_HEADERS = ("分组", "应访任务", "已完成", "失访", "已取消", "已拨打任务", "已接触任务", "接触率", "完成率",
                  "AAPOR I", "AAPOR P", "AAPOR R", "AAPOR NC", "AAPOR O", "AAPOR U", "AAPOR NE",
                  "RR1", "CON1", "REF1", "呼叫次数", "接通次数", "通话总时长(秒)", "平均通话(秒)", "平均整理(秒)")


def _rate(value: float | None) -> float | str:
    return "" if value is None else round(value, 4)


CellValue = str | int | float


def figure_row(f: Figures) -> list[CellValue]:
    d = f.dispositions
    return [f.key, f.tasks_due, f.completed, f.unreachable, f.cancelled, f.attempted, f.contacted,
            _rate(f.contact_rate), _rate(f.completion_rate), d["I"], d["P"], d["R"], d["NC"], d["O"], d["U"], d["NE"],
            _rate(f.rates.rr1), _rate(f.rates.con1), _rate(f.rates.ref1), f.calls, f.answered_calls,
            round(f.talk_s_total, 1), _rate(f.talk_s_mean), _rate(f.wrap_up_s_mean)]


Rows = list[list[CellValue]]

# A text starting with one of these is read as a formula by spreadsheet programs (OWASP: = + - @ tab CR); the
# full-width forms too, which Excel with a CJK input method may turn into their ASCII twins.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def formula_like(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def csv_cell(value: CellValue) -> CellValue:
    """A text a spreadsheet would run as a formula, shown as text instead (leading ``'``); others unchanged."""
    return f"'{value}" if formula_like(value) else value


def _sections(report: Report) -> Iterator[tuple[str, Rows]]:
    figures: Rows = [list(FIGURE_HEADERS)]
    yield "figures", figures + [figure_row(g) for g in (*report.groups, report.total)]
    by_hour: Rows = [["小时", "呼叫次数"]]
    yield "by_hour", by_hour + [[h, n] for h, n in enumerate(report.calls_by_hour)]
    trend: Rows = [["日期", "应访", "完成", "呼叫"]]
    yield "trend", trend + [[d.isoformat(), due, done, calls] for d, due, done, calls in report.trend]
    answers: Rows = [["问卷", "题目", "答案", "人数"]]
    yield "answers", answers + [[key, item, value, n] for (key, item), counts in report.answers.items()
                                for value, n in counts.items()]


def to_csv(report: Report) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)  # texts quoted (a ; list separator cannot split them)
    writer.writerow(["统计期间", report.start.isoformat(), report.end.isoformat() + " (不含)", "分组方式",
                     report.dimension.value])
    for _name, rows in _sections(report):
        writer.writerow([])
        writer.writerows([csv_cell(v) for v in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(report: Report) -> bytes:
    book = Workbook()
    first = True
    for name, rows in _sections(report):
        sheet = book.active if first else book.create_sheet()
        assert sheet is not None
        sheet.title = name
        first = False
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if isinstance(value, str):  # control characters (pasted free text) are not allowed in XLSX
                    value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
                cell = sheet.cell(row=r, column=c, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text stays text: openpyxl types "=…" as a formula
                    if formula_like(value):
                        cell.quotePrefix = True  # as Excel keeps '=…: shown and edited as text
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class ExportFormat(enum.StrEnum):
    csv = "csv"
    xlsx = "xlsx"


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    filename: str
    mimetype: str


MIMETYPES = {ExportFormat.csv: "text/csv; charset=utf-8",
             ExportFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def export(session: Session, filters: Filters, dimension: Dimension, zone: tzinfo, fmt: ExportFormat, *,
           user_id: int, at: datetime, remote_addr: str = "") -> ExportFile:
    """Build the report and its file; the export is audited (who, when, from where, which filters)."""
    report = build_report(session, filters, dimension, zone)
    content = to_csv(report) if fmt is ExportFormat.csv else to_xlsx(report)
    audit.record(session, action=AuditAction.export, at=at, user_id=user_id, object_type="statistics",
                 object_id=fmt.value, remote_addr=remote_addr,
                 detail={"format": fmt.value, "start": filters.start.isoformat(), "end": filters.end.isoformat(),
                         "by": dimension.value, "department": filters.department, "plan": filters.plan_key,
                         "nurse_id": filters.nurse_id})
    name = f"statistics-{filters.start.isoformat()}-{filters.end.isoformat()}-{dimension.value}.{fmt.value}"
    return ExportFile(content, name, MIMETYPES[fmt])
