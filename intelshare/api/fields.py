"""Serializer fields and error mapping shared by the management API's serializers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from intelshare import paths, stix


class SlugRelated(serializers.SlugRelatedField):
    """A row named by its slug; a control character names none (and PostgreSQL text
    cannot even be compared with NUL, which DRF's own field would let through)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and not paths.is_name(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


class TlpField(serializers.ChoiceField):
    """A TLP 2.0 level by name (``clear`` … ``red``), stored as its rank."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=list(stix.TLP_BY_NAME), **kwargs)

    def to_internal_value(self, data: Any) -> int:
        return stix.TLP_BY_NAME[super().to_internal_value(data)]

    def to_representation(self, value: Any) -> str:
        return stix.TLP_NAMES[int(value)]


class SecondsField(serializers.IntegerField):
    """A duration as whole seconds."""

    def to_internal_value(self, data: Any) -> timedelta:
        return timedelta(seconds=super().to_internal_value(data))

    def run_validators(self, value: Any) -> None:
        super().run_validators(int(value.total_seconds()))  # min/max are in seconds

    def to_representation(self, value: Any) -> int:
        return int(value.total_seconds())


def stix_types(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.RegexField(rf"^{stix.TYPE_NAME}\Z", max_length=250),
        max_length=200,
        **kwargs,
    )


@contextmanager
def field_errors(rename: Callable[[str], str] | None = None) -> Iterator[None]:
    """Turn a service's Django ``ValidationError`` into a DRF 400 with field errors."""
    try:
        yield
    except DjangoValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise serializers.ValidationError(
                {(rename(k) if rename else k): v for k, v in exc.message_dict.items()}
            ) from None
        raise serializers.ValidationError({"non_field_errors": exc.messages}) from None
