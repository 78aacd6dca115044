"""The one path every paid call takes, whatever its route:

    resolve -> authorize -> translate -> send -> translate back -> meter -> settle

Routes parse and validate their own request shape, then hand the pipeline a
:class:`CallRequest`; they shape the pipeline's canonical result (an :class:`Output` or a
stream of events) into their own response format. The pipeline knows no wire format and no
route format.

Each step's time goes to the request's Server-Timing record (:mod:`gateway_core.timing`):
``auth``, ``translate``, ``upstream`` (in :mod:`gateway_core.transport` and
:mod:`gateway_core.stream_run`) and ``settle``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from gateway_core import timing
from gateway_core.catalog import CatalogRow
from gateway_core.chat import output_cap
from gateway_core.errors import GatewayError, ProviderError, provider_error_to_gateway
from gateway_core.payments import Authorization, PaymentGate, PaymentRequest, Receipt
from gateway_core.plugins import Provider
from gateway_core.shield import shield_now
from gateway_core.transport import retry_before_first_byte
from gateway_core.types import (
    FunctionTool,
    Message,
    OperationSupport,
    Output,
    ProviderCall,
    ResponseFormat,
    ToolChoice,
    UpstreamRequest,
    Usage,
)
from gateway_core.usage import complete_usage, estimate_input_tokens, estimate_output_tokens

if TYPE_CHECKING:
    from gateway_core.runtime import Runtime
    from gateway_core.stream_run import EventStream

__all__ = ["CallPlan", "CallRequest", "Completion", "Pipeline", "new_id", "untranslatable"]

log = logging.getLogger("gateway")
T = TypeVar("T")

#: Catalog operations each route family accepts (spec/models.md §1.5), and the provider
#: operations (hookspec ``call.operation``) the call can be made with, preferred first: a
#: provider that declares the native ``responses`` operation gets Responses calls natively,
#: every other provider gets them translated through ``chat``.
ROUTE_OPERATIONS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "chat": (("chat", "responses", "completion", "vision-chat"), ("chat",)),
    "responses": (("chat", "responses", "completion", "vision-chat"), ("responses", "chat")),
}


def untranslatable(plan: CallPlan, exc: Exception) -> GatewayError:
    """A plugin failed to translate an upstream answer: the upstream sent something its
    plugin does not understand. Logged with the plugin's traceback; the client gets a 502."""
    log.error(
        "provider %r could not translate its upstream's answer (request %s)",
        plan.provider.name,
        plan.request.request_id,
        exc_info=exc,
    )
    return GatewayError(502, "upstream_error", "Provider answer could not be translated")


def new_id(prefix: str, nbytes: int = 16) -> str:
    """``<prefix>`` + CSPRNG hex (32 hex chars by default)."""
    return prefix + secrets.token_hex(nbytes)


@dataclass(frozen=True)
class CallRequest:
    """A validated request, in canonical form, as a route hands it to the pipeline."""

    route: str
    model: str
    request_id: str
    headers: Mapping[str, str]
    stream: bool = False
    messages: list[Message] = field(default_factory=list)
    tools: list[FunctionTool | dict[str, Any]] | None = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    requested_max_tokens: int | None = None
    temperature: float | None = None
    custom_params: dict[str, Any] | None = None
    max_payment_amount_wei: int | None = None
    #: ``<METHOD>``, path and public URL of the request: the x402 resource and receipt action.
    method: str = "POST"
    path: str = "/"
    resource_url: str = ""


@dataclass
class CallPlan:
    """A resolved, authorized call, ready to send."""

    request: CallRequest
    response_id: str
    created: int
    started: float
    row: CatalogRow
    provider: Provider
    support: OperationSupport
    call: ProviderCall
    authorization: Authorization
    input_estimate: int
    attempts: int = 1
    settled: bool = False


@dataclass(frozen=True)
class Completion:
    """The result of a non-stream call."""

    output: Output
    usage: Usage
    usage_source: str
    attempts: int
    receipt: Receipt | None


# The request fields that are first-class call parameters a provider must declare support for.
_CALL_PARAMS = ("tools", "tool_choice", "response_format", "temperature")


class Pipeline:
    def __init__(self, runtime: Runtime, payments: PaymentGate) -> None:
        self.runtime = runtime
        self.payments = payments

    # -- resolve ------------------------------------------------------------------------------

    def resolve(self, model: str, route: str) -> tuple[CatalogRow, Provider, str]:
        """Steps 6-8 of spec/chat.md §2: catalog row, operation, pricing, provider."""
        row = self.runtime.catalog.resolve(model)
        if row is None:
            raise GatewayError(404, "model_not_found", f"Model '{model}' not found", param="model")
        accepted, provider_operations = ROUTE_OPERATIONS[route]
        operations = row.data.get("operations") or []
        names = [op.get("operation") for op in operations]
        if not any(
            name in accepted or (op.get("modality") == "text" and op.get("streamable"))
            for name, op in zip(names, operations, strict=True)
        ):
            if names and all(op.get("modality") == "realtime" for op in operations):
                raise GatewayError(
                    400, "realtime_session_required", "This model requires a realtime WebSocket session."
                )
            raise GatewayError(400, "invalid_operation", f"Model '{model}' does not support {', '.join(accepted)}")
        pricing = row.data.get("pricing")
        if not isinstance(pricing, Mapping) or not pricing.get("sections"):
            raise GatewayError(503, "model_not_priced", f"Model '{model}' has no usable pricing")
        provider = self.runtime.plugins.provider(row.provider)
        if provider is None or not provider.configured:
            raise GatewayError(503, "provider_unavailable", f"Provider '{row.provider}' is not configured")
        provider_operation = next((op for op in provider_operations if op in provider.spec.operations), None)
        if provider_operation is None:
            raise GatewayError(
                400, "invalid_operation", f"Provider '{provider.name}' does not support {provider_operations[-1]}"
            )
        return row, provider, provider_operation

    # -- plan + authorize ---------------------------------------------------------------------

    async def prepare(self, request: CallRequest) -> CallPlan:
        """Resolve, check parameters, authorize the payment, build the provider call."""
        settings = self.runtime.settings
        row, provider, operation = self.resolve(request.model, request.route)
        support = provider.spec.operations[operation]
        for param in _CALL_PARAMS:
            if getattr(request, param) is not None and param not in support.params:
                raise GatewayError(
                    400,
                    "invalid_request",
                    f"Parameter '{param}' is not supported by provider '{provider.name}'",
                    param=param,
                )
        custom = request.custom_params
        if custom and support.passthrough is not None:
            # DESIGN.md: an unsupported parameter is a clear 400, never a silent drop.
            unsupported = next((key for key in custom if key not in support.passthrough), None)
            if unsupported is not None:
                raise GatewayError(
                    400,
                    "invalid_request",
                    f"Parameter '{unsupported}' is not supported by provider '{provider.name}'",
                    param=unsupported,
                )
        cap = output_cap(request.requested_max_tokens, row.data, settings.default_max_output_tokens)
        input_estimate = estimate_input_tokens(
            request.messages, request.tools, request.response_format, settings.media_part_tokens
        )
        payment_request = PaymentRequest(
            headers=request.headers,
            row=row.data,
            operation=operation,
            input_tokens_estimate=input_estimate,
            max_output_tokens=cap,
            method=request.method,
            path=request.path,
            resource_url=request.resource_url,
            request_id=request.request_id,
            max_payment_amount_wei=request.max_payment_amount_wei,
        )
        auth_started = time.perf_counter_ns()
        try:
            authorization = await self.payments.authorize(payment_request)
        finally:
            timing.add("auth", auth_started)
        if authorization.max_output_tokens is not None:
            cap = min(cap, authorization.max_output_tokens)
        response_id = new_id("resp_")
        started = time.monotonic()
        call = ProviderCall(
            request_id=request.request_id,
            response_id=response_id,
            row=row.data,
            model=row.model_id,
            upstream_model=row.upstream_model_id,
            modality="text",
            operation=operation,
            stream=request.stream and support.streaming,
            messages=request.messages,
            tools=request.tools,
            tool_choice=request.tool_choice,
            response_format=request.response_format,
            max_output_tokens=cap,
            temperature=request.temperature,
            custom_params=custom,
            deadline=started + settings.upstream_timeout,
        )
        return CallPlan(
            request=request,
            response_id=response_id,
            created=int(time.time()),
            started=started,
            row=row,
            provider=provider,
            support=support,
            call=call,
            authorization=authorization,
            input_estimate=input_estimate,
        )

    # -- translate + send ---------------------------------------------------------------------

    async def build_upstream_request(self, plan: CallPlan) -> UpstreamRequest:
        """Ask the plugin for the upstream request (a plugin 4xx becomes the client's 400)."""
        started = time.perf_counter_ns()
        try:
            request = plan.provider.hooks.build_request(plan.call, plan.provider.context)
            if inspect.isawaitable(request):
                request = await request
        except ProviderError as exc:
            raise provider_error_to_gateway(exc) from exc
        finally:
            timing.add("translate", started)
        if request is None:
            raise GatewayError(
                400, "invalid_operation", f"Provider '{plan.provider.name}' does not support {plan.call.operation}"
            )
        return request

    def timeout_error(self) -> GatewayError:
        ms = int(self.runtime.settings.upstream_timeout * 1000)
        return GatewayError(
            504, "upstream_timeout", f"upstream_timeout: provider did not return within {ms}ms", retryable=False
        )

    async def complete(self, plan: CallPlan) -> Completion:
        """Run a non-stream call: send with retries, translate back, meter, settle."""
        output = await self.run(plan)
        usage, source = self.usage_of(plan, output)
        receipt = await self.settle(plan, usage, source)
        return Completion(output, usage, source, plan.attempts, receipt)

    async def run(self, plan: CallPlan) -> Output:
        """Send a non-stream call with retries and translate the answer back. On failure the
        payment is released and the mapped error raised."""

        clients = self.runtime.clients
        timeout = self.runtime.settings.upstream_timeout

        async def attempt(_number: int) -> Output:
            response = await clients.send(plan.provider, plan.call, upstream, read_timeout=timeout)
            started = time.perf_counter_ns()
            try:
                output = plan.provider.hooks.parse_response(plan.call, plan.provider.context, response)
            except ProviderError as exc:
                raise provider_error_to_gateway(exc) from exc
            except Exception as exc:
                raise untranslatable(plan, exc) from exc
            finally:
                timing.add("translate", started)
            if output is None:
                raise GatewayError(502, "upstream_error", "Provider answer could not be translated")
            return output

        async with self.released_on_failure(plan):
            upstream = await self.build_upstream_request(plan)
            upstream.stream = False
            async with asyncio.timeout(timeout):
                output, plan.attempts = await retry_before_first_byte(attempt)
        return output

    @contextlib.asynccontextmanager
    async def released_on_failure(self, plan: CallPlan) -> AsyncIterator[None]:
        """Release the payment when the body fails, before any output reached the client.

        A timeout becomes the 504 of spec/chat.md §7; a client-visible error gets the payment's
        fresh headers (a key's budget after the release, spec/payments.md §3.5).
        """
        try:
            yield
        except TimeoutError:
            error = self.timeout_error()
            error.headers.update(await self.release(plan))
            raise error from None
        except GatewayError as exc:
            exc.headers.update(await self.release(plan))
            raise
        except BaseException:
            await self.release(plan)
            raise

    async def open_stream(self, plan: CallPlan) -> EventStream:
        """Open the upstream stream (retrying until its first event) and return it."""
        from gateway_core.stream_run import EventStream

        stream = EventStream(self, plan)
        await stream.start()
        return stream

    # -- meter + settle -----------------------------------------------------------------------

    def usage_of(self, plan: CallPlan, output: Output) -> tuple[Usage, str]:
        """Provider usage, with what it lacks estimated (spec/chat.md §6)."""
        output_estimate = estimate_output_tokens(output.content, output.reasoning, output.tool_calls)
        return complete_usage(output.usage, plan.input_estimate, output_estimate)

    async def settle(self, plan: CallPlan, usage: Usage, usage_source: str) -> Receipt | None:
        if plan.settled:
            return None
        plan.settled = True
        started = time.perf_counter_ns()
        try:
            # Shielded: a client leaving during settlement must not roll back a charge half-way
            # (the call was delivered) nor leave the hold for the sweeper.
            return await self._shielded(
                plan, self.payments.settle(plan.authorization, usage, usage_source, stream=plan.call.stream)
            )
        finally:
            timing.add("settle", started)

    def _shielded(self, plan: CallPlan, work: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """``work`` run to its end even if the caller is cancelled: from the caller's own task
        when the gate allows it (no task, no loop turns), else in a task of its own."""
        if self.payments.settles_in_place(plan.authorization):
            return shield_now(work)
        return asyncio.shield(work)

    async def release(self, plan: CallPlan) -> Mapping[str, str]:
        """Give the payment back (nothing is charged); returns headers describing it after."""
        if plan.settled:
            return {}
        plan.settled = True
        started = time.perf_counter_ns()
        try:
            return await self._shielded(plan, self.payments.release(plan.authorization))
        finally:
            timing.add("settle", started)  # releasing is the settlement of a failed call
