"""Browser sign-in for AUTH_MODE=token: POST /auth/login sets an HttpOnly, SameSite=Lax session cookie (Secure over
https); POST /auth/logout ends the session; GET /auth/session says whether the browser is signed in, always with 200,
so a page not signed in yet can ask without an error in the console. Requests from another site's page never get
here: routes.guard checks the Origin of every POST, and routes.sign_in_throttle slows password guessing."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from db import auth
from db.errors import DomainError
from routes.identity import SESSION_COOKIE, identify
from routes.sign_in_throttle import SignInThrottle
from schema.services import Services

MAX_FIELD = 1024


def _refuse(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "error": message}, status_code=status)


async def login(request: Request) -> Response:
    """JSON {"name", "password"} -> 200 {"name", "isAdmin"} with the session cookie, or 401."""
    services: Services = request.app.state.services
    if services.auth_mode != "token":
        return _refuse(404, "NOT_FOUND", f"Signing in is for AUTH_MODE=token; this server runs {services.auth_mode}.")
    try:
        body = await request.json()
        name, password = body["name"], body["password"]
        assert isinstance(name, str) and isinstance(password, str) and len(name) + len(password) < MAX_FIELD
    except (ValueError, KeyError, TypeError, AssertionError):
        return _refuse(400, "VALIDATION", 'Send JSON {"name": …, "password": …}.')
    throttle, address = SignInThrottle.of(request)
    wait = await throttle.attempt(name, address)  # counted (and committed) before the password is checked
    if wait > 0:
        refused = _refuse(429, "UNAVAILABLE", f"Too many failed sign-ins; try again in {wait} s.")
        refused.headers["Retry-After"] = str(wait)
        return refused
    user, hashed = await services.db.read(auth.password_of, name)
    if not await asyncio.to_thread(auth.verify_password, password, hashed) or user is None:
        return _refuse(401, "UNAUTHENTICATED", "Wrong name or password.")
    await throttle.succeeded(name, address)
    if user.deactivated:
        return _refuse(403, "FORBIDDEN", "This account is deactivated; an instance admin can reactivate it.")
    value = await services.db.write(auth.start_session, user.id)
    response = JSONResponse({"name": user.name, "isAdmin": user.is_admin})
    response.set_cookie(SESSION_COOKIE, value, max_age=auth.SESSION_DAYS * 86400, path="/", httponly=True,
                        samesite="lax", secure=services.secure_cookies or request.url.scheme == "https")
    return response


async def logout(request: Request) -> Response:
    services: Services = request.app.state.services
    value = request.cookies.get(SESSION_COOKIE)
    if value and services.auth_mode == "token":
        await services.db.write(auth.logout, value)
    response = JSONResponse({"ok": True})
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=services.secure_cookies or request.url.scheme == "https")
    return response


async def session(request: Request) -> Response:
    """200 {"signedIn", "authMode"} (and a "reason" when the platform refused the caller)."""
    services: Services = request.app.state.services
    try:
        user = await identify(services, request)
    except DomainError as exc:  # databricks mode without the proxy's identity: say why, as the API would
        return JSONResponse({"signedIn": False, "authMode": services.auth_mode, "reason": exc.message})
    return JSONResponse({"signedIn": user is not None, "authMode": services.auth_mode})
