"""The GraphQL cost budget: hostile nesting and aliased big pages are refused before any resolver runs, every query
the client sends fits with room to spare, and `first` counts whether literal, variable or default."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLList, GraphQLObjectType, get_named_type, get_nullable_type, parse, validate
from starlette.testclient import TestClient

from schema import cost
from schema.build import schema
from server import create_app
from settings import Settings
from tests.client_queries import client_queries
from tests.conftest import create_project, gql, gql_error, gql_raw, make_images

LIMIT = Settings().graphql_max_cost
SAMPLES_X3 = "query($p: ID!){ " + " ".join(
    f"a{i}: project(id: $p){{ samples(first: 500){{ edges {{ node {{ id filename annotations {{ id label box "
    f"{{ x y w h }} }} history {{ action label actor at }} }} }} }} }}" for i in range(3)) + " }"


def _nested_versions(depth: int) -> str:
    return "{ projects { " + "versions { " * depth + "id name" + " }" * depth + " } }"


def _estimate(query: str, variables: dict[str, Any] | None = None) -> int:
    return cost.estimate(schema._schema, parse(query), None, variables)


@pytest.fixture
def busy(client: TestClient, images_dir: Path) -> dict[str, Any]:
    """A project with labelled samples (annotations and history) and two later versions."""
    make_images(images_dir, [f"{i:02}.jpg" for i in range(12)])
    project = create_project(client)
    edges = gql(client, "query($p: ID!){ project(id: $p){ samples { edges { node { id } } } } }",
                p=project["id"])["project"]["samples"]["edges"]
    box = {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}
    for e in edges:
        for label in ("cat", "dog"):  # two saves: history grows
            gql(client, "mutation($s: ID!, $a: [AnnotationInput!]!){ saveAnnotations(sampleId: $s, annotations: $a)"
                        "{ version } }", s=e["node"]["id"], a=[{"label": label, "kind": "BBOX", "box": box}] * 3)
    for _ in range(2):
        gql(client, "mutation($id: ID!){ cloneProject(id: $id){ id } }", id=project["id"])
    return project


def _refused(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    took = []
    for _ in range(3):  # the fastest of three: a loaded machine may stall any one request; a refusal that did
        t0 = time.perf_counter()  # the query's work would be slow every time
        err = gql_error(client, query, **variables)
        took.append(time.perf_counter() - t0)
        if took[-1] < 1.0:
            break
    assert min(took) < 1.0, f"refusing costs next to nothing: {took}"
    assert err["extensions"]["code"] == "VALIDATION", err
    assert "GRAPHQL_MAX_COST" in err["message"] and f"{LIMIT:,}" in err["message"], err["message"]
    assert err["extensions"]["cost"] > LIMIT == err["extensions"]["maxCost"]
    assert f"{err['extensions']['cost']:,}" in err["message"]
    return err


def test_the_reported_attacks_are_refused_before_any_resolver_runs(client: TestClient, busy: dict[str, Any]) -> None:
    _refused(client, _nested_versions(8))  # under GRAPHQL_MAX_DEPTH, 20^8 versions
    _refused(client, SAMPLES_X3, p=busy["id"])
    one = SAMPLES_X3.split(" a1:")[0] + " }"
    _refused(client, one, p=busy["id"])  # one of the three alone is over too (500 samples, their full history)
    # the same cost, spelled with fragments, is the same refusal
    frag = ("fragment V on Project { versions { versions { versions { id } } } } "
            "{ projects { ...V versions { ...V } } }")
    assert _estimate(frag) == _estimate("{ projects { versions { versions { versions { id } } } "
                                        "versions { versions { versions { versions { id } } } } } }")
    _refused(client, frag)
    # nothing ran: the versions made by the fixture are all there is, and an admitted query still answers
    assert len(gql(client, _nested_versions(1))["projects"]) == 3


def test_a_variable_driven_first_is_counted(client: TestClient, busy: dict[str, Any]) -> None:
    q = ("query($p: ID!, $n: Int){ project(id: $p){ samples(first: $n){ edges { node { id annotations { label } "
         "history { action actor } } } } } }")
    assert _estimate(q, {"n": 10}) * 10 == pytest.approx(_estimate(q, {"n": 100}), rel=0.01)
    edges = gql(client, q, p=busy["id"], n=10)["project"]["samples"]["edges"]
    assert len(edges) == 10 and edges[0]["node"]["history"]
    err = _refused(client, q, p=busy["id"], n=500)
    assert err["extensions"]["cost"] == _estimate(q, {"n": 500})
    with_default = q.replace("$n: Int)", "$n: Int = 500)")
    _refused(client, with_default, p=busy["id"])  # the variable's default counts
    assert gql(client, with_default, p=busy["id"], n=5)["project"]["samples"]["edges"]  # a value wins over it
    # left out (or null): the field's own default page, 50
    assert _estimate(q) == _estimate(q, {"n": None}) == _estimate(q, {"n": 50})
    literal = q.replace("first: $n", "first: 500").replace(", $n: Int", "")
    _refused(client, literal, p=busy["id"])


def test_every_query_the_client_sends_fits_the_budget_with_room() -> None:
    queries = client_queries()
    assert len(queries) > 50  # gql(...) and subscribe(...) calls of client/src
    gallery = next(q for q in queries if q.where.startswith("components/Gallery.svelte"))
    assert gallery.numbers, "the gallery's page size is read from the source (first: PAGE)"
    for q in queries:
        doc = parse(q.document)
        assert not validate(schema._schema, doc), q.where
        spent = cost.estimate(schema._schema, doc, None, q.numbers)
        assert spent <= LIMIT // 4, f"{q.where} costs {spent:,}: more than a quarter of GRAPHQL_MAX_COST"


def test_the_client_queries_pass_through_the_app(client: TestClient, busy: dict[str, Any]) -> None:
    """Through the real app with the numbers the client passes; operations whose other variables are missing stop
    at variable coercion, after the cost check, so no mutation runs."""
    for q in client_queries():
        if q.document.lstrip().startswith("subscription"):
            continue  # over HTTP they are refused anyway; their cost is checked above
        body = gql_raw(client, q.document, **q.numbers)
        for e in body.get("errors") or ():
            assert "GRAPHQL_MAX_COST" not in e["message"] and e["extensions"]["code"] != "INTERNAL", (q.where, e)
        if q.document.lstrip().startswith("mutation"):
            assert body.get("data") is None, f"{q.where} ran: give it a required variable the test leaves out"


def test_every_list_in_the_schema_has_a_size() -> None:
    """A list of objects is either paged by `first` or has an assumed size: none falls back to the default."""
    for type_ in schema._schema.type_map.values():
        if type_.name.startswith("__") or not isinstance(type_, GraphQLObjectType):
            continue
        for name, field in type_.fields.items():
            returned = get_nullable_type(field.type)
            key = f"{type_.name}.{name}"
            if isinstance(returned, GraphQLList) and isinstance(get_named_type(returned), GraphQLObjectType):
                assert key in cost.LIST_SIZES or "first" in field.args or key in cost.PAGED_LISTS, key
    for key in [*cost.LIST_SIZES, *cost.PAGED_LISTS, *cost.WEIGHTS, *cost.UNPAGED]:
        type_name, field_name = key.split(".")
        assert field_name in schema._schema.type_map[type_name].fields, f"{key} is not in the schema"


def test_aliases_add_up_and_connections_page_their_edges() -> None:
    page = "query($p: ID!){ project(id: $p){ samples(first: 10){ edges { node { id } } } } }"
    assert _estimate(page) == 1 + 10 + 1 + 10 * (1 + 1)  # project, samples (weight 10), edges, 10 nodes with id
    body = page.removeprefix("query($p: ID!){ ").removesuffix(" }")
    three = "query($p: ID!){ " + " ".join(f"a{i}: {body}" for i in range(3)) + " }"
    assert _estimate(three) == 3 * _estimate(page)
    assert _estimate("{ browse(path: \"/Volumes\") { entries { name } } }") == 10 + 1 + 1000  # without first: all
    assert _estimate("{ browse(path: \"/Volumes\", first: 5) { entries { name } } }") == 10 + 1 + 5
    assert _estimate("{ __schema { types { name fields { name } } } }") == 0  # local mode's GraphiQL


def test_the_budget_is_a_setting(settings: Settings) -> None:
    assert Settings.from_env({"GRAPHQL_MAX_COST": "1234"}).graphql_max_cost == 1234
    assert Settings.from_env({}).graphql_max_cost == LIMIT == 50_000
    with pytest.raises(ValueError, match="GRAPHQL_MAX_COST"):
        Settings.from_env({"GRAPHQL_MAX_COST": "many"})
    with TestClient(create_app(dataclasses.replace(settings, graphql_max_cost=100))) as c:
        assert gql(c, "{ me { name } }")
        err = gql_error(c, "{ projects { id versions { id } } }")
        assert "the limit is 100 (GRAPHQL_MAX_COST)" in err["message"]
        assert err["extensions"]["cost"] == 1 + 100 * (2 + 20)  # 100 projects, each with id and 20 versions
