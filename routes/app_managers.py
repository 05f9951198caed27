"""Instance admins of a Databricks App (AUTH_MODE=databricks): besides ADMIN_USERS, the users who may manage the app
itself (CAN_MANAGE in its permissions: the deployer, and whoever the bundle or the workspace gives it), read once at
start-up with the app's service principal, so a fresh deploy has an admin without editing app.yml."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("cvx.identity")


def app_managers(workspace: Callable[[], Any], app_name: str) -> frozenset[str]:
    """Case-folded user names (e-mails) with CAN_MANAGE on the app (groups are not expanded); empty, with a warning
    saying what to grant, when the permissions cannot be read."""
    from databricks.sdk.errors import DatabricksError  # here: importing the SDK takes seconds

    try:
        acl = workspace().apps.get_permissions(app_name).access_control_list or []
    except (DatabricksError, OSError, ValueError) as exc:
        log.warning("cannot read who manages app %s (%s): only ADMIN_USERS are instance admins. The bundle gives "
                    "the app's service principal CAN_MANAGE on its own app so it can read this.", app_name, exc)
        return frozenset()
    return frozenset(entry.user_name.strip().casefold() for entry in acl if entry.user_name and any(
        p.permission_level is not None and p.permission_level.value == "CAN_MANAGE"
        for p in entry.all_permissions or []))
