"""Parsing and validation with caches, as Strawberry's ParserCache and ValidationCache, except that a long document
is first counted against GRAPHQL_MAX_TOKENS by a fast scan and then handled on one worker thread, so a hostile
query never holds up the event loop and everyone else's requests; and validation errors suggest no names of the
schema where introspection is off."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, parse, validate
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from schema.limits import GraphQLLimits, limits_of

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


# One thread: hostile documents queue up behind each other, not in front of other requests.
_worker = ThreadPoolExecutor(1, thread_name_prefix="graphql-prepare")


@lru_cache(maxsize=256)
def parse_short(query: str, max_tokens: int) -> DocumentNode:
    """A document of at most INLINE_CHARS, parsed once (schema.offload looks at it before Prepare does)."""
    return parse(query, max_tokens=max_tokens)


def _parse_long(query: str, max_tokens: int) -> DocumentNode:
    if token_count(query, max_tokens + 1) > max_tokens:
        raise GraphQLError(f"The query has more than {max_tokens} tokens (GRAPHQL_MAX_TOKENS).")
    return parse(query, max_tokens=max_tokens)


def validate_document(schema: Any, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...],
                      hide_suggestions: bool) -> list[GraphQLError]:
    """Strawberry's validation (its own two rules added), with graphql-core's switch for "Did you mean …?"."""
    return validate(schema, document, (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
                    hide_suggestions=hide_suggestions)


_validate = lru_cache(maxsize=256)(validate_document)


class Prepare(SchemaExtension):
    """Long documents are not cached: they are rare, and hashing one costs a walk of it. A parse error raised here
    skips DomainErrors; Schema.process_errors gives it its VALIDATION code."""

    async def on_parse(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        if ctx.query and ctx.graphql_document is None:
            tokens = ctx.parse_options.get("max_tokens") or GraphQLLimits.max_tokens
            if len(ctx.query) <= INLINE_CHARS:
                ctx.graphql_document = parse_short(ctx.query, tokens)
            else:
                ctx.graphql_document = await asyncio.get_running_loop().run_in_executor(
                    _worker, _parse_long, ctx.query, tokens)
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        hide = not limits_of(ctx.context).introspection
        document = ctx.graphql_document
        if document is not None and ctx.pre_execution_errors is None:
            args = (ctx.schema._schema, document, ctx.validation_rules, hide)
            if len(ctx.query or "") <= INLINE_CHARS:
                ctx.pre_execution_errors = _validate(*args)
            else:
                ctx.pre_execution_errors = await asyncio.get_running_loop().run_in_executor(
                    _worker, validate_document, *args)
        yield
