from django.apps import AppConfig


class IntelshareConfig(AppConfig):
    name = "intelshare"
    verbose_name = "intelshare hub"
