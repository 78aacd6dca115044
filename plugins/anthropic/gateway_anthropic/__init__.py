"""The ``anthropic`` provider plugin: the Anthropic Messages API (``POST /v1/messages``).

Laid out like every provider plugin (top-level README, "Writing a provider plugin"):

- :mod:`.plugin` -- the hook impls, thin;
- :mod:`.settings` -- settings, environment variables, what the provider declares it supports;
- :mod:`.adapter` -- the request body and the non-stream answer;
- :mod:`.content` -- messages and content parts -> Anthropic turns and blocks;
- :mod:`.options` -- per-model differences: thinking, JSON output, tool choice, pass-through;
- :mod:`.stream` -- the stream decoder;
- :mod:`.errors` -- Anthropic error bodies and in-band error events -> ``ProviderError``.
"""

from __future__ import annotations
