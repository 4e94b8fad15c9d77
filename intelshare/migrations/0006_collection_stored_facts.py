from django.db import migrations, models
from django.db.models import Max


def backfill(apps, schema_editor):
    """StoredFacts (intelshare.models) of the versions already stored."""
    Collection = apps.get_model("intelshare", "Collection")
    ObjectVersion = apps.get_model("intelshare", "ObjectVersion")
    for collection in Collection.objects.all():
        versions = ObjectVersion.objects.filter(collection=collection)
        partners = versions.filter(source_partner__isnull=False)
        top = versions.aggregate(rank=Max("tlp_rank"), granular=Max("granular_rank"))
        collection.stored_facts = {
            "rank": -1 if top["rank"] is None else top["rank"],
            "unmarked": versions.filter(tlp_rank__isnull=True).exists(),
            "granular": -1 if top["granular"] is None else top["granular"],
            "partner_rank": partners.aggregate(rank=Max("tlp_rank"))["rank"]
            if partners.filter(tlp_rank__isnull=False).exists()
            else -1,
            "partner_unmarked": partners.filter(tlp_rank__isnull=True).exists(),
            "partner_sightings": partners.filter(type="sighting").exists(),
        }
        collection.save(update_fields=["stored_facts"])


class Migration(migrations.Migration):

    dependencies = [
        ("intelshare", "0005_sightings"),
    ]

    operations = [
        migrations.AddField(
            model_name="collection",
            name="stored_facts",
            field=models.JSONField(default=dict, editable=False),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
