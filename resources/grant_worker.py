"""Let the worker job's run-as identity, the app's service principal, read the bundle's files: the job runs
resources/worker_task.py and server.py from the bundle's synced copy in the deployer's workspace folder, which the
service principal may not read otherwise. Run after each `databricks bundle deploy` that created the app:

    databricks bundle run -t dev grant_worker        # the bundle's script: passes the two values below
    python resources/grant_worker.py --app cv-explorer-dev --files /Workspace/Users/<you>/.bundle/cv-explorer/dev/files

Credentials are the usual databricks-sdk ones (the bundle's script runs with the CLI's). Idempotent: the grant is
added with PATCH, nothing else on the folder changes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def grant(client: object, app_name: str, files: str) -> str:
    """CAN_READ on the files folder for the app's service principal; its application id."""
    from databricks.sdk.service.workspace import WorkspaceObjectAccessControlRequest, WorkspaceObjectPermissionLevel

    w = client
    sp = w.apps.get(app_name).service_principal_client_id  # type: ignore[attr-defined]
    if not sp:
        raise RuntimeError(f"app {app_name!r} has no service principal yet; deploy the bundle first")
    folder = w.workspace.get_status(files)  # type: ignore[attr-defined]
    w.workspace.update_permissions(  # type: ignore[attr-defined]
        workspace_object_type="directories", workspace_object_id=str(folder.object_id),
        access_control_list=[WorkspaceObjectAccessControlRequest(
            service_principal_name=sp, permission_level=WorkspaceObjectPermissionLevel.CAN_READ)])
    return str(sp)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grant_worker.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", required=True, help="the deployed app's name (the bundle's app_name)")
    parser.add_argument("--files", required=True, help="the bundle's files folder (${workspace.file_path})")
    parser.add_argument("--profile", help="~/.databrickscfg profile (default: the SDK's chain)")
    args = parser.parse_args(argv)

    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config
    from databricks.sdk.errors import DatabricksError

    logging.basicConfig(level=logging.ERROR)
    try:
        sp = grant(WorkspaceClient(config=Config(profile=args.profile, retry_timeout_seconds=60)), args.app,
                   args.files)
    except (DatabricksError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"the app's service principal {sp} may read {args.files} (the worker job runs from there)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
