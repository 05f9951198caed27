"""API-wide properties: committed SDL matches, the contract's names exist, the gallery query's SQL count is flat."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLEnumType, build_schema
from sqlalchemy import event
from starlette.testclient import TestClient

from schema.build import schema
from tests.client_queries import client_queries
from tests.conftest import create_project, gql, gql_error, make_images

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "schema" / "contract.graphql"  # a copy of ../shared/api/contract.graphql, kept in the repo
SHARED_CONTRACT = ROOT.parent / "shared" / "api" / "contract.graphql"

GALLERY = """query Gallery($id: ID!, $status: SampleStatus, $first: Int, $after: String) {
  project(id: $id) { id name stats { total labeled }
    samples(status: $status, first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { cursor node { id filename status width height version thumbnailUrl(size: 256)
        annotations { id label kind box { x y w h } isDraft } } } } } }"""


def test_committed_sdl_matches_the_schema() -> None:
    committed = (ROOT / "schema" / "schema.graphql").read_text()
    assert committed.strip() == schema.as_str().strip(), "schema changed: run `make schema` and commit it"


# Contract names that later issues add; each entry leaves this list when it is built.
PENDING: set[str] = set()


def test_vendored_contract_is_current() -> None:
    """Where the shared contract sits beside the checkout, our copy must be identical to it."""
    if SHARED_CONTRACT.exists():
        assert CONTRACT.read_text() == SHARED_CONTRACT.read_text(), "copy ../shared/api/contract.graphql to schema/"


def test_contract_names_and_types_match() -> None:
    """Every type, field, argument and enum value of the public contract exists with the same type here."""
    contract = build_schema(CONTRACT.read_text())
    ours = schema._schema
    for name, ctype in contract.type_map.items():
        if name.startswith("__") or name in PENDING:
            assert name.startswith("__") or name not in ours.type_map, f"{name} is built: remove it from PENDING"
            continue
        otype = ours.type_map.get(name)
        assert otype is not None, f"contract type {name} missing"
        if isinstance(ctype, GraphQLEnumType):
            assert set(ctype.values) <= set(otype.values), name
        if not hasattr(ctype, "fields"):
            continue
        for fname, cfield in ctype.fields.items():
            if f"{name}.{fname}" in PENDING:
                continue
            ofield = otype.fields.get(fname)
            assert ofield is not None, f"{name}.{fname} missing"
            assert str(ofield.type) == str(cfield.type), f"{name}.{fname}: {ofield.type} != {cfield.type}"
            for aname, carg in getattr(cfield, "args", {}).items():
                oarg = ofield.args.get(aname)
                assert oarg is not None, f"{name}.{fname}({aname}) missing"
                assert str(oarg.type) == str(carg.type), f"{name}.{fname}({aname}): {oarg.type} != {carg.type}"


def _count_statements(client: TestClient) -> list[str]:
    """The statements the app sends from now on, but the job runner's on the jobs table: it looks for queued jobs
    every two seconds whatever the requests do (one such look landing in a request's window failed a run)."""
    seen: list[str] = []
    engine = client.app.state.services.db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("BEGIN") and not re.search(r"\bjobs\b", statement):
            seen.append(statement)

    return seen


def _client_document(where: str) -> str:
    """The client's own document written at `where` (its file, relative to client/src)."""
    return next(q.document for q in client_queries() if q.where.startswith(f"{where}:"))


@pytest.mark.parametrize("document", [GALLERY, _client_document("components/Gallery.svelte")],
                         ids=["api", "client"])
def test_gallery_sql_count_does_not_grow_with_page_size(client: TestClient, images_dir: Path, document: str) -> None:
    """The gallery's page, as the API's example and as the client's own query, costs the same statements for 10
    samples as for 100."""
    make_images(images_dir, [f"img{i:03}.jpg" for i in range(120)], size=(8, 8))
    project = create_project(client)
    seen = _count_statements(client)
    small = gql(client, document, id=project["id"], first=10)
    n_small = len(seen)
    seen.clear()
    big = gql(client, document, id=project["id"], first=100)
    n_big = len(seen)
    assert len(small["project"]["samples"]["edges"]) == 10 and len(big["project"]["samples"]["edges"]) == 100
    assert n_big == n_small, (n_small, n_big)
    assert n_big <= 6  # project, its classes for stats, counters, page, count (from counters), annotations


def test_keyset_pagination_walks_every_sample_once(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, [f"p{i:02}.png" for i in range(25)], size=(4, 4))
    project = create_project(client)
    seen, after = [], None
    while True:
        page = gql(client, GALLERY, id=project["id"], first=7, after=after)["project"]["samples"]
        seen += [e["node"]["filename"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == [f"p{i:02}.png" for i in range(25)] and len(set(seen)) == 25
    assert gql_error(client, GALLERY, id=project["id"], after="zzz")["extensions"]["code"] == "VALIDATION"


def test_filters(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["Cat_1.jpg", "cat_2.jpg", "dog.jpg", "100%_done.jpg"], size=(4, 4))
    project = create_project(client)
    q = """query($id: ID!, $f: String, $s: SampleStatus){ project(id: $id){ samples(filename: $f, status: $s){
        totalCount edges { node { filename } } } } }"""
    got = gql(client, q, id=project["id"], f="CAT")["project"]["samples"]
    assert got["totalCount"] == 2 and {e["node"]["filename"] for e in got["edges"]} == {"Cat_1.jpg", "cat_2.jpg"}
    assert gql(client, q, id=project["id"], f="%")["project"]["samples"]["totalCount"] == 1
    assert gql(client, q, id=project["id"], f="_")["project"]["samples"]["totalCount"] == 3
    assert gql(client, q, id=project["id"], s="LABELED")["project"]["samples"]["totalCount"] == 0
    assert gql(client, q, id=project["id"], s="UNLABELED")["project"]["samples"]["totalCount"] == 4


def test_unknown_ids_and_masked_errors(client: TestClient) -> None:
    assert gql(client, '{ project(id: "424242") { id } sample(id: "nope") { id } job(id: "7") { id } }') == {
        "project": None, "sample": None, "job": None}
    err = gql_error(client, "{ projects { nosuchfield } }")
    assert err["extensions"]["code"] == "VALIDATION"


def test_me_and_health(client: TestClient) -> None:
    assert gql(client, "{ me { name isAdmin } }")["me"] == {"name": "alice", "isAdmin": True}
    assert client.get("/health").json() == {"status": "ok"}


def test_instance_shows_backend_mounts_users_and_no_password(client: TestClient) -> None:
    data = gql(client, "{ instance { backend database authMode mounts maxImagePixels users { name isAdmin } } }")
    inst = data["instance"]
    assert inst["backend"] in ("sqlite", "postgresql")
    assert inst["authMode"] == "local" and "/Volumes/test/cvx/images" in inst["mounts"]
    assert [u["name"] for u in inst["users"]] == ["alice"] and inst["users"][0]["isAdmin"]
    assert inst["database"].startswith(inst["backend"])


def test_database_urls_are_shown_without_passwords() -> None:
    from db.engine import redacted_url

    shown = redacted_url("postgresql://app:s3cret@db.example.com:5432/labels")
    assert "s3cret" not in shown and "db.example.com" in shown and "***" in shown
