"""The operator console: the hub staff's pages beside the Django admin.

``/`` (dashboard or public landing), ``/console/…`` (objects, explain, preview,
sharing matrix, onboarding, feed connection test) and the HTML error pages.
Views parse input, call one selector or service, and render; staff-side reads
live in ``selectors``, writes go through ``intelshare.accounts``,
``intelshare.services`` and ``sync.services``.
"""
