"""Extension URLs and small shared pieces of the FHIR R4 mapping (export and import)."""

from __future__ import annotations

from typing import Any

#: This project's own extensions (what FHIR has no element for: spoken phrases, DTMF keys, the exact
#: ``when`` expression, scores with bands, alerts).
EXT = "http://callcenter.local/fhir/StructureDefinition/"
EXT_ITEM_TYPE = EXT + "item-type"
EXT_WHEN = EXT + "when"
EXT_HELP = EXT + "help"
EXT_SPOKEN = EXT + "spoken-phrase"
EXT_DTMF = EXT + "dtmf"
EXT_DEPARTMENT = EXT + "department"
EXT_INTRO = EXT + "intro"
EXT_CLOSING = EXT + "closing"
EXT_SCORE = EXT + "score"
EXT_ALERT = EXT + "alert"
EXT_ANSWER_SOURCE = EXT + "answer-source"
EXT_CONFIDENCE = EXT + "confidence"
EXT_AUDIO_SPAN = EXT + "audio-span"
EXT_CONFIRMED_BY = EXT + "confirmed-by"
EXT_SKIP_REASON = EXT + "skip-reason"
EXT_RAISED_ALERT = EXT + "raised-alert"

# Standard (core R4 / SDC) extensions.
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
ITEM_WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
ISO21090_CO_VALUE = "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
MAX_DECIMALS = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces"
UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
OPTION_EXCLUSIVE = "http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive"
CALCULATED_EXPRESSION = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
VALUESET_ORDINAL = "http://hl7.org/fhir/StructureDefinition/valueset-ordinalValue"
SCORE_WEIGHTS = (ORDINAL_VALUE, ITEM_WEIGHT, ISO21090_CO_VALUE, VALUESET_ORDINAL)



def option_system(key: str, item_id: str) -> str:
    return f"urn:callcenter:{key}:{item_id}"


def extensions(element: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in element.get("extension", []) or [] if e.get("url") == url]


def ext_value(element: dict[str, Any], url: str) -> Any:
    """The ``value[x]`` of the first extension with ``url`` (``None`` if absent)."""
    for ext in extensions(element, url):
        for key, value in ext.items():
            if key.startswith("value"):
                return value
    return None


def number_text(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
