"""MITRE ATLAS STIX bundle: every known defect repaired and reported."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from stix2validator import ValidationOptions, validate_instance

from intelshare import stix
from intelshare.content.atlas import FIX_KINDS, Fix, normalise_atlas

ATLAS = Path(__file__).resolve().parents[1] / "data" / "atlas" / "stix-atlas-5.6.0.json"
T0087 = "attack-pattern--c9f8f4b0-e377-55b1-bad3-aa5f13389216"
T0096 = "attack-pattern--92a68652-d864-5c9c-9c1d-64ec09587390"
COLLECTION = "x-mitre-collection--7a735cfc-0469-5d8b-b11f-d014be33394e"


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return json.loads(ATLAS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def normalised(bundle: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Fix]]:
    return normalise_atlas(bundle)


def kinds(fixes: list[Fix]) -> Counter[str]:
    return Counter(fix.kind for fix in fixes)


def test_normalised_atlas_validates(
    bundle: dict[str, Any], normalised: tuple[list[dict[str, Any]], list[Fix]]
) -> None:
    """STIX 2.1 §3.2 (modified >= created), §2.9/§3.6 (ids), per stix2-validator."""
    objects, _ = normalised
    result = validate_instance(
        {"type": "bundle", "id": bundle["id"], "objects": objects}, ValidationOptions()
    )
    assert result.is_valid, [str(e) for e in result.errors][:10]
    for obj in objects:
        stix.inspect(obj)  # what ingest checks


def test_each_known_defect_is_reported(normalised: tuple[list[dict[str, Any]], list[Fix]]) -> None:
    objects, fixes = normalised
    assert kinds(fixes) == {
        "relationship-rekeyed": 114,
        "collection-contents": 36,
        "modified-before-created": 2,
        "timestamps-missing": 2,
        "dangling-created-by-ref": 1,
    }
    assert len(objects) == 538  # nothing dropped
    bad_dates = {
        f.object_id: (f.before, f.after) for f in fixes if f.kind == "modified-before-created"
    }
    assert bad_dates == {
        T0087: ("2025-10-27T00:00:00.000Z", "2025-10-31T00:00:00.000Z"),
        T0096: ("2025-12-23T00:00:00.000Z", "2025-12-24T00:00:00.000Z"),
    }
    (dangling,) = [f for f in fixes if f.kind == "dangling-created-by-ref"]
    assert dangling.object_id == COLLECTION
    assert dangling.before == "identity--f1e3e4d7-42b2-5b41-bbee-ffa8f4a03996"
    assert all(f.kind in FIX_KINDS and str(f).startswith(f.object_id) for f in fixes)


def test_rekeyed_relationships_keep_every_mitigation_link(
    bundle: dict[str, Any], normalised: tuple[list[dict[str, Any]], list[Fix]]
) -> None:
    """STIX 2.1 §3.6: one id per object; 34 MITRE ids named 114 different links."""
    objects, _ = normalised

    def links(objs: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
        return Counter(
            (o["relationship_type"], o["source_ref"], o["target_ref"])
            for o in objs
            if o["type"] == "relationship"
        )

    assert links(objects) == links(bundle["objects"])
    assert len({o["id"] for o in objects}) == len(objects)
    collection = next(o for o in objects if o["type"] == "x-mitre-collection")
    listed = {entry["object_ref"] for entry in collection["x_mitre_contents"]}
    assert listed == {o["id"] for o in objects} - {COLLECTION}


def test_normalisation_is_deterministic_and_leaves_the_input_alone(
    bundle: dict[str, Any], normalised: tuple[list[dict[str, Any]], list[Fix]]
) -> None:
    before = copy.deepcopy(bundle)
    again = normalise_atlas(bundle)
    assert again == normalised
    assert bundle == before


def rel(rid: str, target: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": rid,
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "relationship_type": "mitigates",
        "source_ref": "course-of-action--c35b59f9-60f8-5bd1-ad76-9cbb549a97ce",
        "target_ref": target,
        **extra,
    }


RID = "relationship--699c9f5e-c042-5903-a94f-2657b5d63950"
AP1 = "attack-pattern--a8393765-c78b-5bd3-8f92-74579e8f5a9f"
AP2 = "attack-pattern--d229d87c-9400-53f0-bca3-b9514fd9227f"


def test_synthetic_defects_each_produce_their_fix() -> None:
    """Missing spec_version (§3.1), copies, conflicts and non-objects are reported."""
    no_spec = rel("relationship--0b3f6fb0-3ad8-4b8b-9c35-3f4f5b0f7a11", AP1)
    del no_spec["spec_version"]
    copy_a = rel("relationship--1b3f6fb0-3ad8-4b8b-9c35-3f4f5b0f7a11", AP1)
    conflict = rel(
        "relationship--1b3f6fb0-3ad8-4b8b-9c35-3f4f5b0f7a11", AP1, description="other text"
    )
    only_modified = {
        "type": "x-mitre-matrix",
        "spec_version": "2.1",
        "id": "x-mitre-matrix--967c63ff-22bd-5ff8-aa59-1e1fca8dec78",
        "modified": "2024-02-01T00:00:00.000Z",
        "name": "m",
    }
    bundle = {
        "type": "bundle",
        "id": "bundle--605de3ac-53fd-5ac4-8e2a-5298846423cc",
        "objects": [
            no_spec,
            copy_a,
            dict(copy_a),
            conflict,
            only_modified,
            "junk",
            {"type": "indicator"},
        ],
    }
    objects, fixes = normalise_atlas(bundle)
    assert kinds(fixes) == {
        "spec_version": 1,
        "dropped-duplicate": 1,
        "dropped-conflict": 1,
        "dropped-invalid": 2,
        "timestamps-missing": 1,
    }
    assert len(objects) == 3
    assert objects[0]["spec_version"] == "2.1"
    assert objects[2]["created"] == "2024-02-01T00:00:00.000Z"
    dropped = {f.object_id for f in fixes if f.kind == "dropped-invalid"}
    assert dropped == {"objects[5]", "objects[6]"}


def test_clashing_relationship_ids_get_content_ids_in_any_order() -> None:
    """Re-keying depends on what a relationship links, not on bundle order."""
    first, second = rel(RID, AP1), rel(RID, AP2)
    forward, fixes = normalise_atlas({"type": "bundle", "objects": [first, second]})
    backward, _ = normalise_atlas({"type": "bundle", "objects": [second, first]})
    assert {o["id"] for o in forward} == {o["id"] for o in backward}
    assert RID not in {o["id"] for o in forward}
    assert [f.kind for f in fixes] == ["relationship-rekeyed"] * 2
    assert all(f.before == RID and f.after.startswith("relationship--") for f in fixes)
    edited, _ = normalise_atlas(
        {
            "type": "bundle",
            "objects": [
                rel(RID, AP1, description="new text", modified="2025-01-01T00:00:00.000Z"),
                second,
            ],
        }
    )
    assert {o["id"] for o in edited} == {o["id"] for o in forward}  # same links, same ids


def test_not_a_bundle_is_refused() -> None:
    with pytest.raises(ValueError, match="not a STIX bundle"):
        normalise_atlas({"type": "indicator"})
    with pytest.raises(ValueError, match="objects"):
        normalise_atlas({"type": "bundle"})
