"""Per-partner rate limits (RFC 6585 429 + Retry-After) and request bounds."""

from __future__ import annotations

from typing import Any

import orjson
from django.core.cache import cache

from intelshare import services
from intelshare.models import Agreement
from tests.factories import World


def test_agreement_rate_limit_answers_429_with_retry_after(world: World, taxii: Any) -> None:
    cache.clear()
    agreement = Agreement.objects.get(partner=world.personas["globex"].user.partner)
    services.agreement_update(agreement=agreement, rate_limit=3)
    cache.clear()
    client = taxii("globex")
    codes = [client.get("/taxii2/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get("/taxii2/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert orjson.loads(response.content)["http_status"] == "429"
    # other partners and staff are not affected
    assert taxii("acme").get("/taxii2/").status_code == 200
    assert all(taxii("staff").get("/taxii2/").status_code == 200 for _ in range(5))


def test_hub_default_rate_limit(world: World, taxii: Any, settings: Any) -> None:
    cache.clear()
    settings.INTELSHARE_RATE_LIMIT = 2
    client = taxii("acme")
    assert [client.get("/taxii2/").status_code for _ in range(3)] == [200, 200, 429]


def test_envelopes_beyond_djangos_form_limit_are_accepted(
    world: World, taxii: Any, settings: Any
) -> None:
    """§4.2.1: bodies under max_content_length are accepted (no 413), even above
    Django's DATA_UPLOAD_MAX_MEMORY_SIZE, which still guards every other view."""
    from tests.factories import indicator

    body = orjson.dumps({"objects": [indicator(n, description="x" * 400_000) for n in range(10)]})
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = taxii("acme").post(f"/taxii2/intel/collections/{world.collection.pk}/objects/", body)
    assert response.status_code == 202
    assert orjson.loads(response.content)["success_count"] == 10
