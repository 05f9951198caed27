"""GraphQL request limits, all checked before any resolver runs: the token cap for parsing (schema/prepare.py),
depth, alias and introspection rules for validation, the page-size cap on `first`, the cost budget
(schema/cost.py) and the refusal of NUL characters in strings right after validation, and the cap on operations
open on one websocket. Where introspection is off, errors suggest no names either."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    ValueNode,
    VariableNode,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler

from db.errors import DatabaseUnavailable
from schema.cost import estimate, operation


@dataclass(frozen=True)
class GraphQLLimits:
    """Set from the GRAPHQL_MAX_* and MAX_PAGE_SIZE settings; introspection only in local mode."""

    max_depth: int = 12
    max_aliases: int = 100
    max_tokens: int = 2000
    max_page_size: int = 500
    introspection: bool = True
    max_cost: int = 50_000


def limits_of(context: Any) -> GraphQLLimits:
    """The app's limits from a GraphQL context (its services), or the defaults."""
    return getattr(getattr(context, "services", None), "limits", None) or GraphQLLimits()


class Executor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, but without "Did you mean …?" in errors where introspection is off: variables are
    checked against their types here, at execution, and each suggestion would reveal a name of the schema."""

    @classmethod
    def build(cls, schema: Any, document: DocumentNode, root_value: Any = None, context_value: Any = None,
              *args: Any, hide_suggestions: bool = False, **kwargs: Any) -> Any:
        hide = hide_suggestions or not limits_of(context_value).introspection
        return super().build(schema, document, root_value, context_value, *args,  # type: ignore[misc]
                             hide_suggestions=hide, **kwargs)  # graphql-core passes it by name


class _TooDeep(Exception):
    pass


def _measure(selections: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode],
             memo: dict[str, tuple[int, int]], frames: int, max_frames: int) -> tuple[int, int]:
    """(field depth, aliases) of a selection set with fragments expanded. Each fragment is measured once, so a
    fragment spread many times (or fragments spreading each other twice, level after level) costs nothing more."""
    if frames > max_frames:
        raise _TooDeep
    depth = aliases = 0
    for sel in selections.selections:
        if isinstance(sel, FieldNode):
            if sel.name.value.startswith("__") and sel.name.value != "__typename":
                continue  # __schema / __type: refused outright outside local mode, GraphiQL's own query locally
            aliases += sel.alias is not None
            sub = _measure(sel.selection_set, fragments, memo, frames + 1, max_frames) if sel.selection_set \
                else (0, 0)
            depth, aliases = max(depth, 1 + sub[0]), aliases + sub[1]
        elif isinstance(sel, InlineFragmentNode):
            sub = _measure(sel.selection_set, fragments, memo, frames + 1, max_frames)
            depth, aliases = max(depth, sub[0]), aliases + sub[1]
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            if name not in memo:
                if name not in fragments:
                    continue  # graphql-core's KnownFragmentNames reports it
                memo[name] = (0, 0)  # a cycle ends here; graphql-core's NoFragmentCycles reports it
                memo[name] = _measure(fragments[name].selection_set, fragments, memo, frames + 1, max_frames)
            depth, aliases = max(depth, memo[name][0]), aliases + memo[name][1]
    return depth, aliases


@lru_cache(maxsize=16)
def validation_rules(max_depth: int, max_aliases: int, introspection: bool) -> tuple[type[ValidationRule], ...]:
    """The same rule classes for the same limits: the validation cache (schema/prepare.py) keys on them."""

    class DepthAndAliases(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            doc = context.document
            fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
            memo: dict[str, tuple[int, int]] = {}
            for op in doc.definitions:
                if not isinstance(op, OperationDefinitionNode):
                    continue
                try:
                    depth, aliases = _measure(op.selection_set, fragments, memo, 0, 3 * max_depth + 10)
                    levels = f"{depth} levels"
                except _TooDeep:  # stopped walking: deeper still, or fragments nested far beyond any field depth
                    depth, aliases, levels = max_depth + 1, 0, f"more than {max_depth} levels"
                if depth > max_depth:
                    context.report_error(GraphQLError(
                        f"The query is nested {levels} deep; the limit is {max_depth} (GRAPHQL_MAX_DEPTH).", op))
                if aliases > max_aliases:
                    context.report_error(GraphQLError(
                        f"The query uses {aliases:,} aliases; the limit is {max_aliases} (GRAPHQL_MAX_ALIASES).", op))

    return (DepthAndAliases,) if introspection else (DepthAndAliases, NoSchemaIntrospectionCustomRule)


def _fields(doc: DocumentNode, operation_name: str | None) -> Iterator[FieldNode]:
    """Every field of the operation that will run, fragments followed once each."""
    op = operation(doc, operation_name)
    if op is None:
        return
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    seen: set[str] = set()
    stack = [op.selection_set]
    while stack:
        for sel in stack.pop().selections:
            if isinstance(sel, FragmentSpreadNode):
                if sel.name.value not in seen and sel.name.value in fragments:
                    seen.add(sel.name.value)
                    stack.append(fragments[sel.name.value].selection_set)
                continue
            if isinstance(sel, FieldNode):
                yield sel
            if isinstance(sel, FieldNode | InlineFragmentNode) and sel.selection_set:
                stack.append(sel.selection_set)


def page_sizes(doc: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
               ) -> Iterator[tuple[FieldNode, int]]:
    """Every `first` argument of the operation that will run, with its value (literal or from a variable)."""
    op = operation(doc, operation_name)
    defaults = {v.variable.name.value: v.default_value for v in ((op.variable_definitions if op else None) or ())}
    for field in _fields(doc, operation_name):
        for arg in field.arguments or ():
            if arg.name.value != "first":
                continue
            value: Any = arg.value
            if isinstance(value, VariableNode):
                name = value.name.value
                value = (variables or {}).get(name, defaults.get(name))
            if isinstance(value, IntValueNode):
                value = int(value.value)
            if isinstance(value, int) and not isinstance(value, bool):  # else coercion will refuse it
                yield field, value


def _nul_in_value(value: Any, path: str) -> str | None:
    """The path of the first string (or object key) holding a NUL character in a variable's JSON value."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _nul_in_value(item, f"{path}[{i}]")) is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return f"{path}.{key!r}"
            if (found := _nul_in_value(item, f"{path}.{key}")) is not None:
                return found
    return None


def _nul_in_literal(node: ValueNode, path: str) -> str | None:
    """The same for a value written in the document."""
    if isinstance(node, StringValueNode):
        return path if "\x00" in node.value else None
    if isinstance(node, ListValueNode):
        for i, item in enumerate(node.values):
            if (found := _nul_in_literal(item, f"{path}[{i}]")) is not None:
                return found
    elif isinstance(node, ObjectValueNode):
        for f in node.fields:
            if (found := _nul_in_literal(f.value, f"{path}.{f.name.value}")) is not None:
                return found
    return None


def nul_argument(doc: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
                 ) -> tuple[str, Any] | None:
    """Where a string the operation passes holds a NUL character (PostgreSQL cannot store one, and no name, label
    or comment needs it): (`$variable.path` or `field(argument.path)`, the node to point at), or None."""
    for name, value in (variables or {}).items():
        if (found := _nul_in_value(value, f"${name}")) is not None:
            return found, operation(doc, operation_name)
    for field in _fields(doc, operation_name):
        for arg in field.arguments or ():
            if (found := _nul_in_literal(arg.value, arg.name.value)) is not None:
                return f"{field.name.value}({found})", arg
    return None


class Limits(SchemaExtension):
    """Applies the app's GraphQLLimits (from the context's services) to every operation, HTTP and websocket.
    Listed after schema.prepare.Prepare: the page-size check reads a document that has passed validation."""

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        self.limits = limits_of(ctx.context)
        ctx.parse_options["max_tokens"] = self.limits.max_tokens
        ctx.validation_rules = ctx.validation_rules + validation_rules(
            self.limits.max_depth, self.limits.max_aliases, self.limits.introspection)
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is not None and not ctx.pre_execution_errors:
            ctx.pre_execution_errors = (self._page_size(ctx) or self._cost(ctx) or self._nul(ctx)
                                        or ctx.pre_execution_errors)
        yield

    def _page_size(self, ctx: Any) -> list[GraphQLError]:
        cap = self.limits.max_page_size
        for node, size in page_sizes(ctx.graphql_document, ctx.operation_name, ctx.variables):
            if size > cap:
                return [GraphQLError(f"{node.name.value}(first: {size}) asks for more than {cap} items "
                                     "(MAX_PAGE_SIZE); page with `after` and pageInfo.endCursor.", node)]
        return []

    @staticmethod
    def _nul(ctx: Any) -> list[GraphQLError]:
        found = nul_argument(ctx.graphql_document, ctx.operation_name, ctx.variables)
        if found is None:
            return []
        where, node = found
        kind = "Variable" if where.startswith("$") else "Argument"
        return [GraphQLError(f"{kind} {where} contains a NUL character (\\0), which no text here may hold; remove it.",
                             node, extensions={"code": "VALIDATION", "argument": where})]

    def _cost(self, ctx: Any) -> list[GraphQLError]:
        cost, cap = estimate(ctx.schema._schema, ctx.graphql_document, ctx.operation_name, ctx.variables), \
            self.limits.max_cost
        if cost <= cap:
            return []
        return [GraphQLError(
            f"The query would cost about {cost:,} (each field once per value it returns, lists multiplied by "
            f"their size); the limit is {cap:,} (GRAPHQL_MAX_COST). Ask for fewer fields, nest fewer lists or "
            "page with a smaller `first`.", operation(ctx.graphql_document, ctx.operation_name),
            extensions={"code": "VALIDATION", "cost": cost, "maxCost": cap})]



class CappedTransportWS(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws whose per-connection operation cap (WS_MAX_SUBSCRIPTIONS) answers like the other
    limits, with a message that says what to do and `extensions.code` (Strawberry's own error has no code); and
    whose sign-in at connection_init, when the database cannot be reached, closes the socket with 1013 (try again
    later) instead of failing with a traceback."""

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except DatabaseUnavailable:
            await self.websocket.close(code=1013, reason="The database cannot be reached right now; try again.")

    async def handle_subscribe(self, message: Any) -> None:
        cap = self.max_subscriptions_per_connection
        if (self.connection_acknowledged and cap is not None and message["id"] not in self.operations
                and len(self.operations) >= cap):
            error = GraphQLError(f"Subscription limit reached: at most {cap} operations may be open on one "
                                 "connection (WS_MAX_SUBSCRIPTIONS); complete one first.",
                                 extensions={"code": "VALIDATION"})
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        await super().handle_subscribe(message)
