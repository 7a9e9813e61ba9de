"""Client certificates signed by the embedded server's CA (CN = user, O = groups).

    cert, key = client_certificate(server.state_dir / "pki", "alice", ["dev"], tmp_path)
    # kubectl --client-certificate cert --client-key key ... is user alice in group dev

kube-apiserver's x509 authenticator (``--client-ca-file``) takes the subject's common name
as the user name and its organizations as the groups; ours does the same.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["client_certificate", "write_pem_pair"]


def write_pem_pair(
    cert_path: Path, cert: x509.Certificate, key_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    """Write ``cert`` and its private ``key`` as PEM; the key (PKCS#8) readable by us alone."""
    from cryptography.hazmat.primitives import serialization

    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)


def client_certificate(
    pki_dir: Path, user: str, groups: Sequence[str], out_dir: Path
) -> tuple[Path, Path]:
    """Write ``USER.crt``/``USER.key`` into ``out_dir``, signed by the CA in ``pki_dir``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_key_path = pki_dir / "ca.key"
    if not ca_key_path.exists():
        raise FileNotFoundError(
            f"{ca_key_path}: no CA key (a server started over plain HTTP, or state from an "
            "older version): start the server with tls=True in a fresh state directory"
        )
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{ca_key_path}: expected an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    names.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(names))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    safe = user.replace(":", "_").replace("/", "_")
    cert_path, key_path = out_dir / f"{safe}.crt", out_dir / f"{safe}.key"
    write_pem_pair(cert_path, cert, key_path, key)
    return cert_path, key_path
