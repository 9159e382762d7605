"""The decoder's result for one utterance (pure), and how Vosk's JSON maps onto it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DecodedWord:
    text: str
    start_s: float
    end_s: float
    confidence: float


@dataclass(frozen=True)
class Decoded:
    """One utterance's final result. ``confidence`` is the minimum word confidence (words mode) or the top
    hypothesis' posterior among the n-best (alternatives mode); ``alternatives`` are the other n-best texts."""

    text: str
    words: tuple[DecodedWord, ...]
    confidence: float
    alternatives: tuple[str, ...] = ()


def _words(items: list[dict[str, Any]], default_conf: float) -> tuple[DecodedWord, ...]:
    return tuple(
        DecodedWord(str(w["word"]), float(w["start"]), float(w["end"]), float(w.get("conf", default_conf)))
        for w in items if w.get("word") not in ("<UNK>", "[unk]")
    )


def parse_result(res: dict[str, Any]) -> Decoded:
    """Vosk's final-result JSON (words mode or alternatives mode) → ``Decoded``."""
    if "alternatives" in res:
        alts = [a for a in res["alternatives"] if str(a.get("text", "")).strip()]
        if not alts:
            return Decoded("", (), 0.0)
        scores = [float(a.get("confidence", 0.0)) for a in alts]
        top = max(scores)
        posterior = 1.0 / sum(math.exp(s - top) for s in scores)
        words = _words(list(alts[0].get("result", [])), posterior)
        return Decoded(" ".join(w.text for w in words), words, round(posterior, 4),
                       tuple(str(a["text"]).strip() for a in alts[1:]))
    words = _words(list(res.get("result", [])), 1.0)
    text = " ".join(w.text for w in words) if words else ""
    confidence = min((w.confidence for w in words), default=0.0)
    return Decoded(text, words, confidence)
