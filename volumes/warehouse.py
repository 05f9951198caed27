"""Reading a table source's paths through a SQL warehouse with databricks-sdk's Statement Execution API: one
statement per page of up to `page_rows` distinct paths (keyset on the path, so no result nears the 25 MiB that an
INLINE result may hold), polling while it is PENDING or RUNNING, then its result chunks in order. SDK errors and
failed statements become db.errors here."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as sdk_errors
from databricks.sdk.service.sql import (
    Disposition,
    ExecuteStatementRequestOnWaitTimeout,
    Format,
    StatementParameterListItem,
    StatementResponse,
    StatementState,
)

from db.errors import Forbidden, Invalid, NotFound, Unavailable
from volumes.table_sources import TableSource

log = logging.getLogger("cvx.volumes")
RUNNING = (StatementState.PENDING, StatementState.RUNNING)


class WarehouseTables:
    """Lists a table source's paths on one SQL warehouse (DATABRICKS_WAREHOUSE_ID)."""

    def __init__(self, client: WorkspaceClient | Callable[[], WorkspaceClient], warehouse_id: str, *,
                 page_rows: int = 100_000, wait_seconds: int = 30, poll_seconds: float = 2.0,
                 deadline_seconds: float = 900.0) -> None:
        self._client = client
        self.warehouse_id = warehouse_id
        self.page_rows, self.wait_seconds = page_rows, wait_seconds
        self.poll_seconds, self.deadline_seconds = poll_seconds, deadline_seconds

    @property
    def client(self) -> WorkspaceClient:
        if isinstance(self._client, WorkspaceClient):
            return self._client
        try:
            return self._client()
        except ValueError as exc:  # the SDK's word for "cannot configure credentials / host"
            raise Unavailable(f"The SQL warehouse cannot be reached: {exc}") from exc

    def paths(self, source: TableSource) -> Iterator[list[str]]:
        """The column's distinct non-null values, in order, a result chunk at a time."""
        after = ""
        while True:
            rows = 0
            for chunk in self._pages(source, after):
                if chunk:
                    rows += len(chunk)
                    after = chunk[-1]
                    yield chunk
            if rows < self.page_rows:
                return

    def _pages(self, source: TableSource, after: str) -> Iterator[list[str]]:
        sql, params = source.statement(self.page_rows)
        params[0]["value"] = after
        statements = self.client.statement_execution
        with _errors(source):
            response = statements.execute_statement(
                sql, self.warehouse_id, disposition=Disposition.INLINE, format=Format.JSON_ARRAY,
                wait_timeout=f"{self.wait_seconds}s", on_wait_timeout=ExecuteStatementRequestOnWaitTimeout.CONTINUE,
                parameters=[StatementParameterListItem(**p) for p in params])
        statement_id = response.statement_id or ""
        finished = False
        try:
            response = self._finished(response)
            finished = True
            result = response.result
            while result is not None:
                yield [row[0] for row in result.data_array or [] if row and row[0] is not None]
                if result.next_chunk_index is None:
                    break
                with _errors(source):
                    result = statements.get_statement_result_chunk_n(statement_id, result.next_chunk_index)
        finally:
            if not finished and statement_id:  # stopped while the warehouse still works on it: tell it
                try:
                    statements.cancel_execution(statement_id)
                except sdk_errors.DatabricksError as exc:
                    log.warning("cancelling statement %s: %s", statement_id, exc)

    def _finished(self, response: StatementResponse) -> StatementResponse:
        """Polls until the statement ends; its result, or the warehouse's own message as the error."""
        deadline, pause = time.monotonic() + self.deadline_seconds, 0.05
        while response.status is not None and response.status.state in RUNNING:
            if time.monotonic() > deadline:
                raise Unavailable(f"The SQL warehouse did not finish listing the table in {self.deadline_seconds:.0f} "
                                  "s; try again when it is less busy.")
            time.sleep(pause)
            pause = min(pause * 2, self.poll_seconds)  # a statement past the wait is often done soon after
            with _errors(None):
                response = self.client.statement_execution.get_statement(response.statement_id or "")
        state = response.status.state if response.status else None
        if state == StatementState.SUCCEEDED:
            return response
        error = response.status.error if response.status else None
        message = (error.message if error else None) or "no message"
        if state == StatementState.FAILED:
            raise Invalid(f"The SQL warehouse could not list the table: {message}")
        raise Unavailable(f"The statement listing the table ended {state.value if state else 'without a state'}: "
                          f"{message}")


@contextlib.contextmanager
def _errors(source: TableSource | None) -> Iterator[None]:
    """SDK exceptions as db.errors, naming the table and the warehouse's message."""
    what = f"table {source.name}" if source else "the table listing"
    try:
        yield
    except sdk_errors.NotFound as exc:
        raise NotFound(f"The SQL warehouse could not be found for {what}: {exc} (check "
                       "DATABRICKS_WAREHOUSE_ID).") from exc
    except (sdk_errors.PermissionDenied, sdk_errors.Unauthenticated) as exc:
        raise Forbidden(f"The app may not use the SQL warehouse for {what}: {exc}") from exc
    except sdk_errors.BadRequest as exc:
        raise Invalid(f"The SQL warehouse refused the statement for {what}: {exc}") from exc
    except sdk_errors.DatabricksError as exc:
        raise Unavailable(f"The SQL warehouse did not answer for {what}: {exc}") from exc
