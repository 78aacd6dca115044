"""The payment subcommands of ``gateway`` (spec/README.md § CLI, spec/payments.md §4.6, §9.6).

``keys create|list|show|revoke`` act on the store with admin rights and print the bodies of
the key API; ``sandbox wallet|fund|account`` drive the sandbox ledger like the faucet
routes; ``db upgrade`` and ``store prune`` maintain the store. Each command opens the store
of ``GATEWAY_STORE_URL`` (migrating it) and, where it needs keys or the sandbox, builds the
payments exactly as the server does, so secrets generated in sandbox mode are shared.

Output is JSON on stdout; errors go to stderr with exit code 1 (usage and configuration
errors: 2). Handlers are coroutines run with :func:`asyncio.run`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import orjson

from gateway_core.errors import GatewayError
from gateway_core.payments.keys import key_record_body
from gateway_core.payments.sandbox import Wallet
from gateway_core.payments.service import Payments, SandboxParts, open_payments
from gateway_core.routes.facilitator import account_body, fund_account, parse_address, parse_fund_request
from gateway_core.routes.keys import check_funding, issue_key, parse_key_request
from gateway_core.settings import GatewaySettings, SettingsError
from gateway_core.store import Store, StoreUnavailable

__all__ = ["DEFAULT_WALLET_FUNDING", "register"]

# `gateway sandbox wallet` funds a new wallet with 10 USDC unless told otherwise.
DEFAULT_WALLET_FUNDING = 10_000_000
_DURATION = re.compile(r"^([0-9]+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, Any]]
if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _print(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"gateway: {message}\n")
    return code


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _duration(value: str) -> int:
    """``<n>{s,m,h,d}`` -> seconds (``--expires-in``)."""
    match = _DURATION.match(value.strip())
    if match is None or int(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive <n>s, <n>m, <n>h or <n>d, got {value!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _address(value: str) -> str:
    try:
        return parse_address(value)
    except GatewayError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


@contextlib.asynccontextmanager
async def _store(args: argparse.Namespace) -> AsyncIterator[tuple[GatewaySettings, Store]]:
    settings = GatewaySettings.load(args.config)
    store = await Store.open(settings.store_url, migrate=True)
    try:
        yield settings, store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _payments(args: argparse.Namespace) -> AsyncIterator[tuple[GatewaySettings, Payments]]:
    async with _store(args) as (settings, store):
        payments = await open_payments(settings, store)
        try:
            yield settings, payments
        finally:
            await payments.aclose()


def _sandbox(payments: Payments) -> SandboxParts:
    if payments.sandbox is None:
        raise GatewayError(404, "not_found", "sandbox mode is off (GATEWAY_SANDBOX)")
    return payments.sandbox


def _not_found() -> GatewayError:
    return GatewayError(404, "key_not_found", "Key not found")


# -- keys ------------------------------------------------------------------------------------


async def _keys_create(args: argparse.Namespace) -> Any:
    async with _payments(args) as (_settings, payments):
        now_ms = _now_ms()
        expires_at = args.expires_at if args.expires_in is None else now_ms + args.expires_in * 1000
        body = {
            "budgetLimit": args.budget,
            "expiresAt": expires_at,
            "chainId": args.chain_id if args.chain_id is not None else payments.settings.default_chain_id,
            "purpose": args.purpose,
            "name": args.name,
        }
        key = parse_key_request(body, now_ms=now_ms, chains=payments.chains)
        if not args.skip_funding_check:
            await check_funding(payments, payments.key_settlement, args.wallet, key)
        return await issue_key(payments, args.wallet, key, now_ms)


async def _keys_list(args: argparse.Namespace) -> Any:
    async with _store(args) as (_, store):
        records = await store.list_keys(args.wallet)
    now_ms = _now_ms()
    return {"keys": [key_record_body(record, now_ms) for record in records]}


async def _keys_show(args: argparse.Namespace) -> Any:
    async with _store(args) as (_, store):
        record = await store.get_key(args.key_id)
    if record is None:
        raise _not_found()
    return key_record_body(record, _now_ms())


async def _keys_revoke(args: argparse.Namespace) -> Any:
    async with _store(args) as (_, store):
        record = await store.revoke_key(args.key_id, _now_ms())
    if record is None:
        raise _not_found()
    return {"success": True, "keyId": record.key_id}


# -- sandbox ---------------------------------------------------------------------------------


async def _sandbox_wallet(args: argparse.Namespace) -> Any:
    async with _payments(args) as (_, payments):
        sandbox = _sandbox(payments)
        wallet = Wallet.create()
        fund = parse_fund_request({"address": wallet.address, "amount": args.amount})
        account = await fund_account(sandbox, payments.store, fund)
    return {"address": wallet.address, "privateKey": wallet.private_key, "account": account}


async def _sandbox_fund(args: argparse.Namespace) -> Any:
    approve = not args.no_approve
    body = {"address": args.address, "amount": args.amount, "approvePermit2": approve, "approveSpender": approve}
    async with _payments(args) as (_, payments):
        sandbox = _sandbox(payments)
        return await fund_account(sandbox, payments.store, parse_fund_request(body))


async def _sandbox_account(args: argparse.Namespace) -> Any:
    async with _payments(args) as (_, payments):
        return await account_body(_sandbox(payments), payments.store, parse_address(args.address))


# -- store -----------------------------------------------------------------------------------


async def _db_upgrade(args: argparse.Namespace) -> Any:
    async with _store(args) as (_, store):  # opening migrates
        return {"revision": await store.revision(), "head": Store.head_revision()}


def _hold_ttl(settings: GatewaySettings) -> int:
    raw = (settings.config.get("GATEWAY_HOLD_TTL") or "").strip()
    if not raw:
        return 3600
    if not (raw.isascii() and raw.isdigit()) or int(raw) <= 0:
        raise SettingsError(f"GATEWAY_HOLD_TTL must be a positive integer, got {raw!r}")
    return int(raw)


async def _store_prune(args: argparse.Namespace) -> Any:
    async with _store(args) as (settings, store):
        return await store.prune(_now_ms(), hold_ttl_s=_hold_ttl(settings))


# -- wiring ----------------------------------------------------------------------------------


def _command(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """Run ``handler`` and print its result; map failures to the CLI's exit codes."""

    def run(args: argparse.Namespace) -> int:
        try:
            result = asyncio.run(handler(args))
        except GatewayError as exc:
            message = f"{exc.message} ({exc.code})"
            if exc.details:
                message += " " + orjson.dumps(exc.details).decode()
            return _fail(message, 1)
        except StoreUnavailable as exc:
            return _fail(f"store is unavailable: {exc.__cause__ or exc}", 1)
        except (SettingsError, ValueError) as exc:  # ValueError: an unsupported GATEWAY_STORE_URL
            return _fail(str(exc), 2)
        _print(result)
        return 0

    return run


def _keys(commands: SubParsers) -> None:
    keys = commands.add_parser("keys", help="Compose Keys (admin rights on the store)")
    sub = keys.add_subparsers(dest="keys_command", required=True)

    create = sub.add_parser("create", help="issue a key; prints the POST /api/keys body")
    create.add_argument("--wallet", required=True, type=_address, help="owner wallet 0x…")
    create.add_argument("--budget", required=True, help="budget in atomic USDC")
    expiry = create.add_mutually_exclusive_group(required=True)
    expiry.add_argument("--expires-at", help="expiry, Unix milliseconds")
    expiry.add_argument("--expires-in", type=_duration, help="lifetime: <n>s, <n>m, <n>h or <n>d")
    create.add_argument("--chain-id", help="default GATEWAY_DEFAULT_CHAIN_ID")
    create.add_argument("--purpose", choices=("api", "session"), default="api")
    create.add_argument("--name")
    create.add_argument("--skip-funding-check", action="store_true")
    create.set_defaults(handler=_command(_keys_create))

    listing = sub.add_parser("list", help='prints {"keys": [KeyRecord…]}')
    listing.add_argument("--wallet", type=_address, help="one wallet (default: all)")
    listing.set_defaults(handler=_command(_keys_list))

    show = sub.add_parser("show", help="prints one KeyRecord")
    show.add_argument("key_id", metavar="keyId")
    show.set_defaults(handler=_command(_keys_show))

    revoke = sub.add_parser("revoke", help="revoke a key (idempotent)")
    revoke.add_argument("key_id", metavar="keyId")
    revoke.set_defaults(handler=_command(_keys_revoke))


def _sandbox_commands(commands: SubParsers) -> None:
    sandbox = commands.add_parser("sandbox", help="the sandbox ledger")
    sub = sandbox.add_subparsers(dest="sandbox_command", required=True)

    wallet = sub.add_parser("wallet", help="create a throwaway wallet, funded and approved")
    wallet.add_argument("--amount", default=str(DEFAULT_WALLET_FUNDING), help="atomic USDC (default 10 USDC)")
    wallet.set_defaults(handler=_command(_sandbox_wallet))

    fund = sub.add_parser("fund", help="add funds, as POST /api/x402/facilitator/sandbox/fund")
    fund.add_argument("address")
    fund.add_argument("amount", help="atomic USDC, 1 … 10^12")
    fund.add_argument("--no-approve", action="store_true", help="leave the Permit2 and spender allowances as they are")
    fund.set_defaults(handler=_command(_sandbox_fund))

    account = sub.add_parser("account", help="balance, allowances and recent transfers")
    account.add_argument("address")
    account.set_defaults(handler=_command(_sandbox_account))


def register(commands: SubParsers) -> None:
    """Add ``keys``, ``sandbox``, ``db`` and ``store`` to the ``gateway`` subcommands.

    Each leaf sets ``handler``: a function of the parsed arguments returning the exit code,
    as the commands of :mod:`gateway_core.cli` do. ``args.config`` must exist (``--config``).
    """
    _keys(commands)
    _sandbox_commands(commands)

    db = commands.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply pending migrations").set_defaults(handler=_command(_db_upgrade))

    store = commands.add_parser("store", help="store maintenance")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    store_sub.add_parser("prune", help="delete expired records, release stale holds").set_defaults(
        handler=_command(_store_prune)
    )
