"""Speed of the questionnaire package: loading and checking the library, engine steps, FHIR export/import.

The engine re-derives the path from the answer history on every call (simple and always consistent); this
prints what that costs per answer on the longest shipped scripts, so a nurse's click never waits on it.

Usage: .venv/bin/python bench/scripts_engine.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts_questionnaires import (  # noqa: E402
    Engine,
    ItemType,
    check_file,
    from_fhir_questionnaire,
    library_paths,
    load_file,
    to_fhir_questionnaire,
)


def _value(item, rng: random.Random) -> object:  # type: ignore[no-untyped-def]
    if item.type == ItemType.multi_choice:
        return [o.value for o in item.options if not o.exclusive][:1]
    if item.options:
        return rng.choice(item.option_values)
    if item.type == ItemType.blood_pressure:
        return "150/95"
    if item.type == ItemType.appointment:
        return {"department": item.departments[0] if item.departments else "", "date": "2027-01-05"}
    if item.type == ItemType.date:
        return "2027-01-05"
    if item.range is not None:
        return item.range.minimum
    return True if item.type == ItemType.info else "文本"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args()
    runs = 20 if args.quick else 200
    rng = random.Random(7)

    t0 = time.perf_counter()
    scripts = [load_file(p).script for p in library_paths()]
    t1 = time.perf_counter()
    problems = sum(len(check_file(p)) for p in library_paths())
    t2 = time.perf_counter()
    print(f"library: {len(scripts)} scripts, load {1000 * (t1 - t0):.1f} ms, load+check {1000 * (t2 - t1):.1f} ms "
          f"({problems} findings)")

    for script in scripts:
        assert script is not None
        engine = Engine(script)
        step_ms: list[float] = []
        for _ in range(runs):
            state = engine.start()
            while True:
                s = time.perf_counter()
                item = engine.current_item(state)
                if item is None:
                    break
                state = engine.answer(state, item.id, _value(item, rng))
                step_ms.append(1000 * (time.perf_counter() - s))
            engine.result(engine.finish(state))
        s = time.perf_counter()
        for _ in range(runs):
            from_fhir_questionnaire(json.loads(json.dumps(to_fhir_questionnaire(script))))
        fhir_ms = 1000 * (time.perf_counter() - s) / runs
        step_ms.sort()
        print(f"{script.key:<22} {len(script.items):>2} items  answer step p50 {statistics.median(step_ms):.3f} ms "
              f"p99 {step_ms[int(0.99 * (len(step_ms) - 1))]:.3f} ms  FHIR export+import {fhir_ms:.2f} ms")


if __name__ == "__main__":
    main()
