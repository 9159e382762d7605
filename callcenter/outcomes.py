"""The outcome table (呼叫结果): how an attempt ended and what that means for the task.

``DEFAULT_OUTCOMES`` are the rows of docs/glossary.md with retry delays; ``seed_outcomes`` inserts the missing
ones into the ``Outcome`` table without touching rows a hospital has edited. ``OutcomeRule`` is the frozen value
the pure dialing rules work with.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from sqlmodel import Session, select

from callcenter.errors import InvalidInput
from callcenter.models import Outcome

logger = logging.getLogger(__name__)


class UnknownOutcome(InvalidInput):
    """An outcome code that is not in the outcome table."""


@dataclass(frozen=True)
class OutcomeRule:
    code: str
    label_zh: str
    aapor: str
    contacted: bool = False
    final: bool = False  # closes the task
    final_for_number: bool = False  # this number is marked invalid and not tried again
    retry_delay_min: int = 0
    try_next_number: bool = False
    note_required: bool = False
    sort: int = 0


DEFAULT_OUTCOMES: tuple[OutcomeRule, ...] = (
    OutcomeRule("completed", "完成", "1.1", contacted=True, final=True, sort=10),
    OutcomeRule("partial", "部分完成", "1.2", contacted=True, retry_delay_min=60, note_required=True, sort=20),
    OutcomeRule("refused", "拒访", "2.11", contacted=True, final=True, note_required=True, sort=30),
    OutcomeRule("hung_up", "中途挂断", "2.12", contacted=True, retry_delay_min=24 * 60, sort=40),
    OutcomeRule("callback_requested", "预约回访", "2.21", contacted=True, sort=50),
    OutcomeRule("deceased", "死亡", "2.31", contacted=True, final=True, note_required=True, sort=60),
    OutcomeRule("unable", "无法应答", "2.32", contacted=True, final=True, note_required=True, sort=70),
    OutcomeRule("no_answer", "无人接听", "3.13", retry_delay_min=120, try_next_number=True, sort=80),
    OutcomeRule("busy", "占线", "3.12", retry_delay_min=30, sort=90),
    OutcomeRule("voicemail", "语音信箱", "3.14", retry_delay_min=240, try_next_number=True, sort=100),
    OutcomeRule("switched_off", "关机/无法接通", "3.15", retry_delay_min=240, try_next_number=True, sort=110),
    OutcomeRule("number_invalid", "空号/停机", "4.31", final_for_number=True, try_next_number=True, sort=120),
    OutcomeRule("wrong_number", "错号/非本人", "4.70", final_for_number=True, try_next_number=True, sort=130),
)
DEFAULT_BY_CODE = {o.code: o for o in DEFAULT_OUTCOMES}


def seed_outcomes(session: Session) -> int:
    """Insert the default rows that are missing; returns how many were added. Existing rows are kept as the
    hospital left them (idempotent)."""
    existing = set(session.exec(select(Outcome.code)).all())
    added = 0
    for rule in DEFAULT_OUTCOMES:
        if rule.code not in existing:
            session.add(Outcome(**asdict(rule)))
            added += 1
    if added:
        session.flush()
        logger.info("outcome table: %s default rows added", added)
    return added


def rule_from_row(row: Outcome) -> OutcomeRule:
    return OutcomeRule(
        code=row.code, label_zh=row.label_zh, aapor=row.aapor, contacted=row.contacted, final=row.final,
        final_for_number=row.final_for_number, retry_delay_min=row.retry_delay_min,
        try_next_number=row.try_next_number, note_required=row.note_required, sort=row.sort,
    )


def outcome_table(session: Session) -> dict[str, OutcomeRule]:
    """The outcome table as rules; the defaults when the table has not been seeded."""
    rows = session.exec(select(Outcome)).all()
    if not rows:
        return dict(DEFAULT_BY_CODE)
    return {row.code: rule_from_row(row) for row in rows}


def get_rule(session: Session, code: str) -> OutcomeRule:
    row = session.get(Outcome, code)
    if row is not None:
        return rule_from_row(row)
    if code in DEFAULT_BY_CODE and session.exec(select(Outcome.code).limit(1)).first() is None:
        return DEFAULT_BY_CODE[code]
    raise UnknownOutcome(f"outcome {code!r} is not in the outcome table; use one of "
                         f"{', '.join(sorted(outcome_table(session)))}")
