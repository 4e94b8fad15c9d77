"""Representations of the hub's administration resources.

Plain CRUD uses ``ModelSerializer``; every write with a rule behind it calls
its service: accounts through ``intelshare.accounts``, agreements, grants and
a collection's default TLP through ``intelshare.services`` (so widenings are
recorded).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from rest_framework import serializers

from intelshare import accounts, services
from intelshare.api.fields import SecondsField, SlugRelated, TlpField, field_errors, stix_types
from intelshare.models import (
    Agreement,
    ApiRoot,
    ApiToken,
    AuditEvent,
    Collection,
    Grant,
    Partner,
    User,
)


def partner_field(**kwargs: Any) -> SlugRelated:
    return SlugRelated(slug_field="slug", queryset=Partner.objects.all(), **kwargs)


class PartnerSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(
        max_length=100, required=False, help_text="URL-safe name; defaults to the slugified name."
    )

    class Meta:
        model = Partner
        fields = ("id", "name", "slug", "description", "created")
        read_only_fields = ("id", "created")

    def validate_slug(self, value: str) -> str:
        taken = Partner.objects.filter(slug=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError("A partner with this slug exists.")
        return value

    def create(self, validated_data: dict[str, Any]) -> Partner:
        with field_errors():
            return accounts.partner_create(**validated_data)


class UserSerializer(serializers.ModelSerializer):
    partner = partner_field(
        allow_null=True, required=False, help_text="The partner's slug; null for hub staff."
    )
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=128,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Write-only. Empty: no password (the account uses API tokens).",
    )

    class Meta:
        model = User
        fields = (
            "id",
            "username",
            "email",
            "partner",
            "is_staff",
            "is_active",
            "password",
            "date_joined",
            "last_login",
        )
        read_only_fields = ("id", "date_joined", "last_login")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None:
            for name in ("partner", "is_staff"):
                if name in attrs and attrs[name] != getattr(self.instance, name):
                    raise serializers.ValidationError(
                        {name: "Fixed at creation; create another user instead."}
                    )
        return attrs

    def create(self, validated_data: dict[str, Any]) -> User:
        with field_errors():
            return accounts.user_create(
                username=validated_data["username"],
                partner=validated_data.get("partner"),
                is_staff=validated_data.get("is_staff", False),
                password=validated_data.get("password") or None,
                email=validated_data.get("email", ""),
            )

    def update(self, instance: User, validated_data: dict[str, Any]) -> User:
        password = validated_data.pop("password", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        if password:
            instance.set_password(password)
        instance.save()
        return instance


class ApiTokenSerializer(serializers.ModelSerializer):
    active = serializers.SerializerMethodField()
    partner = serializers.SlugRelatedField(
        source="user.partner", slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = ApiToken
        fields = (
            "id",
            "user",
            "partner",
            "name",
            "hint",
            "created",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "active",
        )
        read_only_fields = ("id", "hint", "created", "revoked_at", "last_used_at")

    def get_active(self, token: ApiToken) -> bool:
        from django.utils import timezone

        return token.revoked_at is None and (
            token.expires_at is None or token.expires_at > timezone.now()
        )

    def create(self, validated_data: dict[str, Any]) -> ApiToken:
        with field_errors():
            token, plaintext = accounts.token_issue(**validated_data)
        token.plaintext = plaintext  # type: ignore[attr-defined]
        return token


class IssuedTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(
        source="plaintext",
        read_only=True,
        help_text="The token itself, shown only in this response: only its hash is stored.",
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = (*ApiTokenSerializer.Meta.fields, "token")


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


class AuditEventSerializer(serializers.ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    user = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    filters = serializers.DictField(child=serializers.CharField(), read_only=True)
    versions = serializers.ListField(
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


class RevokedSerializer(serializers.Serializer):
    detail = serializers.CharField()
