"""CV Explorer server: the only reader of the environment. Settings, create_app(settings), lifespan, routes, CLI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from db.broker import Broker, PostgresFanout
from db.engine import Database, Event, redacted_url
from jobs.runner import JobRunner
from resolvers import media, transfers
from schema.build import schema
from schema.context import Context, CurrentUser, Services
from volumes.images import ThumbnailCache
from volumes.local import LocalVolumes

HERE = Path(__file__).resolve().parent
CLIENT_DIST = HERE / "client" / "dist"
AUTH_MODES = ("local",)
log = logging.getLogger("cvx")


UPLOADS_VOLUME = "/Volumes/local/cv_explorer/uploads"


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
    job_concurrency: int = 2
    job_lease_seconds: float = 30.0
    sample_lease_seconds: float = 600.0
    migrate_on_start: bool = True
    run_jobs: bool = True
    import_max_bytes: int = 200 * 2**20
    import_max_items: int = 500_000
    import_max_annotations: int = 2_000_000
    model_backend_url: str = ""
    model_path: str = ""
    model_classes: tuple[str, ...] = ()
    model_name: str = "default"
    public_url: str = ""
    serving_url: str = ""
    serving_token: str = field(default="", repr=False)  # never printed
    serving_keys: tuple[str, str, str, str] = ("label", "confidence", "bbox", "xywh_norm")

    @property
    def uploads_volume(self) -> str:
        """Where browser uploads land (always mounted, under the data dir) before they are imported."""
        return UPLOADS_VOLUME

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting once; an invalid value raises SettingsError naming the variable."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("DATA_DIR", "./data")).expanduser().resolve()
        db_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'cv_explorer.db'}"
        if not db_url.startswith(("sqlite", "postgresql")):
            raise SettingsError(f"DATABASE_URL must be a sqlite:/// or postgresql:// URL, got {db_url.split(':')[0]!r}")
        mounts_raw = env.get("VOLUME_MOUNTS") or (
            f"/Volumes/local/cv_explorer/demo={data_dir / 'demo'};"
            f"/Volumes/local/cv_explorer/exports={data_dir / 'exports'}"
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
        level = env.get("LOG_LEVEL", "info").lower()
        if level not in ("debug", "info", "warning", "error"):
            raise SettingsError(f"LOG_LEVEL={level!r} must be debug, info, warning or error")
        return Settings(
            data_dir=data_dir, database_url=db_url, volume_mounts=mounts, host=host,
            port=_int(port_var, port_raw, 1, 65535), auth_mode=auth, log_level=level,
            local_user=env.get("LOCAL_USER", "local").strip() or "local",
            max_image_pixels=_int("MAX_IMAGE_PIXELS", env.get("MAX_IMAGE_PIXELS", "100000000"), 1, 10**10),
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
            model_backend_url=_http_url("MODEL_BACKEND_URL", env.get("MODEL_BACKEND_URL", "")),
            model_path=_volume_path("MODEL_PATH", env.get("MODEL_PATH", "")),
            model_classes=tuple(c.strip() for c in env.get("MODEL_CLASSES", "").split(",") if c.strip()),
            model_name=env.get("MODEL_NAME", "default").strip() or "default",
            public_url=_http_url("PUBLIC_URL", env.get("PUBLIC_URL", "")),
            serving_url=_http_url("SERVING_ENDPOINT_URL", env.get("SERVING_ENDPOINT_URL", "")),
            serving_token=env.get("DATABRICKS_TOKEN", ""),
            serving_keys=_serving_keys(env),
        )


def _int(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value} is outside {lo}..{hi}")
    return value


def _http_url(name: str, raw: str) -> str:
    url = raw.strip().rstrip("/")
    if url and not url.startswith(("http://", "https://")):
        raise SettingsError(f"{name}={raw!r} must be an http:// or https:// URL")
    return url


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
    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.services = services

    async def get_context(self, request: Any, response: Any = None) -> Context:
        user = self.services.info["user"]
        return Context(services=self.services, user=user, request=request, response=response)


def build_services(settings: Settings) -> Services:
    db = Database(settings.database_url)
    volumes = LocalVolumes(settings.volume_mounts)
    broker = Broker()
    model = {"model_backend_url": settings.model_backend_url, "model_name": settings.model_name,
             "model_path": settings.model_path, "model_classes": list(settings.model_classes),
             "max_pixels": settings.max_image_pixels, "serving_url": settings.serving_url,
             "serving_token": settings.serving_token,
             **dict(zip(("serving_label_key", "serving_confidence_key", "serving_bbox_key", "serving_bbox_format"),
                        settings.serving_keys, strict=True)),
             "public_url": settings.public_url or f"http://{settings.host}:{settings.port}"}
    runner = JobRunner(db, volumes, concurrency=settings.job_concurrency, lease_seconds=settings.job_lease_seconds,
                       config={"import_max_bytes": settings.import_max_bytes,
                               "import_max_items": settings.import_max_items,
                               "import_max_annotations": settings.import_max_annotations,
                               "max_pixels": settings.max_image_pixels, "serving_url": settings.serving_url,
             "serving_token": settings.serving_token,
             **dict(zip(("serving_label_key", "serving_confidence_key", "serving_bbox_key", "serving_bbox_format"),
                        settings.serving_keys, strict=True)), **model})

    fanout = PostgresFanout(db.url, broker) if db.is_postgres else None
    publish = fanout.publish if fanout else broker.publish

    def on_commit(events: Sequence[Event]) -> None:
        publish(events)
        if any(topic == "job.queued" for topic, _ in events):
            runner.wake()

    db.on_commit = on_commit
    thumbs = ThumbnailCache(settings.data_dir / "thumbnails")
    return Services(db=db, volumes=volumes, broker=broker, runner=runner, thumbnails=thumbs,
                    max_pixels=settings.max_image_pixels, auth_mode=settings.auth_mode,
                    lease_seconds=settings.sample_lease_seconds, fanout=fanout,
                    uploads_volume=UPLOADS_VOLUME, upload_max_bytes=settings.import_max_bytes, model=model,
                    info={"backend": db.backend, "mounts": volumes.volume_names(),
                          "database": redacted_url(settings.database_url), "data_dir": str(settings.data_dir)})


async def prepare(settings: Settings, services: Services) -> None:
    """Migrate (if asked), make sure the folders and the local user exist."""
    from db.migrate import upgrade
    from db.users import ensure_user

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for folder in settings.volume_mounts.values():
        if str(folder).startswith(str(settings.data_dir)):
            folder.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start:
        await asyncio.to_thread(upgrade, settings.database_url)
    user = await services.db.write(ensure_user, settings.local_user, is_admin=True)
    services.info["user"] = CurrentUser(id=user.id, name=user.name, is_admin=True)


def create_app(settings: Settings) -> Starlette:
    services = build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
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
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
    )

    async def health(request: Request) -> Response:
        if not getattr(request.app.state, "ready", False):
            return JSONResponse({"status": "starting"}, status_code=503)
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
    ]
    if (CLIENT_DIST / "index.html").exists():
        routes.append(Mount("/assets", StaticFiles(directory=CLIENT_DIST / "assets"), name="assets"))
        routes.append(Route("/{path:path}", _spa))
    else:
        routes.append(Route("/", _no_client))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.services = services
    app.state.sample_paths = media.SamplePaths()
    app.state.settings = settings
    return app


async def _spa(request: Request) -> Response:
    """Files of the built client, and index.html for every other path (the SPA routes itself)."""
    rel = request.path_params["path"]
    candidate = (CLIENT_DIST / rel).resolve()
    if rel and candidate.is_file() and str(candidate).startswith(str(CLIENT_DIST)):
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


# -- command line -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="server.py", description="CV Explorer server")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.add_parser("serve", help="migrate, then serve the app and API (default)")
    sub.add_parser("migrate", help="bring the database to the newest schema")
    demo = sub.add_parser("demo", help="write the demo images and create the demo projects (idempotent)")
    demo.add_argument("--count", type=int, default=60, help="how many demo images (default 60)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = args.command or "serve"
    if command == "migrate":
        from db.migrate import upgrade

        upgrade(settings.database_url)
        print("database is at the newest revision")
        return 0
    if command == "demo":
        return asyncio.run(_demo(settings, args.count))
    import uvicorn

    # Process-wide, so it belongs to serving: database threads holding row locks (PostgreSQL counters, SQLite's
    # writer) must get the GIL back quickly to commit; the default 5 ms switch interval serialises saves.
    sys.setswitchinterval(0.0005)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=settings.log_level == "debug", ws="websockets-sansio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
