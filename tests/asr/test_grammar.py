"""Grammars fitted to a vocabulary; words the model lacks are reported, not silently dropped."""

from __future__ import annotations

import json

from asr.grammar import build_grammar, fit_phrase, segment

VOCAB = {"네", "있어요", "맞", "아요", "없", "어요", "<UNK>", "没有", "好", "多", "了"}


def has_word(w: str) -> bool:
    return w in VOCAB


def test_phrase_without_spaces_is_cut_into_the_longest_known_words() -> None:
    assert segment("맞아요", has_word) == (["맞", "아요"], [])
    assert fit_phrase("好多了", has_word) == ("好 多 了", ())


def test_unknown_word_is_reported_and_its_phrase_dropped() -> None:
    grammar = build_grammar(["네", "괜찮아요", "없어요"], has_word)
    assert grammar.phrases == ("네", "없 어요")
    assert grammar.missing_words == ("괜찮아요",)
    assert grammar.dropped_phrases == ("괜찮아요",)


def test_grammar_json_keeps_unicode_and_adds_the_models_unknown_token() -> None:
    grammar = build_grammar(["没有", "네"], has_word)
    text = grammar.to_json()
    assert "没有" in text and "\\u" not in text
    assert json.loads(text) == ["没有", "네", "<UNK>"]


def test_no_unknown_token_when_the_model_has_none() -> None:
    assert build_grammar(["네"], lambda w: w == "네").to_json() == '["네"]'
