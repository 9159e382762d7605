"""Statistics: figures per department, plan, nurse or day for a period, charts, and CSV / XLSX exports (audited).

The view only parses the filter form; the figures come from ``callcenter.statistics_queries`` and the files from
``callcenter.statistics_export``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, render_template, request
from flask_login import current_user

from callcenter import statistics_queries
from callcenter.errors import InvalidInput
from callcenter.models import Role
from callcenter.statistics import Dimension
from callcenter.statistics_export import ExportFormat, export
from callcenter.statistics_queries import Filters
from web.auth import remote_addr, role_required
from web.services import db, local_today, state

bp = Blueprint("stats", __name__, url_prefix="/supervisor/stats")

STATS_ROLES = (Role.supervisor, Role.doctor)
MAX_DAYS = 366


def _date(raw: str, default: date, name: str) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a date like 2026-11-25, got {raw!r}") from None


def _filters() -> tuple[Filters, Dimension]:
    args = request.args
    today = local_today()
    start = _date(args.get("start", ""), today - timedelta(days=6), "start")
    last = _date(args.get("end", ""), today, "end")  # inclusive in the form, exclusive in Filters
    if last < start:
        raise InvalidInput("the end date is before the start date; swap them")
    if (last - start).days >= MAX_DAYS:
        raise InvalidInput(f"choose at most {MAX_DAYS} days; export longer periods year by year")
    nurse = args.get("nurse", "")
    if nurse and not nurse.isdigit():
        raise InvalidInput("nurse must be a user id")
    try:
        dimension = Dimension(args.get("by", "department") or "department")
    except ValueError:
        raise InvalidInput(f"by must be one of {', '.join(d.value for d in Dimension)}") from None
    return Filters(start, last + timedelta(days=1), args.get("department", ""), args.get("plan", ""),
                   int(nurse) if nurse else None), dimension


@bp.get("/")
@role_required(*STATS_ROLES)
def page() -> Any:
    filters, dimension = _filters()
    zone = ZoneInfo(state().settings.timezone)
    with db() as session:
        report = statistics_queries.build_report(session, filters, dimension, zone)
        options = statistics_queries.choices(session)
    chart = {
        "hours": list(report.calls_by_hour),
        "trend": [[d.isoformat(), due, done, calls] for d, due, done, calls in report.trend],
        "dispositions": report.total.dispositions,
        "groups": [asdict(g) for g in report.groups],
    }
    return render_template("supervisor/stats.html", report=report, filters=filters, dimension=dimension,
                           options=options, chart=chart, last_day=filters.end - timedelta(days=1),
                           dimensions=list(Dimension), query=request.query_string.decode())


@bp.get("/export.<fmt>")
@role_required(*STATS_ROLES)
def download(fmt: str) -> Any:
    try:
        file_format = ExportFormat(fmt)
    except ValueError:
        raise InvalidInput("export as csv or xlsx") from None
    filters, dimension = _filters()
    current = state()
    with db() as session:
        found = export(session, filters, dimension, ZoneInfo(current.settings.timezone), file_format,
                       user_id=current_user.id, at=current.services.clock.now(), remote_addr=remote_addr())
    return Response(found.content, mimetype=found.mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{found.filename}"',
                             "Cache-Control": "no-store"})
