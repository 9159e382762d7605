"""Errors of the speech package; each message says what to do next."""

from __future__ import annotations

from callcenter.errors import CallCenterError


class AsrError(CallCenterError):
    """Base of the speech package's errors."""


class ModelError(AsrError):
    """A speech model is missing, broken or used wrongly."""


class ModelFetchError(AsrError):
    """A model archive could not be downloaded or failed its checksum."""


class WorkerError(AsrError):
    """An ASR worker process could not start or died."""
