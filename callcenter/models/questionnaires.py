"""Questionnaire scripts: drafts are editable, published versions immutable."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint, event, inspect
from sqlmodel import Field, SQLModel

from callcenter.errors import Conflict
from callcenter.models.base import UTCDateTime, utc_now


class QuestionnaireStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    retired = "retired"


class Questionnaire(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("key", "version", name="uq_questionnaire_key_version"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, max_length=64)
    version: int = Field(default=0)  # 0 = the draft; published versions count from 1
    status: QuestionnaireStatus = Field(default=QuestionnaireStatus.draft)
    locale: str = Field(default="zh-CN", max_length=16)
    title: str = Field(default="", max_length=200)
    source: str = Field(default="", sa_column=Column(Text, nullable=False))  # the YAML as written
    compiled: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    sha256: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    published_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class PublishedVersionImmutable(Conflict):
    """A published questionnaire version was about to be changed or deleted; publish a new version instead."""


# A published version is immutable: answers point at it. Only its status may move on (published -> retired).
_MUTABLE_WHEN_PUBLISHED = frozenset({"status"})


@event.listens_for(Questionnaire, "before_update")
def _refuse_changes_to_published(_mapper: Any, _connection: Any, target: Questionnaire) -> None:
    state = inspect(target)
    was = state.attrs.status.history.deleted or [target.status]
    if QuestionnaireStatus.published not in was and QuestionnaireStatus.retired not in was:
        return
    changed = [a.key for a in state.attrs if a.history.has_changes() and a.key not in _MUTABLE_WHEN_PUBLISHED]
    if changed or target.status == QuestionnaireStatus.draft:
        raise PublishedVersionImmutable(f"questionnaire {target.key}@{target.version} is published and cannot be changed "
                         f"({', '.join(changed) or 'status'}); publish a new version instead")


@event.listens_for(Questionnaire, "before_delete")
def _refuse_deleting_published(_mapper: Any, _connection: Any, target: Questionnaire) -> None:
    if target.status != QuestionnaireStatus.draft:
        raise PublishedVersionImmutable(f"questionnaire {target.key}@{target.version} is published and cannot be deleted; "
                         "retire it instead")
