"""The structural check's details (intelshare.stix): STIX 2.1 §3.2 timestamps (the
exact form, UTC ``Z``, fractions truncated to microseconds), version texts written
one way, and identifiers matched whole."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from intelshare import stix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T12:30:45Z", datetime(2026, 3, 1, 12, 30, 45, tzinfo=UTC)),
        ("2026-03-01T12:30:45.1Z", datetime(2026, 3, 1, 12, 30, 45, 100000, tzinfo=UTC)),
        ("2026-03-01T12:30:45.123Z", datetime(2026, 3, 1, 12, 30, 45, 123000, tzinfo=UTC)),
        ("2026-03-01T12:30:45.123456Z", datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)),
        ("2026-03-01T12:30:45.1234569Z", datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)),
        ("2024-02-29T00:00:00.000Z", datetime(2024, 2, 29, tzinfo=UTC)),
    ],
)
def test_valid_timestamps_parse_to_aware_utc(text, expected):
    parsed = stix.parse_timestamp(text)
    assert parsed == expected
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01T12:30:45.000Z\n",  # "$" would let a trailing newline through
        "2026-03-01T12:30:45+00:00",  # STIX requires Z
        "2026-03-01 12:30:45Z",
        "2026-03-01t12:30:45Z",
        "2026-03-01T12:30:45.Z",
        "2026-02-30T00:00:00Z",  # no such day
        "2023-02-29T00:00:00Z",
        "2026-03-01T24:00:00Z",
        "2026-03-01T23:59:60Z",  # Python has no leap second
        "٢٠٢٦-03-01T12:30:45Z",  # Arabic-Indic digits
        "26-03-01T12:30:45Z",
        "",
    ],
)
def test_other_forms_are_refused(text):
    with pytest.raises(ValueError):
        stix.parse_timestamp(text)


@pytest.mark.parametrize("value", [None, 1700000000, 1.5, ["2026-03-01T12:30:45Z"]])
def test_non_strings_are_refused(value):
    with pytest.raises(ValueError, match="must be a string"):
        stix.parse_timestamp(value)


@pytest.mark.parametrize(
    ("value", "version", "timestamp"),
    [
        (
            datetime(2026, 3, 1, 12, 30, 45, 123000, tzinfo=UTC),
            "2026-03-01T12:30:45.123Z",
            "2026-03-01T12:30:45.123000Z",
        ),
        (
            datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC),
            "2026-03-01T12:30:45.123456Z",
            "2026-03-01T12:30:45.123456Z",
        ),
        (
            datetime(2026, 3, 1, tzinfo=UTC),
            "2026-03-01T00:00:00.000Z",
            "2026-03-01T00:00:00.000000Z",
        ),
        (
            datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),  # RFC 3339: four-digit years
            "0999-01-02T03:04:05.000Z",
            "0999-01-02T03:04:05.000000Z",
        ),
        (
            datetime(2026, 3, 1, 14, 30, 45, 500, tzinfo=timezone(timedelta(hours=2))),
            "2026-03-01T12:30:45.000500Z",
            "2026-03-01T12:30:45.000500Z",
        ),
    ],
)
def test_versions_and_timestamps_are_written_in_utc(value, version, timestamp):
    assert stix.format_version(value) == version
    assert stix.format_timestamp(value) == timestamp
    assert stix.parse_timestamp(version) == value


@pytest.mark.parametrize(
    ("written", "reported"),
    [
        ("2026-03-01T12:30:45.123Z", "2026-03-01T12:30:45.123Z"),
        ("2026-03-01T12:30:45.123456Z", "2026-03-01T12:30:45.123456Z"),
        ("2026-03-01T12:30:45.123000Z", "2026-03-01T12:30:45.123Z"),
        ("2026-03-01T12:30:45Z", "2026-03-01T12:30:45.000Z"),
        ("2026-03-01T12:30:45.1Z", "2026-03-01T12:30:45.100Z"),
        ("2026-03-01T12:30:45.1234567Z", "2026-03-01T12:30:45.123456Z"),
    ],
)
def test_an_objects_version_text_is_written_one_way(written, reported):
    """The version a status or manifest reports is ``format_version``'s, whatever
    the object's own spelling (the text is reused only when it is already that)."""
    obj = {
        "type": "malware",
        "spec_version": "2.1",
        "is_family": True,
        "id": "malware--6b0b6a40-5f8c-4a8e-9a43-0f5f6c1d2e3a",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": written,
    }
    facts = stix.inspect(obj)
    assert facts.version_text == reported == stix.format_version(facts.version)


@pytest.mark.parametrize("field", ["id", "created_by_ref", "object_marking_refs"])
def test_identifiers_with_a_trailing_newline_are_refused(field):
    """``$`` matches before a final newline; identifiers are matched whole."""
    ident = "identity--6b0b6a40-5f8c-4a8e-9a43-0f5f6c1d2e3a\n"
    obj = {
        "type": "identity",
        "spec_version": "2.1",
        "name": "x",
        "id": "identity--7b0b6a40-5f8c-4a8e-9a43-0f5f6c1d2e3a",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
    }
    obj[field] = [ident] if field.endswith("_refs") else ident
    with pytest.raises(stix.InvalidStix):
        stix.inspect(obj)
