"""Maps exceptions to GraphQL errors: domain errors keep their message and get `extensions.code`; others are masked."""

from __future__ import annotations

import logging
import uuid

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from db.errors import DomainError

log = logging.getLogger("cvx.graphql")


def to_graphql_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, DomainError):
        extensions = {"code": original.code, **original.extensions}
        return GraphQLError(original.message, nodes=error.nodes, source=error.source, positions=error.positions,
                            path=error.path, extensions=extensions)
    if original is None or isinstance(original, GraphQLError):
        # parse and validation errors, and variables that do not fit their type (graphql-core raises those with a
        # GraphQLError inside): the message is already for the user
        return GraphQLError(error.message, nodes=error.nodes, source=error.source, positions=error.positions,
                            path=error.path, extensions={"code": "VALIDATION", **(error.extensions or {})})
    request_id = uuid.uuid4().hex[:12]
    log.error("unexpected error (request %s) at %s", request_id, error.path, exc_info=original)
    return GraphQLError(f"Unexpected error (request id {request_id}).", nodes=error.nodes, source=error.source,
                        positions=error.positions, path=error.path,
                        extensions={"code": "INTERNAL", "requestId": request_id})


class DomainErrors(MaskErrors):
    """A MaskErrors that maps instead of only masking."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [to_graphql_error(e) for e in errors]
