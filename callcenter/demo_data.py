"""A realistic synthetic hospital for the demo, tests and benchmarks (deterministic for a seed).

Patients with Chinese names, valid national IDs (GB 11643) and mobile phones (some with a family member's phone
too, a few landlines), inpatient stays in 肿瘤科/心内科/内分泌科/普外科/神经内科/呼吸内科 with ICD-10 diagnoses in
Chinese, outpatient chronic-disease visits (高血压, 糖尿病), a few health checks, and a small share of Korean
patients without a national ID (ko-KR, used by the speech demo). Everything comes out as intake rows
(``RawRow``), so the demo goes through the same validation and import as real HIS data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.identity import CITIES, make_national_id
from callcenter.intake.hl7v2 import build_adt
from callcenter.intake.records import RawRow

HOSPITAL_TZ = ZoneInfo("Asia/Shanghai")
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
            "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤")
GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林建国志文海峰德福庆生"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀英华玲燕萍红梅琳兰凤洁雪琴云莉倩婷慧颖佳悦欣怡桂珍淑"
KOREAN_NAMES = ("김민수", "이서연", "박지훈", "최수진", "정우성", "강하늘", "조은비", "윤재민", "장미란", "한지민")
DOCTORS = ("李建国", "王丽", "张伟", "刘洋", "陈静", "赵明", "孙悦", "周涛", "吴敏", "郑华")
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
                   "156", "157", "158", "159", "177", "180", "181", "186", "187", "188", "189", "199")

# department -> (ICD-10 code, 中文 text, weight)
DIAGNOSES: dict[str, tuple[tuple[str, str, int], ...]] = {
    "肿瘤科": (("C34.900", "肺恶性肿瘤", 5), ("C16.900", "胃恶性肿瘤", 3), ("C18.900", "结肠恶性肿瘤", 2),
               ("C22.000", "肝细胞癌", 2), ("C50.900", "乳房恶性肿瘤", 3)),
    "心内科": (("I10.x00", "高血压", 5), ("I21.900", "急性心肌梗死", 2), ("I20.000", "不稳定型心绞痛", 3),
               ("I25.100", "冠状动脉粥样硬化性心脏病", 3), ("I50.900", "心力衰竭", 2), ("I48.x00", "心房颤动", 2)),
    "内分泌科": (("E11.900", "2型糖尿病", 6), ("E10.900", "1型糖尿病", 1), ("E05.900", "甲状腺功能亢进症", 2),
                 ("E66.900", "肥胖症", 1)),
    "普外科": (("K80.200", "胆囊结石", 4), ("K35.800", "急性阑尾炎", 3), ("K40.900", "腹股沟疝", 2),
               ("K56.700", "肠梗阻", 1)),
    "神经内科": (("I63.900", "脑梗死", 5), ("I61.900", "脑出血", 2), ("G20.x00", "帕金森病", 1),
                 ("G40.900", "癫痫", 1)),
    "呼吸内科": (("J44.100", "慢性阻塞性肺疾病急性加重", 4), ("J18.900", "肺炎", 4)),
}
DEPARTMENT_WEIGHTS = {"肿瘤科": 3, "心内科": 4, "内分泌科": 3, "普外科": 3, "神经内科": 3, "呼吸内科": 2}
CHRONIC_CLINICS = (("心内科", "I10.x00", "高血压"), ("内分泌科", "E11.900", "2型糖尿病"))
FAMILY = ("配偶", "儿子", "女儿", "老伴", "儿媳", "女婿")


@dataclass(frozen=True)
class DemoOptions:
    patients: int = 200
    seed: int = 7
    today: date = date(2026, 6, 1)
    months: int = 6  # admissions spread over this many months before today
    korean_share: float = 0.02  # patients speaking ko-KR (foreign, no national ID)
    family_phone_share: float = 0.3
    landline_share: float = 0.05
    health_check_share: float = 0.05
    tz: tzinfo = HOSPITAL_TZ


def _weighted(rng: random.Random, options: dict[str, int]) -> str:
    names = list(options)
    return rng.choices(names, weights=[options[n] for n in names])[0]


def _mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _local(day: date, rng: random.Random, tz: tzinfo, start_hour: int = 8, end_hour: int = 17) -> datetime:
    return datetime.combine(day, time(rng.randrange(start_hour, end_hour), rng.choice((0, 10, 20, 30, 40, 50))),
                            tzinfo=tz)


def generate_hospital(options: DemoOptions) -> Iterator[RawRow]:
    """Intake rows for ``options.patients`` patients; line numbers count rows from 1."""
    rng = random.Random(options.seed)
    used_ids: set[str] = set()
    line = 0
    cities = sorted(CITIES)
    for n in range(options.patients):
        patient, phones = _patient(rng, n, options, used_ids, cities)
        for visit in _visits(rng, n, patient, options):
            line += 1
            yield RawRow(line, {**patient, **visit}, phones)


def _patient(rng: random.Random, n: int, o: DemoOptions, used: set[str], cities: list[str]
             ) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
    male = rng.random() < 0.52
    age = min(95, max(18, int(rng.gauss(60, 14))))
    born = o.today - timedelta(days=age * 365 + rng.randrange(365))
    values: dict[str, Any] = {"mrn": f"M{n + 1:07d}", "sex": "male" if male else "female",
                              "language": "zh-CN"}
    if rng.random() < o.korean_share:
        values.update(name=rng.choice(KOREAN_NAMES), language="ko-KR", birth_date=born.isoformat())
    else:
        given = GIVEN_MALE if male else GIVEN_FEMALE
        values["name"] = rng.choice(SURNAMES) + "".join(rng.choice(given) for _ in range(rng.choice((1, 2))))
        while True:
            seq = rng.randrange(500) * 2 + (1 if male else 0)
            nid = make_national_id(rng.choice(cities) + f"{rng.randrange(1, 20):02d}", born, seq)
            if nid not in used:
                used.add(nid)
                break
        values["national_id"] = nid
    phones = [(_mobile(rng), "本人")]
    if rng.random() < o.landline_share:
        phones[0] = (f"0{rng.choice(('10', '21', '571', '25', '755'))}-{rng.randrange(2, 9)}{rng.randrange(10**6, 10**7)}",
                     "本人")
    if rng.random() < o.family_phone_share or age >= 80:
        phones.append((_mobile(rng), rng.choice(FAMILY)))
    return values, tuple(phones)


def _visits(rng: random.Random, n: int, patient: dict[str, Any], o: DemoOptions) -> list[dict[str, Any]]:
    visits: list[dict[str, Any]] = []
    department = _weighted(rng, DEPARTMENT_WEIGHTS)
    codes = DIAGNOSES[department]
    code, text, _ = rng.choices(codes, weights=[c[2] for c in codes])[0]
    admitted_day = o.today - timedelta(days=rng.randrange(1, o.months * 30))
    admitted = _local(admitted_day, rng, o.tz)
    stay_days = rng.randrange(3, 15 if department != "肿瘤科" else 22)
    discharged: datetime | None = _local(admitted_day + timedelta(days=stay_days), rng, o.tz, 9, 12)
    if discharged is not None and discharged.date() >= o.today:
        discharged = None  # still in hospital
    visits.append({"encounter_id": f"ZY{n + 1:07d}01", "kind": "inpatient", "department": department,
                   "admitted_at": admitted, "discharged_at": discharged or "", "diagnosis_code": code,
                   "diagnosis_text": text, "attending": rng.choice(DOCTORS)})
    chronic = [c for c in CHRONIC_CLINICS if c[1] == code or rng.random() < 0.15]
    for k, (clinic, ccode, ctext) in enumerate(chronic):
        for v in range(rng.randrange(1, 4)):
            day = o.today - timedelta(days=rng.randrange(1, o.months * 30))
            start = _local(day, rng, o.tz, 8, 16)
            visits.append({"encounter_id": f"MZ{n + 1:07d}{k}{v}", "kind": "outpatient", "department": clinic,
                           "admitted_at": start, "discharged_at": start + timedelta(minutes=rng.randrange(10, 40)),
                           "diagnosis_code": ccode, "diagnosis_text": ctext, "attending": rng.choice(DOCTORS)})
    if rng.random() < o.health_check_share:
        day = o.today - timedelta(days=rng.randrange(1, o.months * 30))
        start = _local(day, rng, o.tz, 7, 10)
        visits.append({"encounter_id": f"TJ{n + 1:07d}", "kind": "health_check", "department": "体检中心",
                       "admitted_at": start, "discharged_at": start + timedelta(hours=3),
                       "diagnosis_code": "Z00.000", "diagnosis_text": "健康查体", "attending": rng.choice(DOCTORS)})
    return visits


# --- malformed rows, for intake tests and benchmarks ----------------------------------------------------------

MALFORMATIONS = ("national_id", "phone", "discharged_at", "kind", "diagnosis_code", "admitted_at")


def malformed(row: RawRow, rng: random.Random, field: str | None = None) -> tuple[RawRow, str]:
    """A copy of ``row`` with one field broken the way HIS exports break (``field``, else one at random);
    returns it and the field name."""
    values = dict(row.values)
    phones = row.phones
    field = field or rng.choice(MALFORMATIONS)
    if field == "national_id":
        nid = values.get("national_id") or "11010519491231002X"
        values["national_id"] = nid[:17] + ("0" if nid[17] != "0" else "1")  # wrong check digit
    elif field == "phone":
        phones = (("138-0013-80", "本人"),)
    elif field == "discharged_at":
        admitted = values.get("admitted_at") or datetime(2026, 1, 1)
        values["admitted_at"] = admitted
        values["discharged_at"] = admitted - timedelta(days=2)
    elif field == "kind":
        values["kind"] = "住院部"
    elif field == "diagnosis_code":
        values["diagnosis_code"] = "高血压"
    elif field == "admitted_at":
        values["admitted_at"] = "2026-02-30 25:61"
    else:
        raise ValueError(f"unknown malformation {field!r}; one of {', '.join(MALFORMATIONS)}")
    values["encounter_id"] = f"BAD{row.line:08d}"
    return RawRow(row.line, values, phones), field


def adt_messages(rows: Iterator[RawRow] | list[RawRow], *, sent_at: datetime | None = None
                 ) -> Iterator[tuple[RawRow, str]]:
    """HL7 ADT messages for intake rows: A01/A04 at admission, then A03 when the patient was discharged."""
    for row in rows:
        values = dict(row.values)
        first = "A04" if values.get("kind") in ("outpatient", "health_check") else "A01"
        yield row, build_adt({**values, "discharged_at": ""}, first, f"{row.line}-1", phones=row.phones,
                             sent_at=sent_at)
        if values.get("discharged_at"):
            yield row, build_adt(values, "A03", f"{row.line}-3", phones=row.phones, sent_at=sent_at)


HL7_MALFORMATIONS = ("garbage", "national_id", "no_visit", "event", "admitted_at")


def malformed_message(row: RawRow, rng: random.Random, kind: str | None = None) -> tuple[str, str]:
    """A broken ADT message built from ``row`` and what is wrong with it (``kind``, else one at random)."""
    kind = kind or rng.choice(HL7_MALFORMATIONS)
    if kind not in HL7_MALFORMATIONS:
        raise ValueError(f"unknown malformation {kind!r}; one of {', '.join(HL7_MALFORMATIONS)}")
    values = {**row.values, "encounter_id": f"BAD{row.line:08d}", "discharged_at": ""}
    if kind == "garbage":
        return "this is not an HL7 message", kind
    if kind == "national_id":
        nid = values.get("national_id") or "11010519491231002X"
        values["national_id"] = nid[:17] + ("0" if nid[17] != "0" else "1")
    elif kind == "no_visit":
        values["encounter_id"] = ""
    elif kind == "admitted_at":
        values["admitted_at"] = "20261345"
    message = build_adt(values, "A01", f"bad-{row.line}", phones=row.phones)
    if kind == "event":
        message = message.replace("ADT^A01^ADT_A01", "ADT^A99^ADT_A99")
    return message, kind


def malformed_positions(count: int, share: float, rng: random.Random) -> dict[int, int]:
    """Exactly ``round(count * share)`` of the positions ``0 … count-1``, spread through them: one at a random
    place in each of as many equal blocks; returns {position: its number among the malformed ones}."""
    bad = min(count, round(count * share))
    out: dict[int, int] = {}
    for n in range(bad):
        start, end = n * count // bad, (n + 1) * count // bad  # blocks of whole positions, never overlapping
        out[start + rng.randrange(end - start)] = n
    return out


def mix_malformed(rows: Iterator[RawRow] | list[RawRow], count: int, *, share: float = 0.01, seed: int = 3,
                  first_line: int = 2) -> tuple[list[RawRow], dict[int, str]]:
    """The first ``count`` rows renumbered as file lines from ``first_line``, with exactly ``round(count *
    share)`` of them replaced by malformed copies — one in each block of 1/share rows, the kinds of
    ``MALFORMATIONS`` in turn; returns the rows and {line: broken field}."""
    rng = random.Random(seed)
    out: list[RawRow] = []
    bad: dict[int, str] = {}
    where = malformed_positions(count, share, rng)
    for row in rows:
        if len(out) == count:
            break
        numbered = RawRow(first_line + len(out), row.values, row.phones)
        if len(out) in where:
            numbered, field = malformed(numbered, rng, MALFORMATIONS[where[len(out)] % len(MALFORMATIONS)])
            bad[numbered.line] = field
        out.append(numbered)
    if len(out) < count:
        raise ValueError(f"{len(out)} rows given, {count} wanted; generate more patients")
    return out, bad


@dataclass(frozen=True)
class MixedAdtFile:
    """A file of ADT messages with malformed ones mixed in (``mix_malformed_messages``)."""

    lines: list[str]  # the file's lines (one segment each)
    bad: dict[int, str]  # line of each malformed message (its first line) -> what is wrong with it
    good: list[RawRow]  # the intake row of each good message, in file order (A01/A04 and A03 of a visit)

    @property
    def messages(self) -> int:
        return len(self.good) + len(self.bad)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def mix_malformed_messages(rows: Iterator[RawRow] | list[RawRow], count: int, *, share: float = 0.01,
                           seed: int = 5, sent_at: datetime | None = None) -> MixedAdtFile:
    """``count`` ADT messages for ``rows`` (``adt_messages``), exactly ``round(count * share)`` of them malformed
    — one in each block of 1/share messages, inserted before a good one, the kinds of ``HL7_MALFORMATIONS`` in
    turn (each built from the row of the message it precedes)."""
    rng = random.Random(seed)
    where = malformed_positions(count, share, rng)
    lines: list[str] = []
    bad: dict[int, str] = {}
    good: list[RawRow] = []
    messages = adt_messages(rows, sent_at=sent_at)
    pending: tuple[RawRow, str] | None = None
    for position in range(count):
        if pending is None:
            pending = next(messages, None)
            if pending is None:
                raise ValueError(f"{position} messages from the rows given, {count} wanted; give more rows")
        row, message = pending
        if position in where:
            broken, kind = malformed_message(row, rng, HL7_MALFORMATIONS[where[position] % len(HL7_MALFORMATIONS)])
            bad[len(lines) + 1] = kind
            lines.extend(broken.strip("\r").split("\r"))
            continue
        good.append(row)
        lines.extend(message.strip("\r").split("\r"))
        pending = None
    return MixedAdtFile(lines, bad, good)
