"""Projects whose images are listed from a Unity Catalog table: the reader against the emulated Statement Execution
API (keyset pages, result chunks, polling, failures in the warehouse's words), then the app end to end on both
databases: create from a table with a filter, refused paths counted, an incremental sync that adds new rows and marks
vanished ones missing without touching labels, and every malformed input answered VALIDATION."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk import errors as sdk_errors
from databricks.sdk.service.sql import StatementParameterListItem
from starlette.testclient import TestClient

from db.errors import Invalid, NotFound, Unavailable
from jobs import table_sync
from server import create_app
from settings import Settings
from tests.conftest import gql, gql_error, make_images, wait_for_job
from tests.databricks_emulator import DatabricksEmulator
from tests.emulated_sql import SqlWarehouses
from volumes.table_sources import table_source
from volumes.unity_catalog import connect
from volumes.warehouse import WarehouseTables

FOLDER = "/Volumes/test/cvx/images"
TABLE = "main.vision.frames"
WAREHOUSE = "wh-test"


def _rows(names: list[str], split: str = "train") -> list[dict]:
    return [{"image_path": f"{FOLDER}/{n}", "split": split, "frame": i} for i, n in enumerate(names)]


# -- the reader, on the emulated warehouse ---------------------------------------------------------------------------


@pytest.fixture
def warehouse(databricks: DatabricksEmulator) -> SqlWarehouses:
    return SqlWarehouses(databricks, WAREHOUSE, rows_per_chunk=3, pending_polls=2)


def _reader(emu: DatabricksEmulator, warehouse_id: str = WAREHOUSE, **kw: float) -> WarehouseTables:
    client = connect(host=emu.url, token=emu.token, retry_seconds=3, longest_wait=0.2)
    return WarehouseTables(client, warehouse_id, page_rows=10, poll_seconds=0.02, **kw)  # type: ignore[arg-type]


def test_paths_come_in_keyset_pages_of_chunks_after_polling(databricks: DatabricksEmulator,
                                                            warehouse: SqlWarehouses) -> None:
    rows = _rows([f"{i:03}.jpg" for i in range(25)]) + _rows([f"t{i}.jpg" for i in range(5)], split="test")
    warehouse.add_table(TABLE, {"image_path": "STRING", "split": "STRING", "frame": "INT"},
                        [*rows, rows[3], {"image_path": None, "split": "train"}])  # a duplicate and a NULL
    chunks = list(_reader(databricks).paths(table_source(TABLE, "image_path", [("split", "train")])))
    got = [p for chunk in chunks for p in chunk]
    assert got == [f"{FOLDER}/{i:03}.jpg" for i in range(25)]
    assert max(map(len, chunks)) == 3  # the warehouse's chunks, as they came
    executed = warehouse.executed
    assert len(executed) == 3  # pages of 10, 10 and 5 rows: the short one ends the listing
    assert [p["value"] for p in executed[1]["parameters"]] == [f"{FOLDER}/009.jpg", "train"]
    assert "train" not in executed[0]["statement"] and "LIMIT 10" in executed[0]["statement"]
    assert executed[0]["wait_timeout"] == "30s" and executed[0]["disposition"] == "INLINE"
    polls = databricks.calls("GET", "/api/2.0/sql/statements/")
    assert sum("/result/chunks/" not in c.path for c in polls) == 6  # PENDING on execute and on the first poll
    assert sum("/result/chunks/" in c.path for c in polls) == 3 + 3 + 1  # chunks after the first of each page


def test_failures_carry_the_warehouses_words(databricks: DatabricksEmulator, warehouse: SqlWarehouses) -> None:
    warehouse.add_table(TABLE, {"image_path": "STRING"}, [])
    reader = _reader(databricks)
    with pytest.raises(Invalid, match=r"TABLE_OR_VIEW_NOT_FOUND.*`main`\.`vision`\.`nope`"):
        list(reader.paths(table_source("main.vision.nope", "image_path")))
    with pytest.raises(Invalid, match=r"UNRESOLVED_COLUMN.*`path`"):
        list(reader.paths(table_source(TABLE, "path")))
    with pytest.raises(NotFound, match=r"Warehouse wh-gone does not exist.*DATABRICKS_WAREHOUSE_ID"):
        list(_reader(databricks, "wh-gone").paths(table_source(TABLE, "image_path")))
    assert list(reader.paths(table_source(TABLE, "image_path"))) == []  # an empty table lists nothing


def test_a_statement_that_outlasts_the_deadline_is_cancelled(databricks: DatabricksEmulator,
                                                            warehouse: SqlWarehouses) -> None:
    warehouse.add_table(TABLE, {"image_path": "STRING"}, _rows(["a.jpg"]))
    warehouse.pending_polls = 10**6
    with pytest.raises(Unavailable, match="did not finish"):
        list(_reader(databricks, deadline_seconds=0.2).paths(table_source(TABLE, "image_path")))
    [cancel] = databricks.calls("POST", "/api/2.0/sql/statements/01ef")
    assert cancel.path.endswith("/cancel") and next(iter(warehouse.statements.values())).canceled


def test_the_emulator_refuses_what_the_service_refuses(databricks: DatabricksEmulator,
                                                       warehouse: SqlWarehouses) -> None:
    statements = connect(host=databricks.url, token=databricks.token, retry_seconds=3).statement_execution
    warehouse.add_table(TABLE, {"image_path": "STRING"}, _rows(["a.jpg"]))
    sql = "SELECT `image_path` FROM `main`.`vision`.`frames` WHERE `image_path` = :p"
    with pytest.raises(sdk_errors.BadRequest, match="value must be a string"):
        statements.execute_statement(sql, WAREHOUSE, parameters=[StatementParameterListItem("p", value=5)])  # type: ignore[arg-type]
    with pytest.raises(sdk_errors.BadRequest, match="unknown type"):
        statements.execute_statement(sql, WAREHOUSE, parameters=[StatementParameterListItem("p", "x", "TEXT")])
    with pytest.raises(sdk_errors.BadRequest, match="wait_timeout"):
        statements.execute_statement(sql, WAREHOUSE, wait_timeout="60s")
    unbound = statements.execute_statement(sql, WAREHOUSE, wait_timeout="5s")
    while unbound.status and unbound.status.state and unbound.status.state.value == "PENDING":
        unbound = statements.get_statement(unbound.statement_id or "")
    assert unbound.status and unbound.status.error and "UNBOUND_SQL_PARAMETER" in (unbound.status.error.message or "")
    with pytest.raises(sdk_errors.NotFound):
        statements.get_statement("no-such-statement")


@pytest.mark.parametrize(("table", "column", "filters", "field"), [
    ("main.vision", "image_path", [], "table"),
    ("main.vision.frames; DROP TABLE x", "image_path", [], "table"),
    (TABLE, "image_path` FROM x --", [], "column"),
    (TABLE, "image_path", [("split = 'a' OR 1", "train")], "filter"),
    (TABLE, "image_path", [("split", "x" * 1001)], "filter"),
    (TABLE, "image_path", [("split", "a")] * 11, "filter"),
])
def test_identifiers_and_filters_are_checked(table: str, column: str, filters: list, field: str) -> None:
    with pytest.raises(Invalid) as refused:
        table_source(table, column, filters)
    assert refused.value.extensions["field"] == field


# -- the app ------------------------------------------------------------------------------------------------------


@pytest.fixture
def table_app(settings: Settings, databricks: DatabricksEmulator) -> Iterator[tuple[TestClient, SqlWarehouses]]:
    """The app with DATABRICKS_WAREHOUSE_ID on the emulated workspace; images stay on the local mount."""
    warehouse = SqlWarehouses(databricks, WAREHOUSE, rows_per_chunk=4, pending_polls=1)
    configured = dataclasses.replace(settings, databricks_host=databricks.url, serving_token=databricks.token,
                                     warehouse_id=WAREHOUSE)
    with TestClient(create_app(configured)) as client:
        yield client, warehouse


CREATE = """mutation($input: CreateProjectInput!){ createProject(input: $input){ id sourceVolume
  sourceTable { table column filter { column value } } } }"""
SAMPLES = """query($p: ID!){ project(id: $p){ samples(first: 50){ edges { node { id filename path missing
  annotations { label } } } } } }"""
JOBS = "query($p: ID!){ jobs(projectId: $p){ id kind } }"
RESCAN = "mutation($p: ID!){ rescanProject(id: $p){ id } }"
CLASSIFY = 'mutation($s: ID!, $l: [String!]!){ setClassification(sampleId: $s, labels: $l){ id } }'


def _create(client: TestClient, **table: object) -> dict:
    source = {"table": TABLE, "column": "image_path", "filter": [{"column": "split", "value": "train"}], **table}
    return gql(client, CREATE, input={"name": "Frames", "taskType": "CLASSIFICATION", "classes": ["cat", "dog"],
                                      "sourceVolume": FOLDER, "sourceTable": source})["createProject"]


def _nodes(client: TestClient, pid: str) -> dict[str, dict]:
    return {e["node"]["filename"]: e["node"] for e in gql(client, SAMPLES, p=pid)["project"]["samples"]["edges"]}


def test_a_project_from_a_table_syncs_incrementally(table_app: tuple[TestClient, SqlWarehouses],
                                                    images_dir: Path) -> None:
    client, warehouse = table_app
    make_images(images_dir, ["a/1.jpg", "a/2.jpg"])
    rows = _rows(["a/1.jpg", "a/2.jpg", "b/3.png", "b/4.webp", "b/5.jpg"]) + _rows(["t/9.jpg"], split="test") + [
        {"image_path": "/Volumes/test/cvx/exports/x.jpg", "split": "train"},  # another folder
        {"image_path": "s3://bucket/y.jpg", "split": "train"},  # not a volume path
        {"image_path": f"{FOLDER}/../exports/z.jpg", "split": "train"},  # a way out
        {"image_path": f"{FOLDER}/notes.txt", "split": "train"},  # not an image
    ]
    warehouse.add_table(TABLE, {"image_path": "STRING", "split": "STRING", "frame": "INT"}, rows)
    project = _create(client)
    assert project["sourceTable"] == {"table": TABLE, "column": "image_path",
                                      "filter": [{"column": "split", "value": "train"}]}
    [job] = gql(client, JOBS, p=project["id"])["jobs"]
    done = wait_for_job(client, job["id"])
    result = done["result"]
    assert (job["kind"], done["status"]) == ("SCAN", "SUCCEEDED")
    assert {k: result[k] for k in ("rowsRead", "imagesFound", "samplesAdded", "missing", "refused")} == {
        "rowsRead": 9, "imagesFound": 5, "samplesAdded": 5, "missing": 0, "refused": 4}
    reasons = {e["path"]: e["reason"] for e in result["refusedExamples"]}
    assert "outside the project's image folder" in reasons["/Volumes/test/cvx/exports/x.jpg"]
    assert "not a volume path" in reasons["s3://bucket/y.jpg"] and "'..'" in reasons[f"{FOLDER}/../exports/z.jpg"]
    assert reasons[f"{FOLDER}/notes.txt"] == "not an image file"
    assert all("train" not in body["statement"] for body in warehouse.executed)  # values travel as parameters
    nodes = _nodes(client, project["id"])
    assert sorted(nodes) == ["a/1.jpg", "a/2.jpg", "b/3.png", "b/4.webp", "b/5.jpg"]
    assert client.get(f"/media/samples/{nodes['a/1.jpg']['id']}/thumbnail").status_code == 200
    gql(client, CLASSIFY, s=nodes["b/3.png"]["id"], l=["dog"])

    _, table_rows = warehouse.tables[("main", "vision", "frames")]
    table_rows[:] = [r for r in table_rows if not r["image_path"].endswith("3.png")] + _rows(["c/6.jpg"])
    result = wait_for_job(client, gql(client, RESCAN, p=project["id"])["rescanProject"]["id"])["result"]
    assert (result["samplesAdded"], result["missing"], result["foundAgain"]) == (1, 1, 0)
    nodes = _nodes(client, project["id"])
    assert nodes["b/3.png"]["missing"] and nodes["b/3.png"]["annotations"] == [{"label": "dog"}]  # label kept
    assert "c/6.jpg" in nodes

    table_rows.extend(_rows(["b/3.png"]))
    result = wait_for_job(client, gql(client, RESCAN, p=project["id"])["rescanProject"]["id"])["result"]
    assert (result["samplesAdded"], result["missing"], result["foundAgain"]) == (0, 0, 1)

    moved = gql_error(client, """mutation($p: ID!){ changeSourceFolder(projectId: $p,
        sourceVolume: "/Volumes/test/cvx/exports"){ id } }""", p=project["id"])
    assert moved["extensions"]["code"] == "VALIDATION" and "Sync from table" in moved["message"]


def test_a_failing_table_fails_the_job_in_the_warehouses_words(table_app: tuple[TestClient, SqlWarehouses],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    client, warehouse = table_app
    project = _create(client, table="main.vision.missing")
    [job] = gql(client, JOBS, p=project["id"])["jobs"]
    done = wait_for_job(client, job["id"])
    assert done["status"] == "FAILED" and "TABLE_OR_VIEW_NOT_FOUND" in done["error"]
    # a value that looks like SQL is only a value: it matches no row
    warehouse.add_table(TABLE, {"image_path": "STRING", "split": "STRING"}, _rows(["a.jpg"]))
    other = gql(client, CREATE, input={"name": "Quoted", "taskType": "DETECTION", "classes": ["cat"],
                                       "sourceVolume": FOLDER, "sourceTable": {
                                           "table": TABLE, "column": "image_path",
                                           "filter": [{"column": "split", "value": "x' OR '1'='1"}]}})
    [job] = gql(client, JOBS, p=other["createProject"]["id"])["jobs"]
    assert wait_for_job(client, job["id"])["result"]["samplesAdded"] == 0
    # too many rows: the sync stops saying so, keeps what it added and marks nothing missing
    monkeypatch.setattr(table_sync, "MAX_ROWS", 3)
    warehouse.add_table(TABLE, {"image_path": "STRING", "split": "STRING"}, _rows([f"{i}.jpg" for i in range(6)]))
    big = gql(client, CREATE, input={"name": "Big", "taskType": "DETECTION", "classes": ["cat"],
                                     "sourceVolume": FOLDER, "sourceTable": {"table": TABLE, "column": "image_path"}})
    [job] = gql(client, JOBS, p=big["createProject"]["id"])["jobs"]
    done = wait_for_job(client, job["id"])
    assert done["status"] == "FAILED" and "lists more than 3 paths" in done["error"]
    assert "The 4 new images read so far were added" in done["error"]  # the first chunk of 4


def test_malformed_table_sources_are_validation(table_app: tuple[TestClient, SqlWarehouses]) -> None:
    client, _ = table_app
    for table, message in ((TABLE.replace(".", "/"), "catalog.schema.table"), ("a.b.c`d", "not a valid table")):
        error = gql_error(client, CREATE, input={"name": "Bad", "taskType": "DETECTION", "classes": ["cat"],
                                                 "sourceVolume": FOLDER,
                                                 "sourceTable": {"table": table, "column": "p"}})
        assert error["extensions"]["code"] == "VALIDATION" and message in error["message"]
    assert gql(client, "{ projects { name } }")["projects"] == []


def test_without_a_warehouse_a_table_project_is_unavailable(client: TestClient) -> None:
    error = gql_error(client, CREATE, input={"name": "T", "taskType": "DETECTION", "classes": ["cat"],
                                             "sourceVolume": FOLDER,
                                             "sourceTable": {"table": TABLE, "column": "image_path"}})
    assert error["extensions"]["code"] == "UNAVAILABLE" and "DATABRICKS_WAREHOUSE_ID" in error["message"]
