"""A throwaway CA and serving certificate for the embedded API server, and its kubeconfig."""

from __future__ import annotations

import base64
import datetime
import ipaddress
from pathlib import Path

import yaml

from opframe.testing.apiserver.auth.certs import write_pem_pair

__all__ = ["write_certificates", "write_kubeconfig"]


def write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """Create ``ca.crt``, ``server.crt`` and ``server.key`` (for 127.0.0.1 and localhost).

    Existing files are reused, so a restarted server keeps the CA its clients trust.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_path, cert_path, key_path = (
        directory / "ca.crt",
        directory / "server.crt",
        directory / "server.key",
    )
    if ca_path.exists() and cert_path.exists() and key_path.exists():
        return ca_path, cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opframe-local-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName("kubernetes"),
                    x509.DNSName("kubernetes.default.svc"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    # The CA key stays beside it: client certificates are signed with it (auth.certs).
    write_pem_pair(ca_path, ca_cert, directory / "ca.key", ca_key)
    write_pem_pair(cert_path, cert, key_path, key)
    return ca_path, cert_path, key_path


def write_kubeconfig(path: Path, url: str, token: str, ca_file: Path | None) -> Path:
    """Write a kubeconfig whose current context is the embedded server."""
    cluster: dict[str, object] = {"server": url}
    if ca_file is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_file.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "opframe-local", "cluster": cluster}],
        "users": [{"name": "opframe-local", "user": {"token": token}}],
        "contexts": [
            {
                "name": "opframe-local",
                "context": {
                    "cluster": "opframe-local",
                    "user": "opframe-local",
                    "namespace": "default",
                },
            }
        ],
        "current-context": "opframe-local",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
