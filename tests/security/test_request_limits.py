"""Request bodies outside TAXII are bounded too .

TAXII POST bodies are bounded per API root by ``max_content_length`` before
they are read (tests/taxii/test_limits.py, test_bad_input.py). Everything else
(the admin's login form, the management API, any form POST an anonymous
caller can reach) must be refused before a huge body is buffered in memory.
"""

from __future__ import annotations

import pytest
from django.test import Client

BIG = 3 * 1024 * 1024  # over Django's default DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB)


@pytest.mark.django_db
def test_an_anonymous_oversized_form_post_is_refused() -> None:
    body = b"username=x&password=" + b"a" * BIG
    response = Client().post(
        "/admin/login/", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (400, 413)
