"""Imports flow one way (server → settings | schema.build → resolvers | routes → schema → jobs → db | volumes) and
the module graph has no cycles, counting imports inside functions too (only `if TYPE_CHECKING:` imports are free)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server.py", "settings.py", "schema", "resolvers", "routes", "db", "jobs", "volumes")

# Which layers each layer may import (its own included). db.errors is the error vocabulary every layer shares.
MAY_IMPORT = {
    "server": {"server", "settings", "schema.build", "resolvers", "routes", "schema", "jobs", "db", "volumes"},
    "settings": {"schema", "jobs", "db", "volumes"},
    "schema.build": {"resolvers", "routes", "schema", "jobs", "db", "volumes"},
    "resolvers": {"resolvers", "routes", "schema", "jobs", "db", "volumes"},
    "routes": {"routes", "schema", "jobs", "db", "volumes"},
    "schema": {"schema", "jobs", "db", "volumes"},
    "jobs": {"jobs", "db", "volumes"},
    "db": {"db"},
    "volumes": {"volumes", "db.errors"},
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        path = ROOT / package
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            if "migrations" in file.parts:
                continue
            name = ".".join(file.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = file
    return found


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _runtime_imports(node)


def graph() -> dict[str, set[str]]:
    mods = modules()

    def ours(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {}
    for name, file in mods.items():
        package = name if file.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                wanted = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    kept = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*kept, base]).strip(".")
                wanted = [base] + [f"{base}.{a.name}" for a in node.names]
            targets |= {t for w in wanted if (t := ours(w)) and t != name}
        edges[name] = targets
    return edges


def layer(module: str) -> str:
    return "schema.build" if module == "schema.build" else module.split(".")[0]


def allowed(source: str, target: str) -> bool:
    ok = MAY_IMPORT[layer(source)]
    return layer(target) in ok or target in ok


def test_imports_flow_one_way() -> None:
    upward = sorted(f"{s} -> {t}" for s, targets in graph().items() for t in targets if not allowed(s, t))
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_the_module_graph_has_no_cycles() -> None:
    try:
        TopologicalSorter(graph()).prepare()
    except CycleError as exc:
        raise AssertionError(f"an import cycle: {' -> '.join(exc.args[1])}") from None


def test_the_checker_sees_function_level_imports() -> None:
    """The rule would be empty if imports inside functions were missed: they are what held the old cycles."""
    tree = ast.parse("def f():\n    from resolvers import samples\nif TYPE_CHECKING:\n    import server\n")
    assert [ast.unparse(n) for n in _runtime_imports(tree)] == ["from resolvers import samples"]
