"""MLLP listener: HL7 v2 ADT messages over TCP, each answered with an acknowledgement.

Framing (MLLP): ``0x0B`` message ``0x1C 0x0D``. Every message is imported in its own transaction and answered:
``AA`` accepted; ``AE`` application error (a value is invalid, nothing of the message is written); ``AR``
rejected (not an ADT message we can process, or unreadable). Every error gets an HL7 v2.5 ERR segment: ERR-2 the
location (``PID^1^3``), ERR-3 the condition from HL7 table 0357 (``102^Data type error^HL70357``), ERR-4 the
severity ``E``, ERR-7 and ERR-8 the field and reason; MSA-3 repeats the reasons for v2.1-style receivers.
The connection and the listener keep serving after any bad message.
"""

from __future__ import annotations

import logging
import socketserver
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import hl7
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from callcenter.intake.batch import IntakeSummary, Planner, import_rows
from callcenter.intake.hl7v2 import (
    APPLICATION_INTERNAL_ERROR,
    ERROR_CONDITIONS,
    SEGMENT_SEQUENCE_ERROR,
    AdtMessage,
    Hl7DataError,
    Hl7Reject,
    error_condition,
    error_location,
    locate,
    parse_adt,
)
from callcenter.intake.records import HOSPITAL_TZ

logger = logging.getLogger(__name__)

START, END = b"\x0b", b"\x1c\x0d"
MAX_MESSAGE_BYTES = 1 << 20


def frame(message: str, encoding: str = "utf-8") -> bytes:
    return START + message.encode(encoding) + END


def _escape(text: str) -> str:
    return (text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("&", "\\T\\")
            .replace("~", "\\R\\").replace("\r", " ").replace("\n", " "))


@dataclass(frozen=True)
class AckError:
    """One ERR segment: the HL7 table 0357 ``condition``, the ``message`` and where (ERR-2, ``PID^1^3``)."""

    condition: int
    message: str
    location: str = ""

    def segment(self) -> str:
        text = ERROR_CONDITIONS.get(self.condition, "")
        # ERR-1 (v2.4 location) empty, ERR-2 location, ERR-3 CWE condition, ERR-4 severity, ERR-7 diagnostic
        # information, ERR-8 user message
        return (f"ERR||{self.location}|{self.condition}^{_escape(text)}^HL70357|E|||{_escape(self.message)}"
                f"|{_escape(self.message)}")


def build_ack(code: str, reason: str = "", *, raw: str = "", control_id: str = "",
              errors: Sequence[AckError] = ()) -> str:
    """An ACK with MSA-1 ``code``, MSA-2 the original control id, MSA-3 the reason and one ERR per error.

    With the original message (``raw``) python-hl7 builds the MSH (sender and receiver swapped, same event and
    version); without one (unreadable input) a minimal MSH is written. An AE/AR without ``errors`` gets one
    ERR: application internal error (207) with ``reason``.
    """
    message: Any = None
    if raw:
        try:
            message = hl7.parse(raw)
        except Exception:  # an unreadable original still gets an answer
            logger.debug("mllp: original message unreadable, minimal ACK", exc_info=True)
    if message is not None:
        ack = message.create_ack(code, application="CALLCENTER")
        segments = [str(seg) for seg in ack]
        control_id = control_id or str(message.segment("MSH")[10])
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        segments = [f"MSH|^~\\&|CALLCENTER||||{stamp}||ACK|{stamp}|P|2.5", f"MSA|{code}|{control_id}"]
    segments = [s for s in segments if not s.startswith("MSA")]
    segments.append(f"MSA|{code}|{_escape(control_id)}" + (f"|{_escape(reason)}" if reason else ""))
    if code != "AA":
        segments += [e.segment() for e in (errors or [AckError(APPLICATION_INTERNAL_ERROR, reason)])]
    return "\r".join(segments) + "\r"


class AdtHandler:
    """Turns one message's text into an acknowledgement's text, importing it on the way."""

    def __init__(self, engine: Engine, *, source_system: str = "his", tz: tzinfo = HOSPITAL_TZ,
                 now: Callable[[], datetime] | None = None, planner: Planner | None = None) -> None:
        self.engine, self.source_system, self.tz, self.now = engine, source_system, tz, now
        self.planner = planner
        self.counts = {"AA": 0, "AE": 0, "AR": 0}
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        code, reason, ack = self._handle(text)
        with self._lock:
            self.counts[code] += 1
        return ack

    def _import(self, adt: AdtMessage) -> IntakeSummary:
        for attempt in (1, 2):
            try:
                return import_rows(self.engine, [adt.row], source=f"mllp:{adt.control_id}",
                                   source_system=self.source_system, tz=self.tz,
                                   now=self.now() if self.now else None, planner=self.planner)
            except IntegrityError:
                if attempt == 2:
                    raise
                # another connection created the same patient or visit at the same moment: look it up again
                logger.info("mllp: message %s raced another message, retrying once", adt.control_id)
        raise AssertionError("unreachable")

    def _handle(self, text: str) -> tuple[str, str, str]:
        try:
            adt = parse_adt(text, tz=self.tz)
        except Hl7Reject as exc:
            logger.warning("mllp: message rejected: %s", exc)
            control = _control_id(text)
            return "AR", str(exc), build_ack("AR", str(exc), control_id=control,
                                             errors=[AckError(exc.condition, str(exc))])
        except Hl7DataError as exc:
            return "AE", str(exc), build_ack("AE", str(exc), raw=exc.raw, errors=[
                AckError(exc.condition, str(exc), error_location(exc.field))])
        try:
            summary = self._import(adt)
        except Exception:
            logger.exception("mllp: message %s could not be stored", adt.control_id)
            reason = "internal error while storing the message; it was not stored, send it again later"
            return "AE", reason, build_ack("AE", reason, raw=adt.raw)
        if summary.errors:
            located = [(e, locate(e)) for e in summary.errors]
            reason = "; ".join(f"{shown.field}: {shown.reason}" for _, shown in located)
            logger.info("mllp: message %s ADT^%s refused: %s", adt.control_id, adt.event,
                        ", ".join(e.field for e in summary.errors))
            errors = [AckError(error_condition(e), f"{shown.field}: {shown.reason}", error_location(e.field))
                      for e, shown in located]
            return "AE", reason, build_ack("AE", reason, raw=adt.raw, errors=errors)
        logger.info("mllp: message %s ADT^%s accepted (%s created, %s updated)", adt.control_id, adt.event,
                    summary.created, summary.updated)
        return "AA", "", build_ack("AA", raw=adt.raw)


def _control_id(text: str) -> str:
    first = text.strip("\x0b\x1c\r\n ").split("\r")[0].split("\n")[0]
    if first.startswith("MSH") and len(first) > 3:
        parts = first.split(first[3])
        return parts[9] if len(parts) > 9 else ""
    return ""


class _Connection(socketserver.BaseRequestHandler):
    server: MllpServer

    def handle(self) -> None:
        buffer = b""
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        logger.info("mllp: connection from %s", peer)
        while True:
            try:
                data = self.request.recv(65536)
            except OSError:
                break
            if not data:
                break
            buffer += data
            while True:
                start = buffer.find(START)
                if start < 0:
                    buffer = b""
                    break
                end = buffer.find(END, start)
                if end < 0:
                    if len(buffer) - start > MAX_MESSAGE_BYTES:
                        reason = "message larger than 1 MB or missing its 0x1C 0x0D end"
                        self._send(build_ack("AR", reason, errors=[AckError(SEGMENT_SEQUENCE_ERROR, reason)]))
                        buffer = b""
                    else:
                        buffer = buffer[start:]
                    break
                payload, buffer = buffer[start + 1:end], buffer[end + 2:]
                self._send(self.server.answer(payload))
        logger.info("mllp: connection from %s closed", peer)

    def _send(self, ack: str) -> None:
        self.request.sendall(frame(ack, self.server.encoding))


class MllpServer(socketserver.ThreadingTCPServer):
    """``MllpServer((host, port), handler)``; ``serve_forever()`` in a thread, ``shutdown()`` to stop."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Callable[[str], str], *, encoding: str = "utf-8") -> None:
        super().__init__(address, _Connection)
        self.handler, self.encoding = handler, encoding

    def answer(self, payload: bytes) -> str:
        try:
            text = payload.decode(self.encoding)
        except UnicodeDecodeError:
            text = payload.decode("gb18030", errors="replace")
        try:
            return self.handler(text)
        except Exception:  # the listener must keep serving whatever one message does
            logger.exception("mllp: handler failed")
            return build_ack("AE", "internal error; the message was not stored", control_id=_control_id(text))
