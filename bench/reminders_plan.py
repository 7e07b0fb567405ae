"""The reminder benchmark's pure parts: how the schedules are laid out over episodes, medians and
ratios, the push endpoint's per-path counts, and the printed table. No Django, no database."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Schedules per episode: one walk (the due one, when the episode is among the due) and the rest
#: questionnaire schedules with distinct targets, due in the future. ``(episode, kind, target)`` is
#: unique, so the targets tell them apart.
SCHEDULES_PER_EPISODE = 10
PUSH_PATH_PREFIX = "/push/"


@dataclass(frozen=True)
class Layout:
    episodes: int
    #: Schedules each episode gets, in order (the last episode may have fewer).
    per_episode: tuple[int, ...]
    due: int

    @property
    def schedules(self) -> int:
        return sum(self.per_episode)


def layout(schedules: int, due: int, per_episode: int = SCHEDULES_PER_EPISODE) -> Layout:
    """``schedules`` schedules over as few episodes as ``per_episode`` allows, but at least ``due``
    episodes: each due schedule is its episode's walk, so due patients get one push each."""
    if schedules < 1 or due < 0:
        raise ValueError("schedules must be at least 1 and due at least 0")
    if due > schedules:
        raise ValueError(f"due ({due}) cannot exceed schedules ({schedules})")
    episodes = max(due, math.ceil(schedules / per_episode))
    base, extra = divmod(schedules, episodes)
    counts = tuple(base + (1 if n < extra else 0) for n in range(episodes))
    if max(counts) > per_episode and episodes > due:  # pragma: no cover - ceil above prevents it
        raise ValueError("layout overflow")
    return Layout(episodes=episodes, per_episode=counts, due=due)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.inf


@dataclass(frozen=True)
class PushCheck:
    received: int
    distinct: int
    duplicated_paths: int
    #: Requests to a path outside ``/push/<n>``.
    stray: int

    def ok(self, expected: int) -> bool:
        return self.received == expected and self.distinct == expected and not self.duplicated_paths


def check_pushes(paths: Iterable[str]) -> PushCheck:
    counts = Counter(paths)
    stray = sum(n for path, n in counts.items() if not path.startswith(PUSH_PATH_PREFIX))
    return PushCheck(
        received=sum(counts.values()),
        distinct=len(counts),
        duplicated_paths=sum(1 for n in counts.values() if n > 1),
        stray=stray,
    )


def table(rows: Sequence[tuple[str, str, str]]) -> list[str]:
    """Rows of ``(measure, value, note)`` as aligned text, with a header."""
    header = ("measure", "value", "")
    width0 = max(len(r[0]) for r in (header, *rows))
    width1 = max(len(r[1]) for r in (header, *rows))
    lines = [f"{header[0]:<{width0}}  {header[1]:>{width1}}"]
    lines.append(f"{'-' * width0}  {'-' * width1}")
    for name, value, note in rows:
        lines.append(f"{name:<{width0}}  {value:>{width1}}  {note}".rstrip())
    return lines


def verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW TARGET"
