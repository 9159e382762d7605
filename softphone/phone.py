"""``PjsuaPhone``: ``callcenter.ports.Phone`` on pjsua2.

Public methods may be called from any thread: they run their pj work on the pj thread (``PjThread.call``)
and return quickly. What happens next arrives as ``CallEvent``s, delivered to listeners on a dispatcher thread
(a slow listener never delays SIP or media).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pjsua2 as pj

from callcenter.ports import (
    CallEvent,
    CallFailed,
    CallState,
    CallStateChanged,
    DtmfReceived,
    IncomingCall,
    MediaStarted,
    Phone,
    RegistrationChanged,
    TapSink,
)
from softphone.account import open_account
from softphone.config import PhoneConfig
from softphone.endpoint import PjThread, realtime_threads, set_thread_nice
from softphone.errors import CallNotFound, RegistrationFailed, SoftphoneError, TooManyCalls, log_exception
from softphone.media import MediaHook, PortPool
from softphone.session import CallInfo, CallSession
from softphone.sipcall import SipAccount, SipCall
from softphone.sipuri import normalize_uri
from softphone.tap import FrameTap
from softphone.wav import repair_recordings

logger = logging.getLogger(__name__)

PJ_ETOOMANY = 70010
# Each call registers 2 sockets (RTP, RTCP) in pjsua's select() ioqueue of 64 handles, and a closed socket's
# handle is reused only 500 ms later; faster than ~20 call set-ups a second, the ioqueue runs dry and pjlib
# asserts (SIGABRT). Dialling is therefore paced to DIAL_BURST calls per second.
DIAL_BURST = 8
_STATES = {
    pj.PJSIP_INV_STATE_CALLING: CallState.calling,
    pj.PJSIP_INV_STATE_INCOMING: CallState.incoming,
    pj.PJSIP_INV_STATE_EARLY: CallState.early,
    pj.PJSIP_INV_STATE_CONNECTING: CallState.connecting,
    pj.PJSIP_INV_STATE_CONFIRMED: CallState.confirmed,
    pj.PJSIP_INV_STATE_DISCONNECTED: CallState.disconnected,
}
Listener = Callable[[CallEvent], None]


class PjsuaPhone:
    """The softphone. One per process (pjsua2's Endpoint is a singleton); ``close()`` it (or use ``with``)."""

    def __init__(self, config: PhoneConfig, *, tap_sink: TapSink | None = None,
                 media_hook: MediaHook | None = None, repair_on_start: bool = True) -> None:
        self.config = config
        self.media_hook = media_hook
        if config.nice is not None:  # before this phone starts its threads: they inherit it
            set_thread_nice(config.nice)
        self._listeners: list[Listener] = []
        self._events: queue.Queue[CallEvent | None] = queue.Queue()
        self._sessions: dict[str, CallSession] = {}  # pj thread only
        self._account: SipAccount | None = None
        self._ports = PortPool()  # pj thread only, like the graveyard of finished prompts
        self._graveyard: list[object] = []
        self._recent_dials: deque[float] = deque(maxlen=DIAL_BURST)
        self._registered = threading.Event()
        self._registration: RegistrationChanged | None = None
        self._reg_changed = threading.Condition()
        self._tap = FrameTap(tap_sink, config.tap_queue_frames) if tap_sink is not None else None
        self.local_uri = ""
        if repair_on_start:
            for path in repair_recordings(config.recordings_path, min_age_s=10.0):
                logger.warning("recording %s was unfinished (process killed?) and has been repaired", path)
        self._dispatcher = threading.Thread(target=self._dispatch, name="phone-events", daemon=True)
        self._dispatcher.start()
        self._pj = PjThread(config)
        self._closed = False
        self._pj.start(self._setup, self._teardown)
        if config.media_rt_priority > 0:
            raised = realtime_threads(config.media_rt_priority)
            logger.info("real-time priority %s for pjmedia threads: %s", config.media_rt_priority,
                        ", ".join(raised) or "none")
        atexit.register(self.close)  # a script that forgets close() still exits without SIGABRT

    def __enter__(self) -> PjsuaPhone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API (any thread) -----------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def dial(self, uri: str, *, record_path: str | None = None) -> str:
        target = normalize_uri(uri, self.config.registrar)
        return self._pj.call(lambda: self._dial(target, record_path))

    def answer(self, call_id: str) -> None:
        self._on_call(call_id, lambda s: s.answer(pj.CallOpParam(True)), "answer", status=200)

    def hangup(self, call_id: str) -> None:
        self._on_call(call_id, lambda s: s.hangup(pj.CallOpParam(True)), "hang up")

    def hold(self, call_id: str) -> None:
        self._on_call(call_id, lambda s: s.setHold(pj.CallOpParam(True)), "hold")

    def resume(self, call_id: str) -> None:
        def unhold(sip: SipCall) -> None:
            prm = pj.CallOpParam(True)
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
            sip.reinvite(prm)

        self._on_call(call_id, unhold, "resume")

    def mute(self, call_id: str, muted: bool) -> None:
        self._pj.call(lambda: self._session(call_id).set_muted(muted))

    def send_dtmf(self, call_id: str, digits: str) -> None:
        bad = set(digits) - set("0123456789*#ABCDabcd")
        if not digits or bad:
            raise SoftphoneError(f"DTMF digits must be 0-9 * # A-D, got {digits!r}")
        self._on_call(call_id, lambda s: s.dialDtmf(digits), "send DTMF")

    def transfer(self, call_id: str, uri: str) -> None:
        target = normalize_uri(uri, self.config.registrar)
        self._on_call(call_id, lambda s: s.xfer(target, pj.CallOpParam(True)), "transfer")

    def play(self, call_id: str, wav_path: str) -> None:
        """Play a WAV (8 or 16 kHz mono PCM) once into the call; ``PlaybackFinished`` follows at its end."""
        if not Path(wav_path).is_file():
            raise SoftphoneError(f"prompt file {wav_path} does not exist")
        self._pj.call(lambda: self._session(call_id).play(wav_path))

    def stop_playback(self, call_id: str) -> int:
        """Stop what ``play`` is playing into the call now (barge-in: the patient answered during a prompt).
        Each prompt cut short reports ``PlaybackFinished`` with ``stopped=True``; returns how many there were."""
        return self._pj.call(lambda: self._session(call_id).stop_playback(self._graveyard))

    def call_info(self, call_id: str) -> CallInfo:
        return self._pj.call(lambda: self._session(call_id).info())

    def calls(self) -> list[CallInfo]:
        return self._pj.call(lambda: [s.info() for s in self._sessions.values() if not s.ended])

    def run_on_pj_thread(self, fn: Callable[[], object]) -> object:
        """Run ``fn`` on the thread that owns pjsua2 (for adapters that create their own pj objects)."""
        return self._pj.call(fn)

    @property
    def registered(self) -> bool:
        return self._registered.is_set()

    def wait_registered(self, timeout_s: float = 10.0) -> None:
        """Wait until the registrar accepted us; ``RegistrationFailed`` with the reason otherwise."""
        if not self.config.registrar:
            return
        deadline = time.monotonic() + timeout_s
        with self._reg_changed:
            while not self._registered.is_set():
                reg = self._registration
                if reg is not None and reg.sip_status in (401, 403, 407):
                    raise RegistrationFailed(
                        f"the registrar {self.config.registrar} rejected user {self.config.user!r} "
                        f"({reg.sip_status} {reg.reason}): check CALLCENTER_SIP_USER and CALLCENTER_SIP_PASSWORD")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    detail = f"{reg.sip_status} {reg.reason}" if reg is not None else "no answer"
                    raise RegistrationFailed(
                        f"not registered at {self.config.registrar} after {timeout_s:.0f} s ({detail}): "
                        "check that the registrar is running and reachable (CALLCENTER_SIP_REGISTRAR)")
                self._reg_changed.wait(remaining)

    def tap_stats(self) -> dict[str, float]:
        """Health of the audio tap: frames sent/dropped, longest media frame gap, intervals over 40 ms."""
        tap = self._tap
        if tap is None:
            return {}
        return {"sent": tap.sent, "dropped": tap.dropped_total, "max_gap_ms": round(tap.max_gap_s * 1000, 1),
                "late_frames": tap.late_frames}

    def close(self) -> None:
        """Hang up every call, finish recordings, destroy the SIP stack. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._pj.stop()
        if self._tap is not None:
            self._tap.close()
        self._events.put(None)
        self._dispatcher.join(timeout=5)

    # -- pj thread -------------------------------------------------------------------------------------------
    def _setup(self, ep: pj.Endpoint) -> None:
        self._account, self.local_uri = open_account(ep, self.config, self)

    def _teardown(self) -> None:
        sessions = list(self._sessions.values())
        assert self._pj.ep is not None
        if sessions:
            self._pj.ep.hangupAllCalls()
            self._pj.pump(300)
        self._pj.ep.audDevManager().setNoDev()  # stop the bridge clock: now media objects can be freed
        for session in sessions:
            session.stop_media(self.media_hook, self._ports, self._graveyard)
            session.sip = None
        closing = getattr(self.media_hook, "phone_closing", None)
        if closing is not None:
            try:
                closing()
            except Exception:
                log_exception(logger, "media hook failed to close")
        self._ports.clear()
        self._graveyard.clear()
        for session in sessions:  # recordings complete (and RecordingReady queued) before the dispatcher stops
            if session.recorder is not None:
                session.recorder.join()
        del sessions
        self._sessions.clear()
        if self._account is not None:
            try:
                self._account.shutdown()
            except pj.Error as exc:
                logger.warning("account shutdown: %s", exc.reason)
            self._account = None

    def _dial(self, uri: str, record_path: str | None) -> str:
        if len(self._sessions) >= self.config.max_calls:
            raise TooManyCalls(self._too_many())
        assert self._account is not None
        while len(self._recent_dials) >= DIAL_BURST and time.monotonic() - self._recent_dials[0] < 1.0:
            self._pj.pump(20)
        self._recent_dials.append(time.monotonic())
        key = uuid.uuid4().hex[:16]
        session = CallSession(key, SipCall(self._account, self, key), "outbound",
                              self._record_path(key, record_path), self._emit)
        session.remote_uri = uri
        self._sessions[key] = session  # before makeCall: onCallState(CALLING) arrives inside it
        error: SoftphoneError | None = None
        try:
            assert session.sip is not None
            session.sip.makeCall(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            error = (TooManyCalls(self._too_many()) if exc.status == PJ_ETOOMANY
                     else SoftphoneError(f"cannot call {uri}: {exc.reason} (check the number/URI)"))
        if error is not None:
            self._sessions.pop(key, None)
            session.sip = None  # the pj Call dies here, on the pj thread, not in the caller's traceback
            del session
            raise error
        logger.info("call %s dialled", key)
        return key

    def _too_many(self) -> str:
        return (f"this softphone already has {len(self._sessions)} calls (pjsua2 allows {self.config.max_calls} "
                "per process): hang one up, or place the call from another process")

    def _record_path(self, key: str, requested: str | None) -> Path | None:
        if requested:
            return Path(requested)
        if not self.config.record_calls:
            return None
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        return self.config.recordings_path / day / f"{key}.wav"

    def _session(self, call_id: str) -> CallSession:
        session = self._sessions.get(call_id)
        if session is None or session.ended:
            raise CallNotFound(f"no active call {call_id!r} (it may have ended)")
        return session

    def _on_call(self, call_id: str, action: Callable[[SipCall], object], what: str, status: int = 0) -> None:
        def run() -> None:
            session = self._session(call_id)
            assert session.sip is not None
            try:
                if status:
                    prm = pj.CallOpParam(True)
                    prm.statusCode = status
                    session.sip.answer(prm)
                else:
                    action(session.sip)
            except pj.Error as exc:
                raise SoftphoneError(f"cannot {what} call {call_id}: {exc.reason}") from None

        self._pj.call(run)

    # -- SipHandler (pj thread; dtmf on a media thread) ------------------------------------------------------
    def call_state(self, call: SipCall) -> None:
        session = self._sessions.get(call.key)
        if session is None:
            return
        ci = call.getInfo()
        state = _STATES.get(ci.state)
        if state is None:
            return
        session.state = state.value
        session.sip_call_id = ci.callIdString
        self._emit(CallStateChanged(call.key, state, int(ci.lastStatusCode), str(ci.lastReason), session.at_s))
        if state is CallState.disconnected and not session.ended:
            session.ended = True
            key = call.key
            logger.info("call %s ended: %s", key, ci.lastStatusCode)
            self._pj.post(lambda: self._cleanup(key))

    def _cleanup(self, key: str) -> None:
        session = self._sessions.pop(key, None)
        if session is not None:
            session.stop_media(self.media_hook, self._ports, self._graveyard)
            session.sip = None
        if len(self._graveyard) > 16:  # finished prompts: free the oldest (long past their last callback)
            del self._graveyard[:8]

    def call_media(self, call: SipCall) -> None:
        session = self._sessions.get(call.key)
        if session is None or session.ended:
            return
        ci = call.getInfo()
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            if mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                audio = call.getAudioMedia(mi.index)
                first = session.media_active(audio, int(mi.audioConfSlot), self._tap, self.media_hook,
                                             self._ports)
                if first:
                    codec = call.getStreamInfo(mi.index).codecName
                    self._emit(MediaStarted(call.key, str(codec)))
                if session.held:
                    session.held = False
                    self._emit(CallStateChanged(call.key, CallState.confirmed, 200, "resumed", session.at_s))
            else:
                session.conf_slot = -1  # the stream was replaced: reconnect on the next ACTIVE, even if the
                # slot number is reused (hold moves the call 1 -> 4, resume back to 1)
                if mi.status == pj.PJSUA_CALL_MEDIA_LOCAL_HOLD and not session.held:
                    session.held = True
                    self._emit(CallStateChanged(call.key, CallState.held, 200, "held", session.at_s))
                if mi.status == pj.PJSUA_CALL_MEDIA_ERROR:
                    self._emit(CallFailed(call.key, "media error: no audio path to the remote phone"))
            break

    def dtmf(self, call: SipCall, digit: str, duration_ms: int) -> None:
        self._emit(DtmfReceived(call.key, digit, duration_ms))

    def incoming(self, account: SipAccount, pj_call_id: int) -> None:
        key = uuid.uuid4().hex[:16]
        call = SipCall(account, self, key, pj_call_id)
        prm = pj.CallOpParam(True)
        if len(self._sessions) >= self.config.max_calls:
            prm.statusCode = 486  # busy here: the nurse's lines are full
            call.hangup(prm)
            return
        session = CallSession(key, call, "inbound", self._record_path(key, None), self._emit)
        session.remote_uri = str(call.getInfo().remoteUri)
        self._sessions[key] = session
        self._emit(IncomingCall(key, session.remote_uri))
        prm.statusCode = 200 if self.config.auto_answer else 180
        call.answer(prm)

    def registration(self, registered: bool, sip_status: int, reason: str) -> None:
        event = RegistrationChanged(registered, sip_status, reason)
        with self._reg_changed:
            self._registration = event
            if registered:
                self._registered.set()
            else:
                self._registered.clear()
            self._reg_changed.notify_all()
        logger.info("registration %s (%s)", "active" if registered else "lost", sip_status)
        self._emit(event)

    def transfer_status(self, call: SipCall, sip_status: int, final: bool) -> None:
        if final and 200 <= sip_status < 300:  # the transferee reached the target: leave the call
            call.hangup(pj.CallOpParam(True))

    # -- events ----------------------------------------------------------------------------------------------
    def _emit(self, event: CallEvent) -> None:
        self._events.put(event)

    def _dispatch(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    log_exception(logger, "call event listener failed on %s", type(event).__name__)


def _implements_phone(phone: PjsuaPhone) -> Phone:
    return phone  # mypy checks here that PjsuaPhone satisfies callcenter.ports.Phone
