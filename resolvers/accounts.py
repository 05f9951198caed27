"""Accounts in AUTH_MODE=token, from the browser or a pipeline: your own password and API tokens; and for instance
admins, the users list, new users, admin rights and password resets (what `server.py users|tokens` does).
Passwords are hashed on a worker thread, outside any transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import strawberry
from sqlalchemy.orm import Session

from db import auth
from db import users as user_rows
from db.errors import Invalid, NotFound, Unavailable
from db.models import User as UserRow
from routes.sign_in_throttle import SignInThrottle
from schema.access import require_admin
from schema.accounts import User
from schema.context import Info
from schema.ids import parse_id


@strawberry.type(description="An API token for pipelines (`Authorization: Bearer …`); only its first characters "
                             "are kept in clear.")
class ApiToken:
    id: strawberry.ID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @staticmethod
    def of(t: auth.TokenInfo) -> ApiToken:
        return ApiToken(id=strawberry.ID(str(t.id)), name=t.name, prefix=t.prefix, created_at=t.created_at,
                        last_used_at=t.last_used_at, revoked_at=t.revoked_at)


@strawberry.type(description="A new API token: `token` is shown this once and never stored in clear.")
class NewApiToken:
    token: str
    api_token: ApiToken


def _token_mode(info: Info) -> None:
    mode = info.context.services.auth_mode
    if mode != "token":
        raise Invalid(f"Accounts, passwords and API tokens are managed here in AUTH_MODE=token; this server runs "
                      f"{mode} (users come from {'Databricks' if mode == 'databricks' else 'this machine'}).")


async def _hash(password: str) -> str:
    return await asyncio.to_thread(auth.hash_password, password)


async def _change_user(info: Info, what: str, change: Callable[[Session, str, bool], UserRow], name: str, value: bool,
                       refused_for_oneself: str | None) -> User:
    """An instance admin's change of one user's flag; refused_for_oneself: why the caller may not do it to
    themselves (None: they may)."""
    require_admin(info, what)
    _token_mode(info)
    if refused_for_oneself and name.strip() == info.context.user.name:
        raise Invalid(refused_for_oneself, field="name")
    return User.of(await info.context.db.write(change, name, value))


@strawberry.type
class AccountQueries:
    @strawberry.field(description="The caller's API tokens, newest first (AUTH_MODE=token).")
    async def my_api_tokens(self, info: Info) -> list[ApiToken]:
        _token_mode(info)
        rows = await info.context.db.read(auth.list_tokens, info.context.user.name)
        return [ApiToken.of(t) for t in reversed(rows)]

    @strawberry.field(description="Every user, by name: instance admins only.")
    async def accounts(self, info: Info) -> list[User]:
        require_admin(info, "The list of accounts")
        return [User.of(u) for u in await info.context.db.read(user_rows.list_users)]


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Sets the caller's password (at least 10 characters) after checking the current "
                                     "one; every browser session of theirs ends, this one too.")
    async def change_password(self, info: Info, current_password: str, new_password: str) -> bool:
        _token_mode(info)
        me = info.context.user
        throttle, address = SignInThrottle.of(info.context.request)
        wait = await throttle.attempt(me.name, address)
        if wait > 0:
            raise Unavailable(f"Too many wrong passwords; try again in {wait} s.")
        _, stored = await info.context.db.read(auth.password_of, me.name)
        if not await asyncio.to_thread(auth.verify_password, current_password, stored):
            raise Invalid("The current password is not right.", field="currentPassword")
        await throttle.succeeded(me.name, address)
        hashed = await _hash(new_password)
        await info.context.db.write(auth.set_password_hash, me.name, hashed)
        return True

    @strawberry.mutation(description="A new API token for the caller; the token is in the answer only.")
    async def create_api_token(self, info: Info, name: str) -> NewApiToken:
        _token_mode(info)
        value, row = await info.context.db.write(auth.create_token, info.context.user.name, name)
        return NewApiToken(token=value, api_token=ApiToken.of(row))

    @strawberry.mutation(description="Revokes one of the caller's API tokens (an admin: anyone's); at once.")
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> ApiToken:
        _token_mode(info)
        token_id = parse_id(id, "Token")
        me = info.context.user
        mine = {t.id for t in await info.context.db.read(auth.list_tokens, None if me.is_admin else me.name)}
        if token_id not in mine:
            raise NotFound(f"Token {str(id)!r} does not exist.")  # as parse_id says it
        return ApiToken.of(await info.context.db.write(auth.revoke_token, token_id))

    @strawberry.mutation(description="Creates a user with a password of at least 10 characters (instance admins).")
    async def create_user(self, info: Info, name: str, password: str, is_admin: bool = False) -> User:
        require_admin(info, "Creating users")
        _token_mode(info)
        hashed = await _hash(password)
        return User.of(await info.context.db.write(user_rows.create_user, name, is_admin=is_admin,
                                                 password_hash=hashed))

    @strawberry.mutation(description="Gives or takes instance admin rights (instance admins; not their own).")
    async def set_user_admin(self, info: Info, name: str, is_admin: bool) -> User:
        return await _change_user(info, "Changing admin rights", user_rows.set_admin, name, is_admin, None if is_admin
                                  else "You cannot take away your own admin rights; another admin can (or `server.py "
                                       "users admin <name> --off`).")

    @strawberry.mutation(description="Deactivates a user (instance admins; not themselves): they cannot sign in, "
                                     "their sessions end, their API tokens are revoked and their leased samples go "
                                     "back to the queue; their name stays on their work. active: true reactivates "
                                     "(with new tokens).")
    async def set_user_active(self, info: Info, name: str, active: bool) -> User:
        return await _change_user(info, "Deactivating users", user_rows.set_active, name, active, None if active
                                  else "You cannot deactivate yourself; another admin can (or `server.py users "
                                       "deactivate <name>`).")

    @strawberry.mutation(description="Sets a user's password (instance admins); their browser sessions end.")
    async def set_user_password(self, info: Info, name: str, password: str) -> bool:
        require_admin(info, "Setting other users' passwords")
        _token_mode(info)
        await info.context.db.write(auth.set_password_hash, name, await _hash(password))
        return True
