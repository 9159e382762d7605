"""Errors of the questionnaire package. Every error about a script file carries file:line:column."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Pos:
    """A place in a script file; ``line`` and ``column`` count from 1."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Severity(enum.StrEnum):
    error = "error"
    warning = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding of the loader or the checker: ``file:line:column: error: message``."""

    pos: Pos
    message: str
    severity: Severity = Severity.error

    def __str__(self) -> str:
        return f"{self.pos}: {self.severity.value}: {self.message}"


class ScriptError(Exception):
    """Base of every error this package raises on purpose."""


class ScriptInvalid(ScriptError):
    """A script file has errors; ``problems`` lists each with its file:line:column."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"the script has {len(self.problems)} problem(s); fix them and check again:\n{lines}")


class ExpressionError(ScriptError):
    """A ``when`` expression is not in the allowed language; ``offset`` is the 0-based column in the text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        self.offset = offset
        super().__init__(message)


class AnswerInvalid(ScriptError):
    """An answer does not fit its item (wrong option, out of range…). The message says what is accepted."""

    def __init__(self, item_id: str, message: str) -> None:
        self.item_id = item_id
        super().__init__(f"item {item_id!r}: {message}")


class RunError(ScriptError):
    """An engine operation is not possible in the run's current state (e.g. answering after finish)."""
