"""The SMPP adapter against a real SMPP server (npm `smpp` server mode) on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.models.sms import SmsStatus
from callcenter.sms.gateway import InboundSms, SmsGatewayUnavailable, SmsRefused
from callcenter.sms.receipts import DeliveryReceipt
from callcenter.sms.smpp import SmppGateway


def _gateway(smsc: Any, password: str | None = None) -> SmppGateway:
    return SmppGateway("127.0.0.1", smsc.port, system_id=smsc.system_id, password=password or smsc.password, source_addr="10655",
                       timeout_s=5)


def test_chinese_message_is_submitted_as_ucs2_and_its_receipt_comes_back(smsc: Any) -> None:
    with _gateway(smsc) as gateway:
        result = gateway.submit("13800138000", "【示例医院】张先生您好，请按时复诊。回复TD退订")
        submitted = smsc.wait_for("submit")
        assert submitted["to"] == "13800138000"
        assert submitted["from"] == "10655"
        assert submitted["data_coding"] == 8
        assert submitted["text"] == "【示例医院】张先生您好，请按时复诊。回复TD退订"
        assert result.message_ids == (submitted["id"],)
        events = gateway.poll(5.0)
    assert events == [DeliveryReceipt(message_id=submitted["id"], stat="DELIVRD", err="000")]
    assert events[0].status is SmsStatus.delivered


def test_long_message_goes_in_parts_with_a_receipt_for_the_last(smsc: Any) -> None:
    text = "血压" * 60  # 120 UCS-2 characters: two parts
    with _gateway(smsc) as gateway:
        result = gateway.submit("13800138000", text)
    first, second = smsc.wait_for("submit"), smsc.wait_for("submit")
    assert len(result.message_ids) == 2
    assert first["registered_delivery"] == 0 and second["registered_delivery"] == 1
    assert first["text"] + second["text"] == text


def test_refused_submit_raises_with_the_status_and_whether_to_retry(smsc: Any) -> None:
    smsc.command({"cmd": "refuse", "statuses": [0x58, 0x0B]})
    smsc.wait_for("ok")
    with _gateway(smsc) as gateway:
        with pytest.raises(SmsRefused) as throttled:
            gateway.submit("13800138000", "hello")
        assert throttled.value.temporary and throttled.value.command_status == 0x58
        with pytest.raises(SmsRefused) as invalid:
            gateway.submit("13800138000", "hello")
        # the bind survives refusals: the next message goes through
        gateway.submit("13800138000", "hello")
    assert not invalid.value.temporary and invalid.value.command_status == 0x0B
    assert smsc.wait_for("submit")["text"] == "hello"


def test_reply_from_a_patient_is_polled_as_inbound_sms(smsc: Any) -> None:
    with _gateway(smsc) as gateway:
        smsc.wait_for("bound")
        smsc.command({"cmd": "mo", "from": "8613800138000", "text": "TD"})
        events = gateway.poll(5.0)
    assert events == [InboundSms(number="8613800138000", text="TD")]


def test_wrong_password_is_reported_as_unavailable(smsc: Any) -> None:
    gateway = _gateway(smsc, password="wrong")
    with pytest.raises(SmsGatewayUnavailable, match="CALLCENTER_SMPP"):
        gateway.open()
