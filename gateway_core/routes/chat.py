"""``POST /v1/chat/completions`` and its legacy alias ``POST /api/inference`` (spec/chat.md)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gateway_core.chat import normalize_chat_request
from gateway_core.chat.chunks import ChunkEncoder, error_frame
from gateway_core.chat.completion import completion_body
from gateway_core.errors import GatewayError
from gateway_core.http import request_id_of
from gateway_core.pipeline import CallRequest
from gateway_core.routes._body import read_json_body
from gateway_core.routes._call import call_headers, request_path, resource_url
from gateway_core.routes._json import json_response
from gateway_core.runtime import Runtime
from gateway_core.stream_run import EventStream
from gateway_core.streaming import DONE_FRAME, SSEResponse, sse_event

__all__ = ["router"]

log = logging.getLogger("gateway")

router = APIRouter()


async def _chat_frames(stream: EventStream, encoder: ChunkEncoder) -> AsyncIterator[bytes]:
    """The SSE body: chunks as events arrive (those of one upstream read in one write), then
    final, usage, receipt and ``[DONE]``."""
    encode = encoder.encode
    try:
        async for batch in stream.batches():
            frames = [frame for event in batch if (frame := encode(event)) is not None]
            if frames:
                yield frames[0] if len(frames) == 1 else b"".join(frames)
        usage, source = stream.final_usage()
        yield encoder.usage(usage, source)
    except Exception as exc:  # every failure after the first byte becomes a frame (logged when unexpected)
        failure = exc if isinstance(exc, GatewayError) else GatewayError(500, "internal_error", "Internal server error")
        if not isinstance(exc, GatewayError):
            log.exception("stream %s failed unexpectedly", stream.plan.response_id)
        await stream.fail()
        yield error_frame(failure.code, failure.message, failure.type)
        yield DONE_FRAME
        return
    try:
        receipt = await stream.finish()
    except GatewayError as exc:
        yield error_frame("settlement_failed", exc.message, "payment_error")
        yield DONE_FRAME
        return
    if receipt is not None:
        yield sse_event("compose.receipt", dict(receipt.frame))
    yield DONE_FRAME


@router.post("/v1/chat/completions")
@router.post("/api/inference")
async def chat_completions(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    body = await read_json_body(request, runtime.settings.body_limit)
    chat = normalize_chat_request(body)
    call_request = CallRequest(
        route="chat",
        model=chat.model,
        request_id=request_id_of(request.scope),
        headers=request.headers,
        stream=chat.stream,
        messages=chat.messages,
        tools=chat.tools,
        tool_choice=chat.tool_choice,
        response_format=chat.response_format,
        requested_max_tokens=chat.requested_max_tokens,
        temperature=chat.temperature,
        custom_params=chat.custom_params,
        max_payment_amount_wei=chat.max_payment_amount_wei,
        method=request.method,
        path=request_path(request),
        resource_url=resource_url(request, runtime),
    )
    pipeline = runtime.pipeline
    plan = await pipeline.prepare(call_request)
    if chat.stream:
        stream = await pipeline.open_stream(plan)
        encoder = ChunkEncoder(plan.response_id, plan.created, chat.model)
        return SSEResponse(
            _chat_frames(stream, encoder),
            call_headers(plan, stream.attempts),
            keepalive=runtime.settings.keepalive_interval,
            on_disconnect=stream.disconnected,
        )
    completion = await pipeline.complete(plan)
    receipt = completion.receipt
    body_out = completion_body(
        plan.response_id,
        plan.created,
        chat.model,
        completion.output,
        completion.usage,
        completion.usage_source,
        dict(receipt.body) if receipt else None,
    )
    return json_response(body_out, headers=call_headers(plan, completion.attempts, receipt))
