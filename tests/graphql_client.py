"""The one GraphQL client of the tests and benchmarks. Any httpx client posts the operation: Starlette's TestClient
(one is an httpx.Client), a live server's or the Apps proxy's httpx.Client, with whatever headers it carries.
`gql` returns the data and fails on any error; `gql_error` returns the first error of an operation that must fail."""

from __future__ import annotations

from typing import Any

import httpx


def gql_raw(http: httpx.Client, query: str, *, headers: dict[str, str] | None = None,
            **variables: Any) -> dict[str, Any]:
    """The whole answer (data and errors) of a request the server answered with 200."""
    r = http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def data_of(body: dict[str, Any]) -> dict[str, Any]:
    assert not body.get("errors"), body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def gql(http: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    """Run an operation and return its data; any GraphQL error fails the test with its message."""
    return data_of(gql_raw(http, query, **variables))


def gql_error(http: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    """Run an operation that must fail; returns the first error (message + extensions)."""
    body = gql_raw(http, query, **variables)
    assert body.get("errors"), f"expected an error, got {body}"
    error: dict[str, Any] = body["errors"][0]
    return error


async def agql(http: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    """gql for an async client (tests that keep requests in flight at once)."""
    r = await http.post("/graphql", json={"query": query, "variables": variables})
    assert r.status_code == 200, r.text
    return data_of(r.json())
