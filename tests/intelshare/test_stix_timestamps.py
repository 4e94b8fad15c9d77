"""STIX 2.1 §3.2 timestamps as ``stix.parse_timestamp`` reads them: the exact form,
UTC ``Z``, any number of fraction digits (truncated to microseconds), nothing else."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from intelshare import stix


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-01T12:30:45Z", datetime(2026, 3, 1, 12, 30, 45, tzinfo=UTC)),
    ("2026-03-01T12:30:45.1Z", datetime(2026, 3, 1, 12, 30, 45, 100000, tzinfo=UTC)),
    ("2026-03-01T12:30:45.123Z", datetime(2026, 3, 1, 12, 30, 45, 123000, tzinfo=UTC)),
    ("2026-03-01T12:30:45.123456Z", datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)),
    ("2026-03-01T12:30:45.1234569Z", datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)),
    ("2024-02-29T00:00:00.000Z", datetime(2024, 2, 29, tzinfo=UTC)),
])
def test_valid_timestamps_parse_to_aware_utc(text, expected):
    parsed = stix.parse_timestamp(text)
    assert parsed == expected
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("text", [
    "2026-03-01T12:30:45.000Z\n",      # "$" would let a trailing newline through
    "2026-03-01T12:30:45+00:00",       # STIX requires Z
    "2026-03-01 12:30:45Z",
    "2026-03-01t12:30:45Z",
    "2026-03-01T12:30:45.Z",
    "2026-02-30T00:00:00Z",            # no such day
    "2023-02-29T00:00:00Z",
    "2026-03-01T24:00:00Z",
    "2026-03-01T23:59:60Z",            # Python has no leap second
    "٢٠٢٦-03-01T12:30:45Z",            # Arabic-Indic digits
    "26-03-01T12:30:45Z",
    "",
])
def test_other_forms_are_refused(text):
    with pytest.raises(ValueError):
        stix.parse_timestamp(text)


@pytest.mark.parametrize("value", [None, 1700000000, 1.5, ["2026-03-01T12:30:45Z"]])
def test_non_strings_are_refused(value):
    with pytest.raises(ValueError, match="must be a string"):
        stix.parse_timestamp(value)


@pytest.mark.parametrize(("value", "version", "timestamp"), [
    (datetime(2026, 3, 1, 12, 30, 45, 123000, tzinfo=UTC),
     "2026-03-01T12:30:45.123Z", "2026-03-01T12:30:45.123000Z"),
    (datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC),
     "2026-03-01T12:30:45.123456Z", "2026-03-01T12:30:45.123456Z"),
    (datetime(2026, 3, 1, tzinfo=UTC), "2026-03-01T00:00:00.000Z", "2026-03-01T00:00:00.000000Z"),
    (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),  # RFC 3339: four-digit years
     "0999-01-02T03:04:05.000Z", "0999-01-02T03:04:05.000000Z"),
    (datetime(2026, 3, 1, 14, 30, 45, 500, tzinfo=timezone(timedelta(hours=2))),
     "2026-03-01T12:30:45.000500Z", "2026-03-01T12:30:45.000500Z"),
])
def test_versions_and_timestamps_are_written_in_utc(value, version, timestamp):
    assert stix.format_version(value) == version
    assert stix.format_timestamp(value) == timestamp
    assert stix.parse_timestamp(version) == value
