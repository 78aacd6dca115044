"""The plugin contract: every hook a provider plugin (or a cross-cutting plugin) can implement.

A provider plugin is a module or object with ``@hookimpl``-decorated **plain** functions named
after the specs below, published in the ``gateway.providers`` entry-point group::

    # pyproject.toml of a third-party plugin
    [project.entry-points."gateway.providers"]
    acme = "gateway_acme.plugin"

Ground rules the core enforces:

* **No I/O in plugins.** A plugin describes upstream requests
  (:class:`~gateway_core.types.UpstreamRequest`) and translates answers; the core owns the
  pooled HTTP client, timeouts, retries, cancellation, money and storage.
* **Plain ``def`` only.** Registering an ``async def`` impl is rejected with a clear error.
  An impl may *return* an awaitable, which the core awaits (rarely needed).
* **Per-provider calls.** The core calls a provider plugin's translation hooks only for the
  providers that plugin registered (``PluginManager.subset_hook_caller``), so an impl never
  asks "is this call mine?". A plugin that registers no provider is *cross-cutting*: its impls
  (typically ``wrapper=True``) run around every provider's.
* **First result wins** where a spec says ``firstresult``: the provider's impl answers; a
  cross-cutting impl returning ``None`` lets it. ``gateway_map_error`` additionally has a
  built-in ``trylast`` fallback, so returning ``None`` there is always safe.

Every hook receives a :class:`~gateway_core.types.ProviderContext` (``provider``) that names
the provider instance and carries its validated settings, so one plugin can serve several
instances (for example several OpenAI-compatible servers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

from gateway_core.errors import ProviderError
from gateway_core.types import (
    JobRef,
    JobStatus,
    Output,
    ProviderCall,
    ProviderContext,
    ProviderSpec,
    StreamDecoder,
    UpstreamRequest,
    UpstreamResponse,
)

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: The pluggy project name; markers and the plugin manager use it.
PROJECT_NAME = "gateway"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorate plugin functions with this: ``@hookimpl def gateway_build_request(...)``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------------------------
# Registration and model listing
# --------------------------------------------------------------------------------------------


@hookspec
def gateway_providers(config: Mapping[str, Any]) -> Sequence[ProviderSpec]:  # type: ignore[empty-body]
    """Register the provider instances this plugin serves.

    Called once per plugin at start-up (all results are collected, no ``firstresult``). The
    core then builds each instance's settings from the environment and config file (see
    :class:`~gateway_core.types.ProviderSettings`) and routes every later hook call for that
    instance to this plugin only.

    :param config: the gateway's raw configuration (environment variables and config-file
        keys, uppercased, ``GATEWAY_`` prefix kept). Use it only to decide *which instances*
        exist (for example extra OpenAI-compatible upstreams); settings of an instance are
        resolved by the core from ``settings_model``.
    :returns: one :class:`~gateway_core.types.ProviderSpec` per instance; an empty sequence
        makes the plugin cross-cutting.

    Example::

        @hookimpl
        def gateway_providers(config):
            return [ProviderSpec(
                name="acme",
                settings_model=AcmeSettings,
                env_fallbacks={"api_key": "ACME_API_KEY", "base_url": "ACME_BASE_URL"},
                operations={"chat": OperationSupport(
                    streaming=True,
                    params=frozenset({"tools", "tool_choice", "temperature"}),
                    passthrough=frozenset({"top_p", "seed"}),
                )},
            )]
    """


@hookspec
def gateway_list_models(provider: ProviderContext) -> Sequence[Mapping[str, Any]] | None:
    """List the models a provider instance offers, as catalog rows.

    Rows use the catalog's camelCase fields (spec/models.md §1.2); ``provider`` is filled in by
    the core. They merge with the rows of ``catalog.yaml``: a file row with the same
    ``(provider, modelId)`` is laid over the plugin's row, so operators can fix prices or
    limits without touching the plugin. Must be static (no I/O): derive it from settings.

    :param provider: the instance being listed.
    :returns: rows, or ``None`` when the plugin lists nothing (the catalog file alone counts).

    Example::

        @hookimpl
        def gateway_list_models(provider):
            return [{"modelId": "acme-1", "type": "chat", "input": ["text"], "output": ["text"],
                     "contextWindow": 128000, "maxOutputTokens": 8192}]
    """


@hookspec(firstresult=True)
def gateway_param_catalog(provider: ProviderContext, row: Mapping[str, Any], modality: str) -> Mapping[str, Any] | None:
    """Override the generation-parameter ladder of ``GET /v1/models/{model}/params``.

    Stops at the first non-``None`` result. The default ladders of spec/models.md §3.5 apply
    when every impl returns ``None``.

    :param provider: the row's provider instance.
    :param row: the catalog row (camelCase).
    :param modality: the modality the ladder is for (``image``, ``video``, ``audio``, …).
    :returns: ``{param: {"type", "required", "default"?, "options"?, …}}`` or ``None``.

    Example::

        @hookimpl
        def gateway_param_catalog(provider, row, modality):
            if modality == "image":
                return {"size": {"type": "string", "required": False, "options": ["1024x1024"]}}
            return None
    """


# --------------------------------------------------------------------------------------------
# Request / response translation
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gateway_build_request(call: ProviderCall, provider: ProviderContext) -> UpstreamRequest:  # type: ignore[empty-body]
    """Translate a normalized call into one upstream HTTP request description.

    Used for every operation (``call.operation``: ``chat``, ``responses``, ``embeddings``,
    ``image-generation``, ``image-edit``, ``speech``, ``transcription``,
    ``video-generation``). Stops at the first non-``None`` result. Set ``stream=True`` on the
    request when ``call.stream`` is true and the upstream should stream, and pick the
    ``stream_format`` the upstream speaks. Credentials come from ``provider.settings``; never
    put them anywhere but headers.

    Raise :class:`~gateway_core.errors.ProviderError` with status 400 for input the provider
    cannot take (for example ``"audio inputs are not supported by this model"``).

    :param call: the normalized call (read-only).
    :param provider: the instance and its settings.
    :returns: the request; a relative ``url`` is joined to ``provider.settings.base_url``.
        ``None`` from every impl means the provider cannot do ``call.operation``: the client
        gets 400 ``invalid_operation``.

    Example::

        @hookimpl
        def gateway_build_request(call, provider):
            body = {"model": call.upstream_model, "max_tokens": call.max_output_tokens,
                    "messages": [to_acme(m) for m in call.messages], "stream": call.stream}
            key = provider.settings.api_key.get_secret_value()
            return UpstreamRequest("POST", "/v1/chat", json=body, stream=call.stream,
                                   headers={"authorization": f"Bearer {key}"})
    """


@hookspec(firstresult=True)
def gateway_parse_response(  # type: ignore[empty-body]
    call: ProviderCall, provider: ProviderContext, response: UpstreamResponse
) -> Output:
    """Translate a successful (2xx) non-stream upstream answer into the canonical output.

    Stops at the first non-``None`` result. Leave ``usage`` as ``None`` when the upstream
    reports none: the core estimates it and flags the receipt. Raise
    :class:`~gateway_core.errors.ProviderError` when a 2xx body is really an error.

    :param call: the call that was sent.
    :param provider: the instance.
    :param response: status, headers and body bytes (``response.json()`` parses them).
    :returns: the :class:`~gateway_core.types.Output`.

    Example::

        @hookimpl
        def gateway_parse_response(call, provider, response):
            data = response.json()
            return Output(content=data["text"], finish_reason=data["stop"],
                          usage=Usage(prompt_tokens=data["in"], completion_tokens=data["out"]))
    """


@hookspec(firstresult=True)
def gateway_stream_decoder(  # type: ignore[empty-body]
    call: ProviderCall, provider: ProviderContext, headers: Mapping[str, str]
) -> StreamDecoder:
    """Create the decoder for one upstream stream.

    Called once per streamed call after the upstream answered 2xx; the core then feeds the
    decoder every frame (split by the request's ``stream_format``) and forwards the canonical
    events it yields at once, so translation is per frame and nothing is buffered. Stops at
    the first non-``None`` result.

    The decoder (see :class:`~gateway_core.types.StreamDecoder`) keeps per-stream state:
    a stable ``index`` per tool call across its argument fragments, usage seen so far, the
    finish reason. Its ``close()`` must end with exactly one
    :class:`~gateway_core.types.Done`. Raise :class:`~gateway_core.errors.ProviderError` on an
    in-band error event.

    :param call: the streamed call.
    :param provider: the instance.
    :param headers: the upstream response headers (lowercase names).
    :returns: a new decoder.

    Example::

        class AcmeDecoder:
            def __init__(self):
                self.done = None
            def feed(self, frame):
                if frame.data == "[DONE]":
                    return ()
                event = frame.json()
                if event["type"] == "text":
                    return (TextDelta(event["text"]),)
                self.done = Done(event["stop"], Usage(prompt_tokens=event["in"], completion_tokens=event["out"]))
                return ()
            def close(self):
                return (self.done or Done(),)

        @hookimpl
        def gateway_stream_decoder(call, provider, headers):
            return AcmeDecoder()
    """


# --------------------------------------------------------------------------------------------
# Asynchronous provider jobs (video)
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gateway_build_job_request(job: JobRef, action: str, provider: ProviderContext) -> UpstreamRequest | None:
    """Describe the upstream request that polls (``action="poll"``) or cancels
    (``action="cancel"``) an asynchronous job started by a ``video-generation`` call.

    Stops at the first non-``None`` result; ``None`` for ``cancel`` means the provider cannot
    cancel (the gateway then only stops polling).

    :param job: the job as recorded when it was submitted (``provider_job_id`` came from the
        submit answer's ``media[0].job_ref``).
    :param action: ``poll`` or ``cancel``.
    :param provider: the instance.
    :returns: the request, or ``None``.

    Example::

        @hookimpl
        def gateway_build_job_request(job, action, provider):
            if action == "poll":
                return UpstreamRequest("GET", f"/v1/videos/{job.provider_job_id}")
            return UpstreamRequest("POST", f"/v1/videos/{job.provider_job_id}/cancel")
    """


@hookspec(firstresult=True)
def gateway_parse_job_status(  # type: ignore[empty-body]
    job: JobRef, provider: ProviderContext, response: UpstreamResponse
) -> JobStatus:
    """Translate a poll answer into a :class:`~gateway_core.types.JobStatus`.

    Stops at the first non-``None`` result.

    :param job: the job that was polled.
    :param provider: the instance.
    :param response: the 2xx poll answer.
    :returns: the job's state.

    Example::

        @hookimpl
        def gateway_parse_job_status(job, provider, response):
            data = response.json()
            return JobStatus(status=data["state"], progress=data.get("pct"), url=data.get("url"))
    """


# --------------------------------------------------------------------------------------------
# Error mapping
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gateway_map_error(
    call: ProviderCall | None,
    provider: ProviderContext,
    status: int | None,
    body: bytes,
    headers: Mapping[str, str],
    exception: BaseException | None,
) -> ProviderError | None:
    """Translate an upstream failure into a :class:`~gateway_core.errors.ProviderError`.

    Called for a non-2xx answer (``status`` and ``body`` set) and for a transport failure
    (``status`` is ``None``, ``exception`` is an ``httpx`` exception: ``ConnectError`` (refused,
    DNS, TLS), ``ConnectTimeout``, ``ReadTimeout``, ``RemoteProtocolError`` (closed or garbled
    mid-answer), ``ReadError``/``WriteError``/``NetworkError`` (reset), ``UnsupportedProtocol``
    (a bad URL). The core's network client is aiohttp; its failures are handed over as these
    httpx classes, so a mapping written against httpx's hierarchy keeps working).

    Stops at the first non-``None`` result; the built-in fallback (``trylast``) maps any status
    with a message taken from common error-body shapes, so an impl only handles what its
    provider does specially (a ``content_filter`` code, a ``context_length_exceeded``, an
    overload status that should be retried). The core then maps the result to the client's
    error with spec/models.md §2.3.

    :param call: the call that failed (``None`` for job polling).
    :param provider: the instance.
    :param status: the upstream status, or ``None``.
    :param body: the upstream error body (possibly empty).
    :param headers: upstream response headers (lowercase names), empty without a response.
    :param exception: the transport exception, when there is no response.
    :returns: the error, or ``None`` to defer to the next impl.

    Example::

        @hookimpl
        def gateway_map_error(call, provider, status, body, headers, exception):
            if status == 529:  # Acme's "overloaded"
                return ProviderError(503, "Acme is overloaded", retryable=True)
            return None
    """
