"""A small TAXII 2.1 HTTP client for the drills, and the judge of error answers."""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests

TAXII = "application/taxii+json;version=2.1"
TIMEOUT = (5.0, 60.0)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Client:
    """One caller (an Authorization header value) on one thread."""

    def __init__(
        self, base_url: str, authorization: str, *, root: str = "drills", collection: str = ""
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.root, self.collection = root, collection
        self.session = requests.Session()
        self.session.headers.update({"Accept": TAXII, "Authorization": authorization})

    @property
    def objects_path(self) -> str:
        return f"/taxii2/{self.root}/collections/{self.collection}/objects/"

    def get(self, path: str, params: dict[str, Any] | None = None) -> requests.Response:
        return self.session.get(self.base_url + path, params=params, timeout=TIMEOUT)

    def post_objects(self, objects: list[dict[str, Any]]) -> requests.Response:
        return self.session.post(
            self.base_url + self.objects_path,
            data=orjson.dumps({"objects": objects}),
            headers={"Content-Type": TAXII},
            timeout=TIMEOUT,
        )

    def status(self, status_id: str) -> requests.Response:
        return self.get(f"/taxii2/{self.root}/status/{status_id}/")

    def close(self) -> None:
        self.session.close()


def unavailable_problem(response: requests.Response) -> str | None:
    """None when ``response`` is a proper 503: a TAXII error message (§3.6.1) with a
    numeric ``Retry-After``; else what is wrong with it."""
    if response.status_code != 503:
        return f"HTTP {response.status_code}"
    if not response.headers.get("Content-Type", "").startswith("application/taxii+json"):
        return f"503 with Content-Type {response.headers.get('Content-Type')!r}"
    retry_after = response.headers.get("Retry-After", "")
    if not retry_after.isdigit():
        return f"503 without a numeric Retry-After ({retry_after!r})"
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return "503 whose body is not JSON"
    if body.get("http_status") != "503" or "title" not in body:
        return f"503 whose body is not a TAXII error message: {str(body)[:200]}"
    if "Traceback" in response.text:
        return "503 with a traceback in the body"
    return None


def retry_after(response: requests.Response, cap: float) -> float:
    value = response.headers.get("Retry-After", "")
    return min(float(value), cap) if value.isdigit() else cap


@dataclass
class Tally:
    """What clients saw, thread-safe: answers by status, problems, timings."""

    codes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    first_503: float | None = None
    last_503: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, response: requests.Response | None, *, error: str = "") -> None:
        now = time.monotonic()
        with self.lock:
            if response is None:
                self.codes["no answer"] += 1
                self.problems.append(f"no answer: {error[:150]}")
                return
            self.codes[str(response.status_code)] += 1
            if response.status_code == 503:
                self.first_503 = self.first_503 or now
                self.last_503 = now
                problem = unavailable_problem(response)
                if problem:
                    self.problems.append(problem)
            elif response.status_code >= 400:
                self.problems.append(f"HTTP {response.status_code}: {response.text[:200]}")

    def summary(self) -> str:
        return ", ".join(f"{n}x{code}" for code, n in sorted(self.codes.items()))
