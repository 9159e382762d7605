"""Property tests: any sequence of valid answers terminates, never visits a disabled item, and amend/back
keep the run state consistent (and serialisable)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from script_strategies import valid_value

from scripts_questionnaires import Context, Engine, Expression, RunState, RunStatus, load_library

SCRIPTS = load_library()
ENGINES = {key: Engine(script) for key, script in SCRIPTS.items()}
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_invariants(engine: Engine, state: RunState) -> None:
    walk = engine.walk(state)
    path = engine.path(state)
    assert all(walk.enabled[i] for i in path)
    for item_id in path:  # every visited item's condition holds given the answers before it
        item = engine.script.item(item_id)
        if item.when is not None:
            values = {k: v for k, v in walk.values.items() if engine.script.index(k) < engine.script.index(item_id)}
            scores = engine.scores(values)
            bands = {s.id: (b.code if (b := s.band_for(scores[s.id])) else None) for s in engine.script.scores}
            assert Expression.parse(item.when).is_true(Context({**scores, **values}, bands, state.variables))
    current = engine.current_item(state)
    if current is not None:
        assert walk.enabled[current.id]
        if state.cursor is None:
            assert current.id not in walk.done
            before = [i for i in engine.script.items if engine.script.index(i.id) < engine.script.index(current.id)]
            assert all(i.id in walk.done for i in before if walk.enabled[i.id])
    assert RunState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@PROPERTY
@given(key=st.sampled_from(sorted(SCRIPTS)), data=st.data())
def test_any_sequence_of_valid_answers_terminates_without_visiting_disabled_items(key: str, data: st.DataObject) -> None:
    engine = ENGINES[key]
    state = engine.start()
    steps = 0
    while (item := engine.current_item(state)) is not None:
        assert walk_enabled(engine, state, item.id)
        if not item.required and data.draw(st.booleans(), label="skip"):
            state = engine.skip(state, item.id, "不知道")
        else:
            state = engine.answer(state, item.id, data.draw(valid_value(item), label=item.id))
        steps += 1
        assert steps <= len(engine.script.items)
    finished = engine.finish(state)
    assert finished.status is RunStatus.completed
    check_invariants(engine, finished)


def walk_enabled(engine: Engine, state: RunState, item_id: str) -> bool:
    return engine.walk(state).enabled[item_id]


@PROPERTY
@given(key=st.sampled_from(sorted(SCRIPTS)), data=st.data())
def test_amend_and_back_keep_the_state_consistent(key: str, data: st.DataObject) -> None:
    engine = ENGINES[key]
    state = engine.start()
    for _ in range(data.draw(st.integers(1, 25), label="operations")):
        op = data.draw(st.sampled_from(["answer", "answer", "amend", "back", "forward"]), label="op")
        current = engine.current_item(state)
        path = engine.path(state)
        if op == "answer" and current is not None:
            state = engine.answer(state, current.id, data.draw(valid_value(current), label=current.id))
        elif op == "amend" and path:
            target = engine.script.item(data.draw(st.sampled_from(path), label="target"))
            state = engine.amend(state, target.id, data.draw(valid_value(target), label=target.id))
        elif op == "back" and any(engine.script.index(i) < engine.script.index(current.id) if current else True
                                  for i in path):
            state = engine.back(state)
        elif op == "forward":
            state = engine.forward(state)
        check_invariants(engine, state)
    # whatever happened, the run can still be completed by answering the current items
    state = engine.forward(state)
    steps = 0
    while (item := engine.current_item(state)) is not None:
        state = engine.answer(state, item.id, data.draw(valid_value(item), label=item.id))
        steps += 1
        assert steps <= len(engine.script.items)
    check_invariants(engine, engine.finish(state))
