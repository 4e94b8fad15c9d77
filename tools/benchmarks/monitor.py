"""Progress, failures and worker memory during a run."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.benchmarks import report
from tools.benchmarks.servers import Process


class RssSampler:
    """Samples the RSS of a gunicorn's workers while a phase runs."""

    def __init__(self, server: Process, interval: float = 0.25) -> None:
        self.server = server
        self.interval = interval
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid, kib in self.server.worker_rss_kib().items():
                if kib is not None:
                    self.peak[pid] = max(self.peak.get(pid, 0), kib)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.before = self.server.worker_rss_kib()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.after = self.server.worker_rss_kib()

    def summary(self) -> dict[str, Any]:
        def mib(values: dict[str, int | None]) -> float | None:
            known = [v for v in values.values() if v is not None]
            return round(max(known) / 1024, 1) if known else None

        return {
            "before_mib": mib(self.before),
            "peak_mib": mib(dict(self.peak)),
            "after_mib": mib(self.after),
            "per_worker_kib": {"before": self.before, "peak": self.peak, "after": self.after},
            "note": "largest worker; RSS from /proc/<pid>/status",
        }


LOAD: list[tuple[str, str, tuple[float, float, float]]] = []


def say(text: str) -> None:
    """Progress on stderr; the load average is kept, since other work on the machine
    (a test suite, a build) shows in every number."""
    stamp = f"{datetime.now(UTC):%H:%M:%S}"
    LOAD.append((stamp, text.strip(), os.getloadavg()))
    sys.stderr.write(f"[{stamp}] {text}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def step(results: dict[str, Any], name: str) -> Iterator[None]:
    """Record a failed step and go on: one broken phase must not lose the run. The
    JSON so far is written after every step, so a long run can be read as it goes."""
    try:
        yield
    except Exception as exc:
        say(f"{name} failed: {exc}")
        results.setdefault("errors", []).append(
            {
                "step": name,
                "error": f"{type(exc).__name__}: {exc}"[:2000],
                "traceback": traceback.format_exc()[-3000:],
            }
        )
    finally:
        output = results.get("meta", {}).get("args", {}).get("output")
        if output:
            with contextlib.suppress(OSError):
                report.write(results, Path(output).with_suffix(".partial.json"))
