"""A large TAXII POST processed by a real Celery worker process (§5.5, §4.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from intelshare.models import ObjectVersion, Status
from tests.factories import indicator
from tests.integration.celery_worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_large_envelope_completes_in_a_real_worker(
    taxii: Any, world: Any, settings: Any, tmp_path: Path
) -> None:
    """The 202 comes first with a pending status; a worker on the real broker stores
    every object and the status ends complete with exact counts."""
    settings.INTELSHARE_INLINE_MAX_OBJECTS = 10
    objects = [indicator(n) for n in range(1200)]
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    response = taxii("acme").post(path, orjson.dumps({"objects": objects}))
    assert response.status_code == 202
    status_id = orjson.loads(response.content)["id"]
    assert Status.objects.get(pk=status_id).status == Status.PENDING
    with celery_worker(tmp_path / "worker.log"):
        wait_for(
            lambda: Status.objects.get(pk=status_id).status == Status.COMPLETE,
            timeout=90,
            what="the worker to complete the status",
        )
    status = orjson.loads(taxii("acme").get(f"/taxii2/intel/status/{status_id}/").content)
    assert (status["success_count"], status["failure_count"], status["pending_count"]) == (
        1200,
        0,
        0,
    )
    assert ObjectVersion.objects.filter(collection=world.collection).count() == 1200
