"""Content negotiation for TAXII 2.1 (§1.6.8, §3.1)."""

from __future__ import annotations

from intelshare.taxii.errors import NotAcceptable, UnsupportedMediaType

TAXII_TYPES = frozenset({"application/taxii+json", "application/vnd.oasis.taxii+json"})
STIX_TYPE = "application/stix+json"
GENERIC = frozenset({"*/*", "application/*", "application/json"})


def _ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    result = []
    for item in header.split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        params = {}
        for param in parts[1:]:
            name, _, value = param.partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        result.append((media, params))
    return result


def _version_ok(params: dict[str, str]) -> bool:
    return params.get("version", "2.1") == "2.1"


def check_accept(header: str | None, *, stix_allowed: bool = False) -> None:
    """Raise ``NotAcceptable`` unless ``header`` admits a TAXII 2.1 response."""
    if not header or not header.strip():
        return
    for media, params in _ranges(header):
        if params.get("q") in {"0", "0.0", "0.00", "0.000"}:
            continue
        if media in GENERIC:
            return
        if (media in TAXII_TYPES or (stix_allowed and media == STIX_TYPE)) and _version_ok(params):
            return
    raise NotAcceptable(
        "this endpoint serves application/taxii+json;version=2.1 (§1.6.8)",
        error_code="not-acceptable",
    )


def check_content_type(header: str | None) -> None:
    """Raise ``UnsupportedMediaType`` unless a POST body is TAXII/STIX 2.1 JSON."""
    ranges = _ranges(header or "")
    if len(ranges) == 1:
        media, params = ranges[0]
        charset_ok = params.get("charset", "utf-8").lower() in {"utf-8", "utf8"}
        if charset_ok and (
            media == "application/json"
            or ((media in TAXII_TYPES or media == STIX_TYPE) and _version_ok(params))
        ):
            return
    raise UnsupportedMediaType(
        "send the envelope as application/taxii+json;version=2.1 (§5.5)",
        error_code="unsupported-media-type",
    )
