"""A small cache for values that models ask for thousands of times (gains, stds, plans)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

_Value = TypeVar("_Value")

MAX_ENTRIES = 4096


def remembered(cache: dict[Hashable, _Value], key: Hashable, keep: bool,
               compute: Callable[..., _Value], *args: object) -> _Value:
    """compute(*args), looked up in cache under key first, and kept there if keep (up to
    MAX_ENTRIES entries). A key that cannot be hashed (a list among the arguments) is simply
    computed, so compute reports any error."""
    try:
        return cache[key]
    except KeyError:
        hashable = True
    except TypeError:
        hashable = False
    value = compute(*args)
    if keep and hashable and len(cache) < MAX_ENTRIES:
        cache[key] = value
    return value
