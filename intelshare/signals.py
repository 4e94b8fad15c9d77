"""Signals the core sends for observers that it must not import (metrics)."""

from django.dispatch import Signal

# Sent by ``ingest.store`` after each call, with the keyword arguments
# ``collection``, ``new``, ``duplicate`` and ``failed`` (counts of objects).
objects_ingested = Signal()

# Sent by ``ingest.delete`` inside its transaction, before the rows go, with
# ``collection``, ``stix_id``, ``versions`` ([(pk, version text)]) and ``by`` (a User
# or None): sync records which partners had them and recalls them from push partners.
versions_deleting = Signal()

# Sent by ``audit.record`` after writing the event of a request, with ``method``,
# ``endpoint``, ``status_code`` and ``count`` (versions served or stored).
request_audited = Signal()
