"""``POST /v1/responses`` (text models), ``GET /v1/responses/{id}`` and its input items
(spec/responses.md §2-§6).

The POST handler follows the chat route: normalize, rebuild the history of
``previous_response_id``, hand the pipeline a ``chat`` :class:`CallRequest`, then shape the
canonical result as the Response object (or Responses SSE events). A record is kept in the
store unless ``store: false``; it is created ``in_progress`` before the provider is called and
moved to ``completed`` or ``failed`` after, conditionally (a cancelled record stays cancelled).

Record layout (the store never parses the JSON columns):

- ``request_json``: the client's body without ``input``/``attachments`` (re-normalized to echo
  the request fields) plus ``created_at`` in Unix seconds.
- ``input_items_json``: ``[{"id": "msg_…", "message": <Message>}]``, this request's messages.
- ``output_json``: the output items; ``error_json``: ``{code, message}``.
- ``usage_json``: ``{"usage", "incomplete_details", "receipt"}``: the store has no receipt
  column, so the receipt travels with the usage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gateway_core.errors import GatewayError
from gateway_core.http import public_origin, request_id_of
from gateway_core.payments.key_payment import KeyState
from gateway_core.payments.keys import compose_token_of
from gateway_core.payments.x402_payment import X402State
from gateway_core.pipeline import CallPlan, CallRequest
from gateway_core.responses import (
    ResponsesEventEncoder,
    ResponsesRequest,
    incomplete_details,
    input_items_page,
    new_item_id,
    normalize_responses_request,
    output_items,
    require_input,
    response_body,
    usage_body,
)
from gateway_core.routes._body import read_json_body
from gateway_core.routes._json import json_response
from gateway_core.routes.keys import store_errors
from gateway_core.runtime import Runtime
from gateway_core.store import Store
from gateway_core.store.records import ResponseOwnerKind, ResponseRecord, ResponseStatus
from gateway_core.store.responses import ResponseChainError
from gateway_core.stream_run import EventStream
from gateway_core.streaming import SSEResponse
from gateway_core.types import Done, Message, MessageToolCall

__all__ = ["router"]

log = logging.getLogger("gateway")

router = APIRouter()

#: Body fields that are this request's input: kept as input items, not in ``request_json``.
_INPUT_FIELDS = ("input", "attachments", "attachment")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _not_found(response_id: str) -> GatewayError:
    return GatewayError(404, "response_not_found", f"Response '{response_id}' not found")


# -- ownership (§6.2) ----------------------------------------------------------------------------


async def _caller_wallet(request: Request, runtime: Runtime) -> str | None:
    """The wallet of the request's Compose Key; None without one. An invalid key is a 401."""
    token = compose_token_of(request.headers.get("authorization"))
    if token is None or runtime.payments is None:
        return None
    key = await runtime.payments.compose_keys.validate(token)
    return key.user_address


def _owner(plan: CallPlan) -> tuple[ResponseOwnerKind, str | None]:
    """The record's owner: the key's wallet, the x402 payer, else ``none``."""
    state = plan.authorization.state
    if isinstance(state, KeyState):
        return "compose_key", state.key.user_address
    if isinstance(state, X402State):
        return "x402", state.accepted.payer
    return "none", None


def _visible(record: ResponseRecord, wallet: str | None) -> bool:
    """Compose Key records belong to their wallet; the others to whoever knows the id."""
    return record.owner_kind != "compose_key" or (wallet is not None and wallet == record.owner_id)


async def _readable(request: Request, runtime: Runtime, response_id: str) -> ResponseRecord:
    """The live record ``response_id`` when the caller may read it, else 404 (§6.2-§6.3)."""
    wallet = await _caller_wallet(request, runtime)
    store = runtime.store
    if store is None:
        raise _not_found(response_id)
    with store_errors():
        record = await store.get_response(response_id, _now_ms())
    if record is None or not _visible(record, wallet):
        raise _not_found(response_id)
    return record


# -- records ------------------------------------------------------------------------------------


def _stored_items(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [{"id": new_item_id("msg"), "message": m.model_dump(mode="json", exclude_none=True)} for m in messages]


def _loaded_items(record: ResponseRecord) -> list[tuple[str, Message]]:
    return [(item["id"], Message.model_validate(item["message"])) for item in orjson.loads(record.input_items_json)]


def _assistant_turn(output: Sequence[Mapping[str, Any]]) -> Message | None:
    """The assistant message a record's output contributes to a later conversation (§3.3)."""
    texts: list[str] = []
    calls: list[MessageToolCall] = []
    for item in output:
        kind = item.get("type")
        if kind == "message":
            texts += [part.get("text", "") for part in item.get("content") or () if part.get("type") == "output_text"]
        elif kind == "function_call":
            calls.append(
                MessageToolCall(
                    id=item["call_id"],
                    name=item["name"],
                    arguments=item["arguments"],
                    provider_metadata=item.get("providerMetadata"),
                )
            )
        elif kind in ("output_image", "output_audio", "output_video"):
            url = item.get("image_url") or item.get("audio_url") or item.get("video_url") or item.get("job_id")
            texts.append(url or f"[{kind.removeprefix('output_')}]")
    if not texts and not calls:
        return None
    return Message(role="assistant", content="".join(texts) if texts else None, tool_calls=calls or None)


async def _history(runtime: Runtime, previous_id: str, wallet: str | None) -> list[Message]:
    """The conversation up to and including ``previous_id`` (§3.3)."""
    store = runtime.store
    if store is None:
        raise _not_found(previous_id)
    try:
        with store_errors():
            chain = await store.response_chain(previous_id, _now_ms())
    except ResponseChainError as exc:
        if exc.reason == "cycle":
            raise GatewayError(
                400, "invalid_request", f"Response history cycle detected for '{exc.response_id}'"
            ) from exc
        if exc.reason == "too_deep":
            raise GatewayError(400, "invalid_request", f"Response history of '{previous_id}' is too deep") from exc
        raise _not_found(previous_id) from exc
    if not _visible(chain[-1], wallet):
        raise _not_found(previous_id)
    messages: list[Message] = []
    for record in chain:
        messages += [message for _, message in _loaded_items(record)]
        turn = _assistant_turn(orjson.loads(record.output_json)) if record.output_json else None
        if turn is not None:
            messages.append(turn)
    return messages


class _Record:
    """The record of one POST, or nothing when ``store: false`` (or no store)."""

    def __init__(self, store: Store | None, response_id: str) -> None:
        self.store = store
        self.response_id = response_id

    async def create(self, plan: CallPlan, body: Mapping[str, Any], request: ResponsesRequest, ttl: float) -> None:
        if self.store is None:
            return
        now = _now_ms()
        owner_kind, owner_id = _owner(plan)
        echo = {key: value for key, value in body.items() if key not in _INPUT_FIELDS}
        echo["created_at"] = plan.created
        record = ResponseRecord(
            response_id=self.response_id,
            status="in_progress",
            model=request.model,
            owner_kind=owner_kind,
            owner_id=owner_id,
            previous_response_id=request.previous_response_id,
            request_json=_dumps(echo),
            input_items_json=_dumps(_stored_items(request.input_items("text"))),
            created_at=now,
            updated_at=now,
            expires_at=now + int(ttl * 1000),
        )
        with store_errors():
            await self.store.create_response(record)

    async def completed(
        self,
        output: Sequence[Mapping[str, Any]],
        usage: Mapping[str, Any],
        incomplete: Mapping[str, Any] | None,
        receipt: Mapping[str, Any] | None,
    ) -> None:
        result = {"usage": usage, "incomplete_details": incomplete, "receipt": receipt}
        await self._update("completed", output_json=_dumps(output), usage_json=_dumps(result))

    async def failed(self, error: GatewayError, output: Sequence[Mapping[str, Any]] | None = None) -> None:
        error_json = _dumps({"code": error.code, "message": error.message})
        await self._update("failed", output_json=None if output is None else _dumps(output), error_json=error_json)

    async def _update(self, status: ResponseStatus, **fields: str | None) -> None:
        if self.store is None:
            return
        # The answer is already decided: a store outage here loses the record, not the call.
        try:
            await self.store.update_response(self.response_id, status=status, now_ms=_now_ms(), **fields)
        except Exception:
            log.exception("could not update response record %s", self.response_id)


def _record_body(record: ResponseRecord) -> dict[str, Any]:
    """The Response object (§2) of a stored record."""
    echo = orjson.loads(record.request_json)
    request = normalize_responses_request(echo)
    result = orjson.loads(record.usage_json) if record.usage_json else {}
    return response_body(
        request,
        response_id=record.response_id,
        created_at=echo.get("created_at", record.created_at // 1000),
        model=record.model,
        status=record.status,
        output=orjson.loads(record.output_json) if record.output_json else (),
        usage=result.get("usage"),
        error=orjson.loads(record.error_json) if record.error_json else None,
        incomplete=result.get("incomplete_details"),
        receipt=result.get("receipt"),
    )


# -- POST ---------------------------------------------------------------------------------------


def _call_headers(plan: CallPlan, attempts: int) -> dict[str, str]:
    model = plan.request.model
    headers = {
        "x-compose-response-id": plan.response_id,
        "x-response-id": plan.response_id,
        "x-routing-primary-model": model,
        "x-routing-final-model": model,
        "x-routing-attempts": str(attempts),
        "x-routing-fallback-used": "false",
    }
    headers.update(plan.authorization.headers)
    return headers


def _resource_url(request: Request, runtime: Runtime) -> str:
    query = request.url.query
    origin = public_origin(request.scope, runtime.settings.public_url)
    return origin + request.url.path + (f"?{query}" if query else "")


async def _frames(stream: EventStream, encoder: ResponsesEventEncoder, record: _Record) -> AsyncIterator[bytes]:
    """The SSE body (§4): start, items as events arrive, completed, settlement, receipt, ``[DONE]``."""
    for frame in encoder.start():
        yield frame
    try:
        async for event in stream:
            for frame in encoder.encode(event):
                yield frame
            if type(event) is Done:
                break
        usage, source = stream.final_usage()
        frames = encoder.finish(usage, source)
    except Exception as exc:  # every failure after the first byte becomes frames (logged when unexpected)
        failure = exc if isinstance(exc, GatewayError) else GatewayError(500, "internal_error", "Internal server error")
        if not isinstance(exc, GatewayError):
            log.exception("stream %s failed unexpectedly", stream.plan.response_id)
        await stream.fail()
        frames = encoder.fail(failure)
        await record.failed(failure, encoder.output)
        for frame in frames:
            yield frame
        return
    for frame in frames:
        yield frame
    completed = encoder.completed_response(usage, source)
    try:
        receipt = await stream.finish()
    except GatewayError as exc:
        failure = GatewayError(exc.status, "settlement_failed", exc.message)
        await record.failed(failure, completed["output"])
        for frame in encoder.settlement_failed(failure):
            yield frame
        return
    await record.completed(
        completed["output"],
        completed["usage"],
        completed["incomplete_details"],
        dict(receipt.body) if receipt else None,
    )
    for frame in encoder.tail(dict(receipt.frame) if receipt is not None else None):
        yield frame


@router.post("/v1/responses")
async def create_response(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    body = await read_json_body(request, runtime.settings.body_limit)
    responses = normalize_responses_request(body)
    pipeline = runtime.pipeline
    pipeline.resolve(responses.model, "responses")  # §3.6 steps 5-6 before the input checks
    require_input(responses, "text")
    wallet = await _caller_wallet(request, runtime)
    history = (
        await _history(runtime, responses.previous_response_id, wallet)
        if responses.previous_response_id is not None
        else []
    )
    system = [Message(role="system", content=responses.instructions)] if responses.instructions else []
    messages = [*system, *history, *responses.input_items("text")]
    call_request = CallRequest(
        route="responses",
        model=responses.model,
        request_id=request_id_of(request.scope),
        headers=request.headers,
        stream=responses.stream,
        messages=messages,
        tools=responses.tools,
        tool_choice=responses.tool_choice,
        response_format=responses.response_format,
        requested_max_tokens=responses.max_output_tokens,
        temperature=responses.temperature,
        custom_params=responses.custom_params,
        max_payment_amount_wei=responses.max_payment_amount_wei,
        method=request.method,
        path=request.url.path,
        resource_url=_resource_url(request, runtime),
    )
    plan = await pipeline.prepare(call_request)
    record = _Record(runtime.store if responses.store else None, plan.response_id)
    try:
        await record.create(plan, body, responses, runtime.settings.responses_ttl)
    except BaseException:
        await pipeline.release(plan)
        raise
    if responses.stream:
        try:
            stream = await pipeline.open_stream(plan)
        except GatewayError as exc:
            await record.failed(exc)
            raise
        encoder = ResponsesEventEncoder(
            responses, response_id=plan.response_id, created_at=plan.created, model=responses.model
        )
        return SSEResponse(
            _frames(stream, encoder, record),
            _call_headers(plan, stream.attempts),
            keepalive=runtime.settings.keepalive_interval,
            on_disconnect=stream.disconnected,
        )
    try:
        completion = await pipeline.complete(plan)
    except GatewayError as exc:
        await record.failed(exc)
        raise
    receipt = dict(completion.receipt.body) if completion.receipt is not None else None
    output = output_items(completion.output)
    usage = usage_body(completion.usage, completion.usage_source)
    incomplete = incomplete_details(completion.output.finish_reason)
    await record.completed(output, usage, incomplete, receipt)
    body_out = response_body(
        responses,
        response_id=plan.response_id,
        created_at=plan.created,
        model=responses.model,
        output=output,
        usage=usage,
        incomplete=incomplete,
        receipt=receipt,
    )
    headers = _call_headers(plan, completion.attempts)
    if completion.receipt is not None:
        headers.update(completion.receipt.headers)
        headers["X-Compose-Receipt"] = headers["X-Receipt"] = completion.receipt.header
    return json_response(body_out, headers=headers)


# -- GET ----------------------------------------------------------------------------------------


@router.get("/v1/responses/{response_id}")
async def retrieve_response(request: Request, response_id: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    record = await _readable(request, runtime, response_id)
    return json_response(_record_body(record))


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(request: Request, response_id: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    record = await _readable(request, runtime, response_id)
    return json_response(input_items_page(_loaded_items(record)))
