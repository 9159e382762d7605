"""Recordings, only through authenticated and authorised routes, with HTTP Range; every access audited."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, send_file, session
from flask_login import current_user

from callcenter import disclosure
from callcenter.models import Role
from web.auth import remote_addr, role_required
from web.services import db, state

bp = Blueprint("recordings", __name__, url_prefix="/recordings")

LISTEN_ROLES = (Role.nurse, Role.supervisor, Role.doctor)  # nurses: own calls only (callcenter.privacy)
_HEARD_KEY = "recordings_heard"


def _file(recording_id: int, *, download: bool = False, audited: bool = True) -> disclosure.RecordingFile:
    with db() as db_session:
        return disclosure.recording_for_playback(
            db_session, recording_id, current_user.member, at=state().services.clock.now(),
            recordings_root=state().settings.recordings_path, download=download, audited=audited,
            compressed=request.args.get("format") == "compressed", remote_addr=remote_addr(),
        )


@bp.get("/<int:recording_id>")
@role_required(*LISTEN_ROLES)
def player(recording_id: int) -> Any:
    return render_template("recordings/player.html", recording_id=recording_id)


@bp.get("/<int:recording_id>/audio")
@role_required(*LISTEN_ROLES)
def audio(recording_id: int) -> Any:
    # A player fetches many byte ranges per playback. The authorisation check runs on every request; an audit
    # row is written when a playback starts (no Range, or a range from byte 0) and for the first request of a
    # recording in this web session, so seeking does not flood the trail and no access goes unrecorded.
    heard: list[int] = session.get(_HEARD_KEY, [])
    range_header = request.headers.get("Range", "")
    starts = not range_header or range_header.replace(" ", "").startswith("bytes=0-")
    found = _file(recording_id, audited=starts or recording_id not in heard)
    if recording_id not in heard:
        session[_HEARD_KEY] = (heard + [recording_id])[-200:]
    return send_file(found.path, mimetype=found.mimetype, conditional=True, max_age=0)


@bp.get("/<int:recording_id>/download")
@role_required(Role.supervisor, Role.doctor)
def download(recording_id: int) -> Any:
    found = _file(recording_id, download=True)
    return send_file(found.path, mimetype=found.mimetype, conditional=True, as_attachment=True,
                     download_name=found.download_name, max_age=0)
