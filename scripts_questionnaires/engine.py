"""Walk a script: the current item, answers, amendments, skips, back, finish; scores, bands and alerts.

The engine is stateless apart from its script; every operation takes a :class:`RunState` and returns a new
one. Items are asked in script order; an item is *enabled* when its ``when`` is true given the answers to
the enabled items before it (answers to items that became disabled are kept in the history but count as
unanswered). The current item is the cursor (after ``back``) or else the first enabled item with no answer
and no skip.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scripts_questionnaires.errors import RunError
from scripts_questionnaires.expressions import Context, Expression
from scripts_questionnaires.model import AlertRule, AlertSeverity, Band, Item, Script
from scripts_questionnaires.render import render_text
from scripts_questionnaires.runstate import Entry, EntryKind, Provenance, RunState, RunStatus
from scripts_questionnaires.values import Value, normalize_answer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RaisedAlert:
    id: str
    severity: AlertSeverity
    message: str


@dataclass(frozen=True)
class Walk:
    """The derived view of a state: which items are enabled and the answers that count."""

    enabled: dict[str, bool]
    values: dict[str, Value]  # answers of enabled items (skipped → absent)
    done: frozenset[str]  # enabled items answered or skipped


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
    path: tuple[str, ...]
    answers: dict[str, Value]
    skipped: dict[str, str]
    scores: dict[str, float | None]
    bands: dict[str, Band | None]
    alerts: tuple[RaisedAlert, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value, "path": list(self.path), "answers": self.answers, "skipped": self.skipped,
            "scores": self.scores,
            "bands": {k: (None if b is None else {"code": b.code, "label": b.label}) for k, b in self.bands.items()},
            "alerts": [{"id": a.id, "severity": a.severity.value, "message": a.message} for a in self.alerts],
        }


class Engine:
    def __init__(self, script: Script) -> None:
        self.script = script
        self._when = {i.id: Expression.parse(i.when) for i in script.items if i.when is not None}
        self._alerts = [(a, Expression.parse(a.when)) for a in script.alerts]

    # ---- reading the state -------------------------------------------------------------------------
    def start(self, variables: Mapping[str, Mapping[str, Any]] | None = None) -> RunState:
        return RunState(self.script.key, self.script.version,
                        variables={k: dict(v) for k, v in (variables or {}).items()})

    def resume(self, data: dict[str, Any]) -> RunState:
        """A state saved with ``to_dict`` (after a crash or a dropped call), checked against this script."""
        state = RunState.from_dict(data)
        if (state.key, state.version) != (self.script.key, self.script.version):
            raise RunError(f"the run belongs to {state.key}@{state.version}, not {self.script.key}@"
                           f"{self.script.version}; load the version it was started with")
        for entry in state.entries:
            if not self.script.has_item(entry.item_id):
                raise RunError(f"the run has an answer to {entry.item_id!r}, which this script does not have")
        return state

    def walk(self, state: RunState) -> Walk:
        latest = state.latest_by_item()
        enabled: dict[str, bool] = {}
        values: dict[str, Value] = {}
        done: set[str] = set()
        for item in self.script.items:
            expr = self._when.get(item.id)
            on = expr is None or expr.is_true(self._context(values, state))
            enabled[item.id] = on
            entry = latest.get(item.id)
            if on and entry is not None:
                done.add(item.id)
                if entry.kind == EntryKind.answer:
                    values[item.id] = entry.value
        return Walk(enabled, values, frozenset(done))

    def current_item(self, state: RunState) -> Item | None:
        if state.status != RunStatus.in_progress:
            return None
        walk = self.walk(state)
        if state.cursor is not None and walk.enabled.get(state.cursor):
            return self.script.item(state.cursor)
        return next((i for i in self.script.items if walk.enabled[i.id] and i.id not in walk.done), None)

    def path(self, state: RunState) -> tuple[str, ...]:
        """Enabled items answered or skipped, in script order."""
        walk = self.walk(state)
        return tuple(i.id for i in self.script.items if i.id in walk.done)

    def is_enabled(self, state: RunState, item_id: str) -> bool:
        return self.walk(state).enabled[self.script.item(item_id).id]

    # ---- changing the state -------------------------------------------------------------------------
    def answer(self, state: RunState, item_id: str, value: object, provenance: Provenance | None = None) -> RunState:
        """Answer the current item (normalised and validated; raises ``AnswerInvalid``)."""
        current = self._require_current(state, item_id)
        normalized = normalize_answer(current, value)
        entry = Entry(state.next_seq, item_id, EntryKind.answer, normalized, "", provenance or Provenance())
        logger.debug("run %s item=%s answered source=%s", state.key, item_id, entry.provenance.source.value)
        return state.with_entry(entry, cursor=None)

    def deliver(self, state: RunState, item_id: str, provenance: Provenance | None = None) -> RunState:
        """Mark an info item (education text) as read to the patient."""
        return self.answer(state, item_id, True, provenance)

    def amend(self, state: RunState, item_id: str, value: object, provenance: Provenance | None = None) -> RunState:
        """Change the answer of an item already answered or skipped; branching is re-evaluated."""
        self._require_open(state)
        item = self.script.item(item_id)
        walk = self.walk(state)
        if item_id not in walk.done:
            if self.current_item(state) is not None and self.current_item(state) is item:
                return self.answer(state, item_id, value, provenance)
            raise RunError(f"item {item_id!r} has no answer to amend (or is not asked given the other answers)")
        normalized = normalize_answer(item, value)
        entry = Entry(state.next_seq, item_id, EntryKind.answer, normalized, "", provenance or Provenance())
        new = state.with_entry(entry, cursor=None if state.cursor == item_id else state.cursor)
        return self._drop_stale_cursor(new)

    def skip(self, state: RunState, item_id: str, reason: str, provenance: Provenance | None = None) -> RunState:
        """Skip the current item; ``reason`` (e.g. 患者拒答, 不知道) is required and kept."""
        self._require_current(state, item_id)
        if not reason.strip():
            raise RunError("give a reason to skip the item (e.g. 患者拒答, 不知道)")
        entry = Entry(state.next_seq, item_id, EntryKind.skip, None, reason.strip(), provenance or Provenance())
        return state.with_entry(entry, cursor=None)

    def back(self, state: RunState) -> RunState:
        """Go back to the answered item before the current one (its answer stays until replaced)."""
        self._require_open(state)
        path = self.path(state)
        current = self.current_item(state)
        limit = self.script.index(current.id) if current is not None else len(self.script.items)
        earlier = [i for i in path if self.script.index(i) < limit]
        if not earlier:
            raise RunError("already at the first question")
        return replace(state, cursor=earlier[-1])

    def forward(self, state: RunState) -> RunState:
        """Leave the item gone back to unchanged and continue with the first unanswered item."""
        return replace(state, cursor=None)

    def finish(self, state: RunState, *, partial: bool = False) -> RunState:
        """Close the run. Without ``partial`` every enabled item must be answered or skipped."""
        self._require_open(state)
        pending = replace(state, cursor=None)
        item = self.current_item(pending)
        if item is not None and not partial:
            raise RunError(f"item {item.id!r} still needs an answer: answer it, skip it with a reason, "
                           "or finish the run as partial")
        return replace(pending, status=RunStatus.partial if partial else RunStatus.completed)

    # ---- results ---------------------------------------------------------------------------------------
    def scores(self, values: Mapping[str, Value]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for score in self.script.scores:
            parts = [p for p in (self._item_score(self.script.item(i), values.get(i)) for i in score.items
                                 if self.script.has_item(i)) if p is not None]
            out[score.id] = float(sum(parts)) if parts else None
        return out

    def alerts(self, state: RunState) -> tuple[RaisedAlert, ...]:
        walk = self.walk(state)
        ctx = self._context(walk.values, state)
        return tuple(RaisedAlert(rule.id, rule.severity, self.render_alert(rule, state))
                     for rule, expr in self._alerts if expr.is_true(ctx))

    def render_alert(self, rule: AlertRule, state: RunState) -> str:
        return render_text(rule.message, state.variables)

    def result(self, state: RunState) -> RunResult:
        walk = self.walk(state)
        latest = state.latest_by_item()
        scores = self.scores(walk.values)
        return RunResult(
            status=state.status, path=self.path(state), answers=dict(walk.values),
            skipped={i: latest[i].reason for i in walk.done if latest[i].kind == EntryKind.skip},
            scores=scores, bands={s.id: s.band_for(scores[s.id]) for s in self.script.scores},
            alerts=self.alerts(state),
        )

    # ---- internals ---------------------------------------------------------------------------------------
    def _context(self, values: Mapping[str, Value], state: RunState) -> Context:
        scores = self.scores(values) if self.script.scores else {}
        bands = {s.id: (b.code if (b := s.band_for(scores[s.id])) else None) for s in self.script.scores}
        return Context(values={**scores, **values}, bands=bands, variables=state.variables)

    @staticmethod
    def _item_score(item: Item, value: Value) -> float | None:
        if value is None:
            return None
        if item.is_numeric and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if item.is_choice:
            chosen = value if isinstance(value, list) else [value]
            scores = [item.option(str(v)).score for v in chosen]
            known = [s for s in scores if s is not None]
            return float(sum(known)) if known else None
        return None

    def _require_open(self, state: RunState) -> None:
        if state.status != RunStatus.in_progress:
            raise RunError(f"the run is {state.status.value}; start a new run to ask again")

    def _require_current(self, state: RunState, item_id: str) -> Item:
        self._require_open(state)
        current = self.current_item(state)
        if current is None:
            raise RunError("every question is answered; finish the run (or amend an earlier answer)")
        if current.id != item_id:
            raise RunError(f"the current question is {current.id!r}, not {item_id!r}; use amend to change an "
                           "earlier answer")
        return current

    def _drop_stale_cursor(self, state: RunState) -> RunState:
        if state.cursor is not None and not self.walk(state).enabled.get(state.cursor):
            return replace(state, cursor=None)
        return state
