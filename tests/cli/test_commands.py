"""The administration commands: onboarding a partner end to end, and clear errors
with a non-zero exit on bad input (call_command raises CommandError, which
manage.py turns into exit status 1)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command

from intelshare import ingest, stix
from intelshare.models import Agreement, ApiToken, Grant, ObjectVersion, Partner, Reveal, User
from tests.conftest import TaxiiClient
from tests.factories import TLP2_GREEN, TLP2_RED, World, indicator, malware


def run(*args: Any, stdin: str = "") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    old, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        call_command(*args, stdout=out, stderr=err)
    finally:
        sys.stdin = old
    return out.getvalue(), err.getvalue()


def fails(*args: Any, match: str, stdin: str = "") -> None:
    with pytest.raises(CommandError, match=match):
        run(*args, stdin=stdin)


def test_onboarding_a_partner_from_the_command_line(world: World) -> None:
    out, _ = run("create_partner", "Initech CERT", "--description", "banking")
    assert "partner initech-cert created" in out
    out, err = run("create_user", "initech-bot", "--partner", "initech-cert")
    password = out.split("password: ")[1].strip()
    assert "shown only now" in err
    assert User.objects.get(username="initech-bot").check_password(password)
    out, _ = run(
        "agree",
        "initech-cert",
        "--collection",
        "llm-misuse",
        "--tlp-ceiling",
        "green",
        "--deny-type",
        "malware",
        "--embargo",
        "0",
    )
    assert "agreement 'initech-cert' of initech-cert created" in out
    assert "grant llm-misuse: read" in out
    token, err = run("issue_token", "initech-bot", "--name", "opencti", "--expires-in", "90d")
    token = token.strip()
    assert token.startswith("isk_") and "shown only now" in err
    assert ApiToken.objects.get(name="opencti").digest != token
    ingest.store(
        collection=world.collection,
        objects=[indicator(1, markings=[TLP2_GREEN]), indicator(2, markings=[TLP2_RED])],
    )
    client = TaxiiClient(f"Bearer {token}")
    body = orjson.loads(
        client.get(f"/taxii2/intel/collections/{world.collection.pk}/objects/").content
    )
    assert [o["id"] for o in body["objects"]] == [indicator(1)["id"]]
    out, _ = run("list_partners")
    assert "initech-cert" in out and "llm-misuse:r" in out


def test_create_user_variants_and_errors(world: World) -> None:
    out, _ = run("create_user", "ops", "--staff", "--password-stdin", stdin="s3cret-pass\n")
    assert "hub staff" in out and "password:" not in out
    assert User.objects.get(username="ops").check_password("s3cret-pass")
    run("create_user", "root2", "--staff", "--superuser", "--no-password")
    assert User.objects.get(username="root2").is_superuser
    fails("create_user", "x", "--partner", "nobody", match="no partner with slug 'nobody'")
    fails("create_user", "ops", "--staff", "--no-password", match="username")
    fails("create_user", "y", "--partner", "acme", "--superuser", match="--superuser needs")
    fails("create_user", "z", "--staff", "--password-stdin", match="no password", stdin="")
    with pytest.raises(CommandError):  # neither --partner nor --staff: argparse refuses
        run("create_user", "w")


def test_create_partner_errors(world: World) -> None:
    fails("create_partner", "Acme", match="name")  # exists
    fails("create_partner", "Other", "--slug", "acme", match="slug")
    fails("create_partner", "Other", "--slug", "not a slug", match="slug")


def test_issue_and_revoke_token(world: World) -> None:
    token, _ = run(
        "issue_token", "globex-analyst", "--name", "ci", "--expires-at", "2099-01-01T00:00:00Z"
    )
    row = ApiToken.objects.get(name="ci")
    assert row.expires_at.year == 2099
    client = TaxiiClient(f"Bearer {token.strip()}")
    assert client.get("/taxii2/").status_code == 200
    out, _ = run("revoke_token", str(row.pk))
    assert "revoked" in out
    assert client.get("/taxii2/").status_code == 401
    fails("issue_token", "nobody", "--name", "x", match="no user 'nobody'")
    fails(
        "issue_token",
        "acme-analyst",
        "--name",
        "x",
        "--expires-at",
        "2001-01-01",
        match="expires_at: The expiry must be in the future",
    )
    fails(
        "issue_token",
        "acme-analyst",
        "--name",
        "x",
        "--expires-in",
        "soon",
        match="--expires-in 'soon'",
    )
    fails(
        "issue_token", "acme-analyst", "--name", "x", "--expires-at", "tomorrow", match="ISO 8601"
    )
    fails("revoke_token", "99999", match="no token 99999")


def test_agree_updates_only_what_is_given_and_records_widening(world: World) -> None:
    ingest.store(collection=world.collection, objects=[indicator(1, markings=[TLP2_RED])])
    run("agree", "globex", "--name", "globex", "--tlp-ceiling", "green")
    agreement = Agreement.objects.get(partner__slug="globex")
    assert agreement.tlp_ceiling == stix.TLP_GREEN and not Reveal.objects.exists()
    out, _ = run(
        "agree",
        "globex",
        "--tlp-ceiling",
        "red",
        "--allow-type",
        "indicator,malware",
        "--granular",
        "redact",
        "--sightings",
        "named",
        "--consent",
        "acme",
        "--rate-limit",
        "120",
        "--valid-until",
        "2099-01-01",
    )
    assert "1 versions newly revealed" in out
    agreement.refresh_from_db()
    assert agreement.allowed_types == ["indicator", "malware"]
    assert agreement.granular_mode == "redact" and agreement.rate_limit == 120
    assert agreement.sightings == Agreement.NAMED and "sightings named" in out
    assert list(agreement.consents.values_list("slug", flat=True)) == ["acme"]
    run("agree", "globex", "--all-types", "--no-consents", "--no-end", "--no-rate-limit")
    agreement.refresh_from_db()
    assert agreement.allowed_types is None and agreement.valid_until is None
    assert agreement.tlp_ceiling == stix.TLP_RED  # untouched
    run("agree", "globex", "--collection", "internal", "--no-read", "--write")
    grant = Grant.objects.get(partner__slug="globex", collection=world.other)
    assert (grant.can_read, grant.can_write) == (False, True)


def test_agree_errors(world: World) -> None:
    fails("agree", "nobody", match="no partner")
    fails("agree", "globex", "--tlp-ceiling", "pink", match="invalid choice")
    fails("agree", "globex", "--deny-type", "Bad Type", match="not STIX types")
    fails("agree", "globex", "--embargo", "forever", match="--embargo 'forever'")
    fails("agree", "globex", "--collection", "nope", match="no collection 'nope'")
    fails("agree", "globex", "--consent", "globex", match="its own contributions")
    fails("agree", "globex", "--valid-until", "2001-01-01", match="must be after")
    fails("agree", "globex", "--rate-limit", "0", match="at least 1")
    # acme holds llm-misuse under agreement "acme"; a second agreement may not take it.
    fails(
        "agree",
        "acme",
        "--name",
        "other",
        "--collection",
        "llm-misuse",
        match="already has a grant",
    )
    assert not Agreement.objects.filter(name="other").exists()  # rolled back


def _bundle(tmp_path: Path, objects: list[Any], name: str = "bundle.json") -> Path:
    path = tmp_path / name
    path.write_bytes(
        orjson.dumps(
            {
                "type": "bundle",
                "id": "bundle--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12,
                "objects": objects,
            }
        )
    )
    return path


def test_load_bundle(world: World, tmp_path: Path) -> None:
    bad = {k: v for k, v in indicator(9).items() if k != "type"}
    path = _bundle(tmp_path, [indicator(n) for n in range(5)] + [malware(1), bad])
    out, err = run("load_bundle", str(path), "--collection", "llm-misuse", "--batch-size", "3")
    assert "7 objects, stored 6, duplicate 0, failed 1" in out
    assert "stored 3/7" in err and "stored 7/7 (100%)" in err and "failed" in err
    assert ObjectVersion.objects.filter(origin="cli:bundle.json").count() == 6
    out, _ = run("load_bundle", str(path), "--collection", str(world.collection.pk))
    assert "stored 0, duplicate 6, failed 1" in out
    fails(
        "load_bundle", str(path), "--collection", "llm-misuse", "--strict", match="1 objects failed"
    )
    run(
        "load_bundle",
        str(_bundle(tmp_path, [indicator(20)], "acme.json")),
        "--collection",
        "llm-misuse",
        "--source-partner",
        "acme",
    )
    assert ObjectVersion.objects.get(stix_id=indicator(20)["id"]).source_partner.slug == "acme"


def test_load_bundle_errors(world: World, tmp_path: Path) -> None:
    fails(
        "load_bundle",
        str(tmp_path / "missing.json"),
        "--collection",
        "llm-misuse",
        match="cannot read",
    )
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    fails("load_bundle", str(junk), "--collection", "llm-misuse", match="is not JSON")
    junk.write_text('{"type": "bundle"}')
    fails("load_bundle", str(junk), "--collection", "llm-misuse", match="expected a STIX")
    junk.write_text('{"type": "bundle", "objects": []}')
    fails("load_bundle", str(junk), "--collection", "llm-misuse", match="no objects")
    path = _bundle(tmp_path, [indicator(1)])
    fails("load_bundle", str(path), "--collection", "nope", match="no collection")
    fails(
        "load_bundle",
        str(path),
        "--collection",
        "llm-misuse",
        "--source-partner",
        "x",
        match="no partner",
    )
    fails(
        "load_bundle",
        str(path),
        "--collection",
        "llm-misuse",
        "--batch-size",
        "0",
        match="at least 1",
    )


def test_export_bundle_is_what_the_partner_receives(world: World, tmp_path: Path) -> None:
    run("agree", "globex", "--tlp-ceiling", "green")
    ingest.store(
        collection=world.collection,
        objects=[
            indicator(1, markings=[TLP2_GREEN]),
            indicator(1, version=1, markings=[TLP2_GREEN]),
            indicator(2, markings=[TLP2_RED]),
            indicator(3),
        ],
    )
    target = tmp_path / "globex.json"
    _, err = run(
        "export_bundle",
        "--collection",
        "llm-misuse",
        "--as-partner",
        "globex",
        "--output",
        str(target),
    )
    assert "2 versions" in err
    bundle = orjson.loads(target.read_bytes())
    assert bundle["type"] == "bundle" and bundle["id"].startswith("bundle--")
    assert [(o["id"], o["modified"]) for o in bundle["objects"]] == [
        (indicator(1)["id"], indicator(1)["modified"]),
        (indicator(1)["id"], indicator(1, version=1)["modified"]),
    ]
    client = TaxiiClient(world.personas["globex"].basic)
    pulled = orjson.loads(
        client.get(
            f"/taxii2/intel/collections/{world.collection.pk}/objects/", {"match[version]": "all"}
        ).content
    )
    assert pulled["objects"] == bundle["objects"]
    empty = tmp_path / "mallory.json"
    run(
        "export_bundle",
        "--collection",
        "llm-misuse",
        "--as-partner",
        "mallory",
        "--output",
        str(empty),
    )
    assert orjson.loads(empty.read_bytes())["objects"] == []
    fails(
        "export_bundle", "--collection", "llm-misuse", "--as-partner", "nobody", match="no partner"
    )
    fails("export_bundle", "--collection", "x", "--as-partner", "globex", match="no collection")
    fails(
        "export_bundle",
        "--collection",
        "llm-misuse",
        "--as-partner",
        "globex",
        "--output",
        str(tmp_path / "no" / "dir.json"),
        match="no directory",
    )


def test_list_collections(world: World) -> None:
    ingest.store(collection=world.collection, objects=[indicator(1)])
    out, _ = run("list_collections")
    lines = out.splitlines()
    assert lines[0].split() == ["API", "ROOT", "ALIAS", "ID", "TITLE", "DEFAULT", "TLP", "VERSIONS"]
    row = next(line for line in lines if "llm-misuse" in line)
    assert str(world.collection.pk) in row and row.split()[-1] == "1"
    assert Partner.objects.count() == 3


@pytest.mark.django_db
def test_lists_when_empty() -> None:
    assert "no partners" in run("list_partners")[0]
    assert "no collections" in run("list_collections")[0]


def test_bad_input_exits_non_zero() -> None:
    """Through manage.py: a CommandError is exit status 1 with the message; a usage
    error is status 2 (argparse). Neither needs the database."""
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    bad = subprocess.run(
        [sys.executable, str(manage), "create_user", "x", "--partner", "acme", "--superuser"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1 and "--superuser needs --staff" in bad.stderr
    usage = subprocess.run(
        [sys.executable, str(manage), "load_bundle"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert usage.returncode == 2 and "--collection" in usage.stderr
