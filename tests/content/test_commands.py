"""Content loaders through ingest, and the three management commands."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from intelshare import ingest
from intelshare.content.extension import EXTENSION_ID, validate_extensions
from intelshare.content.generator import generate_with_sources
from intelshare.content.pack import build_pack, load_pack
from intelshare.models import Partner
from tests.factories import World

ATLAS = Path(__file__).resolve().parents[1] / "data" / "atlas" / "stix-atlas-5.6.0.json"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def extension_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app wires the llm-misuse check into ingest (IntelshareConfig.ready)."""
    assert validate_extensions in ingest._checks


@pytest.mark.django_db
def test_load_pack_is_idempotent(world: World, extension_checked: None) -> None:
    """TAXII 2.1 §5.4 / DESIGN "Storage": the same (id, version) is stored once."""
    first = load_pack(collection=world.collection)
    assert (first.new, first.duplicate, first.failed) == (len(build_pack()), 0, 0)
    second = load_pack(collection=world.collection)
    assert (second.new, second.duplicate, second.failed) == (0, len(build_pack()), 0)


@pytest.mark.django_db
def test_load_llm_pack_command(world: World) -> None:
    out = run("load_llm_pack", "--collection", "llm-misuse", "--api-root", "intel")
    assert f"stored {len(build_pack())}, duplicate 0, failed 0" in out
    out = run("load_llm_pack", "--collection", str(world.collection.id))
    assert f"stored 0, duplicate {len(build_pack())}, failed 0" in out
    with pytest.raises(CommandError, match="no collection"):
        run("load_llm_pack", "--collection", "nope")


@pytest.mark.django_db
def test_ingest_rejects_a_bad_extension_block(world: World, extension_checked: None) -> None:
    """The extension check makes a bad block a per-object failure."""
    good, bad = [o for o in build_pack() if o["type"] == "attack-pattern"][:2]
    bad["extensions"][EXTENSION_ID]["abuse_category"] = ["Not A Slug"]
    result = ingest.store(collection=world.collection, objects=[good, bad])
    assert (result.new, result.failed) == (1, 1)
    assert "abuse_category[0]" in result.outcomes[1].message


@pytest.mark.django_db
def test_generated_feed_stores_cleanly_per_contributor(
    world: World, extension_checked: None
) -> None:
    partners = {p.slug: p for p in Partner.objects.filter(slug__in=["acme", "globex"])}
    by_source: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for obj, source in generate_with_sources(1500, 5, list(partners)):
        by_source[source].append(obj)
    stored = 0
    for source, objects in by_source.items():
        result = ingest.store(
            collection=world.collection,
            objects=objects,
            source_partner=partners.get(source) if source else None,
        )
        assert result.failed == 0, [o.message for o in result.outcomes if not o.ok][:3]
        stored += result.new
    assert stored == 1500


@pytest.mark.django_db
def test_import_atlas_command(world: World) -> None:
    out = run("import_atlas", str(ATLAS), "--collection", "llm-misuse")
    assert "fix [modified-before-created] attack-pattern--c9f8f4b0" in out
    assert "155 fixes" in out
    assert "stored 538, duplicate 0, failed 0" in out
    again = run("import_atlas", str(ATLAS), "--collection", "llm-misuse", "--api-root", "intel")
    assert "stored 0, duplicate 538, failed 0" in again


def test_import_atlas_dry_run_needs_no_collection(tmp_path: Path) -> None:
    out = run("import_atlas", str(ATLAS), "--collection", "unused", "--dry-run")
    assert "dry run: 538 objects would be stored" in out
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(CommandError, match="cannot read"):
        run("import_atlas", str(broken), "--collection", "x", "--dry-run")


def test_generate_feed_command(tmp_path: Path) -> None:
    target = tmp_path / "feed.json"
    out = run("generate_feed", "--count", "50", "--seed", "3", "--output", str(target))
    assert "50 objects written" in out
    bundle = json.loads(target.read_text(encoding="utf-8"))
    assert bundle["type"] == "bundle" and len(bundle["objects"]) == 50
    printed = json.loads(run("generate_feed", "--count", "50", "--seed", "3"))
    assert printed == bundle
    with pytest.raises(CommandError, match="negative"):
        run("generate_feed", "--count", "-1")
