from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.identity import (
    CITIES,
    InvalidNationalId,
    InvalidPhone,
    check_digit,
    is_valid_national_id,
    make_national_id,
    normalize_phone,
    parse_national_id,
    parse_owner,
    upgrade_15_to_18,
)


def test_published_example_id_is_parsed():
    nid = parse_national_id("11010519491231002x")
    assert nid.number == "11010519491231002X"
    assert nid.birth_date == date(1949, 12, 31)
    assert nid.sex == "female"  # 17th digit 2 is even
    assert nid.region_code == "110105"
    assert nid.province == "北京市"
    assert nid.city == "北京市"
    assert nid.age_on(date(2026, 12, 30)) == 76
    assert nid.age_on(date(2026, 12, 31)) == 77


def test_legacy_15_digit_id_is_upgraded_with_century_and_check_digit():
    nid = parse_national_id("340524800101001")
    assert nid.number == "34052419800101001X"
    assert nid.upgraded_from == "340524800101001"
    assert nid.birth_date == date(1980, 1, 1)
    assert nid.sex == "male"
    assert upgrade_15_to_18("340524800101001") == "34052419800101001X"


@pytest.mark.parametrize("raw, reason", [
    ("", "empty"),
    ("1101051949123100", "18 characters"),
    ("11010519491231002Y", "only digits"),
    ("1101051949123X002X", "only digits"),
    ("99010519491231002X", "province"),
    ("110105194913310023", "birth date"),
    ("110105189912310021", "plausible"),
    ("110105194912310021", "check digit is 1 but should be X"),
    ("34052480010100A", "only digits"),
])
def test_invalid_ids_are_refused_with_the_reason(raw, reason):
    with pytest.raises(InvalidNationalId, match=reason):
        parse_national_id(raw)
    assert not is_valid_national_id(raw)


def test_birth_date_in_the_future_is_refused_when_today_is_known():
    future = make_national_id("110105", date(2030, 1, 1), 11)
    assert is_valid_national_id(future)
    with pytest.raises(InvalidNationalId, match="plausible"):
        parse_national_id(future, today=date(2026, 1, 1))


@given(st.sampled_from(sorted(CITIES)), st.dates(date(1900, 1, 1), date(2025, 12, 31)), st.integers(0, 999))
def test_generated_ids_parse_back_to_their_parts(city, born, seq):
    number = make_national_id(city + "01", born, seq)
    nid = parse_national_id(number)
    assert (nid.birth_date, nid.region_code) == (born, city + "01")
    assert nid.sex == ("male" if seq % 2 else "female")


@given(st.text("0123456789", min_size=17, max_size=17), st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_typo_breaks_the_check_digit(first17, pos, delta):
    good = first17 + check_digit(first17)
    typo = first17[:pos] + str((int(first17[pos]) + delta) % 10) + first17[pos + 1:]
    assert check_digit(typo) != good[17]


@pytest.mark.parametrize("raw, number, kind, ext", [
    ("13800138000", "13800138000", "mobile", ""),
    ("+86 138-0013-8000", "13800138000", "mobile", ""),
    ("0086 13800138000", "13800138000", "mobile", ""),
    ("8613800138000", "13800138000", "mobile", ""),
    ("138 0013 8000", "13800138000", "mobile", ""),
    ("010-62345678", "010-62345678", "landline", ""),
    ("(010)62345678转123", "010-62345678", "landline", "123"),
    ("（010）6234 5678", "010-62345678", "landline", ""),
    ("010-62345678-8001", "010-62345678", "landline", "8001"),
    ("0755 8888 9999 ext 12", "0755-88889999", "landline", "12"),
    ("+86 21 6228 5555", "021-62285555", "landline", ""),
    ("057188889999", "0571-88889999", "landline", ""),
    ("0571-8888999 分机 7", "0571-8888999", "landline", "7"),
    ("021-62285555;ext=9", "021-62285555", "landline", "9"),
])
def test_phones_are_normalised(raw, number, kind, ext):
    phone = normalize_phone(raw)
    assert (phone.number, phone.kind, phone.extension) == (number, kind, ext)
    assert normalize_phone(str(phone)) == phone  # the stored form parses to itself


def test_landline_without_area_code_takes_the_default():
    assert normalize_phone("62345678", default_area_code="010").number == "010-62345678"
    with pytest.raises(InvalidPhone, match="area code"):
        normalize_phone("62345678")


@pytest.mark.parametrize("raw, reason", [
    ("", "empty"),
    ("12800138000", "mobile number starts with 13-19"),
    ("1380013800", "landline"),
    ("138-0013-800O", "only digits"),
    ("+1 415 555 0100", "Chinese numbers"),
    ("010-1234567", "7 or 8 digits"),
    ("010-623456789", "7 or 8 digits"),
    ("13800138000转12", "no extension"),
])
def test_bad_phones_are_refused_with_the_reason(raw, reason):
    with pytest.raises(InvalidPhone, match=reason):
        normalize_phone(raw)


def test_dial_digits_drop_separators():
    assert normalize_phone("(010)62345678转123").dial_digits == "01062345678"


@pytest.mark.parametrize("raw, code", [
    (None, "self"), ("", "self"), ("本人", "self"), ("配偶", "spouse"), ("老伴", "spouse"), ("儿子", "child"),
    ("女儿", "child"), ("母亲", "parent"), ("护工", "caregiver"), ("大儿子", "child"), ("姐姐", "relative"),
    ("Wife", "spouse"), ("邻居", "other"),
])
def test_phone_owner_words_map_to_codes(raw, code):
    assert parse_owner(raw) == code
