"""One base exception for the core; subclasses name the situation and say what to do next."""

from __future__ import annotations


class CallCenterError(Exception):
    """Base of every error the core raises on purpose. ``status`` is the HTTP status the web layer uses."""

    status = 400


class NotFound(CallCenterError):
    status = 404


class PatientNotFound(NotFound):
    pass


class TaskNotFound(NotFound):
    pass


class Conflict(CallCenterError):
    status = 409


class TaskAlreadyLeased(Conflict):
    pass


class PermissionDenied(CallCenterError):
    status = 403


class InvalidInput(CallCenterError):
    status = 422


class OutsideCallWindow(CallCenterError):
    status = 409
