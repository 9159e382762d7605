"""The questionnaire model: frozen values built by the loader (``loader.py``) or the FHIR importer.

A :class:`Script` is an ordered tuple of :class:`Item`; an item is asked when its ``when`` condition is true
(or it has none). Options carry the spoken phrases that mean them, per locale — the ASR grammar and the
matcher are built from :meth:`Item.phrases`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from scripts_questionnaires.errors import Pos


class ItemType(enum.StrEnum):
    yes_no = "yes_no"
    single_choice = "single_choice"
    multi_choice = "multi_choice"
    number = "number"
    blood_pressure = "blood_pressure"
    scale = "scale"
    date = "date"
    duration = "duration"
    text = "text"
    info = "info"
    appointment = "appointment"


#: Item types whose answer is one of the item's options.
CHOICE_TYPES = frozenset({ItemType.yes_no, ItemType.single_choice, ItemType.multi_choice})
#: Item types whose answer is a number within ``Item.range``.
NUMERIC_TYPES = frozenset({ItemType.number, ItemType.scale, ItemType.duration})


class AlertSeverity(enum.StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


#: Units a duration item may use (UCUM codes).
DURATION_UNITS = ("min", "h", "d", "wk", "mo")


@dataclass(frozen=True)
class NumberRange:
    """Accepted numbers: ``minimum <= value <= maximum`` with at most ``decimals`` decimal places."""

    minimum: float
    maximum: float
    decimals: int = 0
    unit: str = ""

    def contains(self, value: float) -> bool:
        return self.minimum <= value <= self.maximum

    def to_dict(self) -> dict[str, Any]:
        return {"min": self.minimum, "max": self.maximum, "decimals": self.decimals, "unit": self.unit}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumberRange:
        return cls(float(data["min"]), float(data["max"]), int(data.get("decimals", 0)), str(data.get("unit", "")))


#: Default plausible ranges of a home blood-pressure reading (mmHg).
SYSTOLIC_RANGE = NumberRange(60, 260, 0, "mmHg")
DIASTOLIC_RANGE = NumberRange(30, 160, 0, "mmHg")


@dataclass(frozen=True)
class Option:
    """One answer option. ``say`` maps a locale (``zh-CN``) to the phrases a patient says to mean it."""

    value: str
    label: str
    say: dict[str, tuple[str, ...]] = field(default_factory=dict)
    score: float | None = None
    dtmf: str | None = None
    exclusive: bool = False  # multi choice: "none of these" cannot be combined with other options
    pos: Pos | None = field(default=None, compare=False)
    # where each phrase of ``say`` is written (locale → one position per phrase; empty when not loaded from YAML)
    say_pos: dict[str, tuple[Pos, ...]] = field(default_factory=dict, compare=False, repr=False)

    def phrases(self, locale: str) -> tuple[str, ...]:
        return self.say.get(locale, ())

    def phrase_pos(self, locale: str, phrase: str) -> Pos | None:
        """Where ``phrase`` of ``locale`` is written in the script file (else the option's place)."""
        for said, pos in zip(self.say.get(locale, ()), self.say_pos.get(locale, ()), strict=False):
            if said == phrase:
                return pos
        return self.pos

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"value": self.value, "label": self.label,
                                "say": {k: list(v) for k, v in self.say.items()}}
        if self.score is not None:
            data["score"] = self.score
        if self.dtmf is not None:
            data["dtmf"] = self.dtmf
        if self.exclusive:
            data["exclusive"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Option:
        score = data.get("score")
        return cls(
            value=str(data["value"]), label=str(data.get("label", data["value"])),
            say={str(k): tuple(str(p) for p in v) for k, v in dict(data.get("say", {})).items()},
            score=None if score is None else float(score), dtmf=data.get("dtmf"),
            exclusive=bool(data.get("exclusive", False)),
        )


@dataclass(frozen=True)
class Item:
    """One question (or an information text the nurse reads).

    ``range`` is the accepted range of number, scale and duration items and the systolic range of a
    blood-pressure item (``diastolic`` is its diastolic range). ``unit`` of a duration is a UCUM code from
    :data:`DURATION_UNITS`. ``departments`` lists the departments an appointment may be booked with.
    """

    id: str
    type: ItemType
    text: str
    help: str = ""
    required: bool = True
    when: str | None = None
    options: tuple[Option, ...] = ()
    range: NumberRange | None = None
    diastolic: NumberRange | None = None
    departments: tuple[str, ...] = ()
    pos: Pos | None = field(default=None, compare=False)
    when_pos: Pos | None = field(default=None, compare=False)

    # ---- the API the speech recogniser builds on -------------------------------------------------
    def phrases(self, locale: str) -> dict[str, tuple[str, ...]]:
        """Option value → the spoken phrases that mean it in ``locale`` (empty for non-choice items)."""
        return {o.value: o.phrases(locale) for o in self.options}

    def all_phrases(self, locale: str) -> tuple[str, ...]:
        """Every phrase of every option in ``locale``, in order, without duplicates (a grammar's word list)."""
        seen: dict[str, None] = {}
        for option in self.options:
            for phrase in option.phrases(locale):
                seen.setdefault(phrase, None)
        return tuple(seen)

    def dtmf_map(self) -> dict[str, str]:
        """DTMF digit → option value, for robot calls."""
        return {o.dtmf: o.value for o in self.options if o.dtmf is not None}

    def option(self, value: str) -> Option:
        for option in self.options:
            if option.value == value:
                return option
        raise KeyError(f"item {self.id!r} has no option {value!r}")

    @property
    def option_values(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.options)

    @property
    def is_choice(self) -> bool:
        return self.type in CHOICE_TYPES

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def has_option_scores(self) -> bool:
        return self.is_choice and any(o.score is not None for o in self.options)

    @property
    def scorable(self) -> bool:
        """Can be summed into a score: a number/scale/duration, or choices with scores on every option."""
        return self.is_numeric or (self.is_choice and bool(self.options)
                                   and all(o.score is not None for o in self.options))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type.value, "text": self.text}
        if self.help:
            data["help"] = self.help
        if not self.required:
            data["required"] = False
        if self.when is not None:
            data["when"] = self.when
        if self.options:
            data["options"] = [o.to_dict() for o in self.options]
        if self.range is not None:
            data["range"] = self.range.to_dict()
        if self.diastolic is not None:
            data["diastolic"] = self.diastolic.to_dict()
        if self.departments:
            data["departments"] = list(self.departments)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        return cls(
            id=str(data["id"]), type=ItemType(data["type"]), text=str(data.get("text", "")),
            help=str(data.get("help", "")), required=bool(data.get("required", True)), when=data.get("when"),
            options=tuple(Option.from_dict(o) for o in data.get("options", [])),
            range=NumberRange.from_dict(data["range"]) if data.get("range") else None,
            diastolic=NumberRange.from_dict(data["diastolic"]) if data.get("diastolic") else None,
            departments=tuple(str(d) for d in data.get("departments", [])),
        )


@dataclass(frozen=True)
class Band:
    """A named interval of a score, both ends inclusive; ``None`` is open."""

    code: str
    label: str
    minimum: float | None = None
    maximum: float | None = None
    pos: Pos | None = field(default=None, compare=False)

    def contains(self, value: float) -> bool:
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, "min": self.minimum, "max": self.maximum}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Band:
        lo, hi = data.get("min"), data.get("max")
        return cls(str(data["code"]), str(data.get("label", data["code"])),
                   None if lo is None else float(lo), None if hi is None else float(hi))


@dataclass(frozen=True)
class Score:
    """The sum of the scores of ``items`` (option scores, or the number itself), with optional bands."""

    id: str
    label: str
    items: tuple[str, ...]
    bands: tuple[Band, ...] = ()
    pos: Pos | None = field(default=None, compare=False)

    def band_for(self, value: float | None) -> Band | None:
        if value is None:
            return None
        return next((b for b in self.bands if b.contains(value)), None)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "items": list(self.items),
                "bands": [b.to_dict() for b in self.bands]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Score:
        return cls(str(data["id"]), str(data.get("label", data["id"])), tuple(data["items"]),
                   tuple(Band.from_dict(b) for b in data.get("bands", [])))


@dataclass(frozen=True)
class AlertRule:
    """A red flag for doctors: raised when ``when`` is true at the end of (or during) a run."""

    id: str
    when: str
    severity: AlertSeverity
    message: str
    pos: Pos | None = field(default=None, compare=False)
    when_pos: Pos | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "when": self.when, "severity": self.severity.value, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertRule:
        return cls(str(data["id"]), str(data["when"]), AlertSeverity(data.get("severity", "high")),
                   str(data.get("message", "")))


@dataclass(frozen=True)
class Script:
    """A questionnaire script: one YAML file, one published version in the database."""

    key: str
    version: int
    title: str
    locale: str
    items: tuple[Item, ...]
    intro: str = ""
    closing: str = ""
    description: str = ""
    scores: tuple[Score, ...] = ()
    alerts: tuple[AlertRule, ...] = ()
    file: str = field(default="", compare=False)
    pos: Pos | None = field(default=None, compare=False)

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(f"script {self.key!r} has no item {item_id!r}")

    def has_item(self, item_id: str) -> bool:
        return any(i.id == item_id for i in self.items)

    def index(self, item_id: str) -> int:
        for n, item in enumerate(self.items):
            if item.id == item_id:
                return n
        raise KeyError(f"script {self.key!r} has no item {item_id!r}")

    def score(self, score_id: str) -> Score:
        for score in self.scores:
            if score.id == score_id:
                return score
        raise KeyError(f"script {self.key!r} has no score {score_id!r}")

    def to_dict(self) -> dict[str, Any]:
        """The compiled form (JSON-serialisable) stored with each published version."""
        return {
            "key": self.key, "version": self.version, "title": self.title, "locale": self.locale,
            "description": self.description, "intro": self.intro, "closing": self.closing,
            "items": [i.to_dict() for i in self.items], "scores": [s.to_dict() for s in self.scores],
            "alerts": [a.to_dict() for a in self.alerts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Script:
        return cls(
            key=str(data["key"]), version=int(data.get("version", 0)), title=str(data.get("title", "")),
            locale=str(data.get("locale", "zh-CN")), description=str(data.get("description", "")),
            intro=str(data.get("intro", "")), closing=str(data.get("closing", "")),
            items=tuple(Item.from_dict(i) for i in data["items"]),
            scores=tuple(Score.from_dict(s) for s in data.get("scores", [])),
            alerts=tuple(AlertRule.from_dict(a) for a in data.get("alerts", [])),
        )
