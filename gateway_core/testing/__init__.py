"""Test support for the gateway and for plugin authors.

- :mod:`.server` — run a real gateway on a loopback port inside the test process;
- :mod:`.mock_upstream` — a real upstream provider process speaking provider wire formats;
- :mod:`.contract` — :class:`ProviderContractSuite`, the behaviour every provider must show;
- :mod:`.pytest_plugin` — fixtures (``mock_upstream``, ``gateway_server``), auto-loaded by pytest.

Nothing is imported eagerly: the mock upstream subprocess imports this package and must start
fast, without loading the web framework.
"""

from __future__ import annotations
