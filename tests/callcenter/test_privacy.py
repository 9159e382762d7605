"""Masking of identifiers and who may hear which recording (pure rules)."""

from __future__ import annotations

import pytest

from callcenter import privacy
from callcenter.models import Role


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("110101199003071234", "110***********1234"),
        ("11010119900307123X", "110***********123X"),
        ("", ""),
        (None, ""),
        ("12345", "*****"),
    ],
)
def test_national_id_is_masked_keeping_prefix_and_last_four(raw, masked):
    assert privacy.mask_national_id(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13800138000", "138****8000"),
        ("010-12345678", "010-****5678"),
        ("0571-8888123", "0571-***8123"),
        ("12345678", "123*5678"),
        ("120", "*20"),
        ("", ""),
    ],
)
def test_phone_is_masked_keeping_prefix_and_last_four(raw, masked):
    assert privacy.mask_phone(raw) == masked


@pytest.mark.parametrize(
    ("role", "viewer", "caller", "allowed"),
    [
        (Role.supervisor, 1, 2, True),
        (Role.doctor, 1, None, True),
        (Role.nurse, 1, 1, True),
        (Role.nurse, 1, 2, False),
        (Role.nurse, 1, None, False),
        (Role.admin, 1, 1, False),
    ],
)
def test_only_supervisors_doctors_and_the_calling_nurse_hear_a_recording(role, viewer, caller, allowed):
    assert privacy.may_hear_attempt(role, viewer, caller) is allowed


def test_administrators_see_no_patient_data():
    assert not privacy.may_view_patients(Role.admin)
    assert privacy.may_view_patients(Role.nurse)
