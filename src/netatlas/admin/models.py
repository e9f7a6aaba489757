"""Admin tables: accounts, sessions, login lock-outs, the audit log and survey reviews.

* ``admin_user`` — one row per administrator (``netatlas admin set-password``), the password
  as an scrypt hash.
* ``admin_session`` — a login: the SHA-256 of the session token the cookie carries (a stolen
  database does not yield usable cookies), its user, and when it ends.
* ``admin_lockout`` — failed logins per client address and per user name, and until when
  logins from there are refused.
* ``audit_log`` — every change an administrator makes, with who, when, from where and what.
* ``survey_review`` — an administrator's verdict on a survey response (verified or not);
  responses without a row have not been reviewed.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from netatlas.db.metadata import metadata

admin_user = Table(
    "admin_user",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("created", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
)

admin_session = Table(
    "admin_session",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("created", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
    Column("expires", DateTime, nullable=False),
    Column("client_ip", String(45)),
    Index("ix_admin_session_username", "username"),
)

admin_lockout = Table(
    "admin_lockout",
    metadata,
    Column("subject", String(128), primary_key=True),  # "ip:<address>" or "user:<name>"
    Column("failures", Integer, nullable=False),
    Column("window_start", DateTime, nullable=False),
    Column("locked_until", DateTime),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", DateTime, nullable=False),
    Column("username", String(64), nullable=False),
    Column("action", String(64), nullable=False),  # e.g. key.create, survey.verify
    Column("target", String(255)),
    Column("detail", Text),  # JSON: the values set, or what was deleted
    Column("client_ip", String(45)),
    Index("ix_audit_log_time", "time"),
)

survey_review = Table(
    "survey_review",
    metadata,
    Column("survey_id", Integer, ForeignKey("survey_response.id"), primary_key=True),
    Column("verified", Boolean, nullable=False),
    Column("reviewed", DateTime, nullable=False),
    Column("reviewer", String(64), nullable=False),
)
