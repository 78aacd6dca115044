"""Table definitions the queries are written against (SQLAlchemy Core).

The database itself is created and changed only by the Alembic revisions in
``migrations/versions``; this module must describe the schema those revisions produce
(``tests/store/test_store_migrations.py`` compares the two).

Types, chosen so one schema works on SQLite and PostgreSQL:

* money that fits 64 bits (key budgets, receipt amounts): ``BIGINT``; enough for
  9.2e12 USDC.
* uint256 values (sandbox balances and allowances, which may be 2^256-1):
  :class:`Uint256` — ``NUMERIC(78,0)`` on PostgreSQL (78 digits hold 2^256-1 exactly) and
  decimal text on SQLite, whose NUMERIC affinity would silently round such values to a
  float. Arithmetic on these columns is therefore done in Python inside a transaction that
  holds the row (never in SQL).
* times: ``BIGINT`` Unix milliseconds, except x402 deadlines and signature-proof expiries
  (seconds, as on the wire).
* JSON documents the store only keeps (receipt bodies, stored requests and outputs): ``TEXT``.

Later tables are added by a *new* revision each (never by editing an earlier one) plus a
module next to ``keys.py`` and methods on :class:`~gateway_core.store.Store`:

* ``response_records`` (``resp_…``; revision ``0002``, :mod:`gateway_core.store.responses`);
* still to come: ``video_jobs`` (``vjob_…``, 7 days) for asynchronous video generation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.types import TypeEngine

__all__ = [
    "ADDRESS",
    "NETWORK",
    "Uint256",
    "compose_keys",
    "generated_secrets",
    "key_holds",
    "ledger_accounts",
    "ledger_nonces",
    "ledger_transfers",
    "metadata",
    "receipt_totals",
    "receipts",
    "response_records",
    "signature_proofs",
    "x402_reservations",
]

# Deterministic constraint names, so later revisions can refer to them on both dialects.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ADDRESS = 42  # 0x + 40 hex, stored lowercase
NETWORK = 64  # CAIP-2, e.g. eip155:31337
_NONCE = 80  # 0x + 64 hex, or a uint256 in decimal (≤ 78 digits)
_TX_HASH = 66


class Uint256(TypeDecorator[int]):
    """A non-negative integer up to 2^256-1: NUMERIC(78,0) on PostgreSQL, decimal text elsewhere."""

    impl = String(78)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(78, 0))
        return dialect.type_descriptor(String(78))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> object:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return Decimal(value)  # exact: constructing a Decimal from an int never rounds
        return str(value)

    def process_result_value(self, value: object, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, Decimal):  # PostgreSQL NUMERIC(78,0): scale 0, exact
            return int(value)
        return int(str(value))


def _ms(name: str, *, nullable: bool = False) -> Column[int]:
    return Column(name, BigInteger, nullable=nullable)


compose_keys = Table(
    "compose_keys",
    metadata,
    Column("key_id", String(36), primary_key=True),
    Column("user_address", String(ADDRESS), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("name", String(128)),
    Column("budget_limit", BigInteger, nullable=False),
    Column("budget_used", BigInteger, nullable=False),
    Column("budget_reserved", BigInteger, nullable=False),
    Column("chain_id", BigInteger, nullable=False),
    _ms("created_at"),
    _ms("expires_at"),
    _ms("revoked_at", nullable=True),
    _ms("last_used_at", nullable=True),
    # The §2.3 invariant, enforced by the database itself as a last line of defence.
    CheckConstraint(
        "budget_used >= 0 AND budget_reserved >= 0 AND budget_used + budget_reserved <= budget_limit",
        name="budget",
    ),
    Index(None, "user_address", "created_at"),
)

key_holds = Table(
    "key_holds",
    metadata,
    Column("hold_id", String(40), primary_key=True),
    Column("key_id", String(36), ForeignKey("compose_keys.key_id", ondelete="CASCADE"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("release_reason", String(16)),
    Column("charged", BigInteger),
    Column("request_id", String(255), nullable=False),
    _ms("created_at"),
    _ms("finished_at", nullable=True),
    CheckConstraint("amount > 0", name="amount"),
    Index(None, "status", "created_at"),
    Index(None, "key_id"),
)

x402_reservations = Table(
    "x402_reservations",
    metadata,
    Column("network", String(NETWORK), primary_key=True),
    Column("asset", String(ADDRESS), primary_key=True),
    Column("payer", String(ADDRESS), primary_key=True),
    Column("nonce", String(_NONCE), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # seconds
    Column("request_id", String(255), nullable=False),
    Column("detail_json", Text),
    _ms("created_at"),
    _ms("updated_at"),
    Index(None, "state"),
    Index(None, "expires_at"),
)

receipts = Table(
    "receipts",
    metadata,
    Column("receipt_id", String(40), primary_key=True),
    Column("payer", String(ADDRESS), nullable=False),
    Column("network", String(NETWORK), nullable=False),
    Column("payment_method", String(16), nullable=False),
    Column("key_id", String(36)),  # no foreign key: receipts outlive deleted keys
    Column("final_amount", BigInteger, nullable=False),
    Column("provider_amount", BigInteger, nullable=False),
    Column("platform_fee", BigInteger, nullable=False),
    # Cumulative totals of the payer on the network right after this receipt; cum_count is
    # also the receipt's position in that sequence, the order lists are sorted by.
    Column("cum_total", BigInteger, nullable=False),
    Column("cum_provider", BigInteger, nullable=False),
    Column("cum_fee", BigInteger, nullable=False),
    Column("cum_count", BigInteger, nullable=False),
    Column("body_json", Text, nullable=False),
    _ms("created_at"),
    Index(None, "payer", "network", "cum_count"),
    Index(None, "created_at"),
)

# One row per (payer, network): the running totals. Pruning old receipts does not lower them.
receipt_totals = Table(
    "receipt_totals",
    metadata,
    Column("payer", String(ADDRESS), primary_key=True),
    Column("network", String(NETWORK), primary_key=True),
    Column("total_amount", BigInteger, nullable=False),
    Column("provider_amount", BigInteger, nullable=False),
    Column("platform_fee", BigInteger, nullable=False),
    Column("receipt_count", BigInteger, nullable=False),
)

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("network", String(NETWORK), primary_key=True),
    Column("asset", String(ADDRESS), primary_key=True),
    Column("address", String(ADDRESS), primary_key=True),
    Column("balance", Uint256, nullable=False),
    Column("permit2_allowance", Uint256, nullable=False),
    Column("spender_allowance", Uint256, nullable=False),
    _ms("updated_at"),
)

ledger_nonces = Table(
    "ledger_nonces",
    metadata,
    Column("network", String(NETWORK), primary_key=True),
    Column("asset", String(ADDRESS), primary_key=True),
    Column("address", String(ADDRESS), primary_key=True),
    Column("nonce", String(_NONCE), primary_key=True),
    Column("tx_hash", String(_TX_HASH), nullable=False),
    _ms("used_at"),
)

ledger_transfers = Table(
    "ledger_transfers",
    metadata,
    # A surrogate key gives "newest first" a total order, even within one millisecond.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("tx_hash", String(_TX_HASH), nullable=False, unique=True),
    Column("network", String(NETWORK), nullable=False),
    Column("asset", String(ADDRESS), nullable=False),
    Column("from_address", String(ADDRESS), nullable=False),
    Column("to_address", String(ADDRESS), nullable=False),
    Column("amount", Uint256, nullable=False),
    _ms("at"),
    Index(None, "network", "asset", "from_address", "id"),
    Index(None, "network", "asset", "to_address", "id"),
)

signature_proofs = Table(
    "signature_proofs",
    metadata,
    Column("digest", String(132), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),  # seconds
    Index(None, "expires_at"),
)

generated_secrets = Table(
    "generated_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    _ms("created_at"),
)

# Stored chat/responses/embeddings results (responses.md §6). previous_response_id has no
# foreign key: a link may expire and be pruned before the records that point at it.
response_records = Table(
    "response_records",
    metadata,
    Column("response_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("model", String(255), nullable=False),
    Column("owner_kind", String(16), nullable=False),
    Column("owner_id", String(64)),
    Column("previous_response_id", String(64)),
    Column("request_json", Text, nullable=False),
    Column("input_items_json", Text, nullable=False),
    Column("output_json", Text),
    Column("usage_json", Text),
    Column("error_json", Text),
    Column("background", Boolean, nullable=False),
    Column("cancel_requested", Boolean, nullable=False),
    _ms("created_at"),
    _ms("updated_at"),
    _ms("expires_at"),
    Index(None, "expires_at"),
    Index(None, "previous_response_id"),
)
