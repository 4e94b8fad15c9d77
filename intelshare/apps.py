from django.apps import AppConfig


class IntelshareConfig(AppConfig):
    name = "intelshare"
    verbose_name = "intelshare hub"

    def ready(self) -> None:
        from intelshare import ingest, observability  # noqa: F401 - metrics
        from intelshare.content.extension import validate_extensions
        from intelshare.db import lookups, tuning  # noqa: F401 - field__among

        tuning.install()
        # Objects using the llm-misuse extension are checked against its schema.
        ingest.register_check(validate_extensions)
