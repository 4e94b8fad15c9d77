"""The management REST API (``/api/v1/``, hub staff only): one of the three doors
onto the administration services, beside the Django admin and ``manage.py``."""
