"""The server-side run of a ``background: true`` response.

The POST answers ``queued`` at once; this task then streams the call from the provider (so a
cancel can stop it mid-generation and bill only what was delivered), keeps the record's output
current every ``GATEWAY_BACKGROUND_HEARTBEAT`` seconds, and ends the record ``completed``,
``failed`` or ``cancelled``.

Cancellation reaches a run two ways. In the process that runs it, the cancel route stops the
task at once (:class:`~gateway_core.background.BackgroundRuns`). From any other replica, the
cancel only flips the record to ``cancelled`` in the shared store; the run's next heartbeat is
a conditional write that then matches no open record, and the run stops itself. So a cancel is
honoured within one heartbeat whichever replica receives it, with no extra reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway_core.background import BackgroundRuns
from gateway_core.errors import GatewayError
from gateway_core.payments import Receipt
from gateway_core.pipeline import CallPlan, Pipeline
from gateway_core.responses import ResponsesEventEncoder, usage_body
from gateway_core.routes.responses_records import RecordWriter
from gateway_core.stream_run import EventStream
from gateway_core.types import Done

__all__ = ["BackgroundRun"]

log = logging.getLogger("gateway")


class BackgroundRun:
    """One background response: build it, then :meth:`start` it on a :class:`BackgroundRuns`."""

    def __init__(
        self,
        pipeline: Pipeline,
        plan: CallPlan,
        record: RecordWriter,
        encoder: ResponsesEventEncoder,
        runs: BackgroundRuns,
        heartbeat: float,
    ) -> None:
        self.pipeline = pipeline
        self.plan = plan
        self.record = record
        self.encoder = encoder
        self.runs = runs
        self.heartbeat = heartbeat
        self.stream: EventStream | None = None

    @property
    def run_id(self) -> str:
        return self.plan.response_id

    def start(self) -> None:
        self.runs.start(self.run_id, self._run())

    async def _run(self) -> None:
        if not await self.record.started():
            # Cancelled while queued: no call was made, nothing is charged.
            await self.pipeline.release(self.plan)
            return
        beating = asyncio.create_task(self._beat(), name=f"gateway-heartbeat-{self.run_id}")
        try:
            await self._generate()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # the stop is handled here; later awaits must not re-raise it
            beating.cancel()
            await self._stopped()
        except GatewayError as exc:
            await self._failed(exc)
        except Exception:
            log.exception("background response %s failed unexpectedly", self.run_id)
            await self._failed(GatewayError(500, "internal_error", "Internal server error"))
        finally:
            beating.cancel()

    async def _generate(self) -> None:
        """Stream the call to its end, then settle what it used and complete the record."""
        self.stream = stream = await self.pipeline.open_stream(self.plan)  # released on failure
        encoder = self.encoder
        encoder.start()
        async for event in stream:
            encoder.encode(event)
            if type(event) is Done:
                break
        usage, source = stream.final_usage()
        encoder.finish(usage, source)
        completed = encoder.completed_response(usage, source)
        try:
            receipt = await stream.finish()
        except GatewayError as exc:
            await self.record.failed(GatewayError(exc.status, "settlement_failed", exc.message), completed["output"])
            return
        await self.record.completed(
            completed["output"], completed["usage"], completed["incomplete_details"], _receipt_body(receipt)
        )

    async def _beat(self) -> None:
        """Every heartbeat: write the output so far; a write that finds the record no longer
        open means it was cancelled (perhaps by another replica): stop the run."""
        while True:
            await asyncio.sleep(self.heartbeat)
            if not await self.record.progress(self.encoder.output):
                self.runs.cancel(self.run_id, "cancelled")
                return

    async def _stopped(self) -> None:
        """Cancelled: close the upstream, bill only what was delivered, keep it in the record.
        Interrupted by a shutdown: the run failed, so nothing is charged (as for any failed
        call); what it produced stays readable."""
        if self.runs.reason(self.run_id) != "cancelled":
            error = GatewayError(503, "server_shutdown", "The gateway stopped before the response completed")
            await self._failed(error)
            return
        stream = self.stream
        receipt: Receipt | None = None
        if stream is None:
            await self.pipeline.release(self.plan)  # stopped before the upstream answered
        else:
            # As a client that leaves a stream: delivered output billed, none released.
            with contextlib.suppress(GatewayError):  # a failed settlement leaves no receipt to keep
                receipt = await stream.disconnected()
        billed = stream.usage if stream is not None else None  # set only when something was settled
        usage = usage_body(billed, stream.usage_source) if billed is not None and stream is not None else None
        await self.record.completed(self.encoder.output, usage, None, _receipt_body(receipt), status="cancelled")

    async def _failed(self, error: GatewayError) -> None:
        if self.stream is not None:
            await self.stream.fail()
        await self.pipeline.release(self.plan)  # idempotent: for a failure before the stream opened
        await self.record.failed(error, self.encoder.output)


def _receipt_body(receipt: Receipt | None) -> dict[str, object] | None:
    return dict(receipt.body) if receipt is not None else None
