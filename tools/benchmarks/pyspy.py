"""py-spy profiles of the gunicorn workers during one phase, reduced to top frames."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_REPO = str(Path(__file__).resolve().parents[2])
_LIB = re.compile(r"^.*?/(?:site-packages|lib/python3\.\d+)/")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def find() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class Recording:
    """A running ``py-spy record`` on a gunicorn master and its workers."""

    def __init__(self, exe: str, pid: int, output: Path, rate: int = 200) -> None:
        self.output = output
        output.parent.mkdir(parents=True, exist_ok=True)
        self.popen = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--idle",
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--output",
                str(output),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> str | None:
        """Stop sampling (SIGINT writes the file); returns an error text, if any."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            _, err = self.popen.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            _, err = self.popen.communicate()
        if not self.output.exists():
            return (err or b"").decode(errors="replace")[-500:] or "no output"
        return None


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"].replace(_REPO + "/", "")
    path = _LIB.sub("", path)
    return f"{match['func']} ({path})"


def summarize(path: Path, top: int = 25, marker: str = "handle_request") -> dict[str, Any]:
    """Self and inclusive shares of the busy samples (stacks inside ``marker``)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    busy = total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        if not any(marker in f for f in frames):
            continue
        busy += count
        shorts = [_short(f) for f in frames if not f.startswith("process ")]
        if shorts:
            own[shorts[-1]] += count
        for name in set(shorts):
            inclusive[name] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return (
            [
                {"frame": name, "pct": round(100 * n / busy, 1)}
                for name, n in counter.most_common(top)
            ]
            if busy
            else []
        )

    interesting = Counter(
        {
            k: v
            for k, v in inclusive.items()
            if any(
                s in k
                for s in (
                    "intelshare/",
                    "tools/benchmarks/",
                    "opentaxii/",
                    "medallion/",
                    "django/db/",
                    "psycopg",
                    "orjson",
                    "json/",
                    "rest_framework/",
                )
            )
        }
    )
    return {
        "samples": total,
        "busy_samples": busy,
        "self": share(own),
        "inclusive": share(interesting),
    }
