"""GraphQL request limits, all checked before any resolver runs: a token cap while parsing, depth, alias and
introspection rules while validating, and the page-size cap on `first` arguments right after validation. Long
documents are parsed and validated on one worker thread, so a hostile query never holds up the event loop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
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
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    parse,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document


@dataclass(frozen=True)
class GraphQLLimits:
    """Set from the GRAPHQL_MAX_* and MAX_PAGE_SIZE settings; introspection only in local mode."""

    max_depth: int = 12
    max_aliases: int = 100
    max_tokens: int = 2000
    max_page_size: int = 500
    introspection: bool = True


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
    """The same rule classes for the same limits: Strawberry's ValidationCache keys on them."""

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
                except _TooDeep:
                    depth, aliases = max_depth + 1, 0
                if depth > max_depth:
                    context.report_error(GraphQLError(
                        f"The query is nested {depth if depth <= 3 * max_depth else 'too'} levels deep; "
                        f"the limit is {max_depth} (GRAPHQL_MAX_DEPTH).", op))
                if aliases > max_aliases:
                    context.report_error(GraphQLError(
                        f"The query uses {aliases:,} aliases; the limit is {max_aliases} (GRAPHQL_MAX_ALIASES).", op))

    return (DepthAndAliases,) if introspection else (DepthAndAliases, NoSchemaIntrospectionCustomRule)


def _operation(doc: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return ops[0] if len(ops) == 1 else None
    return next((op for op in ops if op.name and op.name.value == name), None)


def page_sizes(doc: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
               ) -> Iterator[tuple[FieldNode, int]]:
    """Every `first` argument of the operation that will run, with its value (literal or from a variable)."""
    op = _operation(doc, operation_name)
    if op is None:
        return
    defaults = {v.variable.name.value: v.default_value for v in op.variable_definitions or ()}
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
                for arg in sel.arguments or ():
                    if arg.name.value != "first":
                        continue
                    value: Any = arg.value
                    if isinstance(value, VariableNode):
                        name = value.name.value
                        value = (variables or {}).get(name, defaults.get(name))
                    if isinstance(value, IntValueNode):
                        value = int(value.value)
                    if isinstance(value, int) and not isinstance(value, bool):  # else coercion will refuse it
                        yield sel, value
            if sel.selection_set:
                stack.append(sel.selection_set)


class Limits(SchemaExtension):
    """Applies the app's GraphQLLimits (from the context's services) to every operation, HTTP and websocket.
    Listed after Prepare: the page-size check reads a document that has passed validation."""

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        self.limits = getattr(getattr(ctx.context, "services", None), "limits", None) or GraphQLLimits()
        ctx.parse_options["max_tokens"] = self.limits.max_tokens
        ctx.validation_rules = ctx.validation_rules + validation_rules(
            self.limits.max_depth, self.limits.max_aliases, self.limits.introspection)
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is not None and not ctx.pre_execution_errors:
            cap = self.limits.max_page_size
            for node, size in page_sizes(ctx.graphql_document, ctx.operation_name, ctx.variables):
                if size > cap:
                    ctx.pre_execution_errors = [GraphQLError(
                        f"{node.name.value}(first: {size}) asks for more than {cap} items (MAX_PAGE_SIZE); "
                        "page with `after` and pageInfo.endCursor.", node)]
                    break
        yield


INLINE_CHARS = 4096  # the client's largest query is ~1 KB: longer ones are counted first, then parsed off the loop
_LEXEME = re.compile(r"""
    (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)            # ignored: white space, commas, comments
  | \"\"\"(?:[^"\\]|\\(?:\"\"\")?|"(?!""))*\"\"\"  # block string
  | "(?:[^"\\\n\r]|\\.)*"                       # string
  | -?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?               # number
  | [_A-Za-z][_0-9A-Za-z]*                        # name
  | \.\.\.|[!$&():=@\[\]{|}]                       # punctuator
""", re.VERBOSE)


def token_count(query: str, stop: int) -> int:
    """GraphQL tokens in query, counting no further than stop. For a valid document it is exactly graphql-core's
    count; a regular expression finds them about ten times faster than graphql-core's lexer, so a huge document
    is refused for its size before graphql-core lexes any of it."""
    n = 0
    for m in _LEXEME.finditer(query):
        if m.lastgroup != "skip":
            n += 1
            if n >= stop:
                break
    return n
_worker = ThreadPoolExecutor(1, thread_name_prefix="graphql-prepare")  # one: hostile documents queue up behind
                                                                        # each other, not in front of other requests


@lru_cache(maxsize=256)
def _parse(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


def _parse_long(query: str, max_tokens: int) -> DocumentNode:
    if token_count(query, max_tokens + 1) > max_tokens:
        raise GraphQLError(f"The query has more than {max_tokens} tokens (GRAPHQL_MAX_TOKENS).")
    return parse(query, max_tokens=max_tokens)


@lru_cache(maxsize=256)
def _validate(schema: Any, document: DocumentNode, rules: tuple[type[ValidationRule], ...]) -> list[GraphQLError]:
    return validate_document(schema, document, rules)


class Prepare(SchemaExtension):
    """Strawberry's ParserCache and ValidationCache in one, except that long documents are handled off the event
    loop (uncached: they are rare, and hashing one costs a walk of it). A parse error raised here skips
    DomainErrors; Schema.process_errors gives it its VALIDATION code."""

    async def on_parse(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        if ctx.query and ctx.graphql_document is None:
            tokens = ctx.parse_options.get("max_tokens") or GraphQLLimits.max_tokens
            if len(ctx.query) <= INLINE_CHARS:
                ctx.graphql_document = _parse(ctx.query, tokens)
            else:
                ctx.graphql_document = await asyncio.get_running_loop().run_in_executor(
                    _worker, _parse_long, ctx.query, tokens)
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        args = (ctx.schema._schema, ctx.graphql_document, ctx.validation_rules)
        if ctx.graphql_document is not None and ctx.pre_execution_errors is None:
            if len(ctx.query or "") <= INLINE_CHARS:
                ctx.pre_execution_errors = _validate(*args)
            else:
                ctx.pre_execution_errors = await asyncio.get_running_loop().run_in_executor(
                    _worker, validate_document, *args)
        yield
