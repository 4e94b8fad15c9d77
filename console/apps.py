from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator console: above both apps, like ``config``; neither imports it."""

    name = "console"
    verbose_name = "operator console"
