"""Walk a script without a call: from a file of answers, or interactively (``ask``/``say`` are injected so
the terminal loop is testable). Prints — or returns — the path, scores, bands and alerts doctors check
before publishing."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scripts_questionnaires.engine import Engine
from scripts_questionnaires.errors import AnswerInvalid, RunError
from scripts_questionnaires.model import Item, ItemType, Script
from scripts_questionnaires.render import render_text
from scripts_questionnaires.runstate import AnswerSource, Provenance, RunState


@dataclass(frozen=True)
class Simulation:
    engine: Engine
    state: RunState
    missing: str | None  # the item the answers file had no answer for (the run stopped there)

    def to_dict(self) -> dict[str, Any]:
        result = self.engine.result(self.state).to_dict()
        result["missing"] = self.missing
        return result


def simulate(script: Script, answers: Mapping[str, Any], variables: Mapping[str, Mapping[str, Any]] | None = None
             ) -> Simulation:
    """Answer every asked item from ``answers`` (item id → value, or ``{"skip": "reason"}``).

    Raises ``AnswerInvalid`` for a value the item does not accept. Stops (partial) at the first asked item
    with no answer in the file."""
    engine = Engine(script)
    state = engine.start(variables)
    prov = Provenance(AnswerSource.nurse, confirmed_by="simulator")
    while (item := engine.current_item(state)) is not None:
        if item.id not in answers:
            if item.type == ItemType.info:
                state = engine.deliver(state, item.id, prov)
                continue
            return Simulation(engine, engine.finish(state, partial=True), item.id)
        value = answers[item.id]
        if isinstance(value, dict) and set(value) == {"skip"}:
            state = engine.skip(state, item.id, str(value["skip"]), prov)
        else:
            state = engine.answer(state, item.id, value, prov)
    return Simulation(engine, engine.finish(state), None)


def read_answers_file(text: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``{"answers": {...}, "variables": {...}}`` or a plain ``{item: value}`` map."""
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("answers"), dict):
        return dict(data["answers"]), dict(data.get("variables") or {})
    if not isinstance(data, dict):
        raise ValueError("the answers file must hold a JSON object: {\"item_id\": value, …}")
    return data, {}


def prompt_for(item: Item, variables: Mapping[str, Mapping[str, Any]], locale: str) -> str:
    lines = [f"[{item.id}] {render_text(item.text, variables)}"]
    if item.is_choice:
        lines += [f"  {n}. {o.label} ({o.value})  说法: {'/'.join(o.phrases(locale)[:4])}"
                  for n, o in enumerate(item.options, start=1)]
    elif item.range is not None:
        spec = item.range
        lines.append(f"  {spec.minimum:g}–{spec.maximum:g} {spec.unit}".rstrip())
    return "\n".join(lines)


def interactive(script: Script, ask: Callable[[str], str], say: Callable[[str], None],
                variables: Mapping[str, Mapping[str, Any]] | None = None) -> Simulation:
    """Ask each question on a terminal. Commands: ``back``, ``skip 理由``, ``stop``; choices by number or value;
    multi choice as ``1,3``; blood pressure as ``130/85``; appointment as ``科室 YYYY-MM-DD``."""
    engine = Engine(script)
    state = engine.start(variables)
    prov = Provenance(AnswerSource.nurse, confirmed_by="simulator")
    if script.intro:
        say(render_text(script.intro, state.variables))
    while (item := engine.current_item(state)) is not None:
        say(prompt_for(item, state.variables, script.locale))
        if item.type == ItemType.info:
            ask("(回车继续) ")
            state = engine.deliver(state, item.id, prov)
            continue
        reply = ask("> ").strip()
        try:
            if reply == "stop":
                return Simulation(engine, engine.finish(state, partial=True), item.id)
            if reply == "back":
                state = engine.back(state)
            elif reply.startswith("skip"):
                state = engine.skip(state, item.id, reply[4:].strip() or "模拟跳过", prov)
            else:
                state = engine.answer(state, item.id, parse_reply(item, reply), prov)
        except (AnswerInvalid, RunError) as exc:
            say(f"  ! {exc}")
    if script.closing:
        say(render_text(script.closing, state.variables))
    return Simulation(engine, engine.finish(state), None)


def parse_reply(item: Item, reply: str) -> object:
    if item.is_choice:
        picks = [p.strip() for p in reply.replace("，", ",").split(",") if p.strip()]
        values = [item.options[int(p) - 1].value if p.isdigit() and 0 < int(p) <= len(item.options) else p
                  for p in picks]
        return values if item.type == ItemType.multi_choice else (values[0] if values else "")
    if item.type == ItemType.appointment:
        department, _, date = reply.rpartition(" ")
        return {"department": department.strip(), "date": date}
    return reply
