"""The ``gateway`` command, run as ``python -m gateway_core`` in a subprocess (spec/README.md § CLI):
JSON on stdout, errors on stderr, exit 1 for a failed command and 2 for usage or configuration
errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_core.cli import main
from gateway_core.settings import GatewaySettings
from gateway_core.testing.process import serve_process

SHIPPED_CATALOG = GatewaySettings().catalog_files[0]
SANDBOX_MODELS = ["sandbox-echo", "sandbox-embed", "sandbox-image", "sandbox-tts", "sandbox-stt", "sandbox-video"]
PRICING = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 1}}]}


def _env(**extra: str) -> dict[str, str]:
    """The process environment without any GATEWAY_* key, so the host's settings never leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(extra)
    return env


def gateway(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway_core", *args],
        env=_env(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _write_catalog(path: Path, rows: list[Mapping[str, Any]]) -> Path:
    path.write_text(json.dumps({"models": rows}), encoding="utf-8")
    return path


def test_models_prints_the_sandbox_rows(tmp_path: Path) -> None:
    result = gateway("models", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["object"] == "list"
    assert [row["modelId"] for row in body["data"] if row["provider"] == "sandbox"] == SANDBOX_MODELS
    assert all(row["available"] is True for row in body["data"] if row["provider"] == "sandbox")
    echo = body["data"][0]
    assert echo["contextWindow"] == 32768
    assert echo["pricing"]["sections"][0]["entries"] == {"input": 0.25, "cached_input": 0.025, "output": 1.5}


def test_models_reads_the_config_file(tmp_path: Path) -> None:
    catalog = _write_catalog(
        tmp_path / "catalog.json",
        [
            {"modelId": "only-row", "provider": "sandbox", "type": "chat", "pricing": PRICING},
            {"modelId": "orphan", "provider": "not-installed", "type": "chat", "pricing": PRICING},
        ],
    )
    config = tmp_path / "gateway.yaml"
    config.write_text(f"catalog: {catalog}\n", encoding="utf-8")
    result = gateway("--config", str(config), "models", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {row["modelId"]: row["available"] for row in json.loads(result.stdout)["data"]}
    assert rows == {"only-row": True, "orphan": False}


def test_plugins_prints_the_report(tmp_path: Path) -> None:
    result = gateway("plugins", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"plugins", "providers", "failed", "installed_not_loaded"}
    # Provider plugins installed beside the core (nox all_plugins) load too: the shipped
    # catalog names them.
    assert [p["name"] for p in report["plugins"]][:2] == ["sandbox", "error-fallback"]
    sandbox = next(p for p in report["providers"] if p["name"] == "sandbox")
    assert (sandbox["plugin"], sandbox["configured"]) == ("sandbox", True)
    assert "GATEWAY_PROVIDER_SANDBOX_BASE_URL" in sandbox["settings"]["env"]
    assert report["failed"] == []


def test_catalog_validate_shipped_catalog(tmp_path: Path) -> None:
    result = gateway("catalog", "validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"valid": True, "files": [str(SHIPPED_CATALOG)], "errors": [], "warnings": []}


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"modelId": "bad-model", "provider": "sandbox", "type": "chat", "pricing": PRICING}
    row.update(changes)
    return row


#: Invalid rows, each with what its error must name (row index = position + 1; row 0 is valid).
INVALID_ROWS: list[tuple[dict[str, Any], list[str]]] = [
    (
        _row(modelId="neg", pricing={"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": -1}}]}),
        ["row 1", "'neg'", "pricing.sections[0].entries.input", "-1"],
    ),
    (
        _row(modelId="unit", pricing={"sections": [{"unitKey": "usd_per_banana", "entries": {"input": 1}}]}),
        ["row 2", "'unit'", "pricing.sections[0].unitKey", "usd_per_banana"],
    ),
    ({"modelId": "noprov", "type": "chat", "pricing": PRICING}, ["row 3", "'noprov'", "provider"]),
]


def test_catalog_validate_invalid_file(tmp_path: Path) -> None:
    good = {"modelId": "fine", "provider": "sandbox", "type": "chat", "pricing": PRICING}
    catalog = _write_catalog(tmp_path / "bad.json", [good, *(row for row, _ in INVALID_ROWS)])
    result = gateway("catalog", "validate", str(catalog), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert body["valid"] is False
    assert body["files"] == [str(catalog)]
    assert len(body["errors"]) == len(INVALID_ROWS), body["errors"]
    for error, (_row_data, fragments) in zip(body["errors"], INVALID_ROWS, strict=True):
        assert str(catalog) in error
        for fragment in fragments:
            assert fragment in error, error


def test_serve_with_invalid_catalog_exits_2(tmp_path: Path) -> None:
    catalog = _write_catalog(tmp_path / "bad.json", [INVALID_ROWS[0][0]])
    # The port is never bound: start-up fails while building the runtime.
    result = gateway("serve", "--host", "127.0.0.1", "--port", "1", cwd=tmp_path, GATEWAY_CATALOG=str(catalog))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("gateway: ")
    assert "bad.json: row 0 (modelId 'neg'): pricing.sections[0].entries.input" in result.stderr


def test_unknown_subcommand_exits_2(tmp_path: Path) -> None:
    result = gateway("frobnicate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "invalid choice: 'frobnicate'" in result.stderr


# --- the same entry point in-process (fast) for the remaining error tables --------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith("GATEWAY_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"GATEWAY_PLATFORM_FEE_BPS": "20000"}, "GATEWAY_PLATFORM_FEE_BPS", id="invalid-setting"),
        pytest.param({"GATEWAY_CATALOG": "{tmp}/absent.yaml"}, "absent.yaml", id="missing-catalog-file"),
        pytest.param({"GATEWAY_CONFIG": "{tmp}/nope.yaml"}, "config file", id="missing-config-file"),
        pytest.param({"GATEWAY_SANDBOX": "maybe"}, "GATEWAY_SANDBOX must be true or false", id="invalid-bool"),
    ],
)
def test_serve_refuses_to_start(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    for key, value in env.items():
        clean_env.setenv(key, value.format(tmp=tmp_path))
    assert main(["serve", "--host", "127.0.0.1", "--port", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("gateway: ")
    assert message in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "required: command", id="no-subcommand"),
        pytest.param(["catalog"], "required: catalog_command", id="no-catalog-subcommand"),
        pytest.param(["serve", "--port", "many"], "invalid int value", id="bad-option-value"),
        pytest.param(["models", "--bogus"], "unrecognized arguments: --bogus", id="unknown-option"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(args)
    assert excinfo.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err


def test_missing_config_option_file_exits_2(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", "nope.yaml", "models"]) == 2
    assert "config file nope.yaml" in capsys.readouterr().err


def test_serve_with_two_workers_answers_health(tmp_path: Path) -> None:
    with serve_process(_env(), args=["--workers", "2"], cwd=tmp_path) as served:
        health = httpx.get(f"{served.base_url}/health", timeout=10)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        # Each worker built its own runtime from the environment: the catalog is there too.
        models = httpx.get(f"{served.base_url}/v1/models", timeout=10)
        assert [row["modelId"] for row in models.json()["data"] if row["provider"] == "sandbox"] == SANDBOX_MODELS


def test_catalog_validate_warns_about_rows_without_pricing(tmp_path: Path) -> None:
    catalog = _write_catalog(
        tmp_path / "catalog.yaml",
        [{"modelId": "free", "provider": "sandbox", "type": "chat"}, _row()],
    )
    result = gateway("catalog", "validate", str(catalog), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["warnings"] == ["modelId 'free' has no usable pricing: paid calls answer 503 model_not_priced"]
