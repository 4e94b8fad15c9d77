"""Read-only views for staff: audit events, the explanation of a decision and the
preview of what a partner sees."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from intelshare import audit
from intelshare.api.serializers.accounts import partner_field
from intelshare.models import AuditEvent, Collection


class _KeysField(serializers.ListField):
    """An event's stored ``versions`` (runs of keys) as the keys themselves."""

    def to_representation(self, data: Any) -> Any:
        return super().to_representation(audit.keys(data or []))


class AuditEventSerializer(serializers.ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    user = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    filters = serializers.DictField(child=serializers.CharField(), read_only=True)
    versions = _KeysField(
        child=serializers.IntegerField(),
        read_only=True,
        help_text="Keys of the versions served or stored.",
    )

    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "at",
            "partner",
            "user",
            "token",
            "method",
            "endpoint",
            "collection",
            "object_id",
            "filters",
            "status_code",
            "count",
            "versions",
        )
        read_only_fields = fields


class ExplainQuerySerializer(serializers.Serializer):
    partner = partner_field(help_text="The partner's slug.")
    stix_id = serializers.CharField(max_length=300)


class DecisionSerializer(serializers.Serializer):
    collection = serializers.UUIDField(source="collection_id")
    version = serializers.CharField()
    date_added = serializers.DateTimeField()
    shared = serializers.BooleanField(source="decision.shared")
    rule = serializers.CharField(
        source="decision.rule", help_text="The rule that decided (policy.decide)."
    )


class ReceiptSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    collection = serializers.UUIDField(source="collection_id", allow_null=True)
    version = serializers.CharField()
    endpoint = serializers.CharField()


class ExplanationSerializer(serializers.Serializer):
    partner = serializers.CharField()
    stix_id = serializers.CharField()
    now = serializers.DateTimeField()
    versions = DecisionSerializer(many=True)
    received = ReceiptSerializer(
        many=True, help_text="Versions the partner was served (audit events), oldest first."
    )


class PreviewQuerySerializer(serializers.Serializer):
    partner = partner_field(help_text="The partner's slug.")
    collection = serializers.PrimaryKeyRelatedField(queryset=Collection.objects.all())
    cursor = serializers.CharField(
        required=False, max_length=1000, help_text="``next`` of the previous page."
    )
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    summary = serializers.BooleanField(
        default=True,
        help_text="Count withheld versions per rule (first page only; costs "
        "a pass over the collection).",
    )


class PreviewRowSerializer(serializers.Serializer):
    stix_id = serializers.CharField()
    type = serializers.CharField()
    version = serializers.CharField()
    date_added = serializers.DateTimeField(help_text="As the partner sees it.")


class PreviewSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    shared = serializers.IntegerField()
    withheld = serializers.DictField(
        child=serializers.IntegerField(), help_text="Versions withheld, by the deciding rule."
    )


class PreviewSerializer(serializers.Serializer):
    partner = serializers.CharField()
    collection = serializers.UUIDField()
    now = serializers.DateTimeField()
    versions = PreviewRowSerializer(many=True)
    next = serializers.CharField(allow_null=True)
    summary = PreviewSummarySerializer(allow_null=True)
