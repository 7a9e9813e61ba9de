"""etcd over TLS: member flags and volumes, generated certificates, the operator's client.

Two modes, chosen by ``spec.tls``:

- **supplied** (cert-manager's layout): ``peer``, ``server`` and ``client`` name Secrets of type
  ``kubernetes.io/tls`` that also hold ``ca.crt``;
- **generated** (``autoGenerate: true``): the operator creates a CA and the three leaves itself
  in ``<cluster>-ca``, ``<cluster>-peer-tls``, ``<cluster>-server-tls`` and
  ``<cluster>-client-tls``, owned by the EtcdCluster, and renews each leaf at two thirds of its
  lifetime (``certificateValidity``).

Members mount the Secrets as volumes; etcd loads its certificate and key on every new
handshake, so a renewed Secret that the kubelet swaps into the volume reaches the member
without a restart. Readiness is probed over plain HTTP on ``--listen-metrics-urls`` (it
serves ``/health`` and ``/metrics`` only), as kubeadm does: with ``--client-cert-auth`` the
client port refuses a probe that has no client certificate.

The operator verifies members against the client Service's name
(``<cluster>-client.<ns>.svc``): every member serves the same server certificate, so that name
is in its SANs whichever address the operator dials (pod IPs are not known when a certificate
is issued).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import aetcd
import grpc
from aetcd import rpc
from cryptography import x509
from prometheus_client import CollectorRegistry, Gauge

from etcd_operator.certificates import (
    KeyPair,
    issue_ca,
    issue_leaf,
    issued_by,
    lifetime,
    renew_at,
    warn_at,
)
from etcd_operator.models import CertificateStatus, EtcdCluster, TLSStatus
from etcd_operator.naming import CLIENT_PORT, client_service_name, peer_service_name
from opframe import (
    Condition,
    Context,
    NotFound,
    ObjectMeta,
    Pod,
    Secret,
    owner_reference_for,
    set_condition,
)
from opframe.kinds import (
    HTTPGetAction,
    Probe,
    SecretVolumeSource,
    Volume,
    VolumeMount,
)

__all__ = [
    "DEFAULT_VALIDITY",
    "METRICS_PORT",
    "ROLES",
    "TRUST_ANNOTATION",
    "CertificateMetrics",
    "ClientTLS",
    "KeyPair",
    "Role",
    "TLSState",
    "client_credentials",
    "client_scheme",
    "connect",
    "enabled",
    "generated_secret_name",
    "issue_ca",
    "issue_leaf",
    "member_args",
    "member_mounts",
    "member_volumes",
    "parse_validity",
    "peer_scheme",
    "prepare",
    "readiness_probe",
    "renew_at",
    "report",
    "running_client_scheme",
    "running_urls",
    "sans",
    "spec_problem",
    "trust_of",
    "url_problem",
]

Role = Literal["peer", "server", "client"]
EventType = Literal["Normal", "Warning"]
ROLES: tuple[Role, ...] = ("peer", "server", "client")
MOUNT_ROOT = "/etc/etcd/tls"
METRICS_PORT = 2381
DEFAULT_VALIDITY = "2160h"
"""90 days, as cert-manager's default."""
MIN_VALIDITY = dt.timedelta(seconds=20)
TRUST_ANNOTATION = "etcd.opframe.dev/trust-bundle"
"""On member pods: a digest of the trust bundle (``ca.crt`` of the peer and server Secrets)
as it was when the pod was created, i.e. what etcd loaded at its start: etcd reads
``--trusted-ca-file`` and ``--peer-trusted-ca-file`` once (``client/pkg/transport/
listener.go``, ``NewCertPool`` in ``ServerConfig``/``ClientConfig``), unlike its key pair,
which it loads on every handshake. A member whose digest differs from the Secrets' is
restarted (:mod:`etcd_operator.planner`, rule 14)."""

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_validity(text: str) -> dt.timedelta:
    """A Go-style duration (``2160h``, ``90d``, ``1h30m``, ``2m``) as a timedelta.

    Raises:
        ValueError: not a duration, naming the field.
    """
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError(
            f"spec.tls.certificateValidity {text!r} is not a duration such as 2160h, 90d or 2m"
        )
    return dt.timedelta(seconds=total)


# -- the spec ----------------------------------------------------------------------------


def enabled(cluster: EtcdCluster) -> bool:
    """Whether ``spec.tls`` asks for TLS at all."""
    t = cluster.spec.tls
    return t is not None and (t.auto_generate or any((t.peer, t.server, t.client)))


def _secret_names(cluster: EtcdCluster) -> dict[Role, str]:
    t = cluster.spec.tls
    if t is None:
        return {}
    if t.auto_generate:
        return {r: generated_secret_name(cluster.name, r) for r in ROLES}
    refs = {"peer": t.peer, "server": t.server, "client": t.client}
    return {r: ref.name for r, ref in refs.items() if ref is not None}  # type: ignore[misc]


def generated_secret_name(cluster: str, role: Role | Literal["ca"]) -> str:
    """``<cluster>-ca``, ``<cluster>-peer-tls``, ``-server-tls``, ``-client-tls``."""
    return f"{cluster}-ca" if role == "ca" else f"{cluster}-{role}-tls"


def trust_of(bundles: Sequence[bytes]) -> str:
    """The digest of the trust bundles a member loads (``""``: no TLS)."""
    if not bundles:
        return ""
    return hashlib.sha256(b"\0".join(bundles)).hexdigest()[:16]


def peer_scheme(cluster: EtcdCluster) -> str:
    """``https`` when members talk to each other over TLS."""
    return "https" if "peer" in _secret_names(cluster) else "http"


def client_scheme(cluster: EtcdCluster) -> str:
    """``https`` when members serve clients over TLS."""
    return "https" if "server" in _secret_names(cluster) else "http"


def spec_problem(cluster: EtcdCluster) -> str:
    """Why ``spec.tls`` cannot be honoured as written (``""``: it can)."""
    t = cluster.spec.tls
    if t is None or not enabled(cluster):
        return ""
    if t.auto_generate:
        if any((t.peer, t.server, t.client)):
            return "spec.tls: set autoGenerate or name Secrets (peer/server/client), not both"
        try:
            validity = parse_validity(t.certificate_validity)
        except ValueError as e:
            return str(e)
        if validity < MIN_VALIDITY:
            return (
                f"spec.tls.certificateValidity {t.certificate_validity} is shorter than "
                f"{MIN_VALIDITY.total_seconds():.0f}s; certificates would expire before they "
                "reach every member"
            )
        return ""
    if (t.server is None) != (t.client is None):
        return (
            "spec.tls: server and client go together (members that require client "
            "certificates need the operator's client certificate, and a client certificate "
            "is useless without a TLS server); set both or neither"
        )
    return ""


def url_problem(cluster: EtcdCluster, peer_urls: list[str], client_urls: list[str]) -> str:
    """Why the members' current URLs forbid acting under this spec (``""``: they do not).

    Switching a running cluster between plain and TLS is refused: peer URLs are agreed in
    raft, a member cannot listen on http and https on one port, and a rolling switch would
    leave members that cannot reach each other mid-way (quorum at stake).
    """
    want_peer, want_client = peer_scheme(cluster), client_scheme(cluster)
    have_peer = {u.split("://", 1)[0] for u in peer_urls if "://" in u}
    have_client = {u.split("://", 1)[0] for u in client_urls if "://" in u}
    if have_peer and have_peer != {want_peer}:
        return (
            f"members use {'/'.join(sorted(have_peer))} peer URLs but spec.tls asks for "
            f"{want_peer}: switching TLS on or off on a running cluster is not supported "
            "(peer URLs are agreed in raft, a rolling switch would split the cluster); "
            "restore spec.tls, or create a new cluster from a backup"
        )
    if have_client and have_client != {want_client}:
        return (
            f"members serve clients over {'/'.join(sorted(have_client))} but spec.tls asks "
            f"for {want_client}: switching client TLS on a running cluster is not supported; "
            "restore spec.tls, or create a new cluster from a backup"
        )
    return ""


def running_urls(pods: Sequence[Pod]) -> tuple[list[str], list[str]]:
    """The peer and client listen URLs the member pods were started with (their args)."""
    peer: list[str] = []
    client: list[str] = []
    for p in pods:
        for c in p.spec.containers[:1]:
            for arg in c.args or []:
                if arg.startswith("--listen-peer-urls="):
                    peer.append(arg.split("=", 1)[1])
                elif arg.startswith("--listen-client-urls="):
                    client.append(arg.split("=", 1)[1])
    return peer, client


def running_client_scheme(cluster: EtcdCluster, pods: Sequence[Pod]) -> str:
    """The scheme to reach members with: what the running pods serve when they agree (so a
    refused plain/TLS switch is still observed), else what ``spec.tls`` asks for."""
    _, client = running_urls(pods)
    schemes = {u.split("://", 1)[0] for u in client if "://" in u}
    return schemes.pop() if len(schemes) == 1 else client_scheme(cluster)


# -- member pods -------------------------------------------------------------------------


def _dir(role: Role) -> str:
    return f"{MOUNT_ROOT}/{role}"


def member_args(cluster: EtcdCluster) -> list[str]:
    """etcd's TLS flags for the roles in use (none without ``spec.tls``)."""
    names = _secret_names(cluster)
    args: list[str] = []
    # etcd names the peer flags as the client-facing ones with a ``peer-`` prefix.
    for role, prefix in (("server", ""), ("peer", "peer-")):
        if role in names:
            d = _dir(role)
            args += [
                f"--{prefix}cert-file={d}/tls.crt",
                f"--{prefix}key-file={d}/tls.key",
                f"--{prefix}trusted-ca-file={d}/ca.crt",
                f"--{prefix}client-cert-auth=true",
            ]
    if names:
        # /health and /metrics over plain HTTP for the kubelet's probe (no client certificate).
        args.append(f"--listen-metrics-urls=http://$(POD_IP):{METRICS_PORT}")
    return args


def member_volumes(cluster: EtcdCluster) -> list[Volume]:
    """The Secret volumes of member pods (``tls-peer``, ``tls-server``)."""
    names = _secret_names(cluster)
    return [
        Volume(
            name=f"tls-{role}",
            secret=SecretVolumeSource(secret_name=names[role], default_mode=0o400),
        )
        for role in ("peer", "server")
        if role in names
    ]


def member_mounts(cluster: EtcdCluster) -> list[VolumeMount]:
    """Where member containers see the Secrets (whole directories: updated in place)."""
    names = _secret_names(cluster)
    return [
        VolumeMount(name=f"tls-{role}", mount_path=_dir(role), read_only=True)
        for role in ("peer", "server")
        if role in names
    ]


def readiness_probe(cluster: EtcdCluster, path: str = "/health") -> Probe | None:
    """The readiness probe of ``path`` on the plain metrics listener, or ``None`` without TLS.

    ``path`` is the one :func:`etcd_operator.settings.readiness_path` picks for the member's
    version (NOSPACE excluded): the metrics listener serves the same health handler.
    """
    if not _secret_names(cluster):
        return None
    return Probe(
        http_get=HTTPGetAction(path=path, port=METRICS_PORT),
        period_seconds=1,
        timeout_seconds=2,
        failure_threshold=3,
    )


def sans(cluster: EtcdCluster, role: Role) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses a generated certificate of ``role`` is valid for.

    Members are reached as ``<pod>.<cluster>.<ns>.svc`` (headless Service, short and
    fully qualified), through the client Service, and on loopback (the local kubelet runs
    pods as processes: peers' connections come from 127.0.0.1, which etcd checks against
    the peer certificate's SANs).
    """
    if role == "client":
        return [f"{cluster.name}-operator-client"], []
    ns, peer, client = (
        cluster.namespace,
        peer_service_name(cluster.name),
        client_service_name(cluster.name),
    )
    dns = [f"*.{peer}.{ns}.svc", f"*.{peer}.{ns}.svc.cluster.local"]
    if role == "server":
        dns += [
            client,
            f"{client}.{ns}",
            f"{client}.{ns}.svc",
            f"{client}.{ns}.svc.cluster.local",
        ]
    return [*dns, "localhost"], ["127.0.0.1"]


# -- the operator's client ---------------------------------------------------------------


@dataclass(frozen=True)
class ClientTLS:
    """What the operator presents to members and how it verifies them."""

    ca: bytes
    cert: bytes
    key: bytes
    server_name: str
    """The name verified in members' certificates (the client Service's)."""

    @functools.cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """An ``ssl`` context for HTTPS calls (``/health``) with the client certificate."""
        import os
        import tempfile

        ctx = ssl.create_default_context(cadata=self.ca.decode())
        # ssl loads a key pair from files only: write them to a private temp dir briefly.
        with tempfile.TemporaryDirectory() as d:
            cert, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
            with open(cert, "wb") as f:
                f.write(self.cert)
            with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                f.write(self.key)
            ctx.load_cert_chain(cert, key)
        return ctx


class _TLSClient(aetcd.Client):  # type: ignore[misc]
    """``aetcd.Client`` over a TLS channel (aetcd itself opens insecure channels only)."""

    def __init__(self, host: str, port: int, tls: ClientTLS, timeout: float) -> None:
        super().__init__(
            host=host,
            port=port,
            timeout=timeout,
            options={"grpc.ssl_target_name_override": tls.server_name},
        )
        self._credentials = grpc.ssl_channel_credentials(
            root_certificates=tls.ca, private_key=tls.key, certificate_chain=tls.cert
        )

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        target = f"{self._host}:{self._port}"
        self.channel = rpc.secure_channel(target, self._credentials, options=self._options.items())
        self.kvstub = rpc.KVStub(self.channel)
        self.clusterstub = rpc.ClusterStub(self.channel)
        self.leasestub = rpc.LeaseStub(self.channel)
        self.maintenancestub = rpc.MaintenanceStub(self.channel)
        self._watcher = aetcd.watcher.Watcher(
            rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata
        )
        self._connected.set()


def connect(host: str, port: int, *, tls: ClientTLS | None, timeout: float) -> aetcd.Client:
    """An (unconnected) ``aetcd.Client`` to a member, over TLS when ``tls`` is given."""
    if tls is None:
        return aetcd.Client(host=host, port=port, timeout=timeout)
    return _TLSClient(host, port, tls, timeout)


# -- Secrets -----------------------------------------------------------------------------


@dataclass
class TLSState:
    """What one reconcile learned about the cluster's certificates."""

    client: ClientTLS | None = None
    problem: str = ""
    """Why TLS cannot be used now (a missing or malformed Secret, a bad spec)."""
    status: TLSStatus | None = None
    requeue_after: float | None = None
    """Seconds until the next renewal is due (the reconcile comes back then, no polling)."""
    events: list[tuple[EventType, str, str]] = field(default_factory=list)
    """(type, reason, message) to record."""
    trust: str = ""
    """:func:`trust_of` the ``ca.crt`` members mount now (peer and server Secrets)."""
    ca_secret: Secret | None = None
    """The generated CA's Secret as read (generated mode): the CA rotation's state."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _tls_secret(cluster: EtcdCluster, name: str, pair: KeyPair, bundle: bytes) -> Secret:
    from etcd_operator.builders import cluster_labels

    return Secret(
        metadata=ObjectMeta(
            name=name,
            namespace=cluster.namespace,
            labels=cluster_labels(cluster),
            owner_references=[owner_reference_for(cluster)],
        ),
        type="kubernetes.io/tls",
        data={"tls.crt": _b64(pair.cert), "tls.key": _b64(pair.key), "ca.crt": _b64(bundle)},
    )


def _pair_of(secret: Secret) -> tuple[KeyPair, bytes] | None:
    data = secret.decoded()
    cert, key, ca = data.get("tls.crt"), data.get("tls.key"), data.get("ca.crt")
    if not cert or not key or not ca:
        return None
    try:
        x509.load_pem_x509_certificate(cert)
    except ValueError:
        return None
    return KeyPair(cert, key), ca


async def _get(ctx: Context, name: str, ns: str) -> Secret | None:
    try:
        return await ctx.client.get(Secret, name, namespace=ns)
    except NotFound:
        return None


async def _ensure_generated(
    ctx: Context, cluster: EtcdCluster, now: dt.datetime, state: TLSState
) -> dict[Role, tuple[KeyPair, bytes]]:
    """Create the CA and leaves that are missing, renew leaves due; return the leaves."""
    t = cluster.spec.tls
    assert t is not None
    validity = parse_validity(t.certificate_validity)
    ns = cluster.namespace
    ca_name = generated_secret_name(cluster.name, "ca")
    ca_secret = await _get(ctx, ca_name, ns)
    found = _pair_of(ca_secret) if ca_secret is not None else None
    if found is None:
        ca = issue_ca(f"{cluster.name} etcd CA", now)
        ca_secret = await ctx.client.create(_tls_secret(cluster, ca_name, ca, ca.cert))
        bundle = ca.cert
        state.events.append(("Normal", "CertificateIssued", f"CA issued in Secret {ca_name}"))
    else:
        ca, bundle = found
    state.ca_secret = ca_secret
    leaves: dict[Role, tuple[KeyPair, bytes]] = {}
    rebundled: list[str] = []
    for role in ROLES:
        name = generated_secret_name(cluster.name, role)
        secret = await _get(ctx, name, ns)
        current = _pair_of(secret) if secret is not None else None
        why = ""
        if current is not None and current[1] != bundle and issued_by(current[0], ca):
            # The CA rotation changed the trust bundle (the CA Secret's ca.crt): the same
            # leaf, the new bundle (members load it at their next start).
            await _write(ctx, secret, _tls_secret(cluster, name, current[0], bundle))
            current = (current[0], bundle)
            rebundled.append(name)
        if current is None:
            why = "issued"
        elif not issued_by(current[0], ca):
            why = "reissued (not signed by the current CA)"
        elif now >= renew_at(current[0].certificate):
            why = "renewed"
        elif lifetime(current[0].certificate) > validity * 1.1:
            why = "reissued (certificateValidity shortened)"
        if why:
            dns, ips = sans(cluster, role)
            pair = issue_leaf(ca, f"{cluster.name}-{role}", role, dns, ips, now, validity)
            await _write(ctx, secret, _tls_secret(cluster, name, pair, bundle))
            current = (pair, bundle)
            end = pair.certificate.not_valid_after_utc
            state.events.append(
                (
                    "Normal",
                    "CertificateRenewed" if why == "renewed" else "CertificateIssued",
                    f"{role} certificate {why} in Secret {name}, valid until "
                    f"{end:%Y-%m-%dT%H:%M:%SZ}",
                )
            )
        assert current is not None
        leaves[role] = current
    if rebundled:
        state.events.append(
            (
                "Normal",
                "TrustBundleUpdated",
                f"ca.crt of Secrets {', '.join(rebundled)} now holds the CA Secret's trust "
                f"bundle ({len(_certs_in(bundle))} CA certificates)",
            )
        )
    return leaves


def _certs_in(bundle: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(bundle)
    except ValueError:
        return []


async def _write(ctx: Context, old: Secret | None, new: Secret) -> None:
    if old is None:
        await ctx.client.create(new)
        return
    new.metadata.resource_version = old.metadata.resource_version
    await ctx.client.replace(new)


async def prepare(ctx: Context, cluster: EtcdCluster, now: dt.datetime | None = None) -> TLSState:
    """Generate or renew certificates where asked, load the operator's client certificate,
    and report every certificate's expiry; never raises for a missing or bad Secret."""
    state = TLSState()
    if not enabled(cluster):
        return state
    state.problem = spec_problem(cluster)
    if state.problem:
        return state
    now = now or dt.datetime.now(dt.UTC)
    t = cluster.spec.tls
    assert t is not None
    names = _secret_names(cluster)
    pairs: dict[Role, tuple[KeyPair, bytes]] = {}
    if t.auto_generate:
        pairs = await _ensure_generated(ctx, cluster, now, state)
    else:
        for role, name in names.items():
            secret = await _get(ctx, name, cluster.namespace)
            found = _pair_of(secret) if secret is not None else None
            if found is None:
                state.problem = (
                    f"spec.tls.{role}: Secret {cluster.namespace}/{name} "
                    + ("does not exist" if secret is None else "lacks tls.crt, tls.key or ca.crt")
                    + "; create it (type kubernetes.io/tls with ca.crt)"
                )
                return state
            pairs[role] = found
    certificates: list[CertificateStatus] = []
    due: list[dt.datetime] = []
    state.trust = trust_of([pairs[r][1] for r in ("peer", "server") if r in pairs])
    checked: list[tuple[Role | Literal["ca"], str, KeyPair]] = [
        (role, names[role], pair) for role, (pair, _) in pairs.items()
    ]
    ca_found = _pair_of(state.ca_secret) if state.ca_secret is not None else None
    if ca_found is not None:
        # The CA renews at two thirds too, by a rotation (etcd_operator.carotation).
        checked.insert(0, ("ca", generated_secret_name(cluster.name, "ca"), ca_found[0]))
    for kind, secret_name, pair in checked:
        cert = pair.certificate
        end = cert.not_valid_after_utc
        at = renew_at(cert) if t.auto_generate else None
        certificates.append(
            CertificateStatus(role=kind, secret=secret_name, not_after=end, renew_at=at)
        )
        if at is not None:
            due.append(at)
        if now >= warn_at(cert):
            left = (end - now).total_seconds()
            state.events.append(
                (
                    "Warning",
                    "CertificateExpiring" if left > 0 else "CertificateExpired",
                    f"{kind} certificate in Secret {secret_name} "
                    + (f"expires in {left:.0f}s" if left > 0 else "has expired")
                    + (
                        "; renew it (the operator renews generated certificates itself)"
                        if not t.auto_generate
                        else "; renewal did not happen, see the operator's log"
                    ),
                )
            )
    if due:
        state.requeue_after = max(1.0, (min(due) - now).total_seconds())
    state.status = TLSStatus(
        mode="Generated" if t.auto_generate else "Supplied", certificates=certificates
    )
    if "client" in pairs:
        client, ca = pairs["client"]
        # Trust whatever CA the server Secret says signed the members (its ca.crt bundle).
        server_ca = pairs["server"][1] if "server" in pairs else ca
        state.client = ClientTLS(
            ca=server_ca,
            cert=client.cert,
            key=client.key,
            server_name=f"{client_service_name(cluster.name)}.{cluster.namespace}.svc",
        )
    return state


async def client_credentials(ctx: Context, cluster: EtcdCluster) -> ClientTLS | None:
    """The operator's client certificate for ``cluster`` as its Secrets hold it now (``None``
    without client TLS), for callers other than the reconciler (backups); nothing is generated.

    Raises:
        ValueError: a Secret is missing or malformed, naming it.
    """
    names = _secret_names(cluster)
    if "client" not in names:
        return None
    found: dict[Role, tuple[KeyPair, bytes]] = {}
    for role in ("client", "server"):
        secret = await _get(ctx, names[role], cluster.namespace)
        pair = _pair_of(secret) if secret is not None else None
        if pair is None:
            raise ValueError(
                f"Secret {cluster.namespace}/{names[role]} (spec.tls.{role}) is missing or "
                "lacks tls.crt, tls.key or ca.crt"
            )
        found[role] = pair
    client = found["client"][0]
    return ClientTLS(
        ca=found["server"][1],
        cert=client.cert,
        key=client.key,
        server_name=f"{client_service_name(cluster.name)}.{cluster.namespace}.svc",
    )


class CertificateMetrics:
    """``etcd_operator_certificate_expiry_timestamp_seconds{namespace,cluster,secret}``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.expiry = Gauge(
            "etcd_operator_certificate_expiry_timestamp_seconds",
            "When a certificate an etcd cluster uses expires (Unix time)",
            ["namespace", "cluster", "secret"],
            registry=registry,
        )
        self._seen: dict[tuple[str, str], set[str]] = {}

    def record(self, cluster: EtcdCluster, status: TLSStatus | None) -> None:
        """Expose the expiry of every certificate in ``status``; forget ones no longer used."""
        key = (cluster.namespace, cluster.name)
        now = {c.secret: c for c in (status.certificates if status else [])}
        for gone in self._seen.get(key, set()) - now.keys():
            self.expiry.remove(cluster.namespace, cluster.name, gone)
        for name, c in now.items():
            if c.not_after is not None:
                self.expiry.labels(cluster.namespace, cluster.name, name).set(
                    c.not_after.timestamp()
                )
        self._seen[key] = set(now)


def endpoint_host_port(endpoint: str) -> tuple[str, int]:
    """Host and port of a client URL."""
    rest = endpoint.split("://", 1)[-1].rstrip("/")
    host, _, port = rest.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else (rest, CLIENT_PORT)


def report(conditions: list[Condition], state: TLSState, generation: int | None) -> None:
    """Set the ``CertificatesReady`` condition (only while ``spec.tls`` is in use)."""
    if state.problem:
        set_condition(conditions, "CertificatesReady", False, "Invalid", state.problem, generation)
        return
    if state.status is None:
        conditions[:] = [c for c in conditions if c.type != "CertificatesReady"]
        return
    warnings = [m for kind, _, m in state.events if kind == "Warning"]
    renewed = [m for kind, reason, m in state.events if reason == "CertificateRenewed"]
    ends = [c.not_after for c in state.status.certificates if c.not_after is not None]
    first = min(ends) if ends else None
    until = f"; the first expires at {first:%Y-%m-%dT%H:%M:%SZ}" if first else ""
    rotation = state.status.ca_rotation
    if warnings:
        set_condition(
            conditions, "CertificatesReady", False, "ExpiringSoon", "; ".join(warnings), generation
        )
    elif rotation is not None:
        # Every certificate is valid meanwhile; the message says which phase runs and why.
        step = f"CA rotation phase {rotation.phase}"
        set_condition(
            conditions,
            "CertificatesReady",
            True,
            "RotatingCA",
            f"{step}: {rotation.message}" if rotation.message else step,
            generation,
        )
    elif renewed:
        set_condition(
            conditions,
            "CertificatesReady",
            True,
            "Renewed",
            "; ".join(renewed) + "; members load it on their next handshakes",
            generation,
        )
    else:
        set_condition(
            conditions,
            "CertificatesReady",
            True,
            "Valid",
            f"{len(ends)} certificates valid ({state.status.mode.lower()}){until}",
            generation,
        )
