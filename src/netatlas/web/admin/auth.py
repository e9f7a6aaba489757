"""Administrator accounts, logins, sessions and lock-outs. No HTTP here.

* Passwords are stored as scrypt hashes (``scrypt$<n>$<r>$<p>$<salt>$<hash>``, base64).
* A login creates a session: a random token the browser keeps in a signed cookie; the
  database keeps only the token's SHA-256. A session ends after :data:`IDLE` without use or
  :data:`MAX_AGE` after login, at logout, and when the user's password is changed.
* Failed logins are counted per client address and per user name within
  :data:`FAIL_WINDOW`; at :data:`MAX_FAILURES_IP` (or :data:`MAX_FAILURES_USER`) further
  attempts from there are refused for :data:`LOCK_TIME`, right password or not.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, insert, select, update

from netatlas.web.admin.models import admin_lockout, admin_session, admin_user

__all__ = [
    "LoginResult",
    "PasswordError",
    "Session",
    "end_session",
    "get_session",
    "hash_password",
    "login",
    "set_password",
    "verify_password",
]

IDLE = dt.timedelta(hours=2)
MAX_AGE = dt.timedelta(hours=12)
FAIL_WINDOW = dt.timedelta(minutes=15)
LOCK_TIME = dt.timedelta(minutes=15)
MAX_FAILURES_IP = 5
MAX_FAILURES_USER = 20
MIN_PASSWORD = 10
_TOUCH = dt.timedelta(minutes=1)  # last_seen is written at most this often
_USER = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_N, _R, _P = 2**14, 8, 1


class PasswordError(ValueError):
    """A user name or password that cannot be set; the message says why."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=64 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# Checked when the user name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY = hash_password(secrets.token_hex(16))


def set_password(engine: Engine, name: str, password: str) -> bool:
    """Create the user or change its password (ending its sessions); True if created."""
    if not _USER.match(name):
        raise PasswordError("a user name is 1–64 letters, digits, '.', '_', '@' or '-'")
    if len(password) < MIN_PASSWORD:
        raise PasswordError(f"a password has at least {MIN_PASSWORD} characters")
    hashed = hash_password(password)
    now = utcnow()
    with engine.begin() as conn:
        found = conn.execute(select(admin_user.c.name).where(admin_user.c.name == name)).first()
        if found is None:
            conn.execute(
                insert(admin_user).values(name=name, password_hash=hashed, created=now, updated=now)
            )
        else:
            conn.execute(
                update(admin_user)
                .where(admin_user.c.name == name)
                .values(password_hash=hashed, updated=now)
            )
        conn.execute(delete(admin_session).where(admin_session.c.username == name))
        conn.execute(delete(admin_lockout).where(admin_lockout.c.subject == f"user:{name}"))
    return found is None


def has_users(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(admin_user.c.name).limit(1)).first() is not None


@dataclass(frozen=True)
class Session:
    token: str
    user: str
    expires: dt.datetime


@dataclass(frozen=True)
class LoginResult:
    session: Session | None  # set when the login succeeded
    retry_after: int = 0  # seconds; set when the address or user is locked out


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _subjects(name: str, ip: str | None) -> dict[str, int]:
    return {f"ip:{ip or 'unknown'}": MAX_FAILURES_IP, f"user:{name[:64]}": MAX_FAILURES_USER}


def _locked(conn: Connection, subjects: dict[str, int], now: dt.datetime) -> int:
    rows = conn.execute(
        select(admin_lockout.c.locked_until).where(admin_lockout.c.subject.in_(list(subjects)))
    ).all()
    until = max(
        (r.locked_until for r in rows if r.locked_until and r.locked_until > now), default=None
    )
    return 0 if until is None else max(1, int((until - now).total_seconds()) + 1)


def _fail(conn: Connection, subjects: dict[str, int], now: dt.datetime) -> None:
    for subject, limit in subjects.items():
        row = conn.execute(select(admin_lockout).where(admin_lockout.c.subject == subject)).first()
        if row is None or row.window_start < now - FAIL_WINDOW:
            failures, start = 1, now
            conn.execute(delete(admin_lockout).where(admin_lockout.c.subject == subject))
            conn.execute(
                insert(admin_lockout).values(subject=subject, failures=1, window_start=now)
            )
        else:
            failures, start = row.failures + 1, row.window_start
            conn.execute(
                update(admin_lockout)
                .where(admin_lockout.c.subject == subject)
                .values(failures=failures)
            )
        if failures >= limit:
            conn.execute(
                update(admin_lockout)
                .where(admin_lockout.c.subject == subject)
                .values(locked_until=now + LOCK_TIME, window_start=start)
            )


def login(
    engine: Engine, name: str, password: str, ip: str | None, now: dt.datetime | None = None
) -> LoginResult:
    """Check a login; on success a new session, on failure the failure counted."""
    now = now or utcnow()
    subjects = _subjects(name, ip)
    with engine.connect() as conn:
        retry = _locked(conn, subjects, now)
        row = conn.execute(select(admin_user).where(admin_user.c.name == name)).first()
    if retry:
        return LoginResult(None, retry)
    good = verify_password(password, row.password_hash if row else _DUMMY) and row is not None
    with engine.begin() as conn:
        if not good:
            _fail(conn, subjects, now)
            return LoginResult(None, _locked(conn, subjects, now))
        conn.execute(delete(admin_lockout).where(admin_lockout.c.subject.in_(list(subjects))))
        conn.execute(delete(admin_session).where(admin_session.c.expires < now))
        token = secrets.token_urlsafe(32)
        expires = now + IDLE
        conn.execute(
            insert(admin_session).values(
                token_hash=_token_hash(token),
                username=name,
                created=now,
                last_seen=now,
                expires=expires,
                client_ip=ip,
            )
        )
    return LoginResult(Session(token, name, expires))


def get_session(engine: Engine, token: str, now: dt.datetime | None = None) -> Session | None:
    """The live session of a token (its idle time restarted), or None."""
    now = now or utcnow()
    key = _token_hash(token)
    with engine.connect() as conn:
        row = conn.execute(select(admin_session).where(admin_session.c.token_hash == key)).first()
    if row is None or row.expires <= now:
        return None
    if now - row.last_seen < _TOUCH:
        return Session(token, row.username, row.expires)
    expires = min(now + IDLE, row.created + MAX_AGE)
    with engine.begin() as conn:
        conn.execute(
            update(admin_session)
            .where(admin_session.c.token_hash == key)
            .values(last_seen=now, expires=expires)
        )
    return Session(token, row.username, expires)


def end_session(engine: Engine, token: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(admin_session).where(admin_session.c.token_hash == _token_hash(token)))
