"""The sandbox ledger (payments.md §9.7): balances, allowances, nonces and transfers per
(network, asset, address), shared by x402 settlement and Compose Key collection.

Amounts are uint256 (:class:`~gateway_core.store.schema.Uint256`), so arithmetic happens in
Python on rows locked by the write transaction, never in SQL. Accounts are locked in address
order, so two opposite transfers on PostgreSQL cannot deadlock.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from sqlalchemy import ColumnElement, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_core.store.database import Database
from gateway_core.store.records import (
    UINT256_MAX,
    AllowanceKind,
    LedgerAccount,
    LedgerTransfer,
    LedgerTransferRecord,
    TransferOutcome,
)
from gateway_core.store.schema import ledger_accounts, ledger_nonces, ledger_transfers

__all__ = ["account", "approve", "fund", "nonce_used", "transfer", "transfer_in", "transfers"]


def _account(row: RowMapping | None, network: str, asset: str, address: str) -> LedgerAccount:
    if row is None:
        return LedgerAccount(network=network, asset=asset, address=address)
    return LedgerAccount(
        network=network,
        asset=asset,
        address=address,
        balance=row["balance"],
        permit2_allowance=row["permit2_allowance"],
        spender_allowance=row["spender_allowance"],
    )


def _check_amount(amount: int) -> None:
    if not 0 <= amount <= UINT256_MAX:
        raise ValueError(f"ledger amount out of range: {amount}")


def _where(network: str, asset: str, address: str) -> tuple[ColumnElement[bool], ...]:
    columns = ledger_accounts.c
    return (columns.network == network, columns.asset == asset, columns.address == address)


async def _lock_account(
    db: Database, conn: AsyncConnection, network: str, asset: str, address: str, now_ms: int
) -> LedgerAccount:
    """Create the account row if absent (zeros), then read it holding its row lock."""
    ensure = (
        db.insert(ledger_accounts)
        .values(
            network=network,
            asset=asset,
            address=address,
            balance=0,
            permit2_allowance=0,
            spender_allowance=0,
            updated_at=now_ms,
        )
        .on_conflict_do_nothing()
    )
    await conn.execute(ensure)
    query = select(ledger_accounts).where(*_where(network, asset, address)).with_for_update()
    row = (await conn.execute(query)).mappings().one()
    return _account(row, network, asset, address)


async def _save(conn: AsyncConnection, account: LedgerAccount, now_ms: int) -> None:
    await conn.execute(
        update(ledger_accounts)
        .where(*_where(account.network, account.asset, account.address))
        .values(
            balance=account.balance,
            permit2_allowance=account.permit2_allowance,
            spender_allowance=account.spender_allowance,
            updated_at=now_ms,
        )
    )


async def account(db: Database, network: str, asset: str, address: str) -> LedgerAccount:
    asset, address = asset.lower(), address.lower()

    async def run(conn: AsyncConnection) -> LedgerAccount:
        row = (await conn.execute(select(ledger_accounts).where(*_where(network, asset, address)))).mappings().first()
        return _account(row, network, asset, address)

    return await db.read(run)


async def fund(
    db: Database,
    network: str,
    asset: str,
    address: str,
    amount: int,
    *,
    approve_permit2: bool,
    approve_spender: bool,
    now_ms: int,
) -> LedgerAccount:
    """Add ``amount`` to the balance; each approval sets that allowance to unlimited."""
    _check_amount(amount)
    asset, address = asset.lower(), address.lower()

    async def run(conn: AsyncConnection) -> LedgerAccount:
        current = await _lock_account(db, conn, network, asset, address, now_ms)
        balance = current.balance + amount
        if balance > UINT256_MAX:
            raise ValueError("ledger balance would exceed 2^256-1")
        funded = replace(
            current,
            balance=balance,
            permit2_allowance=UINT256_MAX if approve_permit2 else current.permit2_allowance,
            spender_allowance=UINT256_MAX if approve_spender else current.spender_allowance,
        )
        await _save(conn, funded, now_ms)
        return funded

    return await db.write(run)


async def approve(
    db: Database, network: str, asset: str, address: str, kind: AllowanceKind, amount: int, *, now_ms: int
) -> LedgerAccount:
    """Set one allowance of ``address`` to ``amount`` (an ERC-20 ``approve``)."""
    _check_amount(amount)
    asset, address = asset.lower(), address.lower()

    async def run(conn: AsyncConnection) -> LedgerAccount:
        current = await _lock_account(db, conn, network, asset, address, now_ms)
        if kind == "permit2":
            approved = replace(current, permit2_allowance=amount)
        else:
            approved = replace(current, spender_allowance=amount)
        await _save(conn, approved, now_ms)
        return approved

    return await db.write(run)


async def nonce_used(db: Database, network: str, asset: str, address: str, nonce: str) -> bool:
    columns = ledger_nonces.c
    query = select(columns.nonce).where(
        columns.network == network,
        columns.asset == asset.lower(),
        columns.address == address.lower(),
        columns.nonce == nonce.lower(),
    )

    async def run(conn: AsyncConnection) -> bool:
        return (await conn.execute(query)).first() is not None

    return await db.read(run)


def _normalized(t: LedgerTransfer) -> LedgerTransfer:
    return replace(
        t,
        asset=t.asset.lower(),
        from_address=t.from_address.lower(),
        to_address=t.to_address.lower(),
        nonce=None if t.nonce is None else t.nonce.lower(),
        tx_hash=None if t.tx_hash is None else t.tx_hash.lower(),
    )


async def transfer_in(db: Database, conn: AsyncConnection, t: LedgerTransfer, now_ms: int) -> TransferOutcome:
    """Perform ``t`` inside the caller's write transaction (also used by key settlement).

    Checks run before any write (nonce, allowance, balance, in that order), so a refused
    transfer leaves nothing to undo and the caller's transaction can carry on.
    """
    _check_amount(t.amount)
    t = _normalized(t)
    locked = {
        address: await _lock_account(db, conn, t.network, t.asset, address, now_ms)
        for address in sorted({t.from_address, t.to_address})
    }
    payer = locked[t.from_address]
    if t.nonce is not None:
        used = await conn.execute(
            select(ledger_nonces.c.nonce).where(
                ledger_nonces.c.network == t.network,
                ledger_nonces.c.asset == t.asset,
                ledger_nonces.c.address == t.from_address,
                ledger_nonces.c.nonce == t.nonce,
            )
        )
        if used.first() is not None:
            return TransferOutcome(ok=False, reason="nonce_already_used")
    if t.allowance is not None:
        allowance = payer.permit2_allowance if t.allowance == "permit2" else payer.spender_allowance
        if allowance < t.amount:
            return TransferOutcome(ok=False, reason="allowance_too_low")
    if payer.balance < t.amount:
        return TransferOutcome(ok=False, reason="insufficient_funds")

    payer = replace(payer, balance=payer.balance - t.amount)
    if t.allowance == "permit2" and payer.permit2_allowance != UINT256_MAX:
        payer = replace(payer, permit2_allowance=payer.permit2_allowance - t.amount)
    if t.allowance == "spender" and payer.spender_allowance != UINT256_MAX:
        payer = replace(payer, spender_allowance=payer.spender_allowance - t.amount)
    locked[t.from_address] = payer
    payee = locked[t.to_address]
    locked[t.to_address] = replace(payee, balance=payee.balance + t.amount)
    for changed in locked.values():
        await _save(conn, changed, now_ms)

    tx_hash = t.tx_hash or "0x" + secrets.token_hex(32)
    if t.nonce is not None:
        await conn.execute(
            insert(ledger_nonces).values(
                network=t.network,
                asset=t.asset,
                address=t.from_address,
                nonce=t.nonce,
                tx_hash=tx_hash,
                used_at=now_ms,
            )
        )
    await conn.execute(
        insert(ledger_transfers).values(
            tx_hash=tx_hash,
            network=t.network,
            asset=t.asset,
            from_address=t.from_address,
            to_address=t.to_address,
            amount=t.amount,
            at=now_ms,
        )
    )
    return TransferOutcome(ok=True, tx_hash=tx_hash)


async def transfer(db: Database, t: LedgerTransfer, now_ms: int) -> TransferOutcome:
    """One transfer in its own transaction."""

    async def run(conn: AsyncConnection) -> TransferOutcome:
        return await transfer_in(db, conn, t, now_ms)

    return await db.write(run)


async def transfers(db: Database, network: str, asset: str, address: str, limit: int) -> list[LedgerTransferRecord]:
    """Transfers from or to ``address``, newest first."""
    asset, address = asset.lower(), address.lower()
    columns = ledger_transfers.c
    query = (
        select(ledger_transfers)
        .where(
            columns.network == network,
            columns.asset == asset,
            or_(columns.from_address == address, columns.to_address == address),
        )
        .order_by(columns.id.desc())
        .limit(limit)
    )

    async def run(conn: AsyncConnection) -> list[LedgerTransferRecord]:
        return [
            LedgerTransferRecord(
                tx_hash=row["tx_hash"],
                network=row["network"],
                asset=row["asset"],
                from_address=row["from_address"],
                to_address=row["to_address"],
                amount=row["amount"],
                at=row["at"],
            )
            for row in (await conn.execute(query)).mappings()
        ]

    return await db.read(run)
