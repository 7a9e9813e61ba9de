"""The webhook server's certificate: generated (CA + serving cert), rotated, or read from files.

Rules: a serving certificate is signed by the CA in ``caBundle`` and names the Service DNS names
kube-apiserver dials (``<svc>.<ns>.svc``; ``k8s.io/apiserver/pkg/util/webhook/authentication.go``
and ``serviceresolver.go``); it is renewed before it expires while the CA stays, so the bundle in
the configurations stays valid; files in cert-manager's layout (``tls.crt``, ``tls.key``,
``ca.crt``) are re-read when they change, as controller-runtime's ``pkg/certwatcher`` does.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from opframe.errors import ConfigError
from opframe.testing import eventually
from opframe.webhook import CertificateFiles, SelfSignedCertificates


def test_serving_certificate_is_signed_by_the_ca_and_names_the_service() -> None:
    names = ("web-webhook.web-system.svc", "web-webhook.web-system.svc.cluster.local")
    serving = SelfSignedCertificates(names).current()
    cert = x509.load_pem_x509_certificate(serving.cert_pem)
    ca = x509.load_pem_x509_certificate(serving.ca_pem)
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert tuple(san.get_values_for_type(x509.DNSName)) == names
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


async def test_certificate_is_kept_until_due_then_renewed_under_the_same_ca() -> None:
    certs = SelfSignedCertificates(
        validity=dt.timedelta(seconds=4), rotate_before=dt.timedelta(seconds=3)
    )
    first = certs.current()
    assert certs.current() is first  # not due: the same certificate
    ca_before = certs.ca_bundle

    def renewed() -> None:
        assert certs.current() is not first

    await eventually(renewed, timeout=30, message="the serving certificate is renewed")
    second = certs.current()
    assert second.cert_pem != first.cert_pem
    assert second.ca_pem == ca_before  # the CA (valid ten times as long) is kept
    x509.load_pem_x509_certificate(second.cert_pem).verify_directly_issued_by(
        x509.load_pem_x509_certificate(ca_before)
    )


def test_directory_keeps_the_ca_across_restarts(tmp_path: Path) -> None:
    first = SelfSignedCertificates(directory=tmp_path).current()
    assert {p.name for p in tmp_path.iterdir()} == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    assert os.stat(tmp_path / "ca.key").st_mode & 0o077 == 0
    again = SelfSignedCertificates(directory=tmp_path).current()
    assert (again.ca_pem, again.cert_pem) == (first.ca_pem, first.cert_pem)


def test_files_are_reread_when_they_change(tmp_path: Path) -> None:
    one = SelfSignedCertificates().current()
    two = SelfSignedCertificates().current()
    for name, data in (("tls.crt", one.cert_pem), ("tls.key", one.key_pem), ("ca.crt", one.ca_pem)):
        (tmp_path / name).write_bytes(data)
    files = CertificateFiles(tmp_path)
    first = files.current()
    assert first.cert_pem == one.cert_pem and files.current() is first
    for name, data in (("tls.crt", two.cert_pem), ("tls.key", two.key_pem), ("ca.crt", two.ca_pem)):
        (tmp_path / name).write_bytes(data)
    assert files.current().cert_pem == two.cert_pem


def test_missing_files_name_the_path_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tls\.crt.*not found; mount the TLS Secret"):
        CertificateFiles(tmp_path).current()
