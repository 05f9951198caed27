"""The `users` and `tokens` commands of server.py: account administration straight on the database, for the first
admin (before anyone can sign in) and for pipelines' API tokens."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import Any, TextIO

from sqlalchemy.orm import Session

from db import auth, users
from db.engine import Database
from db.errors import DomainError


def add_parsers(sub: Any) -> None:
    u = sub.add_parser("users", help="add, list and change users (AUTH_MODE=token)")
    us = u.add_subparsers(dest="action", metavar="action", required=True)
    add = us.add_parser("add", help="create a user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="an instance admin: sees and manages every project")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    us.add_parser("list", help="every user, admins marked")
    pw = us.add_parser("set-password", help="set a new password (signs the user out everywhere)")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    adm = us.add_parser("admin", help="make a user an instance admin (or not, with --off)")
    adm.add_argument("name")
    adm.add_argument("--off", action="store_true")
    for action, text in (("deactivate", "stop a user signing in: ends their sessions, revokes their tokens"),
                         ("reactivate", "let a deactivated user sign in again (their old tokens stay revoked)")):
        us.add_parser(action, help=text).add_argument("name")
    t = sub.add_parser("tokens", help="API tokens for scripts and pipelines (Authorization: Bearer …)")
    ts = t.add_subparsers(dest="action", metavar="action", required=True)
    create = ts.add_parser("create", help="a new token for a user; printed once, stored only as a hash")
    create.add_argument("user")
    create.add_argument("--name", default="api", help="what the token is for (shown in lists)")
    tl = ts.add_parser("list", help="tokens, with their last use; never the tokens themselves")
    tl.add_argument("--user")
    rv = ts.add_parser("revoke", help="revoke a token by its id (from tokens list)")
    rv.add_argument("id", type=int)


def _password(from_stdin: bool, stdin: TextIO) -> str:
    if from_stdin or not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the passwords differ; nothing changed")
    return first


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def _user_line(u: Any) -> str:
    notes = (["admin"] if u.is_admin else []) + ([f"deactivated {_when(u.deactivated_at)}"] if u.deactivated_at else [])
    return f"{u.id}\t{u.name}\t{', '.join(notes)}"


def _token_line(t: auth.TokenInfo) -> str:
    revoked = f"\trevoked {_when(t.revoked_at)}" if t.revoked_at else ""
    return f"{t.id}\t{t.user}\t{t.name}\t{t.prefix}…\tlast used {_when(t.last_used_at)}{revoked}"


def _plan(args: argparse.Namespace, stdin: TextIO) -> tuple[Callable[[Session], Any], Callable[[Any], str]]:
    """What to do in one unit of work, and how to print its result."""
    if args.command == "users":
        if args.action == "add":
            hashed = auth.hash_password(_password(args.password_stdin, stdin))
            return (lambda s: users.create_user(s, args.name, is_admin=args.admin, password_hash=hashed),
                    lambda u: f"created {u.name}{' (admin)' if u.is_admin else ''}")
        if args.action == "list":
            return (lambda s: users.list_users(s),
                    lambda rows: "\n".join(_user_line(u) for u in rows))
        if args.action == "set-password":
            password = _password(args.password_stdin, stdin)
            return (lambda s: auth.set_password(s, args.name, password),
                    lambda u: f"password of {u.name} changed; their browser sessions are signed out")
        if args.action in ("deactivate", "reactivate"):
            active = args.action == "reactivate"
            return (lambda s: users.set_active(s, args.name, active),
                    lambda u: f"{u.name} is {'active' if active else 'deactivated: signed out, tokens revoked'}")
        return (lambda s: users.set_admin(s, args.name, not args.off),
                lambda u: f"{u.name} is {'an' if u.is_admin else 'no longer an'} instance admin")
    if args.action == "create":
        return (lambda s: auth.create_token(s, args.user, args.name),
                lambda r: f"{r[0]}\n(token {r[1].id} for {r[1].user}: shown only now; store it as a secret)")
    if args.action == "list":
        return lambda s: auth.list_tokens(s, args.user), lambda rows: "\n".join(_token_line(t) for t in rows)
    return (lambda s: auth.revoke_token(s, args.id), lambda t: f"token {t.id} ({t.name}, {t.user}) is revoked")


def run(args: argparse.Namespace, database_url: str, stdin: TextIO | None = None) -> int:
    try:
        work, show = _plan(args, stdin or sys.stdin)
    except DomainError as exc:
        print(f"{args.command} {args.action}: {exc.message}", file=sys.stderr)
        return 1

    async def go() -> Any:
        db = Database(database_url)
        try:
            return await db.write(work)
        finally:
            await db.dispose()

    try:
        result = asyncio.run(go())
    except DomainError as exc:
        print(f"{args.command} {args.action}: {exc.message}", file=sys.stderr)
        return 1
    print(show(result))
    return 0
