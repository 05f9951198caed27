"""CV Explorer server: create_app(settings), lifespan, routes and the command line (settings.py reads the
environment)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import dataclasses
import functools
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

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
from db.engine import Database, Event, redacted_url
from db.errors import DatabaseUnavailable, DomainError
from jobs.context import JobConfig
from jobs.databricks_runs import DatabricksRuns
from jobs.formats import Limits
from jobs.models.config import ModelConfig
from jobs.models.serving import ServingFormat
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
from settings import Settings, SettingsError, override
from volumes.base import Volumes
from volumes.local import LocalVolumes
from volumes.routing import RoutingVolumes
from volumes.table_sources import TableLister
from volumes.thumbnail_cache import ThumbnailCache

HERE = Path(__file__).resolve().parent
CLIENT_DIST = HERE / "client" / "dist"
log = logging.getLogger("cvx")


class GraphQLApp(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = CappedTransportWS  # type: ignore[assignment]  # Strawberry types it unparametrised

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


def model_config(settings: Settings, workspace: Callable[[], Any] | None = None) -> ModelConfig:
    """The server's default model, the workspace (for Serving endpoints) and this server's URL."""
    label, confidence, bbox, bbox_format = settings.serving_keys
    headers = (lambda: workspace().config.authenticate()) if workspace and settings.databricks_host else None
    return ModelConfig(
        name=settings.model_name, path=settings.model_path, classes=settings.model_classes,
        serving_url=settings.serving_url, backend_url=settings.model_backend_url,
        serving_format=ServingFormat(label, confidence, bbox, bbox_format, settings.serving_request),
        serving_image_max_side=settings.serving_image_max_side,
        serving_timeout_seconds=float(settings.serving_timeout_seconds), databricks_host=settings.databricks_host,
        allow=settings.model_url_allow, public_url=settings.public_url or f"http://{settings.host}:{settings.port}",
        max_pixels=settings.max_image_pixels, serving_token=settings.serving_token, workspace_headers=headers)


def job_runner(settings: Settings, db: Database, volumes: Volumes, model: ModelConfig | None = None,
               remote: DatabricksRuns | None = None, thumbnails: ThumbnailCache | None = None,
               tables: TableLister | None = None) -> JobRunner:
    """The job runner with what the settings tell jobs (and the server's thumbnail cache, which jobs share)."""
    limits = Limits(max_bytes=settings.import_max_bytes, max_items=settings.import_max_items,
                    max_annotations=settings.import_max_annotations, max_row_bytes=settings.import_max_row_bytes)
    config = JobConfig(limits=limits, max_pixels=settings.max_image_pixels, model=model or model_config(settings),
                       thumbnails=thumbnails or ThumbnailCache(settings.data_dir / "thumbnails"),
                       max_decode_bytes=settings.max_decode_bytes,
                       spark_min_samples=settings.spark_min_samples,
                       spark_partition_samples=settings.spark_partition_samples, tables=tables)
    return JobRunner(db, volumes, concurrency=settings.job_concurrency, lease_seconds=settings.job_lease_seconds,
                     config=config, remote=remote)


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


def _tables(settings: Settings, workspace: Callable[[], Any]) -> TableLister | None:
    """The SQL warehouse that lists table sources (DATABRICKS_WAREHOUSE_ID), or None."""
    if not settings.warehouse_id:
        return None
    from volumes.warehouse import WarehouseTables  # databricks-sdk: imported only when a warehouse is set

    return WarehouseTables(workspace, settings.warehouse_id)


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
    model = model_config(settings, workspace)
    remote = DatabricksRuns(workspace, settings.databricks_job_id, settings.job_runner_min_items,
                            app_name=settings.databricks_app_name) if settings.job_runner == "databricks" else None
    thumbs = ThumbnailCache(settings.data_dir / "thumbnails")
    runner = job_runner(settings, db, volumes, model, remote, thumbs, _tables(settings, workspace))

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
        Route("/auth/session", sessions.session),
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
    if not settings.seed_demo:
        print("demo: SEED_DEMO=false; nothing seeded")
        return 0
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
    serve = sub.add_parser("serve", help="migrate, then serve the app and API (default)")
    serve.add_argument("--workers", help="server processes on the port: a number or `auto` (WORKERS; more than one "
                                         "needs PostgreSQL)")
    sub.add_parser("migrate", help="bring the database to the newest schema")
    worker = sub.add_parser("worker", help="run one job handed to a Databricks run, then exit (the bundle's task)")
    worker.add_argument("--job-id", type=int, required=True, help="the CV Explorer job id (a job parameter)")
    demo = sub.add_parser("demo", help="write the demo images and create the demo projects (idempotent)")
    demo.add_argument("--count", type=int, default=60, help="how many demo images (default 60)")
    accounts.add_parsers(sub)  # users …, tokens …
    args = parser.parse_args(argv)
    if getattr(args, "workers", None):  # the environment carries it to the worker processes, read as WORKERS is
        override(WORKERS=args.workers)
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

    if settings.workers > 1:
        return _serve_processes(settings)
    from routes.header_deadline import header_deadline

    app = _tuned(create_app(settings))
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=settings.log_level == "debug", ws="websockets-sansio",
                ws_max_size=settings.max_request_bytes, limit_concurrency=settings.max_connections,
                http=header_deadline(settings.request_header_timeout_seconds))
    return 0


def _tuned(app: Starlette) -> Starlette:
    """The serving process's settings, made once the app is built."""
    # Process-wide, so it belongs to serving: database threads holding row locks (PostgreSQL counters, SQLite's
    # writer) must get the GIL back quickly to commit; the default 5 ms switch interval serialises saves.
    sys.setswitchinterval(0.0005)
    # What start-up built (modules, the schema, the app) lives as long as the process: moved out of the collector's
    # reach, a full collection no longer walks it (one took 89 ms, in the middle of a save, with 100 subscribers).
    gc.collect()
    gc.freeze()
    fewer_malloc_arenas()
    return app


M_ARENA_MAX = -8  # glibc's mallopt parameter


def fewer_malloc_arenas(arenas: int = 2) -> bool:
    """Two malloc arenas instead of glibc's up to eight per core: every thread that allocates gets an arena of its
    own, and what a big import freed in a worker thread's arena stays in the process. Measured with
    bench.datasets: the server's peak during a 1M-box import and export, 608 MB -> 481 MB. False where the C
    library is not glibc."""
    try:
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def _serve_processes(settings: Settings) -> int:
    """`serve` with WORKERS > 1: migrate once here, then uvicorn runs WORKERS processes on one socket, each building
    its app with worker_app. They share what must be shared through PostgreSQL: events (LISTEN/NOTIFY, db.broker),
    jobs and sample claims (row locks and leases), sign-in failures (a table); thumbnails through DATA_DIR's files."""
    import uvicorn

    database = _database(settings, _workspace(settings))[0]
    if settings.migrate_on_start:
        from db.migrate import upgrade

        upgrade(database.tool_url())
        override(MIGRATE_ON_START="false")  # done: N processes need not race to find that out
    if settings.auth_mode == "local":  # made here, so that N processes starting at once do not all insert it
        asyncio.run(_ensure_local_user(database, settings.local_user))
    uvicorn.run("server:worker_app", factory=True, workers=settings.workers, host=settings.host, port=settings.port,
                log_level=settings.log_level, access_log=settings.log_level == "debug", ws="websockets-sansio",
                ws_max_size=settings.max_request_bytes, limit_concurrency=settings.max_connections,
                http="routes.header_deadline:HeaderDeadline")
    return 0


async def _ensure_local_user(database: Database, name: str) -> None:
    from db.users import ensure_user

    await database.write(ensure_user, name, is_admin=True)
    await database.dispose()


def worker_app() -> Starlette:
    """The app of one of `serve --workers N`'s processes (uvicorn calls this in each, with the parent's environment)."""
    from routes.header_deadline import HeaderDeadline

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    HeaderDeadline.seconds = settings.request_header_timeout_seconds  # uvicorn takes the class by name here
    return _tuned(create_app(settings))


if __name__ == "__main__":
    sys.exit(main())
