"""Socket.IO: the per-app server (threading mode), authenticated connections scoped to rooms, and the
``SocketIONotifier`` adapter of ``callcenter.ports.Notifier``.

Who joins what (rooms are named in ``callcenter.events``):
- a logged-in browser joins its user room; supervisors also join ``supervisors``; anyone may ask to follow a
  call attempt (``follow_attempt``) and is let in only if ``callcenter.disclosure`` allows it;
- a softphone agent connects with ``auth={"agent_token": ...}`` and joins its user's agent room; it reports
  its calls' events with ``agent_event`` (``callcenter.call_events`` checks and stores them) and they go to
  the attempt's room;
- anonymous connections are refused.
With ``Settings.redis_url`` set, every emit goes through Redis so several processes reach every browser.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Flask, current_app, request
from flask import session as flask_session
from flask_login import current_user
from flask_socketio import SocketIO, join_room, leave_room

from callcenter import call_events, call_form, disclosure, inbound, nurse_calls, users
from callcenter.board_push import BoardPush
from callcenter.clock import Clock, SystemClock
from callcenter.errors import CallCenterError
from callcenter.events import DOCTORS, SUPERVISORS, EventKind, agent_room, attempt_room, user_room
from callcenter.models import CallAttempt, Role
from callcenter.settings import Settings
from web.services import db, local_today, state

logger = logging.getLogger(__name__)

EXTENSION_KEY = "socketio"
BOARD_KEY = "board_push"
DEFAULT_CHANNEL = "callcenter-socketio"
AGENT_KEY = "agent_user_id"
AGENT_CONNECTED_KEY = "agent_connected_at"  # ISO time (app clock) of this agent connection


class SocketIONotifier:
    """``ports.Notifier`` over Socket.IO; safe to call from any thread (pjsua2, ASR, scheduler)."""

    def __init__(self, socketio: SocketIO) -> None:
        self._socketio = socketio

    @classmethod
    def external(cls, redis_url: str, *, channel: str = DEFAULT_CHANNEL) -> SocketIONotifier:
        """A notifier for a process without the web app (robocaller, scheduler): emits through Redis."""
        if not redis_url:
            raise ValueError("an external notifier needs CALLCENTER_REDIS_URL (the Socket.IO message queue)")
        return cls(SocketIO(message_queue=redis_url, channel=channel, async_mode="threading"))

    def emit(self, event: str, payload: dict[str, Any], room: str) -> None:
        if not room:
            raise ValueError(f"event {event!r} needs a room: events are never broadcast to everyone")
        self._socketio.emit(event, payload, to=room)


def init_app(app: Flask, settings: Settings, *, channel: str = DEFAULT_CHANNEL, clock: Clock | None = None) -> SocketIO:
    # A SocketIO per app instead of one module-level object: its server holds per-app state, and the
    # Socket.IO test client patches it (RECIPES), which must not leak into live-server tests.
    socketio = SocketIO()
    socketio.init_app(
        app,
        async_mode="threading",  # never auto-detect: eventlet/gevent break with native threads
        message_queue=settings.redis_url or None,
        channel=channel,
        cors_allowed_origins=[],  # same origin only
        logger=False,
        engineio_logger=False,
    )
    _register_handlers(socketio)
    app.extensions[EXTENSION_KEY] = socketio
    # claims, dials, wrap-ups and releases tell the supervisors' board through this (callcenter.board_push)
    app.extensions[BOARD_KEY] = BoardPush(SocketIONotifier(socketio), clock or SystemClock())
    return socketio


def socketio_for(app: Flask) -> SocketIO:
    found: SocketIO = app.extensions[EXTENSION_KEY]
    return found


def notifier_for(app: Flask) -> SocketIONotifier:
    return SocketIONotifier(socketio_for(app))


def board_for(app: Flask) -> BoardPush:
    """How this app tells the supervisors' live board that a task or a nurse's state changed (throttled)."""
    found: BoardPush = app.extensions[BOARD_KEY]
    return found


def agent_online(user_id: int) -> bool:
    """Whether the user's softphone agent is connected. Only this process is visible: with a Redis message
    queue (several processes) the agent may be connected elsewhere, so it is assumed online."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.extensions["callcenter"].settings.redis_url:
        return True
    manager = socketio_for(app).server.manager
    return any(True for _ in manager.get_participants("/", agent_room(user_id)))


def end_sessions(app: Flask, user_id: int) -> int:
    """A deactivated user's live connections end now, not at her next page: every browser page and softphone
    agent of hers is told (``session_ended``, through Redis to every process) and this process disconnects the
    ones it holds. They cannot come back: a reconnect is refused (the user loader and the agent token look-up
    both refuse inactive users), and every handler re-reads the user. Returns how many this process closed."""
    socketio = socketio_for(app)
    notifier_for(app).emit(EventKind.session_ended, {}, user_room(user_id))
    notifier_for(app).emit(EventKind.session_ended, {}, agent_room(user_id))
    manager = socketio.server.manager
    sids = {sid for room in (user_room(user_id), agent_room(user_id))
            for sid, _eio_sid in manager.get_participants("/", room)}
    for sid in sids:
        socketio.server.disconnect(sid, namespace="/")
    if sids:
        logger.info("user=%s deactivated: %s live connection(s) closed", user_id, len(sids))
    return len(sids)


def _register_handlers(socketio: SocketIO) -> None:
    def connect(auth: Any = None) -> bool:
        if current_user.is_authenticated:
            join_room(user_room(current_user.id))
            if current_user.role is Role.supervisor:
                join_room(SUPERVISORS)
            if current_user.role is Role.doctor:
                join_room(DOCTORS)  # the alerts inbox (web.alerts)
            if current_user.role is Role.nurse:  # a call that rang while she was between pages rings here too
                with db() as db_session:
                    ringing = inbound.ringing_for(db_session, current_user.member, now=state().services.clock.now())
                for call in ringing:
                    socketio.emit(EventKind.incoming_call.value, call.event(), to=request.sid)  # type: ignore[attr-defined]
            logger.debug("sid=%s user=%s connected", request.sid, current_user.id)  # type: ignore[attr-defined]
            return True
        token = auth.get("agent_token") if isinstance(auth, dict) else None
        if isinstance(token, str) and token:
            with db() as db_session:
                member = users.member_for_agent_token(db_session, token)
            if member is not None:
                flask_session[AGENT_KEY] = member.id  # this Socket.IO session is that user's softphone agent
                flask_session[AGENT_CONNECTED_KEY] = state().services.clock.now().isoformat()
                join_room(agent_room(member.id))
                logger.info("user=%s softphone agent connected", member.id)
                return True
        logger.info("refused an unauthenticated Socket.IO connection")
        return False

    def follow_attempt(data: Any) -> dict[str, Any]:
        attempt_id = _attempt_id(data)
        if not current_user.is_authenticated or attempt_id is None:
            return {"ok": False}
        with db() as db_session:
            allowed = disclosure.may_follow_attempt(db_session, attempt_id, current_user.member)
            if not allowed:
                logger.warning("user=%s may not follow attempt=%s", current_user.id, attempt_id)
                return {"ok": False}
            join_room(attempt_room(attempt_id))
            # read after joining: a state change is either in this answer or in an event that follows it
            known = nurse_calls.known_call_state(db_session, attempt_id)
        return {"ok": True, "room": attempt_room(attempt_id), "state": known}

    def unfollow_attempt(data: Any) -> dict[str, Any]:
        attempt_id = _attempt_id(data)
        if attempt_id is not None:
            leave_room(attempt_room(attempt_id))
        return {"ok": True}

    def agent_event(data: Any) -> dict[str, Any]:
        """A softphone agent reports a call event; it is checked, stored and forwarded to the call's room."""
        agent_id = flask_session.get(AGENT_KEY)
        if not isinstance(agent_id, int):
            return {"ok": False, "error": "only a softphone agent may report call events"}
        try:
            # immediate: events of one call are handled on parallel threads and each reads then writes; a
            # deferred SQLite transaction would fail with "database is locked" instead of waiting its turn
            with db(immediate=True) as db_session:
                agent = users.get_member(db_session, agent_id)
                if agent is None or not agent.active:
                    return {"ok": False, "error": "agent user is deactivated"}
                forward = call_events.accept_agent_event(db_session, agent, data,
                                                         now=state().services.clock.now())
        except CallCenterError as exc:
            logger.warning("agent user=%s event refused: %s", agent_id, type(exc).__name__)
            return {"ok": False, "error": str(exc)}
        socketio.emit(forward.kind.value, forward.payload, to=forward.room)
        copies = state().services.recording_copies
        if forward.kind is EventKind.recording and copies is not None:  # after the commit; ffmpeg runs elsewhere
            copies.submit(forward.payload["recording_id"])
        if forward.kind is EventKind.call_state:  # the supervisors' live board reloads (web.board); ids only
            socketio.emit(forward.kind.value, {"attempt_id": forward.payload["attempt_id"],
                                               "state": forward.payload.get("state", "")}, to=SUPERVISORS)
        return {"ok": True}

    def hello(data: Any) -> dict[str, Any]:
        """A softphone agent (re)connected and says which call it has: it gets the grammar of the question now on
        screen again (it may have missed it while offline); calls it lost by restarting are ended and their
        screens told."""
        agent_id = flask_session.get(AGENT_KEY)
        if not isinstance(agent_id, int):
            return {"ok": False, "error": "only a softphone agent says hello"}
        current = state()
        now = current.services.clock.now()
        connected_at = datetime.fromisoformat(str(flask_session.get(AGENT_CONNECTED_KEY) or now.isoformat()))
        grammar: dict[str, Any] | None = None
        with db(immediate=True) as db_session:
            agent = users.get_member(db_session, agent_id)
            if agent is None or not agent.active:
                return {"ok": False, "error": "agent user is deactivated"}
            result = nurse_calls.agent_hello(db_session, agent, data.get("attempt_id") if isinstance(data, dict)
                                             else None, connected_at=connected_at, now=now)
            attempt = db_session.get(CallAttempt, result.resume_attempt_id) if result.resume_attempt_id else None
            if attempt is not None and attempt.id is not None and attempt.task_id is not None:
                form = call_form.open_form(db_session, attempt.task_id, agent, attempt_id=attempt.id,
                                           hospital_name=current.settings.hospital_name, today=local_today(),
                                           now=now)
                grammar = form.grammar_command(attempt.id) if form is not None else None
        for lost in result.lost_attempt_ids:
            payload = {"attempt_id": lost, "state": "failed", "sip_status": 0,
                       "reason": "软电话已重新启动，通话已中断 (the softphone restarted; the call was lost)"}
            socketio.emit(EventKind.call_state.value, payload, to=attempt_room(lost))
            socketio.emit(EventKind.call_state.value, {"attempt_id": lost, "state": "failed"}, to=SUPERVISORS)
        if grammar is not None:
            socketio.emit(EventKind.agent_command.value, grammar, to=agent_room(agent_id))
        return {"ok": True, "resumed": result.resume_attempt_id, "lost": list(result.lost_attempt_ids)}

    def incoming_call(data: Any) -> dict[str, Any]:
        """The agent's phone rings: file the call (patient, task), bind it, ring the nurse's pages."""
        agent_id = flask_session.get(AGENT_KEY)
        if not isinstance(agent_id, int) or not isinstance(data, dict):
            return {"ok": False, "error": "only a softphone agent reports incoming calls"}
        call_ref = str(data.get("call_ref") or "")[:64]
        if not call_ref:
            return {"ok": False, "error": "call_ref is missing"}
        with db(immediate=True) as db_session:
            agent = users.get_member(db_session, agent_id)
            if agent is None or not agent.active:
                return {"ok": False, "error": "agent user is deactivated"}
            ringing = inbound.register_incoming(db_session, agent, call_ref=call_ref,
                                                remote_uri=str(data.get("remote_uri") or ""),
                                                now=state().services.clock.now())
            # an unknown caller is transcribed in the hospital's language (the nurse says who it was later)
            locale = inbound.patient_language(db_session, ringing.patient_id) or state().settings.locale
        bind = inbound.bind_command(agent, ringing, locale=locale)
        socketio.emit(EventKind.agent_command.value, bind.payload, to=bind.room)
        socketio.emit(EventKind.incoming_call.value, ringing.event(), to=user_room(agent_id))
        return {"ok": True, "attempt_id": ringing.attempt_id}

    def incoming_call_ended(data: Any) -> dict[str, Any]:
        """A ringing call ended before the agent knew its attempt (the caller hung up while it was being filed):
        the attempt ends as missed and the nurse's pages stop ringing."""
        agent_id = flask_session.get(AGENT_KEY)
        if not isinstance(agent_id, int) or not isinstance(data, dict):
            return {"ok": False, "error": "only a softphone agent reports incoming calls"}
        call_ref = str(data.get("call_ref") or "")[:64]
        with db(immediate=True) as db_session:
            agent = users.get_member(db_session, agent_id)
            if agent is not None and call_ref:
                inbound.caller_gave_up(db_session, agent, call_ref, now=state().services.clock.now())
        socketio.emit(EventKind.incoming_ended.value, {"call_ref": call_ref}, to=user_room(agent_id))
        return {"ok": True}

    for name, handler in (("connect", connect), ("follow_attempt", follow_attempt),
                          ("unfollow_attempt", unfollow_attempt), ("agent_event", agent_event), ("hello", hello),
                          ("incoming_call", incoming_call), ("incoming_call_ended", incoming_call_ended)):
        socketio.on_event(name, handler)


def _attempt_id(data: Any) -> int | None:
    raw = data.get("attempt_id") if isinstance(data, dict) else None
    if isinstance(raw, int) and raw > 0:
        return raw
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return None
