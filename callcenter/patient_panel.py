"""The patient panel of the nurse workspace: who the patient is (identifiers masked), which numbers exist
and how often each was tried, and the timeline (``callcenter.patients.patient_timeline``) newest first, with
the recording of each call attempt."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from callcenter import privacy
from callcenter.errors import PatientNotFound
from callcenter.models import CallAttempt, Outcome, Patient, PatientPhone, Recording
from callcenter.patients import patient_timeline


@dataclass(frozen=True)
class PhoneLine:
    phone_id: int
    masked: str
    kind: str
    owner: str
    invalid: bool
    attempts: int
    last_outcome: str


@dataclass(frozen=True)
class PanelEntry:
    at: datetime
    kind: str  # admission / discharge / visit / task / call / response / alert / appointment
    title: str
    ref: str  # "attempt:12"
    recording_id: int | None = None


@dataclass(frozen=True)
class PatientPanel:
    patient_id: int
    name: str
    sex: str
    age: int | None
    language: str
    masked_national_id: str
    do_not_call: bool
    deceased: bool
    phones: tuple[PhoneLine, ...]
    entries: tuple[PanelEntry, ...]


def _age(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _call_title(code: str, detail: dict[str, object], labels: dict[str, str]) -> str:
    label = labels.get(code, code)
    if detail.get("direction") == "inbound":  # the patient (or her family) called in
        return f"来电 · {label}" if label else "来电"
    return label


def patient_panel(session: Session, patient_id: int, *, today: date) -> PatientPanel:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise PatientNotFound(f"patient {patient_id} does not exist")
    labels = dict(session.exec(select(Outcome.code, Outcome.label_zh)).all())
    attempts = session.exec(
        select(CallAttempt).where(CallAttempt.patient_id == patient_id).order_by(col(CallAttempt.started_at))
    ).all()
    recordings = {
        f"attempt:{attempt_id}": rec_id
        for attempt_id, rec_id in session.exec(
            select(Recording.attempt_id, Recording.id).where(
                col(Recording.attempt_id).in_([a.id for a in attempts])
            )
        )
    }
    tried: Counter[int] = Counter()
    last_outcome: dict[int, str] = {}
    for attempt in attempts:
        if attempt.phone_id is not None:
            tried[attempt.phone_id] += 1
            last_outcome[attempt.phone_id] = labels.get(attempt.outcome_code or "", attempt.outcome_code or "")
    phones = tuple(
        PhoneLine(p.id or 0, privacy.mask_phone(p.number), p.kind, str(p.owner), p.invalid,
                  tried.get(p.id or 0, 0), last_outcome.get(p.id or 0, ""))
        for p in session.exec(
            select(PatientPhone).where(PatientPhone.patient_id == patient_id).order_by(col(PatientPhone.rank))
        )
    )
    entries = [
        PanelEntry(e.at, e.kind, _call_title(e.title, e.detail, labels) if e.kind == "call" else e.title, e.ref,
                   recordings.get(e.ref))
        for e in patient_timeline(session, patient_id)
    ]
    entries.reverse()
    return PatientPanel(
        patient_id=patient_id,
        name=patient.name,
        sex={"male": "男", "female": "女"}.get(str(patient.sex), "未知"),
        age=_age(patient.birth_date, today),
        language=patient.language,
        masked_national_id=privacy.mask_national_id(patient.national_id),
        do_not_call=patient.do_not_call,
        deceased=patient.deceased,
        phones=phones,
        entries=tuple(entries),
    )
