"""API roots and collections; a collection's default TLP changes through
``intelshare.services``."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework import serializers

from intelshare import services
from intelshare.api.fields import SlugRelated, TlpField
from intelshare.models import ApiRoot, Collection


class ApiRootSerializer(serializers.ModelSerializer):
    # Explicit bounds: the model's depend on the database (and so would the schema).
    max_content_length = serializers.IntegerField(
        min_value=1024,
        max_value=2**31 - 1,
        required=False,
        help_text="Largest POST body accepted, in octets (TAXII 2.1 §4.2).",
    )

    class Meta:
        model = ApiRoot
        fields = ("id", "slug", "title", "description", "max_content_length", "is_default")
        read_only_fields = ("id",)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("is_default"):
            other = ApiRoot.objects.filter(is_default=True)
            if self.instance is not None:
                other = other.exclude(pk=self.instance.pk)
            if other.exists():
                raise serializers.ValidationError(
                    {"is_default": f"{other.first()} is the default API root; unset it first."}
                )
        return attrs


class CollectionSerializer(serializers.ModelSerializer):
    api_root = SlugRelated(slug_field="slug", queryset=ApiRoot.objects.all())
    default_tlp = TlpField(
        required=False, help_text=Collection._meta.get_field("default_tlp").help_text
    )
    alias = serializers.SlugField(max_length=100, required=False, allow_null=True)
    media_types = serializers.ListField(child=serializers.CharField(max_length=200), read_only=True)

    class Meta:
        model = Collection
        fields = (
            "id",
            "api_root",
            "title",
            "description",
            "alias",
            "media_types",
            "default_tlp",
            "created",
        )
        read_only_fields = ("id", "created")
        validators: list[Any] = []  # the alias clash is reported on "alias" (validate)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        root = attrs.get("api_root", getattr(self.instance, "api_root", None))
        alias = attrs.get("alias", getattr(self.instance, "alias", None))
        if alias:
            clash = Collection.objects.filter(api_root=root, alias=alias)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError(
                    {"alias": "Another collection of this API root has this alias."}
                )
        return attrs

    @transaction.atomic
    def update(self, instance: Collection, validated_data: dict[str, Any]) -> Collection:
        tlp = validated_data.pop("default_tlp", instance.default_tlp)
        instance = super().update(instance, validated_data)
        if tlp != instance.default_tlp:
            services.collection_set_default_tlp(collection=instance, default_tlp=tlp)
        return instance
