"""The GraphQL documents the client sends, read from its sources (client/src, tests excluded), so tests can hold the
server's limits to them: every `gql(...)` and `subscribe(...)` call, its document with `${CONSTANT}` pieces filled
in, and the numbers it passes as variables (`first: PAGE`, `n: WINDOW * 2`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from itertools import product
from pathlib import Path

CLIENT_SRC = Path(__file__).resolve().parents[1] / "client" / "src"
_STRING = re.compile(r"`[^`]*`|'[^'\n]*'|\"[^\"\n]*\"")
_CONSTANT = re.compile(r"\bconst\s+([A-Z][A-Z0-9_]*)\s*(?::[^=\n]+)?=\s*(`[^`]*`|'[^'\n]*'|\"[^\"\n]*\"|\d+|\{)")
_CALL = re.compile(r"(?<![.\w])(?<!function )(?:gql|subscribe)(?:<[^()]*?>)?\(")
_SKIP = re.compile(r"(?:\s+|//[^\n]*)*")
_PIECE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_NUMBER = re.compile(r"(\w+)\s*:\s*(\d+|[A-Z][A-Z0-9_]*)(?:\s*\*\s*(\d+))?\s*(?=[,}])")
DYNAMIC = {"arg": ("after", "before")}  # pieces chosen at run time, not constants: every value they take


@dataclass(frozen=True)
class ClientQuery:
    where: str  # file:line of the call
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
            choices.append((strings[name],))
        elif name in DYNAMIC:
            choices.append(DYNAMIC[name])
        else:
            raise AssertionError(f"{where}: ${{{name}}} in a GraphQL document is neither a constant nor in DYNAMIC")
    out = []
    for combo in product(*choices):
        values = dict(zip(names, combo, strict=True))
        out.append(_PIECE.sub(lambda m, v=values: v[m.group(1)], text))  # type: ignore[misc]
    return out


def _calls(path: Path, text: str, strings: dict[str, str], numbers: dict[str, int],
           tables: dict[str, list[str]]) -> list[ClientQuery]:
    out = []
    for call in _CALL.finditer(text):
        where = f"{path.relative_to(CLIENT_SRC)}:{text.count(chr(10), 0, call.start()) + 1}"
        at = _SKIP.match(text, call.end()).end()
        literal = _STRING.match(text, at)
        name = re.match(r"([A-Z][A-Z0-9_]*)(\[[^\]]*\])?", text[at:])
        if literal:
            docs, end = _fill(literal.group(0)[1:-1], strings, where), literal.end()
        elif name and name.group(2) and name.group(1) in tables:
            docs, end = tables[name.group(1)], at + name.end()
        elif name and name.group(1) in strings:
            docs, end = _fill(strings[name.group(1)], strings, where), at + name.end()
        else:
            raise AssertionError(f"{where}: gql/subscribe gets a document the test cannot read: pass a literal or "
                                 "a constant")
        rest = _SKIP.match(text, end).end()
        given: dict[str, int] = {}
        if text.startswith(",", rest) and text.startswith("{", _SKIP.match(text, rest + 1).end()):
            for var, value, times in _NUMBER.findall(_balanced(text, _SKIP.match(text, rest + 1).end())):
                base = int(value) if value.isdigit() else numbers.get(value)
                if base is not None:
                    given[var] = base * int(times or 1)
        out += [ClientQuery(where, doc, given) for doc in docs]
    return out


@cache
def client_queries() -> tuple[ClientQuery, ...]:
    """Every document the client sends, once per call site."""
    files = sorted(p for ext in ("*.ts", "*.svelte") for p in CLIENT_SRC.rglob(ext) if ".test." not in p.name)
    found: list[ClientQuery] = []
    for path in files:
        text = path.read_text()
        strings: dict[str, str] = {}
        numbers: dict[str, int] = {}
        tables: dict[str, list[str]] = {}
        for m in _CONSTANT.finditer(text):
            name, value = m.group(1), m.group(2)
            if value.isdigit():
                numbers[name] = int(value)
            elif value == "{":
                tables[name] = [s.group(0)[1:-1] for s in _STRING.finditer(_balanced(text, m.end() - 1))]
            else:
                strings[name] = value[1:-1]
        shared = {n: v for n, v in _shared_strings().items() if n not in strings}
        strings = {**shared, **strings}
        strings = {n: _fill(v, strings, str(path))[0] for n, v in strings.items()}
        found += _calls(path, text, strings, numbers, {n: [d for s in t for d in _fill(s, strings, str(path))]
                                                      for n, t in tables.items()})
    return tuple(found)


@cache
def _shared_strings() -> dict[str, str]:
    """Exported string constants (SAMPLE_FIELDS), which other modules import."""
    out = {}
    for path in CLIENT_SRC.rglob("*.ts"):
        for m in re.finditer(r"\bexport\s+const\s+([A-Z][A-Z0-9_]*)\s*=\s*(`[^`]*`|'[^'\n]*')", path.read_text()):
            out[m.group(1)] = m.group(2)[1:-1]
    return out
