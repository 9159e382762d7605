"""SMS templates (zh-CN) with patient variables, rendered with the hospital's signature and the opt-out line.

Chinese carriers require a signature in 【】 naming the sender and an unsubscribe hint on notification
messages; both are added here, so a template holds only the message itself.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass

from callcenter.errors import InvalidInput

OPT_OUT_HINT = "回复TD退订"
UCS2_SINGLE_CHARS = 70
UCS2_PART_CHARS = 67  # 3 UCS-2 characters go to the concatenation header
GSM_SINGLE_CHARS = 160
GSM_PART_CHARS = 153


class TemplateError(InvalidInput):
    """A template is unknown or a variable it needs was not given."""


@dataclass(frozen=True)
class SmsTemplate:
    key: str
    title: str
    text: str

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.text) if name)


@dataclass(frozen=True)
class RenderedSms:
    template_key: str
    body: str
    parts: int


TEMPLATES: dict[str, SmsTemplate] = {
    t.key: t
    for t in (
        SmsTemplate(
            "chronic_hypertension_monthly",
            "高血压月度健康提醒",
            "{salutation}您好，本月请按时服用降压药，每天测量并记录血压，低盐饮食、适量运动。"
            "如血压持续高于160/100mmHg或出现头痛、胸闷，请及时就医。",
        ),
        SmsTemplate(
            "chronic_diabetes_monthly",
            "糖尿病月度健康提醒",
            "{salutation}您好，本月请按时用药，定期监测空腹及餐后两小时血糖，控制饮食、适量运动。"
            "如出现心慌、出汗、乏力等低血糖表现，请立即进食并及时就医。",
        ),
        SmsTemplate(
            "chronic_general_monthly",
            "慢病月度健康提醒",
            "{salutation}您好，{group_name}随访提醒：请遵医嘱按时服药，规律作息，定期复查。"
            "如有不适请及时就医。",
        ),
        SmsTemplate(
            "appointment_reminder",
            "复诊预约提醒",
            "{salutation}您好，提醒您于{date} {time}到{department}复诊，地点：{place}。"
            "如需改约请联系{hospital}随访中心。",
        ),
        SmsTemplate(
            "pre_call_notice",
            "随访来电预告",
            "{salutation}您好，{hospital}随访中心近日将致电您了解康复情况，来电请放心接听。",
        ),
        SmsTemplate(
            "robot_call_missed",
            "未接来电提醒",
            "{salutation}您好，{hospital}随访中心曾致电您，提醒您于{date}到{department}复诊。"
            "如需改约请联系{hospital}随访中心。",
        ),
    )
}


def get_template(key: str) -> SmsTemplate:
    try:
        return TEMPLATES[key]
    except KeyError:
        raise TemplateError(
            f"unknown SMS template {key!r}; use one of: {', '.join(sorted(TEMPLATES))}"
        ) from None


def salutation(name: str, sex: str) -> str:
    """张先生 / 李女士 from the patient's name and sex; the full name never goes into a message."""
    surname = name.strip()[:1]
    if not surname:
        return ""
    honorific = {"male": "先生", "female": "女士"}.get(sex, "")
    return surname + honorific if honorific else surname + "先生/女士"


def count_parts(body: str) -> int:
    """How many SMS the body takes: GSM 7-bit for plain ASCII, else UCS-2 (every Chinese message)."""
    if body.isascii():
        single, part = GSM_SINGLE_CHARS, GSM_PART_CHARS
    else:
        single, part = UCS2_SINGLE_CHARS, UCS2_PART_CHARS
    n = len(body)
    return 1 if n <= single else math.ceil(n / part)


def render(key: str, variables: Mapping[str, str], *, hospital_name: str) -> RenderedSms:
    """The full message: 【hospital】 + template text + the opt-out hint. Missing variables raise TemplateError."""
    template = get_template(key)
    values = {"hospital": hospital_name, **variables}
    missing = sorted(name for name in template.variables if not str(values.get(name, "")).strip())
    if missing:
        raise TemplateError(f"SMS template {key!r} needs the variables {', '.join(missing)}; give them a value")
    text = template.text.format_map(values)
    body = f"【{hospital_name}】{text}{OPT_OUT_HINT}"
    return RenderedSms(template_key=key, body=body, parts=count_parts(body))
