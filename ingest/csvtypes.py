"""Typed CSV values (``--csv-types``): which columns become numbers, booleans or null.

Without ``--csv-types`` every CSV value is a string, as read (an empty field is ``""``). The
spec is a comma-separated list of items:

* ``NAME=TYPE`` types the column ``NAME`` (as the header spells it; an unnamed column is
  ``column_<n>``). An item holding a comma is quoted CSV-style: ``"temp, C=float",id=int``.
* ``auto`` (or ``str``) alone sets the type of every column not named (default ``str``).

Types (an empty or all-blank field is ``null`` for every type but ``str``):

* ``str``: the text as read.
* ``int``: an optional sign and ASCII digits, blanks around allowed (``-12``); anything else
  (``1.5``, ``1e3``, ``12abc``) is a reject.
* ``float``: a decimal number with an optional exponent (``3``, ``-0.5``, ``1e-3``); not
  ``nan`` or ``inf`` (JSON has neither), not out of range (``1e999``).
* ``bool``: ``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case).
* ``auto``: per value, never a reject (blanks around a value are ignored for the test):
  empty -> ``null``; an integer without leading zeros within +-(2**53 - 1) (the range every
  JSON parser holds exactly, RFC 8259 section 6; ``007`` and longer integers stay strings)
  -> int; a finite number with a point or an exponent (``2.5``, ``1e3``) -> float;
  ``true``/``false`` (any case) -> bool; anything else stays the string as read.

A value that does not convert rejects its record, naming the line, the column and the value:
``in.csv:7: column 'temp' = 'n/a' is not a float (--csv-types temp=float)``. A column named
in the spec that is not in the header refuses the whole file at the header (exit 2).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TYPES", "CellError", "ColumnTypes", "Converter", "parse_csv_types"]

TYPES = ("str", "int", "float", "bool", "auto")
"""The column types ``--csv-types`` knows."""

_INT = re.compile(r"\s*[+-]?[0-9]+\s*")
_AUTO_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_SAFE_INT = 2**53 - 1
_SHOWN = 40  # characters of a bad value shown in a reject reason


class CellError(ValueError):
    """A value that does not convert to its column's type.

    Attributes:
        column: the column's name.
        value: the text as read.
        type: the type it should have had.
        more: how many other values of the same record do not convert either.
    """

    def __init__(self, column: str, value: str, type: str, more: int = 0) -> None:
        shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
        article = "an" if type[0] in "aeiou" else "a"
        also = f" ({more} more value(s) of this record do not convert either)" if more else ""
        super().__init__(f"column {column!r} = {shown!r} is not {article} {type}{also}")
        self.column, self.value, self.type, self.more = column, value, type, more


def _to_int(text: str) -> int:
    if not _INT.fullmatch(text):
        raise ValueError(text)
    return int(text)  # ValueError past sys.get_int_max_str_digits(): a reject too


def _to_float(text: str) -> float:
    if not _FLOAT.fullmatch(text):
        raise ValueError(text)
    value = float(text)
    if math.isinf(value):
        raise ValueError(text)
    return value


def _to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


def _auto(text: str) -> Any:
    bare = text.strip()
    if _AUTO_INT.fullmatch(bare) and len(bare) <= 17 and abs(int(bare)) <= _SAFE_INT:
        return int(bare)
    # Only a number with a point or an exponent: "007" and 20-digit integers stay strings.
    if _FLOAT.fullmatch(bare) and ("." in bare or "e" in bare or "E" in bare):
        value = float(bare)
        return text if math.isinf(value) else value
    lowered = bare.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


_CONVERT: dict[str, Callable[[str], Any]] = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "auto": _auto,
}


@dataclass(frozen=True, slots=True)
class ColumnTypes:
    """A parsed ``--csv-types`` spec.

    Attributes:
        columns: ``(name, type)`` pairs, in the spec's order.
        default: the type of the columns not named (``str`` or ``auto``, or any type).
        spec: the spec as given (for messages).
    """

    columns: tuple[tuple[str, str], ...]
    default: str = "str"
    spec: str = ""

    def bind(self, header: list[str]) -> Converter:
        """The converter for CSV records under ``header`` (its column names).

        Raises:
            ValueError: the spec names a column the header does not have (the message
                lists the header's columns, at most 10).
        """
        named = dict(self.columns)
        missing = [name for name in named if name not in header]
        if missing:
            shown = ", ".join(repr(name) for name in header[:10])
            more = f" and {len(header) - 10} more" if len(header) > 10 else ""
            raise ValueError(
                f"--csv-types names {missing[0]!r}, which is not a column of the header "
                f"(columns: {shown}{more})"
            )
        types = {name: named.get(name, self.default) for name in header}
        return Converter({name: t for name, t in types.items() if t != "str"}, self.spec)


class Converter:
    """Converts the values of a CSV record (a ``dict`` keyed by the header's names)."""

    def __init__(self, types: Mapping[str, str], spec: str) -> None:
        self._types = dict(types)
        self.spec = spec
        """The ``--csv-types`` spec as given (for reject reasons)."""

    def convert(self, row: dict[str, str]) -> dict[str, Any]:
        """``row`` with its typed columns converted (a blank value becomes ``None``).

        Raises:
            CellError: the first value that does not convert (``more``: how many others
                of the row do not either).
        """
        if not self._types:
            return row
        out: dict[str, Any] = dict(row)
        errors: list[CellError] = []
        for name, type_ in self._types.items():
            text = row[name]
            if not text.strip():
                out[name] = None
                continue
            try:
                out[name] = _CONVERT[type_](text)
            except ValueError:
                errors.append(CellError(name, text, type_))
        if errors:
            first = errors[0]
            raise CellError(first.column, first.value, first.type, len(errors) - 1)
        return out


def parse_csv_types(spec: str) -> ColumnTypes:
    """Parse a ``--csv-types`` spec (see the module docstring).

    Raises:
        ValueError: an unknown type, an item without ``=`` that is not a type, an empty
            column name, or a column named twice.
    """
    items = next(csv.reader([spec], skipinitialspace=True), [])
    columns: dict[str, str] = {}
    default = "str"
    for item in (item.strip() for item in items):
        if not item:
            continue
        name, equals, type_ = item.rpartition("=")
        type_ = type_.strip()
        if type_ not in TYPES:
            raise ValueError(f"unknown type {type_!r} in {item!r}: use {', '.join(TYPES)}")
        if not equals:
            default = type_
            continue
        if not name:
            raise ValueError(f"{item!r}: give the column name before '='")
        if name in columns:
            raise ValueError(f"column {name!r} is named twice")
        columns[name] = type_
    if not columns and default == "str":
        raise ValueError("names no column and no default type (e.g. temp=float, or auto)")
    return ColumnTypes(tuple(columns.items()), default, spec)
