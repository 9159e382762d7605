"""The ASR worker process: one Vosk model, every call's stream, fed by a queue of small messages.

Input messages (tuples, so they pickle fast), usually several in one ``("batch", [messages])``:
``("audio", call_id, pcm)`` — 20 ms of 8 kHz 16-bit mono PCM,
``("open", call_id)``, ``("grammar", call_id, item_id, phrases)``, ``("close", call_id)``, ``("stop",)``.
Output events on the worker's own pipe (one writer per pipe, so a killed worker cannot leave a shared lock
held): ``("ready", worker_id, pid)``, ``("event", worker_id, PartialText |
Utterance)``, ``("grammar", worker_id, call_id, item_id, missing_words)``, ``("error", worker_id, call_id,
message)``, ``("closed", worker_id, call_id)``.

A message that fails is reported and the loop goes on (one bad call never stops the others).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

from asr.grammar import build_grammar
from asr.segmenter import SegmenterConfig
from asr.stream import CallStream
from asr.vad import WebrtcVad
from asr.vosk_engine import VoskModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    model_path: str
    vad_mode: int = 2
    alternatives: int = 3
    segmenter: SegmenterConfig = SegmenterConfig()
    log_level: str = "WARNING"
    nice: int | None = None  # this process's nice value (e.g. 10: never compete with telephony for the CPU)


def run_worker(worker_id: int, config: WorkerConfig, inbox: Queue[Any], outbox: Connection) -> None:
    """Entry point of a worker process (spawned): load the model once, then serve messages until stop."""
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s asr-worker-%(process)d: %(message)s")
    if config.nice is not None:  # absolute: a worker spawned by a raised telephony process must not inherit that
        try:
            os.setpriority(os.PRIO_PROCESS, 0, config.nice)
        except OSError as exc:
            logger.warning("cannot set nice %s: %s", config.nice, exc.strerror)
    try:
        model = VoskModel(config.model_path)
    except Exception as exc:  # report why, so the pool does not restart in a loop blindly
        outbox.send(("failed", worker_id, str(exc)))
        return
    outbox.send(("ready", worker_id, os.getpid()))
    streams: dict[str, CallStream] = {}
    while True:
        batch = inbox.get()
        for msg in batch[1] if batch[0] == "batch" else [batch]:
            kind = msg[0]
            if kind == "stop":
                outbox.send(("stopped", worker_id))
                return
            call_id = msg[1] if len(msg) > 1 else ""
            try:
                _handle(worker_id, config, model, streams, msg, outbox)
            except Exception as exc:
                logger.exception("worker=%s call=%s message %s failed", worker_id, call_id, kind)
                outbox.send(("error", worker_id, call_id, f"{type(exc).__name__}: {exc}"))


def _new_stream(call_id: str, config: WorkerConfig, model: VoskModel) -> CallStream:
    vad = WebrtcVad(config.vad_mode)
    return CallStream(call_id, vad.is_speech, lambda grammar: model.decoder(grammar, 8000, config.alternatives),
                      config.segmenter)


def _handle(worker_id: int, config: WorkerConfig, model: VoskModel, streams: dict[str, CallStream],
            msg: tuple[Any, ...], outbox: Connection) -> None:
    kind, call_id = msg[0], msg[1]
    if kind == "audio":
        stream = streams.get(call_id)
        if stream is not None:
            for event in stream.feed(msg[2]):
                outbox.send(("event", worker_id, event))
    elif kind == "open":
        streams[call_id] = _new_stream(call_id, config, model)
    elif kind == "grammar":
        item_id, phrases = msg[2], msg[3]
        grammar = build_grammar(phrases, model.has_word)
        stream = streams.get(call_id)
        if stream is not None:
            stream.set_grammar(item_id, grammar.to_json() if grammar.phrases else "")
        outbox.send(("grammar", worker_id, call_id, item_id, grammar.missing_words))
    elif kind == "close":
        stream = streams.pop(call_id, None)
        if stream is not None:
            for event in stream.close():
                outbox.send(("event", worker_id, event))
        outbox.send(("closed", worker_id, call_id))
    else:
        raise ValueError(f"unknown worker message {kind!r}")
