"""The GraphQL documents the client sends, read from its sources (client/src, tests excluded), so tests can hold the
server's limits to them: every document, with its `${CONSTANT}` pieces filled in, and the numbers passed with it as
variables (`first: PAGE`, `n: WINDOW * 2`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from itertools import product
from pathlib import Path

CLIENT_SRC = Path(__file__).resolve().parents[1] / "client" / "src"
_STRING = re.compile(r"`[^`]*`|'[^'\n]*'|\"[^\"\n]*\"")
_CONSTANT = re.compile(r"\bconst\s+([A-Z][A-Z0-9_]*)\s*(?::[^=\n]+)?=\s*(`[^`]*`|'[^'\n]*'|\"[^\"\n]*\"|\d+|\{)")
_DOCUMENT = re.compile(r"\s*(?:(?:query|mutation|subscription)\b|\{\s*[_A-Za-z]\w*[\s({])")
_SKIP = re.compile(r"(?:\s+|//[^\n]*)*")
_PIECE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_NUMBER = re.compile(r"(\w+)\s*:\s*(\d+|[A-Z][A-Z0-9_]*)(?:\s*\*\s*(\d+))?\s*(?=[,}])")
DYNAMIC = {"arg": ("after", "before")}  # pieces chosen at run time, not constants: every value they take


@dataclass(frozen=True)
class ClientQuery:
    where: str  # file:line of the document
    document: str
    numbers: dict[str, int]  # variables passed as numbers the source spells out


def _balanced(text: str, start: int) -> str:
    """The {...} starting at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i + 1]
    raise AssertionError("unbalanced braces")


def _fill(text: str, strings: dict[str, str], where: str) -> list[str]:
    """Every document a template literal can become."""
    names = list(dict.fromkeys(_PIECE.findall(text)))
    choices: list[tuple[str, ...]] = []
    for name in names:
        if name in strings:
            choices.append((_fill(strings[name], strings, where)[0],))
        elif name in DYNAMIC:
            choices.append(DYNAMIC[name])
        else:
            raise AssertionError(f"{where}: ${{{name}}} in a GraphQL document is neither a constant nor in DYNAMIC")
    out = []
    for combo in product(*choices):
        values = dict(zip(names, combo, strict=True))
        out.append(_PIECE.sub(lambda m, v=values: v[m.group(1)], text))  # type: ignore[misc]
    return out


def _numbers_after(text: str, end: int, numbers: dict[str, int]) -> dict[str, int]:
    """The numbers in the variables object that follows a document argument: `, { n: WINDOW * 2, first: 60 }`."""
    rest = _SKIP.match(text, end).end()
    if not text.startswith(",", rest):
        return {}
    brace = _SKIP.match(text, rest + 1).end()
    if not text.startswith("{", brace):
        return {}
    given = {}
    for var, value, times in _NUMBER.findall(_balanced(text, brace)):
        base = int(value) if value.isdigit() else numbers.get(value)
        if base is not None:
            given[var] = base * int(times or 1)
    return given


@cache
def client_queries() -> tuple[ClientQuery, ...]:
    """Every GraphQL document in the client's sources (a string that starts like one and is not a fragment of
    fields), with the numbers passed next to it: where it is written, or where a constant holding it is used."""
    files = sorted(p for ext in ("*.ts", "*.svelte") for p in CLIENT_SRC.rglob(ext) if ".test." not in p.name)
    found: list[ClientQuery] = []
    for path in files:
        text = path.read_text()
        strings: dict[str, str] = dict(_shared_strings())
        numbers: dict[str, int] = {}
        named: dict[int, str] = {}  # where a constant's literal starts -> the constant
        for m in _CONSTANT.finditer(text):
            name, value = m.group(1), m.group(2)
            if value.isdigit():
                numbers[name] = int(value)
            elif value != "{":
                strings[name] = value[1:-1]
                named[m.start(2)] = name
            else:
                for lit in _STRING.finditer(_balanced(text, m.end() - 1)):
                    named[m.end() - 1 + lit.start()] = name  # a table of documents, used as NAME[...]
        for lit in _STRING.finditer(text):
            body = lit.group(0)[1:-1]
            if not _DOCUMENT.match(body):
                continue
            where = f"{path.relative_to(CLIENT_SRC)}:{text.count(chr(10), 0, lit.start()) + 1}"
            name = named.get(lit.start())
            if name is None:
                given = _numbers_after(text, lit.end(), numbers)
            else:  # passed by name: the numbers at its uses
                given = {}
                for use in re.finditer(rf"\b{name}\b(\[[^\]]*\])?", text):
                    given.update(_numbers_after(text, use.end(), numbers))
            found += [ClientQuery(where, doc, given) for doc in _fill(body, strings, where)]
    return tuple(found)


@cache
def _shared_strings() -> dict[str, str]:
    """Exported string constants (SAMPLE_FIELDS), which other modules import."""
    out = {}
    for path in CLIENT_SRC.rglob("*.ts"):
        for m in re.finditer(r"\bexport\s+const\s+([A-Z][A-Z0-9_]*)\s*=\s*(`[^`]*`|'[^'\n]*')", path.read_text()):
            out[m.group(1)] = m.group(2)[1:-1]
    return out
