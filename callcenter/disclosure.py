"""Releasing protected patient data to a staff member: unmasked identifiers and call recordings.

Each function checks the viewer's right (``callcenter.privacy``) and writes the audit event in the caller's
transaction, so nothing is disclosed without a trace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from callcenter import audit, privacy
from callcenter.audit import AuditAction
from callcenter.errors import NotFound, PermissionDenied
from callcenter.models import CallAttempt, Patient, PatientPhone, Recording
from callcenter.recording_copies import MIMETYPES, resolve
from callcenter.users import StaffMember

logger = logging.getLogger(__name__)


class RecordingNotFound(NotFound):
    pass


@dataclass(frozen=True)
class RevealedIdentifiers:
    patient_id: int
    national_id: str
    phones: tuple[str, ...]


@dataclass(frozen=True)
class RecordingFile:
    recording_id: int
    attempt_id: int | None
    path: Path
    mimetype: str
    download_name: str


def reveal_identifiers(
    session: Session, patient_id: int, viewer: StaffMember, *, at: datetime, remote_addr: str = ""
) -> RevealedIdentifiers:
    if not privacy.may_view_patients(viewer.role):
        raise PermissionDenied("your role may not see patient identifiers")
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"patient {patient_id} does not exist")
    phones = session.exec(
        select(PatientPhone.number).where(PatientPhone.patient_id == patient_id).order_by(col(PatientPhone.rank))
    ).all()
    audit.record(session, action=AuditAction.identity_reveal, at=at, user_id=viewer.id,
                 object_type="patient", object_id=patient_id, remote_addr=remote_addr)
    return RevealedIdentifiers(patient_id, patient.national_id or "", tuple(phones))


def recording_for_playback(
    session: Session,
    recording_id: int,
    viewer: StaffMember,
    *,
    at: datetime,
    recordings_root: Path,
    download: bool = False,
    compressed: bool = False,
    remote_addr: str = "",
    audited: bool = True,
) -> RecordingFile:
    """The recording's file, if ``viewer`` may hear it; the playback or download is audited.

    ``audited=False`` only for further byte ranges of a playback already audited in the same web session.
    """
    recording = session.get(Recording, recording_id)
    if recording is None:
        raise RecordingNotFound(f"recording {recording_id} does not exist")
    attempt = session.get(CallAttempt, recording.attempt_id) if recording.attempt_id else None
    if not privacy.may_hear_attempt(viewer.role, viewer.id, attempt.user_id if attempt else None):
        logger.warning("user=%s denied recording=%s", viewer.id, recording_id)
        raise PermissionDenied("you may only hear recordings of your own calls")
    path = resolve(recording.path, recordings_root)
    if compressed and recording.compressed_path:  # the browser copy (callcenter.recording_copies), else the WAV
        copy = resolve(recording.compressed_path, recordings_root)
        path = copy if copy.is_file() else path
    if not path.is_file():
        raise RecordingNotFound(f"the file of recording {recording_id} is missing on the server; "
                                "check the recordings folder (CALLCENTER_RECORDINGS_DIR)")
    action = AuditAction.recording_download if download else AuditAction.recording_play
    if audited or download:
        audit.record(session, action=action, at=at, user_id=viewer.id, object_type="recording",
                     object_id=recording_id, remote_addr=remote_addr,
                     detail={"attempt_id": recording.attempt_id, "file": path.name})
    mimetype = MIMETYPES.get(path.suffix.lower(), "application/octet-stream")
    return RecordingFile(recording_id, recording.attempt_id, path, mimetype, f"recording-{recording_id}{path.suffix}")


def may_follow_attempt(session: Session, attempt_id: int, viewer: StaffMember) -> bool:
    """Whether ``viewer`` may receive the live events (transcript, proposals) of this call attempt."""
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        return False
    return privacy.may_hear_attempt(viewer.role, viewer.id, attempt.user_id)
