from django.apps import AppConfig


class IntelshareConfig(AppConfig):
    name = "intelshare"
    verbose_name = "intelshare hub"

    def ready(self) -> None:
        from intelshare import dbtuning, ingest, lookups, observability  # noqa: F401 - metrics, field__among
        from intelshare.content.extension import validate_extensions

        dbtuning.install()
        # Objects using the llm-misuse extension are checked against its schema.
        ingest.register_check(validate_extensions)
