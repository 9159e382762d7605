"""Vosk (offline Kaldi) adapter: the one module that imports ``vosk``.

``VoskModel`` loads a model directory once (≈ 2 s, ≈ 550 MB) and is shared by every call's decoder in the
process. ``VoskDecoder`` decodes one utterance with one grammar: 8 kHz telephone PCM goes in as is (Vosk
resamples internally), the final result comes out as ``Decoded`` (text, words with times and confidences,
n-best alternatives).

A fresh Kaldi recogniser is made per utterance (< 1 ms with a grammar): Vosk's word times keep running across
``FinalResult()`` with an offset it does not expose, and a recogniser that never outlives its utterance can
never get ``SetGrammar()`` mid-utterance (which aborts the whole process). Free decoding (no grammar) is
refused for live calls (``allow_free`` is for offline tools): it costs RTF 0.2–1.3 and grows by 150 MB per
recogniser (RECIPES).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import vosk

from asr.decoded import Decoded, parse_result
from asr.errors import ModelError

logger = logging.getLogger(__name__)

vosk.SetLogLevel(-1)


class VoskModel:
    """A loaded model directory; thread-safe to share between decoders (Vosk releases the GIL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / "am" / "final.mdl").is_file() and not (self.path / "final.mdl").is_file():
            raise ModelError(f"{self.path} is not a Vosk model directory (no am/final.mdl); check the path in "
                             "CALLCENTER_ASR_MODELS or run `callcenter models list`")
        try:
            self._model = vosk.Model(str(self.path))
        except Exception as exc:  # vosk raises a bare Exception when Kaldi fails to load
            raise ModelError(f"Vosk could not load {self.path}: {exc}; run `callcenter models verify "
                             f"{self.path}`") from exc
        logger.info("loaded speech model %s", self.path)

    def has_word(self, word: str) -> bool:
        return bool(self._model.vosk_model_find_word(word) != -1)

    def decoder(self, grammar_json: str, sample_rate_hz: int = 8000, alternatives: int = 0,
                allow_free: bool = False) -> VoskDecoder:
        return VoskDecoder(self, grammar_json, sample_rate_hz, alternatives, allow_free)

    @property
    def native(self) -> Any:
        return self._model


class VoskDecoder:
    """Decodes exactly one utterance with one grammar."""

    def __init__(self, model: VoskModel, grammar_json: str, sample_rate_hz: int = 8000,
                 alternatives: int = 0, allow_free: bool = False) -> None:
        free = not grammar_json or json.loads(grammar_json) == []
        if free and not allow_free:
            raise ModelError("a decoder needs a grammar: free decoding is too slow for live calls")
        self._rec = (vosk.KaldiRecognizer(model.native, sample_rate_hz) if free
                     else vosk.KaldiRecognizer(model.native, sample_rate_hz, grammar_json))
        self._rec.SetWords(True)
        if alternatives > 0:
            self._rec.SetMaxAlternatives(alternatives)
        self._finished = False

    def accept(self, pcm: bytes) -> None:
        if self._finished:
            raise ModelError("this decoder's utterance is finished; make a new decoder")
        self._rec.AcceptWaveform(pcm)

    def partial(self) -> str:
        return str(json.loads(self._rec.PartialResult()).get("partial", ""))

    def final(self) -> Decoded:
        self._finished = True
        return parse_result(json.loads(self._rec.FinalResult()))
