"""opframe.certificates: what a CA and the leaves it issues carry.

The extensions follow RFC 5280 (4.2.1.3 key usage, 4.2.1.6 subject alternative names, 4.2.1.9
basic constraints, 4.2.1.12 extended key usage); the renewal point is cert-manager's default
(``renewBefore`` one third of the duration, pkg/util/pki/renewaltime.go).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from opframe.certificates import KeyPair, issue_ca, issue_leaf, issued_by, lifetime, renew_at

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def test_a_ca_may_sign_leaves_only() -> None:
    cert = issue_ca("test CA", now=NOW).certificate
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (constraints.ca, constraints.path_length) == (True, 0)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign


def test_a_leaf_carries_its_names_usages_and_groups() -> None:
    ca = issue_ca("test CA", now=NOW)
    leaf = issue_leaf(
        ca, "alice", organizations=["dev"], dns_names=["web.default.svc"],
        ip_addresses=["127.0.0.1", "::1"], usages=("server", "client"), now=NOW,
    )  # fmt: skip
    cert = leaf.certificate
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["web.default.svc"]
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"),
    ]  # fmt: skip
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "dev"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert issued_by(leaf, ca) and not issued_by(leaf, issue_ca("other CA", now=NOW))


def test_renewal_is_two_thirds_into_the_lifetime_of_a_short_certificate() -> None:
    """A short-lived leaf is backdated by a twentieth of its validity (not five minutes), so
    its renewal point stays near two thirds of the validity after issuing."""
    leaf = issue_leaf(issue_ca("ca", now=NOW), "s", validity=dt.timedelta(minutes=3), now=NOW)
    cert = leaf.certificate
    assert cert.not_valid_before_utc == NOW - dt.timedelta(seconds=9)
    assert lifetime(cert) == dt.timedelta(minutes=3, seconds=9)
    assert renew_at(cert) == NOW + dt.timedelta(minutes=2, seconds=-3)


def test_a_written_key_is_readable_by_its_owner_alone(tmp_path: Path) -> None:
    pair = issue_ca("ca", now=NOW)
    pair.write(tmp_path / "pki" / "ca.crt", tmp_path / "pki" / "ca.key")
    assert stat.S_IMODE((tmp_path / "pki" / "ca.key").stat().st_mode) == 0o600
    assert KeyPair.read(tmp_path / "pki" / "ca.crt", tmp_path / "pki" / "ca.key") == pair


def test_a_leaf_without_usages_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="certificate 'web': usages is empty"):
        issue_leaf(issue_ca("ca", now=NOW), "web", usages=())
