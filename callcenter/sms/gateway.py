"""The SMS port: submit a message, then poll for what the SMSC sends back (receipts and patients' replies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from callcenter.errors import CallCenterError
from callcenter.sms.receipts import DeliveryReceipt


class SmsError(CallCenterError):
    """Base of SMS gateway errors. ``temporary`` errors are retried with backoff."""

    status = 502
    temporary = True


class SmsGatewayUnavailable(SmsError):
    """The SMSC cannot be reached or the bind failed; messages stay queued and are retried."""


class SmsRefused(SmsError):
    """The SMSC answered submit_sm with an error status."""

    def __init__(self, message: str, *, command_status: int, temporary: bool) -> None:
        super().__init__(message)
        self.command_status = command_status
        self.temporary = temporary


@dataclass(frozen=True)
class SubmitResult:
    message_ids: tuple[str, ...]  # one per part; the receipt of the last part decides delivery

    @property
    def last_id(self) -> str:
        return self.message_ids[-1] if self.message_ids else ""


@dataclass(frozen=True)
class InboundSms:
    """A message a patient sent (mobile originated)."""

    number: str
    text: str


InboundEvent = DeliveryReceipt | InboundSms


class SmsGateway(Protocol):
    def submit(self, number: str, text: str) -> SubmitResult:
        """Send one message (split into parts as needed). Raises SmsRefused or SmsGatewayUnavailable."""
        ...

    def poll(self, timeout_s: float) -> list[InboundEvent]:
        """Receipts and replies that arrived, waiting up to ``timeout_s`` for the first one."""
        ...

    def close(self) -> None: ...
