"""The measuring TAXII 2.1 client: real HTTP, Basic auth, the TAXII Accept header."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import requests

from tools.benchmarks.stats import Budget, Phase

TAXII = "application/taxii+json;version=2.1"
PAGE = 1000


@dataclass(frozen=True)
class Target:
    """One collection on one server, as a client sees it."""

    server: str
    collection_url: str  # ends with "/"
    auth: tuple[str, str]
    timeout: float
    database: str | None = None  # PostgreSQL database to ANALYZE after loading

    @property
    def objects_url(self) -> str:
        return self.collection_url + "objects/"

    @property
    def manifest_url(self) -> str:
        return self.collection_url + "manifest/"

    def session(self) -> requests.Session:
        session = requests.Session()
        session.auth = self.auth
        session.headers["Accept"] = TAXII
        return session


@dataclass
class PageResult:
    status: int
    seconds: float
    count: int
    more: bool
    next: str | None
    date_last: str | None
    body: dict[str, Any] | None
    error: str | None = None
    size: int = 0  # bytes of the body


def get_page(
    session: requests.Session,
    url: str,
    params: dict[str, str],
    timeout: float,
    *,
    keep_body: bool = False,
) -> PageResult:
    """One GET; never raises for HTTP or network failures (they are results)."""
    start = time.perf_counter()
    try:
        response = session.get(url, params=params, timeout=timeout)
        content = response.content
    except requests.RequestException as exc:
        return PageResult(
            0, time.perf_counter() - start, 0, False, None, None, None, error=type(exc).__name__
        )
    seconds = time.perf_counter() - start
    if response.status_code != 200:
        return PageResult(
            response.status_code,
            seconds,
            0,
            False,
            None,
            None,
            None,
            error=f"HTTP {response.status_code}",
        )
    try:
        body = orjson.loads(content) if content else {}
    except orjson.JSONDecodeError:
        return PageResult(200, seconds, 0, False, None, None, None, error="bad JSON")
    items = body.get("objects") or body.get("versions") or []
    return PageResult(
        200,
        seconds,
        len(items),
        bool(body.get("more")),
        body.get("next"),
        response.headers.get("X-TAXII-Date-Added-Last"),
        body if keep_body else None,
        size=len(content),
    )


def walk(
    session: requests.Session,
    url: str,
    params: dict[str, str],
    timeout: float,
    budget: Budget,
    phase: Phase,
    *,
    on_page: Callable[[PageResult], None] | None = None,
    keep_body: bool = False,
    max_pages: int = 1_000_000,
) -> bool:
    """Follow ``next`` from the first page to the last; True when it got there."""
    token: str | None = None
    for _ in range(max_pages):
        if budget.expired():
            phase.truncated = True
            return False
        query = dict(params, next=token) if token else params
        page = get_page(session, url, query, timeout, keep_body=keep_body)
        phase.record(page.seconds, page.count, ok=page.error is None)
        phase.extra["bytes"] = phase.extra.get("bytes", 0) + page.size
        if page.error is not None:
            phase.notes.append(f"page failed: {page.error}")
            return False
        if on_page is not None:
            on_page(page)
        if page.more and not page.next:
            phase.notes.append("more=true without next: the walk cannot go on (§3.4)")
            return False
        if not page.more:
            return True
        token = page.next
    return False


def warm(target: Target, requests: int) -> None:
    """Touch every worker first: each verifies the Basic credential once and caches
    it (intelshare), opens its connections; the phases then measure steady state."""
    session = target.session()
    for _ in range(requests):
        get_page(session, target.collection_url, {}, target.timeout)


def warm_reads(target: Target, requests: int) -> None:
    """After loading: one small objects request per worker, so that no phase pays a
    worker's first read of the loaded collection (measured: a lone 1,000-object
    page at 401 ms cold against 42 ms the request after). Every server gets it."""
    session = target.session()
    for _ in range(requests):
        get_page(session, target.objects_url, {"limit": "1"}, target.timeout)


def timed(phase: Phase, body: Callable[[], Any]) -> Any:
    """Run ``body`` and add its wall time to ``phase.seconds``."""
    start = time.perf_counter()
    try:
        return body()
    finally:
        phase.seconds += time.perf_counter() - start


# --- phases ------------------------------------------------------------------------------


def ingest(
    target: Target, envelopes: Sequence[tuple[int, bytes]], budget: Budget, name: str
) -> Phase:
    """POST prepared envelopes (count, body) in order; objects/s counts stored objects."""
    phase = Phase(name)
    session = target.session()
    headers = {"Content-Type": TAXII}
    failed = 0
    start = time.perf_counter()
    for count, body in envelopes:
        if budget.expired():
            phase.truncated = True
            break
        t0 = time.perf_counter()
        answer, status = None, {}
        try:
            response = session.post(
                target.objects_url, data=body, headers=headers, timeout=target.timeout
            )
            answer = response.status_code
            if answer in (200, 201, 202):
                status = orjson.loads(response.content)
        except (requests.RequestException, orjson.JSONDecodeError) as exc:
            phase.notes.append(f"POST failed: {type(exc).__name__}")
        seconds = time.perf_counter() - t0
        if status:
            failed += int(status.get("failure_count") or 0)
            stored = status.get("success_count")
            phase.record(seconds, int(count if stored is None else stored))
        else:
            phase.record(seconds, 0, ok=False)
            if answer is not None and len(phase.notes) < 5:
                phase.notes.append(f"POST answered HTTP {answer}")
    phase.seconds = time.perf_counter() - start
    phase.extra["envelope_objects"] = max((c for c, _ in envelopes), default=0)
    phase.extra["failed_objects"] = failed
    return phase


def pull(
    target: Target,
    params: dict[str, str],
    budget: Budget,
    name: str,
    *,
    url: str | None = None,
    on_page: Callable[[PageResult], None] | None = None,
) -> Phase:
    """One full walk following ``next``."""
    phase = Phase(name)
    session = target.session()
    complete = timed(
        phase,
        lambda: walk(
            session,
            url or target.objects_url,
            params,
            target.timeout,
            budget,
            phase,
            on_page=on_page,
        ),
    )
    phase.extra["complete"] = complete
    return phase


def repeated_walks(
    target: Target,
    params: dict[str, str],
    budget: Budget,
    name: str,
    repeats: int,
    *,
    url: str | None = None,
) -> Phase:
    """The same walk ``repeats`` times (latency samples); objects/s over all of them."""
    phase = Phase(name)
    session = target.session()
    for _ in range(repeats):
        if budget.expired():
            phase.truncated = True
            break
        timed(
            phase,
            lambda: walk(session, url or target.objects_url, params, target.timeout, budget, phase),
        )
    phase.extra["walks"] = repeats
    return phase


def by_ids(target: Target, ids: Sequence[str], budget: Budget, name: str) -> Phase:
    """``match[id]`` once per id: one request each."""
    phase = Phase(name)
    session = target.session()
    for stix_id in ids:
        if budget.expired():
            phase.truncated = True
            break
        timed(
            phase,
            lambda sid=stix_id: walk(
                session,
                target.objects_url,
                {"match[id]": sid, "limit": str(PAGE)},
                target.timeout,
                budget,
                phase,
            ),
        )
    return phase


def concurrent(
    target: Target, params: dict[str, str], readers: int, budget: Budget, name: str
) -> Phase:
    """``readers`` threads, each with its own session, each doing a full pull at once."""
    phase = Phase(name)
    parts = [Phase(f"{name}[{i}]") for i in range(readers)]
    barrier = threading.Barrier(readers)

    def reader(part: Phase) -> None:
        session = target.session()
        barrier.wait()
        try:
            walk(session, target.objects_url, params, target.timeout, budget, part)
        except Exception as exc:  # a reader must report, never hang the run
            part.errors += 1
            part.notes.append(type(exc).__name__)

    threads = [threading.Thread(target=reader, args=(p,), daemon=True) for p in parts]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=budget.remaining() + target.timeout + 5)
    phase.seconds = time.perf_counter() - start
    for part in parts:
        phase.objects += part.objects
        phase.requests += part.requests
        phase.errors += part.errors
        phase.latencies += part.latencies
        phase.truncated |= part.truncated
        phase.notes += part.notes[:3]
    phase.extra["readers"] = readers
    phase.extra["per_reader_objects"] = [p.objects for p in parts]
    phase.extra["hung_readers"] = sum(t.is_alive() for t in threads)
    return phase


def manifest_dates(target: Target, budget: Budget, name: str) -> tuple[Phase, list[str]]:
    """Walk the manifest (a phase) and keep every entry's ``date_added``."""
    phase = Phase(name)
    session = target.session()
    dates: list[str] = []

    def keep(page: PageResult) -> None:
        dates.extend(str(e.get("date_added", "")) for e in (page.body or {}).get("objects", []))

    params = {"limit": str(PAGE), "match[version]": "all"}
    phase.extra["complete"] = timed(
        phase,
        lambda: walk(
            session,
            target.manifest_url,
            params,
            target.timeout,
            budget,
            phase,
            on_page=keep,
            keep_body=True,
        ),
    )
    return phase, dates


def incremental_point(dates: list[str], tail: int) -> tuple[str, int] | None:
    """An ``added_after`` that leaves about ``tail`` versions after it."""
    ordered = sorted(d for d in dates if d)
    if len(ordered) < 2:
        return None
    index = max(1, len(ordered) - tail)
    while index > 0 and ordered[index - 1] == ordered[index]:
        index -= 1
    if index == 0:
        return None
    return ordered[index - 1], len(ordered) - index


def boundary_point(pages: list[tuple[int, str | None]], tail: int) -> tuple[str, int] | None:
    """An ``added_after`` from a walk's page boundaries (count, X-TAXII-Date-Added-Last):
    the last page boundary that leaves at least ``tail`` versions after it."""
    after = 0
    for index in range(len(pages) - 1, 0, -1):
        after += pages[index][0]
        stamp = pages[index - 1][1]
        if after >= tail and stamp:
            return stamp, after
    return None


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def envelopes(objects: Sequence[dict[str, Any]], size: int) -> list[tuple[int, bytes]]:
    """Pre-serialised envelopes, so every server gets the same bytes."""
    return [(len(part), orjson.dumps({"objects": list(part)})) for part in chunks(objects, size)]
