"""Initial store schema: Compose Keys and holds, x402 reservations, receipts, sandbox
ledger, wallet-signature proofs, generated secrets.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand and frozen: later changes go in new revisions. Types mirror
``gateway_core/store/schema.py`` (see its docstring for why uint256 is NUMERIC(78,0) on
PostgreSQL and decimal text on SQLite); constraint and index names follow its naming
convention so later revisions can refer to them, and are wrapped in ``op.f`` so the
convention is not applied a second time.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_ADDRESS = 42
_NETWORK = 64
_NONCE = 80
_TX_HASH = 66


def _uint256() -> sa.types.TypeEngine[Any]:
    return sa.String(78).with_variant(sa.Numeric(78, 0), "postgresql")


def _ms(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "compose_keys",
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("user_address", sa.String(_ADDRESS), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("budget_limit", sa.BigInteger(), nullable=False),
        sa.Column("budget_used", sa.BigInteger(), nullable=False),
        sa.Column("budget_reserved", sa.BigInteger(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        _ms("created_at"),
        _ms("expires_at"),
        _ms("revoked_at", nullable=True),
        _ms("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_compose_keys")),
        sa.CheckConstraint(
            "budget_used >= 0 AND budget_reserved >= 0 AND budget_used + budget_reserved <= budget_limit",
            name=op.f("ck_compose_keys_budget"),
        ),
    )
    op.create_index(op.f("ix_compose_keys_user_address_created_at"), "compose_keys", ["user_address", "created_at"])

    op.create_table(
        "key_holds",
        sa.Column("hold_id", sa.String(40), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("release_reason", sa.String(16), nullable=True),
        sa.Column("charged", sa.BigInteger(), nullable=True),
        sa.Column("request_id", sa.String(255), nullable=False),
        _ms("created_at"),
        _ms("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_key_holds")),
        sa.ForeignKeyConstraint(
            ["key_id"], ["compose_keys.key_id"], name=op.f("fk_key_holds_key_id_compose_keys"), ondelete="CASCADE"
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_key_holds_amount")),
    )
    op.create_index(op.f("ix_key_holds_status_created_at"), "key_holds", ["status", "created_at"])
    op.create_index(op.f("ix_key_holds_key_id"), "key_holds", ["key_id"])

    op.create_table(
        "x402_reservations",
        sa.Column("network", sa.String(_NETWORK), nullable=False),
        sa.Column("asset", sa.String(_ADDRESS), nullable=False),
        sa.Column("payer", sa.String(_ADDRESS), nullable=False),
        sa.Column("nonce", sa.String(_NONCE), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(255), nullable=False),
        sa.Column("detail_json", sa.Text(), nullable=True),
        _ms("created_at"),
        _ms("updated_at"),
        sa.PrimaryKeyConstraint("network", "asset", "payer", "nonce", name=op.f("pk_x402_reservations")),
    )
    op.create_index(op.f("ix_x402_reservations_state"), "x402_reservations", ["state"])
    op.create_index(op.f("ix_x402_reservations_expires_at"), "x402_reservations", ["expires_at"])

    op.create_table(
        "receipts",
        sa.Column("receipt_id", sa.String(40), nullable=False),
        sa.Column("payer", sa.String(_ADDRESS), nullable=False),
        sa.Column("network", sa.String(_NETWORK), nullable=False),
        sa.Column("payment_method", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=True),
        sa.Column("final_amount", sa.BigInteger(), nullable=False),
        sa.Column("provider_amount", sa.BigInteger(), nullable=False),
        sa.Column("platform_fee", sa.BigInteger(), nullable=False),
        sa.Column("cum_total", sa.BigInteger(), nullable=False),
        sa.Column("cum_provider", sa.BigInteger(), nullable=False),
        sa.Column("cum_fee", sa.BigInteger(), nullable=False),
        sa.Column("cum_count", sa.BigInteger(), nullable=False),
        sa.Column("body_json", sa.Text(), nullable=False),
        _ms("created_at"),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_receipts")),
    )
    op.create_index(op.f("ix_receipts_payer_network_cum_count"), "receipts", ["payer", "network", "cum_count"])
    op.create_index(op.f("ix_receipts_created_at"), "receipts", ["created_at"])

    op.create_table(
        "receipt_totals",
        sa.Column("payer", sa.String(_ADDRESS), nullable=False),
        sa.Column("network", sa.String(_NETWORK), nullable=False),
        sa.Column("total_amount", sa.BigInteger(), nullable=False),
        sa.Column("provider_amount", sa.BigInteger(), nullable=False),
        sa.Column("platform_fee", sa.BigInteger(), nullable=False),
        sa.Column("receipt_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("payer", "network", name=op.f("pk_receipt_totals")),
    )

    op.create_table(
        "ledger_accounts",
        sa.Column("network", sa.String(_NETWORK), nullable=False),
        sa.Column("asset", sa.String(_ADDRESS), nullable=False),
        sa.Column("address", sa.String(_ADDRESS), nullable=False),
        sa.Column("balance", _uint256(), nullable=False),
        sa.Column("permit2_allowance", _uint256(), nullable=False),
        sa.Column("spender_allowance", _uint256(), nullable=False),
        _ms("updated_at"),
        sa.PrimaryKeyConstraint("network", "asset", "address", name=op.f("pk_ledger_accounts")),
    )

    op.create_table(
        "ledger_nonces",
        sa.Column("network", sa.String(_NETWORK), nullable=False),
        sa.Column("asset", sa.String(_ADDRESS), nullable=False),
        sa.Column("address", sa.String(_ADDRESS), nullable=False),
        sa.Column("nonce", sa.String(_NONCE), nullable=False),
        sa.Column("tx_hash", sa.String(_TX_HASH), nullable=False),
        _ms("used_at"),
        sa.PrimaryKeyConstraint("network", "asset", "address", "nonce", name=op.f("pk_ledger_nonces")),
    )

    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tx_hash", sa.String(_TX_HASH), nullable=False),
        sa.Column("network", sa.String(_NETWORK), nullable=False),
        sa.Column("asset", sa.String(_ADDRESS), nullable=False),
        sa.Column("from_address", sa.String(_ADDRESS), nullable=False),
        sa.Column("to_address", sa.String(_ADDRESS), nullable=False),
        sa.Column("amount", _uint256(), nullable=False),
        _ms("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfers")),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_ledger_transfers_tx_hash")),
    )
    op.create_index(
        op.f("ix_ledger_transfers_network_asset_from_address_id"),
        "ledger_transfers",
        ["network", "asset", "from_address", "id"],
    )
    op.create_index(
        op.f("ix_ledger_transfers_network_asset_to_address_id"),
        "ledger_transfers",
        ["network", "asset", "to_address", "id"],
    )

    op.create_table(
        "signature_proofs",
        sa.Column("digest", sa.String(132), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_signature_proofs")),
    )
    op.create_index(op.f("ix_signature_proofs_expires_at"), "signature_proofs", ["expires_at"])

    op.create_table(
        "generated_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _ms("created_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_generated_secrets")),
    )


def downgrade() -> None:
    for table in (
        "generated_secrets",
        "signature_proofs",
        "ledger_transfers",
        "ledger_nonces",
        "ledger_accounts",
        "receipt_totals",
        "receipts",
        "x402_reservations",
        "key_holds",
        "compose_keys",
    ):
        op.drop_table(table)
