"""``gateway keys|sandbox|db|store`` (spec/README.md § CLI, payments.md §4.6).

One test drives the real command as subprocesses; the others call the same parser in process
(each interpreter start costs seconds, mostly imports), with the store in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway_core import cli
from gateway_core.cli_payments import register
from gateway_core.payments.service import open_payments
from gateway_core.settings import GatewaySettings
from gateway_core.store import Store

UNLIMITED = str(2**256 - 1)
WALLET = "0x2222222222222222222222222222222222222222"

# Until gateway_core/cli.py registers the payment commands, the same parser is built here.
_STANDALONE = """
import argparse, sys
from gateway_core.cli_payments import register
parser = argparse.ArgumentParser(prog="gateway")
parser.add_argument("--config")
register(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args()
raise SystemExit(args.handler(args))
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway")
    parser.add_argument("--config")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def _command() -> list[str]:
    parser = cli._parser()
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    if "keys" in commands.choices:
        return [sys.executable, "-m", "gateway_core"]
    return [sys.executable, "-c", _STANDALONE]


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """``gateway(*args, expect=0)``: the parsed JSON on success, else stderr."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GATEWAY_STORE_URL", f"sqlite:///{tmp_path}/gw.db")

    def run(*args: str, expect: int = 0) -> Any:
        capsys.readouterr()
        try:
            parsed = _parser().parse_args(args)
            code = parsed.handler(parsed)
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        assert code == expect, (out, err)
        if expect == 0:
            return json.loads(out)
        assert out == ""
        return err

    return run


@pytest.mark.slow
def test_the_real_command_as_subprocesses(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("GATEWAY_")}
    env["GATEWAY_STORE_URL"] = f"sqlite:///{tmp_path}/gw.db"
    command = _command()

    def run(*args: str, expect: int = 0) -> Any:
        done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == expect, (done.stdout, done.stderr)
        return json.loads(done.stdout) if expect == 0 else done.stderr

    assert run("db", "upgrade")["revision"] == Store.head_revision()
    made = run("sandbox", "wallet")
    assert made["account"]["balance"] == "10000000"
    created = run("keys", "create", "--wallet", made["address"], "--budget", "10000000", "--expires-in", "1d")
    assert created["token"].startswith("compose-")
    assert [key["keyId"] for key in run("keys", "list")["keys"]] == [created["keyId"]]
    assert run("keys", "revoke", created["keyId"]) == {"success": True, "keyId": created["keyId"]}
    assert "Key not found" in run("keys", "show", "missing", expect=1)
    assert "usage:" in run("keys", "create", expect=2)


def test_db_upgrade_and_store_prune(gateway: Any) -> None:
    upgraded = gateway("db", "upgrade")
    assert upgraded == {"revision": Store.head_revision(), "head": Store.head_revision()}
    pruned = gateway("store", "prune")
    assert set(pruned) == {
        "holds_released",
        "holds_deleted",
        "reservations",
        "receipts",
        "signature_proofs",
        "responses",
    }
    assert all(value == 0 for value in pruned.values())


def test_store_url_from_a_config_file(gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_STORE_URL")
    config = tmp_path / "gateway.yaml"
    config.write_text(f"store_url: sqlite:///{tmp_path}/from-file.db\n", encoding="utf-8")
    assert gateway("--config", str(config), "sandbox", "fund", WALLET, "9")["balance"] == "9"
    assert (tmp_path / "from-file.db").exists() and not (tmp_path / "gw.db").exists()


def test_sandbox_wallet_fund_and_account(gateway: Any) -> None:
    made = gateway("sandbox", "wallet")
    assert set(made) == {"address", "privateKey", "account"}
    assert made["address"].startswith("0x") and made["address"] == made["address"].lower()
    assert made["privateKey"].startswith("0x") and len(made["privateKey"]) == 66
    account = made["account"]
    assert (account["address"], account["network"], account["balance"]) == (made["address"], "eip155:31337", "10000000")
    assert account["permit2Allowance"] == account["spenderAllowance"] == UNLIMITED

    funded = gateway("sandbox", "fund", WALLET.upper().replace("0X", "0x"), "5000000")
    assert (funded["address"], funded["balance"], funded["spenderAllowance"]) == (WALLET, "5000000", UNLIMITED)
    assert gateway("sandbox", "account", WALLET) == funded

    bare = "0x" + "3" * 40
    unapproved = gateway("sandbox", "fund", bare, "7", "--no-approve")
    assert (unapproved["balance"], unapproved["permit2Allowance"], unapproved["spenderAllowance"]) == ("7", "0", "0")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("sandbox", "fund", "0x12", "5"), "address must be", id="bad-address"),
        pytest.param(("sandbox", "fund", WALLET, "0"), "amount must be", id="zero-amount"),
        pytest.param(("sandbox", "account", "nope"), "address must be", id="bad-account-address"),
        pytest.param(("keys", "show", "00000000-0000-4000-8000-000000000000"), "Key not found", id="unknown-key"),
        pytest.param(("keys", "revoke", "00000000-0000-4000-8000-000000000000"), "Key not found", id="revoke-unknown"),
    ],
)
def test_failures_go_to_stderr_with_exit_1(gateway: Any, args: tuple[str, ...], message: str) -> None:
    assert message in gateway(*args, expect=1)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("keys", "create", "--wallet", WALLET, "--budget", "5"), id="no-expiry"),
        pytest.param(
            ("keys", "create", "--wallet", WALLET, "--budget", "5", "--expires-in", "1d", "--expires-at", "9"),
            id="both-expiries",
        ),
        pytest.param(("keys", "create", "--wallet", WALLET, "--budget", "5", "--expires-in", "5x"), id="bad-duration"),
        pytest.param(("keys", "create", "--wallet", "0x12", "--budget", "5", "--expires-in", "1d"), id="bad-wallet"),
        pytest.param(("keys",), id="no-subcommand"),
    ],
)
def test_usage_errors_exit_2(gateway: Any, args: tuple[str, ...]) -> None:
    gateway(*args, expect=2)


def test_keys_lifecycle(gateway: Any) -> None:
    failed = gateway("keys", "create", "--wallet", WALLET, "--budget", "5000000", "--expires-in", "1d", expect=1)
    assert "insufficient_balance" in failed and '"requiredWei":"5000000"' in failed

    gateway("sandbox", "fund", WALLET, "5000000")
    created = gateway(
        "keys", "create", "--wallet", WALLET, "--budget", "5000000", "--expires-in", "2h", "--name", "cli"
    )
    assert created["token"].startswith("compose-")
    assert (created["budgetLimit"], created["budgetUsed"], created["budgetRemaining"]) == ("5000000", "0", "5000000")
    assert (created["purpose"], created["chainId"], created["name"]) == ("api", 31337, "cli")
    assert created["expiresAt"] - created["createdAt"] == 2 * 3600 * 1000

    unfunded = "0x" + "4" * 40
    skipped = gateway(
        "keys",
        "create",
        "--wallet",
        unfunded,
        "--budget",
        "10",
        "--expires-at",
        str(created["expiresAt"]),
        "--purpose",
        "session",
        "--skip-funding-check",
    )
    assert (skipped["purpose"], skipped["expiresAt"]) == ("session", created["expiresAt"])
    assert "name" not in skipped

    invalid = gateway("keys", "create", "--wallet", WALLET, "--budget", "0", "--expires-in", "1d", expect=1)
    assert "budgetLimit must be a positive integer" in invalid
    assert "is not supported" in gateway(
        "keys", "create", "--wallet", WALLET, "--budget", "5", "--expires-in", "1d", "--chain-id", "1", expect=1
    )

    listed = gateway("keys", "list")["keys"]
    assert [key["keyId"] for key in listed] == [skipped["keyId"], created["keyId"]]
    assert all("token" not in key for key in listed)
    assert [key["keyId"] for key in gateway("keys", "list", "--wallet", unfunded)["keys"]] == [skipped["keyId"]]

    shown = gateway("keys", "show", created["keyId"])
    assert (shown["keyId"], shown["userAddress"], shown["status"], shown["name"]) == (
        created["keyId"],
        WALLET,
        "active",
        "cli",
    )
    assert gateway("keys", "revoke", created["keyId"]) == {"success": True, "keyId": created["keyId"]}
    assert gateway("keys", "revoke", created["keyId"]) == {"success": True, "keyId": created["keyId"]}
    revoked = gateway("keys", "show", created["keyId"])
    assert revoked["status"] == "revoked" and revoked["revokedAt"] >= revoked["createdAt"]

    # The CLI and the server share the generated key secret through the store.
    async def validate(token: str) -> str:
        settings = GatewaySettings.load()
        store = await Store.open(settings.store_url)
        try:
            payments = await open_payments(settings, store)
            record = await payments.compose_keys.validate(token.removeprefix("compose-"))
            await payments.aclose()
            return record.key_id
        finally:
            await store.close()

    assert asyncio.run(validate(skipped["token"])) == skipped["keyId"]
