"""Reliability tests: the in-process subset of the fault drills (``python -m tools.drills``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Registered here: pyproject's marker list is not ours to edit, and
    # --strict-markers refuses unknown markers.
    config.addinivalue_line(
        "markers", "drill: the in-process subset of a fault drill (python -m tools.drills)"
    )
