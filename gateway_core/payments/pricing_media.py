"""Media billing quantities and unit prices (spec/payments.md §7.3, media.md §1.2).

Helpers on plain values, shared by metering and quoting in :mod:`.pricing`:

- :func:`media_quantity` reads a section's billing quantity from a call's metrics, exactly;
- :func:`media_price` picks the section entry that prices the call.

Quantities are kept as :class:`~fractions.Fraction` so derived ones (``minute`` = second/60)
stay exact until the single rounding of the line item; a rounded decimal copy is only for
display.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

__all__ = ["Quantity", "decimal_price", "media_price", "media_quantity"]

# (exact value, value shown on the line item)
Quantity = tuple[Fraction, int | Decimal]

# Metric names that carry a quantity key's value, in lookup order (media.md §1.2 gives
# ``generation`` = ``image`` = ``n``; ``duration`` is the provider's word for seconds).
_METRIC_NAMES: Mapping[str, tuple[str, ...]] = {
    "generation": ("generation", "image", "video"),
    "second": ("second", "duration"),
}

# Quantities that media.md §1.2 defines from another one; derived here from the source so a
# float rounding in the metrics (3.2 / 60) cannot add a wei.
_DERIVED: Mapping[str, tuple[str, int]] = {
    "minute": ("second", 60),
    "hour": ("second", 3600),
    "megapixel": ("pixel", 1_000_000),
}

# Entry names that price a quantity key besides the key itself (§7.3 step 3).
_ENTRY_ALIASES: Mapping[str, tuple[str, ...]] = {
    "generation": ("generation", "image", "video"),
    "image": ("image", "generation", "video"),
    "video": ("video", "generation", "image"),
    "second": ("second", "duration"),
}

# Request parameters whose value may name an entry (``1536x1024``, ``hd``, ``720p``), in order.
_PARAMETER_FIELDS = ("size", "quality", "resolution")
_FALLBACK_ENTRIES = ("output", "cost", "price")


def decimal_price(value: Any) -> Decimal | None:
    """A price or quantity as an exact decimal of its decimal text; ``None`` when it is not a
    finite number ≥ 0.

    ``Decimal(str(x))`` rather than ``Decimal(x)``: a catalog's ``0.025`` is meant as the
    decimal 0.025, not as the binary float nearest to it.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() and number >= 0 else None


def media_quantity(key: str, metrics: Mapping[str, Any]) -> Quantity | None:
    """The value of billing quantity ``key`` for a call; ``None`` when the metrics lack it.

    ``request`` is always 1 (§7.3 step 2).
    """
    if key == "request":
        return Fraction(1), 1
    derived = _DERIVED.get(key)
    if derived is not None:
        source, divisor = derived
        base = _metric(source, metrics)
        if base is not None:
            return _quantity(base / divisor)
    value = _metric(key, metrics)
    return None if value is None else _quantity(value)


def _metric(key: str, metrics: Mapping[str, Any]) -> Fraction | None:
    for name in _METRIC_NAMES.get(key, (key,)):
        number = decimal_price(metrics.get(name))
        if number is not None:
            return Fraction(number)
    return None


def _quantity(value: Fraction) -> Quantity:
    if value.denominator == 1:
        return value, int(value)
    # Shown, not billed: the default 28-digit context is plenty for a receipt.
    return value, Decimal(value.numerator) / Decimal(value.denominator)


def media_price(entries: Mapping[str, Decimal], key: str, metrics: Mapping[str, Any]) -> Decimal | None:
    """The entry that prices quantity ``key`` (§7.3 step 3), ``None`` when none matches.

    First match, names compared case-insensitively: the request's ``size``, ``quality``,
    ``resolution`` value; the key or an alias; ``per_<key or alias>``; ``output``; ``cost``;
    ``price``; the only entry when there is exactly one.
    """
    by_name: dict[str, Decimal] = {}
    for name, price in entries.items():
        by_name.setdefault(name.lower(), price)
    aliases = _ENTRY_ALIASES.get(key, (key,))
    candidates = [
        *(value.lower() for field in _PARAMETER_FIELDS if isinstance(value := metrics.get(field), str) and value),
        *aliases,
        *(f"per_{alias}" for alias in aliases),
        *_FALLBACK_ENTRIES,
    ]
    for name in candidates:
        if name in by_name:
            return by_name[name]
    if len(entries) == 1:
        return next(iter(entries.values()))
    return None
