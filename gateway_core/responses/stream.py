"""Canonical stream events → official Responses SSE events (spec/responses.md §4.1-§4.3).

One :class:`ResponsesEventEncoder` per stream. It keeps **one open output item** at a time
(§4.2): an event for a different item closes the open one (its ``done`` events) before the
next is opened, so clients never see two items growing at once. Every official frame carries
the next ``sequence_number``; the Compose frames (``compose.receipt``, ``compose.error``) and
``[DONE]`` carry none.

Item shapes come from :mod:`gateway_core.responses.objects`, the same builders as the
non-stream body, so ``response.completed`` equals what the non-stream route would return for
the same events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway_core.chat.chunks import error_frame
from gateway_core.chat.completion import tool_call_id
from gateway_core.errors import GatewayError
from gateway_core.responses.objects import (
    IdFactory,
    function_call_item,
    incomplete_details,
    message_item,
    new_item_id,
    reasoning_item,
    response_body,
    usage_body,
)
from gateway_core.responses.request import ResponsesRequest
from gateway_core.streaming import DONE_FRAME, sse_event
from gateway_core.types import (
    Done,
    ReasoningDelta,
    ResponseFormat,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEvent,
    Usage,
)

__all__ = ["ResponsesEventEncoder"]


@dataclass(slots=True)
class _Item:
    """The open output item: what has been streamed into it so far."""

    kind: str  # "message" | "reasoning" | "function_call"
    output_index: int
    item_id: str
    parts: list[str] = field(default_factory=list)
    call_index: int | None = None
    call_id: str = ""
    name: str = ""
    metadata: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def shape(self, status: str) -> dict[str, Any]:
        if self.kind == "message":
            return message_item(self.item_id, self.text, status)
        return self._other_shape(status)

    def snapshot(self) -> dict[str, Any]:
        """The item ``in_progress`` with its text so far (the stream's ``added`` shape has none)."""
        if self.kind == "message":
            return {**message_item(self.item_id, self.text, "completed"), "status": "in_progress"}
        return self._other_shape("in_progress")

    def _other_shape(self, status: str) -> dict[str, Any]:
        if self.kind == "reasoning":
            return reasoning_item(self.item_id, self.text, status)
        return function_call_item(self.item_id, self.call_id, self.name, self.text, status, self.metadata)


@dataclass(slots=True)
class _PendingCall:
    """Fragments of a tool call whose name has not arrived yet (§4.2: buffered until it does)."""

    id: str | None = None
    name: str | None = None
    parts: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None


class ResponsesEventEncoder:
    """SSE frames for one ``/v1/responses`` stream.

    Call :meth:`start` once, :meth:`encode` per canonical event, then either :meth:`finish`
    (followed, after settlement, by :meth:`tail` or :meth:`settlement_failed`) or :meth:`fail`.
    Each returns complete frames, ready to send in order.

    :param new_id: item id factory (``msg``/``rs``/``fc`` prefixes); injectable for tests.
    :param response_format: the format actually applied, echoed in ``text.format``.
    """

    def __init__(
        self,
        request: ResponsesRequest,
        *,
        response_id: str,
        created_at: int,
        model: str,
        new_id: IdFactory = new_item_id,
        response_format: ResponseFormat | None = None,
    ) -> None:
        self._request = request
        self._response_id = response_id
        self._created_at = created_at
        self._model = model
        self._response_format = response_format
        self._new_id = new_id
        self._sequence = 0
        #: Output items by ``output_index``; the open item's entry is its in-progress shape.
        self._items: list[dict[str, Any]] = []
        self._open: _Item | None = None
        self._closed_calls: dict[int, int] = {}  # tool index -> output_index
        self._pending: dict[int, _PendingCall] = {}
        self._finish_reason: str | None = None

    @property
    def output(self) -> list[dict[str, Any]]:
        """The output items so far (the open one ``in_progress``, with its text so far), e.g.
        for the record."""
        items = [dict(item) for item in self._items]
        if self._open is not None:
            items[self._open.output_index] = self._open.snapshot()
        return items

    def _frame(self, event_type: str, fields: Mapping[str, Any]) -> bytes:
        data = {"type": event_type, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return sse_event(event_type, data)

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_body(
            self._request,
            response_id=self._response_id,
            created_at=self._created_at,
            model=self._model,
            status=status,
            response_format=self._response_format,
            **extra,
        )

    def start(self) -> list[bytes]:
        """``response.created`` then ``response.in_progress`` (empty output, no usage)."""
        response = self._response("in_progress")
        return [
            self._frame("response.created", {"response": response}),
            self._frame("response.in_progress", {"response": response}),
        ]

    def encode(self, event: StreamEvent) -> list[bytes]:
        """Frames for one canonical event; image events are not part of text streams."""
        kind = type(event)
        if kind is TextDelta or kind is ReasoningDelta:
            text = event.text  # type: ignore[union-attr]
            return self._text(text, "message" if kind is TextDelta else "reasoning") if text else []
        if kind is ToolCallDelta:
            return self._call_delta(event)  # type: ignore[arg-type]
        if kind is ToolCallEvent:
            return self._call_event(event)  # type: ignore[arg-type]
        if kind is Done:
            # The terminal frame needs the completed usage, which the route computes: finish().
            self._finish_reason = event.finish_reason  # type: ignore[union-attr]
        return []

    def _text(self, text: str, kind: str) -> list[bytes]:
        frames: list[bytes] = []
        item = self._open
        if item is None or item.kind != kind:
            frames += self._close()
            item = self._open_item(kind)
            frames.append(self._added(item))
            if kind == "message":
                part = {"type": "output_text", "text": "", "annotations": []}
                frames.append(self._frame("response.content_part.added", {**self._where(item), "part": part}))
        item.parts.append(text)
        if kind == "message":
            fields = {**self._where(item), "delta": text, "logprobs": []}
            frames.append(self._frame("response.output_text.delta", fields))
        else:
            frames.append(self._frame("response.reasoning_text.delta", {**self._where(item), "delta": text}))
        return frames

    def _call_delta(self, event: ToolCallDelta) -> list[bytes]:
        item = self._open
        if item is not None and item.call_index == event.index:
            if event.provider_metadata:
                item.metadata = event.provider_metadata
            if not event.arguments:
                return []
            item.parts.append(event.arguments)
            fields = {"item_id": item.item_id, "output_index": item.output_index, "delta": event.arguments}
            return [self._frame("response.function_call_arguments.delta", fields)]
        if event.index in self._closed_calls:
            self._late_fragment(event)
            return []
        pending = self._pending.setdefault(event.index, _PendingCall())
        pending.id = event.id or pending.id
        pending.name = event.name or pending.name
        if event.arguments:
            pending.parts.append(event.arguments)
        if event.provider_metadata:
            pending.metadata = event.provider_metadata
        if pending.name is None:
            return []
        del self._pending[event.index]
        return self._open_call(event.index, pending)

    def _late_fragment(self, event: ToolCallDelta) -> None:
        # A fragment for a call already closed (providers interleaving parallel calls): it
        # cannot be streamed after that item's done events, but the final output keeps it so
        # response.completed, the record and billing see the whole call, as the accumulator does.
        item = self._items[self._closed_calls[event.index]]
        if event.arguments:
            item["arguments"] += event.arguments
        if event.provider_metadata:
            item["providerMetadata"] = dict(event.provider_metadata)

    def _call_event(self, event: ToolCallEvent) -> list[bytes]:
        self._pending.pop(event.index, None)
        pending = _PendingCall(event.id, event.name, [event.arguments], event.provider_metadata)
        return self._open_call(event.index, pending) + self._close()

    def _open_call(self, index: int, pending: _PendingCall) -> list[bytes]:
        frames = self._close()
        item = self._open_item("function_call")
        item.call_index = index
        item.call_id = tool_call_id(pending.id)
        item.name = pending.name or ""
        item.metadata = pending.metadata
        frames.append(self._added(item))
        buffered = "".join(pending.parts)
        if buffered:
            # Arguments that arrived before the name go out as one delta (§4.2).
            item.parts.append(buffered)
            fields = {"item_id": item.item_id, "output_index": item.output_index, "delta": buffered}
            frames.append(self._frame("response.function_call_arguments.delta", fields))
        return frames

    def _open_item(self, kind: str) -> _Item:
        prefix = {"message": "msg", "reasoning": "rs", "function_call": "fc"}[kind]
        item = _Item(kind=kind, output_index=len(self._items), item_id=self._new_id(prefix))
        self._items.append(item.shape("in_progress"))
        self._open = item
        return item

    def _added(self, item: _Item) -> bytes:
        shaped = item.shape("in_progress")
        if item.kind == "reasoning":
            shaped["content"] = [{"type": "reasoning_text", "text": ""}]
        elif item.kind == "function_call":
            shaped["arguments"] = ""
        return self._frame("response.output_item.added", {"output_index": item.output_index, "item": shaped})

    @staticmethod
    def _where(item: _Item) -> dict[str, Any]:
        return {"item_id": item.item_id, "output_index": item.output_index, "content_index": 0}

    def _close(self) -> list[bytes]:
        item = self._open
        if item is None:
            return []
        self._open = None
        text = item.text
        frames: list[bytes] = []
        if item.kind == "message":
            frames.append(self._frame("response.output_text.done", {**self._where(item), "text": text, "logprobs": []}))
            part = {"type": "output_text", "text": text, "annotations": []}
            frames.append(self._frame("response.content_part.done", {**self._where(item), "part": part}))
        elif item.kind == "reasoning":
            frames.append(self._frame("response.reasoning_text.done", {**self._where(item), "text": text}))
        else:
            assert item.call_index is not None
            self._closed_calls[item.call_index] = item.output_index
            fields = {"item_id": item.item_id, "output_index": item.output_index, "name": item.name, "arguments": text}
            frames.append(self._frame("response.function_call_arguments.done", fields))
        done = item.shape("completed")
        self._items[item.output_index] = done
        frames.append(self._frame("response.output_item.done", {"output_index": item.output_index, "item": done}))
        return frames

    def _close_all(self) -> list[bytes]:
        frames = self._close()
        # Calls whose name never came still become items (name ""), as the accumulator keeps them.
        for index in sorted(self._pending):
            frames += self._open_call(index, self._pending.pop(index)) + self._close()
        return frames

    def finish(self, usage: Usage, usage_source: str, finish_reason: str | None = None) -> list[bytes]:
        """Close the open item, then ``response.completed`` with every item and the usage.

        A length or content-filter finish is still ``completed``, with ``incomplete_details``
        (§2, gateway choice: ``responses.stream()`` keeps working). No receipt: settlement
        happens after this frame (:meth:`tail`).

        :param finish_reason: overrides the one of the upstream :class:`Done` event.
        """
        frames = self._close_all()
        response = self.completed_response(usage, usage_source, finish_reason)
        frames.append(self._frame("response.completed", {"response": response}))
        return frames

    def completed_response(self, usage: Usage, usage_source: str, finish_reason: str | None = None) -> dict[str, Any]:
        """The Response object of ``response.completed``, for the record; call after :meth:`finish`."""
        reason = finish_reason if finish_reason is not None else self._finish_reason
        return self._response(
            "completed",
            output=self._items,
            usage=usage_body(usage, usage_source),
            incomplete=incomplete_details(reason),
        )

    def tail(self, receipt_frame: Mapping[str, Any] | None = None) -> list[bytes]:
        """After settlement: ``compose.receipt`` (when there is one), then ``[DONE]`` (§4.3)."""
        frames = [sse_event("compose.receipt", dict(receipt_frame))] if receipt_frame is not None else []
        return [*frames, DONE_FRAME]

    def settlement_failed(self, error: GatewayError) -> list[bytes]:
        """After ``response.completed`` when settlement failed: ``compose.error``, ``[DONE]``."""
        return [error_frame(error.code, error.message, error.type), DONE_FRAME]

    def fail(self, error: GatewayError) -> list[bytes]:
        """Provider error or idle timeout mid-stream: ``response.failed``, ``compose.error``, ``[DONE]``.

        The open item is not closed with done events (it did not complete); it appears in the
        failed response's output with status ``incomplete``.
        """
        item = self._open
        if item is not None:
            self._items[item.output_index] = item.shape("incomplete")
            self._open = None
        response = self._response("failed", output=self._items, error={"code": error.code, "message": error.message})
        return [
            self._frame("response.failed", {"response": response}),
            error_frame(error.code, error.message, error.type),
            DONE_FRAME,
        ]
