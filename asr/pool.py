"""``AsrPool``: the ``callcenter.ports.Recognizer`` for live calls, backed by ASR worker processes.

Each locale with a model gets ``workers_per_model`` spawned processes (one model load each, shared by all their
calls). A call sticks to the least-loaded worker of its locale. ``feed`` never blocks: a full worker queue drops
the frame and counts it. Results come back on one thread (``asr-events``) and go to ``on_event`` as
``PartialText``, ``Utterance``, ``Proposal`` (the answer read from an utterance for the question whose grammar
was active) and ``SpeechStatus`` (speech unavailable / back, and why; all four from ``callcenter.ports``).

A worker that dies is noticed on the same thread (its process sentinel), its calls are told speech is
unavailable (the nurse types), a new worker is started, and when it is ready the calls are reopened with their
current grammar. Calls never stop because of the recogniser.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing as mp
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from asr.field_types import FieldKind, FieldSpec, to_jsonable
from asr.fields import parse_answer
from asr.item_specs import answer_value, grammar_phrases, spec_from_item
from asr.models import resolve_models
from asr.worker import WorkerConfig, run_worker
from callcenter.ports import (
    AudioFrame,
    PartialText,
    Proposal,
    Recognizer,
    SpeechCode,
    SpeechStatus,
    TapSink,
    Utterance,
)
from callcenter.settings import Settings
from scripts_questionnaires.model import Item

logger = logging.getLogger(__name__)

QUEUE_BATCHES = 500  # ≈ 10 s of audio when the sender moves one batch per 20 ms frame tick
MAX_GAP_FRAMES = 50  # lost tap frames up to 1 s are replaced by silence so times stay call-relative
SILENT_FRAME = bytes(320)


@dataclass(frozen=True)
class GrammarReport:
    """Words of a question's phrases that the call's model lacks (they can never be recognised)."""

    call_id: str
    item_id: str
    missing_words: tuple[str, ...]


@dataclass
class _Call:
    call_id: str
    locale: str
    worker: int
    item_id: str = ""
    phrases: tuple[str, ...] = ()
    next_seq: int = 0
    specs: dict[str, tuple[FieldSpec, Item | None]] = field(default_factory=dict)


@dataclass
class _Worker:
    index: int
    locale: str
    model_path: str
    process: Any = None
    inbox: Any = None
    conn: Connection | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    pid: int = 0
    restarts: int = 0
    failed: str = ""
    pending: list[tuple[Any, ...]] = field(default_factory=list)


class AsrPool:
    """Live-call speech recognition over a pool of worker processes (implements ``ports.Recognizer``)."""

    def __init__(self, models: Mapping[str, str], on_event: Callable[[object], None] | None = None, *,
                 workers_per_model: int = 1, alternatives: int = 3,
                 today: Callable[[], dt.date] = dt.date.today, nice: int | None = None) -> None:
        """``nice``: the worker processes' nice value (e.g. 10 next to telephony processes; None: inherited)."""
        self._ctx = mp.get_context("spawn")  # never fork a process that may hold pjsua2/socket threads
        self.on_event = on_event
        self.events: queue.Queue[object] = queue.Queue()
        self._today = today
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._workers: list[_Worker] = []
        self._alternatives = alternatives
        self._nice = nice
        for locale, path in models.items():
            for _ in range(max(1, workers_per_model)):
                self._workers.append(_Worker(len(self._workers), locale, path))
        self._calls: dict[str, _Call] = {}
        self._reasons: dict[str, str] = {}
        self.dropped_frames = 0
        self._thread = threading.Thread(target=self._run, name="asr-events", daemon=True)
        self._outgoing = threading.Condition()
        self._sender_stop = False
        self._sender = threading.Thread(target=self._send_loop, name="asr-sender", daemon=True)

    @classmethod
    def from_settings(cls, settings: Settings, on_event: Callable[[object], None] | None = None,
                      today: Callable[[], dt.date] = dt.date.today) -> AsrPool:
        """The pool the composition root starts: models from ``asr_models`` (locales whose model is missing
        are logged and run without proposals), ``asr_workers`` processes per model."""
        models = {locale: str(path) for locale, path in resolve_models(settings.asr_models).items()}
        return cls(models, on_event, workers_per_model=settings.asr_workers, today=today)

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def start(self, wait_ready_s: float | None = 120.0) -> AsrPool:
        for worker in self._workers:
            self._spawn(worker)
        self._thread.start()
        self._sender.start()
        if wait_ready_s is not None:
            self.wait_ready(wait_ready_s)
        return self

    def wait_ready(self, timeout_s: float) -> bool:
        return all(w.ready.wait(timeout_s) for w in self._workers)

    def close(self) -> None:
        for worker in self._workers:
            self._send(worker, ("stop",))
        with self._outgoing:
            self._sender_stop = True
            self._outgoing.notify()
        self._sender.join(5)
        self._closing.set()
        for worker in self._workers:
            if worker.process is not None:
                worker.process.join(10)
                if worker.process.is_alive():
                    worker.process.kill()
        self._thread.join(5)

    def __enter__(self) -> AsrPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, worker: _Worker) -> None:
        worker.ready.clear()
        worker.inbox = self._ctx.Queue(QUEUE_BATCHES)
        worker.inbox.cancel_join_thread()  # at exit or after a crash, queued audio is dropped, never waited on
        reader, writer = self._ctx.Pipe(duplex=False)
        config = WorkerConfig(worker.model_path, alternatives=self._alternatives, nice=self._nice,
                              log_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()))
        worker.process = self._ctx.Process(target=run_worker, args=(worker.index, config, worker.inbox, writer),
                                           name=f"asr-worker-{worker.index}", daemon=True)
        worker.process.start()
        writer.close()
        worker.conn = reader
        logger.info("asr worker=%s locale=%s starting (pid %s)", worker.index, worker.locale, worker.process.pid)

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process is not None]

    def worker_pid(self, call_id: str) -> int | None:
        """The process id of the worker serving ``call_id`` (None for a call without speech)."""
        call = self._calls.get(call_id)
        process = self._workers[call.worker].process if call is not None else None
        return process.pid if process is not None else None

    # ---- the Recognizer port ------------------------------------------------------------------------------
    def open_stream(self, call_id: str, locale: str) -> bool:
        candidates = [w for w in self._workers if w.locale == locale and not w.failed]
        if not candidates:
            configured = any(w.locale == locale for w in self._workers)
            reason = f"the speech model for {locale} failed to load" if configured \
                else f"no speech model for {locale}"
            self._reasons[call_id] = reason
            self._emit(SpeechStatus(call_id, False, reason,
                                    SpeechCode.model_failed if configured else SpeechCode.no_model))
            return False
        with self._lock:
            load = {w.index: 0 for w in candidates}
            for call in self._calls.values():
                if call.worker in load:
                    load[call.worker] += 1
            worker = min(candidates, key=lambda w: load[w.index])
            self._calls[call_id] = _Call(call_id, locale, worker.index)
        self._reasons.pop(call_id, None)
        self._send(worker, ("open", call_id))
        return True

    def reason(self, call_id: str) -> str:
        """Why ``open_stream`` returned False for this call (empty when it did not)."""
        return self._reasons.get(call_id, "")

    def set_grammar(self, call_id: str, item_id: str, phrases: Sequence[str],
                    spec: FieldSpec | None = None) -> None:
        call = self._calls.get(call_id)
        if call is None:
            return
        call.item_id, call.phrases = item_id, tuple(phrases)
        if spec is None and item_id not in call.specs:
            spec = FieldSpec(FieldKind.choice, call.locale, tuple((p, (p,)) for p in phrases))
        if spec is not None:
            call.specs[item_id] = (spec, None)
        self._send(self._workers[call.worker], ("grammar", call_id, item_id, tuple(phrases)))

    def set_item(self, call_id: str, item: Item, locale: str) -> None:
        """Listen for the answer to a questionnaire item (grammar and answer reading from the item)."""
        call = self._calls.get(call_id)
        spec = spec_from_item(item, locale)
        if call is None or spec is None:
            return
        call.specs[item.id] = (spec, item)
        self.set_grammar(call_id, item.id, grammar_phrases(item, locale))

    def feed(self, call_id: str, pcm: bytes) -> None:
        call = self._calls.get(call_id)
        if call is not None:
            self._send(self._workers[call.worker], ("audio", call_id, pcm))

    def tap_sink(self) -> PoolTapSink:
        """A ``ports.TapSink`` for the softphone's audio tap (its ``close`` leaves the pool running)."""
        return PoolTapSink(self)

    def feed_frame(self, frame: AudioFrame) -> None:
        """One tap frame; a gap in ``seq`` (frames the tap dropped) is filled with silence."""
        call = self._calls.get(frame.call_id)
        if call is None or frame.end:
            return
        gap = frame.seq - call.next_seq
        for _ in range(gap if 0 < gap <= MAX_GAP_FRAMES else 0):
            self.feed(frame.call_id, SILENT_FRAME)
        call.next_seq = frame.seq + 1
        self.feed(frame.call_id, frame.pcm)

    def close_stream(self, call_id: str) -> None:
        with self._lock:
            call = self._calls.pop(call_id, None)
        if call is not None:
            self._send(self._workers[call.worker], ("close", call_id))

    # ---- plumbing ----------------------------------------------------------------------------------------
    def _send(self, worker: _Worker, msg: tuple[Any, ...]) -> None:
        """Queue a message for the sender thread (never blocks; audio is what gets dropped when a worker lags)."""
        with self._outgoing:
            worker.pending.append(msg)
            if len(worker.pending) == 1:
                self._outgoing.notify()

    def _send_loop(self) -> None:
        """Moves queued messages to the workers, many per inter-process message when calls are many."""
        while True:
            with self._outgoing:
                while not self._sender_stop and not any(w.pending for w in self._workers):
                    self._outgoing.wait(0.5)
                batches = [(w, w.pending) for w in self._workers if w.pending]
                for w, _ in batches:
                    w.pending = []
                stop = self._sender_stop and not batches
            for worker, msgs in batches:
                self._put(worker, msgs)
            if stop:
                return

    def _put(self, worker: _Worker, msgs: list[tuple[Any, ...]]) -> None:
        try:
            worker.inbox.put(("batch", msgs), block=False)
            return
        except queue.Full:
            control = [m for m in msgs if m[0] != "audio"]
            self._count_dropped(worker, len(msgs) - len(control))
        except (ValueError, OSError, AssertionError):  # the queue of a dead worker; its calls were told
            control = []
            self._count_dropped(worker, len(msgs))
        if control:
            try:
                worker.inbox.put(("batch", control), timeout=2.0)
            except (queue.Full, ValueError, OSError, AssertionError):
                logger.error("asr worker=%s is not taking messages; %s control messages lost", worker.index,
                             len(control))

    def _count_dropped(self, worker: _Worker, frames: int) -> None:
        before = self.dropped_frames
        self.dropped_frames += frames
        if before // 500 != self.dropped_frames // 500 or before == 0:
            logger.warning("asr worker=%s is behind: %s audio frames dropped so far", worker.index,
                           self.dropped_frames)

    def _emit(self, event: object) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                logger.exception("asr on_event callback failed for %s", type(event).__name__)
        else:
            self.events.put(event)

    def _run(self) -> None:
        while not self._closing.is_set() or any(w.process.is_alive() for w in self._workers if w.process):
            by_handle: dict[Any, _Worker] = {}
            for w in self._workers:
                if w.conn is not None:
                    by_handle[w.conn] = w
                if w.process is not None:
                    by_handle[w.process.sentinel] = w
            for handle in wait(list(by_handle), timeout=0.5):
                worker = by_handle[handle]
                try:
                    if isinstance(handle, Connection):
                        self._receive(worker, handle)
                    elif not self._closing.is_set():
                        self._worker_died(worker)
                except Exception:
                    logger.exception("asr worker=%s event handling failed", worker.index)
            if self._closing.is_set() and not by_handle:
                break

    def _receive(self, worker: _Worker, conn: Connection) -> None:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            worker.conn = None
            return
        kind = msg[0]
        if kind == "event":
            self._on_stream_event(msg[2])
        elif kind == "ready":
            worker.pid = msg[2]
            self._reopen_calls(worker)
            worker.ready.set()
        elif kind == "grammar" and msg[4]:
            self._emit(GrammarReport(msg[2], msg[3], tuple(msg[4])))
            logger.warning("asr call=%s item=%s grammar lacks %s words", msg[2], msg[3], len(msg[4]))
        elif kind == "error":
            logger.error("asr worker=%s call=%s error: %s", worker.index, msg[2], msg[3])
        elif kind == "failed":
            worker.failed = msg[2]
            worker.ready.set()
            logger.error("asr worker=%s could not load its model: %s", worker.index, msg[2])

    def _worker_died(self, worker: _Worker) -> None:
        code = worker.process.exitcode
        worker.conn = None
        if worker.failed:
            worker.process = None
            return
        logger.error("asr worker=%s (pid %s) died with exit code %s; restarting", worker.index, worker.pid, code)
        for call in [c for c in self._calls.values() if c.worker == worker.index]:
            self._emit(SpeechStatus(call.call_id, False, "speech recognition restarting; type the answers",
                                    SpeechCode.restarting))
        worker.restarts += 1
        self._spawn(worker)

    def _reopen_calls(self, worker: _Worker) -> None:
        if worker.restarts == 0:
            return
        for call in [c for c in self._calls.values() if c.worker == worker.index]:
            self._send(worker, ("open", call.call_id))
            if call.item_id:
                self._send(worker, ("grammar", call.call_id, call.item_id, call.phrases))
            self._emit(SpeechStatus(call.call_id, True, "speech recognition is back", SpeechCode.back))

    def _on_stream_event(self, event: object) -> None:
        self._emit(event)
        if isinstance(event, Utterance) and event.text:
            proposal = self._proposal(event)
            if proposal is not None:
                self._emit(proposal)
        elif not isinstance(event, (Utterance, PartialText)):
            logger.debug("asr unexpected event %r", type(event).__name__)

    def _proposal(self, utt: Utterance) -> Proposal | None:
        call = self._calls.get(utt.call_id)
        if call is None or utt.item_id not in call.specs:
            return None
        spec, item = call.specs[utt.item_id]
        result = parse_answer(spec, utt.text, utt.confidence, utt.alternatives, today=self._today())
        value = answer_value(item, result) if item is not None else to_jsonable(result.value)
        return Proposal(utt.call_id, utt.item_id, value, result.confidence, utt.text, utt.t0_s, utt.t1_s,
                        result.needs_confirmation, tuple(r.value for r in result.reasons), closed_at=utt.closed_at)


class PoolTapSink:
    """Adapts the pool to ``callcenter.ports.TapSink`` (called on the tap's sender thread)."""

    def __init__(self, pool: AsrPool) -> None:
        self._pool = pool

    def send(self, frame: AudioFrame) -> None:
        self._pool.feed_frame(frame)

    def close(self) -> None:
        """The tap is done; the pool belongs to the composition root and keeps running."""


def _implements_ports(pool: AsrPool) -> tuple[Recognizer, TapSink]:
    """Never called: mypy checks here that the pool is a ``ports.Recognizer`` and its sink a ``ports.TapSink``."""
    return pool, pool.tap_sink()
