"""The benchmark's options and the metadata a result carries (machine, commit)."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.benchmarks.servers import REPO


def sizes(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.benchmarks",
        description="intelshare vs medallion 3.0.0 and OpenTAXII 0.9.3 on loopback. "
        "Needs PostgreSQL on 127.0.0.1:5432 (user postgres).",
    )
    parser.add_argument(
        "--sizes",
        type=sizes,
        default=None,
        help="intelshare comparison sizes, loaded by TAXII POST "
        "(default 10000,100000; --quick: 300)",
    )
    parser.add_argument(
        "--peers",
        default=None,
        help="comma list of medallion,opentaxii ('' for none; default both; --quick: none)",
    )
    parser.add_argument(
        "--medallion-size",
        type=int,
        default=None,
        help="versions loaded into medallion (default 1000: its first "
        "page is O(n^2), it collapses beyond)",
    )
    parser.add_argument(
        "--opentaxii-size",
        type=int,
        default=None,
        help="versions loaded into OpenTAXII by POST (default 10000)",
    )
    parser.add_argument(
        "--scale",
        type=sizes,
        default=None,
        help="scale sweep sizes for intelshare alone, bulk-loaded "
        "(default 10000,100000,1000000; '' to skip)",
    )
    parser.add_argument(
        "--ingest-base",
        type=int,
        default=None,
        help="versions bulk-loaded before the ingest-at-scale line POSTs --ingest-count "
        "more (default 900000; --quick: 1200; 0 to skip)",
    )
    parser.add_argument(
        "--ingest-count",
        type=int,
        default=None,
        help="objects POSTed by the ingest-at-scale line (default 100000; --quick: 300)",
    )
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument(
        "--workers",
        type=int,
        default=4,
        help="gunicorn workers of intelshare and OpenTAXII (medallion: 1)",
    )
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per request (default 300; --quick 30)"
    )
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds per phase (default 240; --quick 20)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repeats of latency phases (default 10; --quick 2)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy profiles of full pull, ingest and policy pull",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run")
    parser.add_argument(
        "--database",
        default="intelshare_bench",
        help="PostgreSQL database for intelshare (dropped and created)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=REPO / "var" / "bench",
        help="logs, configs and OpenTAXII's virtualenv",
    )
    parser.add_argument(
        "--keep-db", action="store_true", help="leave the benchmark databases for inspection"
    )
    parser.add_argument(
        "--output", type=Path, default=REPO / "tools" / "benchmarks" / "results" / "latest.json"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.sizes = args.sizes or ([300] if quick else [10_000, 100_000])
    if args.peers is None:
        args.peers = "" if quick else "medallion,opentaxii"
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = set(args.peers) - {"medallion", "opentaxii"}
    if unknown:
        parser.error(f"unknown peers: {sorted(unknown)}")
    args.medallion_size = args.medallion_size or (200 if quick else 1000)
    args.opentaxii_size = args.opentaxii_size or (300 if quick else 10_000)
    if args.scale is None:
        args.scale = [300, 1200] if quick else [10_000, 100_000, 1_000_000]
    if args.ingest_base is None:
        args.ingest_base = 1200 if quick else 900_000
    args.ingest_count = args.ingest_count or (300 if quick else 100_000)
    args.timeout = args.timeout or (30.0 if quick else 300.0)
    args.budget = args.budget or (20.0 if quick else 240.0)
    args.repeats = args.repeats or (2 if quick else 10)
    return args


def git(*argv: str) -> str:
    try:
        return subprocess.run(
            ["git", *argv], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except OSError:
        return ""


def meta(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "seed": args.seed,
        "quick": args.quick,
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "intelshare", "config")),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "client": "python requests, one Session per reader, orjson parsing; the client "
        "shares the machine's CPUs with the servers",
    }
