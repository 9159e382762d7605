"""A separate process that claims tasks from the queue until it is empty (used by test_claim_concurrency).

Usage: python claim_worker.py DATABASE_URL OWNER AT_ISO. Prints "ready", waits for a line on stdin, then prints
one claimed task id per line and "done N" at the end.
"""

import sys
from datetime import datetime

from callcenter.call_rules import CallRules
from callcenter.db import make_engine
from callcenter.queue import claim


def main() -> None:
    url, owner, at = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
    engine = make_engine(url)
    rules = CallRules(max_calls_per_number_24h=1000)
    with engine.connect():
        pass  # connect before the start signal
    print("ready", flush=True)
    sys.stdin.readline()
    n = 0
    while True:
        c = claim(engine, owner=owner, now=at, rules=rules, team_id=None)
        if c is None:
            break
        n += 1
        print(c.task_id, flush=False)
    print(f"done {n}", flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
