"""X.509 certificates: a CA, certificates it signs, and when to renew them.

One place for what the webhook server, the embedded API server, its client certificates and
the etcd operator all need::

    from opframe.certificates import issue_ca, issue_leaf

    ca = issue_ca("web CA")
    serving = issue_leaf(
        ca, "web-webhook", dns_names=["web-webhook.web-system.svc"], ip_addresses=["127.0.0.1"]
    )
    serving.write(Path("tls.crt"), Path("tls.key"))
    renew = renew_at(serving.certificate)  # two thirds into its lifetime

Keys are ECDSA P-256 and signatures SHA-256 (what cert-manager and kubeadm default to for EC
keys). A CA may sign leaves only (``pathLen`` 0); a leaf carries ``digitalSignature`` as its key
usage, the extended usages asked for (``serverAuth``, ``clientAuth``) and its DNS and IP subject
alternative names. Certificates start slightly in the past, for clocks a little behind.

This module needs the ``cryptography`` package: ``pip install 'opframe[webhook]'``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "opframe.certificates needs the 'cryptography' package: pip install 'opframe[webhook]'"
    ) from exc

__all__ = [
    "CA_VALIDITY",
    "KeyPair",
    "Usage",
    "issue_ca",
    "issue_leaf",
    "issued_by",
    "lifetime",
    "renew_at",
]

Usage = Literal["server", "client"]
"""An extended key usage: ``server`` (``serverAuth``) or ``client`` (``clientAuth``)."""

CA_VALIDITY = dt.timedelta(days=3650)
"""How long a CA made by :func:`issue_ca` is valid by default (ten years)."""

_BACKDATE = dt.timedelta(minutes=5)
_USAGES = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM (PKCS#8, unencrypted) private key."""

    cert: bytes
    key: bytes

    @property
    def certificate(self) -> x509.Certificate:
        """The parsed certificate."""
        return x509.load_pem_x509_certificate(self.cert)

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
        """The parsed private key (a CA supplied from files may hold an RSA key);
        :class:`ValueError` when it is neither an EC nor an RSA key."""
        key = serialization.load_pem_private_key(self.key, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"expected an EC or RSA private key, found {type(key).__name__}")
        return key

    @property
    def not_after(self) -> dt.datetime:
        """When the certificate expires (UTC)."""
        return self.certificate.not_valid_after_utc

    @classmethod
    def read(cls, cert_path: Path, key_path: Path) -> KeyPair:
        """The pair in two PEM files (:class:`OSError` when one cannot be read)."""
        return cls(cert_path.read_bytes(), key_path.read_bytes())

    def write(self, cert_path: Path, key_path: Path) -> None:
        """Write both files, each replaced atomically; the key readable by its owner alone."""
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        _write(key_path, self.key, mode=0o600)
        _write(cert_path, self.cert, mode=0o644)


def _write(path: Path, data: bytes, *, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _pair(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> KeyPair:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), key_pem)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _start(now: dt.datetime | None, backdate: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    now = now if now is not None else dt.datetime.now(dt.UTC)
    return now, now - backdate


def issue_ca(
    common_name: str,
    *,
    now: dt.datetime | None = None,
    validity: dt.timedelta = CA_VALIDITY,
    backdate: dt.timedelta = _BACKDATE,
) -> KeyPair:
    """A new self-signed CA that may sign leaf certificates (not other CAs).

    Args:
        common_name: the CA's subject (and issuer) common name.
        now: the issuing time (default: the current time).
        validity: how long from ``now`` it is valid.
        backdate: how long before ``now`` it becomes valid (for clocks a little behind).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now, start = _start(now, backdate)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _pair(cert, key)


def issue_leaf(
    ca: KeyPair,
    common_name: str,
    *,
    organizations: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    usages: Sequence[Usage] = ("server",),
    now: dt.datetime | None = None,
    validity: dt.timedelta = dt.timedelta(days=365),
    backdate: dt.timedelta | None = None,
) -> KeyPair:
    """A new certificate and key signed by ``ca``.

    Args:
        ca: the signing CA (from :func:`issue_ca`, or read with :meth:`KeyPair.read`).
        common_name: the subject's common name (kube-apiserver's x509 authenticator takes it as
            the user name).
        organizations: the subject's organizations (taken as the user's groups).
        dns_names: DNS subject alternative names a client verifies a server against.
        ip_addresses: IP subject alternative names (IPv4 or IPv6 text).
        usages: extended key usages: ``server`` for a TLS server, ``client`` for a client
            certificate, both for a peer that is both (an etcd member).
        now: the issuing time (default: the current time).
        validity: how long from ``now`` it is valid.
        backdate: how long before ``now`` it becomes valid; default five minutes, or a twentieth
            of ``validity`` when that is less, so a short-lived certificate's renewal point
            (:func:`renew_at`) hardly moves.

    Raises:
        ValueError: ``ca`` holds neither an EC nor an RSA key, ``usages`` is empty, or an IP
            address is invalid.
    """
    if not usages:
        raise ValueError(f"certificate {common_name!r}: usages is empty; give server and/or client")
    ca_key = ca.private_key
    key = ec.generate_private_key(ec.SECP256R1())
    now, start = _start(now, backdate if backdate is not None else min(_BACKDATE, validity / 20))
    subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    subject.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    alt: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    alt += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([_USAGES[u] for u in usages]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return _pair(builder.sign(ca_key, hashes.SHA256()), key)


def lifetime(cert: x509.Certificate) -> dt.timedelta:
    """How long ``cert`` is valid, from its start to its expiry."""
    return cert.not_valid_after_utc - cert.not_valid_before_utc


def renew_at(cert: x509.Certificate, fraction: float = 2 / 3) -> dt.datetime:
    """When to renew ``cert``: ``fraction`` into its lifetime (cert-manager's default, two
    thirds)."""
    return cert.not_valid_before_utc + lifetime(cert) * fraction


def issued_by(pair: KeyPair, ca: KeyPair) -> bool:
    """Whether ``pair``'s certificate was signed by ``ca``."""
    try:
        pair.certificate.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
