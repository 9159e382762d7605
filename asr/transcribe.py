"""Transcribe a WAV file offline with the live pipeline (VAD → segmenter → Vosk), optionally with a grammar
and reading answers: what ``callcenter asr transcribe`` runs, and a way to try a question's grammar on audio."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asr.field_types import FieldResult, FieldSpec
from asr.fields import parse_answer
from asr.grammar import Grammar, build_grammar
from asr.stream import CallStream
from asr.synth import frames, read_pcm
from asr.vad import FRAME_MS, WebrtcVad
from asr.vosk_engine import VoskModel
from callcenter.ports import Utterance

SUPPORTED_RATES_HZ = (8000, 16000, 32000, 48000)  # what webrtcvad accepts


@dataclass(frozen=True)
class Transcript:
    utterances: tuple[Utterance, ...]
    answers: tuple[FieldResult | None, ...]  # one per utterance when a spec was given
    grammar: Grammar | None
    duration_s: float


def transcribe_file(path: Path, model: VoskModel, phrases: Sequence[str] | None = None,
                    spec: FieldSpec | None = None, alternatives: int = 3,
                    today: dt.date | None = None) -> Transcript:
    pcm, rate = read_pcm(path)
    if rate not in SUPPORTED_RATES_HZ:
        raise ValueError(f"{path}: {rate} Hz is not supported; convert it: sox {path} -r 8000 out.wav")
    grammar = build_grammar(phrases, model.has_word) if phrases is not None else None
    vad = WebrtcVad(sample_rate_hz=rate)
    stream = CallStream(path.name, vad.is_speech,
                        lambda g: model.decoder(g, rate, alternatives, allow_free=True),
                        decode_without_grammar=True)
    if grammar is not None and grammar.phrases:
        stream.set_grammar("", grammar.to_json())
    utterances: list[Utterance] = []
    for frame in frames(pcm, rate * FRAME_MS // 1000 * 2):
        utterances.extend(e for e in stream.feed(frame) if isinstance(e, Utterance))
    utterances.extend(e for e in stream.close() if isinstance(e, Utterance))
    answers = tuple(
        parse_answer(spec, u.text, u.confidence, u.alternatives, today=today or dt.date.today()) if spec else None
        for u in utterances
    )
    return Transcript(tuple(utterances), answers, grammar, len(pcm) / 2 / rate)
