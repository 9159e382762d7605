"""The board's computation is shared by supervisors who ask together, and nobody gets a board that was read before
she asked (web.board.Coalesced). Threads are ordered with events, never with sleeps."""

from __future__ import annotations

import threading

import pytest

from web.board import Coalesced

WAIT_S = 10.0


class Gate:
    """A computation that reports it started and then waits to be let through; it returns its own number."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = [threading.Event() for _ in range(5)]
        self.release = [threading.Event() for _ in range(5)]
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self.calls += 1
            n = self.calls
        self.started[n].set()
        assert self.release[n].wait(WAIT_S)
        return n


def _ask(coalesced: Coalesced[int], gate: Gate, results: dict[str, object], name: str) -> threading.Thread:
    def run() -> None:
        try:
            results[name] = coalesced.get(gate)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            results[name] = exc

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def _waiting(coalesced: Coalesced[int], n: int) -> None:
    """Until ``n`` threads wait on the coalescer's condition (they asked while a computation ran)."""
    deadline = threading.Event()
    for _ in range(int(WAIT_S / 0.01)):
        if len(coalesced._cond._waiters) >= n:  # type: ignore[attr-defined]
            return
        deadline.wait(0.01)  # sleep-ok: bounded poll of a condition's waiter list, which has no hook
    raise AssertionError(f"{n} threads never waited")


def test_callers_during_a_computation_share_the_next_one_not_the_running_one():
    coalesced: Coalesced[int] = Coalesced()
    gate, results = Gate(), {}
    first = _ask(coalesced, gate, results, "first")
    assert gate.started[1].wait(WAIT_S)
    # three supervisors ask while computation 1 runs: it may have read the database before their change
    late = [_ask(coalesced, gate, results, f"late{i}") for i in range(3)]
    _waiting(coalesced, 3)
    gate.release[1].set()
    first.join(WAIT_S)
    assert results["first"] == 1
    assert gate.started[2].wait(WAIT_S)  # one of them starts computation 2 ...
    gate.release[2].set()
    for t in late:
        t.join(WAIT_S)
    assert {results[f"late{i}"] for i in range(3)} == {2}  # ... and all three get it
    assert gate.calls == 2


def test_a_caller_after_a_finished_computation_gets_a_fresh_one():
    coalesced: Coalesced[int] = Coalesced()
    gate = Gate()
    for n in (1, 2):
        gate.release[n].set()
    assert coalesced.get(gate) == 1
    assert coalesced.get(gate) == 2  # nothing is cached between bursts


def test_a_failed_computation_fails_its_caller_only_and_a_waiting_caller_computes_again():
    coalesced: Coalesced[int] = Coalesced()
    calls: list[int] = []
    started, release = threading.Event(), threading.Event()

    def compute() -> int:
        calls.append(1)
        if len(calls) == 1:
            started.set()
            assert release.wait(WAIT_S)
            raise RuntimeError("database went away")
        return 7

    results: dict[str, object] = {}

    def ask(name: str) -> threading.Thread:
        def run() -> None:
            try:
                results[name] = coalesced.get(compute)
            except RuntimeError as exc:
                results[name] = exc
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    first = ask("first")
    assert started.wait(WAIT_S)
    second = ask("second")
    _waiting(coalesced, 1)
    release.set()
    first.join(WAIT_S)
    second.join(WAIT_S)
    assert isinstance(results["first"], RuntimeError)
    assert results["second"] == 7 and len(calls) == 2


@pytest.mark.parametrize("askers", [8])
def test_many_supervisors_at_once_cost_at_most_two_computations(askers):
    coalesced: Coalesced[int] = Coalesced()
    gate, results = Gate(), {}
    first = _ask(coalesced, gate, results, "a0")
    assert gate.started[1].wait(WAIT_S)
    rest = [_ask(coalesced, gate, results, f"a{i}") for i in range(1, askers)]
    _waiting(coalesced, askers - 1)
    gate.release[1].set()
    gate.release[2].set()
    for t in [first, *rest]:
        t.join(WAIT_S)
    assert gate.calls == 2 and sorted(set(results.values())) == [1, 2]
