"""Semantic checks of a loaded script, each finding with file:line:column.

Unknown or later items in conditions, unreachable items, options without spoken words, duplicate ids,
scores over non-numeric items, alerts that can never fire, overlapping bands, unknown text variables.
Satisfiability ("can this condition ever be true?") is decided by trying the values that matter: each
option, the ends of each range and the numbers written in the condition (± one step), and "unanswered".
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

from scripts_questionnaires.errors import ExpressionError, Pos, Problem, Severity
from scripts_questionnaires.expressions import VARIABLE_NAMESPACES, Context, Expression
from scripts_questionnaires.loader import load_file, parse_script
from scripts_questionnaires.model import CHOICE_TYPES, Item, ItemType, Score, Script
from scripts_questionnaires.render import placeholders

_MAX_COMBINATIONS = 20000
_FIELDS = {ItemType.blood_pressure: ("systolic", "diastolic"), ItemType.appointment: ("department", "date", "time")}


def check_file(path: str | Path) -> list[Problem]:
    """Loader and checker findings for one file (empty when the script is clean)."""
    result = load_file(path)
    problems = list(result.problems)
    if result.script is not None:
        problems += check(result.script)
    return sorted(problems, key=lambda p: (p.pos.line, p.pos.column))


def check_text(text: str, file: str = "<script>") -> list[Problem]:
    result = parse_script(text, file)
    return list(result.problems) + (check(result.script) if result.script is not None else [])


def check(script: Script) -> list[Problem]:
    return _Checker(script).run()


def errors(problems: Sequence[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == Severity.error]


class _Checker:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.problems: list[Problem] = []
        self.file = script.file or "<script>"
        self.items = {i.id: i for i in script.items}
        self.order = {i.id: n for n, i in enumerate(script.items)}
        self.scores = {s.id: s for s in script.scores}

    def run(self) -> list[Problem]:
        if not self.script.items:
            self.add(self.script.pos, "the script has no items")
        self.check_ids()
        for item in self.script.items:
            self.check_item(item)
        for score in self.script.scores:
            self.check_score(score)
        for rule in self.script.alerts:
            expr = self.expression(rule.when, rule.when_pos)
            if expr is not None and self.references_ok(expr, rule.when_pos, None) and not self.satisfiable(expr):
                self.add(rule.when_pos or rule.pos, f"alert {rule.id!r} can never fire: no answers make "
                                                    f"'{rule.when}' true")
        for text, where in ((self.script.intro, self.script.pos), (self.script.closing, self.script.pos)):
            self.check_text(text, where)
        return self.problems

    def add(self, pos: Pos | None, message: str, severity: Severity = Severity.error) -> None:
        self.problems.append(Problem(pos or Pos(self.file, 1, 1), message, severity))

    def check_ids(self) -> None:
        seen: dict[str, Pos | None] = {}
        for kind, ident, pos in itertools.chain(
                (("item", i.id, i.pos) for i in self.script.items), (("score", s.id, s.pos) for s in self.script.scores),
                (("alert", a.id, a.pos) for a in self.script.alerts)):
            if ident in seen:
                first = seen[ident]
                where = f" (first at line {first.line})" if first else ""
                self.add(pos, f"duplicate id {ident!r} ({kind}){where}; ids of items, scores and alerts must be unique")
            else:
                seen[ident] = pos

    def check_text(self, text: str, pos: Pos | None) -> None:
        for namespace, name, _ in placeholders(text):
            if namespace not in VARIABLE_NAMESPACES:
                self.add(pos, f"unknown variable {{{namespace}.{name}}}; use {', '.join(VARIABLE_NAMESPACES)}")

    def check_item(self, item: Item) -> None:
        self.check_text(item.text, item.pos)
        if item.type in CHOICE_TYPES:
            self.check_options(item)
        elif item.options:
            self.add(item.pos, f"item {item.id!r}: a {item.type.value} item takes no options")
        if item.when is not None:
            expr = self.expression(item.when, item.when_pos)
            if expr is not None and self.references_ok(expr, item.when_pos, item) and not self.satisfiable(expr):
                self.add(item.when_pos, f"item {item.id!r} is unreachable: no answers make '{item.when}' true")

    def check_options(self, item: Item) -> None:
        values = [o.value for o in item.options]
        if item.type == ItemType.yes_no and sorted(values) != ["no", "yes"]:
            self.add(item.pos, f"item {item.id!r}: a yes_no item has exactly the options yes and no")
        elif len(item.options) < 2:
            self.add(item.pos, f"item {item.id!r}: a choice needs at least two options")
        seen_values: set[str] = set()
        seen_dtmf: set[str] = set()
        phrase_owner: dict[str, str] = {}
        for option in item.options:
            if option.value in seen_values:
                self.add(option.pos, f"item {item.id!r}: duplicate option value {option.value!r}")
            seen_values.add(option.value)
            if not option.phrases(self.script.locale):
                self.add(option.pos or item.pos, f"item {item.id!r}: option {option.value!r} has no spoken words "
                                                 f"for {self.script.locale}; list them under 'say:'")
            if option.dtmf is not None:
                if option.dtmf in seen_dtmf:
                    self.add(option.pos, f"item {item.id!r}: DTMF key {option.dtmf} is used twice")
                seen_dtmf.add(option.dtmf)
            if option.exclusive and item.type != ItemType.multi_choice:
                self.add(option.pos, f"item {item.id!r}: 'exclusive' applies to multi_choice options only")
            for phrase in option.phrases(self.script.locale):
                owner = phrase_owner.setdefault(phrase, option.value)
                if owner != option.value:
                    self.add(option.pos, f"item {item.id!r}: phrase {phrase!r} means both {owner!r} and "
                                         f"{option.value!r}; the recogniser cannot tell them apart", Severity.warning)

    def check_score(self, score: Score) -> None:
        if not score.items:
            self.add(score.pos, f"score {score.id!r} sums no items")
        for ident in score.items:
            item = self.items.get(ident)
            if item is None:
                self.add(score.pos, f"score {score.id!r}: unknown item {ident!r}")
            elif not item.scorable:
                why = "options without scores" if item.is_choice else f"type {item.type.value}"
                self.add(score.pos, f"score {score.id!r} sums item {ident!r}, which has no numeric value ({why}); "
                                    "give every option a score or remove the item from the score")
        bands = sorted(score.bands, key=lambda b: -1e18 if b.minimum is None else b.minimum)
        for band in bands:
            if band.minimum is not None and band.maximum is not None and band.minimum > band.maximum:
                self.add(band.pos, f"score {score.id!r}: band {band.code!r} has min above max")
        for a, b in itertools.pairwise(bands):
            a_max = 1e18 if a.maximum is None else a.maximum
            if b.minimum is None or b.minimum <= a_max:
                self.add(b.pos, f"score {score.id!r}: band {b.code!r} overlaps band {a.code!r}")

    # ---- conditions -----------------------------------------------------------------------------------
    def expression(self, text: str, pos: Pos | None) -> Expression | None:
        try:
            return Expression.parse(text)
        except ExpressionError:
            return None  # the loader reported it with its position

    def at(self, base: Pos | None, offset: int) -> Pos | None:
        return None if base is None else Pos(base.file, base.line, base.column + offset)

    def references_ok(self, expr: Expression, base: Pos | None, owner: Item | None) -> bool:
        ok = True
        for ref in expr.references():
            pos = self.at(base, ref.offset)
            if ref.via == "band":
                score = self.scores.get(ref.name)
                if score is None or not score.bands:
                    self.add(pos, f"band({ref.name!r}): no score with bands has that id")
                    ok = False
                elif owner is not None:
                    ok &= self.before(owner, score.items, pos, f"score {ref.name!r}")
                continue
            if ref.name in VARIABLE_NAMESPACES and ref.name not in self.items and ref.name not in self.scores:
                if ref.attr is None:
                    self.add(pos, f"{ref.name} is a group of variables; write e.g. {ref.name}.age")
                    ok = False
                continue
            if ref.name in self.scores and ref.via == "name":
                if ref.attr is not None:
                    self.add(pos, f"score {ref.name!r} has no fields")
                    ok = False
                elif owner is not None:
                    ok &= self.before(owner, self.scores[ref.name].items, pos, f"score {ref.name!r}")
                continue
            item = self.items.get(ref.name)
            if item is None:
                self.add(pos, f"unknown item {ref.name!r} in condition")
                ok = False
                continue
            if owner is not None:
                ok &= self.before(owner, (item.id,), pos, f"item {item.id!r}")
            if ref.attr is not None and ref.attr not in _FIELDS.get(item.type, ()):
                self.add(pos, f"item {item.id!r} ({item.type.value}) has no field {ref.attr!r}")
                ok = False
        ok &= self.compared_values_ok(expr, base)
        return ok

    def before(self, owner: Item, ids: Sequence[str], pos: Pos | None, what: str) -> bool:
        for ident in ids:
            if ident in self.order and self.order[ident] >= self.order[owner.id]:
                later = self.items[ident]
                line = f" (line {later.pos.line})" if later.pos else ""
                self.add(pos, f"condition of {owner.id!r} refers to {what}, which depends on {ident!r}{line} "
                              "asked at or after it; conditions may only use earlier answers")
                return False
        return True

    def compared_values_ok(self, expr: Expression, base: Pos | None) -> bool:
        ok = True
        for node in ast.walk(expr.tree):
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            for left, right in itertools.pairwise(operands):
                for name_node, const in ((left, right), (right, left)):
                    if not (isinstance(name_node, ast.Name) and isinstance(const, ast.Constant)
                            and isinstance(const.value, str)):
                        continue
                    item = self.items.get(name_node.id)
                    if item is not None and item.is_choice and const.value not in item.option_values:
                        self.add(self.at(base, const.col_offset), f"{const.value!r} is not an option of "
                                 f"{item.id!r} ({', '.join(item.option_values)})")
                        ok = False
        return ok

    def satisfiable(self, expr: Expression) -> bool:
        literals = expr.literals()
        names: list[tuple[str, str | None, list[object]]] = []
        seen: set[tuple[str, str | None]] = set()
        for ref in expr.references():
            key = (ref.name, ref.attr) if ref.name in VARIABLE_NAMESPACES else (ref.name, None)
            if ref.via == "band" or key in seen:
                continue
            seen.add(key)
            names.append((key[0], key[1], list(self.domain(key[0], key[1], literals))))
        band_refs = sorted({r.name for r in expr.references() if r.via == "band"})
        band_domains = [[None, *(b.code for b in self.scores[n].bands)] for n in band_refs]
        total = 1
        for _, _, dom in names:
            total *= len(dom)
        for dom_b in band_domains:
            total *= len(dom_b)
        if total > _MAX_COMBINATIONS:
            return True  # too many to try: assume it can be true
        for combo in itertools.product(*(d for _, _, d in names), *band_domains):
            values: dict[str, object] = {}
            variables: dict[str, dict[str, object]] = {}
            for (name, attr, _), value in zip(names, combo[:len(names)], strict=True):
                if attr is not None and name in VARIABLE_NAMESPACES:
                    variables.setdefault(name, {})[attr] = value
                else:
                    values[name] = value
            bands = {k: None if v is None else str(v) for k, v in zip(band_refs, combo[len(names):], strict=True)}
            if expr.is_true(Context(values, bands, variables)):
                return True
        return False

    def domain(self, name: str, attr: str | None, literals: Sequence[object]) -> Iterator[object]:
        yield None
        numbers = sorted({float(v) for v in literals if isinstance(v, (int, float)) and not isinstance(v, bool)})
        strings = [v for v in literals if isinstance(v, str)]
        item = self.items.get(name)
        if item is None:  # a score or a patient variable
            lo, hi = self.score_range(self.scores[name]) if name in self.scores else (-1e9, 1e9)
            yield from _numbers_around(numbers, lo, hi, 1.0)
            yield from strings
            return
        if item.type in (ItemType.yes_no, ItemType.single_choice):
            yield from item.option_values
        elif item.type == ItemType.multi_choice:
            for size in (1, 2):
                for combo in itertools.combinations(item.option_values, size):
                    yield list(combo)
        elif item.is_numeric and item.range is not None:
            yield from _numbers_around(numbers, item.range.minimum, item.range.maximum, 10.0 ** -item.range.decimals)
        elif item.type == ItemType.blood_pressure and item.range and item.diastolic:
            sys_values = list(_numbers_around(numbers, item.range.minimum, item.range.maximum, 1.0))
            dia_values = list(_numbers_around(numbers, item.diastolic.minimum, item.diastolic.maximum, 1.0))
            for s, d in itertools.product(sys_values, dia_values):
                if d < s:
                    yield {"systolic": s, "diastolic": d}
        elif item.type == ItemType.info:
            yield True
        else:
            yield from strings or ["x"]
            if item.type == ItemType.appointment:
                yield from ({"department": s, "date": s} for s in strings or ["x"])

    def score_range(self, score: Score) -> tuple[float, float]:
        lo = hi = 0.0
        for ident in score.items:
            item = self.items.get(ident)
            if item is None:
                continue
            if item.is_numeric and item.range is not None:
                lo, hi = lo + min(item.range.minimum, 0), hi + item.range.maximum
            elif item.is_choice:
                scores = [o.score or 0.0 for o in item.options] or [0.0]
                if item.type == ItemType.multi_choice:
                    lo, hi = lo + sum(s for s in scores if s < 0), hi + sum(s for s in scores if s > 0)
                else:
                    lo, hi = lo + min(0.0, *scores), hi + max(0.0, *scores)
        return lo, hi


def _numbers_around(numbers: Sequence[float], lo: float, hi: float, step: float) -> Iterator[float]:
    out = {lo, hi, (lo + hi) / 2}
    for n in numbers:
        out.update({n - step, n, n + step})
    yield from sorted(v for v in out if lo <= v <= hi)
