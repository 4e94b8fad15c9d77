"""The README's quick start: ``manage.py demo`` runs web, worker and beat with the
demo content and the printed credentials."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from intelshare.demo import ACCOUNTS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.live


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_serves_taxii_with_printed_credentials(tmp_path: Path) -> None:
    """Discovery (§4.1) and a page of the starter pack (§5.4) as a demo partner; a
    POST large enough for the worker completes (§5.5); SIGTERM stops every process."""
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")
    }
    env.update(INTELSHARE_VAR_DIR=str(tmp_path), INTELSHARE_INLINE_MAX_OBJECTS="2")
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/taxii2/"
    headers = {"Accept": "application/taxii+json;version=2.1"}
    acme = next(a for a in ACCOUNTS if a.username == "acme-analyst")
    auth = (acme.username, acme.password)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                response = requests.get(base, auth=auth, headers=headers, timeout=30)
                break
            except (requests.ConnectionError, requests.Timeout):
                # gunicorn binds before its workers have loaded the app: a busy
                # machine answers the first request late, not wrongly.
                assert proc.poll() is None, (tmp_path / "demo.log").read_text()
                assert time.monotonic() < deadline, "demo did not start"
                time.sleep(0.5)
        assert response.status_code == 200
        objects = requests.get(
            f"{base}intel/collections/llm-misuse/objects/",
            params={"match[type]": "intrusion-set"},
            auth=auth,
            headers=headers,
            timeout=30,
        ).json()["objects"]
        assert {o["name"] for o in objects} >= {"Forest Blizzard", "Salmon Typhoon"}
        from tests.factories import indicator

        status = requests.post(
            f"{base}intel/collections/llm-misuse/objects/",
            json={"objects": [indicator(n) for n in range(5)]},
            auth=auth,
            headers={**headers, "Content-Type": "application/taxii+json;version=2.1"},
            timeout=30,
        ).json()
        assert status["status"] == "pending"
        status_url = f"{base}intel/status/{status['id']}/"
        for _ in range(120):
            status = requests.get(status_url, auth=auth, headers=headers, timeout=30).json()
            if status["status"] == "complete":
                break
            time.sleep(0.5)
        assert status["status"] == "complete" and status["success_count"] == 5
        # Two web workers share one multiprocess directory: counters only grow.
        served = (
            'intelshare_http_requests_total{endpoint="taxii:objects",method="GET",status="200"}'
        )
        seen = []
        for _ in range(6):
            requests.get(
                f"{base}intel/collections/llm-misuse/objects/",
                auth=auth,
                headers=headers,
                timeout=30,
            )
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
            seen.append(
                next(
                    float(line.rsplit(" ", 1)[1])
                    for line in text.splitlines()
                    if line.startswith(served)
                )
            )
        assert seen == sorted(seen) and seen[-1] >= 7, seen
        assert (tmp_path / "prometheus").is_dir()
        landing = requests.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert landing.status_code == 200 and "/taxii2/" in landing.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
    leftovers = subprocess.run(
        ["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True
    ).stdout.strip()
    assert leftovers == ""
