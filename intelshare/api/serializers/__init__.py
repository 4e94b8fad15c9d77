"""Representations of the hub's administration resources, one module per resource."""

from intelshare.api.serializers.accounts import (
    ApiTokenSerializer,
    IssuedTokenSerializer,
    PartnerSerializer,
    RevokedSerializer,
    UserSerializer,
    partner_field,
)
from intelshare.api.serializers.agreements import AgreementSerializer, GrantSerializer
from intelshare.api.serializers.insight import (
    AuditEventSerializer,
    DecisionSerializer,
    ExplainQuerySerializer,
    ExplanationSerializer,
    PreviewQuerySerializer,
    PreviewRowSerializer,
    PreviewSerializer,
    PreviewSummarySerializer,
    ReceiptSerializer,
)
from intelshare.api.serializers.roots import ApiRootSerializer, CollectionSerializer

__all__ = [
    "AgreementSerializer",
    "ApiRootSerializer",
    "ApiTokenSerializer",
    "AuditEventSerializer",
    "CollectionSerializer",
    "DecisionSerializer",
    "ExplainQuerySerializer",
    "ExplanationSerializer",
    "GrantSerializer",
    "IssuedTokenSerializer",
    "PartnerSerializer",
    "PreviewQuerySerializer",
    "PreviewRowSerializer",
    "PreviewSerializer",
    "PreviewSummarySerializer",
    "ReceiptSerializer",
    "RevokedSerializer",
    "UserSerializer",
    "partner_field",
]
