"""The sandbox ledger (payments.md §9.7): balances, allowances, nonces and transfers per
(network, asset, address), shared by x402 settlement and Compose Key collection.

Amounts are uint256 (:class:`~gateway_core.store.schema.Uint256`), so arithmetic happens in
Python on rows locked by the write transaction, never in SQL. Accounts are locked in address
order, so two opposite transfers on PostgreSQL cannot deadlock.

On SQLite a transfer between two addresses takes the short path (:func:`read_transfer`,
:func:`complete`): ``BEGIN IMMEDIATE`` already excludes every other writer, so both accounts
are read with one ``SELECT`` and written with one ``UPDATE`` whose ``WHERE`` restates the
balances read (a compare-and-set: the amounts are decimal text there, so it cannot compare
them numerically) and must match both rows. An account is only created when the read found
none. PostgreSQL keeps the row-locking path; a transfer to oneself takes it on both.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import BigInteger, Integer, String, bindparam, case, insert, or_, select, update

from gateway_core.store.database import Database
from gateway_core.store.prepared import Prepared, Row, Tx, dialect_insert
from gateway_core.store.records import (
    UINT256_MAX,
    AllowanceKind,
    LedgerAccount,
    LedgerTransfer,
    LedgerTransferRecord,
    TransferFailure,
    TransferOutcome,
)
from gateway_core.store.schema import ledger_accounts, ledger_nonces, ledger_transfers

__all__ = [
    "ReadTransfer",
    "account",
    "approve",
    "complete",
    "fund",
    "nonce_used",
    "read_transfer",
    "transfer",
    "transfer_in",
    "transfers",
]

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


# -- SQLite: the short path (module docstring) ---------------------------------------------

_IS_PAYER = _a.address == _text("payer")
# An OR of equalities on one column: SQLite looks each address up by the primary key, as it
# would an IN list (which Prepared cannot compile once).
_EITHER = or_(_IS_PAYER, _a.address == _text("payee"))
_PAIR = Prepared(select(ledger_accounts).where(_a.network == _text("network"), _a.asset == _text("asset"), _EITHER))
_MOVE = Prepared(
    update(ledger_accounts)
    .where(
        _a.network == _text("network"),
        _a.asset == _text("asset"),
        _EITHER,
        _a.balance == case((_IS_PAYER, _uint("payer_was")), else_=_uint("payee_was")),
    )
    .values(
        balance=case((_IS_PAYER, _uint("payer_balance")), else_=_uint("payee_balance")),
        permit2_allowance=case((_IS_PAYER, _uint("permit2_allowance")), else_=_a.permit2_allowance),
        spender_allowance=case((_IS_PAYER, _uint("spender_allowance")), else_=_a.spender_allowance),
        updated_at=bindparam("now", type_=BigInteger),
    )
)
# SQLite binds 64-bit integers: the most a caller may compare against in SQL.
_INT64_MAX = 2**63 - 1


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


def _refusal(t: LedgerTransfer, payer: LedgerAccount, amount: int, nonce_used: bool) -> TransferFailure | None:
    # The order of the checks decides which reason a transfer refused twice over gets.
    if nonce_used:
        return "nonce_already_used"
    if t.allowance is not None:
        allowance = payer.permit2_allowance if t.allowance == "permit2" else payer.spender_allowance
        if allowance < amount:
            return "allowance_too_low"
    if payer.balance < amount:
        return "insufficient_funds"
    return None


def _debited(payer: LedgerAccount, t: LedgerTransfer, amount: int) -> LedgerAccount:
    """The payer after sending ``amount`` (an unlimited allowance stays unlimited)."""
    payer = replace(payer, balance=payer.balance - amount)
    if t.allowance == "permit2" and payer.permit2_allowance != UINT256_MAX:
        payer = replace(payer, permit2_allowance=payer.permit2_allowance - amount)
    if t.allowance == "spender" and payer.spender_allowance != UINT256_MAX:
        payer = replace(payer, spender_allowance=payer.spender_allowance - amount)
    return payer


async def _record(tx: Tx, t: LedgerTransfer, amount: int, now_ms: int) -> str:
    """Consume the nonce (if any) and record the transfer; its tx hash."""
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
        amount=amount,
        now=now_ms,
    )
    return tx_hash


@dataclass(frozen=True, slots=True)
class ReadTransfer:
    """A transfer (normalized) and what it depends on, read in the caller's SQLite write
    transaction, where no other writer can change them before it commits: the two accounts
    (None while an address has no row) and whether its nonce is used."""

    transfer: LedgerTransfer
    payer: LedgerAccount | None
    payee: LedgerAccount | None
    nonce_used: bool

    def refusal(self, amount: int) -> TransferFailure | None:
        """Why moving ``amount`` would be refused, or None."""
        t = self.transfer
        payer = self.payer or LedgerAccount(t.network, t.asset, t.from_address)
        return _refusal(t, payer, amount, self.nonce_used)

    @property
    def affordable(self) -> int:
        """The most :func:`complete` may move, capped at 2^63-1 so SQL can compare with it (more
        than any key budget, which is a BIGINT)."""
        payer = self.payer
        if self.nonce_used or payer is None:
            return 0
        most = payer.balance
        if self.transfer.allowance == "permit2":
            most = min(most, payer.permit2_allowance)
        elif self.transfer.allowance == "spender":
            most = min(most, payer.spender_allowance)
        return min(most, _INT64_MAX)


async def read_transfer(tx: Tx, t: LedgerTransfer) -> ReadTransfer | None:
    """SQLite: the short path's read of ``t`` (one ``SELECT``, and one more for a nonce), in a
    write transaction; None where the short path does not apply (PostgreSQL, a transfer to
    oneself), which :func:`transfer_in` handles."""
    _check_amount(t.amount)
    t = _normalized(t)
    if tx.dialect != "sqlite" or t.from_address == t.to_address:
        return None
    payer = payee = None
    for row in await tx.all(_PAIR, network=t.network, asset=t.asset, payer=t.from_address, payee=t.to_address):
        if row["address"] == t.from_address:
            payer = _account(row, t.network, t.asset, t.from_address)
        else:
            payee = _account(row, t.network, t.asset, t.to_address)
    used = False
    if t.nonce is not None:
        found = await tx.one(_NONCE, network=t.network, asset=t.asset, address=t.from_address, nonce=t.nonce)
        used = found is not None
    return ReadTransfer(t, payer, payee, used)


async def complete(tx: Tx, read: ReadTransfer, amount: int, now_ms: int) -> str:
    """Move ``amount`` (at most :attr:`ReadTransfer.affordable`, which the caller checked) as
    ``read`` describes, in the transaction that read it; the tx hash."""
    t = read.transfer
    _check_amount(amount)
    refusal = read.refusal(amount)
    if refusal is not None:
        raise ValueError(f"ledger transfer of {amount} refused ({refusal}): check affordable first")
    # Rows are created only when missing: an account's first transfer (a zero-amount one may
    # come from a payer without a row).
    payer = read.payer or await _lock_account(tx, t.network, t.asset, t.from_address, now_ms)
    payee = read.payee or await _lock_account(tx, t.network, t.asset, t.to_address, now_ms)
    sent = _debited(payer, t, amount)
    moved = await tx.run(
        _MOVE,
        network=t.network,
        asset=t.asset,
        payer=t.from_address,
        payee=t.to_address,
        payer_was=payer.balance,
        payee_was=payee.balance,
        payer_balance=sent.balance,
        payee_balance=payee.balance + amount,
        permit2_allowance=sent.permit2_allowance,
        spender_allowance=sent.spender_allowance,
        now=now_ms,
    )
    if moved != 2:
        raise RuntimeError(f"ledger accounts of transfer {t.from_address} -> {t.to_address} changed under the lock")
    return await _record(tx, t, amount, now_ms)


async def transfer_in(tx: Tx, t: LedgerTransfer, now_ms: int) -> TransferOutcome:
    """Perform ``t`` inside the caller's write transaction (also used by key settlement).

    Checks run before any write (nonce, allowance, balance, in that order), so a refused
    transfer leaves nothing to undo and the caller's transaction can carry on. On SQLite this
    is the short path (module docstring) unless the payer pays itself.
    """
    read = await read_transfer(tx, t)
    if read is not None:
        refusal = read.refusal(read.transfer.amount)
        if refusal is not None:
            return TransferOutcome(ok=False, reason=refusal)
        return TransferOutcome(ok=True, tx_hash=await complete(tx, read, read.transfer.amount, now_ms))
    t = _normalized(t)
    locked = {
        address: await _lock_account(tx, t.network, t.asset, address, now_ms)
        for address in sorted({t.from_address, t.to_address})
    }
    used = False
    if t.nonce is not None:
        found = await tx.one(_NONCE, network=t.network, asset=t.asset, address=t.from_address, nonce=t.nonce)
        used = found is not None
    refusal = _refusal(t, locked[t.from_address], t.amount, used)
    if refusal is not None:
        return TransferOutcome(ok=False, reason=refusal)

    locked[t.from_address] = _debited(locked[t.from_address], t, t.amount)
    payee = locked[t.to_address]  # the payer itself for a transfer to oneself
    locked[t.to_address] = replace(payee, balance=payee.balance + t.amount)
    for changed in locked.values():
        await _save(tx, changed, now_ms)
    return TransferOutcome(ok=True, tx_hash=await _record(tx, t, t.amount, now_ms))


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
