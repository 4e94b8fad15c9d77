from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "partner sync"

    def ready(self) -> None:
        from intelshare import observability
        from sync.metrics import FeedCollector

        observability.register_collector(FeedCollector())
