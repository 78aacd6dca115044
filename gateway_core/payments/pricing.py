"""Metering and max-cost estimates (spec/payments.md §5, §7).

Pure functions of a catalog row (camelCase, normalized ``pricing``), usage and metrics:

- :func:`meter` turns a finished call into line items and totals (§7);
- :func:`max_cost` is the worst-case amount M held or quoted before the call (§5.1, §5.3);
- :func:`largest_output_cap` lowers the output cap to what a budget covers (§5.2);
- :func:`is_quotable` tells whether M can be known before the call (§5.3).

Money is integer atomic USDC (10⁶ per USD). Prices are read as the decimals of their text and
every product is exact; the only roundings are the ceilings of each line item and of the fee.

``metrics`` is the call's media metrics (media.md §1.2): ``None`` for token-priced calls (chat,
responses, embeddings), the request metrics before a media call, the final ones after it.

Gateway choices where the spec leaves room:

- *Usable pricing*: at least one section with a billable entry (``cache_write`` is display
  only). Otherwise :class:`PricingError`. A priced row that yields no item is not an error: the
  call is charged 0 (the caller logs ``pricing_mismatch``, §7.1).
- *Cost-only section*: has ``cost`` and none of ``input``, ``cached_input``, ``output``,
  ``reasoning``.
- *Category metrics*: ``input_<cat>_tokens`` includes ``cached_input_<cat>_tokens`` (like
  ``prompt_tokens`` includes cached tokens); ``reasoning_<cat>_tokens`` is read too. A category
  with several sections (tiers) picks one by §7.2 step 2 with the call's ``prompt_tokens``
  (else the sum of the billed categories' inputs). Item keys get the ``<cat>_`` prefix only when
  billed from category metrics; a category section billing generic usage uses the plain keys.
- *Token counts* must be integral; other values in ``billing_metrics`` are ignored.
- *Media sections* (§7.3 step 1): the ``default: true`` sections whose quantity is known; when
  none of those is known, the first section whose quantity is known. A zero quantity gives no
  item, as for tokens.
- *Media calls* on a row with token sections are unquotable: those sections bill on provider
  evidence only known after the call.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from gateway_core.catalog.errors import FieldError
from gateway_core.catalog.pricing import UnitKey, normalize_pricing, parse_unit_key
from gateway_core.payments.pricing_media import decimal_price, media_price, media_quantity
from gateway_core.types.output import Usage

__all__ = [
    "MEDIA_MODALITIES",
    "LineItem",
    "Metered",
    "PricingError",
    "is_quotable",
    "largest_output_cap",
    "max_cost",
    "meter",
]

# Calls whose media sections apply (§7.1). ``speech-to-text`` is an operation, not a modality
# (its modality is ``text``): the caller passes it as ``modality`` for transcriptions.
MEDIA_MODALITIES = frozenset({"image", "audio", "video", "speech-to-text"})

_TOKEN_ENTRIES = ("input", "cached_input", "output", "reasoning")
_HEADER_CATEGORY = re.compile(r"([a-z][a-z0-9]*) tokens")


class PricingError(Exception):
    """The row has no usable pricing; the caller answers 503 ``model_not_priced``."""


@dataclass(frozen=True)
class LineItem:
    """One priced quantity (§7.1). ``unit`` is the section's ``unitKey``; ``quantity`` is an
    ``int`` for counts and a ``Decimal`` for fractional media quantities (seconds, minutes)."""

    key: str
    unit: str
    quantity: int | Decimal
    unit_price_usd: Decimal
    amount_wei: int


@dataclass(frozen=True)
class Metered:
    """A metered call: ``final_amount`` = ``provider_amount`` + ``platform_fee`` (§7.4)."""

    subject: str
    items: tuple[LineItem, ...]
    provider_amount: int
    platform_fee: int
    final_amount: int


@dataclass(frozen=True, slots=True)
class _Section:
    unit_key: str
    unit: UnitKey
    entries: Mapping[str, Decimal]
    default: bool
    min_prompt: int | None
    max_prompt: int | None
    category: str | None

    @property
    def bounded(self) -> bool:
        return self.min_prompt is not None or self.max_prompt is not None

    @property
    def cost_only(self) -> bool:
        return "cost" in self.entries and not any(name in self.entries for name in _TOKEN_ENTRIES)


@dataclass(frozen=True, slots=True)
class _Pricing:
    subject: str
    tokens: tuple[_Section, ...]
    media: tuple[_Section, ...]


@dataclass(frozen=True, slots=True)
class _Counts:
    prompt: int
    completion: int
    cached: int = 0
    reasoning: int = 0


def meter(
    row: Mapping[str, Any],
    usage: Usage | None,
    *,
    metrics: Mapping[str, Any] | None = None,
    fee_bps: int,
    modality: str = "text",
) -> Metered:
    """Line items and totals of a finished call (§7.1 to §7.4).

    :param row: the catalog row (``provider``, ``modelId``, ``pricing``).
    :param usage: final token usage. Token sections bill whatever counts it has, so for media
        calls pass only provider-reported usage (§7.1), else ``None``.
    :param metrics: the call's final media metrics; ``usage.billing_metrics`` fills keys they lack.
    :param fee_bps: ``GATEWAY_PLATFORM_FEE_BPS``.
    :param modality: the call's modality; ``speech-to-text`` for transcriptions.
    :raises PricingError: the row has no usable pricing.
    """
    pricing = _parse(row)
    items = _token_items(pricing, usage)
    if modality in MEDIA_MODALITIES or not pricing.tokens:
        provider_metrics = usage.billing_metrics if usage is not None and usage.billing_metrics else {}
        items += _media_items(pricing, {**provider_metrics, **(metrics or {})})
    return _totals(pricing.subject, items, fee_bps)


def max_cost(
    row: Mapping[str, Any],
    input_tokens: int,
    output_cap: int,
    *,
    fee_bps: int,
    metrics: Mapping[str, Any] | None = None,
) -> int:
    """M, the most a call can cost (§5.1, §5.3).

    Token sections: the §7.2 section for ``prompt_tokens`` = ``input_tokens``; input at the
    ``input`` price (cached input ignored), the cap at max(``output``, ``reasoning``), a cost-only
    section at ``cost`` * (input + cap). Media sections are quoted from ``metrics`` when given,
    or from ``{}`` (``request`` = 1) on a row without token sections.

    :raises PricingError: the row has no usable pricing.
    """
    return _quote(_parse(row), input_tokens, output_cap, fee_bps, metrics)


def largest_output_cap(
    row: Mapping[str, Any],
    input_tokens: int,
    output_cap: int,
    budget: int,
    *,
    fee_bps: int,
) -> int | None:
    """The largest cap in [1, ``output_cap``] with ``max_cost(cap) ≤ budget`` (§5.2), or
    ``None`` when even a cap of 1 costs more than ``budget``.

    :raises PricingError: the row has no usable pricing.
    :raises ValueError: ``output_cap`` < 1.
    """
    if output_cap < 1:
        raise ValueError(f"output_cap must be >= 1, got {output_cap}")
    pricing = _parse(row)

    def fits(cap: int) -> bool:
        return _quote(pricing, input_tokens, cap, fee_bps, None) <= budget

    if fits(output_cap):
        return output_cap
    if not fits(1):
        return None
    # M never decreases with the cap, so bisect with fits(low) and not fits(high).
    low, high = 1, output_cap
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def is_quotable(row: Mapping[str, Any], metrics: Mapping[str, Any] | None) -> bool:
    """Whether M is known before the call (§5.3).

    With ``metrics`` ``None`` (a token-priced call) the token estimate always is. For a media
    call every section that would bill must have its quantity in the request metrics and a
    matching entry: the ``default: true`` sections, else the first media section. A row with
    token sections needs provider evidence on media calls, so it is unquotable.

    :raises PricingError: the row has no usable pricing.
    """
    pricing = _parse(row)
    if metrics is None:
        if pricing.tokens:
            return True
        metrics = {}
    elif pricing.tokens:
        return False
    needed = [section for section in pricing.media if section.default] or pricing.media[:1]
    return bool(needed) and all(
        media_quantity(section.unit.quantity, metrics) is not None
        and media_price(section.entries, section.unit.quantity, metrics) is not None
        for section in needed
    )


def _quote(
    pricing: _Pricing, input_tokens: int, output_cap: int, fee_bps: int, metrics: Mapping[str, Any] | None
) -> int:
    if input_tokens < 0 or output_cap < 0:
        raise ValueError(f"token counts must be >= 0, got input {input_tokens}, cap {output_cap}")
    # The sum of the line items :func:`meter` would make for these counts, without building
    # them: every paid call is quoted before it runs (and maybe again for a lowered cap).
    provider = 0
    if pricing.tokens:
        section = _choose(pricing.tokens, input_tokens)
        entries, scale = section.entries, section.unit.scale
        if section.cost_only:
            provider += _amount(input_tokens + output_cap, entries["cost"], scale)
        else:
            if "input" in entries:
                provider += _amount(input_tokens, entries["input"], scale)
            output_prices = [entries[name] for name in ("output", "reasoning") if name in entries]
            if output_prices:
                provider += _amount(output_cap, max(output_prices), scale)
    if metrics is not None or not pricing.tokens:
        provider += sum(item.amount_wei for item in _media_items(pricing, metrics or {}))
    return provider + _fee(provider, fee_bps)


# Parsed pricing by catalog row: a paid call prices its row two or three times (quote, cap,
# meter) and parsing is ~0.1 ms each. Keyed by the row object, checked by identity (the entry
# holds the row, so its id is not reused while cached): catalog rows are never changed in
# place, a reload builds new ones. Bounded by clearing: rows of replaced catalogs go with it.
_PARSED: dict[int, tuple[Mapping[str, Any], Any, _Pricing]] = {}
_PARSED_LIMIT = 4096


def _parse(row: Mapping[str, Any]) -> _Pricing:
    cached = _PARSED.get(id(row))
    if cached is not None and cached[0] is row and cached[1] is row.get("pricing"):
        return cached[2]
    parsed = _parse_row(row)
    if len(_PARSED) >= _PARSED_LIMIT:
        _PARSED.clear()
    _PARSED[id(row)] = (row, row.get("pricing"), parsed)
    return parsed


def _parse_row(row: Mapping[str, Any]) -> _Pricing:
    subject = f"{row.get('provider')}:{row.get('modelId')}"
    try:
        # Catalog rows are normalized already; normalizing again is idempotent and lets
        # hand-built rows (tests, plugin listings) use the accepted input shapes.
        normalized = normalize_pricing(row.get("pricing"))
    except FieldError as exc:
        raise PricingError(f"{subject} has invalid pricing: {exc}") from None
    if normalized is None:
        raise PricingError(f"{subject} has no pricing")
    raw = normalized["sections"]
    units = [parse_unit_key(section["unitKey"]) for section in raw]
    several = sum(unit.kind == "token" for unit in units) > 1
    tokens: list[_Section] = []
    media: list[_Section] = []
    for section, unit in zip(raw, units, strict=True):
        # A zero price bills nothing; it is dropped here as on load (a falsy Decimal).
        entries = {name: price for name, value in section["entries"].items() if (price := decimal_price(value))}
        parsed = _Section(
            unit_key=section["unitKey"],
            unit=unit,
            entries=entries,
            default=section.get("default") is True,
            min_prompt=section.get("minPromptTokens"),
            max_prompt=section.get("maxPromptTokens"),
            category=_category(unit, section.get("header"), several),
        )
        (tokens if unit.kind == "token" else media).append(parsed)
    billable = any(section.cost_only or section.entries.keys() & set(_TOKEN_ENTRIES) for section in tokens)
    if not billable and not any(section.entries for section in media):
        raise PricingError(f"{subject} has no billable price entry")
    return _Pricing(subject, tuple(tokens), tuple(media))


def _category(unit: UnitKey, header: str | None, several: bool) -> str | None:
    if unit.kind != "token":
        return None
    if unit.category is not None:
        return unit.category
    if several and header:
        match = _HEADER_CATEGORY.fullmatch(header.strip().lower())
        if match is not None:
            return match.group(1)
    return None


def _choose(sections: Sequence[_Section], prompt_tokens: int) -> _Section:
    """§7.2 step 2: the bounded section containing ``prompt_tokens``, else the default, else
    the first."""
    for section in sections:
        if (
            section.bounded
            and (section.min_prompt is None or section.min_prompt < prompt_tokens)
            and (section.max_prompt is None or prompt_tokens <= section.max_prompt)
        ):
            return section
    return next((section for section in sections if section.default), sections[0])


def _token_items(pricing: _Pricing, usage: Usage | None) -> list[LineItem]:
    if not pricing.tokens or usage is None:
        return []
    metrics = usage.billing_metrics or {}
    categories = dict.fromkeys(section.category for section in pricing.tokens if section.category)
    billed = [(cat, counts) for cat in categories if (counts := _category_counts(cat, metrics)) is not None]
    if billed:
        basis = usage.prompt_tokens if usage.prompt_tokens is not None else sum(c.prompt for _, c in billed)
        items: list[LineItem] = []
        for cat, counts in billed:
            section = _choose([s for s in pricing.tokens if s.category == cat], basis)
            items += _section_items(section, counts, f"{cat}_")
        return items
    if usage.prompt_tokens is None and usage.completion_tokens is None:
        return []
    counts = _Counts(
        prompt=max(0, usage.prompt_tokens or 0),
        completion=max(0, usage.completion_tokens or 0),
        cached=max(0, usage.cached_input_tokens or 0),
        reasoning=max(0, usage.reasoning_tokens or 0),
    )
    return _section_items(_choose(pricing.tokens, counts.prompt), counts, "")


def _category_counts(cat: str, metrics: Mapping[str, Any]) -> _Counts | None:
    values = {
        name: _token_count(metrics.get(f"{name}_{cat}_tokens"))
        for name in ("input", "output", "cached_input", "reasoning")
    }
    # §7.2 names these three as the ones that switch a category to its own metrics.
    if all(values[name] is None for name in ("input", "output", "cached_input")):
        return None
    return _Counts(
        prompt=values["input"] or 0,
        completion=values["output"] or 0,
        cached=values["cached_input"] or 0,
        reasoning=values["reasoning"] or 0,
    )


def _token_count(value: Any) -> int | None:
    number = decimal_price(value)
    if number is None or number != number.to_integral_value():
        return None
    return int(number)


def _section_items(section: _Section, counts: _Counts, prefix: str) -> list[LineItem]:
    entries = section.entries
    if section.cost_only:
        return _token_lines(section, [(f"{prefix}tokens", counts.prompt + counts.completion, entries["cost"])])
    cached = min(counts.cached, counts.prompt) if "cached_input" in entries else 0
    reasoning = min(counts.reasoning, counts.completion) if "reasoning" in entries else 0
    return _token_lines(
        section,
        [
            (f"{prefix}cached_input_tokens", cached, entries.get("cached_input")),
            (f"{prefix}input_tokens", counts.prompt - cached, entries.get("input")),
            (f"{prefix}output_tokens", counts.completion - reasoning, entries.get("output")),
            (f"{prefix}reasoning_tokens", reasoning, entries.get("reasoning")),
        ],
    )


def _token_lines(section: _Section, lines: Iterable[tuple[str, int, Decimal | None]]) -> list[LineItem]:
    """Items for ``(key, quantity, price)`` lines, skipping unpriced and zero quantities."""
    return [
        LineItem(key, section.unit_key, quantity, price, _amount(quantity, price, section.unit.scale))
        for key, quantity, price in lines
        if price is not None and quantity > 0
    ]


def _media_items(pricing: _Pricing, metrics: Mapping[str, Any]) -> list[LineItem]:
    known = [
        (section, quantity)
        for section in pricing.media
        if (quantity := media_quantity(section.unit.quantity, metrics)) is not None
    ]
    chosen = [(section, quantity) for section, quantity in known if section.default] or known[:1]
    items: list[LineItem] = []
    for section, (exact, shown) in chosen:
        key = section.unit.quantity
        price = media_price(section.entries, key, metrics)
        if price is not None and exact > 0:
            items.append(LineItem(key, section.unit_key, shown, price, _amount(exact, price, section.unit.scale)))
    return items


def _amount(quantity: Fraction | int, price: Decimal, scale: int) -> int:
    """ceil(quantity * price * 10⁶ / scale) atomic USDC, at least 1 when quantity > 0 (§7.4)."""
    if quantity <= 0:
        return 0
    if isinstance(quantity, int):
        # Token counts: the same exact arithmetic in integers (Fractions cost ~10 µs each).
        numerator, denominator = _ratio(price)
        return max(1, -(-(quantity * numerator * 1_000_000) // (denominator * scale)))
    return max(1, math.ceil(quantity * Fraction(price) * 1_000_000 / scale))


@functools.lru_cache(maxsize=1024)  # the prices of the catalog: a few hundred at most
def _ratio(price: Decimal) -> tuple[int, int]:
    return price.as_integer_ratio()


def _fee(provider: int, fee_bps: int) -> int:
    """The platform fee on ``provider`` atomic USDC, rounded up."""
    if fee_bps < 0:
        raise ValueError(f"fee_bps must be >= 0, got {fee_bps}")
    return -(-provider * fee_bps // 10_000)


def _totals(subject: str, items: Sequence[LineItem], fee_bps: int) -> Metered:
    provider = sum(item.amount_wei for item in items)
    fee = _fee(provider, fee_bps)
    return Metered(subject, tuple(items), provider, fee, provider + fee)
