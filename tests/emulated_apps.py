"""The Apps API's permissions in the emulator (tests/databricks_emulator.py): `GET /api/2.0/permissions/apps/<name>`
in the documented shape databricks-sdk reads (`access_control_list` of users, groups and service principals with
`all_permissions`). Only a principal that may manage the app may read them, as on a workspace."""

from __future__ import annotations

from tests.databricks_emulator import ApiError, DatabricksEmulator, Reply, Request, Route
from tests.emulated_lakebase import principal


def add_app(emu: DatabricksEmulator, name: str, grants: dict[str, str], service_principals: dict[str, str]) -> None:
    """An app and who holds what on it: grants are user name -> level, service_principals application id -> level."""
    with emu.lock:
        emu.state.setdefault("apps", {})[name] = {"users": dict(grants), "sps": dict(service_principals)}


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


APPS_ROUTES = [Route("GET", r"/api/2\.0/permissions/apps/(?P<name>[a-z0-9-]+)", get_permissions)]
