"""Patient personas for the simulator (pure): the YAML format, its checks, and one call's conversation.

A persona answers the caller's questions in order — the simulator does not understand speech, it waits for
the caller to finish each utterance and says the next answer; answers keyed by question id are put in the order
the questionnaire's branching will ask them — with think-time pauses, hesitations, sometimes an
off-topic reply (the question is then answered when repeated) and sometimes a hang-up, all drawn from a seeded
random generator so that a demo or a test is reproducible. Format: docs/headsets.md#patient-simulator and the
shipped files in ``softphone/personas/``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scripts_questionnaires.engine import Engine
from scripts_questionnaires.errors import ScriptError
from scripts_questionnaires.library import library_script
from scripts_questionnaires.model import ItemType, Script
from softphone.errors import SoftphoneError

PERSONA_DIR = Path(__file__).parent / "personas"


class PersonaError(SoftphoneError):
    """A persona file is invalid; the message names the file and the field."""

    status = 422


@dataclass(frozen=True)
class Turn:
    say: str
    question: str = ""  # the questionnaire item this answers (documentation and cross-checks)


@dataclass(frozen=True)
class Persona:
    key: str
    language: str
    turns: tuple[Turn, ...]
    title: str = ""
    questionnaire: str = ""  # key of the script these turns answer, e.g. "ko-test"
    espeak_voice: str = ""
    rate_wpm: int = 150
    pitch: int = 50
    greeting: str = ""
    closing: str = ""
    think_ms: tuple[int, int] = (400, 1200)
    end_of_speech_ms: int = 700
    hesitation_probability: float = 0.0
    hesitations: tuple[str, ...] = ()
    off_topic_probability: float = 0.0
    off_topics: tuple[str, ...] = ()
    hang_up_probability: float = 0.0  # per answer
    hang_up_after_turn: int = 0  # hang up right after answering this turn (1-based); 0: never
    hang_up_phrase: str = ""
    seed: int = 0

    def texts(self) -> list[str]:
        """Every sentence the persona may say, to synthesise ahead of the first call."""
        out = [t.say for t in self.turns] + list(self.hesitations) + list(self.off_topics)
        out += [s for s in (self.greeting, self.closing, self.hang_up_phrase) if s]
        return list(dict.fromkeys(out))


# -- actions of one call ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pause:
    ms: int


@dataclass(frozen=True)
class Say:
    text: str
    kind: str  # greeting | answer | hesitation | off_topic | closing | hang_up


@dataclass(frozen=True)
class HangUp:
    pass


Action = Pause | Say | HangUp


@dataclass
class Conversation:
    """One call with a persona: what to do when the call is answered and after each caller utterance."""

    persona: Persona
    rng: random.Random
    turn: int = 0  # answers given so far
    ended: bool = False
    log: list[str] = field(default_factory=list)  # kinds said, in order (for tests and the summary)

    @classmethod
    def for_call(cls, persona: Persona, call_index: int) -> Conversation:
        return cls(persona, random.Random(f"{persona.seed}:{call_index}"))

    def _think(self) -> Pause:
        low, high = self.persona.think_ms
        return Pause(self.rng.randint(low, high))

    def _say(self, text: str, kind: str) -> Say:
        self.log.append(kind)
        return Say(text, kind)

    def on_answered(self) -> list[Action]:
        if not self.persona.greeting:
            return []
        return [Pause(300), self._say(self.persona.greeting, "greeting")]

    def on_caller_finished(self) -> list[Action]:
        p = self.persona
        if self.ended:
            return []
        if self.turn >= len(p.turns):
            self.ended = True
            return [self._think(), self._say(p.closing, "closing")] if p.closing else []
        if p.hang_up_phrase and p.hang_up_probability and self.rng.random() < p.hang_up_probability:
            return self._hang_up([self._think()])
        if p.off_topics and p.off_topic_probability and self.rng.random() < p.off_topic_probability:
            return [self._think(), self._say(self.rng.choice(p.off_topics), "off_topic")]
        actions: list[Action] = [self._think()]
        if p.hesitations and p.hesitation_probability and self.rng.random() < p.hesitation_probability:
            actions += [self._say(self.rng.choice(p.hesitations), "hesitation"), Pause(self.rng.randint(200, 600))]
        actions.append(self._say(p.turns[self.turn].say, "answer"))
        self.turn += 1
        if p.hang_up_after_turn and self.turn == p.hang_up_after_turn:
            return self._hang_up(actions + [Pause(300)])
        return actions

    def _hang_up(self, actions: list[Action]) -> list[Action]:
        self.ended = True
        if self.persona.hang_up_phrase:
            actions.append(self._say(self.persona.hang_up_phrase, "hang_up"))
        actions.append(HangUp())
        return actions


# -- loading ------------------------------------------------------------------------------------------------------
_TOP_KEYS = {"title", "language", "questionnaire", "voice", "seed", "greeting", "closing", "think_ms",
             "end_of_speech_ms", "hesitation", "off_topic", "hang_up", "turns", "answers"}
ScriptLookup = Callable[[str], Script]


def turns_from_answers(script: Script, answers: Mapping[str, Any], source: str) -> tuple[Turn, ...]:
    """The turns in the order the nurse will ask, following the script's branching with the persona's values.

    ``answers`` maps a question id to ``{say: words, value: typed answer}`` (info items need only ``say``).
    """
    engine = Engine(script)
    state = engine.start()
    turns: list[Turn] = []
    while (item := engine.current_item(state)) is not None:
        spec = answers.get(item.id)
        after = f" (after {turns[-1].question})" if turns else ""
        if not isinstance(spec, dict) or not isinstance(spec.get("say"), str) or not spec["say"].strip():
            raise PersonaError(f"{source}: answers.{item.id} needs `say:` — {script.key} asks {item.id!r}{after}: "
                               f"{item.text}")
        try:
            if item.type is ItemType.info:
                state = engine.deliver(state, item.id)
            elif "value" not in spec:
                raise PersonaError(f"{source}: answers.{item.id} needs `value:` (the typed answer, e.g. yes / 7) "
                                   f"so that the script's branching can be followed")
            else:
                state = engine.answer(state, item.id, spec["value"])
        except ScriptError as exc:
            raise PersonaError(f"{source}: answers.{item.id}: {exc}") from exc
        turns.append(Turn(say=spec["say"].strip(), question=item.id))
    unused = sorted(set(answers) - {t.question for t in turns} - {i.id for i in script.items})
    if unused:
        raise PersonaError(f"{source}: answers for {unused}, which {script.key} does not have")
    return tuple(turns)


def _probability(where: str, value: Any) -> float:
    if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise PersonaError(f"{where}: probability must be a number from 0 to 1, got {value!r}")
    return float(value)


def _phrases(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PersonaError(f"{where}: must be a list of non-empty sentences")
    return tuple(v.strip() for v in value)


def _section(where: str, value: Any, keys: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) - keys:
        raise PersonaError(f"{where}: must be a mapping with keys {sorted(keys)}")
    return value


def _turns(data: dict[str, Any], source: str, script_lookup: ScriptLookup) -> tuple[Turn, ...]:
    if ("turns" in data) == ("answers" in data):
        raise PersonaError(f"{source}: give either turns (answers in order) or answers (keyed by question id, "
                           "with questionnaire)")
    if "answers" in data:
        key = data.get("questionnaire")
        if not isinstance(key, str) or not key:
            raise PersonaError(f"{source}: answers keyed by question id need `questionnaire:` (the script key)")
        if not isinstance(data["answers"], dict) or not data["answers"]:
            raise PersonaError(f"{source}: answers must map question ids to `{{say: ..., value: ...}}`")
        try:
            script = script_lookup(key)
        except KeyError as exc:
            raise PersonaError(f"{source}: questionnaire: {exc.args[0]}") from exc
        return turns_from_answers(script, data["answers"], source)
    raw_turns = data["turns"]
    if not isinstance(raw_turns, list) or not raw_turns:
        raise PersonaError(f"{source}: turns must be a non-empty list of answers (`- say: ...`)")
    turns = []
    for i, item in enumerate(raw_turns, 1):
        if isinstance(item, str):
            item = {"say": item}
        if not isinstance(item, dict) or not isinstance(item.get("say"), str) or not item["say"].strip():
            raise PersonaError(f"{source}: turns[{i}] needs `say:` with the answer's words")
        turns.append(Turn(say=item["say"].strip(), question=str(item.get("question", ""))))
    return tuple(turns)


def parse_persona(text: str, source: str, script_lookup: ScriptLookup = library_script) -> Persona:
    """A persona from YAML ``text``; errors name ``source`` (a file path) and the field.

    ``script_lookup`` finds the questionnaire of a persona whose answers are keyed by question id (default: the
    built-in library)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise PersonaError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(data, dict):
        raise PersonaError(f"{source}: a persona is a YAML mapping (see softphone/personas/ for examples)")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PersonaError(f"{source}: unknown keys {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    language = data.get("language")
    if not isinstance(language, str) or not language:
        raise PersonaError(f"{source}: language is required (e.g. zh-CN, ko-KR)")
    turns = _turns(data, source, script_lookup)
    voice = _section(f"{source}: voice", data.get("voice"), {"espeak", "rate_wpm", "pitch"})
    hes = _section(f"{source}: hesitation", data.get("hesitation"), {"probability", "phrases"})
    off = _section(f"{source}: off_topic", data.get("off_topic"), {"probability", "phrases"})
    hang = _section(f"{source}: hang_up", data.get("hang_up"), {"probability", "after_turn", "phrase"})
    think = data.get("think_ms", [400, 1200])
    if (not isinstance(think, list) or len(think) != 2 or not all(isinstance(x, int) and x >= 0 for x in think)
            or think[0] > think[1]):
        raise PersonaError(f"{source}: think_ms must be [min, max] in milliseconds, e.g. [400, 1200]")
    after_turn = hang.get("after_turn", 0) or 0
    if not isinstance(after_turn, int) or not 0 <= after_turn <= len(turns):
        raise PersonaError(f"{source}: hang_up.after_turn must be a turn number from 1 to {len(turns)}")
    persona = Persona(
        key=Path(source).stem,
        language=language,
        turns=turns,
        title=str(data.get("title", "")),
        questionnaire=str(data.get("questionnaire", "")),
        espeak_voice=str(voice.get("espeak", "")),
        rate_wpm=int(voice.get("rate_wpm", 150)),
        pitch=int(voice.get("pitch", 50)),
        greeting=str(data.get("greeting") or "").strip(),
        closing=str(data.get("closing") or "").strip(),
        think_ms=(think[0], think[1]),
        end_of_speech_ms=int(data.get("end_of_speech_ms", 700)),
        hesitation_probability=_probability(f"{source}: hesitation.probability", hes.get("probability", 0)),
        hesitations=_phrases(f"{source}: hesitation.phrases", hes.get("phrases")),
        off_topic_probability=_probability(f"{source}: off_topic.probability", off.get("probability", 0)),
        off_topics=_phrases(f"{source}: off_topic.phrases", off.get("phrases")),
        hang_up_probability=_probability(f"{source}: hang_up.probability", hang.get("probability", 0)),
        hang_up_after_turn=after_turn,
        hang_up_phrase=str(hang.get("phrase") or "").strip(),
        seed=int(data.get("seed", 0)),
    )
    if (persona.hang_up_probability or persona.hang_up_after_turn) and not persona.hang_up_phrase:
        raise PersonaError(f"{source}: hang_up needs `phrase:` (what the patient says before hanging up)")
    return persona


def shipped_personas() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PERSONA_DIR.glob("*.yaml"))}


def load_persona(name_or_path: str) -> Persona:
    """A persona file, or the name of a shipped one (``callcenter patient-sim --persona zh-hypertension``)."""
    path = Path(name_or_path)
    if not path.is_file():
        shipped = shipped_personas()
        if name_or_path not in shipped:
            raise PersonaError(f"persona {name_or_path!r} is neither a file nor a shipped persona "
                               f"({', '.join(shipped)})")
        path = shipped[name_or_path]
    return parse_persona(path.read_text(encoding="utf-8"), str(path))
