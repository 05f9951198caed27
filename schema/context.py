"""The per-request GraphQL context and the long-lived services it carries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types import Info as StrawberryInfo

from db.broker import Broker
from db.engine import Database
from jobs.runner import JobRunner
from schema.limits import GraphQLLimits
from volumes.base import Volumes


@dataclass(frozen=True)
class CurrentUser:
    id: int
    name: str
    is_admin: bool


@dataclass
class Services:
    """Everything a request may need, built once by server.create_app."""

    db: Database
    volumes: Volumes
    broker: Broker
    runner: JobRunner
    thumbnails: Any  # volumes.thumbnail_cache.ThumbnailCache
    max_pixels: int
    auth_mode: str
    lease_seconds: float
    max_decode_bytes: int = 256 * 2**20  # MAX_DECODE_BYTES (volumes/images.py)
    fanout: Any = None  # db.broker.PostgresFanout on PostgreSQL: events cross server processes
    uploads_volume: str = "/Volumes/local/cv_explorer/uploads"
    export_areas: str = ""  # the volume holding each project's export area, `project-<id>` (resolvers.reach)
    upload_max_bytes: int = 200 * 2**20
    model: dict[str, Any] = field(default_factory=dict)  # model_backend_url, model_name, public_url
    info: dict[str, Any] = field(default_factory=dict)  # read-only facts for the admin page
    admin_users: frozenset[str] = frozenset()  # AUTH_MODE=databricks: lower-cased names that are instance admins
    secure_cookies: bool = False  # the session cookie is Secure even when a request arrives as plain http
    limits: GraphQLLimits = field(default_factory=GraphQLLimits)  # applied by schema.limits.Limits
    loop: Any = None  # the app's event loop, set at start-up: events are published there (server.on_commit)


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
    def access(self) -> Any:
        from resolvers.access import Access  # local import: resolvers import this module

        return Access(self.services.db, self.user)

    @cached_property
    def reach(self) -> Any:
        from resolvers.reach import Reach  # local import: resolvers import this module

        return Reach(self.services, self.user)

    @cached_property
    def loaders(self) -> Any:
        from schema.loaders import Loaders  # local import: loaders import the types, types use the context

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
