"""Registration and calls through Kamailio (registrar + proxy, digest auth)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.ports import CallState, CallStateChanged, MediaStarted, RegistrationChanged
from softphone.errors import RegistrationFailed
from tests.softphone.kamailio_peer import Kamailio, sip_options_status
from tests.softphone.peers import Baresip, wait_until

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
