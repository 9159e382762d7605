"""The doctor's script editor: edit a draft (YAML) with the checker's findings at their lines as one types,
preview it as the nurse will see it, simulate it, publish it as a new version (audited), diff two versions.

Drafts and versions live in ``callcenter.questionnaires``; findings, preview, simulation and diff in
``callcenter.script_editor``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter import audit, questionnaires, script_editor
from callcenter.audit import AuditAction
from callcenter.errors import InvalidInput
from callcenter.models import QuestionnaireStatus, Role
from web.auth import remote_addr, role_required
from web.services import db, state

bp = Blueprint("scripts", __name__, url_prefix="/doctor/scripts")

EDITOR_ROLES = (Role.doctor,)
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
MAX_SOURCE_CHARS = 200_000


def _source() -> str:
    source = request.form.get("source", "")
    if request.is_json:
        body = request.get_json(silent=True) or {}
        source = str(body.get("source", ""))
    if len(source) > MAX_SOURCE_CHARS:
        raise InvalidInput(f"the script is longer than {MAX_SOURCE_CHARS} characters; split it")
    return source.replace("\r\n", "\n")


def _check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InvalidInput(f"questionnaire key {key!r}: use letters, digits, '_' or '-', starting with a letter")
    return key


@bp.get("/")
@role_required(*EDITOR_ROLES)
def index() -> Any:
    with db() as session:
        rows = questionnaires.list_questionnaires(session)
    keys: dict[str, list[Any]] = {}
    for row in rows:
        keys.setdefault(row.key, []).append(row)
    return render_template("doctor/scripts.html", keys=keys)


@bp.post("/new")
@role_required(*EDITOR_ROLES)
def new() -> Any:
    key = _check_key(request.form.get("key", "").strip())
    return redirect(url_for("scripts.edit", key=key))


@bp.get("/<key>/edit")
@role_required(*EDITOR_ROLES)
def edit(key: str) -> Any:
    _check_key(key)
    with db() as session:
        versions = [r for r in questionnaires.list_questionnaires(session) if r.key == key]
    draft = next((r for r in versions if r.version == 0), None)
    published = [r for r in versions if r.status != QuestionnaireStatus.draft]
    if draft is not None:
        source = draft.source
    elif published:
        source = published[-1].source
    else:
        source = script_editor.NEW_SCRIPT_TEMPLATE.format(key=key)
    found, speech = script_editor.review(source, vocabulary=state().services.vocabulary)
    return render_template("doctor/script_edit.html", key=key, source=source, published=published,
                           findings=found, speech=speech, has_draft=draft is not None)


@bp.post("/check")
@role_required(*EDITOR_ROLES)
def check() -> Any:
    """The checker's findings for the posted text (the editor calls this as the doctor types), with warnings at
    spoken phrases the speech model cannot recognise, and what the speech check covered."""
    found, speech = script_editor.review(_source(), vocabulary=state().services.vocabulary)
    return jsonify(ok=not script_editor.has_errors(found), problems=[f.to_dict() for f in found], speech=speech)


@bp.post("/preview")
@role_required(*EDITOR_ROLES)
def preview() -> Any:
    return render_template("doctor/_script_preview.html", preview=script_editor.preview(_source()))


@bp.post("/simulate")
@role_required(*EDITOR_ROLES)
def simulate() -> Any:
    result = script_editor.simulate_source(_source(), request.form.get("answers", "{}"))
    return render_template("doctor/_script_simulation.html", result=result)


@bp.post("/<key>/draft")
@role_required(*EDITOR_ROLES)
def save_draft(key: str) -> Any:
    source = _source()
    with db() as session:
        row, problems = questionnaires.save_draft(session, source, f"{key}@draft")
        audit.record(session, action=AuditAction.script_draft, at=state().services.clock.now(),
                     user_id=current_user.id, object_type="questionnaire", object_id=f"{row.key}@draft",
                     remote_addr=remote_addr(), detail={"problems": len(problems)})
    flash(f"草稿已保存（{len(problems)} 条提示）。", "info")
    return redirect(url_for("scripts.edit", key=row.key))


@bp.post("/<key>/publish")
@role_required(*EDITOR_ROLES)
def publish(key: str) -> Any:
    source = _source()
    now = state().services.clock.now()
    with db() as session:
        row, created = questionnaires.publish(session, source, f"{key}.yaml", published_by_id=current_user.id,
                                              now=now)
        if created:
            audit.record(session, action=AuditAction.script_publish, at=now, user_id=current_user.id,
                         object_type="questionnaire", object_id=f"{row.key}@{row.version}",
                         remote_addr=remote_addr(), detail={"sha256": row.sha256})
    if created:
        flash(f"已发布 {row.key} 第 {row.version} 版：新的随访将使用此版本。", "info")
    else:
        flash(f"内容与第 {row.version} 版相同，未发布新版本。", "info")
    unheard = _speech_warnings(source)
    if unheard:
        flash(f"注意：{unheard} 处说法含语音模型不认识的词，语音识别永远听不到（见检查提示）。", "warning")
    return redirect(url_for("scripts.edit", key=row.key))


def _speech_warnings(source: str) -> int:
    """How many spoken phrases of ``source`` the speech models could never recognise (0 without a check)."""
    vocabulary = state().services.vocabulary
    if vocabulary is None:
        return 0
    return len(script_editor.speech_problems(source, vocabulary))


@bp.get("/<key>/versions/<int:version>")
@role_required(*EDITOR_ROLES)
def version(key: str, version: int) -> Any:
    with db() as session:
        row = questionnaires.get_version(session, key, version)
        others = [r.version for r in questionnaires.list_questionnaires(session) if r.key == key]
    return render_template("doctor/script_version.html", row=row, others=others)


@bp.get("/<key>/diff")
@role_required(*EDITOR_ROLES)
def diff(key: str) -> Any:
    a, b = request.args.get("a", ""), request.args.get("b", "")
    if not (a.isdigit() and b.isdigit()):
        raise InvalidInput("choose two versions to compare (?a=1&b=2; 0 is the draft)")
    with db() as session:
        old = questionnaires.get_version(session, key, int(a))
        new_row = questionnaires.get_version(session, key, int(b))
        versions = [r.version for r in questionnaires.list_questionnaires(session) if r.key == key]
    lines = script_editor.diff(old.source, new_row.source, f"{key}@{a}", f"{key}@{b}")
    return render_template("doctor/script_diff.html", key=key, a=int(a), b=int(b), lines=lines, versions=versions)
