"""Staff, teams and the audit trail."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from callcenter.models.base import UTCDateTime, utc_now


class Role(enum.StrEnum):
    nurse = "nurse"
    supervisor = "supervisor"
    doctor = "doctor"
    admin = "admin"


class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(max_length=200)
    department: str = Field(default="", max_length=100)


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=64)
    display_name: str = Field(default="", max_length=100)
    password_hash: str = Field(default="", max_length=256)
    role: Role = Field(default=Role.nurse)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    department: str = Field(default="", max_length=100)
    sip_extension: str = Field(default="", max_length=100)
    active: bool = Field(default=True)
    # sha256 of the softphone agent's bearer token (callcenter.users.issue_agent_token); "" = none issued
    agent_token_sha256: str = Field(
        default="", max_length=64, index=True, sa_column_kwargs={"server_default": ""}
    )
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """Who saw, listened to, exported or changed what, when and from where."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
    user_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    action: str = Field(max_length=64, index=True)  # e.g. recording.play, export.xlsx, script.publish
    object_type: str = Field(default="", max_length=64)
    object_id: str = Field(default="", max_length=64)
    remote_addr: str = Field(default="", max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
