"""OpenAPI generation (drf-spectacular): the schema describes ``/api/v1/`` only
(TAXII 2.1 is specified by OASIS), and names the two authentication schemes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

PREFIX = "/api/v1/"


def management_api_only(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """Keep the management API's operations, minus the schema and docs views."""
    skip = (f"{PREFIX}schema/", f"{PREFIX}docs/", f"{PREFIX}redoc/")
    return [e for e in endpoints if e[0].startswith(PREFIX) and not e[0].startswith(skip)]


class BasicAuthScheme(OpenApiAuthenticationExtension):
    target_class = "intelshare.auth.PartnerBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "basic"}


class BearerAuthScheme(OpenApiAuthenticationExtension):
    target_class = "intelshare.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token of a hub staff user (isk_…).",
        }
