"""The webhook server's serving certificate: generated and rotated, or read from files.

Two sources, one protocol (:class:`CertificateSource`):

- :class:`SelfSignedCertificates` makes a CA and a serving certificate signed by it
  (:mod:`opframe.certificates`; ECDSA P-256), renews the serving certificate ``rotate_before`` its
  expiry (the CA, valid ten times as long, is kept so the ``caBundle`` given to the API server
  stays valid), and with ``directory`` keeps them on disk so a restart reuses the CA;
- :class:`CertificateFiles` reads ``tls.crt``, ``tls.key`` and ``ca.crt`` from a directory:
  the layout of a ``kubernetes.io/tls`` Secret issued by cert-manager and mounted in the pod.
  The files are re-read when they change (a Secret volume is updated in place).

The server asks the source every ``check_interval`` seconds; a changed certificate is loaded
into the server's live ``ssl.SSLContext``, so new connections get it without a restart (as
controller-runtime's ``certwatcher`` does).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from opframe.errors import ConfigError

if TYPE_CHECKING:
    from opframe.certificates import KeyPair

__all__ = ["CertificateFiles", "CertificateSource", "SelfSignedCertificates", "ServingCertificate"]


@dataclass(frozen=True)
class ServingCertificate:
    """A PEM certificate chain, its key, and the CA bundle clients verify it with."""

    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes

    @property
    def not_after(self) -> dt.datetime:
        """When the serving certificate expires (UTC)."""
        from cryptography import x509

        return x509.load_pem_x509_certificate(self.cert_pem).not_valid_after_utc


class CertificateSource(Protocol):
    """Where the webhook server's certificate comes from."""

    def current(self) -> ServingCertificate:
        """The certificate to serve now: the same object while unchanged, a new one after a
        renewal or a change on disk. Raises :class:`~opframe.ConfigError` naming what is
        missing or invalid."""
        ...


def _require_cryptography() -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigError(
            "generating webhook certificates needs the 'cryptography' package: "
            "pip install 'opframe[webhook]'"
        ) from exc


class SelfSignedCertificates:
    """A generated CA and serving certificate, renewed before expiry.

    Args:
        dns_names: names the certificate is valid for; for a Service ``web-webhook`` in
            ``web-system``: ``web-webhook.web-system.svc`` (and ``...svc.cluster.local``).
        ip_addresses: IP addresses it is valid for (default ``127.0.0.1``).
        directory: keep ``ca.crt``/``ca.key``/``tls.crt``/``tls.key`` here (reused on start);
            ``None`` keeps them in memory only.
        validity: lifetime of a serving certificate (the CA lives ten times as long).
        rotate_before: renew the serving certificate when it has less than this left.

    :attr:`ca_bundle` is the PEM CA to put in the webhook configurations' ``caBundle``.
    """

    def __init__(
        self,
        dns_names: Sequence[str] = ("localhost",),
        *,
        ip_addresses: Sequence[str] = ("127.0.0.1",),
        directory: Path | str | None = None,
        validity: dt.timedelta = dt.timedelta(days=90),
        rotate_before: dt.timedelta = dt.timedelta(days=30),
    ) -> None:
        if rotate_before >= validity:
            raise ValueError("rotate_before must be shorter than validity")
        self.dns_names = tuple(dns_names)
        self.ip_addresses = tuple(ipaddress.ip_address(a) for a in ip_addresses)
        if not self.dns_names and not self.ip_addresses:
            raise ValueError("a serving certificate needs at least one DNS name or IP address")
        self.directory = Path(directory) if directory is not None else None
        self.validity = validity
        self.rotate_before = rotate_before
        _require_cryptography()
        self._ca: KeyPair | None = None
        self._current: ServingCertificate | None = None
        self._load_directory()

    @property
    def ca_bundle(self) -> bytes:
        """The PEM CA certificate that signs the serving certificates."""
        return self.current().ca_pem

    def current(self) -> ServingCertificate:
        """The serving certificate, generating or renewing it when due."""
        now = dt.datetime.now(dt.UTC)
        if self._ca is None or self._ca.not_after - now < self.rotate_before:
            self._new_ca(now)
            self._current = None
        if self._current is None or self._current.not_after - now < self.rotate_before:
            self._current = self._new_leaf(now)
            self._save()
        return self._current

    def _new_ca(self, now: dt.datetime) -> None:
        from opframe.certificates import issue_ca

        self._ca = issue_ca("opframe webhook CA", now=now, validity=self.validity * 10)

    def _new_leaf(self, now: dt.datetime) -> ServingCertificate:
        from opframe.certificates import issue_leaf

        assert self._ca is not None
        ips = [str(a) for a in self.ip_addresses]
        common = self.dns_names[0] if self.dns_names else ips[0]
        leaf = issue_leaf(
            self._ca,
            common,
            dns_names=self.dns_names,
            ip_addresses=ips,
            now=now,
            validity=self.validity,
        )
        return ServingCertificate(leaf.cert, leaf.key, self._ca.cert)

    def _load_directory(self) -> None:
        if self.directory is None or not (self.directory / "ca.key").exists():
            return
        from opframe.certificates import KeyPair

        try:
            ca = KeyPair.read(self.directory / "ca.crt", self.directory / "ca.key")
            ca.private_key  # noqa: B018 - parse now: a broken file fails here
            self._ca = ca
            if (self.directory / "tls.crt").exists():
                leaf = KeyPair.read(self.directory / "tls.crt", self.directory / "tls.key")
                self._current = ServingCertificate(leaf.cert, leaf.key, ca.cert)
                self._current.not_after  # noqa: B018 - parse now: a broken file fails here
        except (OSError, ValueError) as exc:
            raise ConfigError(f"webhook certificates in {self.directory}: {exc}") from exc

    def _save(self) -> None:
        if self.directory is None or self._current is None or self._ca is None:
            return
        from opframe.certificates import KeyPair

        self._ca.write(self.directory / "ca.crt", self.directory / "ca.key")
        leaf = KeyPair(self._current.cert_pem, self._current.key_pem)
        leaf.write(self.directory / "tls.crt", self.directory / "tls.key")


class CertificateFiles:
    """``tls.crt``, ``tls.key`` and ``ca.crt`` in ``directory``, re-read when they change.

    The layout of a cert-manager ``Certificate``'s Secret mounted as a volume. ``ca.crt`` is
    optional (a certificate from a public CA has none to hand out).
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        cert_file: str = "tls.crt",
        key_file: str = "tls.key",
        ca_file: str = "ca.crt",
    ) -> None:
        self.directory = Path(directory)
        self._files = (cert_file, key_file, ca_file)
        self._stamp: tuple[object, ...] | None = None
        self._current: ServingCertificate | None = None

    def _stamps(self) -> tuple[object, ...]:
        stamps: list[object] = []
        for name in self._files:
            # A Secret volume swaps a "..data" symlink: stat follows it to the new files.
            try:
                st = (self.directory / name).stat()
                stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except FileNotFoundError:
                stamps.append(None)
        return tuple(stamps)

    def current(self) -> ServingCertificate:
        """The certificate in the files, re-read when a file's size, time or inode changed."""
        stamp = self._stamps()
        if self._current is not None and stamp == self._stamp:
            return self._current
        cert, key, ca = (self.directory / name for name in self._files)
        missing = [str(p) for p in (cert, key) if not p.exists()]
        if missing:
            raise ConfigError(
                f"webhook serving certificate: {', '.join(missing)} not found; mount the TLS "
                "Secret there (tls.crt, tls.key) or use SelfSignedCertificates"
            )
        self._current = ServingCertificate(
            cert.read_bytes(), key.read_bytes(), ca.read_bytes() if ca.exists() else b""
        )
        self._stamp = stamp
        return self._current
