"""The softphone agent: the nurse's phone on the dashboard's Socket.IO (docs/operations.md, "Softphone agent
protocol").

``SoftphoneAgent`` turns the server's ``agent_command``s (dial, hangup, hold, resume, mute/unmute, dtmf,
transfer, grammar) into calls on a ``ports.Phone``, and the phone's ``CallEvent``s and the ``ports.Recognizer``'s
results (transcript lines, partial text, proposals, speech status) into ``agent_event``s for the server. It depends only on
``callcenter.ports``: the composition root (``callcenter.commands.softphone``) injects the pjsua2 phone, the ASR
pool (whose worker processes do the recognition; the phone's tap feeds it directly) and the optional hooks.

``AgentLink`` is the transport: a python-socketio client that reconnects by itself after the server restarts
(calls go on: the phone does not depend on the link), re-announces its active attempt with ``hello`` on every
connect, and keeps events produced while offline in a bounded outbox sent on reconnection.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import socketio

from callcenter.ports import (
    CallEvent,
    CallFailed,
    CallState,
    CallStateChanged,
    IncomingCall,
    MediaStarted,
    PartialText,
    Phone,
    Proposal,
    Recognizer,
    RecordingReady,
    SpeechStatus,
    Utterance,
)

logger = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], None]
# (call id, compiled questionnaire item as sent by the server, locale): make the recogniser listen for it
ItemListener = Callable[[str, Mapping[str, Any], str], None]
ENDED_KEPT = 32  # ended calls whose late events (recording, last utterance) are still mapped to their attempt


class QuestionVoice(Protocol):
    """Optional: something that speaks the question on screen into the call (a one-PC demo has no microphone).
    ``question`` is called with every grammar command; ``media_started`` once the call's audio flows."""

    def question(self, call_id: str, item: Mapping[str, Any], locale: str) -> None: ...

    def media_started(self, call_id: str) -> None: ...

    def call_ended(self, call_id: str) -> None: ...


class SoftphoneAgent:
    """Commands in, events out. Thread-safe: commands arrive on the Socket.IO thread, call events on the
    phone's dispatcher thread, recogniser events on the ASR pool's event thread."""

    def __init__(self, phone: Phone, recognizer: Recognizer | None = None, *, emit: Emit | None = None,
                 dial_plan: Callable[[str], str] = str.strip, item_listener: ItemListener | None = None,
                 voice: QuestionVoice | None = None, recordings_dir: str | Path = "recordings") -> None:
        self.phone = phone
        self.recognizer = recognizer
        self.emit: Emit = emit or (lambda event, payload: None)
        self.dial_plan = dial_plan
        self.item_listener = item_listener
        self.voice = voice
        self.recordings_dir = Path(recordings_dir).resolve()
        self._lock = threading.RLock()  # held while dialling, so the call's first events find its attempt
        self._attempts: dict[str, int] = {}  # phone call id -> attempt id (live calls)
        self._ended: OrderedDict[str, int] = OrderedDict()  # recently ended calls, for late events
        self._calls: dict[int, str] = {}  # attempt id -> phone call id
        self._grammar: dict[int, dict[str, Any]] = {}  # attempt id -> the last grammar command
        self._listening: set[str] = set()  # calls with a recogniser stream
        self._ringing: dict[str, str] = {}  # incoming calls not yet answered: phone call id -> caller URI
        phone.add_listener(self.on_call_event)

    # -- state ------------------------------------------------------------------------------------------------
    @property
    def active_attempt(self) -> int | None:
        with self._lock:
            return next(iter(self._calls), None)

    def call_of(self, attempt_id: int) -> str | None:
        with self._lock:
            return self._calls.get(attempt_id)

    # -- server -> agent ---------------------------------------------------------------------------------------
    def handle_command(self, data: Any) -> dict[str, Any]:
        """One ``agent_command``; returns {"ok": ...} (also the Socket.IO acknowledgement). A failing command is
        reported to the call's screen as a call state ``failed`` with the reason; it never raises."""
        if not isinstance(data, dict):
            return {"ok": False, "error": "a command is an object"}
        command = str(data.get("command") or data.get("op") or "")
        if data.get("attempt_id") is None and command in ("answer", "decline"):
            return self._unfiled_call(command, str(data.get("call_ref") or ""))
        attempt_id = data.get("attempt_id")
        if not isinstance(attempt_id, int) or isinstance(attempt_id, bool):
            return {"ok": False, "error": "command without attempt_id"}
        try:
            self._run(command, attempt_id, data)
        except Exception as exc:  # a SIP or speech error: tell the nurse, keep the agent running
            logger.warning("attempt=%s command %s failed: %s", attempt_id, command, type(exc).__name__)
            self._send("call_state", attempt_id, state="failed", sip_status=0, reason=str(exc)[:200])
            return {"ok": False, "error": str(exc)}
        return {"ok": True}

    def _run(self, command: str, attempt_id: int, data: Mapping[str, Any]) -> None:
        if command == "dial":
            self._dial(attempt_id, data)
            return
        if command == "grammar":
            self._set_grammar(attempt_id, dict(data))
            return
        if command == "bind":
            self._bind(attempt_id, str(data.get("call_ref") or ""), str(data.get("locale") or ""))
            return
        call_id = self.call_of(attempt_id)
        if call_id is None:
            raise LookupError(f"attempt {attempt_id} has no call on this softphone (it has ended)")
        if command == "answer":
            with self._lock:
                self._ringing.pop(call_id, None)
            self.phone.answer(call_id)
        elif command in ("hangup", "decline"):
            with self._lock:
                self._ringing.pop(call_id, None)
            self.phone.hangup(call_id)
        elif command == "hold":
            self.phone.hold(call_id)
        elif command == "resume":
            self.phone.resume(call_id)
        elif command in ("mute", "unmute"):
            self.phone.mute(call_id, bool(data.get("muted", command == "mute")))
        elif command == "dtmf":
            self.phone.send_dtmf(call_id, str(data.get("digits", "")))
        elif command == "transfer":
            self.phone.transfer(call_id, self.dial_plan(str(data.get("target") or data.get("uri") or "")))
        else:
            raise ValueError(f"unknown command {command!r}")

    def _dial(self, attempt_id: int, data: Mapping[str, Any]) -> None:
        target = str(data.get("uri") or data.get("number") or "")
        locale = str(data.get("locale") or "")
        # One critical section from the dial to the recogniser's stream: the first question's grammar command
        # arrives on another Socket.IO thread, and must find the call either unknown (it is stored and applied
        # below) or listening (it applies itself) — never dialled but not yet listening, where it was dropped and
        # the whole first question got no proposal.
        with self._lock:
            if attempt_id in self._calls:
                return  # a repeated dial (the server re-sent it after a reconnection): one call only
            call_id = self.phone.dial(self.dial_plan(target))
            self._attempts[call_id] = attempt_id
            self._calls[attempt_id] = call_id
            self._open_stream(attempt_id, call_id, locale)
            grammar = self._grammar.get(attempt_id)
        logger.info("attempt=%s dialled as call %s", attempt_id, call_id)
        if grammar is not None:
            self._apply_grammar(call_id, grammar)

    def _open_stream(self, attempt_id: int, call_id: str, locale: str) -> None:
        """The recogniser listens to the call (lock held)."""
        if self.recognizer is None or not locale:
            return
        if self.recognizer.open_stream(call_id, locale):
            self._listening.add(call_id)
        else:
            logger.info("attempt=%s: no speech model for %s, the nurse types the answers", attempt_id, locale)

    def _bind(self, attempt_id: int, call_id: str, locale: str) -> None:
        """The server filed a ringing incoming call as ``attempt_id``: its events are reported under it."""
        with self._lock:  # as in _dial: bound and listening at once for a grammar command on another thread
            if call_id not in self._ringing:
                raise LookupError(f"no incoming call {call_id!r} is ringing on this softphone")
            self._attempts[call_id] = attempt_id
            self._calls[attempt_id] = call_id
            self._open_stream(attempt_id, call_id, locale)
            grammar = self._grammar.get(attempt_id)
        if grammar is not None:
            self._apply_grammar(call_id, grammar)

    def _unfiled_call(self, command: str, call_id: str) -> dict[str, Any]:
        """Answer or decline a ringing call the server did not file (a number no patient has)."""
        with self._lock:
            ringing = call_id in self._ringing and call_id not in self._attempts
            if ringing:
                self._ringing.pop(call_id, None)
        if not ringing:
            return {"ok": False, "error": f"no unfiled incoming call {call_id!r} is ringing"}
        try:
            if command == "answer":
                self.phone.answer(call_id)
            else:
                self.phone.hangup(call_id)
        except Exception as exc:  # the caller hung up in between
            return {"ok": False, "error": str(exc)}
        return {"ok": True}

    def _set_grammar(self, attempt_id: int, data: dict[str, Any]) -> None:
        with self._lock:
            self._grammar[attempt_id] = data
            call_id = self._calls.get(attempt_id)
        if call_id is not None:
            self._apply_grammar(call_id, data)

    def _apply_grammar(self, call_id: str, data: Mapping[str, Any]) -> None:
        item = data.get("item")
        item_id = str(data.get("item_id") or "")
        locale = str(data.get("locale") or "")
        if item_id and isinstance(item, Mapping):
            if self.voice is not None:
                self.voice.question(call_id, item, locale)
            if call_id in self._listening and self.item_listener is not None:
                self.item_listener(call_id, item, locale)
                return
        phrases = data.get("phrases")
        if call_id in self._listening and self.recognizer is not None and isinstance(phrases, list):
            self.recognizer.set_grammar(call_id, item_id, [str(p) for p in phrases])

    # -- phone -> server ---------------------------------------------------------------------------------------
    def on_call_event(self, event: CallEvent) -> None:
        with self._lock:
            call_id = event.call_id
            attempt_id = self._attempts.get(call_id) or self._ended.get(call_id)
            if isinstance(event, IncomingCall) and attempt_id is None:
                self._ringing[call_id] = event.remote_uri
        if isinstance(event, IncomingCall) and attempt_id is None:
            # the server files it (patient, task) and binds it to an attempt; the nurse answers from her screen
            self.emit("incoming_call", {"call_ref": call_id, "remote_uri": event.remote_uri})
            return
        if attempt_id is None:
            if isinstance(event, CallStateChanged) and event.state is CallState.disconnected:
                with self._lock:
                    was_ringing = self._ringing.pop(call_id, None) is not None
                if was_ringing:  # an unfiled caller gave up (or was declined): the nurse's pages stop ringing
                    self.emit("incoming_call_ended", {"call_ref": call_id})
            return  # not a call of the dashboard's
        if isinstance(event, CallStateChanged):
            self._send("call_state", attempt_id, state=event.state.value, sip_status=event.sip_status,
                       reason=event.reason)
            if event.state is CallState.disconnected:
                self._ended_call(call_id, attempt_id)
        elif isinstance(event, MediaStarted):
            if self.voice is not None:
                self.voice.media_started(call_id)
        elif isinstance(event, CallFailed):
            self._send("call_state", attempt_id, state="failed", sip_status=0, reason=event.message[:200])
        elif isinstance(event, RecordingReady):
            self._send("recording", attempt_id, path=self._relative(event.path), duration_s=event.duration_s,
                       sha256=event.sha256)

    def _ended_call(self, call_id: str, attempt_id: int) -> None:
        with self._lock:
            self._ringing.pop(call_id, None)
            self._attempts.pop(call_id, None)
            self._calls.pop(attempt_id, None)
            self._grammar.pop(attempt_id, None)
            listening = call_id in self._listening
            self._listening.discard(call_id)
            self._ended[call_id] = attempt_id
            while len(self._ended) > ENDED_KEPT:
                self._ended.popitem(last=False)
        if listening and self.recognizer is not None:
            self.recognizer.close_stream(call_id)
        if self.voice is not None:
            self.voice.call_ended(call_id)

    def _relative(self, path: str) -> str:
        """Recording paths go to the server relative to the recordings folder when under it (one-PC setups
        share the folder; a workstation's absolute path means nothing to a remote server anyway)."""
        try:
            return Path(path).resolve().relative_to(self.recordings_dir).as_posix()
        except ValueError:
            return path

    # -- recogniser -> server ----------------------------------------------------------------------------------
    def on_recognizer_event(self, event: object) -> None:
        call_id = getattr(event, "call_id", "")
        with self._lock:  # the last utterance of a call the patient hung up on arrives after the hang-up
            attempt_id = self._attempts.get(call_id) or self._ended.get(call_id)
        if attempt_id is None:
            return
        if isinstance(event, Utterance):
            if event.text:
                self._send("transcript", attempt_id, speaker=event.speaker, text=event.text, t0_s=event.t0_s,
                           t1_s=event.t1_s, confidence=event.confidence, item_id=event.item_id)
        elif isinstance(event, PartialText):
            self._send("partial", attempt_id, speaker=event.speaker, text=event.text)
        elif isinstance(event, Proposal):
            self._send("proposal", attempt_id, item_id=event.item_id, value=event.value,
                       confidence=event.confidence, text=event.text, t0_s=event.t0_s, t1_s=event.t1_s,
                       needs_confirmation=event.needs_confirmation, reasons=list(event.reasons),
                       closed_at=event.closed_at)
        elif isinstance(event, SpeechStatus):  # recognition stopped (the nurse types) or is back: her screen says so
            logger.info("attempt=%s speech %s: %s", attempt_id, event.code.value, event.reason)
            self._send("speech", attempt_id, available=event.available, code=event.code.value)
        else:  # e.g. the pool's grammar report: logged there
            logger.debug("attempt=%s recogniser event %s", attempt_id, type(event).__name__)

    def _send(self, kind: str, attempt_id: int, **fields: Any) -> None:
        self.emit("agent_event", {"kind": kind, "attempt_id": attempt_id, **fields})


class AgentLink:
    """The agent's Socket.IO connection to the dashboard (python-socketio client, WebSocket transport)."""

    def __init__(self, server_url: str, token: str, *, outbox_size: int = 1000,
                 client: socketio.Client | None = None) -> None:
        self.server_url = server_url.rstrip("/")
        self._token = token
        self.sio = client or socketio.Client(reconnection=True, reconnection_delay=0.5,
                                             reconnection_delay_max=3.0, logger=False, engineio_logger=False)
        self._outbox: deque[tuple[str, dict[str, Any]]] = deque(maxlen=outbox_size)
        self._wake = threading.Condition()
        self._stopping = False
        self.connected = threading.Event()
        self.ended = threading.Event()  # the dashboard ended this agent's session (its user was deactivated)
        self._on_ended: list[Callable[[], None]] = []
        self.connections = 0  # connects so far (reconnections included)
        self.agent: SoftphoneAgent | None = None
        self._sender = threading.Thread(target=self._send_loop, name="agent-link", daemon=True)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("agent_command", self._on_command)
        self.sio.on("session_ended", self._on_session_ended)

    def attach(self, agent: SoftphoneAgent) -> None:
        self.agent = agent
        agent.emit = self.send

    def start(self, *, wait_s: float = 10.0, retry: bool = True) -> None:
        """Connect (retrying every few seconds while the server is not up when ``retry``); afterwards the client
        reconnects by itself."""
        self._sender.start()
        stop = threading.Event()
        while True:
            try:
                self.sio.connect(self.server_url, auth={"agent_token": self._token}, transports=["websocket"],
                                 wait_timeout=wait_s)
                return
            except socketio.exceptions.ConnectionError as exc:
                if not retry or self._stopping:
                    raise
                logger.warning("dashboard %s not reachable (%s); retrying", self.server_url, exc)
                stop.wait(2.0)  # sleep-ok: retry pacing while the server starts

    def send(self, event: str, payload: dict[str, Any]) -> None:
        with self._wake:
            if len(self._outbox) == self._outbox.maxlen:
                logger.warning("agent outbox full while offline: the oldest event is dropped")
            self._outbox.append((event, payload))
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._sender.is_alive():
            self._sender.join(5)
        try:
            self.sio.disconnect()
        except Exception:  # already gone
            logger.debug("disconnect failed", exc_info=True)

    # -- socket.io callbacks (client threads) --------------------------------------------------------------
    def _on_connect(self) -> None:
        self.connections += 1
        attempt = self.agent.active_attempt if self.agent is not None else None
        logger.info("connected to the dashboard (connection %s, active attempt %s)", self.connections, attempt)
        self.sio.emit("hello", {"attempt_id": attempt})
        self.connected.set()
        with self._wake:
            self._wake.notify()

    def _on_disconnect(self, *reason: Any) -> None:
        self.connected.clear()
        if not self._stopping:
            logger.warning("lost the dashboard connection; calls go on, reconnecting")

    def when_ended(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (once, from a client thread) when the dashboard ends this agent's session; at once
        if it already has."""
        self._on_ended.append(callback)
        if self.ended.is_set():
            callback()

    def _on_session_ended(self, *_: Any) -> None:
        # the server disconnects right after this and refuses this token from now on: reconnecting is pointless
        self.sio.reconnection = False
        if self.ended.is_set():
            return
        logger.error("the dashboard ended this softphone's session: its user was deactivated. Ask an "
                     "administrator (callcenter users token USER issues a new agent token for an active user)")
        self.ended.set()
        for callback in list(self._on_ended):
            callback()

    def _on_command(self, data: Any) -> dict[str, Any]:
        if self.agent is None:
            return {"ok": False, "error": "agent not ready"}
        return self.agent.handle_command(data)

    def _send_loop(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not (self._outbox and self.connected.is_set()):
                    self._wake.wait(0.5)
                if self._stopping and (not self._outbox or not self.connected.is_set()):
                    return
                event, payload = self._outbox[0]
            try:
                self.sio.emit(event, payload, callback=_log_refusal)
            except socketio.exceptions.SocketIOError:  # disconnected in between: keep it, resend later
                self.connected.clear()
                continue
            with self._wake:
                if self._outbox and self._outbox[0][1] is payload:
                    self._outbox.popleft()


def _log_refusal(answer: Any = None) -> None:
    if isinstance(answer, dict) and not answer.get("ok", True):
        logger.warning("the dashboard refused an agent event: %s", answer.get("error"))
