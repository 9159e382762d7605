"""``callcenter ids check ID… [--json]``: validate national IDs and show what they encode."""

from __future__ import annotations

import json
from typing import Any

import click

from callcenter.identity import InvalidNationalId, parse_national_id


def _check(raw: str) -> dict[str, Any]:
    try:
        nid = parse_national_id(raw)
    except InvalidNationalId as exc:
        return {"input": raw, "valid": False, "reason": exc.reason}
    return {
        "input": raw, "valid": True, "national_id": nid.number, "birth_date": nid.birth_date.isoformat(),
        "sex": nid.sex, "region_code": nid.region_code, "province": nid.province, "city": nid.city,
        "upgraded_from": nid.upgraded_from,
    }


@click.group("ids")
def command() -> None:
    """Patient identifiers (身份证号)."""


@command.command("check")
@click.argument("ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per ID.")
def check(ids: tuple[str, ...], as_json: bool) -> None:
    """Check national IDs (18 characters, or 15 for old ones); exit 1 if any is invalid."""
    results = [_check(raw) for raw in ids]
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for r in results:
            if r["valid"]:
                where = r["province"] + r["city"] if r["city"] != r["province"] else r["province"]
                upgraded = f" (upgraded from {r['upgraded_from']})" if r["upgraded_from"] else ""
                click.echo(f"{r['input']}: valid {r['national_id']}{upgraded} born {r['birth_date']} "
                           f"{r['sex']} {r['region_code']} {where}")
            else:
                click.echo(f"{r['input']}: INVALID — {r['reason']}")
    if not all(r["valid"] for r in results):
        raise SystemExit(1)
