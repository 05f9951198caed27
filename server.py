"""CV Explorer server: the only reader of the environment. Settings, create_app(settings), lifespan, routes, CLI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import gc
import ipaddress
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from db import cli as accounts
from db import lakebase
from db.broker import Broker, PostgresFanout
from db.engine import SQLITE_SYNCHRONOUS, Database, Event, redacted_url
from db.errors import DatabaseUnavailable, DomainError
from db.lakebase import LakebaseSettings
from jobs.databricks_runs import DatabricksRuns
from jobs.models.egress import AllowList
from jobs.runner import JobRunner
from routes import http_errors, identity, media, sample_stream, sessions, transfers
from routes.app_managers import app_managers
from routes.decodes import Decodes
from routes.guard import Guard, local_hosts
from routes.sign_in_throttle import SignInThrottle
from schema.build import schema
from schema.context import Context
from schema.limits import CappedTransportWS, GraphQLLimits
from schema.services import CurrentUser, Services
from volumes.local import LocalVolumes
from volumes.routing import RoutingVolumes
from volumes.thumbnail_cache import ThumbnailCache

HERE = Path(__file__).resolve().parent
CLIENT_DIST = HERE / "client" / "dist"
AUTH_MODES = ("local", "token", "databricks")
log = logging.getLogger("cvx")


UPLOADS_VOLUME = "/Volumes/local/cv_explorer/uploads"
DEFAULT_EXPORTS = "/Volumes/local/cv_explorer/exports"


class SettingsError(ValueError):
    """An environment variable has a value the server cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    database_url: str = ""
    volume_mounts: dict[str, Path] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 8000
    auth_mode: str = "local"
    log_level: str = "info"
    local_user: str = "local"
    max_image_pixels: int = 100_000_000
    max_decode_bytes: int = 256 * 2**20  # memory one image decode may take (volumes/images.py counts it)
    decode_concurrency: int = 2  # image decodes at once for the media routes
    job_concurrency: int = 2
    job_lease_seconds: float = 30.0
    sample_lease_seconds: float = 600.0
    migrate_on_start: bool = True
    run_jobs: bool = True
    import_max_bytes: int = 200 * 2**20
    import_max_items: int = 500_000
    import_max_annotations: int = 2_000_000
    import_max_row_bytes: int = 2**20  # a JSONL / YOLO line, one COCO entry
    model_backend_url: str = ""
    model_path: str = ""
    model_classes: tuple[str, ...] = ()
    model_name: str = "default"
    model_url_allow: AllowList = field(default_factory=AllowList)  # private addresses model URLs may reach
    public_url: str = ""
    serving_url: str = ""
    serving_token: str = field(default="", repr=False)  # never printed
    serving_keys: tuple[str, str, str, str] = ("label", "confidence", "bbox", "xywh_norm")
    serving_image_max_side: int = 1024  # images go to Model Serving resized to this (its requests stop at 16 MB)
    serving_timeout_seconds: int = 600  # how long a busy or cold (scaled-to-zero) endpoint is waited for
    databricks_host: str = ""  # the workspace: Model Serving, UC volumes, Jobs and Lakebase credentials go there only
    databricks_client_id: str = ""
    databricks_app_name: str = ""  # set by the Apps platform: whose managers are instance admins (databricks mode)
    databricks_client_secret: str = field(default="", repr=False)  # never printed
    source_volume: str = ""  # where the folder browser starts (the app's images volume resource)
    export_volume: str = ""  # the default export destination (the app's export volume resource)
    lakebase: LakebaseSettings | None = None  # PGHOST / LAKEBASE_PROJECT_ID without DATABASE_URL: Lakebase
    job_runner: str = "local"  # "databricks": jobs on big projects go to the Databricks Job DATABRICKS_JOB_ID
    databricks_job_id: int = 0
    job_runner_min_items: int = 10_000
    admin_users: tuple[str, ...] = ()  # AUTH_MODE=databricks: instance admins (case-folded e-mails / user ids)
    volumes_backend: str = "local"  # "unity_catalog": every /Volumes path that is not mounted goes to the workspace
    graphql_max_depth: int = 12
    graphql_max_aliases: int = 100
    graphql_max_tokens: int = 2000
    max_page_size: int = 500
    graphql_max_cost: int = 50_000  # schema/cost.py: about how many values one answer may hold
    max_request_bytes: int = 4 * 2**20  # /graphql and every other request but uploads (IMPORT_MAX_BYTES)
    ws_max_subscriptions: int = 50
    ws_init_timeout_seconds: int = 10
    allowed_hosts: tuple[str, ...] = ()  # local mode: Host names served besides loopback ones (DNS rebinding)
    request_body_timeout_seconds: float = 30.0  # a request body must arrive within this (uploads: per 4 MiB)
    request_header_timeout_seconds: float = 10.0  # a request's headers must arrive within this (serve only)
    max_connections: int = 1000  # open HTTP and websocket connections; more get 503 (uvicorn's limit_concurrency)
    sqlite_busy_timeout_seconds: float = 15.0  # then a write waiting for another process's lock is UNAVAILABLE
    sqlite_synchronous: str = "NORMAL"  # or FULL: what a power cut can lose (README, "Security and limits")

    @property
    def uploads_volume(self) -> str:
        """Where uploaded import files land before they are imported: with Unity Catalog and an export volume, a
        folder of that volume, so a Databricks Job run of the import reads the same file (the app container's disk
        is not the cluster's); otherwise the local uploads mount under the data dir."""
        if self.volumes_backend == "unity_catalog" and self.export_volume:
            return f"{self.export_volume}/uploads"
        return UPLOADS_VOLUME

    @property
    def export_areas(self) -> str:
        """The volume that holds each project's export area (`project-<id>`, where its owners may always export):
        EXPORT_VOLUME, else the default exports mount when it is mounted; none otherwise."""
        if self.export_volume:
            return self.export_volume
        return DEFAULT_EXPORTS if DEFAULT_EXPORTS in self.volume_mounts else ""

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting once; an invalid value raises SettingsError naming the variable."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("DATA_DIR", "./data")).expanduser().resolve()
        lakebase = None if env.get("DATABASE_URL") else _lakebase(env)
        db_url = env.get("DATABASE_URL") or (lakebase and "postgresql+psycopg://lakebase") or \
            f"sqlite:///{data_dir / 'cv_explorer.db'}"
        if not db_url.startswith(("sqlite", "postgresql")):
            raise SettingsError(f"DATABASE_URL must be a sqlite:/// or postgresql:// URL, got {db_url.split(':')[0]!r}")
        mounts_raw = env.get("VOLUME_MOUNTS") or (
            f"/Volumes/local/cv_explorer/demo={data_dir / 'demo'};"
            f"{DEFAULT_EXPORTS}={data_dir / 'exports'}"
        )
        mounts: dict[str, Path] = {}
        for item in filter(None, (m.strip() for m in mounts_raw.split(";"))):
            volume, sep, folder = item.partition("=")
            parts = volume.strip().strip("/").split("/")
            if not sep or len(parts) != 4 or parts[0] != "Volumes" or not all(parts) or not folder.strip():
                raise SettingsError(
                    f"VOLUME_MOUNTS entry {item!r} must look like /Volumes/<catalog>/<schema>/<volume>=<local folder>"
                )
            mounts["/" + "/".join(parts)] = Path(folder.strip()).expanduser().resolve()
        mounts.setdefault(UPLOADS_VOLUME, data_dir / "uploads")
        port_raw = env.get("DATABRICKS_APP_PORT") or env.get("PORT") or "8000"
        port_var = "DATABRICKS_APP_PORT" if env.get("DATABRICKS_APP_PORT") else "PORT"
        auth = env.get("AUTH_MODE", "local").strip().lower()
        if auth not in AUTH_MODES:
            raise SettingsError(f"AUTH_MODE={auth!r} is not available in this version; use one of {AUTH_MODES}")
        host = env.get("HOST", "127.0.0.1")
        if auth == "local" and not _is_loopback(host):
            raise SettingsError(f"HOST={host!r}: AUTH_MODE=local is single-user and listens on loopback only")
        if auth == "databricks" and not (env.get("DATABRICKS_APP_NAME") and env.get("DATABRICKS_CLIENT_ID")):
            raise SettingsError("AUTH_MODE=databricks trusts identity headers that only the Databricks Apps proxy "
                                "sets, and DATABRICKS_APP_NAME / DATABRICKS_CLIENT_ID are absent: this is not a "
                                "Databricks App. On your own server use AUTH_MODE=token")
        level = env.get("LOG_LEVEL", "info").lower()
        if level not in ("debug", "info", "warning", "error"):
            raise SettingsError(f"LOG_LEVEL={level!r} must be debug, info, warning or error")
        return Settings(
            data_dir=data_dir, database_url=db_url, volume_mounts=mounts, host=host,
            port=_int(port_var, port_raw, 1, 65535), auth_mode=auth, log_level=level,
            local_user=env.get("LOCAL_USER", "local").strip() or "local",
            max_image_pixels=_int("MAX_IMAGE_PIXELS", env.get("MAX_IMAGE_PIXELS", "100000000"), 1, 10**10),
            max_decode_bytes=_int("MAX_DECODE_BYTES", env.get("MAX_DECODE_BYTES", str(256 * 2**20)), 2**20, 2**40),
            decode_concurrency=_int("DECODE_CONCURRENCY", env.get("DECODE_CONCURRENCY", "2"), 1, 64),
            job_concurrency=_int("JOB_CONCURRENCY", env.get("JOB_CONCURRENCY", "2"), 1, 64),
            job_lease_seconds=float(_int("JOB_LEASE_SECONDS", env.get("JOB_LEASE_SECONDS", "30"), 3, 3600)),
            sample_lease_seconds=float(_int("SAMPLE_LEASE_SECONDS", env.get("SAMPLE_LEASE_SECONDS", "600"), 10,
                                            86400)),
            migrate_on_start=_bool("MIGRATE_ON_START", env.get("MIGRATE_ON_START", "true")),
            run_jobs=_bool("RUN_JOBS", env.get("RUN_JOBS", "true")),
            import_max_bytes=_int("IMPORT_MAX_BYTES", env.get("IMPORT_MAX_BYTES", str(200 * 2**20)), 1, 2**40),
            import_max_items=_int("IMPORT_MAX_ITEMS", env.get("IMPORT_MAX_ITEMS", "500000"), 1, 10**8),
            import_max_annotations=_int("IMPORT_MAX_ANNOTATIONS", env.get("IMPORT_MAX_ANNOTATIONS", "2000000"), 1,
                                        10**9),
            import_max_row_bytes=_int("IMPORT_MAX_ROW_BYTES", env.get("IMPORT_MAX_ROW_BYTES", str(2**20)), 2**10,
                                      2**30),
            model_backend_url=_http_url("MODEL_BACKEND_URL", env.get("MODEL_BACKEND_URL", "")),
            model_path=_volume_path("MODEL_PATH", env.get("MODEL_PATH", "")),
            model_classes=tuple(c.strip() for c in env.get("MODEL_CLASSES", "").split(",") if c.strip()),
            model_name=env.get("MODEL_NAME", "default").strip() or "default",
            model_url_allow=_allow_list(env),
            public_url=_http_url("PUBLIC_URL", env.get("PUBLIC_URL", "")),
            serving_url=_serving_url(env),
            serving_token=env.get("DATABRICKS_TOKEN", ""),
            serving_keys=_serving_keys(env),
            serving_image_max_side=_int("SERVING_IMAGE_MAX_SIDE", env.get("SERVING_IMAGE_MAX_SIDE", "1024"), 64, 4096),
            serving_timeout_seconds=_int("SERVING_TIMEOUT_SECONDS", env.get("SERVING_TIMEOUT_SECONDS", "600"), 1, 3600),
            admin_users=tuple(u.strip().casefold() for u in env.get("ADMIN_USERS", "").split(",") if u.strip()),
            databricks_host=_workspace_host(env.get("DATABRICKS_HOST", "")),
            databricks_client_id=env.get("DATABRICKS_CLIENT_ID", "").strip(),
            databricks_app_name=env.get("DATABRICKS_APP_NAME", "").strip(),
            databricks_client_secret=env.get("DATABRICKS_CLIENT_SECRET", "").strip(),
            **_job_runner(env), lakebase=lakebase,
            source_volume=_volume_name("SOURCE_VOLUME", env.get("SOURCE_VOLUME", "")),
            export_volume=_volume_name("EXPORT_VOLUME", env.get("EXPORT_VOLUME", "")),
            volumes_backend=_volumes_backend(env),
            graphql_max_depth=_int("GRAPHQL_MAX_DEPTH", env.get("GRAPHQL_MAX_DEPTH", "12"), 2, 100),
            graphql_max_aliases=_int("GRAPHQL_MAX_ALIASES", env.get("GRAPHQL_MAX_ALIASES", "100"), 0, 100_000),
            graphql_max_tokens=_int("GRAPHQL_MAX_TOKENS", env.get("GRAPHQL_MAX_TOKENS", "2000"), 100, 10**7),
            max_page_size=_int("MAX_PAGE_SIZE", env.get("MAX_PAGE_SIZE", "500"), 1, 100_000),
            graphql_max_cost=_int("GRAPHQL_MAX_COST", env.get("GRAPHQL_MAX_COST", "50000"), 100, 10**9),
            max_request_bytes=_int("MAX_REQUEST_BYTES", env.get("MAX_REQUEST_BYTES", str(4 * 2**20)), 2**10, 2**31),
            ws_max_subscriptions=_int("WS_MAX_SUBSCRIPTIONS", env.get("WS_MAX_SUBSCRIPTIONS", "50"), 1, 10_000),
            ws_init_timeout_seconds=_int("WS_INIT_TIMEOUT_SECONDS", env.get("WS_INIT_TIMEOUT_SECONDS", "10"), 1, 600),
            allowed_hosts=tuple(h.strip().lower() for h in env.get("ALLOWED_HOSTS", "").split(",") if h.strip()),
            request_body_timeout_seconds=float(_int("REQUEST_BODY_TIMEOUT_SECONDS",
                                                    env.get("REQUEST_BODY_TIMEOUT_SECONDS", "30"), 1, 3600)),
            request_header_timeout_seconds=float(_int("REQUEST_HEADER_TIMEOUT_SECONDS",
                                                      env.get("REQUEST_HEADER_TIMEOUT_SECONDS", "10"), 1, 600)),
            max_connections=_int("MAX_CONNECTIONS", env.get("MAX_CONNECTIONS", "1000"), 10, 1_000_000),
            sqlite_busy_timeout_seconds=float(_int("SQLITE_BUSY_TIMEOUT_SECONDS",
                                                   env.get("SQLITE_BUSY_TIMEOUT_SECONDS", "15"), 1, 600)),
            sqlite_synchronous=_choice("SQLITE_SYNCHRONOUS", env.get("SQLITE_SYNCHRONOUS", "NORMAL").upper(),
                                       SQLITE_SYNCHRONOUS),
        )


def _int(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value} is outside {lo}..{hi}")
    return value


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw.strip() not in allowed:
        raise SettingsError(f"{name}={raw!r} must be one of {', '.join(allowed)}")
    return raw.strip()


def _http_url(name: str, raw: str) -> str:
    url = raw.strip().rstrip("/")
    if url and not url.startswith(("http://", "https://")):
        raise SettingsError(f"{name}={raw!r} must be an http:// or https:// URL")
    return url


def _allow_list(env: Mapping[str, str]) -> AllowList:
    """MODEL_URL_ALLOW, and the workspace's own host (Model Serving): the platform names it, not a project's owner,
    and behind Private Link it resolves to a private address."""
    raw = env.get("MODEL_URL_ALLOW", "")
    try:
        allowed = AllowList.parse(raw)
    except ValueError as exc:
        raise SettingsError(f"MODEL_URL_ALLOW entry {exc}: use host names, IP addresses or CIDR networks "
                            "(e.g. localhost,10.0.0.0/8), comma-separated") from None
    host = urlsplit(_workspace_host(env.get("DATABRICKS_HOST", ""))).hostname
    return AllowList.parse(f"{raw},{host}") if host else allowed


def _workspace_host(raw: str) -> str:
    """DATABRICKS_HOST as a URL. The Apps platform sets it to the bare host name (`<workspace>.cloud.databricks.com`),
    elsewhere it is often the URL: both mean https://<host>."""
    value = raw.strip()
    if value and "://" not in value and not value.lower().startswith(("http:", "https:")):
        value = "https://" + value
    url = _http_url("DATABRICKS_HOST", value)
    host = url.split("://", 1)[1] if "://" in url else ""
    if url and (not host or "/" in host or " " in host):
        raise SettingsError(f"DATABRICKS_HOST={raw!r} must be the workspace's host name or URL, e.g. "
                            "https://<workspace>.cloud.databricks.com")
    return url


def _serving_url(env: Mapping[str, str]) -> str:
    """SERVING_ENDPOINT_URL, or the invocation URL of SERVING_ENDPOINT_NAME on DATABRICKS_HOST (an app resource)."""
    url = _http_url("SERVING_ENDPOINT_URL", env.get("SERVING_ENDPOINT_URL", ""))
    name = env.get("SERVING_ENDPOINT_NAME", "").strip()
    if url or not name:
        return url
    host = _workspace_host(env.get("DATABRICKS_HOST", ""))
    if not host:
        raise SettingsError("SERVING_ENDPOINT_NAME needs DATABRICKS_HOST (the workspace URL) to build its address")
    return f"{host}/serving-endpoints/{name}/invocations"


def _lakebase(env: Mapping[str, str]) -> LakebaseSettings | None:
    """Lakebase when the platform injected PGHOST (a database resource), or LAKEBASE_ENDPOINT or LAKEBASE_PROJECT_ID
    is set. Every password is a database credential minted for the endpoint, so one of those two must say which."""
    host, project = env.get("PGHOST", "").strip(), env.get("LAKEBASE_PROJECT_ID", "").strip()
    endpoint = env.get("LAKEBASE_ENDPOINT", "").strip()
    if not host and not project and not endpoint:
        return None
    if not env.get("DATABRICKS_HOST", "").strip():
        raise SettingsError("Lakebase (PGHOST, LAKEBASE_ENDPOINT or LAKEBASE_PROJECT_ID) needs DATABRICKS_HOST to "
                            "mint database credentials")
    if endpoint and not re.fullmatch(r"projects/[^/\s]+/branches/[^/\s]+/endpoints/[^/\s]+", endpoint):
        raise SettingsError(f"LAKEBASE_ENDPOINT={endpoint!r} must be projects/<project>/branches/<branch>/endpoints/"
                            "<endpoint> (app.yml gives it with valueFrom on the database resource)")
    if not endpoint and not project:
        raise SettingsError("PGHOST is set but LAKEBASE_ENDPOINT is not: Lakebase takes only a database credential "
                            "minted for its endpoint. In app.yml, set LAKEBASE_ENDPOINT with valueFrom: database (the "
                            "app's database resource); elsewhere set LAKEBASE_ENDPOINT or LAKEBASE_PROJECT_ID")
    user = env.get("PGUSER", "").strip() or env.get("DATABRICKS_CLIENT_ID", "").strip()
    if not user:
        raise SettingsError("Lakebase needs PGUSER (or DATABRICKS_CLIENT_ID, the app's service principal)")
    return LakebaseSettings(
        user=user, host=host, port=_int("PGPORT", env.get("PGPORT", "5432"), 1, 65535),
        database=env.get("PGDATABASE", "").strip() or env.get("LAKEBASE_DATABASE", "").strip() or
        "databricks_postgres", sslmode=env.get("PGSSLMODE", "").strip() or "require", project_id=project,
        endpoint=endpoint,
        branch_id=env.get("LAKEBASE_BRANCH_ID", "").strip() or "production",
        auto_provision=_bool("LAKEBASE_AUTO_PROVISION", env.get("LAKEBASE_AUTO_PROVISION", "false")),
        schema=_identifier("LAKEBASE_SCHEMA", env.get("LAKEBASE_SCHEMA", "cv_explorer")))


def _volume_name(name: str, raw: str) -> str:
    """A volume as `/Volumes/c/s/v` or the full name `c.s.v` (what an app's volume resource gives) → the path."""
    value = raw.strip().rstrip("/")
    if not value:
        return ""
    parts = value.split(".") if not value.startswith("/") else value.strip("/").split("/")[1:]
    if len(parts) != 3 or not all(parts) or (value.startswith("/") and not value.startswith("/Volumes/")):
        raise SettingsError(f"{name}={raw!r} must be a volume: /Volumes/<catalog>/<schema>/<volume> or "
                            "<catalog>.<schema>.<volume>")
    return "/Volumes/" + "/".join(parts)


def _identifier(name: str, raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise SettingsError(f"{name}={raw!r} must be a lower-case SQL identifier (letters, digits, _)")
    return value


def _job_runner(env: Mapping[str, str]) -> dict[str, Any]:
    runner = env.get("JOB_RUNNER", "local").strip().lower() or "local"
    if runner not in ("local", "databricks"):
        raise SettingsError(f"JOB_RUNNER={runner!r} must be local or databricks")
    job_id = env.get("DATABRICKS_JOB_ID", "").strip()
    app = env.get("DATABRICKS_APP_NAME", "").strip()
    if runner == "databricks" and not (env.get("DATABRICKS_HOST", "").strip() and (job_id or app)):
        raise SettingsError("JOB_RUNNER=databricks needs DATABRICKS_HOST and DATABRICKS_JOB_ID (the bundle's "
                            "worker job; a Databricks App finds it by its tag cv-explorer-app)")
    return {"job_runner": runner, "databricks_job_id": _int("DATABRICKS_JOB_ID", job_id, 1, 2**63) if job_id else 0,
            "job_runner_min_items": _int("JOB_RUNNER_MIN_ITEMS", env.get("JOB_RUNNER_MIN_ITEMS", "10000"), 0,
                                         10**9)}


def _volumes_backend(env: Mapping[str, str]) -> str:
    backend = env.get("VOLUMES_BACKEND", "local").strip().lower() or "local"
    if backend not in ("local", "unity_catalog"):
        raise SettingsError(f"VOLUMES_BACKEND={backend!r} must be local or unity_catalog")
    if backend == "unity_catalog" and not env.get("DATABRICKS_HOST", "").strip():
        raise SettingsError("VOLUMES_BACKEND=unity_catalog needs DATABRICKS_HOST (the workspace URL, e.g. "
                            "https://<workspace>.cloud.databricks.com)")
    return backend


def _serving_keys(env: Mapping[str, str]) -> tuple[str, str, str, str]:
    fmt = env.get("SERVING_BBOX_FORMAT", "xywh_norm").strip()
    if fmt not in ("xywh_norm", "xyxy_pixel"):
        raise SettingsError(f"SERVING_BBOX_FORMAT={fmt!r} must be xywh_norm or xyxy_pixel")
    return (env.get("SERVING_LABEL_KEY", "label").strip() or "label",
            env.get("SERVING_CONFIDENCE_KEY", "confidence").strip() or "confidence",
            env.get("SERVING_BBOX_KEY", "bbox").strip() or "bbox", fmt)


def _volume_path(name: str, raw: str) -> str:
    path = raw.strip()
    if path and not path.startswith("/Volumes/"):
        raise SettingsError(f"{name}={raw!r} must be a path in a volume: /Volumes/<catalog>/<schema>/<volume>/…")
    return path


def _bool(name: str, raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} must be true or false")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GraphQLApp(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = CappedTransportWS

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.services = services

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not await identity.admit(self.services, scope, receive, send):
            return  # answered 401 UNAUTHENTICATED; websockets are checked at connection_init (on_ws_connect)
        try:
            await super().__call__(scope, receive, send)
        except WebSocketDisconnect:
            if scope["type"] != "websocket":
                raise
            # the client went away while it was being answered (a refusal's close frame, say): nothing to do

    async def get_context(self, request: Any, response: Any = None) -> Context:
        user = await identity.context_user(self.services, request)
        return Context(services=self.services, user=user, request=request, response=response)  # type: ignore[arg-type]

    async def on_ws_connect(self, context: Context) -> None:
        await identity.admit_websocket(context)

    def encode_json(self, data: object) -> str:
        """Answers are encoded on the app's loop: orjson takes 2 ms where json.dumps took 66 for a 370 KB page."""
        try:
            return orjson.dumps(data).decode()
        except orjson.JSONEncodeError:  # what orjson refuses (integers past 64 bits in a JSON result)
            return super().encode_json(data)  # type: ignore[return-value]


def _model_config(settings: Settings, workspace: Callable[[], Any]) -> dict[str, Any]:
    """What jobs.models reads: the default model, the workspace (for Serving endpoints) and this server's URL."""
    return {"model_backend_url": settings.model_backend_url, "model_name": settings.model_name,
            "model_path": settings.model_path, "model_classes": list(settings.model_classes),
            "model_url_allow": settings.model_url_allow,
            "max_pixels": settings.max_image_pixels, "serving_url": settings.serving_url,
            "serving_token": settings.serving_token, "databricks_host": settings.databricks_host,
            "serving_image_max_side": settings.serving_image_max_side,
            "serving_timeout_seconds": settings.serving_timeout_seconds,
            "workspace_headers": (lambda: workspace().config.authenticate()) if settings.databricks_host else None,
            **dict(zip(("serving_label_key", "serving_confidence_key", "serving_bbox_key", "serving_bbox_format"),
                       settings.serving_keys, strict=True)),
            "public_url": settings.public_url or f"http://{settings.host}:{settings.port}"}


def _workspace(settings: Settings) -> Callable[[], Any]:
    """The one databricks-sdk WorkspaceClient (a token, or OAuth M2M with the app's service principal, refreshed by
    the SDK before expiry) for UC volumes, Model Serving, Jobs and Lakebase; made on first use, so start-up makes no
    network call."""
    @functools.cache
    def client() -> Any:
        from volumes.unity_catalog import connect  # databricks-sdk takes seconds to import: only when needed

        return connect(host=settings.databricks_host, token=settings.serving_token or None,
                       client_id=settings.databricks_client_id or None,
                       client_secret=settings.databricks_client_secret or None)

    return client


def _database(settings: Settings, workspace: Callable[[], Any]) -> tuple[Database, lakebase.Credentials | None]:
    """DATABASE_URL, or Lakebase with a fresh OAuth credential for every new connection (db.lakebase)."""
    if settings.lakebase is None:
        return Database(settings.database_url, sqlite_busy_seconds=settings.sqlite_busy_timeout_seconds,
                        sqlite_synchronous=settings.sqlite_synchronous), None
    target = lakebase.resolve(workspace, settings.lakebase)
    credentials = lakebase.credentials_for(workspace, target.endpoint)
    return Database(target.url, password=credentials.password, recycle_seconds=1200), credentials  # < a token's hour


def _volumes(settings: Settings, workspace: Callable[[], Any]) -> LocalVolumes | RoutingVolumes:
    """The mounts alone, or the mounts beside Unity Catalog."""
    local = LocalVolumes(settings.volume_mounts)
    if settings.volumes_backend != "unity_catalog":
        return local
    from volumes.unity_catalog import UnityCatalogVolumes

    return RoutingVolumes(local, UnityCatalogVolumes(workspace))


def build_services(settings: Settings) -> Services:
    workspace = _workspace(settings)
    db, credentials = _database(settings, workspace)
    volumes = _volumes(settings, workspace)
    broker = Broker()
    model = _model_config(settings, workspace)
    remote = DatabricksRuns(workspace, settings.databricks_job_id, settings.job_runner_min_items,
                            app_name=settings.databricks_app_name) if settings.job_runner == "databricks" else None
    runner = JobRunner(db, volumes, concurrency=settings.job_concurrency, lease_seconds=settings.job_lease_seconds,
                       config={"import_max_bytes": settings.import_max_bytes,
                               "import_max_items": settings.import_max_items,
                               "import_max_annotations": settings.import_max_annotations,
                               "import_max_row_bytes": settings.import_max_row_bytes, **model},
                       remote=remote)

    fanout = PostgresFanout(db.url, broker, db.password) if db.is_postgres else None
    publish = fanout.publish if fanout else broker.publish

    def deliver(events: Sequence[Event]) -> None:
        publish(events)
        if any(topic == "job.queued" for topic, _ in events):
            runner.wake()

    def on_commit(events: Sequence[Event]) -> None:
        """Subscribers and the job runner live on the app's loop; a costly mutation commits on schema.offload's."""
        home = services.loop
        if home is not None and home is not asyncio.get_running_loop():
            home.call_soon_threadsafe(deliver, events)
        else:
            deliver(events)

    db.on_commit = on_commit
    thumbs = ThumbnailCache(settings.data_dir / "thumbnails")
    services = Services(db=db, volumes=volumes, broker=broker, runner=runner, thumbnails=thumbs,
                    max_pixels=settings.max_image_pixels, max_decode_bytes=settings.max_decode_bytes,
                    auth_mode=settings.auth_mode,
                    lease_seconds=settings.sample_lease_seconds, fanout=fanout,
                    uploads_volume=settings.uploads_volume, export_areas=settings.export_areas,
                    upload_max_bytes=settings.import_max_bytes, model=model,
                    limits=GraphQLLimits(settings.graphql_max_depth, settings.graphql_max_aliases,
                                         settings.graphql_max_tokens, settings.max_page_size,
                                         introspection=settings.auth_mode == "local",
                                         max_cost=settings.graphql_max_cost),
                    admin_users=frozenset(settings.admin_users),
                    secure_cookies=settings.public_url.startswith("https:"),
                    info={"backend": db.backend, "mounts": volumes.volume_names(),
                          "database": redacted_url(db.url), "credentials": credentials,
                          "source_volume": settings.source_volume, "export_volume": settings.export_volume,
                          "data_dir": str(settings.data_dir)})
    return services


async def prepare(settings: Settings, services: Services) -> None:
    """Migrate (if asked), make sure the folders and the local user exist; on the Apps platform, add the app's
    managers to the instance admins."""
    from db.migrate import upgrade
    from db.users import ensure_user

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for folder in settings.volume_mounts.values():
        if str(folder).startswith(str(settings.data_dir)):
            folder.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start:
        await asyncio.to_thread(upgrade, services.db.tool_url())
    if settings.auth_mode == "databricks" and settings.databricks_app_name and settings.databricks_host:
        managers = await asyncio.to_thread(app_managers, _workspace(settings), settings.databricks_app_name)
        services.admin_users = services.admin_users | managers
    if settings.auth_mode == "local":  # the other modes identify every request (routes.identity)
        user = await services.db.write(ensure_user, settings.local_user, is_admin=True)
        services.info["user"] = CurrentUser(id=user.id, name=user.name, is_admin=True)


def create_app(settings: Settings) -> Starlette:
    services = build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services.loop = asyncio.get_running_loop()
        await prepare(settings, services)
        if services.fanout is not None:
            await services.fanout.start()
        if settings.run_jobs:
            services.runner.start()
        app.state.ready = True
        try:
            yield
        finally:
            await services.runner.stop()
            if services.fanout is not None:
                await services.fanout.stop()
            await services.db.dispose()

    graphql = GraphQLApp(
        services, graphql_ide="graphiql" if settings.auth_mode == "local" else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),  # the legacy protocol has no init timeout
        allow_queries_via_get=settings.auth_mode == "local",
        connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
        max_subscriptions_per_connection=settings.ws_max_subscriptions,
        allowed_origins=("*",),  # routes.guard checks every handshake's Origin (it knows X-Forwarded-Host)
    )

    async def health(request: Request) -> Response:
        if not getattr(request.app.state, "ready", False):
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            await services.db.ping()
        except DatabaseUnavailable as exc:
            return JSONResponse({"status": "unavailable", "reason": exc.message}, status_code=503,
                                headers={"Retry-After": str(exc.retry_after)})
        return JSONResponse({"status": "ok"})

    routes: list[Any] = [
        Route("/health", health),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/media/samples/{sample_id}/image", media.image),
        Route("/media/samples/{sample_id}/thumbnail", media.thumbnail),
        Route("/media/volume-thumbnail", media.volume_thumbnail),
        Route("/uploads/{project_id}", transfers.upload, methods=["POST"]),
        Route("/exports/{job_id}.zip", transfers.export_zip),
        Route("/api/projects/{project_id}/samples.ndjson", sample_stream.samples_ndjson),
        Route("/auth/login", sessions.login, methods=["POST"]),
        Route("/auth/logout", sessions.logout, methods=["POST"]),
    ]
    if (CLIENT_DIST / "index.html").exists():
        routes.append(Mount("/assets", StaticFiles(directory=CLIENT_DIST / "assets"), name="assets"))
        routes.append(Route("/{path:path}", _spa))
    else:
        routes.append(Route("/", _no_client))
    guard = Middleware(Guard, local=settings.auth_mode == "local", public_url=settings.public_url,
                       max_body=settings.max_request_bytes, body_seconds=settings.request_body_timeout_seconds,
                       hosts=local_hosts(settings.host, settings.public_url, settings.allowed_hosts)
                       if settings.auth_mode == "local" else None)
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[guard], exception_handlers=http_errors.HANDLERS)
    app.state.services = services
    app.state.sample_paths = media.SamplePaths()
    app.state.decodes = Decodes(settings.decode_concurrency)
    app.state.sign_in_throttle = SignInThrottle(services.db)
    app.state.settings = settings
    return app


async def _spa(request: Request) -> Response:
    """Files of the built client, and index.html for every other path (the SPA routes itself)."""
    rel = request.path_params["path"]
    candidate = (CLIENT_DIST / rel).resolve()
    try:
        found = bool(rel) and candidate.is_file() and candidate.is_relative_to(CLIENT_DIST)  # not a sibling dist-x/
    except OSError:  # a name longer than the file system allows is no file of ours either
        found = False
    if found:
        return FileResponse(candidate)
    return FileResponse(CLIENT_DIST / "index.html", headers={"Cache-Control": "no-cache"})


async def _no_client(request: Request) -> Response:
    return HTMLResponse("<h1>CV Explorer</h1><p>The client is not built: run <code>make run</code>. "
                        "The API is at <a href='/graphql'>/graphql</a>.</p>")


async def _demo(settings: Settings, count: int) -> int:
    from jobs.demo import seed_demo

    volume = "/Volumes/local/cv_explorer/demo"
    if volume not in settings.volume_mounts:
        print(f"demo: {volume} is not in VOLUME_MOUNTS; nothing to seed", file=sys.stderr)
        return 2
    services = build_services(settings)
    try:
        await prepare(settings, services)
        made = await seed_demo(services.runner, volume=volume, folder=settings.volume_mounts[volume],
                               user=settings.local_user, count=count)
    finally:
        await services.db.dispose()
    print(f"demo: created {', '.join(made)}" if made else "demo: already there")
    return 0


async def _worker(settings: Settings, job_id: int) -> int:
    """The Databricks Job task: run the one job it was started for against the app's database; exit 0 only when
    the job succeeded (so the run's state tells the truth)."""
    services = build_services(dataclasses.replace(settings, migrate_on_start=False, job_runner="local"))
    try:
        status = await services.runner.run_one(job_id)
    except DomainError as exc:
        print(f"worker: {exc.message}", file=sys.stderr)
        return 2
    finally:
        await services.db.dispose()
    print(f"worker: job {job_id} {status}")
    return 0 if status == "SUCCEEDED" else 1


# -- command line -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="server.py", description="CV Explorer server")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.add_parser("serve", help="migrate, then serve the app and API (default)")
    sub.add_parser("migrate", help="bring the database to the newest schema")
    worker = sub.add_parser("worker", help="run one job handed to a Databricks run, then exit (the bundle's task)")
    worker.add_argument("--job-id", type=int, required=True, help="the CV Explorer job id (a job parameter)")
    demo = sub.add_parser("demo", help="write the demo images and create the demo projects (idempotent)")
    demo.add_argument("--count", type=int, default=60, help="how many demo images (default 60)")
    accounts.add_parsers(sub)  # users …, tokens …
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _run(args.command or "serve", args, settings)
    except lakebase.LakebaseError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


def _run(command: str, args: argparse.Namespace, settings: Settings) -> int:
    if command == "migrate":
        from db.migrate import upgrade

        upgrade(_database(settings, _workspace(settings))[0].tool_url())
        print("database is at the newest revision")
        return 0
    if command == "demo":
        return asyncio.run(_demo(settings, args.count))
    if command in ("users", "tokens"):
        url = _database(settings, _workspace(settings))[0].tool_url()
        if settings.migrate_on_start:  # the first admin is usually made before the first serve
            from db.migrate import upgrade

            upgrade(url)
        return accounts.run(args, url)
    if command == "worker":
        return asyncio.run(_worker(settings, args.job_id))
    import uvicorn

    from routes.header_deadline import header_deadline

    # Process-wide, so it belongs to serving: database threads holding row locks (PostgreSQL counters, SQLite's
    # writer) must get the GIL back quickly to commit; the default 5 ms switch interval serialises saves.
    sys.setswitchinterval(0.0005)
    app = create_app(settings)
    # What start-up built (modules, the schema, the app) lives as long as the process: moved out of the collector's
    # reach, a full collection no longer walks it (one took 89 ms, in the middle of a save, with 100 subscribers).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=settings.log_level == "debug", ws="websockets-sansio",
                ws_max_size=settings.max_request_bytes, limit_concurrency=settings.max_connections,
                http=header_deadline(settings.request_header_timeout_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
