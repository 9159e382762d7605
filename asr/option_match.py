"""Nearest-option matching of recognised text to the spoken phrases of answer options (pure).

Chinese is compared as toneless pinyin syllables with 模糊音 folding (zh/ch/sh → z/c/s, -ng → -n, n → l), so
ASR homophone errors such as 梅有 → 没有 or 号多了 → 好多了 still find their option. Korean is compared syllable
block by syllable block with spaces removed (Vosk's Korean output is morpheme-segmented: 좋아졌 어요).

The rule: every phrase that occurs as a contiguous run of syllables is a candidate; a candidate overlapping a
longer (or, at equal length, an earlier) one is dropped (没有 hides 有, 不是 hides 是); the longest survivor wins, the earliest on ties (the answer comes
first, then the elaboration: 没有啊，我一直都好好的); other options heard are reported as competing. Without any exact occurrence, a fuzzy ratio on the pinyin of same-length windows (≥ 80) is tried
for phrases of three syllables or more. Matching never guesses from a plain substring of characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pypinyin import lazy_pinyin
from rapidfuzz import fuzz

FUZZY_THRESHOLD = 80.0

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_FOLD_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))
# Words that carry no answer; left out when judging how much of an utterance an option covers.
_FILLERS = re.compile("就是|那个|这个|自己|有点|一点|反正|然后|其实|我们|[了吧啊呢呀嘛哦噢喔哈额呃嗯的我他她就]")


@dataclass(frozen=True)
class OptionMatch:
    """The option a text maps to, and how well."""

    value: str
    phrase: str
    score: float  # 1.0 for an exact (folded) syllable match, else the fuzzy ratio / 100
    coverage: float  # share of the text's syllables covered by the phrase
    exact: bool
    competing: tuple[str, ...] = ()  # other option values also heard in the text


def _fold(syllable: str) -> str:
    s = syllable.lower()
    for long, short in _FOLD_INITIALS:
        if s.startswith(long):
            s = short + s[len(long):]
            break
    if s.startswith("n") and not s.startswith("ng"):
        s = "l" + s[1:]
    if s.endswith("ng"):
        s = s[:-1]
    return s


def is_korean(locale: str) -> bool:
    return locale.lower().startswith("ko")


def syllables(text: str, locale: str) -> tuple[str, ...]:
    """The comparison units of a text: folded toneless pinyin (zh) or Hangul blocks (ko); the rest is dropped."""
    if is_korean(locale):
        return tuple(_HANGUL.findall(text))
    return tuple(_fold(s) for s in lazy_pinyin(text, errors="ignore") if s.isalpha())


def _occurrences(needle: Sequence[str], hay: Sequence[str]) -> list[int]:
    n = len(needle)
    return [i for i in range(len(hay) - n + 1) if tuple(hay[i:i + n]) == tuple(needle)] if n else []


@dataclass(frozen=True)
class _Hit:
    value: str
    phrase: str
    start: int
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length


def _exact_hits(units: Sequence[str], table: Iterable[tuple[str, str, tuple[str, ...]]]) -> list[_Hit]:
    hits = [
        _Hit(value, phrase, start, len(p_units))
        for value, phrase, p_units in table
        for start in _occurrences(p_units, units)
    ]
    # Longest first, then earliest: a hit overlapping one already kept is dropped (没有 hides its 有, and
    # 没有啊 is 没有 + 啊, not 没 + 有啊).
    kept: list[_Hit] = []
    for h in sorted(hits, key=lambda h: (-h.length, h.start)):
        if all(h.end <= k.start or k.end <= h.start for k in kept):
            kept.append(h)
    return kept


def _fuzzy_best(units: Sequence[str], table: Iterable[tuple[str, str, tuple[str, ...]]],
                locale: str) -> tuple[float, str, str, int] | None:
    """The best fuzzy (ratio, value, phrase, width); None when two options are equally close (어요 is as near
    있어요 as 없어요: guessing would be a coin toss)."""
    sep = "" if is_korean(locale) else " "
    best_per_value: dict[str, tuple[float, str, str, int]] = {}
    for value, phrase, p_units in table:
        n = len(p_units)
        if n < 3 or not units:  # two-syllable fuzzy matches are mostly accidents (饭了 ≈ 忘了)
            continue
        target = sep.join(p_units)
        for width in {max(1, n - 1), n, n + 1}:
            for start in range(0, max(1, len(units) - width + 1)):
                window = sep.join(units[start:start + width])
                ratio = fuzz.ratio(target, window)
                if ratio >= FUZZY_THRESHOLD and ratio > best_per_value.get(value, (0.0,))[0]:
                    best_per_value[value] = (ratio, value, phrase, min(width, len(units)))
    ranked = sorted(best_per_value.values(), reverse=True)
    if not ranked or (len(ranked) > 1 and ranked[1][0] >= ranked[0][0] - 1.0):
        return None
    return ranked[0]


def match_option(text: str, options: Mapping[str, Sequence[str]], locale: str) -> OptionMatch | None:
    """The option whose phrase is heard in ``text``; None when nothing is close enough."""
    units = syllables(text, locale)
    if not units:
        return None
    table = [
        (value, phrase, p_units)
        for value, phrases in options.items()
        for phrase in phrases
        if (p_units := syllables(phrase, locale))
    ]
    hits = _exact_hits(units, table)
    if hits:
        top = max(h.length for h in hits)
        best = min((h for h in hits if h.length == top), key=lambda h: h.start)
        competing = tuple(sorted({h.value for h in hits} - {best.value}))
        covered = len({i for h in hits if h.value == best.value for i in range(h.start, h.end)})
        return OptionMatch(best.value, best.phrase, 1.0, _coverage(covered, text, locale), True, competing)
    fuzzy = _fuzzy_best(units, table, locale)
    if fuzzy is None:
        return None
    ratio, value, phrase, width = fuzzy
    return OptionMatch(value, phrase, ratio / 100.0, _coverage(width, text, locale), False)


def _coverage(covered: int, text: str, locale: str) -> float:
    content = len(syllables(_FILLERS.sub("", text), locale)) if not is_korean(locale) else len(syllables(text, locale))
    return 1.0 if content <= covered else covered / content
