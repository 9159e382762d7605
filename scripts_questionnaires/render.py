"""Patient variables in script text: ``{patient.name}``, ``{encounter.department}``.

Never ``str.format`` (which would let a script reach attributes): a fixed pattern of ``{namespace.field}``
with a known namespace. A variable with no value renders as ``missing`` (empty by default), so a call never
fails on a gap in the hospital data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from scripts_questionnaires.expressions import VARIABLE_NAMESPACES

PLACEHOLDER = re.compile(r"\{([a-z_]+)\.([a-z_][a-z0-9_]*)\}")

Variables = Mapping[str, Mapping[str, object]]


def render_text(text: str, variables: Variables, missing: str = "") -> str:
    def replace(match: re.Match[str]) -> str:
        namespace, name = match.group(1), match.group(2)
        if namespace not in VARIABLE_NAMESPACES:
            return match.group(0)
        value = variables.get(namespace, {}).get(name)
        return missing if value is None or value == "" else str(value)

    return PLACEHOLDER.sub(replace, text)


def placeholders(text: str) -> list[tuple[str, str, int]]:
    """``(namespace, field, offset)`` of every placeholder, for the checker."""
    return [(m.group(1), m.group(2), m.start()) for m in PLACEHOLDER.finditer(text)]
