"""X.509 certificates for etcd, on :mod:`opframe.certificates`: a CA, the peer/server/client
leaves it signs, and when to renew them (two thirds into their lifetime, cert-manager's
default) or warn that they were not."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from cryptography import x509

from opframe.certificates import CA_VALIDITY, KeyPair, issued_by, lifetime, renew_at
from opframe.certificates import issue_ca as _issue_ca
from opframe.certificates import issue_leaf as _issue_leaf

__all__ = [
    "CA_VALIDITY",
    "KeyPair",
    "issue_ca",
    "issue_leaf",
    "issued_by",
    "lifetime",
    "renew_at",
    "warn_at",
]

Role = Literal["peer", "server", "client"]
WARN_FRACTION = 1 / 6
"""A Warning Event once less than this share of a certificate's lifetime is left (after the
renewal point at two thirds: a renewal that did not happen, or a supplied Secret not renewed)."""


def issue_ca(common_name: str, now: dt.datetime, validity: dt.timedelta = CA_VALIDITY) -> KeyPair:
    """A self-signed CA certificate and key."""
    return _issue_ca(common_name, now=now, validity=validity, backdate=dt.timedelta(minutes=1))


def issue_leaf(
    ca: KeyPair,
    common_name: str,
    role: Role,
    dns: list[str],
    ips: list[str],
    now: dt.datetime,
    validity: dt.timedelta,
) -> KeyPair:
    """A leaf signed by ``ca``: peers and servers authenticate both ways (etcd's gRPC gateway
    presents the server certificate to its own client port), clients as clients only."""
    return _issue_leaf(
        ca,
        common_name,
        dns_names=dns,
        ip_addresses=ips,
        usages=("client",) if role == "client" else ("server", "client"),
        now=now,
        validity=validity,
        # Backdated a little for clocks slightly behind; little enough not to shift the
        # renewal point of a short-lived certificate.
        backdate=min(dt.timedelta(seconds=30), validity / 20),
    )


def warn_at(cert: x509.Certificate) -> dt.datetime:
    """When less than :data:`WARN_FRACTION` of ``cert``'s lifetime is left."""
    return cert.not_valid_after_utc - lifetime(cert) * WARN_FRACTION
