"""A robocaller worker process: one ``PjsuaPhone`` running up to 4 reminder calls (the wheel's limit).

It takes ``CallJob``s from the supervisor's queue only while it has a free call, drives one
``ReminderDialogue`` per call from the phone's events, a 100 ms tick and the patient channel's voice activity,
plays the prompt WAVs the supervisor synthesised, and returns a ``CallReport`` per call. Nothing heavy runs
here: no TTS, no speech recognition, no database (Python work in this process stalls every call's audio).

A call that was recorded is reported once its recording is finished: the recorder's writer thread announces
``RecordingReady`` (audio length and SHA-256, computed there, off the media thread) shortly after the hang-up,
and the report carries both to the supervisor, which files the recording row.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from callcenter.ports import (
    AudioFrame,
    CallEvent,
    CallFailed,
    CallState,
    CallStateChanged,
    DtmfReceived,
    PlaybackFinished,
    Recognizer,
    RecordingReady,
    TapSink,
    Utterance,
)
from callcenter.robocall import (
    Action,
    Answered,
    DtmfKey,
    Event,
    HangUp,
    Heard,
    Listen,
    Play,
    PromptDone,
    ReminderDialogue,
    RemoteHangup,
    StopPrompt,
    Tick,
    TransferToNurse,
    VoiceEnded,
    VoiceStarted,
    outcome_for_unanswered,
)
from callcenter.robocall_jobs import CallJob, CallProgress, CallReport, WorkerStarted, WorkerStopped
from callcenter.robocall_prompts import Prompts
from callcenter.robocall_vad import EnergyVad, level_dbfs
from softphone.config import PhoneConfig
from softphone.endpoint import set_thread_nice
from softphone.errors import InvalidCallUri, SoftphoneError
from softphone.phone import PjsuaPhone

logger = logging.getLogger(__name__)

TICK_S = 0.1
RECORDING_WAIT_S = 10.0  # how long a finished call's report waits for its recording (normally milliseconds)



class SpeechRecognizer(Recognizer, Protocol):
    """A Recognizer that also takes the softphone's tap frames (e.g. ``asr.pool.AsrPool``)."""

    def start(self) -> object: ...

    def tap_sink(self) -> TapSink: ...

    def close(self) -> None: ...


# Builds speech recognition in a worker (picklable, e.g. functools.partial(AsrPool, {"zh-CN": model_dir})): it is
# called with the callback for recognition events (Utterance and others) and returns the recogniser.
SpeechFactory = Callable[[Callable[[object], None]], SpeechRecognizer]


class _TeeTap:
    """One tap, two consumers: the robot's voice activity and the speech recogniser."""

    def __init__(self, *sinks: TapSink) -> None:
        self.sinks = sinks

    def send(self, frame: AudioFrame) -> None:
        for sink in self.sinks:
            sink.send(frame)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


class _VoiceTap:
    """TapSink: frame energy -> voice start/end per call, onto the worker's event queue (tap sender thread)."""

    def __init__(self, events: queue.Queue[Any]) -> None:
        self.events = events
        self._vad: dict[str, EnergyVad] = {}
        self._last: dict[str, float] = {}
        self.max_gap_ms: dict[str, float] = {}
        self.frames: dict[str, int] = {}
        self._lock = threading.Lock()

    def send(self, frame: AudioFrame) -> None:
        now = time.monotonic()
        if frame.end:
            self._vad.pop(frame.call_id, None)
            self._last.pop(frame.call_id, None)
            return
        samples = np.frombuffer(frame.pcm, dtype="<i2").astype(np.float32)
        rms = float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
        vad = self._vad.setdefault(frame.call_id, EnergyVad())
        with self._lock:
            last = self._last.get(frame.call_id)
            if last is not None:
                gap = (now - last) * 1000.0
                self.max_gap_ms[frame.call_id] = max(self.max_gap_ms.get(frame.call_id, 0.0), gap)
            self._last[frame.call_id] = now
            self.frames[frame.call_id] = self.frames.get(frame.call_id, 0) + 1
        for event in vad.feed(level_dbfs(rms), frame.seq * 0.02):
            self.events.put((frame.call_id, event))

    def pop_stats(self, call_id: str) -> tuple[float, int]:
        with self._lock:
            return self.max_gap_ms.pop(call_id, 0.0), self.frames.pop(call_id, 0)

    def close(self) -> None:
        pass


@dataclass
class _Call:
    job: CallJob
    dialogue: ReminderDialogue
    started: float
    answered_at: float | None = None  # seconds after the dial
    media_offset_s: float = 0.0  # call time when the patient's audio started (VAD times are media-relative)
    playing: str | None = None
    queued: str | None = None
    hanging_up: bool = False
    sip_call_id: str = ""
    speech: bool = False
    played: list[str] = field(default_factory=list)

    def t(self) -> float:
        return time.monotonic() - self.started


class RobocallWorker:
    def __init__(self, name: str, phone: PjsuaPhone, tap: _VoiceTap, events: queue.Queue[Any],
                 progress: Any = None, recognizer: Recognizer | None = None) -> None:
        self.recognizer = recognizer
        self.name = name
        self.phone = phone
        self.tap = tap
        self.events = events
        self.progress = progress  # a queue for CallProgress messages, or None
        self.calls: dict[str, _Call] = {}
        self.held: dict[str, tuple[CallReport, float]] = {}  # ended calls waiting for their recording: deadline

    def _progress(self, call: _Call, kind: str, detail: str = "") -> None:
        if self.progress is not None:
            self.progress.put(CallProgress(call.job.job_id, call.job.task_id, kind, detail, round(call.t(), 3)))

    def start(self, job: CallJob) -> CallReport | None:
        try:
            call_id = self.phone.dial(job.uri, record_path=job.record_path)
        except InvalidCallUri as exc:  # the number cannot be dialled at all
            logger.warning("worker=%s job=%s cannot dial: %s", self.name, job.job_id, exc)
            return CallReport(job.job_id, job.task_id, job.attempt_id, outcome_for_unanswered(404), self.name)
        except SoftphoneError as exc:  # our side failed: not the number's fault, try again later
            logger.error("worker=%s job=%s dial failed: %s", self.name, job.job_id, exc)
            return CallReport(job.job_id, job.task_id, job.attempt_id, outcome_for_unanswered(503), self.name)
        prompts = Prompts(job.facts, job.script)
        config = job.config if job.nurse_uri else dataclasses.replace(job.config, transfer_available=False)
        self.calls[call_id] = _Call(job, ReminderDialogue(prompts, config), time.monotonic())
        return None

    def handle(self, item: CallEvent | Utterance | tuple[str, VoiceStarted | VoiceEnded] | object
               ) -> CallReport | None:
        if isinstance(item, RecordingReady):
            return self._recorded(item)
        if isinstance(item, Utterance):
            self._heard(item)
            return None
        if isinstance(item, tuple):
            call_id, voice = item
            call = self.calls.get(call_id)
            if call is not None:
                shifted = type(voice)(round(voice.at_s + call.media_offset_s, 3))
                self._feed(call_id, call, shifted)
            return None
        call = self.calls.get(getattr(item, "call_id", ""))
        if call is None:
            return None  # another call's, or a recogniser status (partial text, speech unavailable …)
        if isinstance(item, CallStateChanged):
            if item.state is CallState.confirmed and call.answered_at is None:
                call.answered_at = call.media_offset_s = call.t()
                try:
                    call.sip_call_id = self.phone.call_info(item.call_id).sip_call_id
                except SoftphoneError as exc:
                    logger.debug("call_info %s: %s", item.call_id, exc)
                self._progress(call, "answered")
                if self.recognizer is not None and call.job.speech_locale:
                    call.speech = self.recognizer.open_stream(item.call_id, call.job.speech_locale)
                self._feed(item.call_id, call, Answered(call.answered_at))
            elif item.state is CallState.disconnected:
                return self._finish(item.call_id, call, item.sip_status)
        elif isinstance(item, PlaybackFinished):
            done, call.playing = call.playing, None
            if done is not None:
                self._progress(call, "prompt_done", done)
                self._feed(item.call_id, call, PromptDone(done, call.t()))
            if call.queued is not None and call.playing is None:
                key, call.queued = call.queued, None
                self._play(item.call_id, call, key)
        elif isinstance(item, DtmfReceived):
            self._feed(item.call_id, call, DtmfKey(item.digit, call.t()))
        elif isinstance(item, CallFailed):
            logger.warning("worker=%s call=%s failed: %s", self.name, item.call_id, item.message)
        return None

    def _heard(self, utt: Utterance) -> None:
        call = self.calls.get(utt.call_id)
        question = call.dialogue.question if call is not None else None
        if call is None or question is None:
            return
        value = None
        for text in (utt.text, *utt.alternatives):
            value = question.match(text)
            if value is not None:
                break
        offset = call.media_offset_s
        self._feed(utt.call_id, call, Heard(utt.text, value, utt.confidence, round(utt.t0_s + offset, 3),
                                            round(utt.t1_s + offset, 3)))

    def tick(self) -> list[CallReport]:
        """Time-outs of ringing and overlong calls; returns the reports whose recording never came."""
        late = []
        for call_id in [k for k, (_, deadline) in self.held.items() if time.monotonic() > deadline]:
            report, _ = self.held.pop(call_id)
            logger.warning("worker=%s task=%s call=%s: recording not finished after %s s; reported without it",
                           self.name, report.task_id, call_id, RECORDING_WAIT_S)
            late.append(report)
        for call_id, call in list(self.calls.items()):
            t = call.t()
            if call.answered_at is None and t > call.job.ring_timeout_s and not call.hanging_up:
                self._hangup(call_id, call)
            elif t > call.job.max_call_s and not call.hanging_up:
                logger.warning("worker=%s call=%s ran past %s s; hanging up", self.name, call_id, call.job.max_call_s)
                self._hangup(call_id, call)
            elif call.answered_at is not None:
                self._feed(call_id, call, Tick(t))
        return late

    # ---------------------------------------------------------------------------------------------------------
    def _feed(self, call_id: str, call: _Call, event: Event) -> None:
        for action in call.dialogue.handle(event):
            self._do(call_id, call, action)

    def _do(self, call_id: str, call: _Call, action: Action) -> None:
        if isinstance(action, Play):
            if call.playing is None:
                self._play(call_id, call, action.prompt.key)
            else:  # after the current one (cut short first if the dialogue said StopPrompt)
                call.queued = action.prompt.key
        elif isinstance(action, HangUp):
            self._hangup(call_id, call)
        elif isinstance(action, TransferToNurse):
            try:
                self.phone.transfer(call_id, call.job.nurse_uri)
            except SoftphoneError as exc:
                logger.warning("worker=%s call=%s transfer failed: %s", self.name, call_id, exc)
                self._hangup(call_id, call)
        elif isinstance(action, Listen) and call.speech and self.recognizer is not None:
            self.recognizer.set_grammar(call_id, action.item_id, action.phrases)
        elif isinstance(action, StopPrompt) and call.playing is not None:
            try:  # barge-in: the prompt's PlaybackFinished (stopped) follows and plays what is queued
                self.phone.stop_playback(call_id)
            except SoftphoneError as exc:
                logger.debug("stop playback %s: %s", call_id, exc)

    def _play(self, call_id: str, call: _Call, key: str) -> None:
        wav = call.job.prompt_wavs.get(key)
        if wav is None:
            logger.error("worker=%s job=%s has no WAV for prompt %s", self.name, call.job.job_id, key)
            self.events.put(PlaybackFinished(call_id, ""))
            return
        call.playing = key
        call.played.append(key)
        self._progress(call, "prompt_started", key)
        try:
            self.phone.play(call_id, wav)
        except SoftphoneError as exc:
            logger.debug("play %s on %s: %s", key, call_id, exc)

    def _hangup(self, call_id: str, call: _Call) -> None:
        call.hanging_up = True
        try:
            self.phone.hangup(call_id)
        except SoftphoneError as exc:
            logger.debug("hangup %s: %s", call_id, exc)

    def _recorded(self, ready: RecordingReady) -> CallReport | None:
        held = self.held.pop(ready.call_id, None)
        if held is None:
            return None  # reported already (too late), or not one of ours
        return dataclasses.replace(held[0], recording_duration_s=ready.duration_s, recording_sha256=ready.sha256)

    def _finish(self, call_id: str, call: _Call, sip_status: int) -> CallReport | None:
        del self.calls[call_id]
        if call.speech and self.recognizer is not None:
            self.recognizer.close_stream(call_id)
        duration = call.t()
        if call.dialogue.result is None and call.answered_at is not None:
            call.dialogue.handle(RemoteHangup(duration))
        result = call.dialogue.result or outcome_for_unanswered(sip_status or 408)
        gap_ms, frames = self.tap.pop_stats(call_id)
        job = call.job
        logger.info("worker=%s task=%s call=%s -> %s", self.name, job.task_id, call_id, result.outcome)
        report = CallReport(
            job.job_id, job.task_id, job.attempt_id, result, self.name, call_id=call_id, sip_call_id=call.sip_call_id,
            answered_after_s=call.answered_at, duration_s=round(duration, 3), recording_path=job.record_path or "",
            max_frame_gap_ms=round(gap_ms, 1), frames=frames, prompts_played=tuple(call.played),
        )
        # the recorder made the file when the call's media started (pj thread, before this disconnect reached
        # us); its RecordingReady follows once the writer thread has closed it
        if job.record_path and Path(job.record_path).exists():
            self.held[call_id] = (report, time.monotonic() + RECORDING_WAIT_S)
            return None
        return report


def run_worker(name: str, phone_config: PhoneConfig, jobs: Any, reports: Any, max_calls: int,
               log_level: int = logging.INFO, speech: SpeechFactory | None = None) -> None:
    """Process entry: serve jobs until a ``None`` job arrives and every call has ended."""
    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s")
    if phone_config.nice is not None:  # first: every thread of the worker (ASR pool's, phone's) inherits it
        set_thread_nice(phone_config.nice)
    events: queue.Queue[Any] = queue.Queue()
    tap = _VoiceTap(events)
    recognizer: SpeechRecognizer | None = None
    sink: TapSink = tap
    try:
        if speech is not None:  # recognition runs in its own processes; only frames and results pass here
            recognizer = speech(events.put)
            recognizer.start()
            sink = _TeeTap(tap, recognizer.tap_sink())
        phone = PjsuaPhone(phone_config, tap_sink=sink)
    except Exception as exc:  # report why the worker could not start, then exit
        logger.exception("worker %s could not start its phone", name)
        reports.put(WorkerStopped(name, str(exc)))
        return
    try:
        phone.add_listener(events.put)
        worker = RobocallWorker(name, phone, tap, events, progress=reports, recognizer=recognizer)
        reports.put(WorkerStarted(name, phone.local_uri))
        accepting, last_tick = True, time.monotonic()
        while accepting or worker.calls or worker.held:
            while accepting and len(worker.calls) < max_calls:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    accepting = False
                    break
                report = worker.start(job)
                if report is not None:
                    reports.put(report)
            try:
                item = events.get(timeout=TICK_S / 2)
            except queue.Empty:
                item = None
            if item is not None:
                report = worker.handle(item)
                if report is not None:
                    reports.put(report)
            if time.monotonic() - last_tick >= TICK_S:
                last_tick = time.monotonic()
                for report in worker.tick():
                    reports.put(report)
    except Exception as exc:
        logger.exception("worker %s stopped on an error", name)
        reports.put(WorkerStopped(name, str(exc)))
        raise
    finally:
        phone.close()
        if recognizer is not None:
            recognizer.close()
    reports.put(WorkerStopped(name))
