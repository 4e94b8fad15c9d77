"""Partners, users and API tokens; writes go through ``intelshare.accounts``."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from intelshare import accounts
from intelshare.api.fields import SlugRelated, field_errors
from intelshare.models import ApiToken, Partner, User


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


class RevokedSerializer(serializers.Serializer):
    detail = serializers.CharField()
