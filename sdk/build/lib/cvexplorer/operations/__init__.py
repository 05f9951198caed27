"""The GraphQL documents the client sends, one named operation each, with the fragments it uses
(tests/test_sdk_schema.py validates every one against the server's schema/schema.graphql)."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_HEAD = re.compile(r"^(query|mutation|subscription|fragment)\s+(\w+)", re.M)
_SPREAD = re.compile(r"\.\.\.\s*(\w+)")


def _definitions() -> dict[str, str]:
    """Every top-level definition of the package's .graphql files, by name (comments dropped)."""
    out: dict[str, str] = {}
    for file in sorted(resources.files(__package__).iterdir(), key=lambda f: f.name):
        if not file.name.endswith(".graphql"):
            continue
        text = "\n".join(line for line in file.read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith("#"))
        heads = list(_HEAD.finditer(text))
        for head, nxt in zip(heads, [*heads[1:], None], strict=True):
            name = head.group(2)
            if name in out:
                raise ValueError(f"{name} is defined twice in the client's operations")
            out[name] = text[head.start():nxt.start() if nxt else len(text)].strip()
    return out


@cache
def document(operation: str) -> str:
    """The operation's text followed by every fragment it uses, transitively."""
    defs = _definitions()
    body = defs[operation]
    parts, seen, todo = [body], set(), _SPREAD.findall(body)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            parts.append(defs[name])
            todo += _SPREAD.findall(defs[name])
    return "\n\n".join(parts)


def names() -> list[str]:
    """Every operation (not fragment) the client can send."""
    return [name for name, text in _definitions().items() if not text.startswith("fragment")]
