"""Every check of the project. ``nox`` runs the default set (what CI runs); ``nox -s serve``
starts a gateway on its embedded defaults.

Each provider plugin under ``plugins/`` is tested in its own environment holding only the core
and that plugin, installed as a user would (not editable), and then all plugins together
against the core suite.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "types", "tests", "plugin", "all_plugins"]

ROOT = Path(__file__).parent
PLUGINS = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml"))
TEST_EXTRA = ".[test]"


def _install_core(session: nox.Session) -> None:
    # A real (non-editable) install: what users get, including the packaged catalog.yaml.
    session.install(TEST_EXTRA)


@nox.session
def tests(session: nox.Session) -> None:
    """The core test suite against the core alone (sandbox provider only)."""
    _install_core(session)
    session.run("pytest", "tests", *session.posargs)


@nox.session
@nox.parametrize("plugin", PLUGINS or ["(none)"])
def plugin(session: nox.Session, plugin: str) -> None:
    """One plugin's tests in an environment with only the core and that plugin."""
    if plugin == "(none)":
        session.skip("no provider plugins under plugins/")
    _install_core(session)
    session.install(f"./plugins/{plugin}")
    session.run("pytest", f"plugins/{plugin}/tests", *session.posargs)


@nox.session
def all_plugins(session: nox.Session) -> None:
    """Every plugin installed together: the core suite and every plugin suite still pass."""
    if not PLUGINS:
        session.skip("no provider plugins under plugins/")
    _install_core(session)
    session.install(*(f"./plugins/{name}" for name in PLUGINS))
    session.run("pytest", "tests", *(f"plugins/{name}/tests" for name in PLUGINS), *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def types(session: nox.Session) -> None:
    session.install(TEST_EXTRA, "mypy>=1.11", "types-PyYAML")
    session.install(*(f"./plugins/{name}" for name in PLUGINS))
    session.run("mypy", "gateway_core", *(f"plugins/{name}/gateway_{name}" for name in PLUGINS))


@nox.session
def gateway(session: nox.Session) -> None:
    """Run any ``gateway`` command against the same store as ``serve``: ``nox -s gateway -- keys list``."""
    session.install(".")
    session.run("gateway", *(session.posargs or ["--help"]))


@nox.session
def serve(session: nox.Session) -> None:
    """Run the gateway on its embedded defaults (sandbox mode, offline echo model)."""
    session.install(".")
    session.run("gateway", "serve", *(session.posargs or ["--host", "127.0.0.1", "--port", "3000"]))
