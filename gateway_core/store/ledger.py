"""The sandbox ledger (payments.md §9.7): balances, allowances, nonces and transfers per
(network, asset, address), shared by x402 settlement and Compose Key collection.

Amounts are uint256 (:class:`~gateway_core.store.schema.Uint256`), so arithmetic happens in
Python on rows locked by the write transaction, never in SQL. Accounts are locked in address
order, so two opposite transfers on PostgreSQL cannot deadlock.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from sqlalchemy import BigInteger, Integer, String, bindparam, insert, or_, select, update

from gateway_core.store.database import Database
from gateway_core.store.prepared import Prepared, Row, Tx, dialect_insert
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

_a = ledger_accounts.c
_n = ledger_nonces.c
_x = ledger_transfers.c


def _text(name: str) -> Any:
    return bindparam(name, type_=String)


def _uint(name: str) -> Any:
    return bindparam(name, type_=_a.balance.type)


_ACCOUNT_KEY = (_a.network == _text("network"), _a.asset == _text("asset"), _a.address == _text("address"))
_GET_ACCOUNT = Prepared(select(ledger_accounts).where(*_ACCOUNT_KEY))


def _lock_account_statement(dialect: str) -> Any:
    # One statement that creates the account (all zeros) if absent and returns it locked: the
    # no-op update of an existing row takes its row lock, as SELECT … FOR UPDATE would.
    statement = dialect_insert(dialect, ledger_accounts).values(
        network=_text("network"),
        asset=_text("asset"),
        address=_text("address"),
        balance=_uint("zero"),
        permit2_allowance=_uint("zero"),
        spender_allowance=_uint("zero"),
        updated_at=bindparam("now", type_=BigInteger),
    )
    return statement.on_conflict_do_update(
        index_elements=[_a.network, _a.asset, _a.address], set_={"updated_at": _a.updated_at}
    ).returning(*ledger_accounts.c)


_LOCK_ACCOUNT = Prepared(_lock_account_statement)
_SAVE = Prepared(
    update(ledger_accounts)
    .where(*_ACCOUNT_KEY)
    .values(
        balance=_uint("balance"),
        permit2_allowance=_uint("permit2_allowance"),
        spender_allowance=_uint("spender_allowance"),
        updated_at=bindparam("now", type_=BigInteger),
    )
)
_NONCE = Prepared(
    select(_n.nonce).where(
        _n.network == _text("network"),
        _n.asset == _text("asset"),
        _n.address == _text("address"),
        _n.nonce == _text("nonce"),
    )
)
_USE_NONCE = Prepared(
    insert(ledger_nonces).values(
        network=_text("network"),
        asset=_text("asset"),
        address=_text("address"),
        nonce=_text("nonce"),
        tx_hash=_text("tx_hash"),
        used_at=bindparam("now", type_=BigInteger),
    )
)
_RECORD = Prepared(
    insert(ledger_transfers).values(
        tx_hash=_text("tx_hash"),
        network=_text("network"),
        asset=_text("asset"),
        from_address=_text("from_address"),
        to_address=_text("to_address"),
        amount=bindparam("amount", type_=_x.amount.type),
        at=bindparam("now", type_=BigInteger),
    )
)
_TRANSFERS = Prepared(
    select(ledger_transfers)
    .where(
        _x.network == _text("network"),
        _x.asset == _text("asset"),
        or_(_x.from_address == _text("address"), _x.to_address == _text("address")),
    )
    .order_by(_x.id.desc())
    .limit(bindparam("limit", type_=Integer))
)


def _account(row: Row | None, network: str, asset: str, address: str) -> LedgerAccount:
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


async def _lock_account(tx: Tx, network: str, asset: str, address: str, now_ms: int) -> LedgerAccount:
    """The account (created with zeros if absent), holding its row lock."""
    row = await tx.one(_LOCK_ACCOUNT, network=network, asset=asset, address=address, zero=0, now=now_ms)
    return _account(row, network, asset, address)


async def _save(tx: Tx, account: LedgerAccount, now_ms: int) -> None:
    await tx.run(
        _SAVE,
        network=account.network,
        asset=account.asset,
        address=account.address,
        balance=account.balance,
        permit2_allowance=account.permit2_allowance,
        spender_allowance=account.spender_allowance,
        now=now_ms,
    )


async def account(db: Database, network: str, asset: str, address: str) -> LedgerAccount:
    asset, address = asset.lower(), address.lower()
    row = await db.one(_GET_ACCOUNT, {"network": network, "asset": asset, "address": address}, write=False)
    return _account(row, network, asset, address)


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

    async def run(tx: Tx) -> LedgerAccount:
        current = await _lock_account(tx, network, asset, address, now_ms)
        balance = current.balance + amount
        if balance > UINT256_MAX:
            raise ValueError("ledger balance would exceed 2^256-1")
        funded = replace(
            current,
            balance=balance,
            permit2_allowance=UINT256_MAX if approve_permit2 else current.permit2_allowance,
            spender_allowance=UINT256_MAX if approve_spender else current.spender_allowance,
        )
        await _save(tx, funded, now_ms)
        return funded

    return await db.run(run, write=True)


async def approve(
    db: Database, network: str, asset: str, address: str, kind: AllowanceKind, amount: int, *, now_ms: int
) -> LedgerAccount:
    """Set one allowance of ``address`` to ``amount`` (an ERC-20 ``approve``)."""
    _check_amount(amount)
    asset, address = asset.lower(), address.lower()

    async def run(tx: Tx) -> LedgerAccount:
        current = await _lock_account(tx, network, asset, address, now_ms)
        if kind == "permit2":
            approved = replace(current, permit2_allowance=amount)
        else:
            approved = replace(current, spender_allowance=amount)
        await _save(tx, approved, now_ms)
        return approved

    return await db.run(run, write=True)


async def nonce_used(db: Database, network: str, asset: str, address: str, nonce: str) -> bool:
    params = {"network": network, "asset": asset.lower(), "address": address.lower(), "nonce": nonce.lower()}
    return await db.one(_NONCE, params, write=False) is not None


def _normalized(t: LedgerTransfer) -> LedgerTransfer:
    return replace(
        t,
        asset=t.asset.lower(),
        from_address=t.from_address.lower(),
        to_address=t.to_address.lower(),
        nonce=None if t.nonce is None else t.nonce.lower(),
        tx_hash=None if t.tx_hash is None else t.tx_hash.lower(),
    )


async def transfer_in(tx: Tx, t: LedgerTransfer, now_ms: int) -> TransferOutcome:
    """Perform ``t`` inside the caller's write transaction (also used by key settlement).

    Checks run before any write (nonce, allowance, balance, in that order), so a refused
    transfer leaves nothing to undo and the caller's transaction can carry on.
    """
    _check_amount(t.amount)
    t = _normalized(t)
    locked = {
        address: await _lock_account(tx, t.network, t.asset, address, now_ms)
        for address in sorted({t.from_address, t.to_address})
    }
    payer = locked[t.from_address]
    if t.nonce is not None:
        used = await tx.one(_NONCE, network=t.network, asset=t.asset, address=t.from_address, nonce=t.nonce)
        if used is not None:
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
        await _save(tx, changed, now_ms)

    tx_hash = t.tx_hash or "0x" + secrets.token_hex(32)
    if t.nonce is not None:
        await tx.run(
            _USE_NONCE,
            network=t.network,
            asset=t.asset,
            address=t.from_address,
            nonce=t.nonce,
            tx_hash=tx_hash,
            now=now_ms,
        )
    await tx.run(
        _RECORD,
        tx_hash=tx_hash,
        network=t.network,
        asset=t.asset,
        from_address=t.from_address,
        to_address=t.to_address,
        amount=t.amount,
        now=now_ms,
    )
    return TransferOutcome(ok=True, tx_hash=tx_hash)


async def transfer(db: Database, t: LedgerTransfer, now_ms: int) -> TransferOutcome:
    """One transfer in its own transaction."""

    async def run(tx: Tx) -> TransferOutcome:
        return await transfer_in(tx, t, now_ms)

    return await db.run(run, write=True)


async def transfers(db: Database, network: str, asset: str, address: str, limit: int) -> list[LedgerTransferRecord]:
    """Transfers from or to ``address``, newest first."""
    params = {"network": network, "asset": asset.lower(), "address": address.lower(), "limit": limit}

    async def run(tx: Tx) -> list[LedgerTransferRecord]:
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
            for row in await tx.all(_TRANSFERS, **params)
        ]

    return await db.run(run, write=False)
