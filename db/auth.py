"""AUTH_MODE=token credentials: scrypt password hashes, browser sessions and API tokens.

Session cookies and API tokens are random (256 bits) and stored only as their SHA-256: a copy of the database
does not let anyone sign in. Passwords use hashlib.scrypt with a per-user salt; the parameters are stored with
the hash so they can be raised later without invalidating old hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from db.errors import Invalid, NotFound
from db.models import ApiToken, User, UserSession, utcnow

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # 32 MiB and ~0.1 s per hash: slow to guess, fine for a login
SCRYPT_MAXMEM = 64 * 2**20
MIN_PASSWORD = 10
SESSION_DAYS = 14
TOKEN_PREFIX = "cvx_"
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token (not on every request)
_U, _T, _S = User.__table__, ApiToken.__table__, UserSession.__table__


@dataclass(frozen=True)
class Caller:
    """Who a session cookie or an API token belongs to."""

    id: int
    name: str
    is_admin: bool
    deactivated: bool = False  # only password_of says so; sessions and tokens of deactivated users are not found


# -- passwords ---------------------------------------------------------------------------------------------------

def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"A password needs at least {MIN_PASSWORD} characters.", field="password")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM,
                            dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check; a user without a password (or an unknown user) still costs one hash."""
    try:
        scheme, n, r, p, salt, digest = (stored or _decoy()).split("$")
        assert scheme == "scrypt"
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             maxmem=SCRYPT_MAXMEM, dklen=len(expected))
    except (ValueError, AssertionError):
        return False
    return stored is not None and hmac.compare_digest(got, expected)


@cache
def _decoy() -> str:
    return hash_password(secrets.token_urlsafe(16))


def set_password(session: Session, name: str, password: str) -> User:
    return set_password_hash(session, name, hash_password(password))


def set_password_hash(session: Session, name: str, hashed: str) -> User:
    """The new password (hashed beforehand: a hash takes 0.1 s and must not hold SQLite's writer) ends every
    browser session of the user."""
    user = session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        raise NotFound(f"There is no user named {name.strip()!r}.", field="name")
    user.password_hash = hashed
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))  # signs out every browser
    session.flush()
    return user


# -- browser sessions --------------------------------------------------------------------------------------------

def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def password_of(session: Session, name: str) -> tuple[Caller | None, str | None]:
    """The user of that name and their password hash, to check outside any transaction (a hash takes 0.1 s: it
    must not hold SQLite's writer)."""
    row = session.execute(select(User.id, User.name, User.is_admin, User.password_hash, User.deactivated_at).where(
        User.name == name.strip())).first()
    return (Caller(row[0], row[1], bool(row[2]), row[4] is not None), row[3]) if row else (None, None)


def start_session(session: Session, user_id: int) -> str:
    """A new browser session for the user (their expired ones are cleared); returns the cookie value."""
    now = utcnow()
    session.execute(delete(UserSession).where(UserSession.user_id == user_id, UserSession.expires_at <= now))
    value = secrets.token_urlsafe(32)
    session.add(UserSession(id=digest(value), user_id=user_id, created_at=now,
                            expires_at=now + timedelta(days=SESSION_DAYS)))
    session.flush()
    return value


_SESSION_USER = select(_U.c.id, _U.c.name, _U.c.is_admin, _S.c.expires_at).select_from(
    _U.join(_S, _S.c.user_id == _U.c.id)).where(_S.c.id == bindparam("h"), _U.c.deactivated_at.is_(None))


def session_user(session: Session, value: str) -> Caller | None:
    row = session.connection().execute(_SESSION_USER, {"h": digest(value)}).first()
    if row is None:
        return None
    uid, name, is_admin, expires = row
    expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
    return Caller(uid, name, bool(is_admin)) if expires > utcnow() else None


def logout(session: Session, value: str) -> None:
    session.execute(delete(UserSession).where(UserSession.id == digest(value)))


# -- API tokens --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def create_token(session: Session, user_name: str, name: str) -> tuple[str, TokenInfo]:
    """A new token for the user: (the token, shown this once; its row)."""
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise NotFound(f"There is no user named {user_name!r}.")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise Invalid("A token needs a name (what uses it) of at most 200 characters.", field="name")
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=digest(value), prefix=value[:12], created_at=utcnow())
    session.add(row)
    session.flush()
    return value, _info(row, user.name)


def _info(row: ApiToken, user: str) -> TokenInfo:
    return TokenInfo(row.id, user, row.name, row.prefix, row.created_at, row.last_used_at, row.revoked_at)


# Built once: every API call of a pipeline runs it, and building the statement costs more than running it.
_TOKEN_USER = select(_U.c.id, _U.c.name, _U.c.is_admin, _T.c.id, _T.c.last_used_at).select_from(
    _U.join(_T, _T.c.user_id == _U.c.id)).where(_T.c.token_hash == bindparam("h"), _T.c.revoked_at.is_(None),
                                                _U.c.deactivated_at.is_(None))


def token_user(session: Session, value: str) -> tuple[Caller, int, bool] | None:
    """(the token's user, the token id, whether last_used_at is due to be written) for a live token."""
    row = session.connection().execute(_TOKEN_USER, {"h": digest(value)}).first()
    if row is None:
        return None
    uid, name, is_admin, token_id, last = row
    last = last if last is None or last.tzinfo else last.replace(tzinfo=UTC)  # SQLite keeps no zone
    return Caller(uid, name, bool(is_admin)), token_id, last is None or utcnow() - last >= TOUCH_EVERY


def touch_token(session: Session, token_id: int) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))


def list_tokens(session: Session, user_name: str | None = None) -> list[TokenInfo]:
    stmt = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if user_name is not None:
        stmt = stmt.where(User.name == user_name)
    return [_info(t, name) for t, name in session.execute(stmt)]


def end_access(session: Session, user_id: int) -> None:
    """Signs the user out of every browser and revokes their live tokens (a deactivation)."""
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    session.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))


def revoke_token(session: Session, token_id: int) -> TokenInfo:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"Token {token_id} does not exist.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    user = session.get(User, row.user_id)
    return _info(row, user.name if user else "?")
