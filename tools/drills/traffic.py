"""The load drill's traffic: readers (child processes) that pull and fingerprint
what they receive, and writers (threads) that POST envelopes."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from typing import Any

import orjson
import requests

from tools.drills.objects import batch, key
from tools.drills.stack import Stack
from tools.drills.taxii import Client, basic

SEED = 5000
SMALL, LARGE, LARGE_EVERY = 50, 1500, 25
MASK = (1 << 64) - 1


def key_hash(k: tuple[str, str]) -> int:
    digest = hashlib.blake2b(f"{k[0]}|{k[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Fingerprint:
    """Count and sum (mod 2^64) of 64-bit hashes: equal sets give equal prints."""

    def __init__(self) -> None:
        self.count, self.total = 0, 0

    def add(self, k: tuple[str, str]) -> None:
        self.count += 1
        self.total = (self.total + key_hash(k)) & MASK

    def value(self) -> tuple[int, int]:
        return self.count, self.total


# --- readers (child processes) -------------------------------------------------------------


def pull(
    client: Client,
    params: dict[str, Any],
    samples: list[tuple[str, float, float, int, int]],
    kind: str,
    sink: Any,
    errors: list[str],
) -> str | None:
    """Follow ``next`` to the end; feed each object's key to ``sink``; returns the last
    ``X-TAXII-Date-Added-Last`` seen (None when nothing was returned). Raises on error."""
    last = None
    params = dict(params)
    while True:
        began = time.monotonic()
        try:
            response = client.get(client.objects_path, params)
        except requests.RequestException as exc:
            samples.append((kind, began, time.monotonic() - began, 0, 0))
            errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:120]}")
            raise
        elapsed = time.monotonic() - began
        if response.status_code != 200:
            samples.append((kind, began, elapsed, response.status_code, 0))
            errors.append(f"{kind}: HTTP {response.status_code}: {response.text[:150]}")
            raise RuntimeError("bad answer")
        body = orjson.loads(response.content)
        objects = body.get("objects", ())
        samples.append((kind, began, elapsed, response.status_code, len(objects)))
        for obj in objects:
            sink(key(obj))
        last = response.headers.get("X-TAXII-Date-Added-Last") or last
        if not body.get("more"):
            return last
        params = {k: v for k, v in params.items() if k != "next"}
        params["next"] = body["next"]


def _reader(
    n: int,
    base_url: str,
    auth: str,
    collection: str,
    full_every: float,
    think: float,
    stop: Any,
    out: Any,
) -> None:
    client = Client(base_url, auth, collection=collection)
    samples: list[tuple[str, float, float, int, int]] = []
    errors: list[str] = []
    stream = Fingerprint()
    duplicates_in_full = 0
    added_after: str | None = None
    # Stagger the extra full pulls over the period.
    next_full = time.monotonic() + full_every * ((n * 7919) % 100) / 100
    try:
        added_after = pull(client, {"limit": 1000}, samples, "full", stream.add, errors)
        while not stop.is_set():
            if time.monotonic() >= next_full:
                seen: set[int] = set()
                count = [0]

                def sink(
                    k: tuple[str, str], seen: set[int] = seen, count: list[int] = count
                ) -> None:
                    count[0] += 1
                    seen.add(key_hash(k))

                pull(client, {"limit": 1000}, samples, "full", sink, errors)
                duplicates_in_full += count[0] - len(seen)
                next_full = time.monotonic() + full_every
            params: dict[str, Any] = {"limit": 500}
            if added_after:
                params["added_after"] = added_after
            added_after = (
                pull(client, params, samples, "incremental", stream.add, errors) or added_after
            )
            stop.wait(think)
        # Catch up once the writers are done and every status is complete.
        params = {"limit": 1000, **({"added_after": added_after} if added_after else {})}
        pull(client, params, samples, "incremental", stream.add, errors)
    except Exception as exc:
        errors.append(f"reader {n} stopped: {type(exc).__name__}: {str(exc)[:150]}")
    finally:
        client.close()
    out.put(
        {
            "reader": n,
            "samples": samples,
            "errors": errors,
            "stream": stream.value(),
            "duplicates_in_full": duplicates_in_full,
        }
    )


def reader_proc(ids: list[int], *args: Any) -> None:
    threads = [threading.Thread(target=_reader, args=(n, *args)) for n in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- writers (threads here) ------------------------------------------------------------------


class Writers:
    def __init__(self, stack: Stack, world: dict[str, Any], count: int, think: float) -> None:
        user = world["users"]["writer"]
        self.auth = basic(user["username"], user["password"])
        self.stack, self.world, self.count, self.think = stack, world, count, think
        self.stop = threading.Event()
        self.numbers = itertools.count()
        self.lock = threading.Lock()
        self.sent: dict[str, list[tuple[str, str]]] = {}
        self.samples: list[tuple[str, float, float, int, int]] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _run(self) -> None:
        client = Client(self.stack.base_url, self.auth, collection=self.world["collection"])
        try:
            while not self.stop.is_set():
                n = next(self.numbers)
                size = LARGE if n % LARGE_EVERY == LARGE_EVERY - 1 else SMALL
                objects = batch("load", n * 10_000, size)
                kind = "post-large" if size == LARGE else "post"
                began = time.monotonic()
                try:
                    response = client.post_objects(objects)
                except requests.RequestException as exc:
                    with self.lock:
                        self.samples.append((kind, began, time.monotonic() - began, 0, size))
                        self.errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:120]}")
                    continue
                with self.lock:
                    self.samples.append(
                        (kind, began, time.monotonic() - began, response.status_code, size)
                    )
                    if response.status_code == 202:
                        status = orjson.loads(response.content)
                        self.sent[status["id"]] = [key(o) for o in objects]
                    else:
                        self.errors.append(
                            f"{kind}: HTTP {response.status_code}: {response.text[:150]}"
                        )
                self.stop.wait(self.think)
        finally:
            client.close()
