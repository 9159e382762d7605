"""Pure SMS rules: templates, segment counting, backoff, send window, opt-out words, receipt parsing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.models.sms import SmsStatus
from callcenter.sms import outbox, templates
from callcenter.sms.receipts import DeliveryReceipt, parse_receipt

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_rendered_message_has_signature_variables_and_opt_out_hint() -> None:
    sms = templates.render(
        "appointment_reminder",
        {"salutation": "张先生", "date": "12月3日", "time": "09:30", "department": "心内科", "place": "门诊楼3楼"},
        hospital_name="协和医院",
    )
    assert sms.body.startswith("【协和医院】张先生您好，提醒您于12月3日 09:30到心内科复诊，地点：门诊楼3楼。")
    assert sms.body.endswith("回复TD退订")
    assert sms.parts == 1  # 65 UCS-2 characters fit one message


def test_pre_call_notice_names_the_hospital_in_the_text() -> None:
    sms = templates.render("pre_call_notice", {"salutation": "李女士"}, hospital_name="示例医院")
    assert "示例医院随访中心近日将致电您" in sms.body


def test_missing_variable_is_named_in_the_error() -> None:
    with pytest.raises(templates.TemplateError, match="department, place"):
        templates.render("appointment_reminder", {"salutation": "张先生", "date": "1日", "time": "9点"},
                         hospital_name="医院")


def test_unknown_template_lists_the_known_ones() -> None:
    with pytest.raises(templates.TemplateError, match="pre_call_notice"):
        templates.get_template("nope")


@pytest.mark.parametrize(
    ("name", "sex", "expected"),
    [("张三", "male", "张先生"), ("李梅", "female", "李女士"), ("王五", "unknown", "王先生/女士"), ("", "male", "")],
)
def test_salutation_uses_surname_only(name: str, sex: str, expected: str) -> None:
    assert templates.salutation(name, sex) == expected


@pytest.mark.parametrize(
    ("body", "parts"),
    [("a" * 160, 1), ("a" * 161, 2), ("中" * 70, 1), ("中" * 71, 2), ("中" * 134, 2), ("中" * 135, 3)],
)
def test_parts_follow_gsm_and_ucs2_limits(body: str, parts: int) -> None:
    assert templates.count_parts(body) == parts


@pytest.mark.parametrize("text", ["TD", "td", " ＴＤ ", "退订", "TD退订", "t", "STOP", "我要退订短信", "退订。"])
def test_opt_out_replies_are_recognised(text: str) -> None:
    assert outbox.is_opt_out(text)


@pytest.mark.parametrize("text", ["1", "好的", "收到", "谢谢", "TDD", "明天来"])
def test_other_replies_are_not_opt_outs(text: str) -> None:
    assert not outbox.is_opt_out(text)


def test_temporary_failures_back_off_then_fail_after_max_attempts() -> None:
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    first = outbox.after_failure(attempts=1, max_attempts=3, temporary=True, now=now)
    second = outbox.after_failure(attempts=2, max_attempts=3, temporary=True, now=now)
    last = outbox.after_failure(attempts=3, max_attempts=3, temporary=True, now=now)
    assert first == outbox.RetryDecision(SmsStatus.queued, now + timedelta(minutes=1), final=False)
    assert second.next_attempt_at == now + timedelta(minutes=5)
    assert last == outbox.RetryDecision(SmsStatus.failed, None, final=True)


def test_permanent_refusal_fails_at_once() -> None:
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    assert outbox.after_failure(attempts=1, max_attempts=5, temporary=False, now=now).status is SmsStatus.failed


def test_retry_delay_repeats_the_longest_step() -> None:
    assert outbox.retry_delay(50) == outbox.RETRY_DELAYS[-1]


@pytest.mark.parametrize(
    ("consent", "deceased", "mobile", "reason"),
    [(True, False, True, None), (False, False, True, outbox.BlockReason.no_consent),
     (True, True, True, outbox.BlockReason.deceased), (True, False, False, outbox.BlockReason.no_mobile)],
)
def test_block_reason(consent: bool, deceased: bool, mobile: bool, reason: outbox.BlockReason | None) -> None:
    assert outbox.block_reason(sms_consent=consent, deceased=deceased, has_mobile=mobile) is reason


def test_night_messages_wait_for_the_morning_in_hospital_time() -> None:
    night = datetime(2026, 11, 25, 22, 30, tzinfo=SHANGHAI)
    assert not outbox.in_send_window(night, SHANGHAI)
    assert outbox.next_send_time(night, SHANGHAI) == datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI)
    early = datetime(2026, 11, 25, 6, 0, tzinfo=SHANGHAI)
    assert outbox.next_send_time(early, SHANGHAI) == datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI)
    day = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
    assert outbox.next_send_time(day, SHANGHAI) == day


def test_receipt_text_is_parsed() -> None:
    receipt = parse_receipt("id:1000 sub:001 dlvrd:000 submit date:2611251000 done date:2611251001 "
                            "stat:UNDELIV err:013 text:")
    assert receipt == DeliveryReceipt(message_id="1000", stat="UNDELIV", err="013")
    assert receipt.status is SmsStatus.failed


def test_receipt_tlvs_take_precedence_over_the_text() -> None:
    receipt = parse_receipt("id:x stat:ENROUTE", receipted_message_id="abc", message_state=2)
    assert (receipt.message_id, receipt.status) == ("abc", SmsStatus.delivered)


def test_interim_receipt_has_no_final_status() -> None:
    assert parse_receipt("id:1 stat:ENROUTE").status is None


def test_text_without_id_is_not_a_receipt() -> None:
    with pytest.raises(ValueError, match="not a delivery receipt"):
        parse_receipt("hello")


def test_send_window_setting_is_parsed_and_checked() -> None:
    assert outbox.parse_send_window("08:00-21:00") == (time(8, 0), time(21, 0))
    start, end = outbox.parse_send_window("00:00-24:00")
    assert outbox.in_send_window(datetime(2026, 11, 25, 23, 59, tzinfo=SHANGHAI), SHANGHAI, (start, end))
    with pytest.raises(outbox.SendWindowError, match="CALLCENTER_SMS_SEND_WINDOW"):
        outbox.parse_send_window("8-21h")
    with pytest.raises(outbox.SendWindowError, match="end after"):
        outbox.parse_send_window("21:00-08:00")
