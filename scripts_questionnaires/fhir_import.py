"""FHIR R4 Questionnaire → Script. Our own exports come back exactly (the extensions carry what FHIR has
no element for); external questionnaires (e.g. LOINC PHQ-9, 44249-1, or the HL7 SDC guide's PHQ-9 example) are
mapped as far as they can be, and every item that cannot be mapped, or was mapped with a guess, is reported in
``ImportResult.notes``. A calculated total coded with a published instrument's LOINC code (PHQ-9 44261-6,
GAD-7 70274-6) gets that instrument's bands from the built-in script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scripts_questionnaires.fhir_common import (
    CALCULATED_EXPRESSION,
    EXT_ALERT,
    EXT_CLOSING,
    EXT_DEPARTMENT,
    EXT_DTMF,
    EXT_HELP,
    EXT_INTRO,
    EXT_ITEM_TYPE,
    EXT_SCORE,
    EXT_SPOKEN,
    EXT_WHEN,
    MAX_DECIMALS,
    MAX_VALUE,
    MIN_VALUE,
    OPTION_EXCLUSIVE,
    SCORE_WEIGHTS,
    UNIT,
    ext_value,
    extensions,
)
from scripts_questionnaires.library import library_script
from scripts_questionnaires.model import (
    DIASTOLIC_RANGE,
    DURATION_UNITS,
    SYSTOLIC_RANGE,
    AlertRule,
    AlertSeverity,
    Band,
    Item,
    ItemType,
    NumberRange,
    Option,
    Score,
    Script,
)
from scripts_questionnaires.phrases import default_yes_no_options

_SIMPLE = {"date": ItemType.date, "dateTime": ItemType.date, "string": ItemType.text, "text": ItemType.text,
           "display": ItemType.info, "boolean": ItemType.yes_no}
_UNMAPPABLE = ("attachment", "reference", "url", "time")
_OPS = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
LOINC = "http://loinc.org"
#: LOINC codes of published instruments' total scores → the built-in script and score whose bands (the
#: instrument's published cut-points) a calculated total with that code gets
PUBLISHED_TOTALS = {"44261-6": ("phq9", "phq9_total"), "70274-6": ("gad7", "gad7_total")}


@dataclass(frozen=True)
class ImportResult:
    script: Script
    notes: tuple[str, ...]  # what was not mapped or was guessed, one line per item (linkId first)


def from_fhir_questionnaire(resource: dict[str, Any], *, locale: str | None = None) -> ImportResult:
    if resource.get("resourceType") != "Questionnaire":
        raise ValueError(f"expected a FHIR Questionnaire, got {resource.get('resourceType')!r}")
    return _Importer(resource, locale).run()


def safe_id(link_id: str) -> str:
    """A linkId as an id usable in conditions: ``/44250-9`` → ``q44250_9``."""
    text = re.sub(r"[^A-Za-z0-9_]+", "_", link_id).strip("_") or "item"
    return text if re.match(r"^[A-Za-z_]", text) else "q" + text


class _Importer:
    def __init__(self, resource: dict[str, Any], locale: str | None) -> None:
        self.resource = resource
        self.locale = locale or str(resource.get("language") or "zh-CN")
        self.notes: list[str] = []
        self.ids: dict[str, str] = {}  # linkId -> item id
        self.items: list[Item] = []
        # (score id, label, linkId, LOINC codes) of read-only calculated items
        self.calculated: list[tuple[str, str, str, tuple[str, ...]]] = []
        self.repeats: set[str] = set()
        self.display_phrases: set[str] = set()  # linkIds whose options got their display text as phrases

    def run(self) -> ImportResult:
        res = self.resource
        raw_key = str(res.get("name") or res.get("id") or "imported")
        key = re.sub(r"[^a-z0-9_-]+", "-", raw_key.lower().replace("_", "-")).strip("-") or "imported"
        version_text = str(res.get("version") or "1")
        version = int(version_text) if version_text.isdigit() else 1
        self.collect_ids(res.get("item", []) or [])
        for node in res.get("item", []) or []:
            self.item(node)
        scores = [self.score(e) for e in extensions(res, EXT_SCORE)]
        if not scores and self.calculated:
            scores = self.guess_scores()
        alerts = [self.alert(e) for e in extensions(res, EXT_ALERT)]
        script = Script(
            key=key, version=version, title=str(res.get("title") or res.get("name") or key), locale=self.locale,
            items=tuple(self.items), intro=str(ext_value(res, EXT_INTRO) or ""),
            closing=str(ext_value(res, EXT_CLOSING) or ""), description=str(res.get("description") or ""),
            scores=tuple(scores), alerts=tuple(alerts),
        )
        return ImportResult(script, tuple(self.notes))

    def collect_ids(self, nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            link_id = str(node.get("linkId", ""))
            self.ids[link_id] = safe_id(link_id)
            if node.get("repeats"):
                self.repeats.add(link_id)
            if node.get("type") == "group" and not ext_value(node, EXT_ITEM_TYPE):
                self.collect_ids(node.get("item", []) or [])

    def item(self, node: dict[str, Any]) -> None:
        link_id = str(node.get("linkId", ""))
        item_id = self.ids[link_id]
        fhir_type = str(node.get("type", ""))
        ours = ext_value(node, EXT_ITEM_TYPE)
        if ours is None and fhir_type == "group":
            if node.get("text"):
                self.notes.append(f"{link_id}: group flattened; its text became an info item")
                self.items.append(Item(item_id, ItemType.info, str(node["text"]), when=self.when(node)))
            for child in node.get("item", []) or []:
                self.item(child)
            return
        if ours is None and (node.get("readOnly") or extensions(node, CALCULATED_EXPRESSION)):
            codes = tuple(str(c.get("code", "")) for c in node.get("code", []) or [] if c.get("system") == LOINC)
            self.calculated.append((item_id, str(node.get("text") or item_id), link_id, codes))
            self.notes.append(f"{link_id}: calculated item mapped to score {item_id!r} (sum of the scored items)")
            return
        if fhir_type in _UNMAPPABLE or (ours is None and fhir_type not in (
                *_SIMPLE, "choice", "open-choice", "integer", "decimal", "quantity")):
            self.notes.append(f"{link_id}: type {fhir_type!r} cannot be asked on the phone; item not imported")
            return
        item_type = ItemType(ours) if ours else self.guess_type(node, fhir_type)
        options = tuple(self.option(link_id, o) for o in self.answer_options(node, link_id))
        if link_id in self.display_phrases:
            self.notes.append(f"{link_id}: spoken words of the options taken from their display text; add what "
                              "patients actually say")
        if item_type == ItemType.yes_no and not options:
            options = default_yes_no_options(self.locale)
        if fhir_type == "open-choice":
            self.notes.append(f"{link_id}: open-choice imported as a choice; free answers are not kept")
        self.items.append(Item(
            id=item_id, type=item_type, text=str(node.get("text") or ""), help=str(ext_value(node, EXT_HELP) or ""),
            required=bool(node.get("required", item_type == ItemType.info)), when=self.when(node), options=options,
            range=self.range(node, item_type, link_id), diastolic=self.child_range(node, "diastolic"),
            departments=self.departments(node, item_type),
        ))

    def guess_type(self, node: dict[str, Any], fhir_type: str) -> ItemType:
        if fhir_type in _SIMPLE:
            return _SIMPLE[fhir_type]
        if fhir_type in ("choice", "open-choice"):
            return ItemType.multi_choice if node.get("repeats") else ItemType.single_choice
        if fhir_type == "quantity":
            unit = (ext_value(node, UNIT) or {}).get("code", "")
            return ItemType.duration if unit in DURATION_UNITS else ItemType.number
        return ItemType.number

    def answer_options(self, node: dict[str, Any], link_id: str) -> list[dict[str, Any]]:
        """``answerOption``, or the concepts of a contained ValueSet named by ``answerValueSet: "#id"``."""
        if node.get("answerOption"):
            return list(node["answerOption"])
        ref = str(node.get("answerValueSet") or "")
        if not ref:
            return []
        contained = {str(r.get("id")): r for r in self.resource.get("contained", []) or []
                     if r.get("resourceType") == "ValueSet"}
        valueset = contained.get(ref.removeprefix("#")) if ref.startswith("#") else None
        if valueset is None:
            self.notes.append(f"{link_id}: answerValueSet {ref!r} cannot be resolved offline; list the options "
                              "in the script")
            return []
        options = []
        for include in (valueset.get("compose") or {}).get("include", []) or []:
            for concept in include.get("concept", []) or []:
                coding = {"system": include.get("system"), "code": concept.get("code"),
                          "display": concept.get("display"), "extension": concept.get("extension", [])}
                options.append({"valueCoding": coding})
        return options

    def option(self, link_id: str, node: dict[str, Any]) -> Option:
        coding = node.get("valueCoding")
        if coding is not None:
            value, label = str(coding.get("code", "")), str(coding.get("display") or coding.get("code", ""))
        else:
            raw = next((v for k, v in node.items() if k.startswith("value")), "")
            value = label = str(raw)
            coding = {}
        score = None
        for element in (node, coding):
            for url in SCORE_WEIGHTS:
                weight = ext_value(element, url)
                if weight is not None and score is None:
                    score = float(weight)
        say: dict[str, tuple[str, ...]] = {}
        for ext in extensions(node, EXT_SPOKEN):
            loc = str(ext_value(ext, "locale") or self.locale)
            say[loc] = (*say.get(loc, ()), str(ext_value(ext, "phrase") or ""))
        if not say:
            say = {self.locale: (label,)}
            self.display_phrases.add(link_id)
        dtmf = ext_value(node, EXT_DTMF)
        return Option(value, label, say, score, None if dtmf is None else str(dtmf),
                      bool(ext_value(node, OPTION_EXCLUSIVE)))

    def range(self, node: dict[str, Any], item_type: ItemType, link_id: str) -> NumberRange | None:
        if item_type == ItemType.blood_pressure:
            return self.child_range(node, "systolic")
        if item_type not in (ItemType.number, ItemType.scale, ItemType.duration):
            return None
        lo, hi = ext_value(node, MIN_VALUE), ext_value(node, MAX_VALUE)
        unit = (ext_value(node, UNIT) or {}).get("code", "")
        decimals = ext_value(node, MAX_DECIMALS)
        if decimals is None:
            decimals = 1 if node.get("type") == "decimal" else 0
        if lo is None or hi is None:
            self.notes.append(f"{link_id}: no minValue/maxValue; range set to 0–9999, set a plausible one")
        if item_type == ItemType.duration and unit not in DURATION_UNITS:
            unit = "d"
        return NumberRange(float(lo if lo is not None else 0), float(hi if hi is not None else 9999), int(decimals),
                           str(unit))

    def child_range(self, node: dict[str, Any], name: str) -> NumberRange | None:
        if ext_value(node, EXT_ITEM_TYPE) != ItemType.blood_pressure.value:
            return None
        default = SYSTOLIC_RANGE if name == "systolic" else DIASTOLIC_RANGE
        for child in node.get("item", []) or []:
            if str(child.get("linkId", "")).endswith("." + name):
                lo, hi = ext_value(child, MIN_VALUE), ext_value(child, MAX_VALUE)
                return NumberRange(float(lo if lo is not None else default.minimum),
                                   float(hi if hi is not None else default.maximum), 0, default.unit)
        return default

    def departments(self, node: dict[str, Any], item_type: ItemType) -> tuple[str, ...]:
        if item_type == ItemType.appointment:
            for child in node.get("item", []) or []:
                if str(child.get("linkId", "")).endswith(".department"):
                    return tuple(str(o.get("valueString", "")) for o in child.get("answerOption", []) or [])
            return ()
        return tuple(str(e.get("valueString", "")) for e in extensions(node, EXT_DEPARTMENT))

    def when(self, node: dict[str, Any]) -> str | None:
        ours = ext_value(node, EXT_WHEN)
        if ours is not None:
            return str(ours)
        conditions = node.get("enableWhen") or []
        if not conditions:
            return None
        parts = [p for p in (self.condition(node, c) for c in conditions) if p is not None]
        if len(parts) != len(conditions):
            return None
        joiner = " or " if node.get("enableBehavior") == "any" else " and "
        return joiner.join(f"({p})" if len(parts) > 1 else p for p in parts)

    def condition(self, node: dict[str, Any], cond: dict[str, Any]) -> str | None:
        question = str(cond.get("question", ""))
        target = self.ids.get(question)
        link_id = str(node.get("linkId", ""))
        if target is None:
            self.notes.append(f"{link_id}: enableWhen refers to unknown item {question!r}; condition dropped")
            return None
        operator = str(cond.get("operator", "="))
        answer_key = next((k for k in cond if k.startswith("answer")), None)
        if operator == "exists":
            return f"answered('{target}')" if cond.get("answerBoolean", True) else f"not answered('{target}')"
        if answer_key is None or operator not in _OPS:
            self.notes.append(f"{link_id}: enableWhen operator {operator!r} not supported; condition dropped")
            return None
        raw = cond[answer_key]
        if answer_key == "answerCoding":
            literal = repr(str(raw.get("code", "")))
        elif answer_key == "answerBoolean":
            literal = repr("yes" if raw else "no")
        elif answer_key in ("answerDecimal", "answerInteger"):
            literal = repr(raw)
        elif answer_key == "answerQuantity":
            literal = repr(raw.get("value"))
        else:
            literal = repr(str(raw))
        if question in self.repeats and operator in ("=", "!="):
            return f"{literal} {'in' if operator == '=' else 'not in'} {target}"
        return f"{target} {_OPS[operator]} {literal}"

    def score(self, ext: dict[str, Any]) -> Score:
        bands = []
        for band in extensions(ext, "band"):
            lo, hi = ext_value(band, "min"), ext_value(band, "max")
            bands.append(Band(str(ext_value(band, "code")), str(ext_value(band, "label")),
                              None if lo is None else float(lo), None if hi is None else float(hi)))
        return Score(str(ext_value(ext, "id")), str(ext_value(ext, "label")),
                     tuple(str(e.get("valueString")) for e in extensions(ext, "item")), tuple(bands))

    def guess_scores(self) -> list[Score]:
        scored = tuple(i.id for i in self.items if i.scorable and i.has_option_scores)
        if not scored:
            return []
        return [Score(score_id, label, scored, self.published_bands(link_id, codes, len(scored)))
                for score_id, label, link_id, codes in self.calculated]

    def published_bands(self, link_id: str, codes: tuple[str, ...], items: int) -> tuple[Band, ...]:
        """The cut-points of a published instrument whose total carries its LOINC code (PHQ-9 44261-6, GAD-7
        70274-6), when the questionnaire has that instrument's number of scored items."""
        for code in codes:
            if code not in PUBLISHED_TOTALS:
                continue
            key, score_id = PUBLISHED_TOTALS[code]
            published = next(s for s in library_script(key).scores if s.id == score_id)
            if len(published.items) != items:
                self.notes.append(f"{link_id}: LOINC {code} is the {key} total but the questionnaire has {items} "
                                  f"scored items, not {len(published.items)}; no bands")
                return ()
            self.notes.append(f"{link_id}: bands of the published instrument (LOINC {code}) taken from the "
                              f"built-in {key!r} script")
            return published.bands
        return ()

    def alert(self, ext: dict[str, Any]) -> AlertRule:
        return AlertRule(str(ext_value(ext, "id")), str(ext_value(ext, "when")),
                         AlertSeverity(str(ext_value(ext, "severity") or "high")), str(ext_value(ext, "message") or ""))

