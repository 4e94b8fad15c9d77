"""medallion 3.0.0, the OASIS reference TAXII 2.1 server, as a live partner for tests.

``MedallionServer`` writes a config and a data file under a directory the caller
owns, starts ``python -m medallion.scripts.run`` (the ``medallion`` console
script's module; the package has no ``__main__``) bound to 127.0.0.1 on a free
port, waits until ``/taxii2/`` answers, and stops the process by pid.

What medallion 3.0.0 does that tests depend on (read from its source):

- Config: ``{"backend": {"module": ..., "module_class": ..., "filename": ...},
  "users": {name: plaintext password}, "taxii": {"max_page_size": n}}``; both
  ``module`` and ``module_class`` are required. Extra backend keys go to the
  backend: ``session_timeout`` (seconds a ``next`` token lives, default 30) and
  ``check_interval`` (how often expired tokens are swept, default 10).
- The memory backend reads the data file once and never writes it back:
  objects POSTed at runtime are **lost on restart**; ``restart()`` returns the
  server to its seed.
- All objects in one POST share one ``date_added`` (the request time).
- ``more: true`` always comes with ``next``. The token is a snapshot of the
  remaining result list taken at the first request; the same token is returned
  for every page of one query. ``added_after`` is strictly greater-than.
- Empty results carry no ``X-TAXII-Date-Added-*`` headers.
- Re-posting an identical (id, modified) is reported as a *failure*
  ("Unable to process object"); statuses are ``complete`` at once.
- The first page of a query costs O(n²) in the collection size (it matches
  every object against the manifest by parsing timestamps), so keep
  collections at a few thousand objects at most.
"""

from __future__ import annotations

import atexit
import itertools
import json
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from tools.procs import Logged, free_port

MEDIA_TYPE_TAXII_V21 = "application/taxii+json;version=2.1"
API_ROOT = "api1"
USERNAME = "partner"
PASSWORD = "partner-secret"
# medallion's sample data points at http://localhost:5000/; anything we write
# is rewritten to the real address (see _rewrite_urls).
_SAMPLE_BASE_URL = "http://localhost:5000/"
_NAMESPACE = uuid.UUID("6f1b9bd4-3d35-4f43-9d4e-5b0c7a1e2f00")


def taxii_timestamp(value: datetime) -> str:
    """Format a datetime as a TAXII 2.1 timestamp (§2: UTC, microseconds, ``Z``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _millis(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def make_indicators(
    count: int, *, label: str = "seed", start: datetime | None = None
) -> list[dict[str, Any]]:
    """``count`` distinct STIX 2.1 indicators with deterministic ids.

    Ids derive from ``label`` and the sequence number, so two calls with
    different labels never collide and one label always yields the same set.
    """
    base = start or datetime(2024, 1, 1, tzinfo=UTC)
    objects = []
    for seq in range(count):
        ts = _millis(base + timedelta(milliseconds=seq))
        objects.append(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.uuid5(_NAMESPACE, f'{label}/{seq}')}",
                "created": ts,
                "modified": ts,
                "name": f"{label} prompt-injection marker {seq}",
                "pattern": f"[url:value = 'https://{label}.example/{seq}']",
                "pattern_type": "stix",
                "valid_from": ts,
            }
        )
    return objects


def _version(base: Mapping[str, Any], n: int) -> dict[str, Any]:
    """Version ``n`` (from 0) of ``base``: ``modified`` = created + n seconds."""
    created = datetime.strptime(base["created"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return {
        **base,
        "modified": _millis(created + timedelta(seconds=n)),
        "name": f"{base['name']} v{n}",
    }


def make_versioned_seed(
    versions: Sequence[int],
    *,
    label: str,
    start: datetime,
    posts: Sequence[int] = (1, 2, 3, 5),
) -> list[tuple[datetime, dict[str, Any]]]:
    """``versions[i]`` versions of the i-th of ``len(versions)`` indicators, each
    paired with its ``date_added``, in the order the partner received them.

    The first two versions of an id with three or more arrive together; every
    later version (the second of a two-version id too) after all the first ones.
    Arrivals are grouped in POSTs of ``posts`` sizes (cycled), and a POST shares
    one ``date_added``, as medallion stamps it: pages of a few objects then hold
    several versions of one id, and versions sharing a ``date_added`` straddle
    page boundaries.
    """
    early: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    for base, count in zip(
        make_indicators(len(versions), label=label, start=start), versions, strict=True
    ):
        together = 2 if count >= 3 else 1
        early.extend(_version(base, n) for n in range(together))
        late.extend(_version(base, n) for n in range(together, count))
    arrivals = iter(early + late)
    seed: list[tuple[datetime, dict[str, Any]]] = []
    for post, size in enumerate(itertools.cycle(posts)):
        chunk = list(itertools.islice(arrivals, size))
        if not chunk:
            return seed
        added = start + timedelta(microseconds=1 + 997 * post)
        seed.extend((added, obj) for obj in chunk)
    return seed


@dataclass(frozen=True)
class MedallionCollection:
    """One collection of the partner's API root, with optional seed content.

    ``seed`` pairs each object with the ``date_added`` medallion will report
    for it, so tests can assert exact header values.
    """

    id: str
    title: str
    can_read: bool = True
    can_write: bool = True
    seed: Sequence[tuple[datetime, Mapping[str, Any]]] = field(default=())


RW_COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
RO_COLLECTION = "52892447-4d7e-4f70-b94d-d7f22742ff63"
DEFAULT_COLLECTIONS = (
    MedallionCollection(id=RW_COLLECTION, title="Partner read-write"),
    MedallionCollection(id=RO_COLLECTION, title="Partner read-only", can_write=False),
)


class MedallionServer:
    """A medallion process on 127.0.0.1 with its files under ``workdir``.

    Use as a context manager (or call ``start()``/``stop()``). Nothing is left
    running: ``stop()`` is also registered with ``atexit`` while running.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        collections: Sequence[MedallionCollection] = DEFAULT_COLLECTIONS,
        users: Mapping[str, str] | None = None,
        max_page_size: int = 100,
        max_content_length: int = 10 * 1024 * 1024,
        session_timeout: int = 30,
        check_interval: int = 5,
        startup_timeout: float = 20.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.collections = tuple(collections)
        self.users = dict(users) if users is not None else {USERNAME: PASSWORD}
        self.username, self.password = next(iter(self.users.items()))
        self.max_page_size = max_page_size
        self.max_content_length = max_content_length
        self.session_timeout = session_timeout
        self.check_interval = check_interval
        self.startup_timeout = startup_timeout
        self.port = 0
        self.config_path = self.workdir / "medallion-config.json"
        self.data_path = self.workdir / "medallion-data.json"
        self.log_path = self.workdir / "medallion.log"
        self._process = Logged("medallion", self.log_path)

    # -- addresses ----------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, with a trailing slash; discovery is ``url + "taxii2/"``."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def discovery_url(self) -> str:
        return f"{self.url}taxii2/"

    @property
    def api_root_url(self) -> str:
        return f"{self.url}{API_ROOT}/"

    def collection_url(self, collection_id: str) -> str:
        return f"{self.api_root_url}collections/{collection_id}/"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.alive

    # -- lifecycle ----------------------------------------------------------

    def __enter__(self) -> MedallionServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> MedallionServer:
        """Write config and data, start the process, wait for ``/taxii2/``."""
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        pick_port = self.port == 0
        for _attempt in range(3):
            if pick_port:
                self.port = free_port()
            self._write_files()
            self._spawn()
            if self._wait_ready():
                atexit.register(self.stop)
                return self
            # Lost the race for the port to another process: try another one.
            self.stop()
            if not pick_port:
                break
        raise RuntimeError(f"medallion did not start on port {self.port}:\n{self._log_tail()}")

    def stop(self) -> None:
        """Terminate the process by pid; kill it if it ignores SIGTERM."""
        if self._process.popen is not None:
            atexit.unregister(self.stop)
        self._process.stop(grace=5)

    def restart(self) -> None:
        """Stop and start on the same port.

        The memory backend never saves, so the server comes back with the
        seed data only; objects added since start are gone.
        """
        self.stop()
        self.start()

    # -- convenience --------------------------------------------------------

    def add_objects(
        self, collection_id: str, objects: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """POST an envelope (TAXII 2.1 §5.5) and return the status resource."""
        response = requests.post(
            f"{self.collection_url(collection_id)}objects/",
            data=json.dumps({"objects": list(objects)}),
            headers={
                "Accept": MEDIA_TYPE_TAXII_V21,
                "Content-Type": MEDIA_TYPE_TAXII_V21,
            },
            auth=self.auth,
            timeout=60,
        )
        response.raise_for_status()
        status: dict[str, Any] = response.json()
        return status

    def get(self, path: str, **params: str) -> requests.Response:
        """GET ``url + path`` with the partner's credentials and TAXII Accept."""
        return requests.get(
            f"{self.url}{path.lstrip('/')}",
            params=params,
            headers={"Accept": MEDIA_TYPE_TAXII_V21},
            auth=self.auth,
            timeout=30,
        )

    def versions(self, collection_id: str) -> set[tuple[str, str]]:
        """Every (id, version) the collection serves, asked with
        ``match[version]=all`` (TAXII 2.1 §3.4.1) by plain requests following
        ``next``; medallion needs ``limit`` on a ``next`` request too."""
        found: list[tuple[str, str]] = []
        params = {"match[version]": "all", "limit": str(self.max_page_size)}
        while True:
            response = self.get(f"api1/collections/{collection_id}/objects/", **params)
            response.raise_for_status()
            body = response.json()
            found.extend(
                (obj["id"], obj.get("modified", obj.get("created")))
                for obj in body.get("objects", [])
            )
            if not body.get("more"):
                if len(found) != len(set(found)):
                    raise AssertionError("medallion served a version twice")
                return set(found)
            params = {**params, "next": body["next"]}

    # -- internals ----------------------------------------------------------

    def _write_files(self) -> None:
        config = {
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": str(self.data_path),
                "session_timeout": self.session_timeout,
                "check_interval": self.check_interval,
            },
            "users": self.users,
            "taxii": {"max_page_size": self.max_page_size},
        }
        self.config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        if not self.data_path.exists():
            text = json.dumps(self._data(), indent=1)
            self.data_path.write_text(text, encoding="utf-8")
        # The port may have changed since the data file was written.
        self.data_path.write_text(
            self._rewrite_urls(self.data_path.read_text(encoding="utf-8")),
            encoding="utf-8",
        )

    def _rewrite_urls(self, text: str) -> str:
        data = json.loads(text.replace(_SAMPLE_BASE_URL, self.url))
        discovery = data.get("/discovery", {})
        discovery["api_roots"] = [self.api_root_url]
        discovery["default"] = self.api_root_url
        return json.dumps(data, indent=1)

    def _data(self) -> dict[str, Any]:
        media_type = "application/stix+json;version=2.1"
        collections = []
        for spec in self.collections:
            seed = sorted(spec.seed, key=lambda pair: pair[0])
            collections.append(
                {
                    "id": spec.id,
                    "title": spec.title,
                    "can_read": spec.can_read,
                    "can_write": spec.can_write,
                    "media_types": [media_type],
                    "objects": [dict(obj) for _, obj in seed],
                    "manifest": [
                        {
                            "id": obj["id"],
                            "date_added": taxii_timestamp(added),
                            "version": obj.get("modified", obj.get("created")),
                            "media_type": media_type,
                        }
                        for added, obj in seed
                    ],
                }
            )
        return {
            "/discovery": {
                "title": "Partner TAXII server (medallion)",
                "description": "medallion 3.0.0 started by the intelshare tests",
                "contact": "tests@intelshare.invalid",
                "default": self.api_root_url,
                "api_roots": [self.api_root_url],
            },
            API_ROOT: {
                "information": {
                    "title": "Partner API root",
                    "description": "LLM misuse intel shared by a partner",
                    "versions": [MEDIA_TYPE_TAXII_V21],
                    "max_content_length": self.max_content_length,
                },
                "status": [],
                "collections": collections,
            },
        }

    def _spawn(self) -> None:
        argv = [sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--log-level", "WARN", str(self.config_path)]
        self._process.spawn(argv, None, self.workdir)

    def _wait_ready(self) -> bool:
        return self._process.wait_http(
            self.discovery_url,
            timeout=self.startup_timeout,
            auth=self.auth,
            headers={"Accept": MEDIA_TYPE_TAXII_V21},
            interval=0.05,
        )

    def _log_tail(self, lines: int = 30) -> str:
        return self._process.log_tail(lines)
