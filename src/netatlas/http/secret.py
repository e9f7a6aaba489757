"""The site's secret: ``NETATLAS_SECRET_KEY``, or a random key kept in the data directory.

Every process serving the same data directory must sign and check the same way, so when no
secret is configured the first process writes ``secret.key`` (32 random bytes, mode 0600) and
the others read it. Each use gets a key of its own derived from the secret (:func:`derive`),
so a value signed for one purpose (a session cookie) is never valid for another (a CSRF
token).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

__all__ = ["KEY_FILE", "MIN_LENGTH", "WeakSecret", "check_secret", "derive", "site_secret"]

KEY_FILE = "secret.key"
_SIZE = 32
#: A configured secret shorter than this is refused (``token_urlsafe(48)`` gives 64).
MIN_LENGTH = 16
# Values people leave in example files, compared without case, spaces or punctuation.
_PLACEHOLDERS = frozenset(
    {
        "changeme",
        "changethis",
        "changeit",
        "replaceme",
        "secret",
        "secretkey",
        "mysecret",
        "yoursecret",
        "yoursecretkey",
        "supersecret",
        "password",
        "default",
        "example",
        "insecure",
        "notsecret",
        "test",
        "testing",
        "dev",
        "development",
        "netatlas",
        "xxx",
        "todo",
    }
)
_HOW = (
    "set NETATLAS_SECRET_KEY to a random value, e.g. the output of"
    " python3 -c 'import secrets; print(secrets.token_urlsafe(48))',"
    " or leave it empty to use a random key kept in the data directory"
)


class WeakSecret(ValueError):
    """``NETATLAS_SECRET_KEY`` is a known placeholder or too short to sign anything with."""


def check_secret(configured: str) -> None:
    """Raise :class:`WeakSecret` for a placeholder (``change-me``, ``secret``…) or a secret
    shorter than :data:`MIN_LENGTH`; empty is fine (a random key is generated)."""
    if not configured:
        return
    folded = "".join(c for c in configured.lower() if c.isalnum())
    if folded in _PLACEHOLDERS or folded.startswith("changeme") or len(set(folded)) < 2:
        raise WeakSecret(f"NETATLAS_SECRET_KEY is a placeholder, not a secret: {_HOW}")
    if len(configured) < MIN_LENGTH:
        raise WeakSecret(
            f"NETATLAS_SECRET_KEY is {len(configured)} characters, fewer than {MIN_LENGTH}: {_HOW}"
        )


def site_secret(configured: str, data_dir: Path) -> bytes:
    """The configured secret (hashed to 32 bytes), else the data directory's own key.
    A placeholder or too short a secret raises :class:`WeakSecret`."""
    check_secret(configured)
    if configured:
        return hashlib.sha256(b"netatlas-secret:" + configured.encode()).digest()
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(_SIZE))
    for _ in range(100):  # another process may be writing it this instant
        key = path.read_bytes()
        if len(key) == _SIZE:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} is not a {_SIZE}-byte key; delete it to make a new one")


def derive(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose (``"admin-session"``, ``"admin-csrf"``) from the site secret."""
    return hmac.new(secret, b"netatlas:" + purpose.encode(), hashlib.sha256).digest()
