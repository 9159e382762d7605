"""Pure helpers for SIP addresses."""

from __future__ import annotations

import re

from softphone.errors import InvalidCallUri

_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")


def normalize_uri(target: str, registrar: str = "") -> str:
    """A dialable SIP URI: ``sip:``/``sips:`` URIs pass through; a bare number goes to the registrar's domain.

    >>> normalize_uri("13800000000", "sip:10.0.0.5")
    'sip:13800000000@10.0.0.5'
    """
    target = target.strip()
    if target.startswith(("sip:", "sips:")):
        if "@" not in target and not registrar:
            raise InvalidCallUri(f"{target!r} has no host: write sip:USER@HOST[:PORT]")
        return target
    if target.startswith("<") and target.endswith(">"):
        return normalize_uri(target[1:-1], registrar)
    if _NUMBER.match(target):
        if not registrar:
            raise InvalidCallUri(
                f"cannot dial the bare number {target!r} without a registrar: set CALLCENTER_SIP_REGISTRAR "
                "or dial sip:NUMBER@HOST[:PORT]")
        domain = registrar.split(":", 1)[1].split(";")[0]
        return f"sip:{target}@{domain}"
    raise InvalidCallUri(f"{target!r} is not a SIP URI or phone number: write sip:USER@HOST[:PORT]")
