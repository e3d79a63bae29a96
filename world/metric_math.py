"""The metric math subset the world evaluates: `+ - * /`, unary minus, parentheses,
numbers, metric and expression ids, and `FILL(series, number)`, parsed into a small tree
and applied one period at a time. CloudWatch's rules for missing values ("Using metric
math", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html)
are in `apply`'s callers: `world/alarms.py`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Ref:
    id: str


@dataclass(frozen=True)
class Neg:
    operand: Any


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Fill:
    series: Any
    value: float


Expr = Num | Ref | Neg | BinOp | Fill

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/(),]))"
)


def parse_expression(text: str) -> Expr:
    """Parses the metric math subset the world evaluates; ValueError says what is wrong."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected {text[pos:].strip()[:10]!r} at column {pos + 1}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    tokens.append(("end", ""))
    i = 0

    def peek() -> tuple[str, str]:
        return tokens[i]

    def take(expected: str | None = None) -> tuple[str, str]:
        nonlocal i
        tok = tokens[i]
        if expected is not None and tok[1] != expected:
            found = tok[1] or "end of expression"
            raise ValueError(f"expected {expected!r}, found {found!r}")
        i += 1
        return tok

    def expr() -> Expr:
        node = term()
        while peek() in (("op", "+"), ("op", "-")):
            node = BinOp(take()[1], node, term())
        return node

    def term() -> Expr:
        node = unary()
        while peek() in (("op", "*"), ("op", "/")):
            node = BinOp(take()[1], node, unary())
        return node

    def unary() -> Expr:
        if peek() == ("op", "-"):
            take()
            return Neg(unary())
        return primary()

    def primary() -> Expr:
        kind, value = take()
        if kind == "num":
            return Num(float(value))
        if kind == "name":
            if value[0].islower():
                return Ref(value)
            if value != "FILL":
                raise ValueError(
                    f"function {value} is not modelled by the world (only FILL(series, number))"
                )
            take("(")
            series = expr()
            take(",")
            filler = expr()
            take(")")
            if refs(filler):
                raise ValueError("FILL's second argument must be a number (REPEAT, LINEAR and series are not modelled)")
            return Fill(series, _scalar(filler))
        if (kind, value) == ("op", "("):
            node = expr()
            take(")")
            return node
        raise ValueError(f"unexpected {value or 'end of expression'!r}")

    node = expr()
    if peek()[0] != "end":
        raise ValueError(f"unexpected {peek()[1]!r} after the expression")
    return node


def refs(node: Expr) -> set[str]:
    if isinstance(node, Ref):
        return {node.id}
    if isinstance(node, Neg):
        return refs(node.operand)
    if isinstance(node, BinOp):
        return refs(node.left) | refs(node.right)
    if isinstance(node, Fill):
        return refs(node.series)
    return set()


def _scalar(node: Expr) -> float:
    """The value of an expression without metrics (a number, possibly negated or computed)."""
    value, _ = apply(node, lambda _id: None)
    if value is None:
        raise ValueError("division by zero in a constant")
    return value


def apply(node: Expr, lookup) -> tuple[float | None, bool]:
    """(value, is_series) of `node` in one period; `lookup(id)` gives a series' value there."""
    if isinstance(node, Num):
        return node.value, False
    if isinstance(node, Ref):
        return lookup(node.id), True
    if isinstance(node, Neg):
        value, series = apply(node.operand, lookup)
        return (None if value is None else -value), series
    if isinstance(node, Fill):
        value, _ = apply(node.series, lookup)
        return (node.value if value is None else value), True
    left, left_series = apply(node.left, lookup)
    right, right_series = apply(node.right, lookup)
    series = left_series or right_series
    if left_series and right_series:
        # Both time series: a period exists where either has a datapoint; the other counts as 0.
        if left is None and right is None:
            return None, True
        left = 0.0 if left is None else left
        right = 0.0 if right is None else right
    elif left is None or right is None:
        return None, series
    if node.op == "+":
        return left + right, series
    if node.op == "-":
        return left - right, series
    if node.op == "*":
        return left * right, series
    if right == 0:
        return None, series  # "the data point is dropped"
    return left / right, series
