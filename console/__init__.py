"""The operator console: the hub staff's pages beside the Django admin."""
