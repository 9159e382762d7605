"""A small hospital built in a test database, for the planning and queue tests (and the benchmark)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from callcenter.db import session_scope
from callcenter.models import Encounter, EncounterKind, Patient, PatientPhone, Team
from callcenter.plans_repo import parse_plan, upsert_plans

SH = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH).astimezone(UTC)


@dataclass
class Hospital:
    engine: Engine
    n: int = 0

    def patient(self, *, phones: int = 2, preferred: tuple[time, time] | None = None) -> int:
        self.n += 1
        with session_scope(self.engine) as s:
            p = Patient(name=f"患者{self.n}", mrn=f"M{self.n}",
                        preferred_call_start=preferred[0] if preferred else None,
                        preferred_call_end=preferred[1] if preferred else None)
            s.add(p)
            s.flush()
            for rank in range(phones):
                s.add(PatientPhone(patient_id=p.id, number=f"1380000{self.n:03d}{rank}", rank=rank))
            return p.id or 0

    def stay(self, patient_id: int, discharged: date, *, department: str = "心内科", code: str = "I21.9",
             kind: EncounterKind = EncounterKind.inpatient) -> int:
        self.n += 1
        with session_scope(self.engine) as s:
            e = Encounter(patient_id=patient_id, kind=kind, department=department, diagnosis_code=code,
                          admitted_at=datetime.combine(discharged, time(9), SH).astimezone(UTC),
                          discharged_at=datetime.combine(discharged, time(10), SH).astimezone(UTC),
                          source_system="his", source_id=f"E{self.n}")
            s.add(e)
            s.flush()
            return e.id or 0

    def plan(self, **overrides: object) -> None:
        data: dict[str, object] = {
            "key": "discharge", "name": "出院随访", "questionnaire": "discharge_general",
            "cohort": {"kinds": ["inpatient"], "departments": ["心内科"]},
            "schedule": {"points": ["7d", "30d", "90d"], "window": "3d"}, "max_attempts": 3,
        }
        data.update(overrides)
        with session_scope(self.engine) as s:
            upsert_plans(s, [parse_plan(data, "test")])

    def team(self, key: str = "t1") -> int:
        with session_scope(self.engine) as s:
            t = Team(key=key, name=key)
            s.add(t)
            s.flush()
            return t.id or 0


def session_of(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
