"""On Databricks: the app's URL answers an OAuth bearer token of the notebook's or job's own identity, taken from
databricks-sdk's Config (nothing to paste), and exports are read from their Unity Catalog folder through the
Files API. databricks-sdk is imported only here, only when used (`pip install 'cvexplorer[databricks]'`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cvexplorer.errors import Unauthenticated


def config(**kwargs: Any) -> Any:
    """databricks-sdk's Config: in a notebook or job the runtime's identity; elsewhere DATABRICKS_HOST with a
    profile, token or OAuth client (whatever the SDK's unified authentication finds), or the given settings."""
    try:
        from databricks.sdk.core import Config
    except ImportError as exc:
        raise ImportError("Connecting from Databricks needs databricks-sdk: pip install 'cvexplorer[databricks]'"
                          ) from exc
    return Config(**kwargs)


def bearer(cfg: Any) -> Any:
    """A function giving each request's Authorization header; the SDK renews the token before it expires."""
    def headers() -> dict[str, str]:
        try:
            return dict(cfg.authenticate())
        except Exception as exc:  # the SDK raises ValueError or its own errors, depending on the credential
            raise Unauthenticated(f"databricks-sdk could not authenticate to {cfg.host}: {exc}") from exc

    return headers


def download_folder(cfg: Any, folder: str, out: Path) -> Path:
    """Copies a volume folder (an export) to out/<its name>/ through the Files API, file by file; returns that
    path. metadata.json is written last by the server, so its absence means an unfinished export: refused."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.files import FilesAPI

    files = FilesAPI(WorkspaceClient(config=cfg).api_client)
    folder = folder.rstrip("/")
    target = out / folder.rsplit("/", 1)[-1]
    pending, found = [folder], list[str]()
    while pending:
        current = pending.pop()
        for entry in files.list_directory_contents(current):
            (pending if entry.is_directory else found).append(str(entry.path).rstrip("/"))
    if f"{folder}/metadata.json" not in found:
        raise FileNotFoundError(f"{folder} has no metadata.json: the export is unfinished or failed")
    for path in sorted(found, key=lambda p: p.endswith("/metadata.json")):
        local = target / path[len(folder) + 1:]
        local.parent.mkdir(parents=True, exist_ok=True)
        stream = files.download(path).contents
        if stream is None:
            raise FileNotFoundError(f"{path} came back without content")
        with stream, open(local, "wb") as fp:
            while chunk := stream.read(1 << 20):
                fp.write(chunk)
    return target
