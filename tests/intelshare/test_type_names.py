"""One STIX type-name rule (STIX 2.1 §2.7: no "--", 3-250 characters) for the TAXII
filters, the management API, the admin forms and ``manage.py agree``."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError
from django.forms import ValidationError as FormError
from rest_framework.exceptions import ValidationError as ApiError

from intelshare import stix
from intelshare.admin.forms import StixTypesField
from intelshare.api.fields import stix_types
from intelshare.management.commands.agree import _types

GOOD = ["indicator", "x-llm-prompt", "attack-pattern"]
BAD = ["a--b", "x-llm--prompt", "Indicator", "ab", "-x-", "x_y"]


@pytest.mark.parametrize("name", GOOD)
def test_every_door_accepts_a_type_name(name: str) -> None:
    assert stix.TYPE.fullmatch(name)
    assert StixTypesField(empty_value=None).to_python(name) == [name]
    assert stix_types().to_internal_value([name]) == [name]
    assert _types([name], "--allow-type") == [name]


@pytest.mark.parametrize("name", BAD)
def test_every_door_refuses_what_stix_refuses(name: str) -> None:
    assert not stix.TYPE.fullmatch(name)
    with pytest.raises(FormError):
        StixTypesField(empty_value=None).to_python(name)
    with pytest.raises(ApiError):
        stix_types().to_internal_value([name])
    with pytest.raises(CommandError):
        _types([name], "--allow-type")
