"""``python -m tools.drills [--only NAME ...]`` and ``python -m tools.drills load [...]``."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.drills import machine
from tools.drills.result import Result


def _drills(args: argparse.Namespace) -> dict[str, Callable[[Path], Result]]:
    from tools.drills import broker, db, partners

    return {
        "pg-post": lambda w: db.pg_post(w, down=args.pg_down),
        "pg-pull": lambda w: db.pg_pull(w, down=args.pg_down),
        "redis-queued": broker.redis_queued,
        "redis-running": broker.redis_running,
        "partners": partners.partners,
        "partner-trickle": partners.partner_trickle,
        "partner-kill": partners.partner_kill,
    }


RESTARTS_PG = {"pg-post", "pg-pull"}


class DrillTimeout(Exception):
    pass


def _overtime(signum: int, frame: object) -> None:
    raise DrillTimeout("the drill ran past --drill-timeout")


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run_drills(args: argparse.Namespace) -> int:
    drills = _drills(args)
    names = args.only or list(drills)
    unknown = [n for n in names if n not in drills]
    if unknown:
        say(f"unknown drill(s) {unknown}; known: {', '.join(drills)}")
        return 2
    workdir = Path(args.workdir) / time.strftime("%Y%m%d-%H%M%S")
    results: list[Result] = []
    try:
        for name in names:
            if name in RESTARTS_PG:
                busy = machine.wait_quiet(args.wait_quiet)
                if busy:
                    result = Result(name)
                    result.check(
                        False,
                        f"not run: other PostgreSQL work still busy after "
                        f"{args.wait_quiet} s: {busy[:3]}",
                    )
                    results.append(result)
                    say(result.render())
                    continue
            say(f"== {name}")
            began = time.monotonic()
            # A hard bound on top of the drill's own timeouts.
            signal.signal(signal.SIGALRM, _overtime)
            signal.alarm(args.drill_timeout)
            try:
                result = drills[name](workdir / name)
            except Exception:
                result = Result(name)
                result.check(False, "the drill crashed:\n" + traceback.format_exc())
            finally:
                signal.alarm(0)
                machine.ensure_up()
            result.numbers["drill_seconds"] = round(time.monotonic() - began, 1)
            results.append(result)
            say(result.render())
            brief = {
                k: v for k, v in result.numbers.items() if len(json.dumps(v, default=str)) <= 200
            }
            say(f"  numbers: {json.dumps(brief, default=str)}")
    finally:
        machine.ensure_up()
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "results.json").write_text(
            json.dumps([r.as_json() for r in results], indent=1, default=str)
        )
    failed = [r.name for r in results if not r.ok]
    say(
        f"== {len(results) - len(failed)}/{len(results)} drills passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + f" (logs under {workdir})"
    )
    return 1 if failed else 0


LOCK = Path("/tmp/intelshare-drills.lock")


@contextmanager
def one_run_at_a_time(wait: float = 1800) -> Iterator[None]:
    """Drill runs share a database name, Redis databases and the services they
    restart: a second run on this machine waits for the first."""
    fd = os.open(LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"another drill run still holds {LOCK}") from None
                sys.stderr.write(f"waiting for another drill run ({LOCK})\n")
                time.sleep(10)
        yield
    finally:
        os.close(fd)  # releases the lock


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with one_run_at_a_time():
        return _main(argv)


def _main(argv: list[str]) -> int:
    if argv[:1] == ["load"]:
        from tools.drills import load

        return load.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m tools.drills",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only this drill (repeatable)"
    )
    parser.add_argument(
        "--workdir",
        default="/tmp/intelshare-drills",
        help="logs and results go under WORKDIR/<timestamp>/",
    )
    parser.add_argument(
        "--pg-down",
        type=float,
        default=3.0,
        help="seconds PostgreSQL stays stopped (0: pg_ctlcluster restart)",
    )
    parser.add_argument(
        "--drill-timeout",
        type=int,
        default=900,
        help="seconds after which a drill is stopped and failed",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=900.0,
        help="before restarting PostgreSQL, wait up to this long for the "
        "other databases to be quiet (no session running or active "
        "in the last 30 s): a restart breaks other people's work",
    )
    return run_drills(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
