"""The ``gateway`` command (spec/README.md § CLI): JSON on stdout, errors on stderr.

Exit codes: 0 success, 1 command failed, 2 usage error or a configuration the gateway
refuses to start with.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from gateway_core import cli_payments
from gateway_core.catalog import Catalog, CatalogError, validate_files
from gateway_core.payments.pricing import PricingError, is_quotable
from gateway_core.plugins import PluginValidationError
from gateway_core.runtime import Runtime, build_runtime
from gateway_core.settings import GatewaySettings, SettingsError

__all__ = ["main"]


def _print(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"gateway: {message}\n")
    return code


def _runtime(config: str | None) -> Runtime:
    return build_runtime(GatewaySettings.load(config))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway_core.uvicorn_http import protocol_path

    try:
        http = protocol_path(args.http)
    except ValueError as exc:
        return _fail(str(exc), 2)
    if args.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        return _fail("--loop uvloop: the uvloop package is not installed", 2)
    if args.config:
        # Workers re-create the app from the environment; hand the file over that way.
        os.environ["GATEWAY_CONFIG"] = str(Path(args.config).resolve())
    runtime = _runtime(args.config)  # fail fast (exit 2) before binding the port
    for failure in runtime.plugins.failures:
        sys.stderr.write(f"gateway: plugin {failure.name!r} not loaded: {failure.error}\n")
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "access_log": False,
        # uvloop and httptools when installed ("auto"); the protocol also stamps Server-Timing queue.
        "loop": args.loop,
        "http": http,
        # No WebSocket routes: uvicorn need not load a WebSocket library someone else installed.
        "ws": "none",
    }
    if args.workers > 1:
        uvicorn.run("gateway_core.app:create_app", factory=True, workers=args.workers, **common)
        return 0
    from gateway_core.app import create_app

    uvicorn.run(create_app(runtime=runtime), **common)
    return 0


def _models(args: argparse.Namespace) -> int:
    runtime = _runtime(args.config)
    rows = runtime.catalog.all_rows() if args.all else runtime.catalog.curated
    _print({"object": "list", "data": [row.to_api(runtime.is_available(row.provider)) for row in rows]})
    return 0


def _plugins(args: argparse.Namespace) -> int:
    runtime = _runtime(args.config)
    _print(runtime.plugins.report())
    return 0


def _catalog_validate(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.files] or list(GatewaySettings.load(args.config).catalog_files)
    errors = validate_files(files)
    warnings: list[str] = []
    if not errors:
        # Valid but unbillable: such a row is listed, and every paid call to it fails with 503.
        for row in Catalog.load(files).all_rows():
            try:
                is_quotable(row.data, None)
            except PricingError:
                warnings.append(
                    f"modelId {row.model_id!r} has no usable pricing: paid calls answer 503 model_not_priced"
                )
    _print({"valid": not errors, "files": [str(f) for f in files], "errors": errors, "warnings": warnings})
    return 1 if errors else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Self-hostable inference gateway")
    parser.add_argument("--config", help="config file (YAML or JSON); also GATEWAY_CONFIG")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="0.0.0.0")  # a server binds all interfaces by default (spec CLI)
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--loop", choices=("auto", "uvloop", "asyncio"), default="auto", help="event loop (auto: uvloop if installed)"
    )
    serve.add_argument(
        "--http",
        choices=("auto", "httptools", "h11"),
        default="auto",
        help="HTTP parser (auto: httptools if installed)",
    )
    serve.set_defaults(handler=_serve)

    models = commands.add_parser("models", help="print the catalog as GET /v1/models does")
    models.add_argument("--all", action="store_true", help="curated and extended rows")
    models.set_defaults(handler=_models)

    plugins = commands.add_parser("plugins", help="loaded plugins, providers and load failures")
    plugins.set_defaults(handler=_plugins)

    catalog = commands.add_parser("catalog", help="catalog tools")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    validate = catalog_commands.add_parser("validate", help="validate catalog files (default: the configured ones)")
    validate.add_argument("files", nargs="*")
    validate.set_defaults(handler=_catalog_validate)
    cli_payments.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except (SettingsError, CatalogError, PluginValidationError) as exc:
        return _fail(str(exc), 2)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
