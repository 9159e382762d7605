"""Chronic-disease and risk groups (慢病管理组) filled by rules over diagnoses.

A ``PatientGroup.rule`` is a cohort rule dict (``callcenter.cohorts``) plus an optional ``risk_level`` given to
the members it adds. ``fill_group`` adds every patient with a matching encounter who is not yet a member and
removes the members the rule added that it no longer matches (their only matching visit was cancelled in the HIS,
or the rule was changed) — so they get no more of the group's calls and messages. Members added by hand
(``added_by="hand"``) are never removed by the rule. Running it again changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

from callcenter.cohorts import CohortRuleError, rule_from_dict, select_patient_ids
from callcenter.models import GroupMembership, PatientGroup, utc_now

logger = logging.getLogger(__name__)

# key, 中文 name, rule (ICD-10 prefixes of the national clinical edition + keywords of the diagnosis text)
DEFAULT_GROUPS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("hypertension", "高血压", {"diagnosis_codes": ["I10", "I11", "I12", "I13", "I15"],
                                "diagnosis_keywords": ["高血压"]}),
    ("diabetes", "糖尿病", {"diagnosis_codes": ["E10", "E11", "E12", "E13", "E14"], "diagnosis_keywords": ["糖尿病"]}),
    ("coronary", "冠心病", {"diagnosis_codes": ["I20", "I21", "I22", "I23", "I24", "I25"],
                            "diagnosis_keywords": ["冠心病", "心肌梗死", "心绞痛"], "risk_level": "high"}),
    ("stroke", "脑卒中", {"diagnosis_codes": ["I60", "I61", "I62", "I63", "I64"],
                          "diagnosis_keywords": ["脑梗死", "脑出血", "脑卒中"], "risk_level": "high"}),
    ("copd", "慢阻肺", {"diagnosis_codes": ["J44"], "diagnosis_keywords": ["慢性阻塞性肺"]}),
    ("tumour", "肿瘤", {"diagnosis_codes": ["C"], "diagnosis_keywords": ["恶性肿瘤", "癌"], "risk_level": "high"}),
)


@dataclass(frozen=True)
class FillResult:
    group_key: str
    matched: int  # patients the rule selects
    added: int  # of which new members
    removed: int = 0  # members the rule had added and no longer matches


def _split_rule(rule: dict[str, Any]) -> tuple[dict[str, Any], str]:
    body = dict(rule)
    risk = str(body.pop("risk_level", "") or "")
    return body, risk


def ensure_default_groups(session: Session) -> list[PatientGroup]:
    """Create the default groups that do not exist yet (an existing group's rule is left as the hospital set it)."""
    existing = {g.key: g for g in session.exec(select(PatientGroup)).all()}
    created = []
    for key, name, rule in DEFAULT_GROUPS:
        if key not in existing:
            group = PatientGroup(key=key, name=name, rule=rule)
            session.add(group)
            created.append(group)
    session.flush()
    return created


def fill_group(session: Session, group: PatientGroup, *, today: date) -> FillResult:
    """Add the patients matched by the group's rule as members (with the rule's risk level)."""
    body, risk = _split_rule(group.rule or {})
    if not body:
        raise CohortRuleError(f"group {group.key} has an empty rule; it would take every patient — give "
                              "diagnosis_codes or diagnosis_keywords")
    if body.get("diagnosis_codes") and body.get("diagnosis_keywords"):
        # either a code or a keyword qualifies: two selections, united
        by_code = select_patient_ids(session, rule_from_dict({**body, "diagnosis_keywords": None}), today=today)
        by_word = select_patient_ids(session, rule_from_dict({**body, "diagnosis_codes": None}), today=today)
        wanted = set(by_code) | set(by_word)
    else:
        wanted = set(select_patient_ids(session, rule_from_dict(body), today=today))
    assert group.id is not None
    members = session.exec(select(GroupMembership.patient_id, GroupMembership.added_by)
                            .where(col(GroupMembership.group_id) == group.id)).all()
    have = {patient_id for patient_id, _ in members}
    new = sorted(wanted - have)
    stale = sorted(patient_id for patient_id, added_by in members if added_by == "rule" and patient_id not in wanted)
    if new:
        now = utc_now()
        session.execute(insert(GroupMembership), [
            {"group_id": group.id, "patient_id": pid, "risk_level": risk, "since": now, "added_by": "rule"}
            for pid in new])
    for chunk in (stale[i:i + 1000] for i in range(0, len(stale), 1000)):
        session.execute(delete(GroupMembership).where(col(GroupMembership.group_id) == group.id,
                                                      col(GroupMembership.patient_id).in_(chunk)))
    logger.info("group=%s matched=%s added=%s removed=%s", group.key, len(wanted), len(new), len(stale))
    return FillResult(group.key, len(wanted), len(new), len(stale))


def fill_groups(session: Session, *, today: date, keys: list[str] | None = None) -> list[FillResult]:
    """Fill every group (or those in ``keys``) that has a rule."""
    query = select(PatientGroup).order_by(col(PatientGroup.key))
    if keys:
        query = query.where(col(PatientGroup.key).in_(keys))
    return [fill_group(session, g, today=today) for g in session.exec(query).all() if _split_rule(g.rule or {})[0]]
