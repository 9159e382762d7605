"""Recogniser grammars (pure): phrase lists fitted to a model's vocabulary, with what does not fit reported.

A Vosk grammar is a JSON list of phrases whose space-separated words must all be in the model's vocabulary;
a word that is not is silently dropped by Vosk (one log line), so a script's phrase could never be heard.
``build_grammar`` fits each phrase to the vocabulary — a phrase written without spaces (好多了, 맞아요) is cut
greedily into the longest known words (맞 아요) — and reports the words it could not fit, so the script check
names them instead of the recogniser silently ignoring them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

MAX_WORD_CHARS = 8


@dataclass(frozen=True)
class Grammar:
    """Phrases ready for the recogniser, and what could not be fitted to its vocabulary."""

    phrases: tuple[str, ...]
    missing_words: tuple[str, ...] = ()
    dropped_phrases: tuple[str, ...] = ()
    unknown_token: str = ""

    def to_json(self) -> str:
        """The JSON the recogniser takes; ``ensure_ascii=False`` (escaped unicode matches no word)."""
        words = list(self.phrases) + ([self.unknown_token] if self.unknown_token else [])
        return json.dumps(words, ensure_ascii=False)


def segment(text: str, has_word: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """Cut one space-free chunk into the longest vocabulary words, left to right.

    Returns (words, missing): a character no word starts with is reported missing.
    """
    words: list[str] = []
    missing: list[str] = []
    i = 0
    while i < len(text):
        for j in range(min(len(text), i + MAX_WORD_CHARS), i, -1):
            if has_word(text[i:j]):
                words.append(text[i:j])
                i = j
                break
        else:
            missing.append(text[i])
            i += 1
    return words, missing


def fit_phrase(phrase: str, has_word: Callable[[str], bool]) -> tuple[str, tuple[str, ...]]:
    """A phrase rewritten in vocabulary words (``""`` if nothing fits) and the words that did not fit."""
    out: list[str] = []
    missing: list[str] = []
    for chunk in phrase.split():
        if has_word(chunk):
            out.append(chunk)
            continue
        words, lost = segment(chunk, has_word)
        if lost:
            missing.append(chunk)
        else:
            out.extend(words)
    return (" ".join(out) if not missing else ""), tuple(missing)


def build_grammar(phrases: Iterable[str], has_word: Callable[[str], bool],
                  unknown_tokens: Sequence[str] = ("<UNK>", "[unk]")) -> Grammar:
    """Fit ``phrases`` to the vocabulary; add the model's unknown-word token if it has one."""
    kept: dict[str, None] = {}
    missing: dict[str, None] = {}
    dropped: list[str] = []
    for phrase in phrases:
        fitted, lost = fit_phrase(phrase, has_word)
        for word in lost:
            missing.setdefault(word, None)
        if fitted:
            kept.setdefault(fitted, None)
        else:
            dropped.append(phrase)
    unk = next((t for t in unknown_tokens if has_word(t)), "")
    return Grammar(tuple(kept), tuple(missing), tuple(dropped), unk)
