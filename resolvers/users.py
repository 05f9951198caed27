"""me: the caller as the auth mode identified them; authMode: how (the client offers sign-out in token mode)."""

from __future__ import annotations

import strawberry

from schema.accounts import User
from schema.context import Info


@strawberry.type
class UserQueries:
    @strawberry.field
    def me(self, info: Info) -> User:
        u = info.context.user
        return User.of(u)

    @strawberry.field(description="local (one user, loopback), token (users sign in or use API tokens) or "
                                  "databricks (the Databricks Apps proxy names the user).")
    def auth_mode(self, info: Info) -> str:
        return info.context.services.auth_mode
