"""The built-in offline ``sandbox`` provider (spec/models.md §2.4).

Laid out like any third-party plugin: ``plugin.py`` holds the hook impls, ``wire.py`` the pure
translation to and from the sandbox wire format, and ``echo_server.py`` the in-process
"upstream" that answers that format offline. With ``GATEWAY_PROVIDER_SANDBOX_BASE_URL`` set,
the same translation talks to a real server instead (the contract suite's mock upstream).
"""
