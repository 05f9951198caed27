"""OAuth M2M and Model Serving in the emulator (tests/databricks_emulator.py): the OIDC discovery document and token
endpoint databricks-sdk uses for a service principal (client credentials, HTTP Basic), tokens whose lifetime a test
chooses (`emu.state["oauth_ttl"]`), and a serving endpoint's state and invocations that accept only issued tokens."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any
from urllib.parse import parse_qs

from tests.databricks_emulator import ApiError, DatabricksEmulator, Reply, Request, Route

CLIENT_ID, CLIENT_SECRET = "sp-client-id", "sp-client-secret"
_tokens = itertools.count(1)


def issued(emu: DatabricksEmulator) -> list[str]:
    return emu.state.setdefault("oauth_tokens", [])


def discovery(emu: DatabricksEmulator, req: Request) -> Reply:
    return Reply(200, {"issuer": f"{emu.url}/oidc", "authorization_endpoint": f"{emu.url}/oidc/v1/authorize",
                       "token_endpoint": f"{emu.url}/oidc/v1/token"})


def token(emu: DatabricksEmulator, req: Request) -> Reply:
    form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
    kind, _, basic = req.headers.get("authorization", "").partition(" ")
    client = base64.b64decode(basic).decode() if kind == "Basic" else ""
    if form.get("grant_type") != "client_credentials" or client != f"{CLIENT_ID}:{CLIENT_SECRET}":
        return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    access = f"oauth-token-{next(_tokens)}"
    with emu.lock:
        emu.tokens.add(access)
        issued(emu).append(access)
        emu.state.setdefault("principals", {})[access] = CLIENT_ID
    return Reply(200, {"access_token": access, "token_type": "Bearer", "scope": form.get("scope", ""),
                       "expires_in": emu.state.get("oauth_ttl", 3600)})


def endpoint_state(emu: DatabricksEmulator, req: Request) -> Reply:
    return Reply(200, {"name": req.groups["name"], "state": {"ready": "READY", "config_update": "NOT_UPDATING"}})


def invoke(emu: DatabricksEmulator, req: Request) -> Reply:
    if not emu.authorized(req):
        raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
    records = json.loads(req.body)["dataframe_records"]
    answer: list[Any] = [[{"label": "car", "confidence": 0.9, "bbox": [0.1, 0.1, 0.2, 0.2]}] for _ in records]
    emu.state.setdefault("invocations", []).append(req.headers["authorization"])
    return Reply(200, {"predictions": answer})


OAUTH_ROUTES = [
    Route("GET", r"/oidc/\.well-known/oauth-authorization-server", discovery),
    Route("POST", r"/oidc/v1/token", token),
    Route("GET", r"/api/2\.0/serving-endpoints/(?P<name>[^/]+)", endpoint_state),
    Route("POST", r"/serving-endpoints/(?P<name>[^/]+)/invocations", invoke),
]
