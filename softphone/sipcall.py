"""pjsua2 Account and Call subclasses: thin, guarded callbacks that hand plain values to a ``SipHandler``.

Every callback body is wrapped by ``guarded``: an exception escaping into SWIG would be printed and kept in
``sys.last_traceback`` together with the Call, which aborts the process at ``libDestroy``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import pjsua2 as pj

from softphone.errors import log_exception

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., None])

DTMF_FLAG_END = 2  # PJMEDIA_STREAM_DTMF_IS_END, not exported by the wheel


def guarded(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:
            log_exception(logger, "error in pjsua2 callback %s (ignored)", fn.__name__)

    return wrapper  # type: ignore[return-value]


class SipHandler(Protocol):
    """What the phone does with SIP callbacks (runs on the pj thread, except ``dtmf`` on a media thread)."""

    def call_state(self, call: SipCall) -> None: ...

    def call_media(self, call: SipCall) -> None: ...

    def dtmf(self, call: SipCall, digit: str, duration_ms: int) -> None: ...

    def incoming(self, account: SipAccount, pj_call_id: int) -> None: ...

    def registration(self, registered: bool, sip_status: int, reason: str) -> None: ...

    def transfer_status(self, call: SipCall, sip_status: int, final: bool) -> None: ...


class SipAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, handler: SipHandler) -> None:
        super().__init__()
        self.handler = handler

    @guarded
    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # noqa: N802 - pjsua2 API name
        info = self.getInfo()
        self.handler.registration(bool(info.regIsActive) and prm.code // 100 == 2, int(prm.code), str(prm.reason))

    @guarded
    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        self.handler.incoming(self, int(prm.callId))


class SipCall(pj.Call):  # type: ignore[misc]
    """One pjsua2 call. ``key`` is the phone's own call id (a string)."""

    def __init__(self, account: SipAccount, handler: SipHandler, key: str,
                 pj_call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, pj_call_id)
        self.handler = handler
        self.key = key

    @guarded
    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        self.handler.call_state(self)

    @guarded
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        self.handler.call_media(self)

    @guarded
    def onDtmfEvent(self, prm: pj.OnDtmfEventParam) -> None:  # noqa: N802
        if int(prm.flags) & DTMF_FLAG_END:
            self.handler.dtmf(self, str(prm.digit), int(prm.duration))

    @guarded
    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:  # noqa: N802
        self.handler.transfer_status(self, int(prm.statusCode), bool(prm.finalNotify))
