"""Meilisearch filter expressions: parsed as crates/filter-parser/src/lib.rs parses them, evaluated as milli does.

Grammar (filter-parser's BNF)::

    expression = or
    or         = and ("OR" and)*
    and        = not ("AND" not)*
    not        = ("NOT" not) | primary
    primary    = "(" expression ")" | in | not_in | condition | is_null | is_not_null | is_empty
               | is_not_empty | exists | not_exists | to
    in         = value "IN" "[" value ("," value)* ","? "]"
    condition  = value ("=" | "!=" | ">" | ">=" | "<" | "<=") value
    to         = value value "TO" value
    value      = word | 'single quoted' | "double quoted"      (word = [A-Za-z0-9_.-]+ ...)

The array form (``["a = 1", ["b = 2", "c = 3"]]``: AND of ORs) is accepted as the search route accepts it.
Error messages follow filter-parser's ``Display`` (first line: the diagnostic; second: ``start:end filter``).
Not modelled: geo filters, ``CONTAINS``/``STARTS WITH``, ``_vectors`` filters, ``_foreign``.

Evaluation (milli's facet filters): ``=`` on a string compares lower-cased values, on a number compares
numerically (a value that parses as a number matches numbers and strings alike); ``!=`` is ``NOT =`` (documents
without the field match); comparisons and ``TO`` match numbers only; an array field matches when any element does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["FilterError", "Node", "evaluate", "parse"]

MAX_FILTER_DEPTH = 150
_KEYWORDS = ("OR", "AND", "NOT", "IN", "TO", "EXISTS", "IS", "NULL", "EMPTY", "CONTAINS", "STARTS", "WITH")
_OPERATORS = ("!=", ">=", "<=", "=", ">", "<")


class FilterError(Exception):
    """A filter that does not parse or names an attribute that is not filterable (message as the server's)."""

    def __init__(self, message: str, *, attribute: bool = False) -> None:
        super().__init__(message)
        self.attribute = attribute


@dataclass(frozen=True)
class Node:
    """One node of a parsed filter: ``kind`` and its parts."""

    kind: str  # or, and, not, cond, in, exists, null, empty, to
    children: tuple[Node, ...] = ()
    field: str = ""
    op: str = ""
    values: tuple[str, ...] = ()
    span: tuple[int, int] = (0, 0)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- errors ---------------------------------------------------------------------------------------------

    def error(self, message: str, start: int, end: int) -> FilterError:
        # filter-parser: "{diagnostic}\n{start+1}:{end+1} {filter}" (columns are 1-based characters).
        return FilterError(f"{message}\n{start + 1}:{end + 1} {self.text}")

    # -- lexing ---------------------------------------------------------------------------------------------

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def keyword(self, word: str) -> bool:
        """Consume ``word`` when it is next as a whole word (followed by a space or a bracket or the end)."""
        self.ws()
        end = self.pos + len(word)
        if self.text[self.pos : end] == word and (
            end == len(self.text) or self.text[end].isspace() or self.text[end] in "([" or word in ("IN",)
        ):
            if word == "IN" and end < len(self.text) and not (self.text[end].isspace() or self.text[end] == "["):
                return False
            self.pos = end
            return True
        return False

    def peek_keyword(self, word: str) -> bool:
        saved = self.pos
        found = self.keyword(word)
        self.pos = saved
        return found

    def value(self) -> tuple[str, int, int] | None:
        """A value: quoted (escapes kept as the server keeps them: ``\\"`` → ``"``) or a bare word."""
        self.ws()
        start = self.pos
        if self.pos >= len(self.text):
            return None
        quote = self.text[self.pos]
        if quote in "'\"":
            out: list[str] = []
            index = self.pos + 1
            while index < len(self.text):
                char = self.text[index]
                if char == "\\" and index + 1 < len(self.text):
                    out.append(self.text[index + 1])
                    index += 2
                    continue
                if char == quote:
                    self.pos = index + 1
                    return "".join(out), start, self.pos
                out.append(char)
                index += 1
            raise self.error(
                "Expression `" + self.text[start:] + "` is missing the following closing delimiter: `" + quote + "`.",
                start,
                len(self.text),
            )
        match = re.match(r"[^\s()\[\],'\"=!<>]+", self.text[self.pos :])
        if not match:
            return None
        word = match.group(0)
        if word in _KEYWORDS:
            return None
        self.pos += len(word)
        return word, start, self.pos

    # -- grammar --------------------------------------------------------------------------------------------

    def expression(self, depth: int) -> Node:
        if depth > MAX_FILTER_DEPTH:
            raise self.error(
                "The filter exceeded the maximum depth limit. Try rewriting the filter so that it contains fewer nested conditions.",
                self.pos,
                self.pos,
            )
        first = self.conjunction(depth + 1)
        items = [first]
        while self.keyword("OR"):
            items.append(self.conjunction(depth + 1))
        return items[0] if len(items) == 1 else Node("or", tuple(items))

    def conjunction(self, depth: int) -> Node:
        first = self.negation(depth + 1)
        items = [first]
        while self.keyword("AND"):
            items.append(self.negation(depth + 1))
        return items[0] if len(items) == 1 else Node("and", tuple(items))

    def negation(self, depth: int) -> Node:
        if depth > MAX_FILTER_DEPTH:
            raise self.error(
                "The filter exceeded the maximum depth limit. Try rewriting the filter so that it contains fewer nested conditions.",
                self.pos,
                self.pos,
            )
        if self.keyword("NOT"):
            inner = self.negation(depth + 1)
            return inner.children[0] if inner.kind == "not" else Node("not", (inner,))
        return self.primary(depth + 1)

    def primary(self, depth: int) -> Node:
        self.ws()
        start = self.pos
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            self.pos += 1
            inner = self.expression(depth + 1)
            self.ws()
            if self.pos >= len(self.text) or self.text[self.pos] != ")":
                raise self.error(
                    f"Expression `{self.text[start:]}` is missing the following closing delimiter: `)`.",
                    start,
                    len(self.text),
                )
            self.pos += 1
            return inner
        field = self.value()
        if field is None:
            rest = self.text[self.pos :]
            if not rest.strip():
                raise self.error("Was expecting a value but instead got nothing.", self.pos, len(self.text))
            word = rest.split()[0]
            if word in _KEYWORDS:
                raise self.error(
                    f"Was expecting a value but instead got `{word}`, which is a reserved keyword. To use `{word}` "
                    "as a field name or a value, surround it by quotes.",
                    self.pos,
                    self.pos + len(word),
                )
            raise self.error(f"Was expecting a value but instead got `{rest.strip()}`.", self.pos, len(self.text))
        name, fstart, _ = field
        self.ws()
        for op in _OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                value = self.value()
                if value is None:
                    rest = self.text[self.pos :].strip()
                    message = (
                        "Was expecting a value but instead got nothing."
                        if not rest
                        else f"Was expecting a value but instead got `{rest}`."
                    )
                    raise self.error(message, self.pos, len(self.text))
                return Node("cond", field=name, op=op, values=(value[0],), span=(fstart, value[2]))
        if self.keyword("IN"):
            return Node("in", field=name, values=self.in_body(), span=(fstart, self.pos))
        if self.peek_keyword("NOT"):
            saved = self.pos
            self.keyword("NOT")
            if self.keyword("IN"):
                inner = Node("in", field=name, values=self.in_body(), span=(fstart, self.pos))
                return Node("not", (inner,))
            if self.keyword("EXISTS"):
                return Node("not", (Node("exists", field=name, span=(fstart, self.pos)),))
            self.pos = saved
        if self.keyword("EXISTS"):
            return Node("exists", field=name, span=(fstart, self.pos))
        if self.keyword("IS"):
            negated = self.keyword("NOT")
            if self.keyword("NULL"):
                node = Node("null", field=name, span=(fstart, self.pos))
            elif self.keyword("EMPTY"):
                node = Node("empty", field=name, span=(fstart, self.pos))
            else:
                raise self.invalid_primary(fstart)
            return Node("not", (node,)) if negated else node
        low = self.value()
        if low is not None and self.keyword("TO"):
            high = self.value()
            if high is None:
                raise self.error("Was expecting a value but instead got nothing.", self.pos, len(self.text))
            return Node("to", field=name, values=(low[0], high[0]), span=(fstart, high[2]))
        raise self.invalid_primary(fstart)

    def invalid_primary(self, start: int) -> FilterError:
        rest = self.text[start:].strip()
        text = "but instead got nothing." if not rest else f"at `{rest}`."
        return self.error(
            "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, "
            "`NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, `NOT CONTAINS`, "
            f"`STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, `_geoBoundingBox` or `_geoPolygon` {text}",
            start,
            len(self.text),
        )

    def in_body(self) -> tuple[str, ...]:
        self.ws()
        if self.pos >= len(self.text) or self.text[self.pos] != "[":
            raise self.error("Expected `[` after `IN` keyword.", self.pos, len(self.text))
        self.pos += 1
        values: list[str] = []
        while True:
            self.ws()
            if self.pos < len(self.text) and self.text[self.pos] == "]":
                self.pos += 1
                return tuple(values)
            value = self.value()
            if value is None:
                if self.pos >= len(self.text):
                    raise self.error(
                        "Expected matching `]` after the list of field names given to `IN[`", self.pos, self.pos
                    )
                rest = self.text[self.pos :].strip()
                raise self.error(
                    f"Expected only comma-separated field names inside `IN[..]` but instead found `{rest}`.",
                    self.pos,
                    len(self.text),
                )
            values.append(value[0])
            self.ws()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1

    def parse(self) -> Node | None:
        if not self.text.strip():
            return None
        node = self.expression(0)
        self.ws()
        if self.pos < len(self.text):
            rest = self.text[self.pos :]
            raise self.error(
                f"Found unexpected characters at the end of the filter: `{rest}`. You probably forgot an `OR` or an "
                "`AND` rule.",
                self.pos,
                len(self.text),
            )
        return node


def _from_value(filter_value: Any) -> Node | None:
    if filter_value is None:
        return None
    if isinstance(filter_value, str):
        return _Parser(filter_value).parse()
    if isinstance(filter_value, list):
        ands: list[Node] = []
        for item in filter_value:
            if isinstance(item, list):
                ors = [n for n in (_from_value(x) for x in item) if n is not None]
                if ors:
                    ands.append(ors[0] if len(ors) == 1 else Node("or", tuple(ors)))
            elif isinstance(item, str):
                node = _Parser(item).parse()
                if node is not None:
                    ands.append(node)
            else:
                raise FilterError(
                    f"Invalid syntax for the filter parameter: `expected String, Array, found: {_json_kind(item)}`."
                )
        if not ands:
            return None
        return ands[0] if len(ands) == 1 else Node("and", tuple(ands))
    raise FilterError(
        f"Invalid syntax for the filter parameter: `expected String, Array, found: {_json_kind(filter_value)}`."
    )


def _json_kind(value: Any) -> str:
    import json

    return json.dumps(value)


def parse(filter_value: Any, filterable: Callable[[str], bool], filterable_list: list[str]) -> Node | None:
    """The parsed filter; raises :class:`FilterError` for bad syntax or an attribute that is not filterable."""
    node = _from_value(filter_value)
    if node is not None:
        _check_fields(node, filterable, filterable_list, filter_value)
    return node


def _check_fields(node: Node, filterable: Callable[[str], bool], names: list[str], source: Any) -> None:
    if node.kind in ("or", "and", "not"):
        for child in node.children:
            _check_fields(child, filterable, names, source)
        return
    if not filterable(node.field):
        listed = ", ".join(f"`{name}`" for name in sorted(names))
        hint = (
            " This index does not have configured filterable attributes."
            if not names
            else f" Available filterable attribute patterns are: {listed}."
        )
        text = source if isinstance(source, str) else node.field
        start = text.find(node.field) if isinstance(text, str) else 0
        raise FilterError(
            f"Attribute `{node.field}` is not filterable.{hint}\n{start + 1}:{start + len(node.field) + 1} {text}",
            attribute=True,
        )


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _values(document: dict[str, Any], field: str) -> list[Any] | None:
    """The values of ``field`` (dotted paths reach into objects; arrays are flattened); None when absent."""
    current: Any = document
    for part in field.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return None
    if isinstance(current, list):
        flat: list[Any] = []
        for item in current:
            flat.extend(item if isinstance(item, list) else [item])
        return flat
    return [current]


def _equals(value: Any, text: str) -> bool:
    if isinstance(value, bool):
        return str(value).lower() == text.lower()
    if isinstance(value, (int, float)):
        number = _number(text)
        return number is not None and float(value) == number
    if isinstance(value, str):
        return value.lower() == text.lower()
    return False


def _compare(value: Any, op: str, bound: float) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    number = float(value)
    return {">": number > bound, ">=": number >= bound, "<": number < bound, "<=": number <= bound}[op]


def evaluate(node: Node | None, document: dict[str, Any]) -> bool:
    """Whether ``document`` passes the filter (None: no filter)."""
    if node is None:
        return True
    kind = node.kind
    if kind == "or":
        return any(evaluate(child, document) for child in node.children)
    if kind == "and":
        return all(evaluate(child, document) for child in node.children)
    if kind == "not":
        return not evaluate(node.children[0], document)
    values = _values(document, node.field)
    if kind == "exists":
        return values is not None
    if kind == "null":
        return values is not None and (values == [None])
    if kind == "empty":
        raw = document.get(node.field)
        return raw in ("", [], {})
    present = [v for v in values or [] if v is not None]
    if kind == "in":
        return any(_equals(v, text) for v in present for text in node.values)
    if kind == "to":
        low, high = (_number(t) for t in node.values)
        if low is None or high is None:
            return False
        return any(_compare(v, ">=", low) and _compare(v, "<=", high) for v in present)
    op, text = node.op, node.values[0]
    if op == "=":
        return any(_equals(v, text) for v in present)
    if op == "!=":
        return not any(_equals(v, text) for v in present)
    bound = _number(text)
    if bound is None:
        return False
    return any(_compare(v, op, bound) for v in present)
