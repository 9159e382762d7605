"""Errors of the softphone adapter. Messages say what to do next."""

from __future__ import annotations

from callcenter.errors import CallCenterError


class SoftphoneError(CallCenterError):
    """Base of every error the softphone raises on purpose."""

    status = 503


class TooManyCalls(SoftphoneError):
    """The per-process call limit (4 with the pjsua2-python wheel) is reached."""

    status = 409


class CallNotFound(SoftphoneError):
    status = 404


class RegistrationFailed(SoftphoneError):
    """The registrar refused or did not answer the REGISTER."""


class SoftphoneClosed(SoftphoneError):
    """A command was sent to a phone that is closed (or whose pjsua2 thread died)."""


class InvalidCallUri(SoftphoneError):
    status = 422
