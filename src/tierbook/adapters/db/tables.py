"""tierbook's tables, in SQLAlchemy Core. The migrations in `migrations/versions` create the same.

Every table but `api_keys`, `outbox` and `webhook_deliveries` (which the delivery worker reads
across tenants) leads its key with `tenant_id`, so each query a repository makes is scoped by an
index prefix.
Ledger amounts are BIGINT scaled by `AMOUNT_SCALE`: exact, and summable in SQL on both
databases. Instants go through `UtcDateTime`, so they are stored and returned in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

AMOUNT_SCALE = 10_000
"""Ledger amounts are stored as integers of 1/10,000: four decimal places, exactly."""

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An instant: `timestamptz` on PostgreSQL, UTC text on SQLite; always aware UTC on the way
    out. A naive datetime is refused, because its meaning depends on whoever made it."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _in_utc(value)
        # SQLite has no instant type: fixed-width naive UTC text sorts and compares correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        # A sweep or a batch writes instants by the hundred thousand. On SQLite the text is
        # written here in one step, the same the driver type writes from the naive value.
        if dialect.name == "sqlite":
            return sqlite_instant_text
        return super().bind_processor(dialect)

    def result_processor(self, _dialect: Dialect, _coltype: Any) -> Callable[[Any], Any] | None:
        # Instants are read by the million in a sweep. The text SQLite holds is ISO 8601:
        # `fromisoformat` reads it several times faster than the driver type's pattern.
        # PostgreSQL's driver gives aware datetimes, already in UTC in tierbook's sessions
        # (`engine.make_engine`): returned as they are, without the decorator's generic path.
        return utc_instant


def _in_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; give a UTC offset")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def sqlite_instant_text(value: datetime | None) -> str | None:
    """An instant as SQLite holds it: naive UTC text, `YYYY-MM-DD HH:MM:SS.ffffff`."""
    if value is None:
        return None
    return _in_utc(value).isoformat(" ", "microseconds")[:-6]  # less its "+00:00"


def utc_instant(value: Any) -> datetime | None:
    """An instant as the driver gives it (naive UTC text on SQLite, `timestamptz` on
    PostgreSQL) as an aware UTC datetime: what `UtcDateTime` returns."""
    if value is None:
        return None
    if isinstance(value, str):
        # Naive UTC text, read as UTC in one parse: several times faster than a naive parse
        # and `replace(tzinfo=UTC)`. Text with an offset of its own fails it.
        try:
            parsed = datetime.fromisoformat(value + "+00:00")
        except ValueError:
            pass
        else:
            if parsed.tzinfo is UTC:
                return parsed
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid); PostgreSQL needs BIGINT room.
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.Text, nullable=False)


programs = sa.Table(
    "programs",
    metadata,
    _tenant(),
    sa.Column("id", sa.BigInteger, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # A token every write replaces (NULL only before migration 0006): a kept parse of the
    # program stays good while its etag is unchanged.
    sa.Column("etag", sa.Text),
    sa.PrimaryKeyConstraint("tenant_id", "id"),
    sa.Index(None, "tenant_id", "code"),
)

members = sa.Table(
    "members",
    metadata,
    _tenant(),
    sa.Column("id", sa.Text, nullable=False),
    sa.Column("program_id", sa.BigInteger, nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("custom", sa.JSON, nullable=False),
    sa.Column("household_id", sa.Text),
    sa.Column("enrolled_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "id"),
    sa.ForeignKeyConstraint(["tenant_id", "program_id"], ["programs.tenant_id", "programs.id"]),
    sa.Index(None, "tenant_id", "email"),
    sa.Index(None, "tenant_id", "phone"),
    sa.Index(None, "tenant_id", "program_id", "household_id"),
)

# One row per custom field, so `custom.NAME=VALUE` look-ups use an index. `digest` (of the value's
# text) is what is indexed: a raw value may be longer than a PostgreSQL btree entry allows.
member_custom = sa.Table(
    "member_custom",
    metadata,
    _tenant(),
    sa.Column("member_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("digest", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "member_id", "name"),
    sa.ForeignKeyConstraint(
        ["tenant_id", "member_id"], ["members.tenant_id", "members.id"], ondelete="CASCADE"
    ),
    sa.Index(None, "tenant_id", "name", "digest"),
)

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    _tenant(),
    sa.Column("id", sa.Text, nullable=False),
    sa.Column("program_id", sa.BigInteger, nullable=False),
    sa.Column("member_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("recorded_at", UtcDateTime),
    sa.Column("idempotency_key", sa.Text),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("spend", sa.BigInteger, nullable=False),
    sa.Column("units", sa.BigInteger, nullable=False),
    sa.Column("business_unit", sa.Text),
    sa.Column("behaviour_type", sa.Text),
    sa.Column("achievement_id", sa.Text),
    sa.Column("reverses", sa.Text),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.UniqueConstraint("tenant_id", "id"),
    # A racing or repeated append with a used key hits this and writes nothing.
    sa.UniqueConstraint("tenant_id", "idempotency_key"),
    sa.ForeignKeyConstraint(["tenant_id", "member_id"], ["members.tenant_id", "members.id"]),
    sa.Index(None, "tenant_id", "program_id", "member_id", "occurred_at"),
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    _tenant(),
    sa.Column("id", sa.Text, nullable=False),
    sa.Column("program_id", sa.BigInteger, nullable=False),
    sa.Column("group_id", sa.BigInteger, nullable=False),
    sa.Column("subject_id", sa.Text, nullable=False),
    sa.Column("tier_id", sa.BigInteger, nullable=False),
    sa.Column("mode", sa.Text, nullable=False),
    sa.Column("effective_at", UtcDateTime, nullable=False),
    sa.Column("until", UtcDateTime),
    sa.Column("reason", sa.Text),
    sa.Column("assigned_at", UtcDateTime),
    sa.Column("ended_at", UtcDateTime),
    sa.UniqueConstraint("tenant_id", "id"),
    sa.Index(None, "tenant_id", "group_id", "subject_id"),
)

tier_states = sa.Table(
    "tier_states",
    metadata,
    _tenant(),
    sa.Column("group_id", sa.BigInteger, nullable=False),
    sa.Column("subject_id", sa.Text, nullable=False),
    sa.Column("program_id", sa.BigInteger, nullable=False),
    sa.Column("tier_id", sa.BigInteger),
    sa.Column("as_of", UtcDateTime, nullable=False),
    sa.Column("next_due_at", UtcDateTime),
    sa.Column("stable_until", UtcDateTime),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # Incremented by every write: see `SqlStateRepository.versions`.
    sa.Column("version", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.PrimaryKeyConstraint("tenant_id", "group_id", "subject_id"),
    # The sweep reads across tenants in the order stable spans end (`stable_until` is never
    # after `next_due_at`); the key columns make that order total.
    sa.Index(None, "stable_until", "tenant_id", "group_id", "subject_id"),
    sa.Index(None, "tenant_id", "program_id", "tier_id"),
    # The hot read joins a member's states (its own and its household's) by subject.
    sa.Index(None, "tenant_id", "subject_id"),
)

tier_history = sa.Table(
    "tier_history",
    metadata,
    _tenant(),
    sa.Column("group_id", sa.BigInteger, nullable=False),
    sa.Column("subject_id", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("from_tier_id", sa.BigInteger),
    sa.Column("to_tier_id", sa.BigInteger),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("figures", sa.JSON, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "group_id", "subject_id", "seq"),
    sa.ForeignKeyConstraint(
        ["tenant_id", "group_id", "subject_id"],
        ["tier_states.tenant_id", "tier_states.group_id", "tier_states.subject_id"],
        ondelete="CASCADE",
    ),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    _tenant(),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("subject_id", sa.Text, nullable=False),
    sa.Column("program_id", sa.BigInteger, nullable=False),
    sa.Column("group_id", sa.BigInteger, nullable=False),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("delivered_at", UtcDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Index(None, "tenant_id", "subject_id"),
    # Only undelivered events are ever scanned by the worker; keep that index small.
    sa.Index(
        "ix_outbox_pending",
        "seq",
        sqlite_where=sa.text("delivered_at IS NULL"),
        postgresql_where=sa.text("delivered_at IS NULL"),
    ),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    _tenant(),
    sa.Column("id", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("events", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("disabled_at", UtcDateTime),
    sa.PrimaryKeyConstraint("tenant_id", "id"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("webhook_id", sa.Text, nullable=False),
    _tenant(),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("delivered_at", UtcDateTime),
    sa.Column("failed_at", UtcDateTime),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.PrimaryKeyConstraint("event_id", "webhook_id"),
    sa.Index(None, "next_attempt_at"),
    sa.Index(None, "tenant_id", "webhook_id"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    _tenant(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
    sa.Index(None, "tenant_id"),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    _tenant(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "name"),
)

# -- what the vendor dialects keep (migration 0002) ----------------------------------------------

# Exchange Solutions user sessions: a client opens one per member and reads through it until it
# closes it or it expires.
es_sessions = sa.Table(
    "es_sessions",
    metadata,
    _tenant(),
    sa.Column("correlation_id", sa.Text, nullable=False),
    sa.Column("member_id", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("identifier_type", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("closed_at", UtcDateTime),
    sa.PrimaryKeyConstraint("tenant_id", "correlation_id"),
    sa.ForeignKeyConstraint(
        ["tenant_id", "member_id"], ["members.tenant_id", "members.id"], ondelete="CASCADE"
    ),
    sa.Index(None, "tenant_id", "expires_at"),
)

# Server-wide secrets tierbook makes for itself (the key that signs ES bearer tokens when
# `TIERBOOK_TOKEN_SECRET` is unset): made once, kept, shared by every process.
server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# Omneo's integer `id` of a profile-tier record: one per (member, group), handed out on first read.
profile_tier_ids = sa.Table(
    "profile_tier_ids",
    metadata,
    sa.Column("id", Seq, primary_key=True, autoincrement=True),
    _tenant(),
    sa.Column("group_id", sa.BigInteger, nullable=False),
    sa.Column("member_id", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "group_id", "member_id"),
)
