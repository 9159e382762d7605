"""Recordings and QA: search calls, review one call (recording with a nurse/patient channel choice, the
transcript that follows playback, the answers and the adherence result) and score it with the rubric.

Audio is only ever served by the guarded, audited ``recordings.audio`` route; these views hand out its URL.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter import qa, statistics_queries
from callcenter.errors import InvalidInput
from callcenter.models import Role
from callcenter.outcomes import outcome_table
from web.auth import remote_addr, role_required
from web.services import db, state

bp = Blueprint("qa", __name__, url_prefix="/supervisor/qa")

QA_ROLES = (Role.supervisor, Role.doctor)


def _date(raw: str, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a date like 2026-11-25, got {raw!r}") from None


def _filters() -> qa.SearchFilters:
    args = request.args
    nurse = args.get("nurse", "")
    if nurse and not nurse.isdigit():
        raise InvalidInput("nurse must be a user id")
    return qa.SearchFilters(
        patient=args.get("patient", "")[:100], nurse_id=int(nurse) if nurse else None,
        start=_date(args.get("start", ""), "start"), end=_date(args.get("end", ""), "end"),
        department=args.get("department", ""), plan_key=args.get("plan", ""), outcome=args.get("outcome", ""),
        flagged_only=args.get("flagged") == "1", unreviewed_only=args.get("unreviewed") == "1",
    )


@bp.get("/")
@role_required(*QA_ROLES)
def search() -> Any:
    filters = _filters()
    current = state()
    parse = current.services.answer_parser
    with db() as session:
        # every finished call gets its adherence check before it is listed (QA covers 100 % of calls), with the
        # scheduler's reading of the transcript: the first check is the one kept
        if parse is not None:
            qa.check_pending(session, now=current.services.clock.now(), parse=parse)
        rows = qa.search(session, filters, ZoneInfo(current.settings.timezone))
        options = statistics_queries.choices(session)
        outcomes = sorted(outcome_table(session).values(), key=lambda o: o.sort)
    return render_template("supervisor/qa_search.html", rows=rows, filters=filters, options=options,
                           outcomes=outcomes)


@bp.get("/calls/<int:attempt_id>")
@role_required(*QA_ROLES)
def call(attempt_id: int) -> Any:
    current = state()
    with db() as session:
        detail = qa.call_detail(session, attempt_id, current_user.member, ZoneInfo(current.settings.timezone),
                                now=current.services.clock.now(), remote_addr=remote_addr(),
                                parse=current.services.answer_parser)
    return render_template("supervisor/qa_call.html", detail=detail)


@bp.post("/calls/<int:attempt_id>/review")
@role_required(*QA_ROLES)
def review(attempt_id: int) -> Any:
    form = request.form
    with db() as session:
        saved = qa.review(session, attempt_id, current_user.member,
                          scores={c.key: form.get(f"score_{c.key}", "") for c in qa.RUBRIC},
                          comment=form.get("comment", ""), now=state().services.clock.now(),
                          create_callback=form.get("callback") == "1")
    if saved.callback_task_id:
        flash(f"质检未通过，已创建回访任务 #{saved.callback_task_id}。", "info")
    else:
        flash(f"质检评分已保存：{saved.total}/{saved.max_total}（{'通过' if saved.passed else '未通过'}）。", "info")
    return redirect(url_for("qa.call", attempt_id=attempt_id))
