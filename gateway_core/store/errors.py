"""Exceptions the store raises.

Hierarchy::

    Exception
    └── StoreError
        ├── StoreUnavailable     the database cannot be reached or answered with an
        │                        operational error; routes answer 503 ``store_unavailable``
        ├── DuplicateRecord      an insert hit an existing primary key (key id, receipt id)
        └── NotFound (also LookupError)
            ├── UnknownKey       hold on a key id that does not exist
            └── UnknownHold      settle of a hold id that does not exist

Everything else (a programming error, a constraint the store's own conditions should have
prevented) propagates unchanged, so it surfaces as a 500 rather than hiding behind a 503.
"""

from __future__ import annotations

__all__ = ["DuplicateRecord", "NotFound", "StoreError", "StoreUnavailable", "UnknownHold", "UnknownKey"]


class StoreError(Exception):
    """Base class of store errors."""


class StoreUnavailable(StoreError):
    """The store could not run the operation (connection refused or lost, database locked
    past the busy timeout, pool exhausted). The original error is the ``__cause__``."""


class DuplicateRecord(StoreError):
    """A record with the same identifier already exists."""


class NotFound(StoreError, LookupError):
    """A record the operation needs does not exist."""


class UnknownKey(NotFound):
    """No Compose Key with this id."""


class UnknownHold(NotFound):
    """No key hold with this id."""
