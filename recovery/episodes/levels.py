"""Spinal motion segments ("levels") such as ``L4-L5`` or ``C5-C6``, and which ones a region allows."""

from __future__ import annotations

from itertools import pairwise
from typing import Final

_VERTEBRAE: Final[list[str]] = (
    [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)] + ["S1"]
)

#: Every motion segment between two adjacent vertebrae, head to tail.
ALL_LEVELS: Final[tuple[str, ...]] = tuple(f"{a}-{b}" for a, b in pairwise(_VERTEBRAE))

REGION_LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "cervical": tuple(level for level in ALL_LEVELS if level.startswith("C")),  # C1-C2 … C7-T1
    "lumbar": ("T12-L1", *(level for level in ALL_LEVELS if level.startswith(("L", "S")))),  # T12-L1 … L5-S1
}


def validate_levels(levels: object, region: str) -> list[str]:
    """Return the problems with ``levels`` for a procedure in ``region``; empty when valid."""
    if not isinstance(levels, list) or not levels:
        return ["Give at least one spinal level, for example ['L4-L5']."]
    problems: list[str] = []
    allowed = REGION_LEVELS.get(region, ALL_LEVELS)
    seen: set[str] = set()
    for level in levels:
        if not isinstance(level, str):
            problems.append("Each level must be a string such as 'L4-L5'.")
            continue
        if level not in ALL_LEVELS:
            problems.append(f"'{level}' is not a spinal level between two adjacent vertebrae (e.g. 'L4-L5').")
        elif level not in allowed:
            problems.append(f"'{level}' is not a {region} level.")
        if level in seen:
            problems.append(f"'{level}' is listed twice.")
        seen.add(level)
    return problems


def sort_levels(levels: list[str]) -> list[str]:
    return sorted(levels, key=ALL_LEVELS.index)
