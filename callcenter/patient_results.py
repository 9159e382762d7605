"""One patient's answers over time: every confirmed answer of every questionnaire run, and the numeric ones
(home blood pressure, glucose, weight, scales…) as series a chart can draw.

Each answer is read with the questionnaire version it was asked under, so an item's text and type are those the
patient heard. Superseded answers (corrected during the call) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlmodel import Session, col, select

from callcenter.errors import NotFound
from callcenter.models import Answer, Patient, Questionnaire, Response
from callcenter.privacy import mask_name, mask_national_id

NUMERIC_TYPES = frozenset({"number", "scale", "duration"})


@dataclass(frozen=True)
class ResultPoint:
    at: datetime
    value: float
    questionnaire: str  # key@version


@dataclass(frozen=True)
class ResultSeries:
    key: str  # questionnaire key/item id[/part]
    label: str
    unit: str
    points: tuple[ResultPoint, ...]


@dataclass(frozen=True)
class ResultRow:
    at: datetime
    questionnaire: str
    item_id: str
    text: str
    value: str
    source: str


@dataclass(frozen=True)
class PatientResults:
    patient_id: int
    patient_label: str
    national_id_masked: str
    rows: tuple[ResultRow, ...]  # newest first
    series: tuple[ResultSeries, ...] = field(default=())

    def chart_data(self, zone: tzinfo) -> list[dict[str, Any]]:
        """The series for the charts, each point's time in the hospital's zone (the chart labels its local day,
        the day the table shows)."""
        return [{"key": s.key, "label": s.label, "unit": s.unit,
                 "points": [[p.at.astimezone(zone).isoformat(), p.value] for p in s.points]} for s in self.series]


def _display(value: Any, options: dict[str, str], unit: str) -> str:
    if isinstance(value, dict) and {"systolic", "diastolic"} <= set(value):
        return f"{value['systolic']}/{value['diastolic']} mmHg"
    if isinstance(value, list):
        return "、".join(options.get(str(v), str(v)) for v in value)
    if isinstance(value, str) and value in options:
        return options[value]
    return f"{value}{unit}" if unit and value is not None else ("" if value is None else str(value))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def patient_results(session: Session, patient_id: int) -> PatientResults:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"patient {patient_id} does not exist")
    query = (select(Answer, Response.questionnaire_id)
             .join(Response, col(Response.id) == col(Answer.response_id))
             .where(Response.patient_id == patient_id, col(Answer.superseded).is_(False))
             .order_by(col(Answer.confirmed_at), col(Answer.id)))
    found = list(session.exec(query))
    # each version's compiled items once (not per answer): id -> (key@version, {item id: item})
    versions: dict[int, tuple[str, dict[str, dict[str, Any]]]] = {}
    for q in session.exec(select(Questionnaire).where(col(Questionnaire.id).in_({qid for _, qid in found}))):
        versions[q.id or 0] = (f"{q.key}@{q.version}", {str(i.get("id")): i for i in q.compiled.get("items", [])})
    rows: list[ResultRow] = []
    series: dict[str, tuple[str, str, list[ResultPoint]]] = {}
    for answer, questionnaire_id in found:
        ref, items = versions[questionnaire_id]
        item = items.get(answer.item_id, {})
        options = {str(o.get("value")): str(o.get("label", "")) for o in item.get("options", [])}
        unit = str((item.get("range") or {}).get("unit", ""))
        text = str(item.get("text", answer.item_id))
        if answer.skipped_reason:
            continue
        rows.append(ResultRow(answer.confirmed_at, ref, answer.item_id, text,
                              _display(answer.value, options, unit), answer.source.value))
        kind = str(item.get("type", ""))
        base = f"{ref.split('@')[0]}/{answer.item_id}"
        if kind == "blood_pressure" and isinstance(answer.value, dict):
            for part, label in (("systolic", "收缩压"), ("diastolic", "舒张压")):
                number = _number(answer.value.get(part))
                if number is not None:
                    series.setdefault(f"{base}/{part}", (f"{text} {label}", "mmHg", []))[2].append(
                        ResultPoint(answer.confirmed_at, number, ref))
        elif kind in NUMERIC_TYPES:
            number = _number(answer.value)
            if number is not None:
                series.setdefault(base, (text, unit, []))[2].append(ResultPoint(answer.confirmed_at, number, ref))
    return PatientResults(
        patient_id, mask_name(patient.name), mask_national_id(patient.national_id),
        tuple(reversed(rows)),
        tuple(ResultSeries(key, label, unit, tuple(points)) for key, (label, unit, points) in series.items()),
    )
