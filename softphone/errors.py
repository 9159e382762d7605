"""Errors of the softphone adapter. Messages say what to do next."""

from __future__ import annotations

import logging
import traceback

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


def log_exception(logger: logging.Logger, message: str, *args: object) -> None:
    """``logger.exception`` without keeping the traceback: a LogRecord holding ``exc_info`` keeps the failing
    frames (and the pj objects in them) alive in whatever handler stores records, to be freed later on a
    thread pjsua2 does not know -> abort. The traceback is logged as text instead."""
    logger.error(message + "\n%s", *args, traceback.format_exc().rstrip())
