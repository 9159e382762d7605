"""The guided form of a nurse's call: the questionnaire run of a task, one confirmed answer at a time.

``open_form`` finds the task's run in progress (a browser reload or a new attempt resumes it) or starts one on
the latest published version of the task's questionnaire; ``record_answer`` commits each confirmed answer at
once (an ``Answer`` row with its provenance, the run state in ``Response.run_state``) and raises the
script's alerts as ``Alert`` rows (``callcenter.alerts.raise_alerts``, shared with robot calls). The engine
(``scripts_questionnaires``) decides branching and validation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from callcenter import audit, questionnaires
from callcenter.alerts import RaisedAlertRow, raise_alerts
from callcenter.audit import AuditAction
from callcenter.errors import InvalidInput, NotFound
from callcenter.models import Answer, AnswerSource, Encounter, Patient, Questionnaire, Response, Task
from callcenter.users import StaffMember
from scripts_questionnaires import Engine, ScriptError
from scripts_questionnaires.model import Item, ItemType
from scripts_questionnaires.render import render_text
from scripts_questionnaires.runstate import AnswerSource as RunSource
from scripts_questionnaires.runstate import Provenance, RunState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptionView:
    value: str
    label: str
    key: str  # the digit that picks it


@dataclass(frozen=True)
class QuestionView:
    item_id: str
    type: str
    text: str
    help: str
    options: tuple[OptionView, ...]
    unit: str
    minimum: float | None
    maximum: float | None
    number: int  # 1-based position among the script's items
    total: int


@dataclass(frozen=True)
class AnsweredView:
    item_id: str
    text: str
    value: Any
    display: str
    source: str
    confidence: float | None


@dataclass(frozen=True)
class AlertView:
    id: str
    severity: str
    message: str


@dataclass(frozen=True)
class FormView:
    response_id: int
    task_id: int
    key: str
    version: int
    title: str
    intro: str
    closing: str
    status: str
    current: QuestionView | None
    answered: tuple[AnsweredView, ...]
    alerts: tuple[AlertView, ...]
    amending: bool = False  # ``current`` is an earlier question being corrected
    locale: str = "zh-CN"
    item_spec: dict[str, Any] | None = None  # the current item as compiled (``Item.to_dict``): the ASR grammar
    new_alerts: tuple[RaisedAlertRow, ...] = ()  # alerts the last answer raised (rows just written)

    def grammar_command(self, attempt_id: int) -> dict[str, Any]:
        """What the softphone agent's ASR needs to listen for the current question (empty item: stop)."""
        return {"command": "grammar", "attempt_id": attempt_id, "response_id": self.response_id,
                "item_id": self.current.item_id if self.current else "", "locale": self.locale,
                "item": self.item_spec}


def _variables(session: Session, task: Task, nurse: StaffMember, hospital_name: str, today: date
               ) -> dict[str, dict[str, Any]]:
    patient = session.get(Patient, task.patient_id)
    encounter = session.get(Encounter, task.anchor_encounter_id) if task.anchor_encounter_id else None
    age = None
    if patient is not None and patient.birth_date is not None:
        b = patient.birth_date
        age = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
    return {
        "patient": {"name": patient.name if patient else "", "age": age,
                    "sex": {"male": "男", "female": "女"}.get(str(patient.sex) if patient else "", "")},
        "hospital": {"name": hospital_name},
        "nurse": {"name": nurse.label},
        "encounter": {"department": encounter.department if encounter else "",
                      "diagnosis": encounter.diagnosis_text if encounter else ""},
        "task": {"point": task.point},
    }


def _display(item: Item, value: Any) -> str:
    if item.options:
        labels = {o.value: o.label for o in item.options}
        if isinstance(value, list):
            return "、".join(labels.get(v, str(v)) for v in value)
        return labels.get(str(value), str(value))
    if isinstance(value, dict) and {"systolic", "diastolic"} <= set(value):
        return f"{value['systolic']}/{value['diastolic']}"
    unit = item.range.unit if item.range else ""
    return f"{value}{unit}" if unit and value is not None else str(value)


def _question(engine: Engine, state: RunState, item: Item) -> QuestionView:
    ids = [i.id for i in engine.script.items]
    return QuestionView(
        item.id, item.type.value, render_text(item.text, state.variables), render_text(item.help, state.variables),
        tuple(OptionView(o.value, o.label, str(n)) for n, o in enumerate(item.options[:9], start=1)),
        item.range.unit if item.range else "", item.range.minimum if item.range else None,
        item.range.maximum if item.range else None, ids.index(item.id) + 1, len(ids))


def _view(engine: Engine, state: RunState, response: Response, task_id: int, amend_item: str | None = None
          ) -> FormView:
    script = engine.script
    walk = engine.walk(state)
    amending = bool(amend_item) and amend_item in walk.done and state.status.value == "in_progress"
    item = script.item(amend_item) if amending and amend_item else engine.current_item(state)
    current = _question(engine, state, item) if item is not None else None
    latest = state.latest_by_item()
    answered = tuple(
        AnsweredView(i.id, render_text(i.text, state.variables), walk.values[i.id], _display(i, walk.values[i.id]),
                     latest[i.id].provenance.source.value, latest[i.id].provenance.confidence)
        for i in script.items if i.id in walk.values and i.type != ItemType.info
    )
    alerts = tuple(AlertView(a.id, a.severity.value, a.message) for a in engine.alerts(state))
    return FormView(response.id or 0, task_id, script.key, script.version, script.title,
                    render_text(script.intro, state.variables), render_text(script.closing, state.variables),
                    state.status.value, current, answered, alerts, amending, script.locale,
                    item.to_dict() if item is not None else None)


def _engine_for(session: Session, response: Response) -> Engine:
    row = session.get(Questionnaire, response.questionnaire_id)
    if row is None:
        raise NotFound(f"questionnaire version {response.questionnaire_id} of response {response.id} is missing")
    return Engine(questionnaires.script_of(row))


def open_form(session: Session, task_id: int, nurse: StaffMember, *, attempt_id: int | None,
              hospital_name: str, today: date, now: datetime, amend_item: str | None = None) -> FormView | None:
    """The task's run in progress, or a new one on the latest published version of its questionnaire;
    None when that questionnaire has no published version (the call goes on without a form).
    ``amend_item`` shows an earlier answered question again, to correct it."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    response = session.exec(
        select(Response).where(Response.task_id == task_id, Response.status == "in_progress")
        .order_by(col(Response.started_at).desc())
    ).first()
    if response is None:
        try:
            row = questionnaires.latest_published(session, task.questionnaire_key)
        except questionnaires.QuestionnaireNotFound:
            logger.warning("task=%s questionnaire %s has no published version", task_id, task.questionnaire_key)
            return None
        engine = Engine(questionnaires.script_of(row))
        state = engine.start(_variables(session, task, nurse, hospital_name, today))
        response = Response(questionnaire_id=row.id or 0, patient_id=task.patient_id, task_id=task_id,
                            attempt_id=attempt_id, run_state=state.to_dict(), started_at=now)
        session.add(response)
        session.flush()
        logger.info("task=%s response=%s started on questionnaire=%s", task_id, response.id, row.id)
        return _view(engine, state, response, task_id)
    if attempt_id is not None and response.attempt_id != attempt_id:
        response.attempt_id = attempt_id  # the call now under way continues this run
        session.add(response)
    engine = _engine_for(session, response)
    return _view(engine, engine.resume(response.run_state), response, task_id, amend_item)


def record_answer(session: Session, task_id: int, response_id: int, nurse: StaffMember, *, item_id: str,
                  value: object,
                  now: datetime, source: AnswerSource = AnswerSource.nurse, confidence: float | None = None,
                  text: str = "", t0_s: float | None = None, t1_s: float | None = None,
                  remote_addr: str = "") -> FormView:
    """Commit one confirmed answer (or an amendment of an earlier one) with its provenance. Replacing a confirmed
    answer is audited (``answer.edit``: who, from where, task, call, item and the ids of the old and new answers —
    the values stay in the answer rows, the old one kept as superseded)."""
    response = session.get(Response, response_id)
    if response is None or response.task_id != task_id:
        raise NotFound(f"response {response_id} is not the questionnaire run of task {task_id}; reload the page")
    if response.status != "in_progress":
        raise InvalidInput(f"response {response_id} is {response.status}; answers can no longer be added")
    engine = _engine_for(session, response)
    state = engine.resume(response.run_state)
    provenance = Provenance(RunSource(source.value), confidence, t0_s, t1_s, text, f"user:{nurse.id}",
                            now.isoformat())
    amending = state.latest(item_id) is not None
    try:
        state = (engine.amend if amending else engine.answer)(state, item_id, value, provenance)
    except ScriptError as exc:
        raise InvalidInput(str(exc)) from exc
    entry = state.latest(item_id)
    assert entry is not None
    replaced: list[int] = []
    if amending:
        for old in session.exec(select(Answer).where(Answer.response_id == response_id, Answer.item_id == item_id,
                                                     col(Answer.superseded).is_(False))):
            old.superseded = True
            session.add(old)
            replaced.append(old.id or 0)
    answer = Answer(response_id=response_id, item_id=item_id, value=entry.value, text=text, source=source,
                    confidence=confidence, audio_t0_s=t0_s, audio_t1_s=t1_s, confirmed_by_id=nurse.id,
                    confirmed_at=now)
    session.add(answer)
    response.run_state = state.to_dict()
    session.add(response)
    if replaced:
        session.flush()
        audit.record(session, action=AuditAction.answer_edit, at=now, user_id=nurse.id, object_type="response",
                     object_id=response_id, remote_addr=remote_addr,
                     detail={"task_id": task_id, "attempt_id": response.attempt_id, "item_id": item_id,
                             "old_answer_ids": replaced, "new_answer_id": answer.id, "source": source.value})
    new_alerts = raise_alerts(session, engine, state, response, item_id=item_id, now=now)
    logger.info("response=%s item=%s %s source=%s", response_id, item_id, "amended" if replaced else "answered",
                source.value)
    view = _view(engine, state, response, response.task_id or 0)
    return replace(view, new_alerts=new_alerts)


def close_form(session: Session, task_id: int, *, completed: bool, task_closed: bool, now: datetime) -> str | None:
    """End the task's run when its call is wrapped up; returns the response's new status.

    ``completed`` (outcome 完成) needs every enabled item answered or skipped. A task closed otherwise (refused,
    deceased…) ends the run as partial. A task that stays open (callback, retry) keeps its run in progress so
    that the next call resumes it with the confirmed answers.
    """
    response = session.exec(
        select(Response).where(Response.task_id == task_id, Response.status == "in_progress")
    ).first()
    if response is None or not (completed or task_closed):
        return None
    engine = _engine_for(session, response)
    try:
        state = engine.finish(engine.resume(response.run_state), partial=not completed)
    except ScriptError as exc:
        raise InvalidInput(f"{exc} (or choose another outcome, e.g. 部分完成)") from exc
    result = engine.result(state)
    response.run_state = state.to_dict()
    response.status = state.status.value
    response.scores = {k: v for k, v in result.scores.items()}
    response.finished_at = now
    session.add(response)
    session.flush()
    return response.status
