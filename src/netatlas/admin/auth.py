"""Administrator accounts, logins, sessions and lock-outs. No HTTP here.

* Passwords are stored as scrypt hashes (``scrypt$<n>$<r>$<p>$<salt>$<hash>``, base64).
* A login creates a session: a random token the browser keeps in a signed cookie; the
  database keeps only the token's SHA-256. A session ends after :data:`IDLE` without use or
  :data:`MAX_AGE` after login, at logout, and when the user's password is changed.
* Login attempts are counted per client address bucket (an IPv4 address, an IPv6 /64) and per
  user name within :data:`FAIL_WINDOW`, atomically and before the password is checked. After
  :data:`MAX_FAILURES_IP` failures a bucket is refused for :data:`LOCK_TIME`, right password
  or not. After :data:`MAX_FAILURES_USER` failures of a user name (from many buckets) the
  buckets that failed are refused too, but never one that has not failed: the administrator
  can always log in from an address of their own.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, case, delete, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from netatlas.admin.models import admin_lockout, admin_session, admin_user
from netatlas.db.upsert import insert_for
from netatlas.geo.buckets import ip_bucket

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


def _subjects(name: str, ip: str | None) -> tuple[str, str]:
    """The counters an attempt is charged to: its address bucket and the user name."""
    return f"ip:{ip_bucket(ip) or 'unknown'}", f"user:{name[:64]}"


@dataclass(frozen=True)
class _Count:
    attempts: int  # in the window, this one included
    locked_until: dt.datetime | None


def _reserve(conn: Connection, subject: str, now: dt.datetime) -> _Count:
    """Count one attempt against ``subject`` and return the count, in one statement.

    The increment happens before the password is checked, and an ``INSERT … ON CONFLICT DO
    UPDATE … RETURNING`` cannot interleave with another: of many concurrent attempts each
    sees a different count, so no more than the limit are ever let through to the check.
    A window (or lock) that has run out starts again at 1.
    """
    table = admin_lockout
    c = table.c
    stale = _ran_out(now)
    stmt = insert_for(conn, table).values(subject=subject, failures=1, window_start=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.subject],
        set_={
            "failures": case((stale, 1), else_=c.failures + 1),
            "window_start": case((stale, now), else_=c.window_start),
            "locked_until": case((stale, None), else_=c.locked_until),
        },
    ).returning(table.c.failures, table.c.locked_until)
    row = conn.execute(stmt).one()
    return _Count(int(row.failures), row.locked_until)


def _ran_out(now: dt.datetime) -> ColumnElement[bool]:
    """A lock-out row whose lock, or (unlocked) whose counting window, has run out."""
    c = admin_lockout.c
    return or_(
        and_(c.locked_until.is_not(None), c.locked_until <= now),
        and_(c.locked_until.is_(None), c.window_start < now - FAIL_WINDOW),
    )


def _purge(conn: Connection, now: dt.datetime) -> None:
    """Forget counts that have run out: made-up user names and addresses (personal data)
    do not pile up; such a row would start again at 1 anyway."""
    conn.execute(delete(admin_lockout).where(_ran_out(now)))


def _seconds(until: dt.datetime, now: dt.datetime) -> int:
    return max(1, int((until - now).total_seconds()) + 1)


def _lock(conn: Connection, subject: str, now: dt.datetime) -> dt.datetime:
    until = now + LOCK_TIME
    conn.execute(
        update(admin_lockout)
        .where(admin_lockout.c.subject == subject, admin_lockout.c.locked_until.is_(None))
        .values(locked_until=until)
    )
    return until


def _refusal(bucket: _Count, user: _Count, now: dt.datetime) -> int:
    """Seconds to wait when this attempt may not be checked, else 0.

    The address bucket is refused once it used up its tries. The user name's own lock (many
    buckets failed) refuses only buckets that have failed too: an address that has not
    failed can always try, so nobody can lock the administrator out from elsewhere.
    """
    if bucket.locked_until is not None and bucket.locked_until > now:
        return _seconds(bucket.locked_until, now)
    if bucket.attempts > MAX_FAILURES_IP:
        return _seconds(now + LOCK_TIME, now)  # a concurrent attempt is locking it right now
    user_locked = (user.locked_until is not None and user.locked_until > now) or (
        user.attempts > MAX_FAILURES_USER
    )
    if user_locked and bucket.attempts > 1:
        return _seconds(user.locked_until or now + LOCK_TIME, now)
    return 0


def login(
    engine: Engine, name: str, password: str, ip: str | None, now: dt.datetime | None = None
) -> LoginResult:
    """Check a login; on success a new session, on failure the failure counted.

    Every attempt is counted against the client's address bucket (the IPv4 address, or the
    IPv6 /64) and the user name before the password is checked (see :func:`_reserve`); a
    success clears the bucket's count.
    """
    now = now or utcnow()
    bucket_subject, user_subject = _subjects(name, ip)
    with engine.begin() as conn:
        _purge(conn, now)
    with engine.begin() as conn:
        bucket = _reserve(conn, bucket_subject, now)
        user = _reserve(conn, user_subject, now)
    retry = _refusal(bucket, user, now)
    if retry:
        return LoginResult(None, retry)
    with engine.connect() as conn:
        row = conn.execute(select(admin_user).where(admin_user.c.name == name)).first()
    good = verify_password(password, row.password_hash if row else _DUMMY) and row is not None
    with engine.begin() as conn:
        if not good:
            retry = 0
            if bucket.attempts >= MAX_FAILURES_IP:
                retry = _seconds(_lock(conn, bucket_subject, now), now)
            if user.attempts >= MAX_FAILURES_USER:
                until = _lock(conn, user_subject, now)
                if bucket.attempts > 1:  # this bucket has failed before: it is locked out too
                    retry = retry or _seconds(until, now)
            return LoginResult(None, retry)
        # The user name's count stays: other buckets that failed remain refused while it lasts.
        conn.execute(delete(admin_lockout).where(admin_lockout.c.subject == bucket_subject))
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
