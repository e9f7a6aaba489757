"""Self-service API keys: the sign-up policy, signing up, and what a holder may see of a key.

The policy (who may sign up, the new keys' daily limit, addresses refused) comes from the
``key_signup`` settings document when an administrator saved one on ``/admin/keys``, else from
``NETATLAS_KEY_SIGNUP`` and ``NETATLAS_KEY_SIGNUP_DAILY_LIMIT``; servers see a saved change
within :data:`netatlas.db.documents.RECHECK` seconds.

Modes: ``off`` (no sign-up), ``open`` (a new key works at once), ``approve`` (a new key is
``pending`` until an administrator approves it). Sign-ups are limited per client address
(IPv6: per /64) and a day, and refused from the policy's blocked networks.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from netatlas.db.documents import Configured
from netatlas.http.errors import ApiError, KeyInvalid, ParseError
from netatlas.http.quota import DAY, seconds_to_day_end
from netatlas.http.ratelimit import Limiter
from netatlas.location.keys import KeyCache, Network, hash_key, new_self_service_key
from netatlas.location.models import api_key
from netatlas.settings import Settings

__all__ = [
    "CONTACT_MAX",
    "DOCUMENT",
    "MODES",
    "PURPOSE_MAX",
    "NewKey",
    "Policy",
    "PolicyError",
    "SignupBlocked",
    "SignupClosed",
    "key_usage",
    "parse_policy",
    "policy_document",
    "sign_up",
    "signup_policy",
]

MODES = ("off", "open", "approve")
DOCUMENT = "key_signup"
CONTACT_MAX = 255
PURPOSE_MAX = 500
_LIMIT_MAX = 999_999_999
_BLOCKED_MAX = 1000


class SignupClosed(ApiError):
    """403: this server does not hand out keys."""

    status = 403
    domain = "keys"
    reason = "signupClosed"
    message = "This server does not offer self-service API keys."


class SignupBlocked(ApiError):
    """403: sign-ups from the caller's network are refused."""

    status = 403
    domain = "keys"
    reason = "signupBlocked"
    message = "Sign-ups from your network are not accepted."


class PolicyError(ValueError):
    """A bad policy document; ``errors`` maps fields to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Policy:
    mode: str  # one of MODES
    daily_limit: int | None  # for new keys; None: no limit
    blocked: tuple[Network, ...] = field(default=())

    def refuses(self, ip: str | None) -> bool:
        if not self.blocked or ip is None:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.blocked)


def parse_policy(data: Any) -> Policy:
    """A policy from its document ``{"mode", "daily_limit", "blocked": [CIDR, …]}``."""
    if not isinstance(data, dict):
        raise PolicyError({"document": "a JSON object"})
    errors: dict[str, str] = {}
    mode = data.get("mode")
    if mode not in MODES:
        errors["mode"] = "off, open or approve"
    limit = data.get("daily_limit")
    if limit is not None and (
        not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= _LIMIT_MAX
    ):
        errors["daily_limit"] = "a whole number ≥ 0, or empty for no limit"
    blocked: list[Network] = []
    raw = data.get("blocked") or []
    if not isinstance(raw, list) or len(raw) > _BLOCKED_MAX:
        errors["blocked"] = f"a list of at most {_BLOCKED_MAX} addresses or networks"
    else:
        bad = []
        for entry in raw:
            try:
                blocked.append(ipaddress.ip_network(str(entry).strip(), strict=False))
            except ValueError:
                bad.append(str(entry)[:50])
        if bad:
            errors["blocked"] = "not an address or network: " + ", ".join(bad[:5])
    if errors:
        raise PolicyError(errors)
    return Policy(str(mode), limit or None, tuple(blocked))


def policy_document(policy: Policy) -> dict[str, Any]:
    return {
        "mode": policy.mode,
        "daily_limit": policy.daily_limit,
        "blocked": [str(n) for n in policy.blocked],
    }


def policy_from_settings(settings: Settings) -> Policy:
    return Policy(settings.key_signup, settings.key_signup_daily_limit or None)


def signup_policy(settings: Settings, engine: Engine | None) -> Configured[Policy]:
    """The policy in force: the saved document, else the settings."""
    return Configured(engine, DOCUMENT, parse_policy, lambda: policy_from_settings(settings))


@dataclass(frozen=True)
class NewKey:
    key: str  # shown once: only its hash is kept
    key_id: str
    status: str  # "active" or "pending"
    daily_limit: int | None


def _text(value: Any, name: str, limit: int, errors: dict[str, str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = "text"
        return None
    text = " ".join(value.split())
    if len(text) > limit:
        errors[name] = f"at most {limit} characters"
    elif any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in text):
        errors[name] = "printable characters only"
    return text or None


def sign_up(
    engine: Engine,
    limiter: Limiter,
    policy: Policy,
    ip: str | None,
    contact: Any,
    purpose: Any,
    per_day: int,
) -> NewKey:
    """Make a self-service key for a client at ``ip``; raises :class:`SignupClosed`,
    :class:`~netatlas.http.errors.ParseError` (bad contact or purpose),
    :class:`SignupBlocked`, or :class:`~netatlas.http.errors.RateLimitExceeded` (over
    ``per_day`` sign-ups from the address today)."""
    if policy.mode == "off":
        raise SignupClosed()
    errors: dict[str, str] = {}
    contact_text = _text(contact, "contact", CONTACT_MAX, errors)
    purpose_text = _text(purpose, "purpose", PURPOSE_MAX, errors)
    if errors:
        raise ParseError.validation_error(errors)
    if policy.refuses(ip):
        raise SignupBlocked()
    limiter.check_address(
        "keysignup", ip, per_day, DAY, "Too many keys were made from your address today."
    )
    status = "active" if policy.mode == "open" else "pending"
    now = datetime.now(UTC).replace(tzinfo=None)
    for _ in range(5):  # a clash of 48-bit ids is unlikely; never answer one with a 500
        key, key_id = new_self_service_key()
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(api_key).values(
                        valid_key=key_id,
                        key_hash=hash_key(key),
                        status=status,
                        contact=contact_text,
                        purpose=purpose_text,
                        created=now,
                        maxreq=policy.daily_limit,
                        allow_locate=True,
                        allow_region=True,
                        allow_fallback=False,
                        store_sample_locate=100,
                        store_sample_submit=100,
                    )
                )
        except IntegrityError:
            continue
        return NewKey(key, key_id, status, policy.daily_limit)
    raise RuntimeError("no free key id after five tries")


def key_usage(
    keys: KeyCache, limiter: Limiter, key: str | None, keyless_per_minute: int
) -> dict[str, Any]:
    """What the holder of ``key`` may know about it: its state, limits and use today.
    :class:`~netatlas.http.errors.KeyInvalid` for an unknown key."""
    found = keys.lookup(key)
    if found is None:
        raise KeyInvalid()
    now = limiter.clock()
    used = None
    if found.maxreq:  # keys without a limit are not counted (see the limiter)
        used = limiter.daily_count(found.valid_key, "v1.geolocate")
    block = found.block_for(None, now)
    return {
        "key_id": found.valid_key,
        "status": found.status,
        "locate": found.allow_locate,
        "country": found.allow_region,
        "daily_limit": found.maxreq or None,
        "used_today": used,
        "remaining_today": None if used is None else max(0, (found.maxreq or 0) - used),
        "reset_seconds": seconds_to_day_end(now),
        "blocked": block is not None,
        "blocked_seconds": (
            None if block is None or block.until is None else max(1, int(block.until - now))
        ),
        "network_blocks": sum(
            1 for b in found.blocks if b.network is not None and (b.until is None or b.until > now)
        ),
        "keyless_per_minute": keyless_per_minute or None,
    }
