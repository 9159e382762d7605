"""Patient privacy rules (pure): masking of national IDs and phone numbers, and who may see or hear what.

Identifiers are masked by default everywhere on screen; unmasking is an explicit, audited act
(``callcenter.disclosure``). Administrators manage accounts and read the audit trail but see no patient data.
"""

from __future__ import annotations

from callcenter.models.users import Role

MASK = "*"

# Roles that may open patient records (queue, patient panel, answers).
PATIENT_DATA_ROLES: frozenset[Role] = frozenset({Role.nurse, Role.supervisor, Role.doctor})
# Roles that may hear any call's recording; a nurse hears only the calls she made.
ALL_RECORDINGS_ROLES: frozenset[Role] = frozenset({Role.supervisor, Role.doctor})


def mask_national_id(national_id: str | None) -> str:
    """``110101199003071234`` -> ``110***********1234`` (region prefix and last four kept)."""
    if not national_id:
        return ""
    value = national_id.strip()
    if len(value) <= 7:
        return MASK * len(value)
    return value[:3] + MASK * (len(value) - 7) + value[-4:]


def mask_name(name: str | None) -> str:
    """``张三`` -> ``张*``; ``欧阳娜娜`` -> ``欧***``: the family name stays (as on the supervisors' board)."""
    value = (name or "").strip()
    return value if len(value) <= 1 else value[0] + MASK * (len(value) - 1)


def mask_phone(number: str | None) -> str:
    """``13800138000`` -> ``138****8000``; ``010-12345678`` -> ``010-****5678``; short numbers keep 2 digits."""
    if not number:
        return ""
    value = number.strip()
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if len(digits) <= 4:
        return "".join(MASK if ch.isdigit() else ch for ch in value[:-2]) + value[-2:]
    if "-" in value:
        prefix, _, local = value.rpartition("-")
        keep_prefix = len(prefix) + 1
    elif len(digits) == 11 and value.startswith("1"):
        keep_prefix = 3  # mainland mobile: carrier prefix
    else:
        keep_prefix = min(3, len(digits) - 4)
    keep_from = digits[-4]
    out = [
        ch if (i < keep_prefix or i >= keep_from or not ch.isdigit()) else MASK for i, ch in enumerate(value)
    ]
    return "".join(out)


def may_view_patients(role: Role) -> bool:
    return role in PATIENT_DATA_ROLES


def may_hear_attempt(role: Role, viewer_id: int, attempt_user_id: int | None) -> bool:
    """Supervisors and doctors hear every recording; a nurse only those of calls she made."""
    if role in ALL_RECORDINGS_ROLES:
        return True
    return role is Role.nurse and attempt_user_id is not None and attempt_user_id == viewer_id
