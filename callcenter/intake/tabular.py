"""CSV and XLSX exports of HIS views, read through a configurable column mapping.

The default template (docs/intake.md) accepts English field names or the usual Chinese headers (姓名, 身份证号,
病案号, 出院科室 …). A hospital whose export uses other headers passes a mapping file (YAML or JSON):
``{field: header}``, e.g. ``{mrn: 住院号, discharged_at: 出院日期}``. Unmapped columns are ignored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import yaml

from callcenter.errors import InvalidInput
from callcenter.intake.records import CANONICAL_FIELDS, RawRow, RowError

DEFAULT_HEADERS: dict[str, tuple[str, ...]] = {
    "mrn": ("mrn", "病案号", "住院号", "门诊号", "患者编号", "patient_id"),
    "national_id": ("national_id", "身份证号", "身份证号码", "证件号码"),
    "name": ("name", "姓名", "患者姓名"),
    "sex": ("sex", "性别"),
    "birth_date": ("birth_date", "出生日期"),
    "language": ("language", "语言"),
    "deceased": ("deceased", "死亡"),
    "deceased_on": ("deceased_on", "死亡日期"),
    "phone": ("phone", "联系电话", "手机号", "电话", "本人电话"),
    "phone_owner": ("phone_owner", "电话关系"),
    "phone2": ("phone2", "联系人电话", "家属电话"),
    "phone2_owner": ("phone2_owner", "联系人关系", "家属关系"),
    "phone3": ("phone3", "其他电话"),
    "phone3_owner": ("phone3_owner", "其他电话关系"),
    "encounter_id": ("encounter_id", "就诊号", "住院流水号", "就诊流水号", "visit_id"),
    "kind": ("kind", "就诊类型"),
    "department": ("department", "出院科室", "科室", "就诊科室"),
    "admitted_at": ("admitted_at", "入院时间", "就诊时间"),
    "discharged_at": ("discharged_at", "出院时间"),
    "diagnosis_code": ("diagnosis_code", "主要诊断编码", "诊断编码", "icd10"),
    "diagnosis_text": ("diagnosis_text", "主要诊断", "主要诊断名称", "诊断名称"),
    "attending": ("attending", "主治医生", "主治医师", "医生"),
}
TEMPLATE_HEADERS = tuple(h[1] if len(h) > 1 and not h[1].isascii() else h[0] for h in DEFAULT_HEADERS.values())


class IntakeFileError(InvalidInput):
    """The whole file cannot be read (no header, no identity column, unreadable); nothing was imported."""


@dataclass(frozen=True)
class ColumnMapping:
    """Canonical field -> accepted headers (compared without case and surrounding spaces)."""

    headers: Mapping[str, tuple[str, ...]]

    @classmethod
    def default(cls) -> ColumnMapping:
        return cls(DEFAULT_HEADERS)

    @classmethod
    def load(cls, path: str | Path) -> ColumnMapping:
        """A mapping file (YAML or JSON) ``{field: header or [headers]}``, added in front of the defaults."""
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        if not isinstance(data, dict):
            raise IntakeFileError(f"{path}: a column mapping is a table of field: header")
        unknown = sorted(set(data) - set(CANONICAL_FIELDS))
        if unknown:
            raise IntakeFileError(f"{path}: unknown field(s) {', '.join(unknown)}; fields are "
                                  f"{', '.join(CANONICAL_FIELDS)}")
        merged = dict(DEFAULT_HEADERS)
        for name, header in data.items():
            given = tuple(str(h) for h in header) if isinstance(header, list) else (str(header),)
            merged[name] = given + merged.get(name, ())
        return cls(merged)

    def resolve(self, header_row: list[Any], where: str) -> dict[int, str]:
        """Column index -> field for this file's header row."""
        wanted = {h.strip().lower(): name for name, hs in self.headers.items() for h in reversed(hs)}
        columns: dict[int, str] = {}
        taken: set[str] = set()
        for index, cell in enumerate(header_row):
            name = wanted.get(str(cell or "").strip().lower())
            if name and name not in taken:
                columns[index] = name
                taken.add(name)
        if not taken & {"mrn", "national_id"}:
            shown = ", ".join(str(c) for c in header_row[:12])
            raise IntakeFileError(f"{where}: no column for the national ID (身份证号) or the MRN (病案号) in the "
                                  f"header ({shown}); pass --mapping to name them")
        return columns


def cell_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers typed as numbers in Excel
    if isinstance(value, (datetime, date)):
        return value
    return str(value).strip()


def decode(data: bytes, encoding: str = "auto") -> str:
    """Text of a CSV export: UTF-8 (with or without BOM), else GB18030 (a superset of GBK/GB2312)."""
    if encoding != "auto":
        return data.decode(encoding)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def read_csv(path: str | Path, mapping: ColumnMapping | None = None, *, encoding: str = "auto",
             delimiter: str = ",") -> tuple[int, Iterator[RawRow | RowError]]:
    """(number of data lines, rows). Line numbers are the file's lines (the header is line 1)."""
    try:
        text = decode(Path(path).read_bytes(), encoding)
    except (OSError, UnicodeDecodeError, LookupError) as exc:
        raise IntakeFileError(f"{path}: cannot read ({exc}); check the path and --encoding") from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise IntakeFileError(f"{path}: the file is empty; export the view with its header row") from None
    columns = (mapping or ColumnMapping.default()).resolve(header, str(path))
    return max(text.count("\n") - 1, 0), _csv_rows(reader, columns, len(header))


def _csv_rows(reader: Any, columns: dict[int, str], width: int) -> Iterator[RawRow | RowError]:
    line = reader.line_num
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != width:
                yield RowError(start, "row", f"has {len(cells)} columns but the header has {width}; check quoting "
                                             "and delimiters on this line")
                continue
            yield RawRow(start, {name: cells[i] for i, name in columns.items()})
    except csv.Error as exc:
        yield RowError(line + 1, "row", f"unreadable CSV ({exc}); the rest of the file was not read")


def read_xlsx(path: str | Path, mapping: ColumnMapping | None = None, *,
              sheet: str | None = None) -> tuple[int, Iterator[RawRow | RowError]]:
    """(number of data rows, rows) of the first (or named) sheet; line numbers are Excel row numbers."""
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds (zipfile, KeyError, InvalidFileException)
        raise IntakeFileError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    if sheet is not None and sheet not in book.sheetnames:
        raise IntakeFileError(f"{path}: no sheet {sheet!r}; sheets are {', '.join(book.sheetnames)}")
    ws = book[sheet] if sheet else book.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    try:
        header = list(next(rows))
    except StopIteration:
        raise IntakeFileError(f"{path}: the sheet is empty; export the view with its header row") from None
    columns = mapping_or_default(mapping).resolve(header, str(path))
    total = max((ws.max_row or 1) - 1, 0)

    def generate() -> Iterator[RawRow | RowError]:
        for number, cells in enumerate(rows, start=2):
            if not any(c not in (None, "") for c in cells):
                continue
            yield RawRow(number, {name: cell_text(cells[i]) if i < len(cells) else "" for i, name in columns.items()})
        book.close()

    return total, generate()


def mapping_or_default(mapping: ColumnMapping | None) -> ColumnMapping:
    return mapping or ColumnMapping.default()


def write_template(path: str | Path) -> None:
    """Write an empty CSV with the default template's header row (UTF-8 with BOM, so Excel opens it)."""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerow(TEMPLATE_HEADERS)


def write_csv(path: str | Path, rows: Iterable[RawRow]) -> int:
    """Write intake rows as a CSV in the default template's English field names; returns the row count."""
    fields = [f for f in DEFAULT_HEADERS]
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        for row in rows:
            values = dict(row.values)
            for slot, (number, owner) in zip(("phone", "phone2", "phone3"), row.phones, strict=False):
                values[slot], values[f"{slot}_owner"] = number, owner
            writer.writerow([_csv_text(values.get(f)) for f in fields])
            count += 1
    return count


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)
