"""Staff accounts: create, authenticate, deactivate, teams, and the softphone agent's bearer token.

Passwords are stored as salted hashes (``werkzeug.security``, scrypt); agent tokens as the sha256 of a random
256-bit token, shown once when issued. Every function takes a Session and leaves the commit to the caller.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, select
from werkzeug.security import check_password_hash, generate_password_hash

from callcenter.errors import Conflict, InvalidInput, NotFound
from callcenter.models import Role, Team, User

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
# A hash that never matches: authenticating an unknown user costs the same as a known one.
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))


class UserNotFound(NotFound):
    pass


class UsernameTaken(Conflict):
    pass


@dataclass(frozen=True)
class StaffMember:
    """A user as the web layer and the CLI see it (no password hash)."""

    id: int
    username: str
    display_name: str
    role: Role
    team_id: int | None
    department: str
    active: bool

    @property
    def label(self) -> str:
        return self.display_name or self.username

    @classmethod
    def of(cls, user: User) -> StaffMember:
        assert user.id is not None, "flush the session before viewing a new user"
        return cls(user.id, user.username, user.display_name, Role(user.role), user.team_id,
                   user.department, user.active)


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"unknown role {value!r}; use one of: {', '.join(r.value for r in Role)}") from None


def ensure_team(session: Session, key: str, name: str = "", department: str = "") -> Team:
    """The team with ``key``, created when missing."""
    team = session.exec(select(Team).where(Team.key == key)).first()
    if team is None:
        team = Team(key=key, name=name or key, department=department)
        session.add(team)
        session.flush()
    return team


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    display_name: str = "",
    team_key: str | None = None,
    department: str = "",
    sip_extension: str = "",
) -> StaffMember:
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise InvalidInput(
            f"username {username!r} is not allowed: use 2–64 lower-case letters, digits, '.', '_' or '-'"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise UsernameTaken(f"user {username!r} exists already; pick another name or deactivate the old one")
    team_id = ensure_team(session, team_key).id if team_key else None
    user = User(
        username=username,
        display_name=display_name,
        password_hash=generate_password_hash(password),
        role=role,
        team_id=team_id,
        department=department,
        sip_extension=sip_extension,
    )
    session.add(user)
    session.flush()
    logger.info("user=%s created role=%s", user.id, role.value)
    return StaffMember.of(user)


def _by_username(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        raise UserNotFound(f"no user named {username!r}; `callcenter users list` shows them")
    return user


def get_member(session: Session, user_id: int) -> StaffMember | None:
    user = session.get(User, user_id)
    return StaffMember.of(user) if user is not None else None


def find_member(session: Session, username: str) -> StaffMember:
    return StaffMember.of(_by_username(session, username))


def authenticate(session: Session, username: str, password: str) -> StaffMember | None:
    """The active user with these credentials, else None (unknown, wrong password or deactivated)."""
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not user.password_hash or not check_password_hash(user.password_hash, password):
        return None
    if not user.active:
        return None
    return StaffMember.of(user)


def set_password(session: Session, username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    user = _by_username(session, username)
    user.password_hash = generate_password_hash(password)
    session.add(user)


def list_members(session: Session, *, include_inactive: bool = False) -> list[StaffMember]:
    query = select(User).order_by(col(User.username))
    if not include_inactive:
        query = query.where(User.active == True)  # noqa: E712 - SQL expression
    return [StaffMember.of(u) for u in session.exec(query)]


def deactivate(session: Session, username: str) -> StaffMember:
    """Block logins and the agent token; the user's history stays."""
    user = _by_username(session, username)
    user.active = False
    user.agent_token_sha256 = ""
    session.add(user)
    session.flush()
    logger.info("user=%s deactivated", user.id)
    return StaffMember.of(user)


def update_member(session: Session, username: str, *, role: Role, team_key: str | None, department: str
                  ) -> tuple[StaffMember, dict[str, list[object]]]:
    """Change a user's role, team (created when new; empty: none) and department; returns the member and what
    changed (field -> [old, new]) for the audit trail."""
    user = _by_username(session, username)
    team_id = ensure_team(session, team_key).id if team_key else None
    department = department.strip()[:100]
    changes: dict[str, list[object]] = {}
    for name, new in (("role", role), ("team_id", team_id), ("department", department)):
        old = getattr(user, name)
        if old != new:
            changes[name] = [str(old) if isinstance(old, Role) else old, str(new) if isinstance(new, Role) else new]
            setattr(user, name, new)
    session.add(user)
    session.flush()
    logger.info("user=%s updated: %s", user.id, sorted(changes))
    return StaffMember.of(user), changes


def list_teams(session: Session) -> list[Team]:
    return list(session.exec(select(Team).order_by(col(Team.key))))


def reactivate(session: Session, username: str) -> StaffMember:
    """Allow logins again (a new agent token must be issued for the softphone)."""
    user = _by_username(session, username)
    user.active = True
    session.add(user)
    session.flush()
    logger.info("user=%s reactivated", user.id)
    return StaffMember.of(user)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_agent_token(session: Session, username: str) -> str:
    """A new bearer token for the user's softphone agent (replaces the previous one). Shown once."""
    user = _by_username(session, username)
    if not user.active:
        raise InvalidInput(f"user {username!r} is deactivated; reactivate before issuing an agent token")
    token = secrets.token_urlsafe(32)
    user.agent_token_sha256 = _token_digest(token)
    session.add(user)
    session.flush()
    logger.info("user=%s agent token issued", user.id)
    return token


def member_for_agent_token(session: Session, token: str) -> StaffMember | None:
    """The active user owning this agent token, else None."""
    if not token:
        return None
    digest = _token_digest(token)
    user = session.exec(select(User).where(User.agent_token_sha256 == digest)).first()
    if user is None or not user.active or not secrets.compare_digest(user.agent_token_sha256, digest):
        return None
    return StaffMember.of(user)
