"""The doctor's plans editor: a follow-up plan as the YAML of a plan file (cohort rule, time points, script,
channel…), checked with ``plans_repo.parse_plan``, previewed (how many encounters and patients the cohort rule
matches today, whether its script is published) and saved with ``plans_repo.upsert_plans`` (audited).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

import yaml
from sqlmodel import Session, col, select

from callcenter import audit, cohorts, questionnaires
from callcenter.cohorts import to_dict
from callcenter.errors import InvalidInput, NotFound
from callcenter.models import FollowUpPlan, Team
from callcenter.planning import PlanError, schedule_to_dict
from callcenter.plans_repo import PlanDefinition, parse_plan, upsert_plans

logger = logging.getLogger(__name__)

NEW_PLAN_TEMPLATE = """key: {key}
name: 新随访方案
questionnaire: post_discharge
channel: nurse_call
priority: 50
max_attempts: 3
cohort:
  kinds: [inpatient]
  departments: [心内科]
schedule:
  points: [7d, 30d]
  window: 3d
stop_rules: {{deceased: patient, refused: plan}}
"""


class PlanNotFound(NotFound):
    pass


@dataclass(frozen=True)
class PlanPreview:
    key: str
    name: str
    encounters: int
    patients: int
    questionnaire_key: str
    questionnaire_version: int | None  # the published version new tasks will use; None: not published yet
    channel: str
    points: tuple[str, ...]


def list_plans(session: Session) -> list[FollowUpPlan]:
    return list(session.exec(select(FollowUpPlan).order_by(col(FollowUpPlan.key))))


def plan_source(session: Session, key: str) -> str:
    """The stored plan as the YAML of a plan file."""
    row = session.exec(select(FollowUpPlan).where(FollowUpPlan.key == key)).first()
    if row is None:
        raise PlanNotFound(f"no follow-up plan {key!r}; create it from the plans page")
    team = session.get(Team, row.team_id) if row.team_id else None
    data: dict[str, Any] = {"key": row.key, "name": row.name, "questionnaire": row.questionnaire_key,
                            "channel": row.channel.value, "priority": row.priority, "max_attempts": row.max_attempts,
                            "active": row.active}
    if team is not None:
        data["team"] = team.key
    if row.call_windows:
        data["call_windows"] = row.call_windows
    data["cohort"] = dict(row.cohort)
    data["schedule"] = dict(row.schedule)
    if row.stop_rules:
        data["stop_rules"] = dict(row.stop_rules)
    if row.escalation:
        data["escalation"] = list(row.escalation)
    return str(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=None))


def parse_source(source: str) -> PlanDefinition:
    """Validate the YAML; errors name the line (YAML) or the field (plan)."""
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "the text"
        raise PlanError(f"plan: not valid YAML at {where}: {getattr(exc, 'problem', exc)}") from exc
    return parse_plan(data, "plan")


def preview(session: Session, source: str, *, today: date, tz: tzinfo) -> PlanPreview:
    plan = parse_source(source)
    encounters = cohorts.count_encounters(session, plan.cohort, today=today, tz=tz)
    patients = len(cohorts.select_patient_ids(session, plan.cohort, today=today, tz=tz))
    try:
        version: int | None = questionnaires.latest_published(session, plan.questionnaire_key).version
    except questionnaires.QuestionnaireNotFound:
        version = None
    points = tuple(str(p) for p in schedule_to_dict(plan.schedule).get("points", []))
    return PlanPreview(plan.key, plan.name, encounters, patients, plan.questionnaire_key, version,
                       plan.channel.value, points)


def preview_or_problem(session: Session, source: str, *, today: date, tz: tzinfo) -> tuple[PlanPreview | None, str]:
    """For the editor as the doctor types: the preview, or the message of what is wrong (never raises on bad
    input)."""
    try:
        return preview(session, source, today=today, tz=tz), ""
    except InvalidInput as exc:
        return None, str(exc)


def save(session: Session, source: str, *, user_id: int, now: datetime, remote_addr: str = "") -> tuple[str, str]:
    """Insert or update the plan; returns ``(key, "added" | "updated" | "unchanged")``."""
    plan = parse_source(source)
    result = upsert_plans(session, [plan])[plan.key]
    if result != "unchanged":
        audit.record(session, action=audit.AuditAction.plan_edit, at=now, user_id=user_id, object_type="plan",
                     object_id=plan.key, remote_addr=remote_addr,
                     detail={"result": result, "cohort": to_dict(plan.cohort), "questionnaire": plan.questionnaire_key})
    logger.info("plan %s %s by user=%s", plan.key, result, user_id)
    return plan.key, result
