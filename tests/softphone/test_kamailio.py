"""Registration and calls through Kamailio (registrar + proxy, digest auth)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from callcenter.ports import CallState, CallStateChanged, IncomingCall, MediaStarted, RegistrationChanged
from softphone.errors import RegistrationFailed
from tests.softphone.kamailio_peer import Kamailio, sip_options_status
from tests.softphone.peers import Baresip, udp_port_bound, wait_until

pytestmark = pytest.mark.sip


@pytest.fixture
def kamailio(tmp_path: Path):
    with Kamailio(tmp_path, password="s3cret") as proxy:
        yield proxy


def test_phone_registers_with_digest_auth_and_is_reachable_through_the_proxy(make_phone, kamailio: Kamailio) -> None:
    phone, log = make_phone(registrar=kamailio.uri, user="nurse", password="s3cret")
    phone.wait_registered(timeout_s=10)
    assert log.wait_for(RegistrationChanged, registered=True).sip_status == 200
    assert sip_options_status(kamailio.port, "nurse") == 200  # routed to our phone, which answers


def test_wrong_password_raises_a_clear_registration_error(make_phone, kamailio: Kamailio) -> None:
    phone, log = make_phone(registrar=kamailio.uri, user="nurse", password="wrong")
    with pytest.raises(RegistrationFailed, match="CALLCENTER_SIP_PASSWORD"):
        phone.wait_registered(timeout_s=10)
    assert log.wait_for(RegistrationChanged, registered=False).sip_status in (401, 403)
    assert sip_options_status(kamailio.port, "nurse") == 404


def test_phone_registers_again_after_the_registrar_restarts(make_phone, kamailio: Kamailio) -> None:
    phone, log = make_phone(registrar=kamailio.uri, user="nurse", password="s3cret", reg_expires_s=6,
                            reg_retry_s=2)
    phone.wait_registered(timeout_s=10)
    log.wait_for(RegistrationChanged, registered=True)
    kamailio.restart()  # usrloc in memory: the restarted registrar knows nobody
    assert sip_options_status(kamailio.port, "nurse") == 404
    before = len(log.of(RegistrationChanged, registered=True))
    log.wait_for(RegistrationChanged, timeout_s=20, where=lambda e: e.registered and
                 len(log.of(RegistrationChanged, registered=True)) > before)
    wait_until(lambda: sip_options_status(kamailio.port, "nurse") == 200, 10, "the nurse reachable again")


class DeadRegistrar:
    """What a stopped registrar looks like to a UDP client: its port swallows every request, no answer. It
    counts the REGISTERs that arrive (the phone's retries while the registrar is down)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.transactions: list[bytes] = []  # the CSeq of each REGISTER transaction heard (retransmissions: once)
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if data.startswith(b"REGISTER "):
                cseq = next((line for line in data.split(b"\r\n") if line.lower().startswith(b"cseq:")), b"")
                with self._cond:
                    if cseq not in self.transactions:
                        self.transactions.append(cseq)
                    self._cond.notify_all()

    def wait_for_new_register(self, after: int, timeout_s: float) -> None:
        """Until a REGISTER transaction other than the first ``after`` ones arrives."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.transactions) > after, timeout=timeout_s):
                raise AssertionError(f"no new REGISTER within {timeout_s} s (heard {len(self.transactions)})")

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


def test_phone_registers_again_after_the_registrar_was_down_and_is_reachable_again(
        make_phone, kamailio: Kamailio, tmp_path: Path, patient_wav: Path) -> None:
    phone, log = make_phone(registrar=kamailio.uri, user="nurse", password="s3cret", reg_expires_s=6,
                            reg_retry_s=2)
    phone.wait_registered(timeout_s=10)
    log.wait_for(RegistrationChanged, registered=True)
    kamailio.stop()
    wait_until(lambda: not udp_port_bound(kamailio.port), 10, "Kamailio's port to be released")
    down = DeadRegistrar(kamailio.port)
    try:
        # the next refresh (at most 6 s away) is never answered: pjsip's transaction times out after 32 s
        lost = log.wait_for(RegistrationChanged, timeout_s=50, registered=False)
        assert lost.sip_status in (408, 503), lost
        assert not phone.registered
        heard = len(down.transactions)
        # still down past the retry interval: the phone tries again (a new REGISTER transaction arrives)
        down.wait_for_new_register(after=heard, timeout_s=15)
        assert not phone.registered
        registrations = len(log.of(RegistrationChanged, registered=True))
    finally:
        down.close()
    kamailio.start()  # usrloc in memory: it knows nobody until the phone registers again
    back = log.wait_for(RegistrationChanged, timeout_s=45, registered=True,
                        where=lambda e: len(log.of(RegistrationChanged, registered=True)) > registrations)
    assert back.sip_status == 200 and phone.registered
    wait_until(lambda: sip_options_status(kamailio.port, "nurse") == 200, 10, "the nurse reachable again")
    with Baresip(tmp_path, patient_wav, user="8001", registrar_port=kamailio.port, password="s3cret") as patient:
        wait_until(lambda: sip_options_status(kamailio.port, "8001") == 200, 15, "baresip registered")
        call_id = phone.dial("8001")  # calls route through the proxy again
        log.wait_for(MediaStarted, call_id=call_id)
        log.wait_for(CallStateChanged, call_id=call_id, state=CallState.confirmed)
        assert patient.user in phone.call_info(call_id).remote_uri
        phone.hangup(call_id)
        log.wait_for(CallStateChanged, call_id=call_id, state=CallState.disconnected)
        patient.command("dial", f"sip:nurse@127.0.0.1:{kamailio.port}")  # and the patient reaches the nurse
        log.wait_for(IncomingCall, timeout_s=15, where=lambda e: "8001" in e.remote_uri)


def test_call_through_the_proxy_to_a_registered_baresip_by_number(make_phone, kamailio: Kamailio,
                                                                  tmp_path: Path, patient_wav: Path) -> None:
    with Baresip(tmp_path, patient_wav, user="8001", registrar_port=kamailio.port, password="s3cret") as patient:
        wait_until(lambda: sip_options_status(kamailio.port, "8001") == 200, 15, "baresip registered")
        phone, log = make_phone(registrar=kamailio.uri, user="nurse", password="s3cret")
        phone.wait_registered()
        call_id = phone.dial("8001")  # a bare number goes to the registrar's domain
        log.wait_for(MediaStarted, call_id=call_id)
        log.wait_for(CallStateChanged, call_id=call_id, state=CallState.confirmed)
        assert patient.user in phone.call_info(call_id).remote_uri
        phone.hangup(call_id)
        log.wait_for(CallStateChanged, call_id=call_id, state=CallState.disconnected)
