"""Signed cookies and CSRF tokens for the admin pages.

* The session cookie holds ``<token>.<signature>``: an HMAC with a key derived from the site
  secret, so a cookie not issued by this site is refused before the database is asked.
* Each session's CSRF token is an HMAC of its session token with another derived key: it
  needs no storage, and changes with every login. Forms carry it in a hidden field.
* Before login there is no session, so the login form is protected by a double-submit
  token: a random value in a short-lived cookie that the form must repeat.
* Every POST must also come from this site: an ``Origin`` (or, failing that, ``Referer``)
  header naming another host is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from netatlas.http.secret import derive

__all__ = ["Signer", "same_origin"]

SESSION_COOKIE = "netatlas_admin"
LOGIN_COOKIE = "netatlas_login"


def _equal(a: str, b: str) -> bool:
    """Constant-time comparison of two strings of any characters.

    ``hmac.compare_digest`` refuses ``str`` arguments that are not ASCII (a ``TypeError``);
    a cookie or form field can hold anything, so both sides are compared as UTF-8 bytes.
    """
    return hmac.compare_digest(_bytes(a), _bytes(b))


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _mac(key: bytes, value: str) -> str:
    digest = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Signer:
    """Signs session cookies and makes CSRF tokens with keys derived from the site secret."""

    def __init__(self, secret: bytes) -> None:
        self._cookie_key = derive(secret, "admin-session")
        self._csrf_key = derive(secret, "admin-csrf")

    def cookie(self, token: str) -> str:
        return f"{token}.{_mac(self._cookie_key, token)}"

    def token_of(self, cookie: str | None) -> str | None:
        """The session token in a cookie value, if the signature is ours."""
        if not cookie or "." not in cookie or len(cookie) > 200:
            return None
        token, _, signature = cookie.rpartition(".")
        if _equal(signature, _mac(self._cookie_key, token)):
            return token
        return None

    def csrf(self, token: str) -> str:
        return _mac(self._csrf_key, token)

    def check_csrf(self, token: str, submitted: str | None) -> bool:
        return bool(submitted) and _equal(self.csrf(token), str(submitted))


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def check_nonce(cookie: str | None, submitted: str | None) -> bool:
    return bool(cookie) and bool(submitted) and _equal(str(cookie), str(submitted))


def same_origin(host: str | None, origin: str | None, referer: str | None) -> bool:
    """Whether a POST comes from a page of this site (``host`` is the Host header)."""
    source = origin if origin and origin != "null" else referer
    if not source:
        return True  # browsers send Origin on every cross-site POST; no header: not a browser
    return bool(host) and urlsplit(source).netloc.lower() == (host or "").lower()
