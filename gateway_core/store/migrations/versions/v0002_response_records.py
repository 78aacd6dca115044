"""Response records: stored chat/responses/embeddings results (responses.md §6).

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01

Written by hand and frozen, like ``v0001_initial``: types mirror ``response_records`` in
``gateway_core/store/schema.py`` and names follow its naming convention (wrapped in ``op.f``
so the convention is not applied a second time).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _ms(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "response_records",
        sa.Column("response_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("owner_kind", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=True),
        sa.Column("previous_response_id", sa.String(64), nullable=True),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("input_items_json", sa.Text(), nullable=False),
        sa.Column("output_json", sa.Text(), nullable=True),
        sa.Column("usage_json", sa.Text(), nullable=True),
        sa.Column("error_json", sa.Text(), nullable=True),
        sa.Column("background", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        _ms("created_at"),
        _ms("updated_at"),
        _ms("expires_at"),
        sa.PrimaryKeyConstraint("response_id", name=op.f("pk_response_records")),
    )
    op.create_index(op.f("ix_response_records_expires_at"), "response_records", ["expires_at"])
    op.create_index(op.f("ix_response_records_previous_response_id"), "response_records", ["previous_response_id"])


def downgrade() -> None:
    op.drop_table("response_records")
