"""Organizations, users, memberships, clients, signing keys, refresh tokens, login failures, audit.

Revision ID: auth_0002
Revises: auth_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "auth_0002"
down_revision: str | Sequence[str] | None = "auth_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "auth_organizations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("credit_code", sa.String(18), nullable=True),
        sa.Column("region_code", sa.String(6), nullable=True),
        sa.Column("parent_id", sa.Uuid(), sa.ForeignKey("auth_organizations.id"), nullable=True),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rejection_reason", sa.String(1000), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        *_timestamps(),
    )
    op.create_index("ux_auth_organizations_credit_code", "auth_organizations", ["credit_code"], unique=True)
    op.create_index("ix_auth_organizations_parent_id", "auth_organizations", ["parent_id"])
    op.create_index("ix_auth_organizations_kind_status", "auth_organizations", ["kind", "status"])
    # Subtree queries are `path LIKE '<prefix>%'`; PostgreSQL needs text_pattern_ops for an index prefix scan
    # under a non-C collation (SQLite ignores the option).
    op.create_index(
        "ix_auth_organizations_path",
        "auth_organizations",
        ["path"],
        unique=True,
        postgresql_ops={"path": "text_pattern_ops"},
    )

    op.create_table(
        "auth_users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        *_timestamps(),
    )
    op.create_index("ux_auth_users_email", "auth_users", ["email"], unique=True)

    op.create_table(
        "auth_memberships",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("auth_users.id"), nullable=False),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("auth_organizations.id"), nullable=False),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("broker_certificate_no", sa.String(64), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("user_id", "organization_id", name="uq_auth_memberships_user_org"),
    )
    op.create_index("ix_auth_memberships_organization_id", "auth_memberships", ["organization_id"])

    op.create_table(
        "auth_clients",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("scopes", sa.String(1000), nullable=False),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("auth_organizations.id"), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        *_timestamps(),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ux_auth_clients_client_id", "auth_clients", ["client_id"], unique=True)
    op.create_index("ix_auth_clients_organization_id", "auth_clients", ["organization_id"])

    op.create_table(
        "auth_signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("private_jwk", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("activates_at", UTCDateTime(), nullable=False),
    )

    op.create_table(
        "auth_refresh_tokens",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("auth_users.id"), nullable=False),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("auth_organizations.id"), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("scope", sa.String(1000), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ux_auth_refresh_tokens_token_hash", "auth_refresh_tokens", ["token_hash"], unique=True)
    op.create_index("ix_auth_refresh_tokens_family_id", "auth_refresh_tokens", ["family_id"])
    op.create_index("ix_auth_refresh_tokens_user_id", "auth_refresh_tokens", ["user_id"])

    op.create_table(
        "auth_login_failures",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("account", sa.String(254), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_auth_login_failures_account_at", "auth_login_failures", ["account", "at"])
    op.create_index("ix_auth_login_failures_ip_at", "auth_login_failures", ["ip", "at"])

    op.create_table(
        "auth_revoked_access_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )

    op.create_index("ix_auth_revoked_access_tokens_expires_at", "auth_revoked_access_tokens", ["expires_at"])

    op.create_table(
        "auth_audit_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("from_state", sa.String(1000), nullable=True),
        sa.Column("to_state", sa.String(1000), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
    )
    op.create_index("ix_auth_audit_events_organization_id", "auth_audit_events", ["organization_id"])


def downgrade() -> None:
    for table in (
        "auth_audit_events",
        "auth_revoked_access_tokens",
        "auth_login_failures",
        "auth_refresh_tokens",
        "auth_signing_keys",
        "auth_clients",
        "auth_memberships",
        "auth_users",
        "auth_organizations",
    ):
        op.drop_table(table)
