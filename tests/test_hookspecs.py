"""Meta-tests of the plugin contract (like datasette's tests/test_plugins.py).

Every hookspec is documented (``:param:`` per parameter, ``:returns:``, an ``Example::`` impl
whose signature matches the spec), keeps a deliberate signature, and is implemented somewhere
in the repository's built-in plugins or tests, so no hook can silently go untested.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gateway_core import hookspecs
from gateway_core.default_plugins import DEFAULT_PLUGINS
from gateway_core.errors import ProviderError
from gateway_core.hookspecs import hookimpl
from gateway_core.plugins import GatewayPluginManager
from gateway_core.types import (
    JobRef,
    JobStatus,
    OperationSupport,
    ProviderContext,
    ProviderSpec,
    UpstreamRequest,
    UpstreamResponse,
)

REPO = Path(__file__).resolve().parent.parent

#: The contract, frozen: changing a hook's parameters or result mode must be a deliberate edit here.
SIGNATURES: dict[str, tuple[tuple[str, ...], bool]] = {
    "gateway_providers": (("config",), False),
    "gateway_list_models": (("provider",), False),
    "gateway_param_catalog": (("provider", "row", "modality"), True),
    "gateway_build_request": (("call", "provider"), True),
    "gateway_parse_response": (("call", "provider", "response"), True),
    "gateway_stream_decoder": (("call", "provider", "headers"), True),
    "gateway_build_job_request": (("job", "action", "provider"), True),
    "gateway_parse_job_status": (("job", "provider", "response"), True),
    "gateway_map_error": (("call", "provider", "status", "body", "headers", "exception"), True),
}


#: The attribute pluggy's HookspecMarker sets on each spec (its options).
_SPEC_MARKER = f"{hookspecs.PROJECT_NAME}_spec"


def _hookspec_functions() -> dict[str, Any]:
    functions = vars(hookspecs).items()
    return {name: obj for name, obj in functions if inspect.isfunction(obj) and hasattr(obj, _SPEC_MARKER)}


SPECS = _hookspec_functions()
SPEC_PARAMS = [pytest.param(name, id=name) for name in sorted(SPECS)]


def test_module_has_hookspecs() -> None:
    assert SPECS, "gateway_core.hookspecs defines no hookspec"


def test_every_gateway_function_is_a_hookspec() -> None:
    # A gateway_* function without the @hookspec marker is a hook nobody can implement.
    functions = {name for name, obj in vars(hookspecs).items() if inspect.isfunction(obj)}
    assert {name for name in functions if name.startswith("gateway_")} == set(SPECS)


@pytest.mark.parametrize("name", SPEC_PARAMS)
def test_hookspec_is_prefixed(name: str) -> None:
    assert name.startswith("gateway_")


def test_signature_table_is_exact() -> None:
    actual = {
        name: (tuple(inspect.signature(fn).parameters), bool(getattr(fn, _SPEC_MARKER).get("firstresult")))
        for name, fn in SPECS.items()
    }
    assert actual == SIGNATURES


@pytest.mark.parametrize("name", SPEC_PARAMS)
def test_hookspec_is_typed(name: str) -> None:
    signature = inspect.signature(SPECS[name])
    untyped = [p for p, param in signature.parameters.items() if param.annotation is inspect.Parameter.empty]
    assert not untyped, f"{name}: parameters without annotation: {untyped}"
    assert signature.return_annotation is not inspect.Signature.empty, f"{name}: no return annotation"


@pytest.mark.parametrize("name", SPEC_PARAMS)
def test_hookspec_documents_params_and_returns(name: str) -> None:
    doc = inspect.getdoc(SPECS[name]) or ""
    missing = [p for p in inspect.signature(SPECS[name]).parameters if not re.search(rf"^:param {p}:", doc, re.M)]
    assert not missing, f"{name}: no ':param <name>:' line for {missing}"
    documented = re.findall(r"^:param (\w+):", doc, re.M)
    assert set(documented) <= set(inspect.signature(SPECS[name]).parameters), f"{name}: documents unknown params"
    assert re.search(r"^:returns:", doc, re.M), f"{name}: no ':returns:' line"


@pytest.mark.parametrize("name", SPEC_PARAMS)
def test_firstresult_hookspec_says_so(name: str) -> None:
    doc = " ".join((inspect.getdoc(SPECS[name]) or "").split())
    if SIGNATURES.get(name, ((), False))[1]:
        assert "first non-``None`` result" in doc, f"{name}: firstresult hook must say it stops at the first result"


def _example(name: str) -> str:
    doc = inspect.getdoc(SPECS[name]) or ""
    _head, sep, tail = doc.partition("Example::")
    assert sep, f"{name}: no 'Example::' block"
    block = []
    for line in tail.splitlines()[1:]:
        if line and not line.startswith(" "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


@pytest.mark.parametrize("name", SPEC_PARAMS)
def test_example_is_an_impl_matching_the_spec(name: str) -> None:
    tree = ast.parse(_example(name))
    impls = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == name]
    assert impls, f"{name}: the example defines no '{name}' function"
    impl = impls[0]
    decorators = [ast.unparse(d) for d in impl.decorator_list]
    assert any(d.startswith("hookimpl") for d in decorators), f"{name}: example impl is not @hookimpl"
    args = [a.arg for a in impl.args.args]
    assert args == list(inspect.signature(SPECS[name]).parameters), f"{name}: example impl args {args}"


# --- coverage: every hookspec has at least one impl --------------------------------------------


@hookimpl
def _jobs_providers(config: Mapping[str, Any]) -> list[ProviderSpec]:
    return [ProviderSpec(name="jobs", operations={"video-generation": OperationSupport(streaming=False)})]


@hookimpl
def _jobs_list_models(provider: ProviderContext) -> list[dict[str, Any]]:
    return [{"modelId": f"{provider.name}-video", "type": "text-to-video"}]


@hookimpl
def _jobs_param_catalog(provider: ProviderContext, row: Mapping[str, Any], modality: str) -> dict[str, Any] | None:
    if modality == "video":
        return {"duration": {"type": "number", "required": False, "default": 5}}
    return None


@hookimpl
def _jobs_build_job_request(job: JobRef, action: str, provider: ProviderContext) -> UpstreamRequest | None:
    if action == "poll":
        return UpstreamRequest("GET", f"/videos/{job.provider_job_id}")
    return None


@hookimpl
def _jobs_parse_job_status(job: JobRef, provider: ProviderContext, response: UpstreamResponse) -> JobStatus:
    data = response.json()
    return JobStatus(status=data["state"], progress=data.get("pct"))


@hookimpl
def _jobs_map_error(
    call: object,
    provider: ProviderContext,
    status: int | None,
    body: bytes,
    headers: Mapping[str, str],
    exception: BaseException | None,
) -> ProviderError | None:
    if status == 529:
        return ProviderError(503, "overloaded", retryable=True)
    return None


def _module(name: str, **impls: object) -> ModuleType:
    module = ModuleType(name)
    vars(module).update(impls)
    return module


#: A provider plugin for the async-job hooks, the param ladder and model listing, which the
#: built-in sandbox does not implement. A module object, as an entry point would load.
JOBS_PLUGIN = _module(
    "jobs_plugin",
    gateway_providers=_jobs_providers,
    gateway_list_models=_jobs_list_models,
    gateway_param_catalog=_jobs_param_catalog,
    gateway_build_job_request=_jobs_build_job_request,
    gateway_parse_job_status=_jobs_parse_job_status,
    gateway_map_error=_jobs_map_error,
)

TEST_PLUGINS: list[tuple[str, object]] = [("jobs", JOBS_PLUGIN)]


def _implemented(plugin: object) -> set[str]:
    pm = GatewayPluginManager().pm
    names = set()
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is not None:
            names.add(opts.get("specname") or attr)
    return names


def _source_files() -> Iterator[Path]:
    yield from (REPO / "tests").rglob("*.py")
    yield from (REPO / "plugins").glob("*/**/*.py")


def _impls_in_source(path: Path) -> set[str]:
    """Hook names implemented by ``@hookimpl`` functions (or ``specname=``) in one file."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return set()
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if ast.unparse(target).split(".")[-1] != "hookimpl":
                continue
            specname = next(
                (
                    kw.value.value
                    for kw in (call.keywords if call else ())
                    if kw.arg == "specname" and isinstance(kw.value, ast.Constant)
                ),
                None,
            )
            found.add(str(specname or node.name))
    return found


def test_every_hookspec_has_an_impl() -> None:
    covered: set[str] = set()
    for _name, plugin in [*DEFAULT_PLUGINS, *TEST_PLUGINS]:
        covered |= _implemented(plugin)
    for path in _source_files():
        covered |= _impls_in_source(path)
    uncovered = sorted(set(SPECS) - covered)
    assert not uncovered, f"hookspecs with no impl in default plugins or tests: {uncovered}"


def test_job_plugin_hooks_are_called_through_the_manager() -> None:
    """The impls above are real: the manager routes each hook to them."""
    manager = GatewayPluginManager()
    manager.register_defaults()
    manager.register(JOBS_PLUGIN, "jobs")
    manager.build_providers({})
    assert not manager.failures
    provider = manager.provider("jobs")
    assert provider is not None
    ctx = provider.context
    job = JobRef(job_id="job_1", provider_job_id="up-7", model="jobs-video", upstream_model="v1", row={})

    assert provider.hooks.list_models(ctx) == [{"modelId": "jobs-video", "type": "text-to-video"}]
    ladder = provider.hooks.param_catalog(ctx, {}, "video")
    assert ladder == {"duration": {"type": "number", "required": False, "default": 5}}
    assert provider.hooks.param_catalog(ctx, {}, "image") is None
    poll = provider.hooks.build_job_request(job, "poll", ctx)
    assert poll is not None
    assert (poll.method, poll.url) == ("GET", "/videos/up-7")
    assert provider.hooks.build_job_request(job, "cancel", ctx) is None
    status = provider.hooks.parse_job_status(job, ctx, UpstreamResponse(200, {}, b'{"state": "processing", "pct": 40}'))
    assert status == JobStatus(status="processing", progress=40)
    overloaded = provider.hooks.map_error(None, ctx, 529, b"", {}, None)
    assert (overloaded.status, overloaded.message) == (503, "overloaded")
    # Returning None defers to the built-in trylast fallback.
    fallback = provider.hooks.map_error(None, ctx, 500, b'{"error": {"message": "boom"}}', {}, None)
    assert (fallback.status, fallback.message) == (500, "boom")
