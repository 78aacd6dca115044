"""``POST /v1/responses`` (text models), ``GET /v1/responses/{id}``, its input items, and
``POST /v1/responses/{id}/cancel`` (spec/responses.md §2-§6).

The POST handler follows the chat route: normalize, rebuild the history of
``previous_response_id``, hand the pipeline a ``responses`` :class:`CallRequest` (the provider's
native Responses API when it has one, else chat), then shape the canonical result as the
Response object (or Responses SSE events). A record is kept in the store unless ``store:
false``; it is created ``in_progress`` before the provider is called and moved to ``completed``
or ``failed`` after, conditionally (a cancelled record stays cancelled). ``background: true``
answers ``queued`` at once and runs the call server-side (:mod:`.responses_background`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gateway_core.errors import GatewayError
from gateway_core.http import request_id_of
from gateway_core.pipeline import CallRequest
from gateway_core.responses import (
    ResponsesEventEncoder,
    ResponsesRequest,
    incomplete_details,
    input_items_page,
    input_items_query,
    normalize_responses_request,
    output_items,
    require_input,
    response_body,
    usage_body,
)
from gateway_core.routes._body import read_json_body
from gateway_core.routes._call import call_headers, request_path, resource_url
from gateway_core.routes._json import json_response
from gateway_core.routes.keys import store_errors
from gateway_core.routes.responses_background import BackgroundRun
from gateway_core.routes.responses_records import (
    RecordWriter,
    caller_wallet,
    history,
    loaded_items,
    not_found,
    now_ms,
    readable,
    record_body,
)
from gateway_core.runtime import Runtime
from gateway_core.stream_run import EventStream
from gateway_core.streaming import SSEResponse
from gateway_core.types import Done, Message

__all__ = ["router"]

log = logging.getLogger("gateway")

router = APIRouter()


# -- POST ---------------------------------------------------------------------------------------


async def _frames(stream: EventStream, encoder: ResponsesEventEncoder, record: RecordWriter) -> AsyncIterator[bytes]:
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


def _validate_background(responses: ResponsesRequest) -> None:
    if not responses.background:
        return
    if not responses.store:
        raise GatewayError(
            400, "invalid_request", "A background response must be stored: 'store' cannot be false", param="store"
        )
    if responses.stream:
        # Gateway choice: a background run is polled with GET, not streamed (no resumable stream).
        raise GatewayError(
            400,
            "invalid_request",
            "'stream' cannot be combined with 'background'; poll GET /v1/responses/{id} instead",
            param="stream",
        )


@router.post("/v1/responses")
async def create_response(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    body = await read_json_body(request, runtime.settings.body_limit)
    responses = normalize_responses_request(body)
    pipeline = runtime.pipeline
    pipeline.resolve(responses.model, "responses")  # §3.6 steps 5-6 before the input checks
    require_input(responses, "text")
    _validate_background(responses)
    if responses.background and runtime.store is None:
        raise GatewayError(503, "store_unavailable", "Background responses need the store")
    wallet = await caller_wallet(request, runtime)
    earlier = (
        await history(runtime, responses.previous_response_id, wallet)
        if responses.previous_response_id is not None
        else []
    )
    system = [Message(role="system", content=responses.instructions)] if responses.instructions else []
    messages = [*system, *earlier, *responses.input_items("text")]
    call_request = CallRequest(
        route="responses",
        model=responses.model,
        request_id=request_id_of(request.scope),
        headers=request.headers,
        # A background run streams from the provider so a cancel can stop it mid-generation
        # and bill only what was delivered.
        stream=responses.stream or bool(responses.background),
        messages=messages,
        tools=responses.tools,
        tool_choice=responses.tool_choice,
        response_format=responses.response_format,
        requested_max_tokens=responses.max_output_tokens,
        temperature=responses.temperature,
        custom_params=responses.custom_params,
        max_payment_amount_wei=responses.max_payment_amount_wei,
        method=request.method,
        path=request_path(request),
        resource_url=resource_url(request, runtime),
    )
    plan = await pipeline.prepare(call_request)
    record = RecordWriter(runtime.store if responses.store else None, plan.response_id)
    encoder = ResponsesEventEncoder(
        responses, response_id=plan.response_id, created_at=plan.created, model=responses.model
    )
    try:
        await record.create(
            plan, body, responses, runtime.settings.responses_ttl, "queued" if responses.background else "in_progress"
        )
    except BaseException:
        await pipeline.release(plan)
        raise
    if responses.background:
        BackgroundRun(
            pipeline, plan, record, encoder, runtime.background, runtime.settings.background_heartbeat
        ).start()
        queued = response_body(
            responses, response_id=plan.response_id, created_at=plan.created, model=responses.model, status="queued"
        )
        return json_response(queued, headers=call_headers(plan, 0))
    if responses.stream:
        try:
            stream = await pipeline.open_stream(plan)
        except GatewayError as exc:
            await record.failed(exc)
            raise
        return SSEResponse(
            _frames(stream, encoder, record),
            call_headers(plan, stream.attempts),
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
    return json_response(body_out, headers=call_headers(plan, completion.attempts, completion.receipt))


# -- GET + cancel -------------------------------------------------------------------------------


@router.get("/v1/responses/{response_id}")
async def retrieve_response(request: Request) -> Response:
    response_id: str = request.path_params["response_id"]
    runtime: Runtime = request.app.state.runtime
    record = await readable(request, runtime, response_id)
    return json_response(record_body(record))


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(request: Request) -> Response:
    response_id: str = request.path_params["response_id"]
    runtime: Runtime = request.app.state.runtime
    page = input_items_query(request.query_params)
    record = await readable(request, runtime, response_id)
    return json_response(input_items_page(loaded_items(record), page))


@router.post("/v1/responses/{response_id}/cancel")
async def cancel_response(request: Request) -> Response:
    """Stop a queued or running response (§6.5): the record becomes ``cancelled`` at once; the
    run, in this process or another replica, closes its upstream and bills what it delivered."""
    response_id: str = request.path_params["response_id"]
    runtime: Runtime = request.app.state.runtime
    await readable(request, runtime, response_id)  # the ownership rule, as for GET
    assert runtime.store is not None  # readable() found the record in it
    with store_errors():
        record = await runtime.store.request_cancel(response_id, now_ms())
    if record is None:
        raise not_found(response_id)
    runtime.background.cancel(response_id)
    return json_response(record_body(record))
