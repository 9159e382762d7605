"""Follow-up plan definitions: YAML files -> validated ``PlanDefinition`` values -> ``FollowUpPlan`` rows.

The default plans ship in ``callcenter/plans/*.yaml``; a hospital adds or edits its own files and loads them
with ``callcenter plans load DIR``. Every plan names the questionnaire (script) it asks by key; ``check_plans``
cross-checks those keys with the questionnaire library (``scripts_questionnaires/library``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, select

from callcenter.calendar import CalendarError, parse_windows
from callcenter.cohorts import CohortRule, CohortRuleError, rule_from_dict, to_dict
from callcenter.models import Channel, FollowUpPlan, Team
from callcenter.planning import (
    PlanError,
    Schedule,
    schedule_from_dict,
    schedule_to_dict,
    stop_rules_from_dict,
)

logger = logging.getLogger(__name__)

DEFAULT_PLANS_DIR = Path(__file__).with_name("plans")
QUESTIONNAIRE_LIBRARY = Path(__file__).resolve().parents[1] / "scripts_questionnaires" / "library"
KEYS = {"key", "name", "questionnaire", "channel", "team", "priority", "max_attempts", "active", "cohort",
        "schedule", "stop_rules", "call_windows", "escalation", "description"}


@dataclass(frozen=True)
class PlanDefinition:
    key: str
    name: str
    questionnaire_key: str
    cohort: CohortRule
    schedule: Schedule
    channel: Channel = Channel.nurse_call
    team_key: str = ""
    priority: int = 50
    max_attempts: int = 3
    active: bool = True
    stop_rules: Mapping[str, str] = field(default_factory=dict)
    call_windows: str = ""
    escalation: tuple[Channel, ...] = ()  # empty: robot call -> SMS -> nurse (robocall_results.DEFAULT_ESCALATION)
    source: str = ""


def parse_plan(data: Any, source: str = "<plan>") -> PlanDefinition:
    """Validate one plan mapping; errors name the file and the field."""
    if not isinstance(data, Mapping):
        raise PlanError(f"{source}: a plan file holds one mapping (key:, name:, questionnaire:, schedule: …)")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise PlanError(f"{source}: unknown keys {unknown}; allowed: {sorted(KEYS)}")
    for required in ("key", "name", "questionnaire", "schedule"):
        if not data.get(required):
            raise PlanError(f"{source}: '{required}' is required")
    key = str(data["key"])
    if not key.replace("_", "").replace("-", "").isalnum() or len(key) > 64:
        raise PlanError(f"{source}: key {key!r} must be letters, digits, '_' or '-' (at most 64)")
    try:
        cohort = rule_from_dict(data.get("cohort") or {})
    except CohortRuleError as exc:
        raise PlanError(f"{source}: cohort: {exc}") from exc
    if not isinstance(data["schedule"], Mapping):
        raise PlanError(f"{source}: schedule must be a mapping with points/repeat/window")
    schedule = schedule_from_dict(data["schedule"], f"{source}: schedule")
    try:
        channel = Channel(str(data.get("channel", "nurse_call")))
    except ValueError:
        raise PlanError(f"{source}: channel must be one of {[c.value for c in Channel]}") from None
    priority, max_attempts = data.get("priority", 50), data.get("max_attempts", 3)
    if not isinstance(priority, int) or not 0 <= priority <= 999:
        raise PlanError(f"{source}: priority must be a whole number 0-999 (higher is more urgent)")
    if not isinstance(max_attempts, int) or not 1 <= max_attempts <= 20:
        raise PlanError(f"{source}: max_attempts must be a whole number 1-20")
    windows = str(data.get("call_windows") or "")
    try:
        parse_windows(windows)
    except CalendarError as exc:
        raise PlanError(f"{source}: call_windows: {exc}") from exc
    escalation = escalation_from_list(data.get("escalation"), channel, f"{source}: escalation")
    stop = data.get("stop_rules")
    if stop is not None and not isinstance(stop, Mapping):
        raise PlanError(f"{source}: stop_rules must be a mapping such as {{refused: plan}}")
    return PlanDefinition(
        key=key, name=str(data["name"]), questionnaire_key=str(data["questionnaire"]), cohort=cohort,
        schedule=schedule, channel=channel, team_key=str(data.get("team") or ""), priority=priority,
        max_attempts=max_attempts, active=bool(data.get("active", True)),
        stop_rules=stop_rules_from_dict(stop, f"{source}: stop_rules"), call_windows=windows,
        escalation=escalation, source=source,
    )


def escalation_from_list(value: Any, channel: Channel, where: str) -> tuple[Channel, ...]:
    """``[robot_call, sms, nurse_call]``: where a task that ends unreachable goes next, starting at the plan's own
    channel; each channel once."""
    if value is None or value == []:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PlanError(f"{where}: a list of channels such as [robot_call, sms, nurse_call]")
    try:
        steps = tuple(Channel(v) for v in value)
    except ValueError:
        raise PlanError(f"{where}: channels are {[c.value for c in Channel]}") from None
    if len(set(steps)) != len(steps):
        raise PlanError(f"{where}: each channel at most once")
    if steps[0] is not channel:
        raise PlanError(f"{where}: starts with the plan's own channel ({channel.value})")
    return steps


def load_plan_file(path: Path) -> PlanDefinition:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise PlanError(f"{where}: not valid YAML: {exc}") from exc
    return parse_plan(data, str(path))


def load_plan_dir(directory: Path = DEFAULT_PLANS_DIR) -> list[PlanDefinition]:
    """Every ``*.yaml`` plan in ``directory`` (sorted); duplicate keys are an error."""
    plans = [load_plan_file(p) for p in sorted(directory.glob("*.y*ml"))]
    seen: dict[str, str] = {}
    for plan in plans:
        if plan.key in seen:
            raise PlanError(f"{plan.source}: plan key {plan.key!r} is already used by {seen[plan.key]}")
        seen[plan.key] = plan.source
    return plans


def questionnaire_keys(library: Path = QUESTIONNAIRE_LIBRARY) -> set[str]:
    """Keys of the questionnaire scripts in the library (their ``key:``, else the file name)."""
    keys: set[str] = set()
    for path in sorted(library.glob("*.y*ml")) if library.is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            data = None  # a broken script is the scripts checker's business; fall back to the file name
        keys.add(str(data.get("key")) if isinstance(data, dict) and data.get("key") else path.stem)
    return keys


def check_plans(plans: Iterable[PlanDefinition], library_keys: set[str]) -> list[str]:
    """Problems that do not stop loading but must be fixed before the plan can run (human-readable)."""
    problems = []
    for plan in plans:
        if plan.questionnaire_key not in library_keys:
            problems.append(f"{plan.source}: questionnaire {plan.questionnaire_key!r} is not in the questionnaire "
                            "library; add the script or change 'questionnaire'")
    return problems


def plan_to_row_values(plan: PlanDefinition, team_id: int | None) -> dict[str, Any]:
    return {
        "name": plan.name, "active": plan.active, "cohort": to_dict(plan.cohort),
        "schedule": schedule_to_dict(plan.schedule), "questionnaire_key": plan.questionnaire_key,
        "channel": plan.channel, "team_id": team_id, "priority": plan.priority, "max_attempts": plan.max_attempts,
        "stop_rules": dict(plan.stop_rules), "call_windows": plan.call_windows,
        "escalation": [c.value for c in plan.escalation],
    }


def upsert_plans(session: Session, plans: Iterable[PlanDefinition]) -> dict[str, str]:
    """Insert or update plans by key; returns key -> "added" | "updated" | "unchanged"."""
    result: dict[str, str] = {}
    for plan in plans:
        team_id = None
        if plan.team_key:
            team = session.exec(select(Team).where(Team.key == plan.team_key)).first()
            if team is None:
                raise PlanError(f"{plan.source}: team {plan.team_key!r} does not exist; create the team first "
                                "or remove 'team' (the plan's tasks then go to the shared pool)")
            team_id = team.id
        values = plan_to_row_values(plan, team_id)
        row = session.exec(select(FollowUpPlan).where(FollowUpPlan.key == plan.key)).first()
        if row is None:
            session.add(FollowUpPlan(key=plan.key, **values))
            result[plan.key] = "added"
            continue
        changed = any(getattr(row, k) != v for k, v in values.items())
        for k, v in values.items():
            setattr(row, k, v)
        session.add(row)
        result[plan.key] = "updated" if changed else "unchanged"
    session.flush()
    logger.info("plans upserted: %s", result)
    return result


def definition_from_row(row: FollowUpPlan) -> PlanDefinition:
    """The validated definition of a stored plan (the schedule and rules as the planner uses them)."""
    return PlanDefinition(
        key=row.key, name=row.name, questionnaire_key=row.questionnaire_key, cohort=rule_from_dict(row.cohort),
        schedule=schedule_from_dict(row.schedule, f"plan {row.key}: schedule"), channel=Channel(row.channel),
        priority=row.priority, max_attempts=row.max_attempts, active=row.active,
        stop_rules=stop_rules_from_dict(row.stop_rules, f"plan {row.key}: stop_rules"),
        call_windows=row.call_windows, source=f"plan {row.key}",
        escalation=escalation_from_list(list(row.escalation or []), Channel(row.channel), f"plan {row.key}: escalation"),
    )
