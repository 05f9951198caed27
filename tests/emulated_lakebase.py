"""Lakebase's `w.postgres` API in the emulator (tests/databricks_emulator.py), in the documented shapes
databricks-sdk uses: project lookup and creation (a long-running operation), the branch's endpoints, and database
credentials whose lifetime a test chooses (`emu.state["lakebase_ttl"]`, seconds) so refreshes can be watched.

A credential belongs to the identity that asked for it (the bearer token's principal, `emu.state["principals"]`) and
to one endpoint. `emu.state["lakebase_on_mint"]`, when set, is called with (identity, token) for each new one: a
PostgreSQL server that checks passwords makes it that role's password (tests/test_deploy_rehearsal.py). PostgreSQL
keeps one password per role, so an identity is handed its current credential again while it has more than half its
life left (real Lakebase mints a new one each time; both stay valid until they expire)."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any

from tests.databricks_emulator import ApiError, DatabricksEmulator, Reply, Request, Route

_tokens = itertools.count(1)


def add_project(emu: DatabricksEmulator, project_id: str, host: str = "127.0.0.1") -> None:
    """A project with a `production` branch whose read-write endpoint listens on host."""
    with emu.lock:
        emu.state.setdefault("lakebase", {})[project_id] = _project(project_id, host)


def credentials_issued(emu: DatabricksEmulator) -> list[str]:
    return emu.state.setdefault("lakebase_tokens", [])


def _project(project_id: str, host: str) -> dict[str, Any]:
    return {"name": f"projects/{project_id}", "uid": f"uid-{project_id}", "host": host,
            "status": {"display_name": project_id, "default_branch": f"projects/{project_id}/branches/production"}}


def get_project(emu: DatabricksEmulator, req: Request) -> Reply:
    project = emu.state.get("lakebase", {}).get(req.groups["project"])
    if project is None:
        raise ApiError(404, "NOT_FOUND", f"Project projects/{req.groups['project']} not found.")
    return Reply(200, {k: v for k, v in project.items() if k != "host"})


def create_project(emu: DatabricksEmulator, req: Request) -> Reply:
    project_id = req.params.get("project_id") or ""
    if not project_id:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "project_id is required.")
    with emu.lock:
        if project_id in emu.state.get("lakebase", {}):
            raise ApiError(409, "ALREADY_EXISTS", f"Project projects/{project_id} already exists.")
        add_project(emu, project_id)
        emu.state.setdefault("lakebase_created", []).append(json.loads(req.body or b"{}"))
    return Reply(200, {"name": f"projects/{project_id}/operations/create", "done": False})


def get_operation(emu: DatabricksEmulator, req: Request) -> Reply:
    project = emu.state.get("lakebase", {}).get(req.groups["project"])
    if project is None:
        raise ApiError(404, "NOT_FOUND", "Operation not found.")
    return Reply(200, {"name": f"projects/{req.groups['project']}/operations/create", "done": True,
                       "response": {k: v for k, v in project.items() if k != "host"}})


def list_endpoints(emu: DatabricksEmulator, req: Request) -> Reply:
    project = emu.state.get("lakebase", {}).get(req.groups["project"])
    if project is None or req.groups["branch"] != "production":
        raise ApiError(404, "NOT_FOUND", f"Branch projects/{req.groups['project']}/branches/"
                                         f"{req.groups['branch']} not found.")
    base = f"projects/{req.groups['project']}/branches/production/endpoints"
    return Reply(200, {"endpoints": [
        {"name": f"{base}/replica", "status": {"endpoint_type": "ENDPOINT_TYPE_READ_ONLY",
                                                "hosts": {"host": "replica.invalid"}}},
        {"name": f"{base}/primary", "status": {"endpoint_type": "ENDPOINT_TYPE_READ_WRITE",
                                                "hosts": {"host": project["host"]}}},
    ]})


def principal(emu: DatabricksEmulator, req: Request) -> str:
    """Who the request's bearer token belongs to (the workspace's own token: `emulator-user`)."""
    bearer = req.headers.get("authorization", "").partition(" ")[2]
    return str(emu.state.get("principals", {}).get(bearer, "emulator-user"))


def get_endpoint(emu: DatabricksEmulator, req: Request) -> Reply:
    project = emu.state.get("lakebase", {}).get(req.groups["project"])
    name = f"projects/{req.groups['project']}/branches/{req.groups['branch']}/endpoints/{req.groups['endpoint']}"
    if project is None or req.groups["branch"] != "production" or req.groups["endpoint"] != "primary":
        raise ApiError(404, "NOT_FOUND", f"Endpoint {name} not found.")
    return Reply(200, {"name": name, "status": {"endpoint_type": "ENDPOINT_TYPE_READ_WRITE",
                                                "hosts": {"host": project["host"]}}})


def generate_credential(emu: DatabricksEmulator, req: Request) -> Reply:
    endpoint = json.loads(req.body or b"{}").get("endpoint", "")
    parts = endpoint.split("/")
    if len(parts) != 6 or not endpoint.endswith("/endpoints/primary") or \
            parts[1] not in emu.state.get("lakebase", {}):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Unknown endpoint {endpoint!r}.")
    who, ttl = principal(emu, req), emu.state.get("lakebase_ttl", 3600)
    now = time.time() + emu.state.get("clock_skip", 0.0)  # a test moves the clock on instead of waiting
    with emu.lock:
        current = emu.state.setdefault("lakebase_current", {})
        token, expires = current.get((who, endpoint), ("", 0.0))
        fresh = expires - now > ttl / 2
        if not fresh:
            token, expires = f"lakebase-token-{next(_tokens)}", now + ttl
            current[who, endpoint] = (token, expires)
            credentials_issued(emu).append(token)
    if not fresh and emu.state.get("lakebase_on_mint"):
        emu.state["lakebase_on_mint"](who, token)
    stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return Reply(200, {"token": token, "expire_time": stamp})


_P = r"/api/2\.0/postgres/projects/(?P<project>[^/]+)"
LAKEBASE_ROUTES = [
    Route("GET", _P, get_project),
    Route("POST", r"/api/2\.0/postgres/projects", create_project),
    Route("GET", _P + r"/operations/[^/]+", get_operation),
    Route("GET", _P + r"/branches/(?P<branch>[^/]+)/endpoints", list_endpoints),
    Route("GET", _P + r"/branches/(?P<branch>[^/]+)/endpoints/(?P<endpoint>[^/]+)", get_endpoint),
    Route("POST", r"/api/2\.0/postgres/credentials", generate_credential),
]
