"""Lakebase (Databricks' managed PostgreSQL): where to connect and a password that never expires under the app.

The password is an OAuth database credential minted with databricks-sdk (`w.postgres.generate_database_credential`
for the project's read-write endpoint), valid for at most an hour. `Credentials.password()` hands every new
connection a token with minutes to spare, minting a fresh one before the old expires; the engine's pool recycles
connections well inside the token's life. With auto-provisioning, the project named by LAKEBASE_PROJECT_ID is
looked up (or created) through the `w.postgres` API and its read-write endpoint's host is used.

databricks-sdk is imported where it is used: importing it takes two seconds, which every server start and test
run would pay even without Lakebase."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

log = logging.getLogger("cvx.lakebase")

REFRESH_MARGIN_SECONDS = 300.0  # mint a new token when the current one has less than this left
READ_WRITE = "ENDPOINT_TYPE_READ_WRITE"


class LakebaseError(RuntimeError):
    """Lakebase cannot be reached or set up; the message says what to fix."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    database: str
    user: str
    sslmode: str
    endpoint: str  # projects/<p>/branches/<b>/endpoints/<e>, the credential's scope
    schema: str = "cv_explorer"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL without a password (Credentials supplies it per connection). The tables live in their
        own schema: the app's role may create schemas in the database but not tables in `public`."""
        return (f"postgresql+psycopg://{quote(self.user, safe='')}@{self.host}:{self.port}/"
                f"{quote(self.database, safe='')}?sslmode={self.sslmode}"
                f"&options={quote(f'-csearch_path={self.schema}', safe='')}")


class Credentials:
    """Short-lived database passwords, minted on demand and reused until they are close to expiry."""

    def __init__(self, mint: Callable[[], tuple[str, float]], margin: float = REFRESH_MARGIN_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self._mint, self.margin, self.clock = mint, margin, clock
        self._token, self._expires, self.minted_at = "", 0.0, 0.0
        self._lock = threading.Lock()

    def password(self) -> str:
        with self._lock:
            now = self.clock()
            if now >= self._expires - min(self.margin, (self._expires - self.minted_at) / 2):
                self._token, self._expires = self._mint()
                self.minted_at = now
                log.info("minted a Lakebase database credential valid for %.0f s", self._expires - now)
            return self._token

    @property
    def lifetime(self) -> float:
        """Seconds the current token lives in all (recycle pooled connections well within this)."""
        return max(0.0, self._expires - self.minted_at)

    def age(self) -> float | None:
        """Seconds since the current token was minted (None before the first connection)."""
        return self.clock() - self.minted_at if self.minted_at else None


def credentials_for(workspace: Callable[[], Any], endpoint: str, clock: Callable[[], float] = time.time
                    ) -> Credentials:
    """Database credentials minted for the endpoint (a workspace OAuth token is not one: Lakebase refuses it)."""
    def mint_database_credential() -> tuple[str, float]:
        from databricks.sdk.errors import DatabricksError

        try:
            cred = workspace().postgres.generate_database_credential(endpoint=endpoint)
        except DatabricksError as exc:
            raise LakebaseError(f"Lakebase refused a database credential for {endpoint}: {exc}") from None
        if not cred.token:
            raise LakebaseError(f"Lakebase returned no token for {endpoint}")
        expires = cred.expire_time.ToSeconds() if cred.expire_time is not None else clock() + 3600
        return cred.token, float(expires)

    return Credentials(mint_database_credential, clock=clock)


def read_write_endpoint(workspace: Callable[[], Any], project_id: str, branch_id: str) -> tuple[str, str]:
    """(endpoint name, host) of the branch's read-write compute."""
    from databricks.sdk.errors import DatabricksError, NotFound

    parent = f"projects/{project_id}/branches/{branch_id}"
    try:
        for endpoint in workspace().postgres.list_endpoints(parent=parent):
            status = endpoint.status
            kind = status.endpoint_type.value if status and status.endpoint_type else ""
            if kind == READ_WRITE and status.hosts and status.hosts.host:
                return endpoint.name, status.hosts.host
    except NotFound:
        raise LakebaseError(f"Lakebase branch {parent} does not exist; set LAKEBASE_BRANCH_ID") from None
    except DatabricksError as exc:
        raise LakebaseError(f"Lakebase endpoints of {parent} cannot be listed: {exc}") from None
    raise LakebaseError(f"Lakebase branch {parent} has no read-write endpoint with a host yet")


def ensure_project(workspace: Callable[[], Any], project_id: str, *, create: bool) -> None:
    """The project exists (created and waited for when `create`); LakebaseError naming the fix otherwise."""
    from databricks.sdk.errors import DatabricksError, NotFound
    from databricks.sdk.service.postgres import Project, ProjectSpec

    try:
        workspace().postgres.get_project(name=f"projects/{project_id}")
        return
    except NotFound:
        if not create:
            raise LakebaseError(f"Lakebase project {project_id!r} does not exist. Create it, or set "
                                "LAKEBASE_AUTO_PROVISION=true to let the app create it.") from None
    except DatabricksError as exc:
        raise LakebaseError(f"Lakebase project {project_id!r} cannot be looked up: {exc}") from None
    log.info("creating Lakebase project %s", project_id)
    try:
        operation = workspace().postgres.create_project(
            project=Project(spec=ProjectSpec(display_name=project_id)), project_id=project_id)
        operation.wait()
    except Exception as exc:  # the SDK's wait raises a bare Exception when the operation fails
        raise LakebaseError(f"Lakebase project {project_id!r} could not be created: {exc}") from None


@dataclass(frozen=True)
class LakebaseSettings:
    """What server.py read: the platform's PG* variables (a database resource of the app) and LAKEBASE_*."""

    user: str
    host: str = ""
    port: int = 5432
    database: str = "databricks_postgres"
    sslmode: str = "require"
    project_id: str = ""
    branch_id: str = "production"
    auto_provision: bool = False
    schema: str = "cv_explorer"
    endpoint: str = ""  # projects/<p>/branches/<b>/endpoints/<e>: app.yml's valueFrom on the database resource


def endpoint_host(workspace: Callable[[], Any], endpoint: str) -> str:
    """The endpoint's host name (when PGHOST is not given)."""
    from databricks.sdk.errors import DatabricksError, NotFound

    try:
        found = workspace().postgres.get_endpoint(name=endpoint)
    except NotFound:
        raise LakebaseError(f"Lakebase endpoint {endpoint} does not exist; check LAKEBASE_ENDPOINT") from None
    except DatabricksError as exc:
        raise LakebaseError(f"Lakebase endpoint {endpoint} cannot be read: {exc}") from None
    host = found.status.hosts.host if found.status and found.status.hosts else None
    if not host:
        raise LakebaseError(f"Lakebase endpoint {endpoint} has no host yet")
    return str(host)


def resolve(workspace: Callable[[], Any], chosen: LakebaseSettings) -> Target:
    """Where to connect and which endpoint credentials are for. LAKEBASE_ENDPOINT (the app's database resource):
    that endpoint, at PGHOST or its own host. With LAKEBASE_PROJECT_ID (the worker): the project must exist (or is
    created with auto-provisioning) and its branch's read-write endpoint scopes the credentials (and gives the
    host when PGHOST is not set)."""
    endpoint, host = chosen.endpoint, chosen.host
    if endpoint:
        host = host or endpoint_host(workspace, endpoint)
    elif chosen.project_id:
        ensure_project(workspace, chosen.project_id, create=chosen.auto_provision)
        endpoint, found = read_write_endpoint(workspace, chosen.project_id, chosen.branch_id)
        host = host or found
    if not endpoint:
        raise LakebaseError("Lakebase: set LAKEBASE_ENDPOINT (valueFrom the app's database resource) or "
                            "LAKEBASE_PROJECT_ID; a database credential is minted for an endpoint")
    return Target(host=host, port=chosen.port, database=chosen.database, user=chosen.user, sslmode=chosen.sslmode,
                  endpoint=endpoint, schema=chosen.schema)
