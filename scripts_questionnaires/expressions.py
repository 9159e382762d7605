"""The ``when`` language: a small, safe subset of Python expressions, parsed with ``ast`` and walked here.

Nothing is ever passed to ``eval``. Allowed: literals (numbers, strings, true/false/None, lists), names of
earlier items and of scores, ``bp.systolic`` / ``bp.diastolic`` / ``appt.date`` (fields of an answer),
``patient.x`` / ``encounter.x`` (patient variables), ``and or not``, comparisons (``== != < <= > >= in
not in is is not``), ``+ - * / %`` and the functions ``answered('id')``, ``band('score_id')``, ``len``,
``min``, ``max``, ``abs``. An unanswered (or skipped, or disabled) item is ``None``; any ordering comparison
with ``None`` is false, so ``temp >= 38.5`` is simply false until the temperature is known. ``*`` and ``+``
never build a string or list longer than ``MAX_SEQUENCE_LENGTH`` and ``%`` never formats a string: such a
condition is false (refused by the checker when both operands are written in it).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scripts_questionnaires.errors import ExpressionError

#: Namespaces of patient variables, usable as ``patient.age`` in conditions and ``{patient.name}`` in text.
VARIABLE_NAMESPACES = ("patient", "encounter", "hospital", "nurse", "task")
FUNCTIONS = ("answered", "band", "len", "min", "max", "abs")
_CONSTANTS: dict[str, object] = {"true": True, "false": False, "True": True, "False": False,
                                 "None": None, "null": None}
_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Mod: operator.mod,
}
_ORDER: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_MAX_LENGTH = 500
#: Longest string or list ``*`` and ``+`` may build (as simpleeval's MAX_STRING_LENGTH): ``note * 10**9`` would
#: otherwise take the process's memory from a 12-character condition.
MAX_SEQUENCE_LENGTH = 100_000
#: Words with a fixed meaning in conditions; ids may not use them.
CONSTANT_NAMES = tuple(_CONSTANTS)


@dataclass(frozen=True)
class Reference:
    """A name an expression uses: an item or score id (``attr`` for ``bp.systolic``), or a variable."""

    name: str
    offset: int  # 0-based column in the expression text
    attr: str | None = None
    via: str = "name"  # "name", "answered" or "band"


@dataclass(frozen=True)
class Context:
    """What an expression sees: answer values and scores by id, score bands, patient variables."""

    values: Mapping[str, object] = field(default_factory=dict)
    bands: Mapping[str, str | None] = field(default_factory=dict)
    variables: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


@dataclass(frozen=True)
class Expression:
    source: str
    tree: ast.expr = field(compare=False, repr=False)

    @classmethod
    def parse(cls, source: str) -> Expression:
        text = source.strip()
        if not text:
            raise ExpressionError("the condition is empty; write e.g. fever == 'yes'")
        if len(text) > _MAX_LENGTH:
            raise ExpressionError(f"the condition is longer than {_MAX_LENGTH} characters; split the item")
        try:
            module = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            offset = max((exc.offset or 1) - 1, 0)
            raise ExpressionError(f"not a valid condition ({exc.msg}); write e.g. temp >= 38.5", offset) from None
        _validate(module.body)
        return cls(text, module.body)

    def references(self) -> tuple[Reference, ...]:
        refs: list[Reference] = []
        _collect(self.tree, refs)
        return tuple(refs)

    def literals(self) -> tuple[object, ...]:
        """Every constant in the expression (used by the checker to pick values to try)."""
        out: list[object] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Constant):
                out.append(node.value)
            elif isinstance(node, ast.Name) and node.id in _CONSTANTS:
                out.append(_CONSTANTS[node.id])
        return tuple(out)

    def evaluate(self, context: Context) -> object:
        return _eval(self.tree, context)

    def is_true(self, context: Context) -> bool:
        try:
            return bool(self.evaluate(context))
        except (TypeError, ValueError, ZeroDivisionError, ArithmeticError):
            return False


def _validate(node: ast.expr) -> None:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            if not isinstance(sub.func, ast.Name) or sub.func.id not in FUNCTIONS or sub.keywords:
                raise ExpressionError(f"only these functions are allowed: {', '.join(FUNCTIONS)}",
                                      sub.col_offset)
            if sub.func.id in ("answered", "band") and not (
                    len(sub.args) == 1 and isinstance(sub.args[0], ast.Constant)
                    and isinstance(sub.args[0].value, str)):
                raise ExpressionError(f"{sub.func.id}() takes one id in quotes, e.g. {sub.func.id}('x')",
                                      sub.col_offset)
        elif isinstance(sub, ast.Attribute):
            if not isinstance(sub.value, ast.Name):
                raise ExpressionError("only one level of fields is allowed, e.g. bp.systolic", sub.col_offset)
            if sub.attr.startswith("_"):
                raise ExpressionError("field names may not start with an underscore", sub.col_offset)
        elif isinstance(sub, ast.Constant):
            if not isinstance(sub.value, (str, int, float, bool)) and sub.value is not None:
                raise ExpressionError("only numbers, strings, true/false and None are allowed", sub.col_offset)
        elif isinstance(sub, ast.Name):
            if sub.id.startswith("_"):
                raise ExpressionError("names may not start with an underscore", sub.col_offset)
        elif isinstance(sub, ast.BinOp):
            if type(sub.op) not in _BINOPS:
                raise ExpressionError("only + - * / % are allowed", sub.col_offset)
            if isinstance(sub.left, (ast.Constant, ast.List)) and isinstance(sub.right, (ast.Constant, ast.List)):
                try:  # two written values: refuse now what evaluation would refuse every time
                    _check_size(sub.op, _literal(sub.left), _literal(sub.right))
                except ValueTooLong as exc:
                    raise ExpressionError(f"{exc}; conditions compare answers, they do not build text",
                                          sub.col_offset) from None
        elif isinstance(sub, ast.UnaryOp):
            if not isinstance(sub.op, (ast.Not, ast.USub, ast.UAdd)):
                raise ExpressionError("only not, - and + are allowed before a value", sub.col_offset)
        elif not isinstance(sub, (ast.BoolOp, ast.Compare, ast.List, ast.Tuple, ast.Load, ast.And, ast.Or,
                                  ast.Not, ast.USub, ast.UAdd, ast.cmpop, ast.operator)):
            raise ExpressionError(f"{type(sub).__name__} is not allowed in a condition",
                                  getattr(sub, "col_offset", 0))


def _literal(node: ast.expr) -> object:
    """The value of a constant or of a list literal (its elements only counted)."""
    if isinstance(node, ast.List):
        return [None] * len(node.elts)
    return node.value if isinstance(node, ast.Constant) else None


def _collect(node: ast.expr, refs: list[Reference]) -> None:
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        if node.func.id in ("answered", "band"):
            arg = node.args[0]
            assert isinstance(arg, ast.Constant)
            refs.append(Reference(str(arg.value), arg.col_offset + 1, via=node.func.id))
            return
        for arg in node.args:
            _collect(arg, refs)
        return
    if isinstance(node, ast.Attribute):
        assert isinstance(node.value, ast.Name)
        refs.append(Reference(node.value.id, node.value.col_offset, attr=node.attr))
        return
    if isinstance(node, ast.Name):
        if node.id not in _CONSTANTS:
            refs.append(Reference(node.id, node.col_offset))
        return
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.expr):
            _collect(child, refs)


def _eval(node: ast.expr, ctx: Context) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        return ctx.values.get(node.id)
    if isinstance(node, ast.Attribute):
        assert isinstance(node.value, ast.Name)
        base: object
        if node.value.id in VARIABLE_NAMESPACES and node.value.id not in ctx.values:
            base = ctx.variables.get(node.value.id, {})
        else:
            base = ctx.values.get(node.value.id)
        return base.get(node.attr) if isinstance(base, Mapping) else None
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, ctx) for e in node.elts]
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: object = True
            for value in node.values:
                result = _eval(value, ctx)
                if not result:
                    return result
            return result
        for value in node.values:
            result = _eval(value, ctx)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, ctx)
        if isinstance(node.op, ast.Not):
            return not operand
        if operand is None:
            return None
        return -operand if isinstance(node.op, ast.USub) else +operand  # type: ignore[operator]
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, ctx), _eval(node.right, ctx)
        if left is None or right is None:
            return None
        _check_size(node.op, left, right)
        return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, ctx)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, ctx)
            if not _compare(op, left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call):
        return _call(node, ctx)
    raise ExpressionError(f"{type(node).__name__} is not allowed in a condition")  # _validate prevents it


class ValueTooLong(ValueError):
    """An operation would build a string or list longer than ``MAX_SEQUENCE_LENGTH`` (the condition is false)."""


def _check_size(op: ast.operator, left: object, right: object) -> None:
    """Refuse, before computing it, a string or list longer than ``MAX_SEQUENCE_LENGTH``, and %-formatting."""
    sequences = (str, list, tuple)
    if isinstance(op, ast.Mult):
        seq, times = (left, right) if isinstance(left, sequences) else (right, left)
        if isinstance(seq, sequences) and isinstance(times, int) and len(seq) * times > MAX_SEQUENCE_LENGTH:
            raise ValueTooLong(f"{type(seq).__name__} * {times} is longer than {MAX_SEQUENCE_LENGTH}")
    elif isinstance(op, ast.Add):
        if (isinstance(left, sequences) and isinstance(right, sequences)
                and len(left) + len(right) > MAX_SEQUENCE_LENGTH):
            raise ValueTooLong(f"{type(left).__name__} + {type(right).__name__} is longer than "
                               f"{MAX_SEQUENCE_LENGTH}")
    elif isinstance(op, ast.Mod) and isinstance(left, str):
        # '%0999999999d' % 1 builds a gigabyte; % is arithmetic in conditions, never string formatting
        raise ValueTooLong("% is not string formatting in conditions")


def _compare(op: ast.cmpop, left: object, right: object) -> bool:
    if isinstance(op, ast.Eq):
        return bool(left == right)
    if isinstance(op, ast.NotEq):
        return bool(left != right)
    if isinstance(op, ast.Is):
        return left is right
    if isinstance(op, ast.IsNot):
        return left is not right
    if isinstance(op, (ast.In, ast.NotIn)):
        if right is None or isinstance(right, (int, float)):
            return False
        try:
            found = left in right  # type: ignore[operator]
        except TypeError:
            return False
        return found if isinstance(op, ast.In) else not found
    if left is None or right is None:
        return False
    try:
        return bool(_ORDER[type(op)](left, right))
    except TypeError:
        return False


def _call(node: ast.Call, ctx: Context) -> object:
    assert isinstance(node.func, ast.Name)
    name = node.func.id
    if name in ("answered", "band"):
        arg = node.args[0]
        assert isinstance(arg, ast.Constant)
        key = str(arg.value)
        return ctx.values.get(key) is not None if name == "answered" else ctx.bands.get(key)
    args = [_eval(a, ctx) for a in node.args]
    if any(a is None for a in args):
        return None
    if name == "len":
        return len(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple, str)) else None
    if name == "abs":
        return abs(args[0]) if len(args) == 1 and isinstance(args[0], (int, float)) else None
    if not args:
        return None
    return min(args) if name == "min" else max(args)  # type: ignore[type-var]
