"""The long-lived services a request may use (built once by server.create_app) and the signed-in caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from db.broker import Broker
from db.engine import Database
from jobs.models.config import ModelConfig
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
    max_decode_bytes: int  # MAX_DECODE_BYTES (volumes/images.py)
    uploads_volume: str
    export_areas: str  # the volume holding each project's export area, `project-<id>` (schema.reach); "" for none
    upload_max_bytes: int
    model: ModelConfig  # the server's default model
    limits: GraphQLLimits  # applied by schema.limits.Limits
    fanout: Any = None  # db.broker.PostgresFanout on PostgreSQL: events cross server processes
    info: dict[str, Any] = field(default_factory=dict)  # read-only facts for the admin page
    admin_users: frozenset[str] = frozenset()  # AUTH_MODE=databricks: lower-cased names that are instance admins
    secure_cookies: bool = False  # the session cookie is Secure even when a request arrives as plain http
    loop: Any = None  # the app's event loop, set at start-up: events are published there (server.on_commit)
