"""Databricks Jobs in the emulator (tests/databricks_emulator.py): `GET /api/2.2/jobs/list`,
`POST /api/2.2/jobs/run-now`, `GET /api/2.2/jobs/runs/get`, `POST /api/2.2/jobs/runs/cancel`, in the documented
shapes databricks-sdk uses. A job defined with `runners` (principals with CAN_MANAGE_RUN) is listed to and run for
those only, as on a workspace.

A job's task is a Python callable registered with `define_job(emu, job_id, task)`: called with the run's job
parameters, it returns a `subprocess.Popen` (the run is RUNNING until the process exits; exit 0 = SUCCESS) or None
(the run stays PENDING until a test ends it with `end_run`)."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Callable
from typing import Any

from tests.databricks_emulator import ApiError, DatabricksEmulator, Reply, Request, Route
from tests.emulated_lakebase import principal

Task = Callable[[dict[str, str]], subprocess.Popen | None]
_run_ids = itertools.count(7001)


def define_job(emu: DatabricksEmulator, job_id: int, task: Task, *, settings: dict[str, Any] | None = None,
               runners: set[str] | None = None) -> None:
    emu.state.setdefault("jobs", {})[job_id] = task
    emu.state.setdefault("job_settings", {})[job_id] = settings or {"name": f"job-{job_id}"}
    if runners is not None:
        emu.state.setdefault("job_runners", {})[job_id] = set(runners)


def _may_run(emu: DatabricksEmulator, req: Request, job_id: Any) -> bool:
    runners = emu.state.get("job_runners", {}).get(job_id)
    return runners is None or principal(emu, req) in runners


def list_jobs(emu: DatabricksEmulator, req: Request) -> Reply:
    visible = [{"job_id": job_id, "settings": settings} for job_id, settings in
               sorted(emu.state.get("job_settings", {}).items()) if _may_run(emu, req, job_id)]
    return Reply(200, {"jobs": visible, "has_more": False} if visible else {"has_more": False})


def end_run(emu: DatabricksEmulator, run_id: int, result: str, message: str = "") -> None:
    with emu.lock:
        emu.state["runs"][run_id].update(life="TERMINATED", result=result, message=message)


def runs(emu: DatabricksEmulator) -> dict[int, dict[str, Any]]:
    return emu.state.setdefault("runs", {})


def _body(req: Request) -> dict[str, Any]:
    try:
        return json.loads(req.body or b"{}")
    except ValueError:
        raise ApiError(400, "MALFORMED_REQUEST", "The request body is not JSON.") from None


def run_now(emu: DatabricksEmulator, req: Request) -> Reply:
    body = _body(req)
    task = emu.state.get("jobs", {}).get(body.get("job_id"))
    if task is None:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Job {body.get('job_id')} does not exist.")
    if not _may_run(emu, req, body.get("job_id")):
        raise ApiError(403, "PERMISSION_DENIED", f"{principal(emu, req)} does not have Manage Run permissions on "
                                                 f"job {body.get('job_id')}.")
    with emu.lock:
        token = body.get("idempotency_token")
        for run_id, run in runs(emu).items():
            if token and run["token"] == token:
                return Reply(200, {"run_id": run_id, "number_in_job": run_id})
        run_id = next(_run_ids)
        runs(emu)[run_id] = {"job_id": body["job_id"], "params": dict(body.get("job_parameters") or {}),
                             "token": token, "life": "PENDING", "result": None, "message": "", "process": None}
    process = task(runs(emu)[run_id]["params"])
    with emu.lock:
        runs(emu)[run_id].update(process=process, life="RUNNING" if process else "PENDING")
    return Reply(200, {"run_id": run_id, "number_in_job": run_id})


def get_run(emu: DatabricksEmulator, req: Request) -> Reply:
    run_id = int(req.params.get("run_id", "0"))
    with emu.lock:
        run = runs(emu).get(run_id)
        if run is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.")
        process = run["process"]
        if process is not None and run["life"] == "RUNNING" and process.poll() is not None:
            run.update(life="TERMINATED", result="SUCCESS" if process.returncode == 0 else "FAILED",
                       message="" if process.returncode == 0 else f"Task exited with code {process.returncode}")
        state = {"life_cycle_state": run["life"], "state_message": run["message"]}
        if run["result"]:
            state["result_state"] = run["result"]
    page = f"{emu.url}/#job/{run['job_id']}/run/{run_id}"
    return Reply(200, {"run_id": run_id, "job_id": run["job_id"], "state": state, "run_page_url": page,
                       "job_parameters": [{"name": k, "value": v} for k, v in run["params"].items()]})


def cancel_run(emu: DatabricksEmulator, req: Request) -> Reply:
    run_id = int(_body(req).get("run_id", 0))
    with emu.lock:
        run = runs(emu).get(run_id)
        if run is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.")
        if run["process"] is not None and run["process"].poll() is None:
            run["process"].kill()
        if run["life"] != "TERMINATED":
            run.update(life="TERMINATED", result="CANCELED", message="Run cancelled by the API.")
    return Reply(200, {})


JOBS_ROUTES = [
    Route("GET", "/api/2.2/jobs/list", list_jobs),
    Route("POST", "/api/2.2/jobs/run-now", run_now),
    Route("GET", "/api/2.2/jobs/runs/get", get_run),
    Route("POST", "/api/2.2/jobs/runs/cancel", cancel_run),
]
