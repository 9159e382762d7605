"""Recordings and QA: finding calls, one call's recording / transcript / answers / adherence result, the
script-adherence check of every finished call, and supervisors' rubric reviews (a failed review can put a
callback task in the queue)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date as date_type
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from callcenter import adherence, audit, privacy
from callcenter.adherence import Heard, RecordedAnswer, TextParser
from callcenter.errors import InvalidInput, NotFound, PermissionDenied
from callcenter.models import (
    AdherenceCheck,
    Answer,
    CallAttempt,
    Encounter,
    FollowUpPlan,
    Outcome,
    Patient,
    QaReview,
    Questionnaire,
    Recording,
    Response,
    Task,
    TaskEvent,
    TaskStatus,
    TranscriptSegment,
    User,
)
from callcenter.tasks import queue_rank
from callcenter.users import StaffMember
from scripts_questionnaires.model import Script

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    max_points: int


RUBRIC: tuple[Criterion, ...] = (
    Criterion("identity", "核对身份与开场", 10),
    Criterion("script", "按脚本完整提问", 30),
    Criterion("accuracy", "答案记录准确", 30),
    Criterion("communication", "沟通礼貌、语速清晰", 20),
    Criterion("closing", "宣教与结束语", 10),
)
PASS_RATIO = 0.8
QA_CALLBACK_PRIORITY = 900
UNIDENTIFIED_CALLER = "未识别来电者"  # a call in whose caller the nurse has not said (callcenter.inbound)


class CallNotFound(NotFound):
    pass


# --- the adherence check ------------------------------------------------------------------------------------------


def check_attempt(session: Session, attempt_id: int, *, now: datetime,
                  parse: TextParser = adherence.phrase_parser) -> AdherenceCheck:
    """Run the adherence check of one call and store it (one row per attempt, replaced on a re-check).
    Mandatory questions are judged only on calls wrapped up as completed."""
    result = adherence.AdherenceResult((), ())
    response = session.exec(select(Response).where(Response.attempt_id == attempt_id)
                            .order_by(col(Response.id).desc())).first()
    form = session.get(Questionnaire, response.questionnaire_id) if response else None
    if response is not None and form is not None and form.compiled:
        script = Script.from_dict(form.compiled)
        answers = [RecordedAnswer(a.item_id, a.value, a.text, str(a.source)) for a in session.exec(
            select(Answer).where(Answer.response_id == response.id, col(Answer.superseded).is_(False),
                                 Answer.skipped_reason == ""))]
        heard = [Heard(s.speaker, s.text, s.item_id) for s in session.exec(
            select(TranscriptSegment).where(TranscriptSegment.attempt_id == attempt_id)
            .order_by(col(TranscriptSegment.t0_s)))]
        result = adherence.check(script, response.run_state, answers, heard, parse)
        attempt = session.get(CallAttempt, attempt_id)
        if attempt is None or attempt.outcome_code != "completed":
            # a call cut short (partial, hung up, callback) is expected to leave questions out
            result = adherence.AdherenceResult((), result.disagreements)
    row = session.exec(select(AdherenceCheck).where(AdherenceCheck.attempt_id == attempt_id)).first()
    row = row or AdherenceCheck(attempt_id=attempt_id)
    row.checked_at, row.flagged = now, result.flagged
    row.missing_items = list(result.missing_items)
    row.disagreements = [d.to_dict() for d in result.disagreements]
    session.add(row)
    session.flush()
    if result.flagged:
        logger.info("attempt=%s adherence flagged: %s missing, %s disagreements", attempt_id,
                    len(result.missing_items), len(result.disagreements))
    return row


def check_pending(session: Session, *, now: datetime, parse: TextParser = adherence.phrase_parser,
                  limit: int = 500) -> int:
    """Check every finished call (wrapped up: its outcome is known) that has no adherence result yet; returns
    how many."""
    checked = select(AdherenceCheck.attempt_id)
    pending = session.exec(
        select(CallAttempt.id).where(col(CallAttempt.wrapped_up_at).is_not(None), col(CallAttempt.id).not_in(checked))
        .order_by(col(CallAttempt.id)).limit(limit)
    ).all()
    ids = [a for a in pending if a is not None]
    answered: set[int] = set()
    for start in range(0, len(ids), 500):
        answered |= {a for a in session.exec(select(Response.attempt_id).where(
            col(Response.attempt_id).in_(ids[start:start + 500]))) if a is not None}
    for attempt_id in ids:
        if attempt_id in answered:
            check_attempt(session, attempt_id, now=now, parse=parse)
    # calls that never reached the questionnaire: nothing to check, recorded as checked (one bulk insert)
    unanswered = [{"attempt_id": a, "checked_at": now, "flagged": False, "missing_items": [], "disagreements": []}
                  for a in ids if a not in answered]
    if unanswered:
        session.execute(insert(AdherenceCheck), unanswered)
    return len(ids)


# --- finding calls ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFilters:
    patient: str = ""  # name (contains), medical record number or patient id
    attempt_id: int | None = None  # one call (its QA page)
    nurse_id: int | None = None
    start: date_type | None = None
    end: date_type | None = None  # inclusive
    department: str = ""
    plan_key: str = ""
    outcome: str = ""
    flagged_only: bool = False
    unreviewed_only: bool = False


@dataclass(frozen=True)
class CallRow:
    attempt_id: int
    started_at: datetime
    nurse: str
    patient_id: int | None  # None: a call in whose caller the nurse has not identified (yet)
    patient_name: str
    masked_phone: str
    plan: str
    department: str
    outcome: str
    duration_s: float | None
    recording_id: int | None
    flagged: bool | None  # None: not checked yet
    review_total: int | None
    review_passed: bool | None


def search(session: Session, filters: SearchFilters, zone: tzinfo, *, limit: int = 200) -> list[CallRow]:
    query = (
        sa_select(CallAttempt, Patient, Task, FollowUpPlan, Encounter)
        .join(Patient, col(CallAttempt.patient_id) == col(Patient.id), isouter=True)  # an unidentified caller
        .join(Task, col(CallAttempt.task_id) == col(Task.id), isouter=True)
        .join(FollowUpPlan, col(Task.plan_id) == col(FollowUpPlan.id), isouter=True)
        .join(Encounter, col(Task.anchor_encounter_id) == col(Encounter.id), isouter=True)
        .order_by(col(CallAttempt.started_at).desc(), col(CallAttempt.id).desc())
        .limit(limit)
    )
    term = filters.patient.strip()
    if term:
        query = query.where(col(Patient.name).contains(term) | (col(Patient.mrn) == term)
                            | (col(Patient.id) == (int(term) if term.isdigit() else -1)))
    if filters.attempt_id is not None:
        query = query.where(col(CallAttempt.id) == filters.attempt_id)
    if filters.nurse_id is not None:
        query = query.where(col(CallAttempt.user_id) == filters.nurse_id)
    if filters.start is not None:
        query = query.where(col(CallAttempt.started_at) >= datetime.combine(filters.start, time(0), zone))
    if filters.end is not None:
        query = query.where(col(CallAttempt.started_at)
                            < datetime.combine(filters.end + timedelta(days=1), time(0), zone))
    if filters.department:
        query = query.where(col(Encounter.department) == filters.department)
    if filters.plan_key:
        query = query.where(col(FollowUpPlan.key) == filters.plan_key)
    if filters.outcome:
        query = query.where(col(CallAttempt.outcome_code) == filters.outcome)
    if filters.flagged_only:
        query = query.where(col(CallAttempt.id).in_(
            select(AdherenceCheck.attempt_id).where(col(AdherenceCheck.flagged).is_(True))))
    if filters.unreviewed_only:
        query = query.where(col(CallAttempt.id).not_in(select(QaReview.attempt_id)))
    found = [tuple(r) for r in session.execute(query).all()]
    ids = [a.id for a, *_ in found]
    recordings = {r.attempt_id: r for r in session.exec(select(Recording).where(col(Recording.attempt_id).in_(ids)))}
    checks = {c.attempt_id: c.flagged for c in session.exec(
        select(AdherenceCheck).where(col(AdherenceCheck.attempt_id).in_(ids)))}
    reviews: dict[int, QaReview] = {}
    for done in session.exec(select(QaReview).where(col(QaReview.attempt_id).in_(ids)).order_by(col(QaReview.id))):
        reviews[done.attempt_id] = done  # the latest
    names = _labels(session, {a.user_id for a, *_ in found if a.user_id})
    labels = dict(session.exec(select(Outcome.code, Outcome.label_zh)).all())
    rows = []
    for attempt, patient, _task, plan, encounter in found:
        recording = recordings.get(attempt.id)
        review = reviews.get(attempt.id or 0)
        talk = (attempt.ended_at - attempt.answered_at).total_seconds() if attempt.answered_at and attempt.ended_at \
            else None
        rows.append(CallRow(
            attempt.id or 0, attempt.started_at, "机器人" if attempt.robot else names.get(attempt.user_id or 0, ""),
            patient.id if patient else None, patient.name if patient else UNIDENTIFIED_CALLER,
            privacy.mask_phone(attempt.number), plan.name if plan else "",
            encounter.department if encounter else "", labels.get(attempt.outcome_code or "", attempt.outcome_code or ""),
            recording.duration_s if recording else talk, recording.id if recording else None,
            checks.get(attempt.id or 0), review.total if review else None, review.passed if review else None,
        ))
    return rows


def _labels(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return {u.id or 0: u.display_name or u.username
            for u in session.exec(select(User).where(col(User.id).in_(user_ids)))}


# --- one call -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptLine:
    speaker: str
    t0_s: float
    t1_s: float
    text: str
    item_id: str


@dataclass(frozen=True)
class AnswerLine:
    item_id: str
    value: Any
    text: str
    source: str
    confidence: float | None
    t0_s: float | None


@dataclass(frozen=True)
class CallDetail:
    row: CallRow
    transcript: tuple[TranscriptLine, ...]
    answers: tuple[AnswerLine, ...]
    check: AdherenceCheck | None
    reviews: tuple[QaReview, ...]
    rubric: tuple[Criterion, ...] = field(default=RUBRIC)


def call_detail(session: Session, attempt_id: int, viewer: StaffMember, zone: tzinfo, *, now: datetime,
                remote_addr: str = "", parse: TextParser | None = None) -> CallDetail:
    """What QA shows of one call; opening it is audited (the transcript is patient data). A finished call not
    checked yet is checked now with ``parse`` — the reading the scheduler's job uses, since whichever check runs
    first is stored for good; without it the call waits for that job."""
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        raise CallNotFound(f"call attempt {attempt_id} does not exist")
    if not privacy.may_hear_attempt(viewer.role, viewer.id, attempt.user_id):
        raise PermissionDenied("your role may not review this call")
    rows = search(session, SearchFilters(attempt_id=attempt_id), zone, limit=1)
    transcript = tuple(TranscriptLine(s.speaker, s.t0_s, s.t1_s, s.text, s.item_id) for s in session.exec(
        select(TranscriptSegment).where(TranscriptSegment.attempt_id == attempt_id)
        .order_by(col(TranscriptSegment.t0_s), col(TranscriptSegment.id))))
    answers = tuple(AnswerLine(a.item_id, a.value, a.text, str(a.source), a.confidence, a.audio_t0_s)
                    for a in session.exec(
                        select(Answer).join(Response, col(Answer.response_id) == col(Response.id))
                        .where(Response.attempt_id == attempt_id, col(Answer.superseded).is_(False))
                        .order_by(col(Answer.id))))
    check = session.exec(select(AdherenceCheck).where(AdherenceCheck.attempt_id == attempt_id)).first()
    if check is None and attempt.wrapped_up_at is not None and parse is not None:
        check = check_attempt(session, attempt_id, now=now, parse=parse)
    reviews = tuple(session.exec(select(QaReview).where(QaReview.attempt_id == attempt_id)
                                 .order_by(col(QaReview.id))))
    audit.record(session, action=audit.AuditAction.qa_view, at=now, user_id=viewer.id, object_type="attempt",
                 object_id=attempt_id, remote_addr=remote_addr)
    return CallDetail(rows[0], transcript, answers, check, reviews)


# --- reviews ------------------------------------------------------------------------------------------------------


def score(scores: dict[str, Any]) -> tuple[dict[str, int], int, int, bool]:
    """Validated rubric scores -> (scores, total, maximum, passed). Every criterion must be scored."""
    clean: dict[str, int] = {}
    for criterion in RUBRIC:
        raw = scores.get(criterion.key)
        try:
            points = int(str(raw))
        except ValueError:
            raise InvalidInput(f"score {criterion.label} ({criterion.key}) with a whole number "
                               f"0–{criterion.max_points}") from None
        if not 0 <= points <= criterion.max_points:
            raise InvalidInput(f"{criterion.label} ({criterion.key}) is scored 0–{criterion.max_points}, got {points}")
        clean[criterion.key] = points
    total = sum(clean.values())
    maximum = sum(c.max_points for c in RUBRIC)
    return clean, total, maximum, total >= math.ceil(PASS_RATIO * maximum)


def review(session: Session, attempt_id: int, reviewer: StaffMember, *, scores: dict[str, Any], comment: str,
           now: datetime, create_callback: bool = False) -> QaReview:
    """Store a review. A failed one with ``create_callback`` puts a callback task for the patient at the top of
    the original task's team queue (once per call: a second failed review reuses it)."""
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        raise CallNotFound(f"call attempt {attempt_id} does not exist")
    if not privacy.may_hear_attempt(reviewer.role, reviewer.id, attempt.user_id) or reviewer.role.value == "nurse":
        raise PermissionDenied("only supervisors and doctors review calls")
    clean, total, maximum, passed = score(scores)
    if not passed and create_callback and not comment.strip():
        raise InvalidInput("say in the comment what the callback must put right")
    row = QaReview(attempt_id=attempt_id, reviewer_id=reviewer.id, reviewed_at=now, scores=clean, total=total,
                   max_total=maximum, passed=passed, comment=comment.strip())
    if not passed and create_callback:
        row.callback_task_id = _callback_task(session, attempt, reviewer, now)
    session.add(row)
    session.flush()
    audit.record(session, action=audit.AuditAction.qa_review, at=now, user_id=reviewer.id, object_type="attempt",
                 object_id=attempt_id, detail={"review_id": row.id, "total": total, "passed": passed,
                                                "callback_task_id": row.callback_task_id})
    logger.info("attempt=%s reviewed by user=%s total=%s/%s passed=%s", attempt_id, reviewer.id, total, maximum,
                passed)
    return row


def _callback_task(session: Session, attempt: CallAttempt, reviewer: StaffMember, now: datetime) -> int:
    earlier = session.exec(select(QaReview.callback_task_id).where(
        QaReview.attempt_id == attempt.id, col(QaReview.callback_task_id).is_not(None))).first()
    if earlier is not None:
        return earlier
    if attempt.patient_id is None:
        raise InvalidInput("这通来电尚未确认来电患者，无法安排回访 (the caller of this call was never identified: "
                           "there is no patient to call back)")
    original = session.get(Task, attempt.task_id) if attempt.task_id else None
    task = Task(patient_id=attempt.patient_id, plan_id=original.plan_id if original else None,
                anchor_encounter_id=original.anchor_encounter_id if original else None,
                point=f"qa-{attempt.id}", questionnaire_key=original.questionnaire_key if original else "",
                status=TaskStatus.due, due_at=now, team_id=original.team_id if original else None,
                priority=QA_CALLBACK_PRIORITY, max_attempts=original.max_attempts if original else 3,
                reason=f"质检回访：通话 #{attempt.id} 未通过质检")
    task.queue_rank = queue_rank(task, now)
    session.add(task)
    session.flush()
    assert task.id is not None
    session.add(TaskEvent(task_id=task.id, at=now, actor=f"user:{reviewer.id}", to_status=TaskStatus.due.value,
                          reason=f"QA review of attempt {attempt.id} failed"))
    return task.id
