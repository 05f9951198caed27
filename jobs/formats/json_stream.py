"""Reads one large JSON document a piece at a time: the members of its top-level object in file order, and the
elements of an array one by one (parsed many at a time by orjson where they can be, see _batch). Each element is
parsed by a C decoder from a window of text that never holds more than one element plus one read, so memory is
bounded by the largest element (`max_value` characters), not by the file; nesting past Python's recursion limit is
refused by the decoder itself."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from db.errors import TooLarge
from jobs.formats.reading import breathe

_SPACE = re.compile(r"[ \t\n\r]*")
_BLANK = ("", " ", "\t", "\n", "\r")
_NEAR_END = 5  # a literal cut short ("tru") is reported a few characters before the end of the text


class BadJson(ValueError):
    """The document is not valid JSON (the message says where)."""


def _no_constant(name: str) -> Any:
    raise BadJson(f"{name} is not a JSON number")


class JsonStream:
    def __init__(self, fp: BinaryIO, max_value: int, *, chunk: int = 1 << 20) -> None:
        self._fp, self.max_value, self._chunk = fp, max_value, chunk
        self._decode = codecs.getincrementaldecoder("utf-8-sig")().decode
        self._text, self._pos, self._offset, self._eof = "", 0, 0, False
        self._no_batch_before = 0  # where the last failed _batch cut was: no new try before it
        self._scan = json.JSONDecoder(parse_constant=_no_constant).raw_decode  # NaN and Infinity are not JSON

    def _more(self, at_least: int) -> None:
        """Read on: keep the text from the current position, add at least at_least characters' worth of bytes."""
        data = self._fp.read(max(self._chunk, at_least))
        try:
            text = self._decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise BadJson(f"the file is not UTF-8 text ({exc.reason})") from None
        self._offset += self._pos
        self._text, self._pos = self._text[self._pos:] + text, 0
        self._eof = not data

    def peek(self) -> str:
        """The next character that is not white space ("" at the end of the file)."""
        while True:
            self._pos = _SPACE.match(self._text, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._text) or self._eof:
                return self._text[self._pos:self._pos + 1]
            self._more(0)

    def _take(self, expected: str, what: str) -> str:
        found = self.peek()
        if found not in expected:
            raise BadJson(f"expected {what} at character {self._offset + self._pos:,}, found "
                          f"{found!r}" if found else f"the file ends where {what} should be")
        self._pos += 1
        return found

    def value(self) -> Any:
        """The next value, whole; one longer than max_value characters stops the import (TooLarge)."""
        if self._text[self._pos:self._pos + 1] in _BLANK:
            self.peek()
        text, pos = self._text, self._pos
        if text[pos:pos + 1] == "{" and (end := text.find("}", pos)) != -1:
            # Most entries are flat objects: when the first "}" closes this one, orjson parses it several times faster
            # than the standard decoder. If that "}" is nested or inside a string, the slice is not valid JSON.
            try:
                return self._taken(orjson.loads(text[pos:end + 1]), end + 1)
            except orjson.JSONDecodeError:
                pass
        while True:
            pending = len(self._text) - self._pos
            try:
                found, end = self._scan(self._text, self._pos)
                if end < len(self._text) or self._eof or isinstance(found, dict | list | str):
                    return self._taken(found, end)
            except json.JSONDecodeError as exc:  # cut short by the window's end, or really broken
                cut = exc.pos >= len(self._text) - _NEAR_END or exc.msg.startswith("Unterminated string")
                if self._eof or not cut:
                    raise BadJson(f"{exc.msg} at character {self._offset + exc.pos:,}") from None
            except RecursionError:
                raise BadJson(f"nested too deeply at character {self._offset + self._pos:,}") from None
            if pending > self.max_value:
                raise self._too_long()
            self._more(pending)  # a number may go on past the window too

    def _batch(self) -> list[Any] | None:
        """Many flat or nested objects at once: the window's text from here to its last "}," (at most max_value
        characters, so no entry in it can pass the limit) parsed by orjson as one list. That only succeeds if the
        cut closes an element of this array (a cut inside a string or a nested value leaves the list unclosed);
        then the elements are exactly those. After a failed cut, none is tried again before it is passed, so no
        text is parsed twice in vain."""
        text, pos = self._text, self._pos
        if text[pos:pos + 1] != "{" or self._offset + pos < self._no_batch_before:
            return None
        end = text.rfind("},", pos, pos + self.max_value)
        if end == -1:
            return None
        try:
            found = orjson.loads("[" + text[pos:end + 1] + "]")
        except orjson.JSONDecodeError:
            self._no_batch_before = self._offset + end + 1
            return None
        self._pos = end + 1
        return found  # type: ignore[no-any-return]

    def _taken(self, found: Any, end: int) -> Any:
        """A value parsed whole from the window: refused if longer than max_value (the window can hold more)."""
        if end - self._pos > self.max_value:
            raise self._too_long()
        self._pos = end
        return found

    def _too_long(self) -> TooLarge:
        return TooLarge(f"An entry at character {self._offset + self._pos:,} of the file is longer than "
                        f"{self.max_value:,} characters; entries take at most {self.max_value:,} "
                        "(IMPORT_MAX_ROW_BYTES).")

    def members(self) -> Iterator[str]:
        """The keys of the object that starts here, in order; read each member's value before the next key."""
        self._take("{", "an object")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                self._take('"', "a key")
            key = self.value()
            self._take(":", "':'")
            yield key
            if self._take(",}", "',' or '}'") == "}":
                return

    def elements(self) -> Iterator[Any]:
        """The elements of the array that starts here, one at a time."""
        self._take("[", "a list")
        if self.peek() == "]":
            self._pos += 1
            return
        n = 0
        while True:
            for found in self._batch() or (self.value(),):
                yield found
                n += 1
                breathe(n)
            text, pos = self._text, self._pos  # the usual ",{" or "]" follows at once: no peek needed
            c = text[pos:pos + 1]
            if c == ",":
                self._pos = pos + 1
                continue
            if c == "]":
                self._pos = pos + 1
                return
            if self._take(",]", "',' or ']'") == "]":
                return

    def skip(self) -> None:
        """Pass over the next value: a list element by element, anything else whole."""
        if self.peek() == "[":
            for _ in self.elements():
                pass
        else:
            self.value()

    def end(self) -> None:
        """Nothing but white space may follow the document."""
        if self.peek():
            raise BadJson(f"extra data after the document at character {self._offset + self._pos:,}")
