"""Apps and workspace files in the emulator (tests/databricks_emulator.py), in the documented shapes databricks-sdk
reads: `GET /api/2.0/apps/<name>` (its service principal), `GET /api/2.0/permissions/apps/<name>`
(`access_control_list` of users, groups and service principals with `all_permissions`; only a principal that may
manage the app may read it), and a workspace folder's status and permissions (`GET /api/2.0/workspace/get-status`,
`PATCH /api/2.0/permissions/directories/<id>`), so a test can see who may read the bundle's files."""

from __future__ import annotations

import json

from tests.databricks_emulator import ApiError, DatabricksEmulator, Reply, Request, Route
from tests.emulated_lakebase import principal


def add_app(emu: DatabricksEmulator, name: str, grants: dict[str, str], service_principals: dict[str, str],
            client_id: str = "") -> None:
    """An app and who holds what on it: grants are user name -> level, service_principals application id -> level;
    client_id is the app's own service principal."""
    with emu.lock:
        emu.state.setdefault("apps", {})[name] = {"users": dict(grants), "sps": dict(service_principals),
                                                  "client_id": client_id}


def add_folder(emu: DatabricksEmulator, path: str) -> int:
    """A workspace folder (its object id); readers_of(emu, path) tells who was given CAN_READ or more."""
    with emu.lock:
        folders = emu.state.setdefault("folders", {})
        return folders.setdefault(path, {"id": 4000 + len(folders), "acl": {}})["id"]


def readers_of(emu: DatabricksEmulator, path: str) -> set[str]:
    return set(emu.state.get("folders", {}).get(path, {}).get("acl", {}))


def get_app(emu: DatabricksEmulator, req: Request) -> Reply:
    app = emu.state.get("apps", {}).get(req.groups["name"])
    if app is None:
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"App {req.groups['name']} does not exist.")
    return Reply(200, {"name": req.groups["name"], "service_principal_client_id": app["client_id"]})


def get_status(emu: DatabricksEmulator, req: Request) -> Reply:
    path = req.params.get("path", "")
    folder = emu.state.get("folders", {}).get(path)
    if folder is None:
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({path}) doesn't exist.")
    return Reply(200, {"object_type": "DIRECTORY", "path": path, "object_id": folder["id"]})


def patch_directory_permissions(emu: DatabricksEmulator, req: Request) -> Reply:
    folder = next((f for f in emu.state.get("folders", {}).values() if str(f["id"]) == req.groups["id"]), None)
    if folder is None:
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Directory {req.groups['id']} does not exist.")
    for entry in json.loads(req.body or b"{}").get("access_control_list", []):
        who = entry.get("service_principal_name") or entry.get("user_name") or entry.get("group_name")
        folder["acl"][who] = entry["permission_level"]
    return Reply(200, {"object_id": f"/directories/{req.groups['id']}", "object_type": "directory"})


def get_permissions(emu: DatabricksEmulator, req: Request) -> Reply:
    app = emu.state.get("apps", {}).get(req.groups["name"])
    if app is None:
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"App {req.groups['name']} does not exist.")
    who = principal(emu, req)
    if "CAN_MANAGE" not in (app["users"].get(who), app["sps"].get(who)):
        raise ApiError(403, "PERMISSION_DENIED", f"{who} does not have Manage permissions on app {req.groups['name']}.")
    acl = [{"user_name": u, "all_permissions": [{"permission_level": level, "inherited": False}]}
           for u, level in app["users"].items()]
    acl += [{"service_principal_name": s, "all_permissions": [{"permission_level": level, "inherited": False}]}
            for s, level in app["sps"].items()]
    acl.append({"group_name": "admins", "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": True}]})
    return Reply(200, {"object_id": f"/apps/{req.groups['name']}", "object_type": "apps", "access_control_list": acl})


APPS_ROUTES = [
    Route("GET", r"/api/2\.0/permissions/apps/(?P<name>[a-z0-9-]+)", get_permissions),
    Route("GET", r"/api/2\.0/apps/(?P<name>[a-z0-9-]+)", get_app),
    Route("GET", r"/api/2\.0/workspace/get-status", get_status),
    Route("PATCH", r"/api/2\.0/permissions/directories/(?P<id>\d+)", patch_directory_permissions),
]
