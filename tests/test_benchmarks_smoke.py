"""Smoke run of the benchmark: ``python -m tools.benchmarks --quick`` works end to end.

It starts intelshare under gunicorn on its own PostgreSQL database and drives it over
real HTTP at a tiny size; it proves the command and the shape of its JSON, never a
speed (no timed assertion). OpenTAXII is not installed here; medallion is left out
to keep the run short.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools.benchmarks import pg

pytestmark = [pytest.mark.live, pytest.mark.postgres]

REPO = Path(__file__).resolve().parent.parent
READ_PHASES = {
    "full_pull",
    "version_all",
    "incremental",
    "match_type",
    "match_id",
    "manifest",
    "concurrent_8",
    "after_load_full_pull",
    "after_load_partner_full_pull",
}


def test_quick_benchmark_writes_every_phase(tmp_path: Path) -> None:
    assert pg.reachable() is None
    output = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.benchmarks",
            "--quick",
            "--peers",
            "",
            "--database",
            "intelshare_bench_smoke",
            "--workdir",
            str(tmp_path / "work"),
            "--output",
            str(output),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "intelshare@300" in done.stdout

    results = json.loads(output.read_text(encoding="utf-8"))
    phases = results["servers"]["intelshare"]["300"]
    assert set(phases) == {"ingest_100", "ingest_1000"} | READ_PHASES
    assert phases["ingest_100"]["objects"] + phases["ingest_1000"]["objects"] == 300
    assert phases["version_all"]["objects"] == 300
    for name, phase in phases.items():
        assert phase["errors"] == 0, (name, phase)
        assert phase["requests"] > 0, name
        assert phase["p50_ms"] is not None, name
    assert results["limit"]["300"]["rows"] == 300
    policy = results["policy"]["300"]["full_pull"]
    assert 0 < policy["partner_objects"] < policy["staff_objects"]
    assert set(results["scale"]["sizes"]) == {"300", "1200"}
    assert results["scale"]["sizes"]["1200"]["staff"]["walk"]["errors"] == 0
    assert phases["after_load_partner_full_pull"]["objects"] == phases["full_pull"]["objects"]
    after = results["after_load"]["300"]
    assert set(after) == {"staff_full_pull", "partner_full_pull"}
    assert all(r["time_ratio"] > 0 for r in after.values())
    scale = results["ingest_at_scale"]
    assert scale["stored"]["versions"] == 1500  # 1,200 loaded and 300 POSTed
    assert scale["ingest_1000"]["errors"] == 0
    assert "Targets at 300" in done.stdout
    assert results["validation"]["stix2_validator_us"] > 0
    assert results["generator"]["objects"] == 300
    assert results["generator"]["objects_per_s"] > 0
    assert "errors" not in results
