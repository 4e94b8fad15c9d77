"""ObjectVersion.label (name, aliases, external ids) for the console's search,
filled for stored versions, with a trigram index on PostgreSQL (LIKE '%…%')."""

from typing import Any

import orjson
from django.db import DatabaseError, migrations, models, transaction

from intelshare import stix

CHUNK = 2000


def fill_labels(apps: Any, schema_editor: Any) -> None:
    versions = apps.get_model("intelshare", "ObjectVersion")
    last = 0
    while True:
        rows = list(versions.objects.filter(pk__gt=last).order_by("pk").only("pk", "raw")[:CHUNK])
        if not rows:
            return
        for row in rows:
            obj = orjson.loads(row.raw)
            row.label = stix.search_label(obj) if isinstance(obj, dict) else ""
        versions.objects.bulk_update(rows, ["label"], batch_size=CHUNK)
        last = rows[-1].pk


def trigram_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        # Without the extension (no privilege) the search reads the latest versions.
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS version_label_trgm ON intelshare_objectversion"
        " USING gin (label gin_trgm_ops) WHERE is_latest"
    )


def drop_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS version_label_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("intelshare", "0003_leaner_version_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="objectversion",
            name="label",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(fill_labels, migrations.RunPython.noop),
        migrations.RunPython(trigram_index, drop_index),
    ]
