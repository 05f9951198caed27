"""Strict checks of the values an import file gives, shared by every reader: a number is a real, finite number (not
a boolean, not a string), an id is a whole number, text has no NUL; numbers written as text (YOLO) are plain
decimals. A bad value raises ValueError naming the field, which the reader turns into a row error."""

from __future__ import annotations

import math
import re
from typing import Any

Box = tuple[float, float, float, float]

# Plain decimals only: float() would also take "nan", "inf", "1_000", " 1 " and non-ASCII digits.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_WHOLE = re.compile(r"[0-9]+", re.ASCII)
# PostgreSQL text refuses NUL, and UTF-8 has no lone surrogates (a JSON "\ud800" escape decodes to one).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def describe(value: Any) -> str:
    """A value as a message shows it: `true`, `a string ("0.1")`, `a list`."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:40] + "…"
        return f"a string ({shown(repr(text))})"
    if isinstance(value, int | float):
        return repr(value)
    kinds: dict[type, str] = {list: "a list", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)


def number(value: Any, field: str) -> float:
    """A JSON number as a finite float; booleans (a bool is an int in Python) and strings are refused."""
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return float(value)
    elif kind is int:
        try:
            return float(value)
        except OverflowError:
            pass
    else:
        raise ValueError(f"{field} must be a number, not {describe(value)}")
    raise ValueError(f"{field} must be a finite number, not {describe(value)}")


def box(value: Any, field: str) -> Box:
    """A JSON list of exactly four numbers."""
    if type(value) is list and len(value) == 4:  # the usual case, checked at once (a million boxes per import)
        x, y, w, h = value
        if type(x) is float and type(y) is float and type(w) is float and type(h) is float and \
                math.isfinite(x + y + w + h):
            return x, y, w, h
    else:
        raise ValueError(f"{field} must be a list of 4 numbers, not {describe(value)}")
    x, y, w, h = value
    return number(x, f"{field}[0]"), number(y, f"{field}[1]"), number(w, f"{field}[2]"), number(h, f"{field}[3]")


def xywh(value: Any, field: str) -> Box:
    """A JSON object holding the numbers x, y, w and h."""
    if type(value) is not dict:
        raise ValueError(f"{field} must be an object with x, y, w, h, not {describe(value)}")
    x, y, w, h = (number(value.get(k), f"{field}.{k}") for k in "xywh")
    return x, y, w, h


def whole(value: Any, field: str) -> int:
    """A JSON id: a whole number (not a boolean, a string or a float)."""
    if type(value) is not int:
        raise ValueError(f"{field} must be a whole number, not {describe(value)}")
    return int(value)


def ident(value: Any, field: str) -> int | str:
    """A JSON id that only has to match another: a whole number or a string."""
    if type(value) is int:
        return int(value)
    if type(value) is str:
        return storable(value, field)
    return whole(value, field)


def text(value: Any, field: str) -> str:
    """A JSON string that a database can store."""
    if type(value) is not str:
        raise ValueError(f"{field} must be a string, not {describe(value)}")
    return storable(value, field)


def storable(value: str, field: str) -> str:
    """Text from any source (JSON, a text file, a zip member name) without NUL or lone surrogates."""
    if _UNSTORABLE.search(value):
        raise ValueError(f"{field} contains a NUL character or an invalid escape ({shown(repr(value[:60]))})")
    return value


def number_text(token: str, field: str) -> float:
    """A number written as text (YOLO): plain decimal notation, finite."""
    if not _DECIMAL.fullmatch(token):
        raise ValueError(f"{field} must be a number, not {shown(repr(token[:40]))}")
    value = float(token)
    if not math.isfinite(value):
        raise ValueError(f"{field} must be a finite number, not {shown(repr(token[:40]))}")
    return value


def whole_text(token: str, field: str) -> int:
    """A class index written as text: digits only."""
    if len(token) > 18 or not _WHOLE.fullmatch(token):
        raise ValueError(f"{field} must be a whole number, not {shown(repr(token[:40]))}")
    return int(token)


def shown(value: str) -> str:
    """Text safe to put in a message or an error list (which the database stores): NUL and lone surrogates
    written as escapes."""
    if not _UNSTORABLE.search(value):
        return value
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
