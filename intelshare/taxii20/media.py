"""TAXII 2.0 media types (TAXII 2.0 CS01 §1.4, §3.2) and their 406/415 rules."""

from __future__ import annotations

from intelshare.taxii.errors import NotAcceptable, UnsupportedMediaType

TAXII_20 = "application/vnd.oasis.taxii+json; version=2.0"
STIX_20 = "application/vnd.oasis.stix+json; version=2.0"
_TAXII = "application/vnd.oasis.taxii+json"
_STIX = "application/vnd.oasis.stix+json"
_GENERIC = frozenset({"*/*", "application/*", "application/json"})


def _ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    found = []
    for item in header.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if not media:
            continue
        pairs = (param.partition("=") for param in params)
        found.append(
            (
                media.lower(),
                {name.strip().lower(): value.strip().strip('"') for name, _, value in pairs},
            )
        )
    return found


def _is(media: str, params: dict[str, str], wanted: str) -> bool:
    return media == wanted and params.get("version", "2.0") == "2.0"


def check_accept(header: str | None, *, stix: bool) -> None:
    """Raise 406 unless ``header`` admits the 2.0 type this endpoint serves
    (a STIX bundle when ``stix``, else a TAXII resource)."""
    if not header or not header.strip():
        return
    wanted = _STIX if stix else _TAXII
    for media, params in _ranges(header):
        if params.get("q") in {"0", "0.0", "0.00", "0.000"}:
            continue
        if media in _GENERIC or _is(media, params, wanted):
            return
    raise NotAcceptable(
        f"this endpoint serves {STIX_20 if stix else TAXII_20} (TAXII 2.0 §1.4)",
        error_code="not-acceptable",
    )


def check_content_type(header: str | None) -> None:
    """Raise 415 unless a POST body is declared a STIX 2.0 bundle (TAXII 2.0 §5.4)."""
    ranges = _ranges(header or "")
    if len(ranges) == 1:
        media, params = ranges[0]
        charset_ok = params.get("charset", "utf-8").lower() in {"utf-8", "utf8"}
        if charset_ok and (media == "application/json" or _is(media, params, _STIX)):
            return
    raise UnsupportedMediaType(
        f"send a STIX 2.0 bundle as {STIX_20} (TAXII 2.0 §5.4)", error_code="unsupported-media-type"
    )
