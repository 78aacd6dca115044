"""Type checks for optional request fields, shared by the chat and Responses normalizers.

Each reader returns ``None`` for an absent or ``null`` field (spec/README.md § JSON rules) and
raises 400 ``invalid_request`` naming the field when its JSON type is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gateway_core.errors import GatewayError

__all__ = [
    "invalid_field",
    "optional_amount",
    "optional_bool",
    "optional_cap",
    "optional_number",
    "optional_object",
    "optional_string",
]


def invalid_field(param: str, message: str) -> GatewayError:
    return GatewayError(400, "invalid_request", message, param=param)


def optional_object(body: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_field(name, f"{name} must be an object")
    return value


def optional_string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_field(name, f"{name} must be a string")
    # An empty id or instruction carries nothing; treat it as absent rather than look it up.
    return value or None


def optional_bool(body: Mapping[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid_field(name, f"{name} must be a boolean")
    return value


def optional_cap(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    # bool is an int subclass, and 5.0 is not an integer on the wire: both are rejected.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid_field(name, f"{name} must be an integer >= 1")
    return value


def optional_number(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    # Python's json accepts NaN/Infinity, which no provider does.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid_field(name, f"{name} must be a number")
    return float(value)


def optional_amount(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    # isascii() too: str.isdigit() accepts digits such as '²' that int() rejects.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise invalid_field(name, f"{name} must be an integer or a string of decimal digits")
