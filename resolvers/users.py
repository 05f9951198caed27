"""me: the caller as the auth mode identified them."""

from __future__ import annotations

import strawberry

from schema.context import Info
from schema.types import User


@strawberry.type
class UserQueries:
    @strawberry.field
    def me(self, info: Info) -> User:
        u = info.context.user
        return User(id=strawberry.ID(str(u.id)), name=u.name, is_admin=u.is_admin)
