"""The nurse workspace: her queue, the patient panel and the call screen (guided form, transcript, wrap-up)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter import alerts, call_form, disclosure, inbound, nurse_calls, queue, worklist
from callcenter import patient_panel as panels
from callcenter.errors import Conflict, InvalidInput
from callcenter.events import EventKind, agent_room, attempt_room
from callcenter.models import AnswerSource, Role
from callcenter.privacy import PATIENT_DATA_ROLES
from web.auth import ALL_ROLES, home_for, public, remote_addr, role_required
from web.realtime import agent_online, board_for, notifier_for
from web.services import db, local_today, state

bp = Blueprint("workspace", __name__)

PATIENT_ROLES = tuple(sorted(PATIENT_DATA_ROLES))


class AgentOffline(Conflict):
    pass


QUEUE_ROLES = (Role.nurse, Role.supervisor)
CALL_ROLES = (Role.nurse,)


@bp.get("/")
@public
def index() -> Any:
    """Only a redirect: the user's home page, or the login page."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    return redirect(url_for("auth.login"))


@bp.get("/workspace/")
@role_required(*ALL_ROLES)
def home() -> Any:
    return render_template("workspace/home.html")


@bp.get("/workspace/queue", endpoint="queue")
@role_required(*QUEUE_ROLES)
def queue_page() -> Any:
    with db() as session:
        rows = worklist.worklist(session, current_user.member)
        open_calls = inbound.open_calls(session, current_user.member) if current_user.role is Role.nurse else []
    return render_template("workspace/queue.html", rows=rows, open_calls=open_calls)


@bp.get("/workspace/patients/<int:patient_id>")
@role_required(*PATIENT_ROLES)
def patient(patient_id: int) -> Any:
    with db() as session:
        panel = panels.patient_panel(session, patient_id, today=local_today())
    return render_template("workspace/patient.html", panel=panel)


@bp.post("/workspace/patients/<int:patient_id>/reveal")
@role_required(*PATIENT_ROLES)
def reveal(patient_id: int) -> Any:
    """Unmasked national ID and numbers, on demand; audited. Returns an htmx fragment."""
    with db() as session:
        revealed = disclosure.reveal_identifiers(session, patient_id, current_user.member,
                                                 at=state().services.clock.now(), remote_addr=remote_addr())
    return render_template("workspace/_revealed.html", revealed=revealed)


@bp.post("/workspace/tasks/<int:task_id>/claim")
@role_required(*CALL_ROLES)
def claim(task_id: int) -> Any:
    current = state()
    with db(immediate=True) as session:
        queue.claim_task(session, task_id, owner=worklist.owner_of(current_user.member),
                         now=current.services.clock.now(), rules=current.rules)
    _tell_board(task_id)
    return redirect(url_for("workspace.call", task_id=task_id))


@bp.get("/workspace/tasks/<int:task_id>")
@role_required(*CALL_ROLES)
def call(task_id: int) -> Any:
    current = state()
    with db() as session:
        screen = worklist.call_screen(session, task_id, current_user.member, now=current.services.clock.now(),
                                      rules=current.rules)
        panel = panels.patient_panel(session, screen.patient_id, today=local_today())
        form = call_form.open_form(session, task_id, current_user.member, attempt_id=screen.open_attempt_id,
                                   hospital_name=current.settings.hospital_name, today=local_today(),
                                   now=current.services.clock.now(),
                                   amend_item=request.args.get("amend")) if screen.held_by_me else None
    asr_ready = panel.language in current.settings.model_for_locale()
    return render_template("workspace/call.html", screen=screen, panel=panel, form=form,
                           agent_online=agent_online(current_user.id), asr_ready=asr_ready)


def _answer_value(form: Any) -> object:
    if form.get("value_json"):
        try:
            return json.loads(form["value_json"])
        except ValueError:
            raise InvalidInput("the proposed value is not valid JSON; type the answer instead") from None
    values = form.getlist("value")
    if len(values) > 1:
        return values
    return values[0] if values else ""


def _optional_float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        raise InvalidInput(f"{raw!r} is not a number") from None


@bp.post("/workspace/tasks/<int:task_id>/answer")
@role_required(*CALL_ROLES)
def answer(task_id: int) -> Any:
    """Commit one confirmed answer; returns the guided form at its next question (htmx fragment)."""
    current = state()
    nurse = current_user.member
    now = current.services.clock.now()
    posted = request.form
    response_id = posted.get("response_id", "")
    if not response_id.isdigit():
        raise InvalidInput("response_id is missing; reload the call screen")
    source = AnswerSource.asr if posted.get("source") == "asr" else AnswerSource.nurse
    with db() as session:
        worklist.require_holder(session, task_id, nurse, now=now)
        form = call_form.record_answer(
            session, task_id, int(response_id), nurse, item_id=posted.get("item_id", ""),
            value=_answer_value(posted), now=now, source=source,
            confidence=_optional_float(posted.get("confidence")), text=posted.get("heard", ""),
            t0_s=_optional_float(posted.get("t0_s")), t1_s=_optional_float(posted.get("t1_s")),
            remote_addr=remote_addr(),
        )
        attempt_id = worklist.call_screen(session, task_id, nurse, now=now, rules=current.rules).open_attempt_id
    notifier = notifier_for(current_app._get_current_object())  # type: ignore[attr-defined]
    next_item = form.current.item_id if form.current else ""
    if attempt_id is not None:
        # the browser of everyone following the call, and her softphone agent (the ASR grammar follows)
        notifier.emit(EventKind.question, {"attempt_id": attempt_id, "item_id": next_item}, attempt_room(attempt_id))
        notifier.emit(EventKind.agent_command, form.grammar_command(attempt_id), agent_room(nurse.id))
    # only what this answer raised, not every alert of the run again
    alerts.notify_raised(notifier, form.new_alerts, task_id=task_id)
    if request.headers.get("HX-Request"):
        return render_template("workspace/_guided_form.html", form=form, screen=None)
    return redirect(url_for("workspace.call", task_id=task_id))


def _local_datetime(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"回访时间格式不正确: {raw!r} (expected YYYY-MM-DDTHH:MM)") from None
    return naive.replace(tzinfo=ZoneInfo(state().settings.timezone))


@bp.post("/workspace/tasks/<int:task_id>/wrap-up")
@role_required(*CALL_ROLES)
def wrap_up(task_id: int) -> Any:
    current = state()
    form = request.form
    phone = form.get("phone_id", "")
    with db() as session:
        task = worklist.wrap_up(
            session, task_id, current_user.member, outcome_code=form.get("outcome", ""),
            now=current.services.clock.now(), rules=current.rules,
            phone_id=int(phone) if phone.isdigit() else None, note=form.get("note", "").strip(),
            callback_at=_local_datetime(form.get("callback_at", "")),
        )
    _tell_board(task_id)  # her row leaves wrap-up, today's progress moves
    flash(f"随访任务 #{task.id} 已记录结果。", "info")
    if form.get("next"):
        with db(immediate=True) as session:
            claim = worklist.claim_next_for(session, current_user.member, now=current.services.clock.now(),
                                            rules=current.rules)
        if claim is not None:
            _tell_board(claim.task_id)
            return redirect(url_for("workspace.call", task_id=claim.task_id))
        flash("队列中暂时没有现在可以拨打的任务。", "info")
    return redirect(url_for("workspace.queue"))


@bp.post("/workspace/tasks/<int:task_id>/release")
@role_required(*CALL_ROLES)
def release(task_id: int) -> Any:
    current = state()
    with db() as session:
        queue.release_lease(session, task_id, owner=worklist.owner_of(current_user.member),
                            now=current.services.clock.now(), reason="skipped by the nurse")
    _tell_board(task_id)
    flash(f"随访任务 #{task_id} 已放回队列。", "info")
    return redirect(url_for("workspace.queue"))


# -- patients calling in -----------------------------------------------------------------------------------------
@bp.get("/workspace/incoming")
@role_required(*CALL_ROLES)
def incoming_banner() -> Any:
    """The ringing banner (fetched by live.js when her phone rings: names never travel over Socket.IO)."""
    attempt_id = request.args.get("attempt_id", "")
    if not attempt_id.isdigit():
        raise InvalidInput("attempt_id is missing")
    with db() as session:
        banner = inbound.ringing_banner(session, int(attempt_id), current_user.member)
    return render_template("workspace/_incoming.html", banner=banner, back=urlparse(request.referrer or "").path)


@bp.post("/workspace/incoming/<int:attempt_id>/answer")
@role_required(*CALL_ROLES)
def answer_incoming(attempt_id: int) -> Any:
    current = state()
    now = current.services.clock.now()
    nurse = current_user.member
    with db(immediate=True) as session:
        task_id, command = inbound.answer_incoming(session, attempt_id, nurse, now=now, rules=current.rules)
        form = call_form.open_form(session, task_id, nurse, attempt_id=attempt_id,
                                   hospital_name=current.settings.hospital_name, today=local_today(),
                                   now=now) if task_id is not None else None
    _send(command)
    if task_id is not None:
        _tell_board(task_id)
    if form is not None:  # the question on screen when the patient starts talking
        _send(nurse_calls.AgentCommand(command.room, form.grammar_command(attempt_id)))
    if task_id is None:  # an unknown caller, or nothing she can take: the page of the call itself
        return redirect(url_for("workspace.incoming_call", attempt_id=attempt_id))
    return redirect(url_for("workspace.call", task_id=task_id))


@bp.post("/workspace/incoming/<int:attempt_id>/decline")
@role_required(*CALL_ROLES)
def decline_incoming(attempt_id: int) -> Any:
    with db(immediate=True) as session:
        command = inbound.decline_incoming(session, attempt_id, current_user.member,
                                           now=state().services.clock.now())
    _send(command)
    return redirect(_back_or_queue())


def _incoming_page(attempt_id: int, *, term: str = "", matches: list[inbound.Caller] | None = None) -> Any:
    with db() as session:
        view = inbound.inbound_call(session, attempt_id, current_user.member, today=local_today())
    return render_template("workspace/incoming_call.html", call=view, term=term, matches=matches,
                           owners=inbound.OWNER_LABELS, agent_online=agent_online(current_user.id))


@bp.get("/workspace/incoming/<int:attempt_id>")
@role_required(*CALL_ROLES)
def incoming_call(attempt_id: int) -> Any:
    """A call in without a task: the call, who called (she says), the task it is about, how it went."""
    return _incoming_page(attempt_id)


@bp.post("/workspace/incoming/<int:attempt_id>/search")
@role_required(*CALL_ROLES)
def search_caller(attempt_id: int) -> Any:
    """Patients matching what the caller says (posted: names and ID numbers stay out of URLs and logs)."""
    term = request.form.get("q", "").strip()[:64]
    with db() as session:
        matches = inbound.caller_candidates(session, attempt_id, current_user.member, term, today=local_today())
    if request.headers.get("HX-Request"):
        return render_template("workspace/_caller_matches.html", attempt_id=attempt_id, term=term, matches=matches,
                               owners=inbound.OWNER_LABELS)
    return _incoming_page(attempt_id, term=term, matches=matches)


@bp.post("/workspace/incoming/<int:attempt_id>/identify")
@role_required(*CALL_ROLES)
def identify_caller(attempt_id: int) -> Any:
    patient_id = request.form.get("patient_id", "")
    if not patient_id.isdigit():
        raise InvalidInput("choose the patient who called")
    owner = request.form.get("owner", "") if request.form.get("add_number") else ""
    with db(immediate=True) as session:
        done = inbound.identify_caller(session, attempt_id, current_user.member, int(patient_id),
                                       now=state().services.clock.now(), add_number_as=owner,
                                       remote_addr=remote_addr())
    # no flash: on the call page it would take a column; the page shows the caller and whose phone the number is
    return redirect(url_for("workspace.incoming_call", attempt_id=attempt_id, identified=done.patient_id))


@bp.post("/workspace/incoming/<int:attempt_id>/task")
@role_required(*CALL_ROLES)
def take_task_for_call(attempt_id: int) -> Any:
    """The call is about the caller's open task: it is leased to her and its call screen holds this call."""
    task = request.form.get("task_id", "")
    if not task.isdigit():
        raise InvalidInput("task_id is missing")
    current = state()
    now = current.services.clock.now()
    nurse = current_user.member
    with db(immediate=True) as session:
        task_id = inbound.take_task_for_call(session, attempt_id, nurse, int(task), now=now, rules=current.rules)
        live = nurse_calls.known_call_state(session, attempt_id) != "disconnected"
        form = call_form.open_form(session, task_id, nurse, attempt_id=attempt_id,
                                   hospital_name=current.settings.hospital_name, today=local_today(),
                                   now=now) if live else None
    _tell_board(task_id)
    if form is not None:  # the call is up: speech listens for the form's question from now on
        _send(nurse_calls.AgentCommand(agent_room(nurse.id), form.grammar_command(attempt_id)))
    return redirect(url_for("workspace.call", task_id=task_id))


@bp.post("/workspace/incoming/<int:attempt_id>/wrap-up")
@role_required(*CALL_ROLES)
def wrap_up_incoming(attempt_id: int) -> Any:
    with db(immediate=True) as session:
        attempt = inbound.wrap_up_call(session, attempt_id, current_user.member,
                                       outcome_code=request.form.get("outcome", ""),
                                       note=request.form.get("note", ""), now=state().services.clock.now())
        patient_id = attempt.patient_id
    flash(f"来电 #{attempt_id} 已记录结果。", "info")
    if patient_id is not None:
        return redirect(url_for("workspace.patient", patient_id=patient_id))
    return redirect(url_for("workspace.queue"))


def _back_or_queue() -> str:
    back = request.form.get("back", "")
    return back if back.startswith("/") and not back.startswith("//") else url_for("workspace.queue")


def _send(command: nurse_calls.AgentCommand) -> None:
    notifier_for(current_app._get_current_object()).emit(  # type: ignore[attr-defined]
        EventKind.agent_command, command.payload, command.room)


def _tell_board(task_id: int) -> None:
    """After the commit: the supervisors' live board looks again (throttled; the event carries the id only)."""
    board_for(current_app._get_current_object()).changed(task_id)  # type: ignore[attr-defined]


@bp.post("/workspace/tasks/<int:task_id>/dial")
@role_required(*CALL_ROLES)
def dial(task_id: int) -> Any:
    """Start a call attempt on the chosen number and tell her softphone agent to dial it."""
    phone = request.form.get("phone_id", "")
    if not phone.isdigit():
        raise InvalidInput("choose the number to call")
    if not agent_online(current_user.id):
        raise AgentOffline("您的软电话（坐席）未连接：请在本机启动 callcenter softphone 后再拨号 "
                           "(the softphone agent of this seat is not connected)")
    current = state()
    with db() as session:
        attempt_id, command = nurse_calls.start_attempt(session, task_id, current_user.member, phone_id=int(phone),
                                                        now=current.services.clock.now())
        form = call_form.open_form(session, task_id, current_user.member, attempt_id=attempt_id,
                                   hospital_name=current.settings.hospital_name, today=local_today(),
                                   now=current.services.clock.now())
    _send(command)
    _tell_board(task_id)  # she is dialling
    if form is not None:  # the first grammar: the question on screen when the patient answers the phone
        notifier_for(current_app._get_current_object()).emit(  # type: ignore[attr-defined]
            EventKind.agent_command, form.grammar_command(attempt_id), command.room)
    return redirect(url_for("workspace.call", task_id=task_id))


@bp.post("/workspace/attempts/<int:attempt_id>/<command>")
@role_required(*CALL_ROLES)
def call_control(attempt_id: int, command: str) -> Any:
    """hangup / hold / resume / mute / unmute / dtmf / transfer, sent to her softphone agent."""
    with db() as session:
        order = nurse_calls.control(session, attempt_id, current_user.member, command,
                                    argument=request.form.get("argument", ""))
    _send(order)
    return "", 204
