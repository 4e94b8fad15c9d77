"""Agreements with their consents and grants, written through ``intelshare.services``
(so widenings are recorded)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from rest_framework import serializers

from intelshare import services
from intelshare.api.fields import SecondsField, TlpField, stix_types
from intelshare.api.serializers.accounts import partner_field
from intelshare.models import Agreement, Collection, Grant


class GrantSerializer(serializers.Serializer):
    collection = serializers.PrimaryKeyRelatedField(queryset=Collection.objects.all())
    can_read = serializers.BooleanField(default=True)
    can_write = serializers.BooleanField(default=False)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {
            "collection": str(instance.collection_id),
            "can_read": instance.can_read,
            "can_write": instance.can_write,
        }


class AgreementSerializer(serializers.ModelSerializer):
    """An agreement with every rule, its consents and its grants."""

    partner = partner_field(help_text="The partner's slug; fixed at creation.")
    tlp_ceiling = TlpField(required=False, help_text="Highest TLP level the partner receives.")
    allowed_types = stix_types(
        allow_null=True, required=False, help_text="STIX types the partner receives; null = all."
    )
    denied_types = stix_types(required=False, help_text="STIX types never sent.")
    embargo = SecondsField(
        min_value=0,
        max_value=10 * 366 * 86400,
        required=False,
        help_text="Seconds after date_added before a version is seen.",
    )
    consents = partner_field(
        many=True,
        required=False,
        help_text="Partners that may receive this partner's TLP:AMBER contributions.",
    )
    rate_limit = serializers.IntegerField(
        min_value=1,
        max_value=1_000_000,
        allow_null=True,
        required=False,
        help_text="TAXII requests per minute; null = the hub default.",
    )
    grants = GrantSerializer(
        many=True, required=False, help_text="Access per collection; replaces the list when given."
    )

    class Meta:
        model = Agreement
        fields = (
            "id",
            "partner",
            "name",
            "tlp_ceiling",
            "allowed_types",
            "denied_types",
            "embargo",
            "valid_from",
            "valid_until",
            "granular_mode",
            "sightings",
            "consents",
            "rate_limit",
            "grants",
            "created",
            "updated",
        )
        read_only_fields = ("id", "created", "updated")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance: Agreement | None = self.instance
        partner = attrs.get("partner", getattr(instance, "partner", None))
        if instance is not None and "partner" in attrs and attrs["partner"] != instance.partner:
            raise serializers.ValidationError({"partner": "Fixed at creation."})
        start = attrs.get("valid_from", getattr(instance, "valid_from", None))
        end = attrs.get("valid_until", getattr(instance, "valid_until", None))
        if start is not None and end is not None and end <= start:
            raise serializers.ValidationError({"valid_until": "Must be after valid_from."})
        if partner is not None and partner in attrs.get("consents", ()):
            raise serializers.ValidationError(
                {"consents": "A partner always sees its own contributions."}
            )
        grants = attrs.get("grants")
        if grants is not None:
            seen = [g["collection"].pk for g in grants]
            if len(seen) != len(set(seen)):
                raise serializers.ValidationError({"grants": "One grant per collection."})
            held = Grant.objects.filter(partner=partner, collection_id__in=seen)
            if instance is not None:
                held = held.exclude(agreement=instance)
            clash = held.select_related("agreement").first()
            if clash is not None:
                raise serializers.ValidationError(
                    {
                        "grants": (
                            f"{partner} already has a grant on {clash.collection_id} under "
                            f"agreement {clash.agreement_id}; a partner has one set of rules "
                            "per collection."
                        )
                    }
                )
        return attrs

    def to_representation(self, instance: Agreement) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["grants"] = GrantSerializer(
            instance.grants.order_by("collection__created"), many=True
        ).data
        return data

    @staticmethod
    def _rules(validated: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in validated.items() if k in services.AGREEMENT_FIELDS}

    @staticmethod
    def _set_grants(agreement: Agreement, grants: Iterable[dict[str, Any]], replace: bool) -> None:
        wanted = {g["collection"].pk: g for g in grants}
        if replace:
            for grant in agreement.grants.select_related("collection"):
                if grant.collection_id not in wanted:
                    services.grant_remove(agreement=agreement, collection=grant.collection)
        for grant in wanted.values():
            # Under PATCH (partial) the nested defaults are not applied.
            services.grant_set(
                agreement=agreement,
                collection=grant["collection"],
                can_read=grant.get("can_read", True),
                can_write=grant.get("can_write", False),
            )

    @transaction.atomic
    def create(self, validated_data: dict[str, Any]) -> Agreement:
        agreement = services.agreement_create(
            partner=validated_data["partner"],
            name=validated_data["name"],
            consents=validated_data.get("consents", ()),
            **{k: v for k, v in self._rules(validated_data).items() if k != "name"},
        )
        self._set_grants(agreement, validated_data.get("grants", ()), replace=False)
        return agreement

    @transaction.atomic
    def update(self, instance: Agreement, validated_data: dict[str, Any]) -> Agreement:
        services.agreement_update(
            agreement=instance,
            consents=validated_data.get("consents"),
            **self._rules(validated_data),
        )
        if "grants" in validated_data:
            self._set_grants(instance, validated_data["grants"], replace=True)
        instance.refresh_from_db()
        return instance
