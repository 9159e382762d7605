"""Patient identity in pure code: national IDs (GB 11643), Chinese phone numbers and who owns a phone.

- ``parse_national_id`` checks an 18-character 居民身份证号 (check digit, birth date, province code) and derives
  birth date, sex and region; 15-digit IDs issued before 1999 are upgraded to 18 (``19`` inserted, check digit
  computed).
- ``normalize_phone`` turns what HIS systems and people type (``+86 138-0013-8000``, ``(010)12345678转123``)
  into one canonical form: mobiles ``13800138000``, landlines ``010-12345678`` (``;ext=123`` for extensions).
- ``parse_owner`` maps 本人 / 配偶 / 儿子 … to the owner codes of ``PhoneOwner``.

Errors subclass ``IdentityError`` (an ``InvalidInput``) with a reason a clerk can act on.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from callcenter.errors import InvalidInput

SexCode = Literal["male", "female"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"

# GB/T 2260 province-level codes (the first two digits of every ID).
PROVINCES: dict[str, str] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
    "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区", "46": "海南省",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
    "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区", "65": "新疆维吾尔自治区",
    "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
    "83": "台湾居民居住证",  # residence permits for Taiwan residents (2018) use 830000
}

# A compact table of prefecture-level cities (first four digits); the full county table is not needed here.
CITIES: dict[str, str] = {
    "1101": "北京市", "1201": "天津市", "1301": "石家庄市", "1302": "唐山市", "1401": "太原市", "1501": "呼和浩特市",
    "2101": "沈阳市", "2102": "大连市", "2201": "长春市", "2301": "哈尔滨市", "3101": "上海市",
    "3201": "南京市", "3202": "无锡市", "3205": "苏州市", "3301": "杭州市", "3302": "宁波市", "3303": "温州市",
    "3401": "合肥市", "3501": "福州市", "3502": "厦门市", "3601": "南昌市", "3701": "济南市", "3702": "青岛市",
    "4101": "郑州市", "4201": "武汉市", "4301": "长沙市", "4401": "广州市", "4403": "深圳市", "4406": "佛山市",
    "4501": "南宁市", "4601": "海口市", "5001": "重庆市", "5101": "成都市", "5201": "贵阳市", "5301": "昆明市",
    "5401": "拉萨市", "6101": "西安市", "6201": "兰州市", "6301": "西宁市", "6401": "银川市", "6501": "乌鲁木齐市",
}

_EARLIEST_BIRTH = date(1900, 1, 1)


class IdentityError(InvalidInput):
    """An identifier or phone number cannot be used; ``reason`` says what is wrong with it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidNationalId(IdentityError):
    pass


class InvalidPhone(IdentityError):
    pass


@dataclass(frozen=True)
class NationalId:
    number: str  # 18 characters, upper-case X
    birth_date: date
    sex: SexCode
    region_code: str  # the six-digit address code
    upgraded_from: str = ""  # the 15-digit original, when upgraded

    @property
    def province(self) -> str:
        return PROVINCES.get(self.region_code[:2], "")

    @property
    def city(self) -> str:
        return CITIES.get(self.region_code[:4], "")

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        return years - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


def check_digit(first17: str) -> str:
    """The GB 11643 check character (``0``–``9`` or ``X``) of the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise InvalidNationalId(f"need 17 digits to compute a check digit, got {len(first17)} characters")
    total = sum(map(operator.mul, map(int, first17), _WEIGHTS))
    return _CHECK_CHARS[total % 11]


def upgrade_15_to_18(old: str) -> str:
    """Upgrade a 15-digit ID (birth year without century, no check digit) to 18 characters."""
    old = old.strip()
    if len(old) != 15 or not old.isdigit():
        raise InvalidNationalId("a legacy ID has exactly 15 digits")
    first17 = old[:6] + "19" + old[6:]
    return first17 + check_digit(first17)


def parse_national_id(raw: str, *, today: date | None = None) -> NationalId:
    """Validate ``raw`` and derive birth date, sex and region; raise ``InvalidNationalId`` with the reason."""
    text = re.sub(r"[\s-]", "", raw or "").upper()
    if not text:
        raise InvalidNationalId("empty national ID")
    upgraded_from = ""
    if len(text) == 15:
        if not text.isdigit():
            raise InvalidNationalId("a 15-digit legacy ID contains only digits")
        upgraded_from = text
        text = upgrade_15_to_18(text)
    if len(text) != 18:
        raise InvalidNationalId(f"a national ID has 18 characters (or 15 for old ones), got {len(text)}")
    if not text[:17].isdigit() or not (text[17].isdigit() or text[17] == "X"):
        raise InvalidNationalId("only digits are allowed, and X as the last character")
    region = text[:6]
    if region[:2] not in PROVINCES:
        raise InvalidNationalId(f"unknown province code {region[:2]} in the first two digits")
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise InvalidNationalId(f"digits 7-14 ({text[6:14]}) are not a valid birth date") from None
    if born < _EARLIEST_BIRTH or (today is not None and born > today):
        raise InvalidNationalId(f"birth date {born.isoformat()} is not plausible")
    expected = check_digit(text[:17])
    if text[17] != expected:
        raise InvalidNationalId(f"check digit is {text[17]} but should be {expected}; a digit was mistyped")
    sex: SexCode = "male" if int(text[16]) % 2 else "female"
    return NationalId(number=text, birth_date=born, sex=sex, region_code=region, upgraded_from=upgraded_from)


def is_valid_national_id(raw: str, *, today: date | None = None) -> bool:
    try:
        parse_national_id(raw, today=today)
    except InvalidNationalId:
        return False
    return True


def make_national_id(region_code: str, birth_date: date, sequence: int) -> str:
    """Build a valid 18-character ID (for demo data and tests). Odd ``sequence`` = male, even = female."""
    if len(region_code) != 6 or not region_code.isdigit() or not 0 <= sequence <= 999:
        raise InvalidNationalId("need a 6-digit region code and a sequence 0-999")
    first17 = f"{region_code}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + check_digit(first17)


# --- phones ---------------------------------------------------------------------------------------------------

PhoneKind = Literal["mobile", "landline"]

_MOBILE = re.compile(r"1[3-9]\d{9}")
_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x|#)\s*(\d{1,6})$", re.IGNORECASE)
_DASHED_EXTENSION = re.compile(r"(\(?0\d{2,3}\)?[\s-]*\d{7,8})-(\d{1,6})")
_TWO_DIGIT_AREAS = ("10", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29")


@dataclass(frozen=True)
class Phone:
    number: str  # 13800138000 or 010-12345678
    kind: PhoneKind
    extension: str = ""

    def __str__(self) -> str:
        """The stored form: the number, plus ``;ext=123`` (RFC 3966 style) when there is an extension."""
        return f"{self.number};ext={self.extension}" if self.extension else self.number

    @property
    def dial_digits(self) -> str:
        """What to dial (the extension is keyed as DTMF after the answer)."""
        return self.number.replace("-", "")


def normalize_phone(raw: str, *, default_area_code: str = "") -> Phone:
    """Canonical form of a Chinese mobile or landline number; raise ``InvalidPhone`` with the reason.

    Accepts ``+86``/``0086``/``86`` prefixes, spaces, dashes, dots and brackets, ``(010)``, and extensions
    written ``转123``, ``分机123``, ``ext 123``, ``x123`` or ``#123``. A landline without an area code needs
    ``default_area_code`` (e.g. ``010``).
    """
    text = (raw or "").strip().replace("（", "(").replace("）", ")").replace("－", "-").replace("＋", "+")
    if not text:
        raise InvalidPhone("empty phone number")
    if ";ext=" in text:
        text, _, ext = text.partition(";ext=")
        text = f"{text}转{ext}"
    extension = ""
    dashed = _DASHED_EXTENSION.fullmatch(text)
    ext_match = _EXTENSION.search(text)
    if dashed:  # 010-12345678-8001
        extension = dashed.group(2)
        text = dashed.group(1)
    elif ext_match:
        extension = ext_match.group(1)
        text = text[: ext_match.start()]
    international = text.startswith("+") or text.startswith("00")
    digits = re.sub(r"[\s\-.()/+]", "", text)
    if not digits.isdigit():
        raise InvalidPhone("a phone number may contain only digits, spaces, dashes, brackets and a + prefix")
    if international:
        digits = digits[2:] if digits.startswith("00") else digits
        if not digits.startswith("86"):
            raise InvalidPhone("only Chinese numbers (+86) can be called; write other countries' numbers in full")
        digits = digits[2:]
        if not _MOBILE.fullmatch(digits):
            digits = "0" + digits.lstrip("0")  # +86 10 12345678 -> 010 12345678
    elif digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        digits = digits[2:]
    if _MOBILE.fullmatch(digits):
        if extension:
            raise InvalidPhone("a mobile number has no extension")
        return Phone(number=digits, kind="mobile")
    if len(digits) == 11 and digits.startswith("1"):
        raise InvalidPhone("a mobile number starts with 13-19 and has 11 digits")
    if digits.startswith("0"):
        area_len = 3 if digits[1:3] in _TWO_DIGIT_AREAS else 4
        area, local = digits[:area_len], digits[area_len:]
    else:
        if not default_area_code:
            raise InvalidPhone("a landline needs its area code (e.g. 010-12345678)")
        area, local = "0" + default_area_code.lstrip("0"), digits
    if not 7 <= len(local) <= 8 or local[0] in "01":
        raise InvalidPhone("a landline has 7 or 8 digits after the area code, not starting with 0 or 1")
    return Phone(number=f"{area}-{local}", kind="landline", extension=extension)


def is_valid_phone(raw: str, *, default_area_code: str = "") -> bool:
    try:
        normalize_phone(raw, default_area_code=default_area_code)
    except InvalidPhone:
        return False
    return True


# --- phone owner ----------------------------------------------------------------------------------------------

OwnerCode = Literal["self", "spouse", "child", "parent", "relative", "caregiver", "other"]

_OWNER_WORDS: tuple[tuple[OwnerCode, tuple[str, ...]], ...] = (
    ("self", ("self", "本人", "自己", "患者", "病人", "patient")),
    ("spouse", ("spouse", "配偶", "丈夫", "妻子", "老伴", "爱人", "老公", "老婆", "husband", "wife")),
    ("child", ("child", "子女", "儿子", "女儿", "儿媳", "女婿", "son", "daughter")),
    ("parent", ("parent", "父母", "父亲", "母亲", "爸爸", "妈妈", "father", "mother")),
    ("caregiver", ("caregiver", "护工", "保姆", "陪护", "监护人")),
    ("relative", ("relative", "亲属", "家属", "兄弟", "姐妹", "哥哥", "姐姐", "弟弟", "妹妹", "孙子", "孙女",
                  "外孙", "侄子", "侄女", "family")),
)


def parse_owner(raw: str | None) -> OwnerCode:
    """Owner code for what the HIS wrote in the relationship field; empty means the patient, unknown ``other``."""
    text = (raw or "").strip().lower()
    if not text:
        return "self"
    for code, words in _OWNER_WORDS:
        if text in words:
            return code
    for code, words in _OWNER_WORDS:
        if any(w in text for w in words if len(w) > 1 and not w.isascii()):
            return code
    return "other"
