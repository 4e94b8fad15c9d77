from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "partner sync"

    def ready(self) -> None:
        from intelshare import observability, signals
        from sync import recall
        from sync.metrics import FeedCollector

        observability.register_collector(FeedCollector())
        signals.versions_deleting.connect(recall.on_deleting, dispatch_uid="sync.recall")
