"""Scale-out (`JOB_RUNNER=databricks`): a big job is handed to the bundle's Databricks Job with `jobs.run_now`
(the task runs `python server.py worker --job-id <id>`, the same job code against the same database); the run id is
stored on the job row and the job's status is reconciled with the run's when the run ends without the worker having
recorded an end (cluster failure, cancelled run, timeout)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from db.errors import Unavailable

log = logging.getLogger("cvx.jobs")

ENDED = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


@dataclass(frozen=True)
class RunState:
    ended: bool
    status: str | None  # the job status the run's end implies, when the worker did not record one
    message: str


def run_state(life_cycle: str, result: str | None, message: str) -> RunState:
    """A run's `state` (life_cycle_state, result_state, state_message) as what it means for our job."""
    if life_cycle not in ENDED:
        return RunState(False, None, message)
    if result in ("CANCELED", "CANCELLED"):
        return RunState(True, "CANCELLED", "The Databricks run was cancelled.")
    detail = f"{life_cycle}/{result or '-'}" + (f": {message}" if message else "")
    return RunState(True, "FAILED", f"The Databricks run ended ({detail}) without finishing the job.")


# listings and SQL transactions: a cluster would only add its start-up
LOCAL_ONLY = ("SCAN", "RENAME_CLASS", "DRAFTS", "SOURCE_CHANGE", "SPLITS")


APP_TAG = "cv-explorer-app"  # the bundle's worker job carries it, with the app's name as its value


class DatabricksRuns:
    """Submits jobs to one Databricks Job and reads its runs (databricks-sdk WorkspaceClient, built lazily). The job
    is DATABRICKS_JOB_ID, or, in a Databricks App, the job tagged cv-explorer-app=<the app's name> among those the
    app's service principal may see (the bundle's worker job refers to the app, so the app cannot refer to it)."""

    def __init__(self, workspace: Any, job_id: int, min_items: int, app_name: str = "") -> None:
        self._workspace, self.job_id, self.min_items, self.app_name = workspace, job_id, min_items, app_name

    def _job(self) -> int:
        """The job's id (looked up once by its tag when DATABRICKS_JOB_ID is not set)."""
        if not self.job_id:
            found = [j.job_id for j in self._workspace().jobs.list()
                     if j.settings and (j.settings.tags or {}).get(APP_TAG) == self.app_name and j.job_id]
            if len(found) != 1:
                raise Unavailable(f"{len(found) or 'No'} Databricks jobs tagged {APP_TAG}={self.app_name} are "
                                  "visible to the app: deploy the bundle (its worker job gives the app "
                                  "CAN_MANAGE_RUN), or set DATABRICKS_JOB_ID.")
            self.job_id = int(found[0])
        return self.job_id

    def wants(self, kind: str, items: int) -> bool:
        """Whether a job of this size goes to Databricks (small ones run here: a cluster takes minutes to start)."""
        return kind not in LOCAL_ONLY and items >= self.min_items

    def submit(self, cvx_job_id: int) -> tuple[str, str]:
        """Start a run for the job; (run id, run page URL). UNAVAILABLE when the workspace refuses."""
        from databricks.sdk.errors import DatabricksError  # here: importing the SDK takes seconds

        try:
            waiter = self._workspace().jobs.run_now(job_id=self._job(), job_parameters={"cvx_job_id": str(cvx_job_id)},
                                                    idempotency_token=f"cvx-job-{cvx_job_id}")
            run_id = int(waiter.run_id)
            url = self._workspace().jobs.get_run(run_id).run_page_url or ""
        except DatabricksError as exc:
            raise Unavailable(f"Databricks Jobs refused the run for job {cvx_job_id}: {exc}") from None
        return str(run_id), url

    def state(self, run_id: str) -> RunState:
        run = self._workspace().jobs.get_run(int(run_id))
        state = run.state
        life = state.life_cycle_state.value if state and state.life_cycle_state else "PENDING"
        result = state.result_state.value if state and state.result_state else None
        return run_state(life, result, (state.state_message if state else "") or "")

    def cancel(self, run_id: str) -> None:
        self._workspace().jobs.cancel_run(int(run_id))
