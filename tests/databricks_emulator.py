"""A local stand-in for a Databricks workspace's REST API, in the documented request/response shapes, so the real
databricks-sdk can be contract-tested on loopback. In-memory state, a route table, fault injection, a request log.

Adding an endpoint is one handler `def name(emu, req) -> Reply` plus one `Route(method, pattern, name)` in ROUTES
(or `DatabricksEmulator(routes=[...])` for a test's own). Handlers raise `ApiError` for the documented error JSON
`{"error_code": ..., "message": ...}`; state lives on the emulator (add attributes in `__init__` or `state`).
"""

from __future__ import annotations

import base64
import bisect
import email.utils
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CHUNK = 256 * 1024
FILES_PAGE_MAX = 1000  # list_directory_contents: "at most 1000 ... values above 1000 will be coerced to 1000"
UC_PAGE_MAX = 1000


class ApiError(Exception):
    """An error answer in the documented shape; `headers` go out with it (e.g. Retry-After)."""

    def __init__(self, status: int, error_code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message, self.headers = status, error_code, message, headers or {}


@dataclass
class Request:
    method: str
    path: str  # as sent (percent-encoded)
    params: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    groups: dict[str, str] = field(default_factory=dict)  # the route pattern's named groups, percent-decoded

    @property
    def subject(self) -> str:
        """What the request is about, for fault matching: the volume path (Files and catalog calls) or the URL path."""
        if "path" in self.groups:
            return self.groups["path"]
        if self.path.startswith("/api/2.1/unity-catalog/"):
            parts = [self.params.get("catalog_name"), self.params.get("schema_name")]
            return "/".join(["/Volumes", *[p for p in parts if p]])
        return self.path


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict[str, Any] | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None  # Content-Length when body is an iterator (or for HEAD)


Handler = Callable[["DatabricksEmulator", Request], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # a regular expression over the percent-encoded URL path, matched whole
    handler: Handler


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int
    subject: str


@dataclass
class Fault:
    status: int
    error_code: str
    message: str
    prefix: str | None  # subject prefix (a volume path or URL path); None = every /api call
    remaining: int | None  # None = forever
    headers: dict[str, str] = field(default_factory=dict)
    methods: frozenset[str] | None = None
    passes: int = 0  # matching calls let through before the fault starts

    def matches(self, req: Request) -> bool:
        if self.methods and req.method not in self.methods:
            return False
        if self.prefix is None:
            return True
        s, p = req.subject, self.prefix.rstrip("/")
        return s == p or s.startswith(p + "/")


@dataclass
class StoredFile:
    data: bytes
    mtime: float


class DatabricksEmulator:
    """Start with `with DatabricksEmulator() as emu:`; `emu.url` is the workspace host, `emu.token` its PAT."""

    def __init__(self, token: str = "dapi-emulator-token", routes: Iterable[Route] = (),
                 tls: tuple[str, str] | None = None) -> None:
        """tls: (certificate file, key file) to serve HTTPS, as a workspace does (the client must trust the cert)."""
        self.token, self.tls = token, tls
        self.tokens = {token}  # every bearer token the workspace accepts (OAuth ones are added as they are issued)
        self.workspace_id = "1234567890123456"
        self.routes = [(r.method, re.compile(r.pattern), r.handler) for r in (*routes, *ROUTES)]
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.uc_page_size = 100  # the "server configured" page length for max_results=0
        self.catalogs: dict[str, dict[str, Any]] = {}
        self.schemas: dict[tuple[str, str], dict[str, Any]] = {}
        self.volumes: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.files: dict[str, StoredFile] = {}
        self.dirs: dict[str, dict[str, bool]] = {}  # folder path -> {child name: is folder}
        self._sorted: dict[str, list[str]] = {}  # folder path -> sorted child names (dropped on change)
        self.state: dict[str, Any] = {}  # room for other endpoints' state
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "the emulator is not running"
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def start(self) -> DatabricksEmulator:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            # The handshake happens in the request's own thread (do_handshake_on_connect=False, done on first read).
            server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="databricks-emulator",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> DatabricksEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state helpers (no HTTP) ------------------------------------------------------------------------

    def add_catalog(self, name: str) -> None:
        with self.lock:
            self.catalogs.setdefault(name, {"name": name, "full_name": name, "owner": "emulator",
                                            "catalog_type": "MANAGED_CATALOG", "created_at": _now_ms()})

    def add_schema(self, catalog: str, schema: str) -> None:
        with self.lock:
            self.add_catalog(catalog)
            self.schemas.setdefault((catalog, schema), {"name": schema, "catalog_name": catalog,
                                                        "full_name": f"{catalog}.{schema}", "owner": "emulator"})

    def add_volume(self, volume_path: str) -> str:
        """Creates `/Volumes/c/s/v` (and its catalog and schema); returns the path."""
        c, s, v = volume_path.strip("/").split("/")[1:4]
        with self.lock:
            self.add_schema(c, s)
            self.volumes.setdefault((c, s, v), {
                "name": v, "catalog_name": c, "schema_name": s, "full_name": f"{c}.{s}.{v}",
                "volume_type": "MANAGED", "storage_location": f"s3://emulator/{c}/{s}/{v}", "owner": "emulator"})
            self.dirs.setdefault(f"/Volumes/{c}/{s}/{v}", {})
        return f"/Volumes/{c}/{s}/{v}"

    def put_file(self, path: str, data: bytes, mtime: float | None = None) -> None:
        with self.lock:
            self._make_parents(path)
            self.files[path] = StoredFile(data, time.time() if mtime is None else mtime)
            self._link(path, is_dir=False)

    def read_file(self, path: str) -> bytes:
        with self.lock:
            return self.files[path].data

    # -- faults and the request log ----------------------------------------------------------------------

    def deny(self, prefix: str, *, methods: Iterable[str] | None = None) -> None:
        """403 PERMISSION_DENIED for every request about prefix (a volume path) and below."""
        self.inject(403, "PERMISSION_DENIED", f"User does not have READ VOLUME on {prefix}.", prefix=prefix,
                    methods=methods)

    def throttle(self, times: int | None, *, retry_after: int = 0, prefix: str | None = None) -> None:
        """429 with Retry-After for the next `times` matching calls (None: until cleared)."""
        self.inject(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests. Please try again later.", prefix=prefix,
                    times=times, headers={"Retry-After": str(retry_after)})

    def inject(self, status: int, error_code: str, message: str, *, prefix: str | None = None,
               times: int | None = None, headers: dict[str, str] | None = None,
               methods: Iterable[str] | None = None, passes: int = 0) -> None:
        """The error for matching calls (all, or the next `times`), after letting the first `passes` through."""
        with self.lock:
            self.faults.append(Fault(status, error_code, message, prefix, times, headers or {},
                                     frozenset(methods) if methods else None, passes))

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def calls(self, method: str | None = None, path_prefix: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and r.path.startswith(path_prefix)]

    # -- internals used by handlers -----------------------------------------------------------------------

    def volume_of(self, path: str) -> tuple[str, str, str]:
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "Volumes" or tuple(parts[1:4]) not in self.volumes:
            raise ApiError(404, "NOT_FOUND", f"Volume for path {path} does not exist.")
        return parts[1], parts[2], parts[3]

    def _make_parents(self, path: str) -> None:
        c, s, v = self.volume_of(path)
        root = f"/Volumes/{c}/{s}/{v}"
        parent = path.rsplit("/", 1)[0]
        chain = []
        while parent != root and parent not in self.dirs:
            if parent in self.files:
                raise ApiError(409, "RESOURCE_ALREADY_EXISTS", f"{parent} is a file, not a directory.")
            chain.append(parent)
            parent = parent.rsplit("/", 1)[0]
        for d in reversed(chain):
            self.dirs[d] = {}
            self._link(d, is_dir=True)

    def _link(self, path: str, *, is_dir: bool) -> None:
        parent, name = path.rsplit("/", 1)
        self.dirs[parent][name] = is_dir
        self._sorted.pop(parent, None)

    def _unlink(self, path: str) -> None:
        parent, name = path.rsplit("/", 1)
        self.dirs[parent].pop(name, None)
        self._sorted.pop(parent, None)

    def sorted_children(self, folder: str) -> list[str]:
        names = self._sorted.get(folder)
        if names is None:
            names = self._sorted[folder] = sorted(self.dirs[folder])
        return names

    def add_routes(self, routes: Iterable[Route]) -> DatabricksEmulator:
        """More endpoints (tests/emulated_*.py), consulted before the built-in ones."""
        self.routes = [(r.method, re.compile(r.pattern), r.handler) for r in routes] + self.routes
        return self

    def authorized(self, req: Request) -> bool:
        kind, _, token = req.headers.get("authorization", "").partition(" ")
        with self.lock:
            return kind == "Bearer" and token in self.tokens

    def _dispatch(self, req: Request) -> Reply:
        if req.path.startswith("/api/") and not self.authorized(req):
            raise ApiError(401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type.")
        handler = None
        for method, pattern, fn in self.routes:
            m = pattern.fullmatch(req.path)
            if m and method == req.method:
                req.groups = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
                handler = fn
                break
        with self.lock:
            for fault in self.faults:
                if req.path.startswith("/api/") and fault.matches(req):
                    if fault.passes > 0:
                        fault.passes -= 1
                        continue
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self.faults.remove(fault)
                    raise ApiError(fault.status, fault.error_code, fault.message, dict(fault.headers))
        if handler is None:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{req.method} {req.path}'")
        return handler(self, req)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _http_date(t: float) -> str:
    return email.utils.formatdate(t, usegmt=True)


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "The page token is not valid.") from None


def _bool_param(req: Request, name: str, default: bool) -> bool:
    raw = req.params.get(name)
    return default if raw is None else raw.lower() == "true"


def _int_param(req: Request, name: str) -> int | None:
    raw = req.params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{name} must be an integer.") from None


# -- Files API: /api/2.0/fs/files{path} ------------------------------------------------------------------


def download_file(emu: DatabricksEmulator, req: Request) -> Reply:
    path = req.groups["path"]
    with emu.lock:
        f = emu.files.get(path)
    if f is None:
        raise ApiError(404, "NOT_FOUND", f"The file {path} does not exist.")
    data = f.data
    chunks = (data[i:i + CHUNK] for i in range(0, len(data), CHUNK))
    return Reply(200, chunks, {"Content-Type": "application/octet-stream", "Last-Modified": _http_date(f.mtime)},
                 length=len(data))


def file_metadata(emu: DatabricksEmulator, req: Request) -> Reply:
    path = req.groups["path"]
    with emu.lock:
        f = emu.files.get(path)
    if f is None:
        raise ApiError(404, "NOT_FOUND", f"The file {path} does not exist.")
    return Reply(200, b"", {"Content-Type": "application/octet-stream", "Last-Modified": _http_date(f.mtime)},
                 length=len(f.data))


def upload_file(emu: DatabricksEmulator, req: Request) -> Reply:
    path = req.groups["path"]
    overwrite = _bool_param(req, "overwrite", True)  # "If true or unspecified, an existing file will be overwritten"
    with emu.lock:
        if path in emu.dirs:
            raise ApiError(409, "RESOURCE_ALREADY_EXISTS", f"{path} is a directory.")
        if path in emu.files and not overwrite:
            raise ApiError(409, "ALREADY_EXISTS", "The file being created already exists.")
        emu.put_file(path, req.body)
    return Reply(204)


def delete_file(emu: DatabricksEmulator, req: Request) -> Reply:
    path = req.groups["path"]
    with emu.lock:
        if emu.files.pop(path, None) is None:
            raise ApiError(404, "NOT_FOUND", f"The file {path} does not exist.")
        emu._unlink(path)
    return Reply(204)


# -- Files API: /api/2.0/fs/directories{path} --------------------------------------------------------------


def list_directory(emu: DatabricksEmulator, req: Request) -> Reply:
    path = req.groups["path"].rstrip("/")
    size = min(_int_param(req, "page_size") or FILES_PAGE_MAX, FILES_PAGE_MAX)
    after = _untoken(req.params["page_token"]) if "page_token" in req.params else None
    with emu.lock:
        if path not in emu.dirs:
            raise ApiError(404, "NOT_FOUND", f"The directory {path} does not exist.")
        names = emu.sorted_children(path)
        start = 0 if after is None else bisect.bisect_right(names, after)
        page = names[start:start + size]
        contents = []
        for name in page:
            child = f"{path}/{name}"
            if emu.dirs[path][name]:
                contents.append({"path": child + "/", "name": name, "is_directory": True})
            else:
                f = emu.files[child]
                contents.append({"path": child, "name": name, "is_directory": False, "file_size": len(f.data),
                                 "last_modified": int(f.mtime * 1000)})
        more = start + size < len(names)
    body: dict[str, Any] = {"contents": contents}
    if more:
        body["next_page_token"] = _token(page[-1])
    return Reply(200, body)


def create_directory(emu: DatabricksEmulator, req: Request) -> Reply:
    path = req.groups["path"].rstrip("/")
    with emu.lock:
        if path in emu.files:
            raise ApiError(409, "RESOURCE_ALREADY_EXISTS", f"A file exists at {path}.")
        if path not in emu.dirs:
            emu._make_parents(path + "/x")
    return Reply(204)


def directory_metadata(emu: DatabricksEmulator, req: Request) -> Reply:
    path = req.groups["path"].rstrip("/")
    with emu.lock:
        if path not in emu.dirs:
            raise ApiError(404, "NOT_FOUND", f"The directory {path} does not exist.")
    return Reply(200)


def delete_directory(emu: DatabricksEmulator, req: Request) -> Reply:
    path = req.groups["path"].rstrip("/")
    with emu.lock:
        if path not in emu.dirs:
            raise ApiError(404, "NOT_FOUND", f"The directory {path} does not exist.")
        if emu.dirs[path]:
            raise ApiError(400, "DIRECTORY_NOT_EMPTY", f"The directory {path} is not empty.")
        del emu.dirs[path]
        emu._unlink(path)
    return Reply(204)


# -- Unity Catalog: /api/2.1/unity-catalog/{catalogs,schemas,volumes} ---------------------------------------


def _uc_page(req: Request, key: str, items: list[dict[str, Any]], paged_by_default: bool) -> Reply:
    """max_results absent: everything (the legacy unpaginated call) unless the API pages by default;
    0: the server's page length; n: at most n. Items come in no particular order (as documented)."""
    raw = _int_param(req, "max_results")
    if raw is not None and raw < 0:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "max_results must be >= 0.")
    size = len(items) if raw is None and not paged_by_default else min(raw or UC_PAGE_MAX, UC_PAGE_MAX)
    start = int(_untoken(req.params["page_token"])) if "page_token" in req.params else 0
    body: dict[str, Any] = {key: items[start:start + size]} if items[start:start + size] else {}
    if start + size < len(items):
        body["next_page_token"] = _token(str(start + size))
    return Reply(200, body)


def _uc_size(emu: DatabricksEmulator, req: Request) -> None:
    if req.params.get("max_results") == "0":
        req.params["max_results"] = str(emu.uc_page_size)


def list_catalogs(emu: DatabricksEmulator, req: Request) -> Reply:
    _uc_size(emu, req)
    with emu.lock:
        items = list(emu.catalogs.values())
    return _uc_page(req, "catalogs", items, paged_by_default=False)


def list_schemas(emu: DatabricksEmulator, req: Request) -> Reply:
    catalog = req.params.get("catalog_name", "")
    _uc_size(emu, req)
    with emu.lock:
        if catalog not in emu.catalogs:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Catalog '{catalog}' does not exist.")
        items = [v for (c, _), v in emu.schemas.items() if c == catalog]
    return _uc_page(req, "schemas", items, paged_by_default=False)


def list_volumes(emu: DatabricksEmulator, req: Request) -> Reply:
    catalog, schema = req.params.get("catalog_name", ""), req.params.get("schema_name", "")
    _uc_size(emu, req)
    with emu.lock:
        if (catalog, schema) not in emu.schemas:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Schema '{catalog}.{schema}' does not exist.")
        items = [v for (c, s, _), v in emu.volumes.items() if (c, s) == (catalog, schema)]
    return _uc_page(req, "volumes", items, paged_by_default=True)


def host_metadata(emu: DatabricksEmulator, req: Request) -> Reply:
    """The unauthenticated discovery document the SDK reads when it is configured (it then sends the workspace id)."""
    return Reply(200, {"oidc_endpoint": f"{emu.url}/oidc", "workspace_id": emu.workspace_id})


_FS = r"(?P<path>/Volumes/.*)"
ROUTES: list[Route] = [
    Route("GET", "/.well-known/databricks-config", host_metadata),
    Route("GET", "/api/2.0/fs/files" + _FS, download_file),
    Route("HEAD", "/api/2.0/fs/files" + _FS, file_metadata),
    Route("PUT", "/api/2.0/fs/files" + _FS, upload_file),
    Route("DELETE", "/api/2.0/fs/files" + _FS, delete_file),
    Route("GET", "/api/2.0/fs/directories" + _FS, list_directory),
    Route("PUT", "/api/2.0/fs/directories" + _FS, create_directory),
    Route("HEAD", "/api/2.0/fs/directories" + _FS, directory_metadata),
    Route("DELETE", "/api/2.0/fs/directories" + _FS, delete_directory),
    Route("GET", "/api/2.1/unity-catalog/catalogs", list_catalogs),
    Route("GET", "/api/2.1/unity-catalog/schemas", list_schemas),
    Route("GET", "/api/2.1/unity-catalog/volumes", list_volumes),
]


# -- HTTP plumbing -----------------------------------------------------------------------------------------


def _make_handler(emu: DatabricksEmulator) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _handle(self) -> None:
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            req = Request(self.command, url.path, params, {k.lower(): v for k, v in self.headers.items()},
                          self._body())
            try:
                reply = emu._dispatch(req)
            except ApiError as err:
                reply = Reply(err.status, {"error_code": err.error_code, "message": err.message}, err.headers)
            except Exception as exc:  # a bug in a handler: answer it (a dropped connection would be retried)
                reply = Reply(500, {"error_code": "INTERNAL_ERROR", "message": f"emulator: {exc!r}"})
            with emu.lock:
                emu.requests.append(Recorded(req.method, req.path, req.params, req.headers, reply.status,
                                             req.subject))
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            body = reply.body
            if isinstance(body, dict):
                body = json.dumps(body).encode()
                reply.headers.setdefault("Content-Type", "application/json")
            self.send_response(reply.status)
            for k, v in reply.headers.items():
                self.send_header(k, v)
            chunks: Iterator[bytes] | None = None
            if isinstance(body, bytes | bytearray):
                length = len(body) if reply.length is None else reply.length
            else:
                chunks, length = iter(body), reply.length
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command == "HEAD" or reply.status in (204, 304):
                return
            if chunks is None:
                self.wfile.write(body)  # type: ignore[arg-type]
            else:
                for chunk in chunks:
                    self.wfile.write(chunk)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read emu.requests instead
            pass

    return _Handler
