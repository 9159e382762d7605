"""SMPP 3.4 adapter of the SMS port, on smpplib (the only module that imports it).

One ``SmppGateway`` owns one transceiver bind and is used from one thread. ``submit`` sends submit_sm (split
into UDH parts by smpplib) with a delivery receipt requested and waits for each submit_sm_resp; deliver_sm PDUs
that arrive meanwhile (receipts, patients' replies) are answered and kept for the next ``poll``.
"""

from __future__ import annotations

import logging
import select
import time
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

from callcenter.sms.gateway import InboundEvent, InboundSms, SmsGatewayUnavailable, SmsRefused, SubmitResult
from callcenter.sms.receipts import parse_receipt

logger = logging.getLogger(__name__)

# command_status values worth retrying later (SMPP 3.4 5.1.3): throttled, queue full, system error, unknown
TEMPORARY_STATUSES = frozenset({0x08, 0x14, 0x58, 0x64, 0xFF})
_ESM_TYPE_MASK = 0x3C
_ESM_DELIVERY_RECEIPT = 0x04


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    return str(value)


def decode_short_message(payload: bytes, data_coding: int, esm_class: int) -> str:
    """The text of a deliver_sm: UDH stripped, UCS-2 (8) / Latin-1 (3) / default alphabet as ASCII."""
    if esm_class & smpplib.consts.SMPP_GSMFEAT_UDHI and payload:
        payload = payload[1 + payload[0]:]
    if data_coding == smpplib.consts.SMPP_ENCODING_ISO10646:
        return payload.decode("utf-16-be", errors="replace")
    if data_coding == smpplib.consts.SMPP_ENCODING_ISO88591:
        return payload.decode("latin-1")
    return payload.decode("ascii", errors="replace")


class SmppGateway:
    """A transceiver bind to an SMSC. ``open()`` before use, ``close()`` after (or use ``with``)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        system_id: str,
        password: str,
        source_addr: str = "",
        system_type: str = "",
        timeout_s: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._system_id = system_id
        self._password = password
        self._source_addr = source_addr
        self._system_type = system_type
        self._timeout_s = timeout_s
        self._client: smpplib.client.Client | None = None
        self._pending: list[InboundEvent] = []

    def __enter__(self) -> SmppGateway:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        client = smpplib.client.Client(
            self._host, self._port, timeout=self._timeout_s, allow_unknown_opt_params=True,
            logger_name=__name__ + ".client",
        )
        try:
            client.connect()
            client.bind_transceiver(
                system_id=self._system_id, password=self._password, system_type=self._system_type
            )
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as exc:
            client.disconnect()
            raise SmsGatewayUnavailable(
                f"cannot bind to the SMSC at {self._host}:{self._port} ({exc}); check CALLCENTER_SMPP_* "
                "settings — queued messages stay in the outbox and are retried"
            ) from exc
        self._client = client
        logger.info("smpp bound to %s:%s as transceiver", self._host, self._port)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.unbind()
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as exc:
            logger.debug("smpp unbind failed: %s", exc)
        client.disconnect()

    # ---------------------------------------------------------------------------------------------------------
    def submit(self, number: str, text: str) -> SubmitResult:
        client = self._require()
        parts, encoding, esm_class = smpplib.gsm.make_parts(text)
        ids: list[str] = []
        for index, part in enumerate(parts):
            try:
                pdu = client.send_message(
                    source_addr_ton=smpplib.consts.SMPP_TON_UNK if not self._source_addr
                    else smpplib.consts.SMPP_TON_NWSPEC,
                    source_addr_npi=smpplib.consts.SMPP_NPI_UNK,
                    source_addr=self._source_addr,
                    dest_addr_ton=smpplib.consts.SMPP_TON_UNK,
                    dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                    destination_addr=number,
                    short_message=part,
                    data_coding=encoding,
                    esm_class=esm_class,
                    # ask for a receipt on the last part only: it tells whether the whole message arrived
                    registered_delivery=1 if index == len(parts) - 1 else 0,
                )
            except (smpplib.exceptions.ConnectionError, OSError) as exc:
                self._broken(exc)
            resp = self._wait_for_response(pdu.sequence)
            ids.append(_text(resp.message_id))
        return SubmitResult(message_ids=tuple(ids))

    def poll(self, timeout_s: float) -> list[InboundEvent]:
        self._require()
        deadline = time.monotonic() + timeout_s
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read_one(remaining):
                break
        # drain what is already buffered without waiting
        while self._read_one(0):
            pass
        events, self._pending = self._pending, []
        return events

    # ---------------------------------------------------------------------------------------------------------
    def _require(self) -> smpplib.client.Client:
        if self._client is None:
            raise SmsGatewayUnavailable("the SMPP gateway is not open; call open() first")
        return self._client

    def _broken(self, exc: BaseException) -> Any:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
        raise SmsGatewayUnavailable(f"the SMSC connection broke ({exc}); the message will be retried") from exc

    def _wait_for_response(self, sequence: int) -> Any:
        deadline = time.monotonic() + self._timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._broken(TimeoutError(f"no submit_sm_resp within {self._timeout_s} s"))
            pdu = self._read_pdu(remaining)
            if pdu is None:
                continue
            if pdu.command == "submit_sm_resp" and pdu.sequence == sequence:
                status = int(pdu.status)
                if status != smpplib.consts.SMPP_ESME_ROK:
                    description = smpplib.consts.DESCRIPTIONS.get(status, "unknown status")
                    raise SmsRefused(
                        f"the SMSC refused the message: 0x{status:02X} {description}",
                        command_status=status,
                        temporary=status in TEMPORARY_STATUSES,
                    )
                return pdu
            self._dispatch(pdu)

    def _read_one(self, timeout_s: float) -> bool:
        pdu = self._read_pdu(timeout_s)
        if pdu is None:
            return False
        self._dispatch(pdu)
        return True

    def _read_pdu(self, timeout_s: float) -> Any:
        """The next PDU, or None when none arrives within ``timeout_s``."""
        client = self._require()
        # smpplib has no public way to wait for data; its own poll() selects on the same socket
        sock = client._socket
        try:
            readable, _, _ = select.select([sock], [], [], max(0.0, timeout_s))
            if not readable:
                return None
            return client.read_pdu()
        except (TimeoutError, smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as exc:
            return self._broken(exc)

    def _dispatch(self, pdu: Any) -> None:
        client = self._require()
        if pdu.command == "deliver_sm":
            self._on_deliver_sm(pdu)
            resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
        elif pdu.command == "enquire_link":
            resp = smpplib.smpp.make_pdu("enquire_link_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
        elif pdu.command == "unbind":
            self._broken(ConnectionResetError("the SMSC unbound"))
        else:
            logger.debug("smpp ignoring %s", pdu.command)

    def _on_deliver_sm(self, pdu: Any) -> None:
        esm_class = int(pdu.esm_class or 0)
        payload = pdu.short_message or b""
        if not payload and getattr(pdu, "message_payload", None):
            payload = pdu.message_payload
        text = decode_short_message(bytes(payload), int(pdu.data_coding or 0), esm_class)
        if esm_class & _ESM_TYPE_MASK == _ESM_DELIVERY_RECEIPT:
            state = getattr(pdu, "message_state", None)
            try:
                receipt = parse_receipt(
                    text,
                    receipted_message_id=_text(getattr(pdu, "receipted_message_id", None)),
                    message_state=int(state) if state is not None else None,
                )
            except ValueError:
                logger.warning("smpp: unparsable delivery receipt ignored (seq %s)", pdu.sequence)
                return
            self._pending.append(receipt)
        else:
            self._pending.append(InboundSms(number=_text(pdu.source_addr), text=text))
