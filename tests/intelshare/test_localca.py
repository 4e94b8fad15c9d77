"""The trial certificate authority for the proxy (README "Front door")."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from intelshare.localca import main


def test_writes_a_ca_and_a_server_certificate_it_signed(tmp_path: Path) -> None:
    """The chain verifies for every name given (DNS and IP), the key is private, and
    the CA's key is not kept anywhere."""
    out = tmp_path / "certs"
    main([str(out), "intel.example.org", "127.0.0.1"])
    assert sorted(p.name for p in out.iterdir()) == ["ca.pem", "fullchain.pem", "privkey.pem"]
    assert stat.S_IMODE((out / "privkey.pem").stat().st_mode) == 0o600

    ca = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    leaf, *intermediates = x509.load_pem_x509_certificates((out / "fullchain.pem").read_bytes())
    assert intermediates == [ca]
    store = Store([ca])
    for name in (
        x509.DNSName("intel.example.org"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ):
        verifier = PolicyBuilder().store(store).time(datetime.now(UTC)).build_server_verifier(name)
        assert verifier.verify(leaf, [])[-1] == ca
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 90
