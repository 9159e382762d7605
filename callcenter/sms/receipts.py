"""SMPP delivery receipts: the de-facto text format of SMPP 3.4 Appendix B, and message states.

``id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text: . . .``
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callcenter.models.sms import SmsStatus

_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):(\S*)", re.IGNORECASE)

# stat word → outbox status; ENROUTE / ACCEPTD are interim and leave the message as submitted
STAT_TO_STATUS = {
    "DELIVRD": SmsStatus.delivered,
    "EXPIRED": SmsStatus.failed,
    "DELETED": SmsStatus.failed,
    "UNDELIV": SmsStatus.failed,
    "REJECTD": SmsStatus.failed,
    "UNKNOWN": SmsStatus.failed,
}
# SMPP message_state TLV values (SMPP 3.4, 5.2.28) → stat words
MESSAGE_STATE_TO_STAT = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
                         7: "UNKNOWN", 8: "REJECTD"}


@dataclass(frozen=True)
class DeliveryReceipt:
    message_id: str
    stat: str
    err: str = ""

    @property
    def status(self) -> SmsStatus | None:
        """The final outbox status this receipt means, or None for an interim state."""
        return STAT_TO_STATUS.get(self.stat)


def parse_receipt(text: str, *, receipted_message_id: str = "", message_state: int | None = None) -> DeliveryReceipt:
    """A receipt from the deliver_sm text; the TLVs (when the SMSC sends them) take precedence."""
    fields = {m.group(1).lower(): m.group(2) for m in _FIELD.finditer(text)}
    message_id = receipted_message_id or fields.get("id", "")
    stat = MESSAGE_STATE_TO_STAT.get(message_state or 0, "") or fields.get("stat", "").upper()
    if not message_id or not stat:
        raise ValueError(f"not a delivery receipt (no id or stat): {text[:80]!r}")
    return DeliveryReceipt(message_id=message_id, stat=stat, err=fields.get("err", ""))
