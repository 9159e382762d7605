"""Questionnaire versions in the database: drafts are editable, publishing stores an immutable version.

Each published row keeps the YAML as written (``source``), its sha256 and the compiled script
(``Script.to_dict()``, with the version number the database gave it). Answers point at that row, so a
response can always be replayed against exactly the script it was asked under. A published row is never
modified (a mapper guard in ``callcenter.models.questionnaires`` refuses it); only its status may become
``retired``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from datetime import datetime

from sqlmodel import Session, col, select

from callcenter.errors import InvalidInput, NotFound
from callcenter.models import Questionnaire, QuestionnaireStatus, utc_now
from callcenter.models.questionnaires import PublishedVersionImmutable
from scripts_questionnaires import Problem, Script, check, errors, library_paths, parse_script

logger = logging.getLogger(__name__)


class ScriptRejected(InvalidInput):
    """The script has errors; ``problems`` carry file:line:column."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"the script has errors; fix them (callcenter scripts check FILE) and try again:\n{lines}")


class QuestionnaireNotFound(NotFound):
    pass


def compile_script(source: str, file: str = "<script>") -> tuple[Script, list[Problem]]:
    """Load and check; raises :class:`ScriptRejected` on loader errors. Checker findings are returned."""
    result = parse_script(source, file)
    if result.script is None or errors(list(result.problems)):
        raise ScriptRejected(errors(list(result.problems)) or list(result.problems))
    return result.script, list(result.problems) + check(result.script)


def sha256_of(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def save_draft(session: Session, source: str, file: str = "<draft>") -> tuple[Questionnaire, list[Problem]]:
    """Create or replace the draft (version 0) of the script's key. Checker problems are returned, not raised:
    a draft may be work in progress."""
    script, problems = compile_script(source, file)
    row = session.exec(select(Questionnaire).where(Questionnaire.key == script.key, Questionnaire.version == 0)
                       ).first()
    if row is None:
        row = Questionnaire(key=script.key, version=0, status=QuestionnaireStatus.draft)
    row.locale, row.title, row.source = script.locale, script.title, source
    row.compiled, row.sha256 = script.to_dict(), sha256_of(source)
    session.add(row)
    session.flush()
    logger.info("questionnaire %s draft saved (%d problems)", script.key, len(problems))
    return row, problems


def publish(session: Session, source: str, file: str = "<script>", *, published_by_id: int | None = None,
            now: datetime | None = None) -> tuple[Questionnaire, bool]:
    """Publish ``source`` as the next version of its key. Returns ``(row, created)``: publishing the same
    text as the latest version returns that version unchanged (``created`` False)."""
    script, problems = compile_script(source, file)
    if errors(problems):
        raise ScriptRejected(errors(problems))
    digest = sha256_of(source)
    latest = _latest_published(session, script.key)
    if latest is not None and latest.sha256 == digest:
        return latest, False
    last = session.exec(select(Questionnaire.version).where(Questionnaire.key == script.key)
                        .order_by(col(Questionnaire.version).desc())).first()
    version = (last or 0) + 1
    compiled = dataclasses.replace(script, version=version).to_dict()
    row = Questionnaire(key=script.key, version=version, status=QuestionnaireStatus.published, locale=script.locale,
                        title=script.title, source=source, compiled=compiled, sha256=digest,
                        published_at=now or utc_now(), published_by_id=published_by_id)
    session.add(row)
    session.flush()
    logger.info("questionnaire %s published as version %d (id=%s)", script.key, version, row.id)
    return row, True


def publish_library(session: Session, *, published_by_id: int | None = None) -> list[tuple[Questionnaire, bool]]:
    """Publish every built-in script (``scripts_questionnaires/library``); unchanged ones are left as they are."""
    return [publish(session, path.read_text(encoding="utf-8"), str(path), published_by_id=published_by_id)
            for path in library_paths()]


def retire(session: Session, key: str, version: int) -> Questionnaire:
    row = get_version(session, key, version)
    if row.status != QuestionnaireStatus.published:
        raise PublishedVersionImmutable(f"{key}@{version} is {row.status.value}; only a published version retires")
    row.status = QuestionnaireStatus.retired
    session.add(row)
    session.flush()
    return row


def list_questionnaires(session: Session) -> list[Questionnaire]:
    """Every draft and version, by key then version."""
    return list(session.exec(select(Questionnaire).order_by(col(Questionnaire.key), col(Questionnaire.version))))


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``KEY`` or ``KEY@VERSION`` (``KEY@draft`` is version 0)."""
    key, _, version = ref.partition("@")
    if not version:
        return key, None
    if version == "draft":
        return key, 0
    if not version.isdigit():
        raise InvalidInput(f"{ref!r}: write KEY or KEY@VERSION, e.g. phq9@2")
    return key, int(version)


def get_version(session: Session, key: str, version: int) -> Questionnaire:
    row = session.exec(select(Questionnaire).where(Questionnaire.key == key, Questionnaire.version == version)
                       ).first()
    if row is None:
        raise QuestionnaireNotFound(f"no questionnaire {key}@{version}; see callcenter scripts list")
    return row


def latest_published(session: Session, key: str) -> Questionnaire:
    """The version new follow-ups are asked under."""
    row = _latest_published(session, key)
    if row is None:
        raise QuestionnaireNotFound(f"questionnaire {key!r} has no published version; run callcenter scripts "
                                    "publish FILE")
    return row


def resolve(session: Session, ref: str) -> Questionnaire:
    """``KEY@VERSION`` → that row; ``KEY`` → the latest published version, else the draft."""
    key, version = parse_ref(ref)
    if version is not None:
        return get_version(session, key, version)
    row = _latest_published(session, key)
    return row if row is not None else get_version(session, key, 0)


def script_of(row: Questionnaire) -> Script:
    return Script.from_dict(row.compiled)


def _latest_published(session: Session, key: str) -> Questionnaire | None:
    return session.exec(select(Questionnaire).where(Questionnaire.key == key,
                                                    Questionnaire.status == QuestionnaireStatus.published)
                        .order_by(col(Questionnaire.version).desc())).first()
