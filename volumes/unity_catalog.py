"""Unity Catalog Volumes through databricks-sdk: catalogs, schemas and volumes from the catalog API, folders and
bytes from the documented Files API. SDK errors become db.errors here, at the boundary, and nowhere else."""

from __future__ import annotations

import builtins
import contextlib
import io
import logging
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO, Generic, TypeVar, cast

import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as sdk_errors
from databricks.sdk.clock import RealClock
from databricks.sdk.core import Config
from databricks.sdk.service.files import FilesAPI

from db.errors import DomainError, Forbidden, Invalid, NotFound, Unavailable
from volumes.base import Entry, FileStat, Page, paginate, sort_key
from volumes.paths import VolumePath

log = logging.getLogger("cvx.volumes")
PAGE_SIZE = 1000  # the Files API's and catalog API's largest page
CHUNK = 1 << 20
_THROTTLED = (sdk_errors.TooManyRequests, sdk_errors.TemporarilyUnavailable)


def connect(*, retry_seconds: int = 30, longest_wait: float = 5.0, **config: Any) -> WorkspaceClient:
    """A WorkspaceClient from databricks-sdk Config arguments (host, token or OAuth client id and secret; what is
    not given comes from the SDK's default chain). The SDK retries throttled calls (429/503) itself, sleeping each
    Retry-After, for 300 s by default: here for retry_seconds in all, no single wait longer than longest_wait."""
    return WorkspaceClient(config=Config(retry_timeout_seconds=retry_seconds, clock=_BoundedWaits(longest_wait),
                                         **config))


class _BoundedWaits(RealClock):
    """The SDK's retry loop sleeps whatever Retry-After says; capping each sleep keeps the total bounded."""

    def __init__(self, longest: float) -> None:
        self.longest = longest

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self.longest))


V = TypeVar("V")


class _Memo(Generic[V]):
    """A small thread-safe map whose entries expire: remote answers worth reusing for a few seconds."""

    def __init__(self, seconds: float, max_items: int) -> None:
        self.seconds, self.max_items = seconds, max_items
        self._d: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            hit = self._d.get(key)
            if hit is None or hit[0] < time.monotonic():
                return None
            return hit[1]

    def put(self, key: str, value: V) -> None:
        self.put_many([(key, value)])

    def put_many(self, items: list[tuple[str, V]]) -> None:
        until = time.monotonic() + self.seconds
        with self._lock:
            for key, value in items:
                self._d.pop(key, None)  # re-inserted at the end: the newest
                self._d[key] = (until, value)
            while len(self._d) > self.max_items:
                self._d.popitem(last=False)

    def drop(self, key: str) -> None:
        with self._lock:
            self._d.pop(key, None)


class UnityCatalogVolumes:
    """Implements volumes.base.Volumes over every volume the workspace client may see.

    Uses the plain Files API (`FilesAPI`), not the SDK's `FilesExt` default: that one downloads and uploads through
    presigned cloud-storage URLs, which an app's network may not reach; the plain API is one request per call
    (uploads up to 5 GiB).

    File stats (from HEAD and from listings) are reused for `stat_seconds`, so a gallery page does not cost a round
    trip per thumbnail: 600 s, as long as browsers keep a thumbnail without asking (routes.media CACHE_CONTROL),
    so a file replaced in place shows its new thumbnail as late as it would anyway. Names of catalogs, schemas and
    volumes, and a listing being paged through, are reused for `memo_seconds`. Writes drop what they change.
    """

    def __init__(self, client: WorkspaceClient | Callable[[], WorkspaceClient], *, stat_seconds: float = 600.0,
                 memo_seconds: float = 30.0, page_size: int = PAGE_SIZE, spool_bytes: int = 16 * 2**20) -> None:
        self._client = client if isinstance(client, WorkspaceClient) else None
        self._connect = None if isinstance(client, WorkspaceClient) else client
        self._connect_lock = threading.Lock()
        self.page_size = page_size
        self.spool_bytes = spool_bytes
        self._stats: _Memo[FileStat] = _Memo(stat_seconds, 200_000)
        self._names: _Memo[builtins.list[Entry]] = _Memo(memo_seconds, 1_000)  # catalog / schema / volume listings
        self._pages: _Memo[builtins.list[Entry]] = _Memo(memo_seconds, 16)  # listings behind browse's later pages

    @property
    def client(self) -> WorkspaceClient:
        """The SDK client, made on first use (configuring it may call the workspace)."""
        if self._client is None:
            with self._connect_lock:
                if self._client is None:
                    assert self._connect is not None
                    try:
                        self._client = self._connect()
                    except ValueError as exc:  # the SDK's word for "cannot configure credentials / host"
                        raise Unavailable(f"Unity Catalog is not configured: {exc}") from exc
        return self._client

    @property
    def files(self) -> FilesAPI:
        return FilesAPI(self.client.api_client)  # type: ignore[no-untyped-call]  # the SDK's constructor is untyped

    # -- listing ----------------------------------------------------------------------------------------

    def list(self, path: VolumePath) -> list[Entry]:
        if path.depth < 3:
            return self._names_under(path)
        with _errors(path, "list", "READ VOLUME", folder=True):
            return sorted(self._listed(path.text), key=sort_key)

    def browse(self, path: VolumePath, *, name_filter: str | None = None, first: int | None = None,
               after: str | None = None) -> Page:
        entries = self._pages.get(path.text) if after else None  # later pages page through the first page's listing
        if entries is None:
            entries = self.list(path)
            self._pages.put(path.text, entries)
        return paginate(entries, name_filter=name_filter, first=first, after=after)

    def check_folder(self, path: VolumePath) -> None:
        if path.depth < 3:
            self._names_under(path)
            return
        with _errors(path, "open", "READ VOLUME", folder=True):
            self.files.get_directory_metadata(path.text)

    def walk_files(self, path: VolumePath) -> Iterator[Entry]:
        self.check_folder(path)
        stack = [path.text]
        while stack:
            folder = stack.pop()
            subfolders: builtins.list[Entry] = []
            files: builtins.list[Entry] = []
            with _errors(path, "read", "READ VOLUME", folder=True, vanished=folder):
                for e in self._listed(folder):
                    if "\\" in e.name:
                        continue
                    (subfolders if e.is_dir else files).append(e)
            files.sort(key=lambda f: f.name)
            yield from files
            stack.extend(e.path for e in sorted(subfolders, key=lambda f: f.name, reverse=True))

    def _names_under(self, path: VolumePath) -> builtins.list[Entry]:
        cached = self._names.get(path.text)
        if cached is not None:
            return cached
        with _errors(path, "list", "USE CATALOG / USE SCHEMA", folder=True):
            if path.depth == 0:
                names = [c.name for c in self.client.catalogs.list(max_results=self.page_size)]
            elif path.depth == 1:
                names = [s.name for s in self.client.schemas.list(path.parts[0], max_results=self.page_size)]
            else:
                names = [v.name for v in self.client.volumes.list(*path.parts[:2], max_results=self.page_size)]
        entries = sorted((Entry(name=n, path=f"{path.text}/{n}", is_dir=True) for n in names if n),
                         key=sort_key)
        self._names.put(path.text, entries)
        return entries

    def _listed(self, folder: str) -> Iterator[Entry]:
        """The visible entries of one folder, as the Files API pages them; their stats are remembered on the way."""
        stats: list[tuple[str, FileStat]] = []
        for d in self.files.list_directory_contents(folder, page_size=self.page_size):
            name = d.name or (d.path or "").rstrip("/").rsplit("/", 1)[-1]
            if not name or name.startswith("."):
                continue
            path = f"{folder}/{name}"
            if d.is_directory:
                yield Entry(name=name, path=path, is_dir=True)
                continue
            # Whole seconds: HEAD's Last-Modified has no more, and thumbnail keys must agree whichever was seen.
            st = FileStat(d.file_size or 0, (d.last_modified or 0) // 1000 * 10**9)
            stats.append((path, st))
            if len(stats) >= self.page_size:
                self._stats.put_many(stats)
                stats = []
            yield Entry(name=name, path=path, is_dir=False, size=st.size, mtime_ns=st.mtime_ns)
        self._stats.put_many(stats)

    # -- files ------------------------------------------------------------------------------------------

    def stat(self, path: VolumePath) -> FileStat:
        _file_path(path)
        hit = self._stats.get(path.text)
        if hit is not None:
            return hit
        try:
            with _errors(path, "read", "READ VOLUME"):
                meta = self.files.get_metadata(path.text)
        except NotFound:
            if self._is_folder(path):
                raise Invalid(f"{path} is not a file.") from None
            raise
        st = FileStat(meta.content_length or 0, _http_time_ns(meta.last_modified))
        self._stats.put(path.text, st)
        return st

    def stat_nowait(self, path: VolumePath) -> FileStat | None:
        _file_path(path)
        return self._stats.get(path.text)

    def open(self, path: VolumePath) -> BinaryIO:
        """The file's bytes, streamed into a spooled temporary file (memory up to spool_bytes, then disk):
        seekable, as image decoders need, without holding a 100 MB original in memory."""
        _file_path(path)
        out = tempfile.SpooledTemporaryFile(max_size=self.spool_bytes)  # noqa: SIM115 (the caller closes it)
        try:
            with _errors(path, "read", "READ VOLUME"):
                resp = self.files.download(path.text)
                stream = resp.contents
                assert stream is not None
                try:
                    while chunk := stream.read(CHUNK):
                        out.write(chunk)
                finally:
                    stream.close()
            out.seek(0)
            return out  # type: ignore[return-value]
        except BaseException:
            out.close()
            raise

    def write(self, path: VolumePath, data: bytes, *, overwrite: bool = False) -> None:
        self._upload(path, io.BytesIO(data), overwrite)

    @contextlib.contextmanager
    def writer(self, path: VolumePath) -> Iterator[BinaryIO]:
        _file_path(path)
        if self._exists(path):
            raise Invalid(f"{path} already exists.")
        with tempfile.SpooledTemporaryFile(max_size=self.spool_bytes) as fp:
            yield fp  # type: ignore[misc]
            fp.seek(0)
            self._upload(path, cast(BinaryIO, fp), overwrite=False)  # only now does the file appear

    def make_dirs(self, path: VolumePath) -> None:
        if path.depth < 3:
            raise Invalid(f"{path} is not inside a volume.")
        with _errors(path, "create", "WRITE VOLUME", folder=True):
            if path.depth == 3:
                self.files.get_directory_metadata(path.text)  # a volume is made in Unity Catalog, not here
            else:
                self.files.create_directory(path.text)
        self._pages.drop(path.text.rsplit("/", 1)[0])

    def start_folder(self, path: VolumePath, scratch: str) -> VolumePath:
        """The Files API cannot rename a folder: the work is written in place, and the caller's marker file, written
        last, is what says it is finished. The folder is made now, so its name is taken before anything is written."""
        if path.depth < 4:
            raise Invalid(f"{path} is not a folder inside a volume.")
        if self._is_folder(path) or self._exists(path):
            raise Invalid(f"{path} already exists.")
        self.make_dirs(path)
        return path

    def publish_folder(self, work: VolumePath, path: VolumePath) -> None:
        """Nothing to move: start_folder wrote in place."""

    def discard_folder(self, work: VolumePath) -> None:
        """Deletes the files, then the folders, deepest first; what cannot be deleted is logged and left (without
        its marker file it is not a finished folder)."""
        try:
            with _errors(work, "delete", "WRITE VOLUME", folder=True):
                folders: builtins.list[str] = [work.text]
                files: builtins.list[str] = []
                for folder in folders:  # grows as it goes: a breadth-first walk
                    for e in self.files.list_directory_contents(folder, page_size=self.page_size):
                        name = e.name or (e.path or "").rstrip("/").rsplit("/", 1)[-1]
                        (folders if e.is_directory else files).append(f"{folder}/{name}")
                for f in files:
                    self._stats.drop(f)
                    self.files.delete(f)
                for folder in reversed(folders):
                    self.files.delete_directory(folder)
        except NotFound:
            pass
        except DomainError as exc:
            log.warning("could not remove the unfinished folder %s: %s", work, exc.message)
        self._pages.drop(work.text)
        self._pages.drop(work.text.rsplit("/", 1)[0])

    def _upload(self, path: VolumePath, body: BinaryIO, overwrite: bool) -> None:
        _file_path(path)
        self._stats.drop(path.text)
        with _errors(path, "write", "WRITE VOLUME"):
            self.files.upload(path.text, body, overwrite=overwrite)
        self._pages.drop(path.text.rsplit("/", 1)[0])

    def _is_folder(self, path: VolumePath) -> bool:
        try:
            self.check_folder(path)
        except NotFound:
            return False
        return True

    def _exists(self, path: VolumePath) -> bool:
        self._stats.drop(path.text)  # ask, not remember: someone may have deleted it meanwhile
        try:
            self.stat(path)
        except NotFound:
            return False
        return True


def _file_path(path: VolumePath) -> None:
    if path.depth < 4:
        raise Invalid(f"{path} is not a file inside a volume.")


def _http_time_ns(value: str | None) -> int:
    if not value:
        return 0
    try:
        return int(parsedate_to_datetime(value).timestamp()) * 10**9
    except (TypeError, ValueError):
        return 0


@contextlib.contextmanager
def _errors(path: VolumePath, doing: str, privilege: str, *, folder: bool = False,
            vanished: str | None = None) -> Iterator[None]:
    """Translates what the SDK and requests raise into db.errors that name the path."""
    try:
        yield
    except DomainError:
        raise
    except sdk_errors.NotFound as exc:
        if vanished is not None and vanished != path.text:
            raise NotFound(f"Folder {vanished} vanished while it was being read.") from exc
        raise NotFound(f"{path} does not exist." if folder else f"File {path} does not exist.") from exc
    except sdk_errors.PermissionDenied as exc:
        raise Forbidden(f"Unity Catalog denied access to {path}: it takes the {privilege} privilege "
                        f"({_reason(exc)}).") from exc
    except sdk_errors.ResourceConflict as exc:
        raise Invalid(f"{path} already exists.") from exc
    except sdk_errors.BadRequest as exc:
        raise Invalid(f"Unity Catalog refused to {doing} {path}: {_reason(exc)}.") from exc
    except sdk_errors.Unauthenticated as exc:
        raise Unavailable(f"Unity Catalog did not accept the app's credentials while trying to {doing} {path} "
                          f"({_reason(exc)}); check DATABRICKS_HOST and the token or OAuth client.") from exc
    except _THROTTLED as exc:
        raise Unavailable(f"Unity Catalog is throttling requests (trying to {doing} {path}); "
                          "try again in a minute.") from exc
    except TimeoutError as exc:  # the SDK's retry budget ran out; what it kept retrying is the cause
        cause = exc.__cause__
        if isinstance(cause, _THROTTLED):
            raise Unavailable(f"Unity Catalog kept throttling requests (HTTP {_status(cause)}) while trying to "
                              f"{doing} {path}, after retrying for the allowed time; try again in a minute.") from exc
        raise Unavailable(f"Unity Catalog could not be reached while trying to {doing} {path} "
                          f"({_reason(cause or exc)}).") from exc
    except sdk_errors.DatabricksError as exc:
        raise Unavailable(f"Unity Catalog failed to {doing} {path}: {_reason(exc)}.") from exc
    except requests.RequestException as exc:
        raise Unavailable(f"Unity Catalog could not be reached while trying to {doing} {path} "
                          f"({type(exc).__name__}).") from exc


def _status(exc: BaseException) -> str:
    return "429" if isinstance(exc, sdk_errors.TooManyRequests) else "503"


def _reason(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    text = str(exc) or type(exc).__name__
    return f"{code}: {text}" if code else text

