"""What the load drill measures of the processes under load: RSS over time, CPU per
process group (PostgreSQL backends that come and go included), latency percentiles."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from tools.drills.stack import Stack
from tools.procs import rss_kib


class RssSampler(threading.Thread):
    """RSS of the gunicorn master and workers and the Celery master and children."""

    def __init__(self, stack: Stack, period: float) -> None:
        super().__init__(daemon=True)
        self.stack, self.period = stack, period
        self.samples: list[tuple[float, str, int, int]] = []  # t, role, pid, KiB
        self.stopping = threading.Event()
        self.cpu = CpuTracker()
        self.groups: Any = None  # set by run(): () -> {group: [pid, ...]}

    def run(self) -> None:
        while not self.stopping.is_set():
            now = time.monotonic()
            if self.groups is not None:
                self.cpu.observe(self.groups())
            web, worker = self.stack.web_pids(), self.stack.worker_pids()
            for role, pids in (("gunicorn", web), ("celery", worker)):
                for i, pid in enumerate(pids):
                    kib = rss_kib(pid)
                    if kib is not None:
                        name = f"{role}-{'master' if i == 0 else 'worker'}"
                        self.samples.append((now, name, pid, kib))
            self.stopping.wait(self.period)


def _cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` (all its threads), in clock ticks; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith("postgres"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _machine_busy() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuTracker:
    """CPU time of groups of processes over a window, sampled every few seconds, so
    that PostgreSQL backends which come and go (CONN_MAX_AGE) are counted: a process
    first seen after the start counts from zero. Lower bounds: a process that lived
    between two samples is missed."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, int], int] = {}
        self.last: dict[tuple[str, int], int] = {}
        self.began: float | None = None
        self.ended: float | None = None
        self.busy: tuple[int, int] = (0, 0)
        self.lock = threading.Lock()

    def observe(self, groups: dict[str, list[int]]) -> None:
        with self.lock:
            if self.ended is not None:
                return
            starting = self.began is None
            for name, pids in groups.items():
                for pid in pids:
                    ticks = _cpu_ticks(pid)
                    if ticks:
                        self.first.setdefault((name, pid), ticks if starting else 0)
                        self.last[(name, pid)] = ticks
            if starting:
                self.began, self.busy = time.monotonic(), _machine_busy()

    def finish(self, groups: dict[str, list[int]]) -> dict[str, float]:
        self.observe(groups)
        with self.lock:
            self.ended = time.monotonic()
            seconds = self.ended - (self.began or self.ended) or 1.0
            tick = os.sysconf("SC_CLK_TCK")
            used: dict[str, float] = defaultdict(float)
            for (name, pid), ticks in self.last.items():
                used[name] += (ticks - self.first[(name, pid)]) / tick / seconds
            busy = _machine_busy()
            used["machine (everything)"] = (
                (os.cpu_count() or 1) * (busy[0] - self.busy[0]) / max(1, busy[1] - self.busy[1])
            )
        return {name: round(value, 2) for name, value in used.items()}


# --- the run ---------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)

    def q(p: float) -> float:
        return round(1000 * values[min(len(values) - 1, int(p * len(values)))], 1)

    return {
        "n": len(values),
        "p50_ms": q(0.50),
        "p95_ms": q(0.95),
        "p99_ms": q(0.99),
        "max_ms": round(1000 * values[-1], 1),
    }


def memory_report(
    samples: list[tuple[float, str, int, int]], t0: float, minutes: float
) -> dict[str, dict[str, Any]]:
    by_pid: dict[tuple[str, int], list[tuple[float, int]]] = defaultdict(list)
    for t, name, pid, kib in samples:
        by_pid[(name, pid)].append((t - t0, kib))
    end = minutes * 60
    report = {}
    for (name, pid), points in sorted(by_pid.items()):

        def mean(lo: float, hi: float, points: list[tuple[float, int]] = points) -> float | None:
            chosen = [kib for t, kib in points if lo <= t < hi]
            return round(statistics.mean(chosen) / 1024, 1) if chosen else None

        first, second, last = mean(0, 60), mean(60, 120), mean(end - 60, end)
        peak = round(max(kib for _, kib in points) / 1024, 1)
        report[f"{name}:{pid}"] = {
            "first_min_mib": first,
            "second_min_mib": second,
            "last_min_mib": last,
            "peak_mib": peak,
        }
    return report


def series(
    samples: list[tuple[float, str, int, int]], t0: float
) -> dict[str, list[tuple[int, float]]]:
    """Per process: (second since the start, MiB) for every sample."""
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for t, name, pid, kib in samples:
        series[f"{name}:{pid}"].append((round(t - t0), round(kib / 1024, 1)))
    return series
