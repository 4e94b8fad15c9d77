"""A throwaway certificate authority and server certificate for trials of the proxy."""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class LocalCertificate:
    ca: Path
    fullchain: Path
    privkey: Path


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_local_ca(out_dir: Path, names: list[str], *, days: int = 90) -> LocalCertificate:
    """A CA certificate and a server certificate it signed for ``names``."""
    if not names:
        raise ValueError("at least one host name or IP address is needed")
    now = datetime.now(UTC)
    not_before, not_after = now - timedelta(minutes=5), now + timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"intelshare local CA for {names[0]}")]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    result = LocalCertificate(
        out_dir / "ca.pem", out_dir / "fullchain.pem", out_dir / "privkey.pem"
    )
    result.ca.write_bytes(ca_cert.public_bytes(pem))
    result.fullchain.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    # Created 0600 rather than narrowed after writing: the key is never readable by others.
    result.privkey.unlink(missing_ok=True)
    fd = os.open(result.privkey, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m intelshare.localca", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "out_dir",
        type=Path,
        help="where ca.pem, fullchain.pem and "
        "privkey.pem are written (docker-compose mounts deploy/certs)",
    )
    parser.add_argument(
        "names",
        nargs="+",
        help="host names or IP addresses the "
        "certificate is valid for; the first is its common name",
    )
    parser.add_argument("--days", type=int, default=90, help="validity (default 90)")
    args = parser.parse_args(argv)
    written = make_local_ca(args.out_dir, args.names, days=args.days)
    print(f"trust {written.ca}; the proxy uses {written.fullchain} and {written.privkey}")  # noqa: T201


if __name__ == "__main__":
    main()
