"""Response records of ``/v1/responses`` (spec/responses.md §6): writing them, reading them
back under the ownership rule, and rebuilding a ``previous_response_id`` conversation.

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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request

from gateway_core.errors import GatewayError
from gateway_core.payments.key_payment import KeyState
from gateway_core.payments.keys import compose_token_of
from gateway_core.payments.x402_payment import X402State
from gateway_core.responses.objects import new_item_id, response_body
from gateway_core.responses.request import ResponsesRequest, normalize_responses_request
from gateway_core.routes.keys import store_errors
from gateway_core.store import Store
from gateway_core.store.records import ResponseOwnerKind, ResponseRecord, ResponseStatus
from gateway_core.store.responses import ResponseChainError
from gateway_core.types import Message, MessageToolCall

if TYPE_CHECKING:
    from gateway_core.pipeline import CallPlan
    from gateway_core.runtime import Runtime

__all__ = [
    "RecordWriter",
    "caller_wallet",
    "history",
    "loaded_items",
    "not_found",
    "readable",
    "record_body",
]

log = logging.getLogger("gateway")

#: Body fields that are this request's input: kept as input items, not in ``request_json``.
_INPUT_FIELDS = ("input", "attachments", "attachment")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def not_found(response_id: str) -> GatewayError:
    return GatewayError(404, "response_not_found", f"Response '{response_id}' not found")


# -- ownership (§6.2) ----------------------------------------------------------------------------


async def caller_wallet(request: Request, runtime: Runtime) -> str | None:
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


async def readable(request: Request, runtime: Runtime, response_id: str) -> ResponseRecord:
    """The live record ``response_id`` when the caller may read it, else 404 (§6.2-§6.3)."""
    wallet = await caller_wallet(request, runtime)
    store = runtime.store
    if store is None:
        raise not_found(response_id)
    with store_errors():
        record = await store.get_response(response_id, now_ms())
    if record is None or not _visible(record, wallet):
        raise not_found(response_id)
    return record


# -- history (§3.3) ------------------------------------------------------------------------------


def _stored_items(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [{"id": new_item_id("msg"), "message": m.model_dump(mode="json", exclude_none=True)} for m in messages]


def loaded_items(record: ResponseRecord) -> list[tuple[str, Message]]:
    """A record's input items as ``(item id, message)``, oldest first."""
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


async def history(runtime: Runtime, previous_id: str, wallet: str | None) -> list[Message]:
    """The conversation up to and including ``previous_id`` (§3.3), read in one snapshot."""
    store = runtime.store
    if store is None:
        raise not_found(previous_id)
    try:
        with store_errors():
            chain = await store.response_chain(previous_id, now_ms())
    except ResponseChainError as exc:
        if exc.reason == "cycle":
            raise GatewayError(
                400, "invalid_request", f"Response history cycle detected for '{exc.response_id}'"
            ) from exc
        if exc.reason == "too_deep":
            raise GatewayError(400, "invalid_request", f"Response history of '{previous_id}' is too deep") from exc
        raise not_found(previous_id) from exc
    if not _visible(chain[-1], wallet):
        raise not_found(previous_id)
    messages: list[Message] = []
    for record in chain:
        messages += [message for _, message in loaded_items(record)]
        turn = _assistant_turn(orjson.loads(record.output_json)) if record.output_json else None
        if turn is not None:
            messages.append(turn)
    return messages


# -- writing -------------------------------------------------------------------------------------


class RecordWriter:
    """The record of one POST, or nothing when ``store: false`` (or no store).

    Created ``in_progress`` (``queued`` for a background run) before the provider is called;
    every later write is conditional in the store, so a record cancelled meanwhile stays
    ``cancelled``. Writes after the answer is decided never fail the call: a store outage
    then loses the record, not the client's answer.
    """

    def __init__(self, store: Store | None, response_id: str) -> None:
        self.store = store
        self.response_id = response_id

    async def create(
        self,
        plan: CallPlan,
        body: Mapping[str, Any],
        request: ResponsesRequest,
        ttl: float,
        status: ResponseStatus = "in_progress",
    ) -> None:
        if self.store is None:
            return
        now = now_ms()
        owner_kind, owner_id = _owner(plan)
        echo = {key: value for key, value in body.items() if key not in _INPUT_FIELDS}
        echo["created_at"] = plan.created
        record = ResponseRecord(
            response_id=self.response_id,
            status=status,
            model=request.model,
            owner_kind=owner_kind,
            owner_id=owner_id,
            previous_response_id=request.previous_response_id,
            request_json=dumps(echo),
            input_items_json=dumps(_stored_items(request.input_items("text"))),
            created_at=now,
            updated_at=now,
            expires_at=now + int(ttl * 1000),
            background=bool(request.background),
        )
        with store_errors():
            await self.store.create_response(record)

    async def started(self) -> bool:
        """``queued`` → ``in_progress``; False when the record was cancelled (or is gone)."""
        return await self._update("in_progress")

    async def progress(self, output: Sequence[Mapping[str, Any]]) -> bool:
        """The output so far, while the record is open; False once it is not (cancelled)."""
        return await self._update(None, output_json=dumps(output))

    async def completed(
        self,
        output: Sequence[Mapping[str, Any]],
        usage: Mapping[str, Any] | None,
        incomplete: Mapping[str, Any] | None,
        receipt: Mapping[str, Any] | None,
        status: ResponseStatus = "completed",
    ) -> None:
        """The final output and usage; ``status`` ``cancelled`` records what a cancelled run delivered."""
        result = {"usage": usage, "incomplete_details": incomplete, "receipt": receipt}
        await self._update(status, output_json=dumps(output), usage_json=dumps(result))

    async def failed(self, error: GatewayError, output: Sequence[Mapping[str, Any]] | None = None) -> None:
        error_json = dumps({"code": error.code, "message": error.message})
        await self._update("failed", output_json=None if output is None else dumps(output), error_json=error_json)

    async def _update(self, status: ResponseStatus | None, **fields: str | None) -> bool:
        if self.store is None:
            return True
        try:
            return await self.store.update_response(self.response_id, status=status, now_ms=now_ms(), **fields)
        except Exception:
            log.exception("could not update response record %s", self.response_id)
            return True  # unknown: the run goes on rather than stopping on a store hiccup


def record_body(record: ResponseRecord) -> dict[str, Any]:
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
