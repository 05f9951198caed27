"""The per-request GraphQL context: the services, the caller, and what is looked up once per operation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types import Info as StrawberryInfo

from db.engine import Database
from schema.access import Access
from schema.loaders import Loaders
from schema.reach import Reach
from schema.services import CurrentUser, Services


@dataclass
class Context:
    services: Services
    user: CurrentUser
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None  # a websocket's connection_init payload

    @property
    def db(self) -> Database:
        return self.services.db

    @cached_property
    def access(self) -> Access:
        return Access(self.services.db, self.user)

    @cached_property
    def reach(self) -> Reach:
        return Reach(self.services, self.user)

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.services.db)

    def forget(self) -> None:
        """Drop what this context cached (loaded rows, roles). A websocket keeps one context for all its operations
        and events: each operation and each event starts from the database, never from what an earlier one read."""
        self.__dict__.pop("loaders", None)
        self.__dict__.pop("access", None)


class FreshPerOperation(SchemaExtension):
    """Every operation, HTTP or websocket, starts with nothing cached (Context.forget); subscriptions also forget
    before each event they emit."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            context.forget()
        yield


Info = StrawberryInfo[Context, None]
