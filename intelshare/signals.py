"""Signals the core sends for observers that it must not import (metrics)."""

from django.dispatch import Signal

# Sent by ``ingest.store`` after each call, with the keyword arguments
# ``collection``, ``new``, ``duplicate`` and ``failed`` (counts of objects).
objects_ingested = Signal()
