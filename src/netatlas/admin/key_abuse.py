"""Self-service keys as the admin pages manage them: the sign-up policy (mode, new keys'
daily limit, addresses refused), approving, revoking and restoring keys, per-key blocks, and
the keyless clients seen by family. Every change is written to the audit log in its
transaction."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from netatlas.admin.audit import Actor, ChangeError, record
from netatlas.db.documents import delete_document, put_document
from netatlas.http.metrics import summed_counter
from netatlas.http.useragent import FAMILIES
from netatlas.location import keyblocks
from netatlas.location.keyadmin import KeyChangeError, OnChange
from netatlas.location.signup import DOCUMENT, PolicyError, parse_policy, policy_document

__all__ = [
    "add_block",
    "client_families",
    "parse_policy_form",
    "remove_block",
    "reset_policy",
    "save_policy",
    "set_status",
]

#: Which status each action sets.
ACTIONS = {"approve": "active", "restore": "active", "revoke": "revoked"}


def _audit(actor: Actor, action: str) -> OnChange:
    def write(conn: Connection, key: str, detail: dict[str, Any]) -> None:
        record(conn, actor, action, key, detail)

    return write


def parse_policy_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The policy document from the form (mode, daily_limit, blocked: one network a line);
    ChangeError naming bad fields."""
    raw_limit = form.get("daily_limit", "").strip()
    limit: Any = None
    if raw_limit:
        limit = int(raw_limit) if raw_limit.isascii() and raw_limit.isdigit() else raw_limit
    blocked = [line.strip() for line in form.get("blocked", "").replace(",", "\n").splitlines()]
    data = {
        "mode": form.get("mode", ""),
        "daily_limit": limit,
        "blocked": [b for b in blocked if b],
    }
    try:
        return policy_document(parse_policy(data))
    except PolicyError as exc:
        raise ChangeError(exc.errors) from None


def save_policy(engine: Engine, actor: Actor, document: dict[str, Any]) -> None:
    with engine.begin() as conn:
        put_document(conn, DOCUMENT, document, actor.user)
        record(conn, actor, "keys.signup.save", DOCUMENT, document)


def reset_policy(engine: Engine, actor: Actor) -> None:
    """Forget the saved policy: the settings apply again."""
    with engine.begin() as conn:
        if delete_document(conn, DOCUMENT):
            record(conn, actor, "keys.signup.reset", DOCUMENT, None)


def set_status(engine: Engine, actor: Actor, key: str, action: str) -> None:
    if action not in ACTIONS:
        raise ChangeError({"action": "approve, revoke or restore"})
    try:
        keyblocks.set_status(engine, key, ACTIONS[action], on_change=_audit(actor, f"key.{action}"))
    except KeyChangeError as exc:
        raise ChangeError(exc.errors) from None


def add_block(engine: Engine, actor: Actor, key: str, form: Mapping[str, str]) -> None:
    try:
        network, hours = keyblocks.parse_block(form.get("network", ""), form.get("hours", ""))
        keyblocks.add_block(
            engine,
            key,
            network,
            hours,
            form.get("reason"),
            actor.user,
            on_change=_audit(actor, "key.block"),
        )
    except (keyblocks.BadBlock, KeyChangeError) as exc:
        raise ChangeError(exc.errors) from None


def remove_block(engine: Engine, actor: Actor, key: str, block_id: int) -> None:
    try:
        keyblocks.remove_block(engine, key, block_id, on_change=_audit(actor, "key.unblock"))
    except KeyChangeError as exc:
        raise ChangeError(exc.errors) from None


def client_families(spool: Path) -> list[dict[str, Any]]:
    """Keyless requests by client family since the server processes of this host started:
    one row per family, with counts per API."""
    counts = summed_counter("keyless_clients", spool)
    rows = []
    for family in FAMILIES:
        per_api = {
            api: int(counts.get((api, family), 0)) for api in ("geolocate", "country", "submit")
        }
        rows.append({"family": family, **per_api, "total": sum(per_api.values())})
    return rows
