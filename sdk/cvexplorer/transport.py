"""HTTP to the server, synchronous and asynchronous: GraphQL operations, the NDJSON sample stream, uploads and
downloads. Every failure becomes a CvxError: the server's extensions.code, or UNAVAILABLE when it cannot be reached."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import IO, Any

import httpx
import orjson

from cvexplorer.errors import BY_CODE, CvxError, Unavailable, from_graphql
from cvexplorer.operations import document

Auth = Callable[[], dict[str, str]]  # the headers that authenticate one request (a token may be renewed between)
CHUNK = 1 << 16


def _raise_for(r: httpx.Response) -> None:
    """A non-2xx answer as the error its body names ({"code", "error"} from plain routes, GraphQL errors)."""
    if r.status_code < 400:
        return
    try:
        body = r.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("errors"):
        raise from_graphql(body["errors"][0])
    if isinstance(body, dict) and body.get("code"):
        code = str(body["code"])
        raise BY_CODE.get(code, CvxError)(str(body.get("error") or r.reason_phrase), code=code, extensions=body)
    code = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND", 413: "TOO_LARGE", 503: "UNAVAILABLE"}.get(
        r.status_code, "ERROR")
    raise BY_CODE.get(code, CvxError)(f"HTTP {r.status_code} from {r.request.url}: {r.text[:200]}", code=code)


def _data(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        _raise_for(r)
        raise CvxError(f"HTTP {r.status_code} from {r.request.url} is not JSON: {r.text[:200]}") from None
    if body.get("errors"):
        raise from_graphql(body["errors"][0])
    _raise_for(r)
    return body["data"]


def _body(operation: str, variables: dict[str, Any]) -> dict[str, Any]:
    return {"query": document(operation), "operationName": operation, "variables": variables}


class _Lines:
    """Splits a byte stream into NDJSON objects."""

    def __init__(self) -> None:
        self.rest = b""

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        data = self.rest + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self.rest = data
            return []
        self.rest = data[cut + 1:]
        loads = orjson.loads
        return [loads(line) for line in data[:cut].split(b"\n") if line]


class SyncTransport:
    def __init__(self, url: str, auth: Auth, timeout: float, verify: bool | str = True) -> None:
        self.url, self.auth = url.rstrip("/"), auth
        self.http = httpx.Client(base_url=self.url, timeout=timeout, verify=verify)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, headers={**self.auth(), **kwargs.pop("headers", {})}, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(f"Cannot reach {self.url}: {exc}") from exc

    def graphql(self, operation: str, **variables: Any) -> dict[str, Any]:
        return _data(self._send("POST", "/graphql", json=_body(operation, variables)))

    def ndjson(self, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        """The stream's objects; a cut connection raises Unavailable (the caller resumes)."""
        try:
            with self.http.stream("GET", path, params=params, headers=self.auth()) as r:
                if r.status_code >= 400:
                    r.read()
                    _raise_for(r)
                lines = _Lines()
                for chunk in r.iter_bytes(CHUNK):
                    yield from lines.feed(chunk)
        except httpx.TransportError as exc:
            raise Unavailable(f"The stream from {self.url} broke: {exc}") from exc

    def get_bytes(self, path: str) -> bytes:
        r = self._send("GET", path)
        _raise_for(r)
        return r.content

    def upload(self, path: str, fp: IO[bytes], name: str) -> dict[str, Any]:
        r = self._send("POST", path, params={"name": name}, content=fp,
                       headers={"Content-Type": "application/octet-stream"})
        _raise_for(r)
        return r.json()

    def download(self, path: str, out: IO[bytes]) -> str:
        """Streams the answer into out; returns the file name the server suggests."""
        try:
            with self.http.stream("GET", path, headers=self.auth()) as r:
                if r.status_code >= 400:
                    r.read()
                    _raise_for(r)
                for chunk in r.iter_bytes(CHUNK):
                    out.write(chunk)
                return _filename(r)
        except httpx.TransportError as exc:
            raise Unavailable(f"The download from {self.url} broke: {exc}") from exc

    def close(self) -> None:
        self.http.close()


class AsyncTransport:
    def __init__(self, url: str, auth: Auth, timeout: float, verify: bool | str = True) -> None:
        self.url, self.auth = url.rstrip("/"), auth
        self.http = httpx.AsyncClient(base_url=self.url, timeout=timeout, verify=verify)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(method, path, headers={**self.auth(), **kwargs.pop("headers", {})},
                                           **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(f"Cannot reach {self.url}: {exc}") from exc

    async def graphql(self, operation: str, **variables: Any) -> dict[str, Any]:
        return _data(await self._send("POST", "/graphql", json=_body(operation, variables)))

    async def ndjson(self, path: str, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        try:
            async with self.http.stream("GET", path, params=params, headers=self.auth()) as r:
                if r.status_code >= 400:
                    await r.aread()
                    _raise_for(r)
                lines = _Lines()
                async for chunk in r.aiter_bytes(CHUNK):
                    for obj in lines.feed(chunk):
                        yield obj
        except httpx.TransportError as exc:
            raise Unavailable(f"The stream from {self.url} broke: {exc}") from exc

    async def get_bytes(self, path: str) -> bytes:
        r = await self._send("GET", path)
        _raise_for(r)
        return r.content

    async def upload(self, path: str, data: bytes | IO[bytes], name: str) -> dict[str, Any]:
        content = data if isinstance(data, bytes) else _chunks(data)
        r = await self._send("POST", path, params={"name": name}, content=content,
                             headers={"Content-Type": "application/octet-stream"})
        _raise_for(r)
        return r.json()

    async def download(self, path: str, out: IO[bytes]) -> str:
        try:
            async with self.http.stream("GET", path, headers=self.auth()) as r:
                if r.status_code >= 400:
                    await r.aread()
                    _raise_for(r)
                async for chunk in r.aiter_bytes(CHUNK):
                    out.write(chunk)
                return _filename(r)
        except httpx.TransportError as exc:
            raise Unavailable(f"The download from {self.url} broke: {exc}") from exc

    async def close(self) -> None:
        await self.http.aclose()


async def _chunks(fp: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := fp.read(CHUNK):
        yield chunk


def _filename(r: httpx.Response) -> str:
    disposition = r.headers.get("content-disposition", "")
    _, _, name = disposition.partition('filename="')
    return name.rstrip('"') or "download"
