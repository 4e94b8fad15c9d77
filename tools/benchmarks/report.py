"""The terminal table and the JSON file of one benchmark run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

PHASE_ORDER = (
    "ingest_100",
    "ingest_1000",
    "full_pull",
    "version_all",
    "incremental",
    "match_type",
    "match_id",
    "manifest",
    "concurrent_8",
)


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-" * len(line)]
    for row in rows:
        out.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return out


def phase_rows(server: str, size: str, phases: dict[str, Any]) -> list[list[str]]:
    rows = []
    names = [n for n in PHASE_ORDER if n in phases] + sorted(set(phases) - set(PHASE_ORDER))
    for name in names:
        p = phases[name]
        flag = " (cut)" if p.get("truncated") else ""
        rows.append(
            [
                f"{server}@{size}",
                name + flag,
                _num(p.get("objects")),
                _num(p.get("requests")),
                _num(p.get("errors")),
                _num(p.get("objects_per_s")),
                _num(p.get("p50_ms")),
                _num(p.get("p95_ms")),
                _num(p.get("p99_ms")),
            ]
        )
    return rows


def render(results: dict[str, Any]) -> str:
    lines: list[str] = []
    meta = results.get("meta", {})
    lines.append(
        f"intelshare benchmark — {meta.get('started', '')} — "
        f"{meta.get('cpus')} CPUs, seed {meta.get('seed')}"
    )
    rows: list[list[str]] = []
    for server, by_size in results.get("servers", {}).items():
        if isinstance(by_size, str):
            rows.append([server, by_size, *["" for _ in range(7)]])
            continue
        for size, phases in by_size.items():
            rows.extend(phase_rows(server, size, phases))
    lines += ["", "Per server and size (objects/s; latency per request in ms)"]
    lines += _table(
        ["server@size", "phase", "objects", "reqs", "errs", "obj/s", "p50", "p95", "p99"], rows
    )
    ratios = results.get("ratios", {})
    if ratios:
        lines += ["", "Ratios intelshare / peer at the peer's size (rate; peer p50 / ours p50)"]
        rows = []
        for peer, info in ratios.items():
            for name, r in info.get("phases", {}).items():
                rows.append(
                    [
                        f"{peer}@{info['size']}",
                        name,
                        _num(r.get("rate_ratio")),
                        _num(r.get("p50_ratio")),
                    ]
                )
        lines += _table(["peer@size", "phase", "rate x", "p50 x"], rows)
    if results.get("policy"):
        lines += ["", "Policy: partners (TLP:GREEN ceiling; _sees_all: no limit) vs staff"]
        rows = [
            [
                size,
                name,
                _num(r.get("partner_objects")),
                _num(r.get("staff_objects")),
                _num(r.get("visible_fraction"), 2),
                _num(r.get("time_ratio"), 2),
                _num(r.get("rate_ratio"), 2),
            ]
            for size, by in results["policy"].items()
            for name, r in by.items()
            if isinstance(r, dict) and "partner_objects" in r
        ]
        lines += _table(
            ["size", "pull", "partner objs", "staff objs", "visible", "time x", "rate x"], rows
        )
    if results.get("after_load"):
        lines += ["", "Right after the load (before ANALYZE) vs after ANALYZE"]
        rows = [
            [
                size,
                name,
                _num(r.get("after_load_per_s")),
                _num(r.get("after_analyze_per_s")),
                _num(r.get("time_ratio"), 2),
                _num(r.get("p50_ratio"), 2),
            ]
            for size, by in results["after_load"].items()
            for name, r in by.items()
        ]
        lines += _table(
            ["size", "pull", "after load/s", "after ANALYZE/s", "time x", "p50 x"], rows
        )
    scale = results.get("ingest_at_scale")
    if scale:
        phase, load = scale["ingest_1000"], scale["load"]
        lines += [
            "",
            f"Ingest at scale: {_num(phase.get('objects'))} objects POSTed in 1,000s into "
            f"{_num(scale['base'])} bulk-loaded versions ({_num(load.get('objects_per_s'))}"
            f" objects/s in-process): {_num(phase.get('objects_per_s'))} objects/s, p50 "
            f"{_num(phase.get('p50_ms'))} ms, p95 {_num(phase.get('p95_ms'))} ms per POST; "
            f"{_num(scale['stored'].get('versions'))} versions stored",
        ]
    if results.get("floor"):
        lines += [
            "",
            "HTTP floor: the same objects from pre-built pages, same gunicorn, same client",
        ]
        rows = [
            [
                size,
                _num(f["floor_full_pull"].get("objects_per_s")),
                _num(f["floor_full_pull"].get("p50_ms"), 2),
                _num(f["floor_full_pull"].get("bytes_per_object")),
                _num(f.get("staff_full_pull_vs_floor"), 3),
                _num(f.get("p50_vs_floor"), 2),
            ]
            for size, f in results["floor"].items()
        ]
        lines += _table(
            ["size", "floor objs/s", "p50 ms", "B/object", "staff/floor", "p50 x"], rows
        )
    if results.get("limit"):
        lines += ["", "Limit: COPY of the same rows out of PostgreSQL vs the server"]
        rows = [
            [
                size,
                _num(r.get("rows")),
                _num(r.get("objects_per_s")),
                _num(r.get("server_version_all_per_s")),
                _num(r.get("server_share"), 2),
            ]
            for size, r in results["limit"].items()
        ]
        lines += _table(["size", "rows", "COPY rows/s", "server obj/s", "server/COPY"], rows)
    scale = results.get("scale", {})
    if scale.get("sizes"):
        lines += ["", "Scale sweep (intelshare; ms per page of 1,000: p50 / p95)"]
        rows = []
        for size, r in scale["sizes"].items():
            for who in ("staff", "partner"):
                pages = r.get(who, {})
                if not pages:
                    continue
                cells = [
                    f"{_num(pages.get(k, {}).get('p50_ms'))} / "
                    f"{_num(pages.get(k, {}).get('p95_ms'))}"
                    for k in ("first", "middle", "last")
                ]
                walk = pages.get("walk", {})
                rows.append(
                    [
                        size,
                        who,
                        *cells,
                        _num(walk.get("objects_per_s")),
                        _num(r.get("load", {}).get("objects_per_s")),
                    ]
                )
        lines += _table(
            ["versions", "caller", "first", "middle", "last full", "walk obj/s", "load obj/s"], rows
        )
    memory = results.get("memory", {})
    if memory:
        lines += ["", "gunicorn worker RSS (MiB): before / peak / after"]
        for label, m in memory.items():
            lines.append(
                f"  {label}: {_num(m.get('before_mib'))} / {_num(m.get('peak_mib'))}"
                f" / {_num(m.get('after_mib'))}"
            )
    generator = results.get("generator")
    if generator:
        lines += [
            "",
            f"Generator: {generator['objects']} objects in "
            f"{_num(generator['seconds'], 2)} s ({generator['objects_per_s']} obj/s)",
        ]
    validation = results.get("validation")
    if validation:
        lines += [
            "",
            "Validation per object (µs): "
            + ", ".join(f"{k}={_num(v)}" for k, v in validation.items()),
        ]
    for name, prof in results.get("profiles", {}).items():
        if not isinstance(prof, dict) or "self" not in prof:
            lines += ["", f"Profile {name}: {prof}"]
            continue
        lines += ["", f"Profile {name}: top self frames (% of busy samples)"]
        lines += [f"  {f['pct']:5.1f}%  {f['frame']}" for f in prof["self"][:12]]
        lines += [f"Profile {name}: the request's own frames, inclusive (% of busy samples)"]
        lines += [
            f"  {f['pct']:5.1f}%  {f['frame']}"
            for f in prof.get("inclusive", [])
            if "(intelshare/" in f["frame"]
        ][:16]
    for peer, why in results.get("unavailable", {}).items():
        lines += ["", f"{peer}: unavailable: {why}"]
    for size, ratios in targets(results).items():
        lines += ["", f"Targets at {size} (this run)"]
        lines += [f"  {_num(value, 2):>9}  {name}" for name, value in ratios.items()]
    return "\n".join(lines) + "\n"


def targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ratios performance targets are stated in, per comparison size."""
    out: dict[str, dict[str, Any]] = {}
    for size, phases in (results.get("servers", {}).get("intelshare") or {}).items():
        if not isinstance(phases, dict) or "full_pull" not in phases:
            continue
        policy = results.get("policy", {}).get(size, {})
        after = results.get("after_load", {}).get(size, {})
        floor = results.get("floor", {}).get(size, {})
        concurrent = next((v for k, v in phases.items() if k.startswith("concurrent_")), {})

        def ratio(a: Any, b: Any, digits: int = 2) -> float | None:
            return round(a / b, digits) if a and b else None

        out[size] = {
            "staff/floor (>= 0.7)": floor.get("staff_full_pull_vs_floor"),
            "partner sees-all time x staff (<= 1.3)": policy.get("full_pull_sees_all", {}).get(
                "time_ratio"
            ),
            "partner TLP:GREEN time x staff (<= 1.3)": policy.get("full_pull", {}).get(
                "time_ratio"
            ),
            "first staff pull after load x after ANALYZE (<= 1.2)": after.get(
                "staff_full_pull", {}
            ).get("time_ratio"),
            "first partner pull after load x after ANALYZE (<= 1.2)": after.get(
                "partner_full_pull", {}
            ).get("time_ratio"),
            "ingest objects/s, 1,000-object envelopes (>= 10,000)": phases.get(
                "ingest_1000", {}
            ).get("objects_per_s"),
            "ingest objects/s into a collection already at the ingest-at-scale base (>= 10,000)": (
                results.get("ingest_at_scale") or {}
            )
            .get("ingest_1000", {})
            .get("objects_per_s"),
            "8 readers x one reader (>= 1.5)": ratio(
                concurrent.get("objects_per_s"), phases["full_pull"].get("objects_per_s")
            ),
            "incremental p50 x match[id] p50 (<= 2)": ratio(
                phases.get("incremental", {}).get("p50_ms"),
                phases.get("match_id", {}).get("p50_ms"),
            ),
        }
    return out


def write(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
