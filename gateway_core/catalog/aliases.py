"""Public ids when several providers serve the same model id (spec/models.md §1.4).

Rows are grouped by ``modelId``. In a group with more than one provider, the provider that
comes first in the provider order keeps the bare id and every other provider's rows become
``"<provider>/<modelId>"`` (their ``upstreamModelId`` keeps the original id). The provider
order is ``GATEWAY_PROVIDER_PRIORITY`` first, then the remaining providers in registration
order, which for a catalog is the order in which rows first name them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["alias_ids", "find_collisions", "provider_order"]


def provider_order(providers: Iterable[str], priority: Sequence[str] = ()) -> list[str]:
    """Distinct providers of ``providers`` (in first-appearance order), those named in
    ``priority`` first in priority order. Priority names no row uses are left out."""
    seen = list(dict.fromkeys(providers))
    present = set(seen)
    first = [name for name in dict.fromkeys(priority) if name in present]
    return first + [name for name in seen if name not in first]


def alias_ids(rows: Sequence[tuple[str, str]], order: Sequence[str]) -> list[str]:
    """The public id of each ``(modelId, provider)`` in ``rows``, in the same order.

    :param order: providers, highest priority first; a provider missing from it ranks last.
    """
    rank = {name: i for i, name in enumerate(order)}
    winner: dict[str, str] = {}
    for model_id, provider in rows:
        current = winner.get(model_id)
        if current is None or rank.get(provider, len(rank)) < rank.get(current, len(rank)):
            winner[model_id] = provider
    return [model_id if winner[model_id] == provider else f"{provider}/{model_id}" for model_id, provider in rows]


def find_collisions(ids: Sequence[str]) -> list[tuple[int, int]]:
    """Pairs ``(first, duplicate)`` of positions in ``ids`` holding the same id, one pair per
    duplicate, pointing at the first occurrence."""
    first: dict[str, int] = {}
    pairs: list[tuple[int, int]] = []
    for i, public_id in enumerate(ids):
        if public_id in first:
            pairs.append((first[public_id], i))
        else:
            first[public_id] = i
    return pairs
