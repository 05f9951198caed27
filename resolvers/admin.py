"""instance: what the admin page shows about this server (database, mounts, users); nothing secret."""

from __future__ import annotations

import strawberry
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import table_counts
from db.models import User as UserRow
from schema.access import require_admin
from schema.accounts import User
from schema.context import Info


@strawberry.type(description="Rows in one of the app's tables.")
class TableCount:
    table: str
    rows: int


@strawberry.type(description="This server: database backend and (password-free) address, mounts, users.")
class Instance:
    backend: str
    database: str
    auth_mode: str
    mounts: list[str]
    max_image_pixels: int
    users: list[User]
    source_volume: str | None = strawberry.field(default=None, description="Where the folder browser starts "
                                                                         "(SOURCE_VOLUME).")
    export_volume: str | None = strawberry.field(default=None, description="The default export destination "
                                                                         "(EXPORT_VOLUME).")
    database_token_age_seconds: float | None = strawberry.field(
        default=None, description="Lakebase: seconds since the database credential in use was minted (tokens live "
                                  "an hour and are renewed before they expire); null for other databases.")

    @strawberry.field(description="Rows in each of the app's tables, by table name: exact counts, taken when asked.")
    async def table_counts(self, info: Info) -> list[TableCount]:
        rows = await info.context.db.read(table_counts.row_counts)
        return [TableCount(table=name, rows=n) for name, n in rows]


def _users(session: Session) -> list[User]:
    return [User.of(u) for u in session.scalars(select(UserRow).order_by(UserRow.name))]


@strawberry.type
class AdminQueries:
    @strawberry.field
    async def instance(self, info: Info) -> Instance:
        require_admin(info, "The instance page")
        services = info.context.services
        return Instance(backend=services.info["backend"], database=services.info.get("database", ""),
                        auth_mode=services.auth_mode, mounts=services.info["mounts"],
                        max_image_pixels=services.max_pixels, users=await services.db.read(_users),
                        source_volume=services.info.get("source_volume") or None,
                        export_volume=services.info.get("export_volume") or None,
                        database_token_age_seconds=credentials.age() if (credentials := services.info.get(
                            "credentials")) else None)
