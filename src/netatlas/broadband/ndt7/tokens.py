"""Short-lived access tokens for the ndt7 endpoints, issued by the speed-test page.

With ``NETATLAS_NDT7_TOKENS_REQUIRED`` a test needs ``access_token=<token>`` in its query
string (ndt7's own key for Locate-issued tokens), so only visitors of the page, not scripts
pointed at the endpoints, can run tests. A token is ``<expiry>.<nonce>.<signature>``: an
HMAC-SHA256 over expiry, nonce and the client address the page saw, with the server's key;
it is good for every subtest started before it expires.

The key is ``NETATLAS_SECRET_KEY``, or when that is empty a random key kept in the data
directory (``ndt7-token.key``), so that every process serving the same data agrees.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from netatlas.broadband.ndt7.spec import Ndt7Error
from netatlas.http.secret import check_secret

__all__ = ["TOKEN_TTL", "TokenSigner", "load_key"]

#: Seconds a token is good for: enough to start the download and then the upload.
TOKEN_TTL = 120
#: Longer access tokens are refused unread (ours are about 70 characters).
MAX_TOKEN_LENGTH = 256


def load_key(secret: str, data_dir: Path) -> bytes:
    """The signing key: the configured secret, else the data directory's own random key.
    A placeholder or too short a secret raises ``WeakSecret``."""
    check_secret(secret)
    if secret:
        return hashlib.sha256(b"netatlas-ndt7-token:" + secret.encode()).digest()
    path = data_dir / "ndt7-token.key"
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
    for _ in range(50):  # another process may be writing it right now
        key = path.read_bytes()
        if len(key) == 32:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} is not a 32-byte key; delete it to make a new one")


class TokenSigner:
    def __init__(
        self, key: bytes, ttl: int = TOKEN_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        self.key = key
        self.ttl = ttl
        self.clock = clock

    def _sign(self, expires: int, nonce: str, ip: str | None) -> str:
        message = f"{expires}.{nonce}.{ip or '-'}".encode()
        digest = hmac.new(self.key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, ip: str | None) -> tuple[str, int]:
        """A token for a client at ``ip``, and its expiry (seconds since the epoch)."""
        expires = int(self.clock()) + self.ttl
        nonce = secrets.token_urlsafe(9)
        return f"{expires}.{nonce}.{self._sign(expires, nonce, ip)}", expires

    def verify(self, token: str | None, ip: str | None) -> None:
        """Raise :class:`Ndt7Error` (401) unless ``token`` is ours, unexpired, for ``ip``."""
        if not token:
            raise Ndt7Error(401, "this server requires an access_token: start tests from its page")
        # Ours are short and ASCII. Anything else is refused before it is parsed: str.isdigit
        # accepts digits int() cannot read ("²"), and compare_digest raises on non-ASCII str.
        parts = token.split(".")
        if (
            len(token) > MAX_TOKEN_LENGTH
            or not token.isascii()
            or len(parts) != 3
            or not parts[0].isdigit()
        ):
            raise Ndt7Error(401, "malformed access_token")
        expires, nonce, signature = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(signature.encode(), self._sign(expires, nonce, ip).encode()):
            raise Ndt7Error(401, "invalid access_token")
        if expires < self.clock():
            raise Ndt7Error(401, "expired access_token: reload the page to get a new one")
