"""Who is calling, by AUTH_MODE: the single local user; a browser session cookie or an API token (token); the
Databricks Apps proxy's X-Forwarded-* headers (databricks), keyed on the stable user id. Nothing else in a request is
trusted: in local and token mode those headers are ignored, and X-Forwarded-Access-Token is never read, logged or
stored in any mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import ConnectionRejectionError

from db import auth, users
from db.errors import Unauthenticated
from schema.context import Context
from schema.services import CurrentUser, Services

SESSION_COOKIE = "cvx_session"
SIGN_IN = "Sign in first: a session cookie from /auth/login or an 'Authorization: Bearer <token>' header."
PROXIED_ONLY = ("This app answers only requests that come through the Databricks Apps proxy, which names the "
                "signed-in user (X-Forwarded-User) and the request (X-Request-Id); this request has no {}. Open the "
                "app at its databricksapps.com URL.")
MAX_USER_ID = 128  # the platform's ids are <user id>@<workspace id>
MAX_EMAIL = 320


def _bearer(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


async def _token_user(services: Services, token: str) -> CurrentUser | None:
    found = await services.db.read(auth.token_user, token)
    if found is None:
        return None
    user, token_id, stale = found
    if stale:  # last_used_at, at most once a minute per token: not a write per request
        await services.db.write(auth.touch_token, token_id)
    return CurrentUser(id=user.id, name=user.name, is_admin=user.is_admin)


async def _session_user(services: Services, value: str) -> CurrentUser | None:
    user = await services.db.read(auth.session_user, value)
    return CurrentUser(id=user.id, name=user.name, is_admin=user.is_admin) if user else None


def _plain(value: str) -> bool:
    return all(c.isprintable() and not c.isspace() for c in value)


async def _platform_user(services: Services, headers: Mapping[str, str]) -> CurrentUser:
    """The user the Apps proxy names (start-up refused this mode outside the platform): keyed on X-Forwarded-User,
    the identity provider's stable id; the e-mail (normalised) is an attribute that may change. Users are created
    on first sight and remembered by this process, so a request costs no database read. UNAUTHENTICATED, saying
    what is wrong, for a request the proxy did not forward or headers it would not send."""
    platform_id = headers.get("x-forwarded-user", "").strip()
    for header, value in (("X-Forwarded-User", platform_id), ("X-Request-Id", headers.get("x-request-id", ""))):
        if not value.strip():
            raise Unauthenticated(PROXIED_ONLY.format(header))
    if len(platform_id) > MAX_USER_ID or not _plain(platform_id):
        raise Unauthenticated(f"The X-Forwarded-User header is not a user id: at most {MAX_USER_ID} characters, "
                              "without spaces or control characters.")
    email = users.normal_email(headers.get("x-forwarded-email", "")) or None
    if email is not None and (len(email) > MAX_EMAIL or "@" not in email or not _plain(email)):
        raise Unauthenticated(f"The X-Forwarded-Email header is not an e-mail address: at most {MAX_EMAIL} "
                              "characters with an @, without spaces or control characters.")
    username = headers.get("x-forwarded-preferred-username", "").strip()
    name = email or (username if username and len(username) <= MAX_EMAIL and _plain(username) else platform_id)
    seen: dict[tuple[str, str | None, str], CurrentUser] = services.info.setdefault("platform_users", {})
    key = (platform_id, email, name)
    if key not in seen:
        is_admin = bool({email, platform_id.casefold()} & services.admin_users)
        row = await services.db.write(users.see_platform_user, platform_id, email, name, is_admin=is_admin)
        seen[key] = CurrentUser(id=row.id, name=row.name, is_admin=row.is_admin)
    return seen[key]


async def identify(services: Services, conn: HTTPConnection,
                   params: Mapping[str, Any] | None = None) -> CurrentUser | None:
    """The caller of this request or websocket (params: a websocket's connection_init payload), or None; in
    databricks mode Unauthenticated instead, saying why."""
    mode = services.auth_mode
    if mode == "local":
        return services.info["user"]
    if mode == "databricks":
        return await _platform_user(services, conn.headers)
    token = _bearer(conn.headers.get("authorization"))
    if token is None and params:
        token = _bearer(params.get("authorization") or params.get("Authorization")) or (
            params["token"] if isinstance(params.get("token"), str) else None)
    if token:
        return await _token_user(services, token)
    cookie = conn.cookies.get(SESSION_COOKIE)
    return await _session_user(services, cookie) if cookie else None


async def user_of(request: HTTPConnection) -> CurrentUser:
    """The caller of an HTTP handler (media, uploads, exports); UNAUTHENTICATED if nobody signed in."""
    user = request.scope.get("cvx.user") or await identify(request.app.state.services, request)
    if user is None:
        raise Unauthenticated(SIGN_IN)
    request.scope["cvx.user"] = user
    return user


def unauthenticated_response(message: str = SIGN_IN) -> JSONResponse:
    """A GraphQL-shaped answer, so clients read extensions.code as for any other error."""
    return JSONResponse({"data": None, "errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
                        status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def admit(services: Services, scope: Scope, receive: Receive, send: Send) -> bool:
    """For /graphql over HTTP: identify the caller once (kept in the scope for get_context) or answer 401."""
    try:
        user = await identify(services, HTTPConnection(scope, receive))
    except Unauthenticated as exc:
        await unauthenticated_response(exc.message)(scope, receive, send)
        return False
    if user is None:
        await unauthenticated_response()(scope, receive, send)
        return False
    scope["cvx.user"] = user
    return True


async def context_user(services: Services, request: HTTPConnection) -> CurrentUser | None:
    """The user for a GraphQL context: already known for HTTP (admit); for a websocket, from the handshake's
    cookie or headers, or None until connection_init brings a token (or refuses it, saying why)."""
    try:
        return request.scope.get("cvx.user") or await identify(services, request)
    except Unauthenticated:
        return None


async def admit_websocket(context: Context) -> None:
    """At connection_init: a websocket without an identity from its handshake may bring a token in the payload
    ({"authorization": "Bearer …"} or {"token": "…"}); otherwise it is closed (4403)."""
    if context.user is None:
        try:
            user = await identify(context.services, context.request, context.connection_params or {})
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"message": exc.message, "code": "UNAUTHENTICATED"}) from exc
        if user is None:
            raise ConnectionRejectionError({"message": SIGN_IN, "code": "UNAUTHENTICATED"})
        context.user = user
        context.__dict__.pop("access", None)  # built for nobody, if anything touched it
