"""The run state of one questionnaire run: a frozen, JSON-serialisable value (resume after interruption).

``entries`` is the append-only history of answers and skips (an amendment is a new entry for the same
item; the latest entry counts). Everything else — the current item, the path, scores, alerts — is derived
from it by :class:`scripts_questionnaires.engine.Engine`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

from scripts_questionnaires.values import Value


class AnswerSource(enum.StrEnum):
    asr = "asr"
    nurse = "nurse"
    dtmf = "dtmf"
    his = "his"


class RunStatus(enum.StrEnum):
    in_progress = "in_progress"
    completed = "completed"
    partial = "partial"


class EntryKind(enum.StrEnum):
    answer = "answer"
    skip = "skip"


@dataclass(frozen=True)
class Provenance:
    """Where an answer came from: the source, the recogniser's confidence, the audio span (seconds from the
    start of the recording), what was heard or typed, who confirmed it and when (ISO 8601, set by the caller)."""

    source: AnswerSource = AnswerSource.nurse
    confidence: float | None = None
    t0_s: float | None = None
    t1_s: float | None = None
    text: str = ""
    confirmed_by: str | None = None
    at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source.value, "confidence": self.confidence, "t0_s": self.t0_s, "t1_s": self.t1_s,
                "text": self.text, "confirmed_by": self.confirmed_by, "at": self.at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        return cls(AnswerSource(data.get("source", "nurse")), data.get("confidence"), data.get("t0_s"),
                   data.get("t1_s"), str(data.get("text", "")), data.get("confirmed_by"), data.get("at"))


@dataclass(frozen=True)
class Entry:
    """One answer or skip of one item; ``seq`` orders the history."""

    seq: int
    item_id: str
    kind: EntryKind
    value: Value = None
    reason: str = ""
    provenance: Provenance = field(default_factory=Provenance)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "item_id": self.item_id, "kind": self.kind.value, "value": self.value,
                "reason": self.reason, "provenance": self.provenance.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        return cls(int(data["seq"]), str(data["item_id"]), EntryKind(data["kind"]), data.get("value"),
                   str(data.get("reason", "")), Provenance.from_dict(data.get("provenance", {})))


@dataclass(frozen=True)
class RunState:
    key: str
    version: int
    entries: tuple[Entry, ...] = ()
    cursor: str | None = None  # the item the nurse went back to, if any
    status: RunStatus = RunStatus.in_progress
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def latest(self, item_id: str) -> Entry | None:
        for entry in reversed(self.entries):
            if entry.item_id == item_id:
                return entry
        return None

    def latest_by_item(self) -> dict[str, Entry]:
        out: dict[str, Entry] = {}
        for entry in self.entries:
            out[entry.item_id] = entry
        return out

    def history(self, item_id: str) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.item_id == item_id)

    def with_entry(self, entry: Entry, cursor: str | None) -> RunState:
        return replace(self, entries=(*self.entries, entry), cursor=cursor)

    @property
    def next_seq(self) -> int:
        return self.entries[-1].seq + 1 if self.entries else 1

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "version": self.version, "entries": [e.to_dict() for e in self.entries],
                "cursor": self.cursor, "status": self.status.value, "variables": self.variables}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        return cls(str(data["key"]), int(data["version"]), tuple(Entry.from_dict(e) for e in data.get("entries", [])),
                   data.get("cursor"), RunStatus(data.get("status", "in_progress")),
                   {str(k): dict(v) for k, v in dict(data.get("variables", {})).items()})
