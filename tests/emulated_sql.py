"""SQL warehouses for tests/databricks_emulator.py: the Statement Execution API (POST /api/2.0/sql/statements, GET
.../statements/{id}, GET .../statements/{id}/result/chunks/{n}, POST .../statements/{id}/cancel) in the shapes of
databricks-sdk's service/sql.py, over in-memory tables.

It understands the one statement shape a table source sends (volumes/table_sources.py): SELECT [DISTINCT] `col`
FROM `c`.`s`.`t` [WHERE cond AND ...] [ORDER BY `col`] [LIMIT n], with cond one of `col` IS NOT NULL, `col` = :p,
`col` > :p. Anything else FAILS with a syntax error, as a warehouse's parser would. Strict where the service is:
an unknown warehouse is a 404, malformed parameters a 400, an unknown table or column or an unbound parameter a
FAILED statement with the warehouse's message. Results come in chunks of `rows_per_chunk`; `pending_polls` makes
each statement answer PENDING that many times first (its execute call included), so clients must poll.

    tables = SqlWarehouses(emu, warehouse_id="wh1"); tables.add_table("c.s.t", {"path": "STRING"}, rows)
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.databricks_emulator import ApiError, DatabricksEmulator, Reply, Request, Route

PARAMETER_TYPES = {"STRING", "INT", "BIGINT", "SMALLINT", "TINYINT", "BOOLEAN", "DATE", "TIMESTAMP", "DOUBLE",
                   "FLOAT", "DECIMAL", "BINARY", "VOID"}
_IDENT = r"`([^`]+)`"
_SELECT = re.compile(rf"SELECT (DISTINCT )?{_IDENT} FROM {_IDENT}\.{_IDENT}\.{_IDENT}"
                     rf"(?: WHERE (.+?))?(?: ORDER BY {_IDENT})?(?: LIMIT (\d+))?")
_COND = re.compile(rf"{_IDENT} (?:(IS NOT NULL)|(=|>) :([A-Za-z_][A-Za-z0-9_]*))")


@dataclass
class Statement:
    id: str
    rows: list[list[str | None]] = field(default_factory=list)
    column: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None
    pending: int = 0
    canceled: bool = False


class SqlWarehouses:
    """The warehouses and tables of one emulated workspace (installed on it by the constructor)."""

    def __init__(self, emu: DatabricksEmulator, warehouse_id: str = "wh-emulated", *, rows_per_chunk: int = 1000,
                 pending_polls: int = 0) -> None:
        self.emu = emu
        self.warehouses = {warehouse_id}
        self.rows_per_chunk, self.pending_polls = rows_per_chunk, pending_polls
        self.tables: dict[tuple[str, str, str], tuple[dict[str, str], list[dict[str, Any]]]] = {}
        self.statements: dict[str, Statement] = {}
        self.executed: list[dict[str, Any]] = []  # request bodies, for tests to inspect
        self._ids = itertools.count(1)
        emu.state["sql"] = self
        emu.add_routes(ROUTES)

    def add_table(self, name: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
        c, s, t = name.split(".")
        self.tables[(c, s, t)] = (columns, rows)

    # -- statement evaluation -----------------------------------------------------------------------------------

    def run(self, sql: str, params: dict[str, str | None]) -> Statement:
        st = Statement(id=f"01ef-{next(self._ids):08x}-emulated", pending=self.pending_polls)
        try:
            st.column, st.rows = self._evaluate(sql, params)
        except _Failed as failed:
            st.error = {"error_code": "BAD_REQUEST", "message": str(failed)}
        self.statements[st.id] = st
        return st

    def _evaluate(self, sql: str, params: dict[str, str | None]) -> tuple[dict[str, Any], list[list[str | None]]]:
        m = _SELECT.fullmatch(sql.strip())
        if m is None:
            raise _Failed(f"[PARSE_SYNTAX_ERROR] Syntax error at or near '{sql.strip()[:40]}'. SQLSTATE: 42601")
        distinct, col, c, s, t, where, order, limit = m.groups()
        if (c, s, t) not in self.tables:
            raise _Failed(f"[TABLE_OR_VIEW_NOT_FOUND] The table or view `{c}`.`{s}`.`{t}` cannot be found. Verify "
                          "the spelling and correctness of the schema and catalog. SQLSTATE: 42P01")
        columns, rows = self.tables[(c, s, t)]
        conditions = []
        for cond in (where.split(" AND ") if where else []):
            cm = _COND.fullmatch(cond)
            if cm is None:
                raise _Failed(f"[PARSE_SYNTAX_ERROR] Syntax error at or near '{cond[:40]}'. SQLSTATE: 42601")
            conditions.append(cm.groups())
        for name in [col, order, *(cond[0] for cond in conditions)]:
            if name is not None and name not in columns:
                raise _Failed(f"[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with "
                              f"name `{name}` cannot be resolved. Did you mean one of the following? "
                              f"[{', '.join(f'`{k}`' for k in columns)}]. SQLSTATE: 42703")
        for _, _, _, marker in conditions:
            if marker is not None and marker not in params:
                raise _Failed(f"[UNBOUND_SQL_PARAMETER] Found the unbound parameter: {marker}. Please, fix `args` "
                              "and provide a mapping of the parameter to either a SQL literal or collection "
                              "constructor functions. SQLSTATE: 42P02")
        out = [_text(r.get(col)) for r in rows if all(_holds(r, cond, params) for cond in conditions)]
        if distinct:
            out = list(dict.fromkeys(out))
        if order:
            if order != col:
                raise _Failed("[MISSING_AGGREGATION] ORDER BY a column that is not selected. SQLSTATE: 42803")
            out.sort(key=lambda v: (v is not None, v or ""))  # NULLS FIRST, as Spark's ascending order
        if limit is not None:
            out = out[:int(limit)]
        column = {"name": col, "type_name": columns[col], "type_text": columns[col], "position": 0}
        return column, [[v] for v in out]

    # -- response shapes --------------------------------------------------------------------------------------------

    def response(self, st: Statement) -> dict[str, Any]:
        body: dict[str, Any] = {"statement_id": st.id}
        if st.canceled:
            return {**body, "status": {"state": "CANCELED"}}
        if st.pending > 0:
            return {**body, "status": {"state": "PENDING"}}
        if st.error is not None:
            return {**body, "status": {"state": "FAILED", "error": st.error, "sql_state": "42000"}}
        n = self.rows_per_chunk
        chunks = [{"chunk_index": i, "row_offset": i * n, "row_count": len(st.rows[i * n:(i + 1) * n])}
                  for i in range(-(-len(st.rows) // n))]
        manifest = {"format": "JSON_ARRAY", "schema": {"column_count": 1, "columns": [st.column]},
                    "total_chunk_count": len(chunks), "chunks": chunks, "total_row_count": len(st.rows),
                    "truncated": False}
        body.update(status={"state": "SUCCEEDED"}, manifest=manifest)
        if chunks:
            body["result"] = self.chunk(st, 0)
        return body

    def chunk(self, st: Statement, index: int) -> dict[str, Any]:
        n = self.rows_per_chunk
        total = -(-len(st.rows) // n)
        if not 0 <= index < total:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Chunk index {index} is out of range [0, {total}).")
        data = st.rows[index * n:(index + 1) * n]
        out: dict[str, Any] = {"chunk_index": index, "row_offset": index * n, "row_count": len(data),
                               "data_array": data}
        if index + 1 < total:
            out["next_chunk_index"] = index + 1
            out["next_chunk_internal_link"] = f"/api/2.0/sql/statements/{st.id}/result/chunks/{index + 1}"
        return out


class _Failed(Exception):
    """The statement ran and failed: a 200 answer with state FAILED and this message."""


def _text(value: Any) -> str | None:
    """A value as JSON_ARRAY gives it: its string representation, or null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _holds(row: dict[str, Any], cond: tuple[str, str | None, str | None, str | None],
           params: dict[str, str | None]) -> bool:
    col, is_not_null, op, marker = cond
    value = _text(row.get(col))
    if is_not_null:
        return value is not None
    bound = params[marker or ""]
    if value is None or bound is None:
        return False  # a comparison with NULL is not true
    return value == bound if op == "=" else value > bound


def _sql(emu: DatabricksEmulator) -> SqlWarehouses:
    sql = emu.state["sql"]
    assert isinstance(sql, SqlWarehouses)
    return sql


def _statement(emu: DatabricksEmulator, req: Request) -> Statement:
    st = _sql(emu).statements.get(req.groups["id"])
    if st is None:
        raise ApiError(404, "NOT_FOUND", f"Statement {req.groups['id']} not found.")
    return st


def execute_statement(emu: DatabricksEmulator, req: Request) -> Reply:
    try:
        body = json.loads(req.body or b"{}")
    except ValueError:
        raise ApiError(400, "MALFORMED_REQUEST", "Could not parse request object: invalid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_REQUEST", "Could not parse request object: expected an object.")
    sql = _sql(emu)
    with emu.lock:
        sql.executed.append(body)
    statement, warehouse = body.get("statement"), body.get("warehouse_id")
    if not isinstance(statement, str) or not statement.strip():
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "statement is required.")
    if not isinstance(warehouse, str) or not warehouse:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "warehouse_id is required.")
    if warehouse not in sql.warehouses:
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Warehouse {warehouse} does not exist.")
    wait = body.get("wait_timeout", "10s")
    m = re.fullmatch(r"(\d+)s", wait) if isinstance(wait, str) else None
    if m is None or not (int(m.group(1)) == 0 or 5 <= int(m.group(1)) <= 50):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "wait_timeout must be 0s or between 5s and 50s.")
    if body.get("disposition", "INLINE") not in ("INLINE", "EXTERNAL_LINKS"):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Invalid disposition: {body.get('disposition')}.")
    if body.get("disposition", "INLINE") == "INLINE" and body.get("format", "JSON_ARRAY") != "JSON_ARRAY":
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "INLINE disposition supports only the JSON_ARRAY format.")
    if body.get("on_wait_timeout", "CONTINUE") not in ("CONTINUE", "CANCEL"):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "on_wait_timeout must be CONTINUE or CANCEL.")
    params: dict[str, str | None] = {}
    for p in body.get("parameters") or []:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not p["name"]:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "Each parameter needs a name.")
        if "value" in p and p["value"] is not None and not isinstance(p["value"], str):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Parameter {p['name']}: value must be a string, not "
                           f"{type(p['value']).__name__}.")
        if "type" in p and p["type"] not in PARAMETER_TYPES:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Parameter {p['name']}: unknown type {p['type']!r}.")
        params[p["name"]] = p.get("value")
    with emu.lock:
        st = sql.run(statement, params)
        if int(m.group(1)) > 0 and st.pending and body.get("on_wait_timeout") == "CANCEL":
            st.canceled = True
        reply = sql.response(st)
        st.pending = max(0, st.pending - 1)
        return Reply(200, reply)


def get_statement(emu: DatabricksEmulator, req: Request) -> Reply:
    with emu.lock:
        st = _statement(emu, req)
        body = _sql(emu).response(st)
        st.pending = max(0, st.pending - 1)
    return Reply(200, body)


def get_chunk(emu: DatabricksEmulator, req: Request) -> Reply:
    with emu.lock:
        st = _statement(emu, req)
        if st.pending or st.error or st.canceled:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Statement {st.id} has no result: it has not "
                           "succeeded.")
        return Reply(200, _sql(emu).chunk(st, int(req.groups["n"])))


def cancel_statement(emu: DatabricksEmulator, req: Request) -> Reply:
    with emu.lock:
        st = _statement(emu, req)
        if st.pending:
            st.canceled = True
    return Reply(200, {})


ROUTES = [
    Route("POST", "/api/2.0/sql/statements/?", execute_statement),
    Route("GET", r"/api/2.0/sql/statements/(?P<id>[^/]+)", get_statement),
    Route("GET", r"/api/2.0/sql/statements/(?P<id>[^/]+)/result/chunks/(?P<n>\d+)", get_chunk),
    Route("POST", r"/api/2.0/sql/statements/(?P<id>[^/]+)/cancel", cancel_statement),
]
