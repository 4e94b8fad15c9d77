"""Several nodes of one deployment, started as docker-compose starts them: two gunicorn
groups (``config.wsgi``) with their own var directory, two Celery workers, one
PostgreSQL database, one Redis broker and cache, and the same SECRET_KEY and
INTELSHARE_SYNC_KEYS everywhere.

A partner whose load balancer switches node on every request still walks a
collection through ``next`` (TAXII 2.1 §3.4) and gets every version once; large
POSTs (§5.5) answered by either node are processed by whichever worker is free,
each status completing once; a feed credential saved by a web node is read by
another process.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from cryptography.fernet import Fernet

from intelshare import ingest
from intelshare.models import TAXII_21, ObjectVersion
from sync.models import Feed
from tests.factories import World, indicator
from tests.integration.celery_worker import celery_worker, wait_for
from tests.integration.celery_worker import test_database_url as database_url

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = 10_000  # 5,000 indicators with two versions each
PAGE = 1000
INLINE_MAX = 50
ENVELOPES, ENVELOPE_SIZE = 8, 300

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.live,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="several nodes share PostgreSQL",
    ),
    pytest.mark.skipif(
        not (
            os.environ.get("CELERY_BROKER_URL", "").startswith("redis")
            and os.environ.get("CACHE_URL", "").startswith("redis")
        ),
        reason="several nodes share a Redis broker and cache",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _gunicorn(name: str, env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """One web node as docker-compose runs it (its var dir its own), on a free port."""
    port = _free_port()
    log_path = tmp_path / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env={**env, "INTELSHARE_VAR_DIR": str(tmp_path / name)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ready(base: str, timeout: float = 90) -> None:
    def up() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout, f"{base} to start")


def _load(world: World) -> set[tuple[str, str]]:
    """10,000 versions stored through ingest in a few large batches."""
    expected: set[tuple[str, str]] = set()
    for version in (0, 1):
        objects = [indicator(n, version=version) for n in range(VERSIONS // 2)]
        result = ingest.store(collection=world.collection, objects=objects)
        assert result.new == len(objects)
        expected |= {(o["id"], o["modified"]) for o in objects}
    return expected


def test_nodes_share_keys_next_tokens_workers_and_credentials(
    world: World, tmp_path: Path, settings: Any
) -> None:
    keys = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "INTELSHARE_SYNC_KEYS": Fernet.generate_key().decode(),
    }
    env = {
        **os.environ,
        **keys,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "CACHE_URL": settings.CACHE_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "DEBUG": "false",
        "INTELSHARE_INLINE_MAX_OBJECTS": str(INLINE_MAX),
        "INTELSHARE_MAX_PAGE_SIZE": str(PAGE),
    }
    # Bearer tokens: the test run's password hasher is not the nodes'.
    headers = {"Accept": TAXII_21, "Authorization": world.personas["acme"].bearer}
    with ExitStack() as stack:
        nodes = [stack.enter_context(_gunicorn(name, env, tmp_path)) for name in ("a", "b")]
        workers = [tmp_path / f"worker-{name}.log" for name in ("a", "b")]
        for log in workers:
            stack.enter_context(
                celery_worker(
                    log,
                    *[(k, env[k]) for k in (*keys, "CACHE_URL", "DJANGO_SETTINGS_MODULE")],
                    ("INTELSHARE_VAR_DIR", str(tmp_path / log.stem)),
                )
            )
        expected = _load(world)  # while the nodes start
        for base in nodes:
            _ready(base)
        for log in workers:
            wait_for(
                lambda log=log: " ready." in log.read_text(errors="replace"),
                90,
                f"{log.stem} to start",
            )

        # A walk through next, on node a, b, a, b…: every version once.
        collection = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
        seen: list[tuple[str, str]] = []
        params: dict[str, Any] = {"match[version]": "all", "limit": PAGE}
        page = 0
        while True:
            response = requests.get(
                nodes[page % 2] + collection, params=params, headers=headers, timeout=60
            )
            assert response.status_code == 200, (page, response.text[:300])
            envelope = response.json()
            seen += [(o["id"], o["modified"]) for o in envelope.get("objects", [])]
            page += 1
            if not envelope.get("more"):
                break
            params = {"match[version]": "all", "limit": PAGE, "next": envelope["next"]}
        assert page >= VERSIONS // PAGE
        assert len(seen) == len(set(seen)) == VERSIONS
        assert set(seen) == expected

        # Large POSTs, alternating nodes, each answered 202 pending; the two workers
        # share them and every status completes once, with exact counts.
        status_ids = []
        for n in range(ENVELOPES):
            objects = [indicator(100_000 + n * ENVELOPE_SIZE + i) for i in range(ENVELOPE_SIZE)]
            response = requests.post(
                nodes[n % 2] + collection,
                data=orjson.dumps({"objects": objects}),
                headers={**headers, "Content-Type": TAXII_21},
                timeout=60,
            )
            assert response.status_code == 202, response.text[:300]
            status_ids.append(response.json()["id"])
        statuses: dict[str, Any] = {}

        def all_complete() -> bool:
            for i, status_id in enumerate(status_ids):
                if status_id not in statuses:
                    body = requests.get(
                        f"{nodes[i % 2]}/taxii2/intel/status/{status_id}/",
                        headers=headers,
                        timeout=30,
                    ).json()
                    if body["status"] == "complete":
                        statuses[status_id] = body
            return len(statuses) == len(status_ids)

        wait_for(all_complete, 120, "the workers to complete every status")
        for body in statuses.values():
            assert (body["success_count"], body["failure_count"], body["pending_count"]) == (
                ENVELOPE_SIZE,
                0,
                0,
            )
        completions = [
            Counter(re.findall(r"status (\S+) complete:", log.read_text(errors="replace")))
            for log in workers
        ]
        assert sum(completions, Counter()) == Counter(status_ids)
        assert all(completions), "one worker did all the work"
        assert (
            ObjectVersion.objects.filter(collection=world.collection).count()
            == VERSIONS + ENVELOPES * ENVELOPE_SIZE
        )

        # A feed credential encrypted by node a is decrypted here, with the shared keys.
        staff = {"Authorization": world.personas["staff"].bearer}
        feed_secret = "feed-secret-" + secrets.token_urlsafe(16)
        created = requests.post(
            f"{nodes[0]}/api/v1/feeds/",
            json={
                "name": "shared-key-feed",
                "partner": "acme",
                "direction": "pull",
                "collection": str(world.collection.pk),
                "api_root_url": "https://p.invalid/api1/",
                "remote_collection_id": "c1",
                "auth_type": "bearer",
                "secret": feed_secret,
            },
            headers=staff,
            timeout=30,
        )
        assert created.status_code == 201, created.text[:300]
    settings.INTELSHARE_SYNC_KEYS = [keys["INTELSHARE_SYNC_KEYS"]]
    assert Feed.objects.get(name="shared-key-feed").secret == feed_secret
