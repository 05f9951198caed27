"""Helpers for multi-user tests: an AUTH_MODE=token app whose users call it with their own API tokens."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from db import auth, users
from db.engine import sync_url
from server import create_app
from settings import Settings
from tests.graphql_client import data_of, gql_raw
from tests.waiting import until_ended

PEOPLE = {"root": True, "alice": False, "bob": False, "carol": False, "dave": False}  # name -> instance admin


def add_users(database_url: str, people: dict[str, bool], password: str | None = None) -> dict[str, str]:
    """Create the users (straight through db/, with this password if given) and one API token each; returns
    name -> token."""
    engine = create_engine(sync_url(database_url))
    hashed = auth.hash_password(password) if password else None
    try:
        with Session(engine) as session, session.begin():
            tokens = {}
            for name, admin in people.items():
                users.create_user(session, name, is_admin=admin, password_hash=hashed)
                tokens[name] = auth.create_token(session, name, "tests")[0]
            return tokens
    finally:
        engine.dispose()


class Caller:
    """One user's view of the API: GraphQL and plain HTTP with their bearer token."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    def raw(self, query: str, **variables: Any) -> dict[str, Any]:
        return gql_raw(self.client, query, headers=self.headers, **variables)

    def raw_status(self, query: str) -> int:
        return self.client.post("/graphql", json={"query": query}, headers=self.headers).status_code

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        return data_of(self.raw(query, **variables))

    def error(self, query: str, **variables: Any) -> dict[str, Any]:
        body = self.raw(query, **variables)
        assert body.get("errors"), f"expected an error, got {body}"
        return body["errors"][0]

    def code(self, query: str, **variables: Any) -> str:
        return self.error(query, **variables)["extensions"]["code"]

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path, headers=self.headers)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def project(self, name: str, classes: list[str] | None = None, task: str = "DETECTION") -> str:
        """Create a project on the test images (an admin's call) and wait for its scan."""
        pid = self("""mutation($i: CreateProjectInput!){ createProject(input: $i){ id } }""",
                   i={"name": name, "taskType": task, "classes": classes or ["cat", "dog"],
                      "sourceVolume": "/Volumes/test/cvx/images"})["createProject"]["id"]
        scan = until_ended(lambda: self("query($p: ID!){ jobs(projectId: $p){ status error } }", p=pid)["jobs"][0])
        assert scan["status"] == "SUCCEEDED", scan
        return pid

    def sample_ids(self, project_id: str) -> list[str]:
        q = "query($p: ID!){ project(id: $p){ samples(first: 100){ edges { node { id } } } } }"
        return [e["node"]["id"] for e in self(q, p=project_id)["project"]["samples"]["edges"]]

    def user_id(self, name: str) -> str:
        """A user's id (an admin's call)."""
        users = self("{ instance { users { id name } } }")["instance"]["users"]
        return next(u["id"] for u in users if u["name"] == name)

    def share(self, path: str, user: str) -> None:
        """Share a volume path with a user (an admin's call)."""
        self("mutation($p: String!, $u: ID!){ shareVolume(path: $p, userId: $u){ id } }", p=path, u=self.user_id(user))

    def add(self, project_id: str, user: str, role: str) -> None:
        self("mutation($p: ID!, $u: String!, $r: ProjectRole!){ setProjectMember(projectId: $p, userName: $u, "
             "role: $r){ role } }", p=project_id, u=user, r=role)


class Team:
    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def __getitem__(self, name: str) -> Caller:
        return Caller(self.client, self.tokens[name])


@contextmanager
def team_app(settings: Settings, people: dict[str, bool] | None = None, **changes: Any) -> Iterator[Team]:
    """The real app in AUTH_MODE=token (or another mode via changes) with these users."""
    s = dataclasses.replace(settings, **{"auth_mode": "token", **changes})
    tokens = add_users(s.database_url, PEOPLE if people is None else people)
    with TestClient(create_app(s)) as client:
        yield Team(client, tokens)
