"""The per-request GraphQL context and the long-lived services it carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from strawberry.types import Info as StrawberryInfo

from db.broker import Broker
from db.engine import Database
from jobs.runner import JobRunner
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
    thumbnails: Any  # volumes.images.ThumbnailCache
    max_pixels: int
    auth_mode: str
    lease_seconds: float
    fanout: Any = None  # db.broker.PostgresFanout on PostgreSQL: events cross server processes
    uploads_volume: str = "/Volumes/local/cv_explorer/uploads"
    upload_max_bytes: int = 200 * 2**20
    model: dict[str, Any] = field(default_factory=dict)  # model_backend_url, model_name, public_url
    info: dict[str, Any] = field(default_factory=dict)  # read-only facts for the admin page


@dataclass
class Context:
    services: Services
    user: CurrentUser
    request: Any = None
    response: Any = None

    @property
    def db(self) -> Database:
        return self.services.db

    @cached_property
    def loaders(self) -> Any:
        from schema.loaders import Loaders  # local import: loaders import the types, types use the context

        return Loaders(self.services.db)


Info = StrawberryInfo[Context, None]
