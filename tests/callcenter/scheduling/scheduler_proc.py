"""A scheduler process for test_scheduler_leader: ``callcenter schedule run`` without the CLI's start-up cost.

Usage: python scheduler_proc.py DATABASE_URL DATA_DIR
"""

import logging
import sys

from callcenter import scheduler
from callcenter.call_rules import rules_from_settings
from callcenter.db import make_engine
from callcenter.settings import Settings


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("callcenter.scheduler").setLevel(logging.DEBUG)
    settings = Settings(database_url=sys.argv[1], data_dir=sys.argv[2])
    rt = scheduler.Runtime(engine=make_engine(settings.resolved_database_url), settings=settings,
                           rules=rules_from_settings(settings))
    scheduler.serve(rt, tick_seconds=1)


if __name__ == "__main__":
    main()
