"""Latency percentiles and one measured phase."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Budget:
    """A deadline for one phase: loops stop when it has passed, so a run always ends."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


@dataclass
class Phase:
    """What one phase did: objects moved, requests and their latencies, errors."""

    name: str
    objects: int = 0
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0  # wall time of the phase (for rates)
    latencies: list[float] = field(default_factory=list)
    truncated: bool = False  # the time budget ran out before the phase finished
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self, seconds: float, objects: int, ok: bool = True) -> None:
        self.requests += 1
        self.latencies.append(seconds)
        if ok:
            self.objects += objects
        else:
            self.errors += 1

    def summary(self) -> dict[str, Any]:
        def ms(q: float) -> float | None:
            value = percentile(self.latencies, q)
            return None if value is None else round(value * 1000, 2)

        rate = self.objects / self.seconds if self.seconds > 0 else None
        out: dict[str, Any] = {
            "objects": self.objects,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "objects_per_s": None if rate is None else round(rate, 1),
            "p50_ms": ms(50),
            "p95_ms": ms(95),
            "p99_ms": ms(99),
            "max_ms": None if not self.latencies else round(max(self.latencies) * 1000, 2),
            "truncated": self.truncated,
        }
        if self.notes:
            out["notes"] = self.notes
        out.update(self.extra)
        if self.objects and self.extra.get("bytes"):
            out["bytes_per_object"] = round(self.extra["bytes"] / self.objects, 1)
        return out
