"""Read a YAML script into the model, keeping file:line:column for every element.

The YAML is *composed* (PyYAML's node graph, each node with its start mark) and built here, so every value
is read as the script author wrote it (``value: yes`` stays the string ``yes``) and every problem points at
its place. Syntax of ``when`` conditions is checked here; meaning (unknown items, order…) in ``checker.py``.
"""

from __future__ import annotations

import difflib
import keyword
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from scripts_questionnaires.errors import ExpressionError, Pos, Problem, ScriptInvalid
from scripts_questionnaires.expressions import CONSTANT_NAMES, FUNCTIONS, VARIABLE_NAMESPACES, Expression
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

ID_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LOCALE_PATTERN = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")
_RESERVED = set(FUNCTIONS) | set(CONSTANT_NAMES) | set(VARIABLE_NAMESPACES) | {"and", "or", "not", "in", "is"}

SCRIPT_KEYS = ("key", "version", "title", "locale", "description", "intro", "closing", "items", "scores", "alerts")
ITEM_KEYS = ("id", "type", "text", "help", "required", "when", "options", "min", "max", "decimals", "unit",
             "systolic", "diastolic", "departments")
OPTION_KEYS = ("value", "label", "say", "score", "dtmf", "exclusive")
SCORE_KEYS = ("id", "label", "items", "bands")
BAND_KEYS = ("code", "label", "min", "max")
ALERT_KEYS = ("id", "when", "severity", "message")
RANGE_KEYS = ("min", "max")
# libyaml's loader keeps the same marks (line/column) and is ~3x faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DEFAULT_RANGES = {ItemType.scale: NumberRange(0, 10), ItemType.duration: NumberRange(0, 3650, 0, "d")}


@dataclass(frozen=True)
class LoadResult:
    """The script (``None`` when it could not be built) and every problem found while reading it."""

    script: Script | None
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return self.script is not None and not any(p.severity == "error" for p in self.problems)


def load_file(path: str | Path) -> LoadResult:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return LoadResult(None, (Problem(Pos(str(p), 1, 1), f"cannot read the file: {exc}"),))
    return parse_script(text, str(p))


def load_script(path: str | Path) -> Script:
    """Load a script file, raising :class:`ScriptInvalid` (with file:line:column) when it has errors."""
    result = load_file(path)
    if not result.ok or result.script is None:
        raise ScriptInvalid([p for p in result.problems if p.severity == "error"])
    return result.script


def parse_script(text: str, file: str = "<script>") -> LoadResult:
    reader = _Reader(file)
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Pos(file, mark.line + 1, mark.column + 1) if mark else Pos(file, 1, 1)
        return LoadResult(None, (Problem(pos, f"YAML syntax: {exc.problem or exc}"),))
    except yaml.YAMLError as exc:
        return LoadResult(None, (Problem(Pos(file, 1, 1), f"YAML syntax: {exc}"),))
    if root is None:
        return LoadResult(None, (Problem(Pos(file, 1, 1), "the file is empty; a script needs key, title, items"),))
    script = reader.script(root)
    return LoadResult(script, tuple(reader.problems))


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    # ---- primitives -------------------------------------------------------------------------------
    def pos(self, node: yaml.Node) -> Pos:
        return Pos(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def value_pos(self, node: yaml.Node) -> Pos:
        """Where the text of a scalar starts (after an opening quote)."""
        quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
        pos = self.pos(node)
        return Pos(pos.file, pos.line, pos.column + (1 if quoted else 0))

    def error(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.pos(node), message))

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...]) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping (key: value lines)")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.error(key_node, f"keys of {what} must be plain words")
                continue
            if key in out:
                self.error(key_node, f"duplicate key {key!r} in {what}")
                continue
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
                self.error(key_node, f"unknown key {key!r} in {what}{hint}")
                continue
            out[key] = value_node
        return out

    def string(self, node: yaml.Node | None, what: str, default: str = "") -> str:
        if node is None:
            return default
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            self.error(node, f"{what} must be text")
            return default
        return str(node.value)

    def number(self, node: yaml.Node | None, what: str) -> float | None:
        if node is None:
            return None
        if isinstance(node, yaml.ScalarNode):
            try:
                return float(node.value)
            except ValueError:
                pass
        shown = repr(node.value) if isinstance(node, yaml.ScalarNode) else "a list or mapping"
        self.error(node, f"{what} must be a number, not {shown}")
        return None

    def integer(self, node: yaml.Node | None, what: str, default: int) -> int:
        value = self.number(node, what)
        if value is None:
            return default
        if value != int(value):
            assert node is not None
            self.error(node, f"{what} must be a whole number")
        return int(value)

    def boolean(self, node: yaml.Node | None, what: str, default: bool) -> bool:
        if node is None:
            return default
        text = str(node.value).lower() if isinstance(node, yaml.ScalarNode) else ""
        if text in ("true", "yes", "on"):
            return True
        if text in ("false", "no", "off"):
            return False
        self.error(node, f"{what} must be true or false")
        return default

    def sequence(self, node: yaml.Node | None, what: str) -> list[yaml.Node]:
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list (lines starting with '- ')")
            return []
        return list(node.value)

    def strings(self, node: yaml.Node | None, what: str) -> tuple[str, ...]:
        return tuple(self.string(n, what) for n in self.sequence(node, what))

    def positions(self, node: yaml.Node) -> tuple[Pos, ...]:
        """Where each element of a list is written (nothing for a node that is not a list: already reported)."""
        return tuple(self.value_pos(n) for n in node.value) if isinstance(node, yaml.SequenceNode) else ()

    def identifier(self, node: yaml.Node | None, what: str, owner: yaml.Node) -> str:
        if node is None:
            self.error(owner, f"{what} needs an id")
            return ""
        value = self.string(node, f"{what} id")
        if value and (not ID_PATTERN.match(value) or keyword.iskeyword(value) or value in _RESERVED):
            self.error(node, f"id {value!r} is not usable in conditions: use letters, digits and _ "
                             "(not starting with a digit, not a reserved word)")
        return value

    def expression(self, node: yaml.Node) -> str:
        text = self.string(node, "a condition")
        try:
            Expression.parse(text)
        except ExpressionError as exc:
            base = self.value_pos(node)
            self.problems.append(Problem(Pos(base.file, base.line, base.column + exc.offset), str(exc)))
        return text

    # ---- the script ----------------------------------------------------------------------------------
    def script(self, root: yaml.Node) -> Script | None:
        fields = self.mapping(root, "the script", SCRIPT_KEYS)
        if fields is None:
            return None
        for required in ("key", "title", "items"):
            if required not in fields:
                self.error(root, f"the script needs '{required}:'")
        key = self.string(fields.get("key"), "key")
        if key and not re.match(r"^[a-z0-9][a-z0-9_-]*$", key):
            self.error(fields["key"], f"key {key!r}: use lower-case letters, digits, - and _")
        locale = self.string(fields.get("locale"), "locale", "zh-CN")
        if not LOCALE_PATTERN.match(locale):
            self.error(fields.get("locale", root), f"locale {locale!r} must look like zh-CN or ko-KR")
        items = tuple(it for n in self.sequence(fields.get("items"), "items")
                      if (it := self.item(n, locale)) is not None)
        return Script(
            key=key, version=self.integer(fields.get("version"), "version", 1),
            title=self.string(fields.get("title"), "title"), locale=locale,
            description=self.string(fields.get("description"), "description"),
            intro=self.string(fields.get("intro"), "intro"), closing=self.string(fields.get("closing"), "closing"),
            items=items,
            scores=tuple(s for n in self.sequence(fields.get("scores"), "scores") if (s := self.score(n))),
            alerts=tuple(a for n in self.sequence(fields.get("alerts"), "alerts") if (a := self.alert(n))),
            file=self.file, pos=self.pos(root),
        )

    def item(self, node: yaml.Node, locale: str) -> Item | None:
        fields = self.mapping(node, "an item", ITEM_KEYS)
        if fields is None:
            return None
        item_id = self.identifier(fields.get("id"), "an item", node)
        type_text = self.string(fields.get("type"), "type")
        try:
            item_type = ItemType(type_text)
        except ValueError:
            names = ", ".join(t.value for t in ItemType)
            self.error(fields.get("type", node), f"item {item_id!r}: type {type_text!r} is not one of {names}")
            return None
        if "text" not in fields:
            self.error(node, f"item {item_id!r} needs 'text:' (the words the nurse reads)")
        options = tuple(o for n in self.sequence(fields.get("options"), "options")
                        if (o := self.option(n, locale)) is not None)
        if item_type == ItemType.yes_no and not options:
            options = default_yes_no_options(locale)
        when_node = fields.get("when")
        return Item(
            id=item_id, type=item_type, text=self.string(fields.get("text"), "text"),
            help=self.string(fields.get("help"), "help"),
            required=self.boolean(fields.get("required"), "required", True),
            when=self.expression(when_node) if when_node is not None else None,
            options=options, range=self.item_range(item_type, fields, node),
            diastolic=(self.range(fields.get("diastolic"), DIASTOLIC_RANGE)
                       if item_type == ItemType.blood_pressure else None),
            departments=self.strings(fields.get("departments"), "departments"),
            pos=self.pos(node), when_pos=self.value_pos(when_node) if when_node is not None else None,
        )

    def item_range(self, item_type: ItemType, fields: dict[str, yaml.Node], node: yaml.Node) -> NumberRange | None:
        if item_type == ItemType.blood_pressure:
            return self.range(fields.get("systolic"), SYSTOLIC_RANGE)
        if item_type not in (ItemType.number, ItemType.scale, ItemType.duration):
            for key in ("min", "max", "decimals", "unit"):
                if key in fields:
                    self.error(fields[key], f"'{key}' applies to number, scale and duration items only")
            return None
        default = _DEFAULT_RANGES.get(item_type)
        lo, hi = self.number(fields.get("min"), "min"), self.number(fields.get("max"), "max")
        if default is None and (lo is None or hi is None):
            self.error(node, "a number item needs 'min:' and 'max:' (the plausible range, used by speech "
                             "recognition and validation)")
        lo = lo if lo is not None else (default.minimum if default else 0.0)
        hi = hi if hi is not None else (default.maximum if default else 0.0)
        if lo > hi:
            self.error(fields.get("min", node), f"min {lo:g} is greater than max {hi:g}")
        unit = self.string(fields.get("unit"), "unit", default.unit if default else "")
        if item_type == ItemType.duration and unit not in DURATION_UNITS:
            self.error(fields.get("unit", node), f"a duration unit must be one of {', '.join(DURATION_UNITS)}")
        decimals = self.integer(fields.get("decimals"), "decimals", 0)
        if item_type == ItemType.scale and decimals:
            self.error(fields["decimals"], "a scale takes whole numbers; remove 'decimals'")
        return NumberRange(lo, hi, decimals, unit)

    def range(self, node: yaml.Node | None, default: NumberRange) -> NumberRange:
        if node is None:
            return default
        fields = self.mapping(node, "a range", RANGE_KEYS) or {}
        lo, hi = self.number(fields.get("min"), "min"), self.number(fields.get("max"), "max")
        if lo is not None and hi is not None and lo > hi:
            self.error(node, f"min {lo:g} is greater than max {hi:g}")
        return NumberRange(lo if lo is not None else default.minimum, hi if hi is not None else default.maximum,
                           0, default.unit)

    def option(self, node: yaml.Node, locale: str) -> Option | None:
        fields = self.mapping(node, "an option", OPTION_KEYS)
        if fields is None:
            return None
        if "value" not in fields:
            self.error(node, "an option needs 'value:'")
        value = self.string(fields.get("value"), "value")
        say_node = fields.get("say")
        say: dict[str, tuple[str, ...]] = {}
        say_pos: dict[str, tuple[Pos, ...]] = {}
        if isinstance(say_node, yaml.MappingNode):
            for loc, phrases in (self.mapping(say_node, "say", tuple(
                    k.value for k, _ in say_node.value if isinstance(k, yaml.ScalarNode))) or {}).items():
                say[loc] = self.strings(phrases, f"say.{loc}")
                say_pos[loc] = self.positions(phrases)
        elif say_node is not None:
            say[locale] = self.strings(say_node, "say")
            say_pos[locale] = self.positions(say_node)
        dtmf = self.string(fields["dtmf"], "dtmf") if "dtmf" in fields else None
        if dtmf is not None and not re.match(r"^[0-9*#]$", dtmf):
            self.error(fields["dtmf"], f"dtmf {dtmf!r} must be one key: 0-9, * or #")
        return Option(
            value=value, label=self.string(fields.get("label"), "label", value), say=say,
            score=self.number(fields.get("score"), "score"), dtmf=dtmf,
            exclusive=self.boolean(fields.get("exclusive"), "exclusive", False), pos=self.pos(node),
            say_pos=say_pos,
        )

    def score(self, node: yaml.Node) -> Score | None:
        fields = self.mapping(node, "a score", SCORE_KEYS)
        if fields is None:
            return None
        score_id = self.identifier(fields.get("id"), "a score", node)
        if "items" not in fields:
            self.error(node, f"score {score_id!r} needs 'items:' (the items it sums)")
        bands = []
        for band_node in self.sequence(fields.get("bands"), "bands"):
            band_fields = self.mapping(band_node, "a band", BAND_KEYS)
            if band_fields is None:
                continue
            code = self.string(band_fields.get("code"), "code")
            if not code:
                self.error(band_node, "a band needs 'code:'")
            bands.append(Band(code, self.string(band_fields.get("label"), "label", code),
                              self.number(band_fields.get("min"), "min"), self.number(band_fields.get("max"), "max"),
                              pos=self.pos(band_node)))
        return Score(score_id, self.string(fields.get("label"), "label", score_id),
                     self.strings(fields.get("items"), "items"), tuple(bands), pos=self.pos(node))

    def alert(self, node: yaml.Node) -> AlertRule | None:
        fields = self.mapping(node, "an alert", ALERT_KEYS)
        if fields is None:
            return None
        alert_id = self.identifier(fields.get("id"), "an alert", node)
        when_node = fields.get("when")
        if when_node is None:
            self.error(node, f"alert {alert_id!r} needs 'when:' (the condition that raises it)")
            return None
        severity_text = self.string(fields.get("severity"), "severity", "high")
        try:
            severity = AlertSeverity(severity_text)
        except ValueError:
            self.error(fields.get("severity", node),
                       f"severity {severity_text!r} must be one of {', '.join(s.value for s in AlertSeverity)}")
            severity = AlertSeverity.high
        if "message" not in fields:
            self.error(node, f"alert {alert_id!r} needs 'message:' (what the doctor reads)")
        return AlertRule(alert_id, self.expression(when_node), severity, self.string(fields.get("message"), "message"),
                         pos=self.pos(node), when_pos=self.value_pos(when_node))
