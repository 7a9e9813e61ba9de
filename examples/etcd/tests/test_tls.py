"""TLS rules as pure functions: certificates, SANs, member flags, refusals, the atomic writer.

Rules followed: etcd ``client/pkg/transport/listener_tls.go`` (a peer's client certificate
must name the address it connects from: 127.0.0.1 on the local kubelet's loopback),
``listener.go`` (``--client-cert-auth`` requires a verified client certificate, so probes
go to the plain ``--listen-metrics-urls``); cert-manager renews at two thirds of a
certificate's lifetime; kubelet ``pkg/volume/util/atomic_writer.go`` (a volume update is one
symlink swap).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from etcd_operator import builders, settings, tls
from etcd_operator.actions import Refuse
from etcd_operator.models import EtcdCluster, EtcdClusterSpec, SecretReference, TLSSpec
from etcd_operator.planner import Observed, plan

from opframe.testing.kubelet.volumes import atomic_write

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _cluster(spec: TLSSpec | None) -> EtcdCluster:
    return EtcdCluster(
        metadata={"name": "demo", "namespace": "ns", "uid": "u"}, spec=EtcdClusterSpec(tls=spec)
    )


SUPPLIED = TLSSpec(
    peer=SecretReference(name="p"),
    server=SecretReference(name="s"),
    client=SecretReference(name="c"),
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2160h", 90 * 86400), ("90d", 90 * 86400), ("2m", 120), ("1h30m", 5400), ("30s", 30)],
)
def test_certificate_validity_is_a_go_duration(text: str, seconds: float) -> None:
    assert tls.parse_validity(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "2", "m2", "2x", "1h 2m"])
def test_bad_validity_names_the_field(text: str) -> None:
    with pytest.raises(ValueError, match=r"spec\.tls\.certificateValidity"):
        tls.parse_validity(text)


def test_leaf_is_signed_by_the_ca_and_renewed_at_two_thirds() -> None:
    ca = tls.issue_ca("ca", NOW)
    c = _cluster(TLSSpec(auto_generate=True))
    dns, ips = tls.sans(c, "server")
    leaf = tls.issue_leaf(ca, "demo-server", "server", dns, ips, NOW, dt.timedelta(minutes=3))
    cert = leaf.certificate
    cert.verify_directly_issued_by(ca.certificate)
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert tls.renew_at(cert) - cert.not_valid_before_utc == life * 2 / 3
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    # etcd's gRPC gateway presents the server certificate to its own client port.
    assert {u.dotted_string for u in usage} == {"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"}


def test_server_sans_cover_every_name_a_member_is_reached_by() -> None:
    dns, ips = tls.sans(_cluster(SUPPLIED), "server")
    assert "*.demo.ns.svc" in dns and "*.demo.ns.svc.cluster.local" in dns
    assert "demo-client.ns.svc" in dns and "localhost" in dns
    assert ipaddress.ip_address("127.0.0.1") in map(ipaddress.ip_address, ips)
    peer_dns, peer_ips = tls.sans(_cluster(SUPPLIED), "peer")
    assert "127.0.0.1" in peer_ips and "*.demo.ns.svc" in peer_dns


def test_member_pod_serves_https_requires_client_certificates_and_probes_plain_health() -> None:
    pod = builders.member_pod(_cluster(SUPPLIED), "demo-0")
    c = pod.spec.containers[0]
    args = " ".join(c.args or [])
    assert "--listen-client-urls=https://" in args and "--listen-peer-urls=https://" in args
    assert "--initial-advertise-peer-urls=https://demo-0.demo.ns.svc:2380" in args
    assert "--client-cert-auth=true" in args and "--peer-client-cert-auth=true" in args
    assert "--trusted-ca-file=/etc/etcd/tls/server/ca.crt" in args
    assert c.readiness_probe is not None and c.readiness_probe.http_get is not None
    assert c.readiness_probe.http_get.port == tls.METRICS_PORT
    secrets = {v.secret.secret_name for v in pod.spec.volumes or [] if v.secret}
    assert secrets == {"p", "s"}
    # Whole directories, never subPath: a renewed Secret reaches the running member.
    assert all(not m.sub_path for m in c.volume_mounts or [])


def test_plain_member_pod_is_unchanged() -> None:
    args = " ".join(builders.member_pod(_cluster(None), "demo-0").spec.containers[0].args or [])
    assert "https" not in args and "cert" not in args and "--listen-metrics-urls" not in args


@pytest.mark.parametrize("version", ["3.5.1", "3.6.0"])
def test_tls_member_carries_day2_flags_and_probes_without_nospace(version: str) -> None:
    """Day-2 flags and TLS flags together on a TLS member, one metrics listener, and its probe
    the day-2 readiness path (NOSPACE excluded, settings.readiness_path) on that listener."""
    cluster = EtcdCluster(
        metadata={"name": "demo", "namespace": "ns", "uid": "u"},
        spec=EtcdClusterSpec(tls=SUPPLIED, version=version, quota_backend_bytes="16Mi"),
    )
    c = builders.member_pod(cluster, "demo-0").spec.containers[0]
    args = c.args or []
    assert "--quota-backend-bytes=16777216" in args and "--client-cert-auth=true" in args
    assert sum(a.startswith("--listen-metrics-urls=") for a in args) == 1
    assert c.readiness_probe is not None and c.readiness_probe.http_get is not None
    assert c.readiness_probe.http_get.port == tls.METRICS_PORT
    assert c.readiness_probe.http_get.path == settings.readiness_path(version)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (TLSSpec(server=SecretReference(name="s")), "server and client go together"),
        (TLSSpec(auto_generate=True, peer=SecretReference(name="p")), "not both"),
        (TLSSpec(auto_generate=True, certificate_validity="5s"), "shorter than"),
    ],
)
def test_unusable_tls_spec_is_explained(spec: TLSSpec, fragment: str) -> None:
    assert fragment in tls.spec_problem(_cluster(spec))


def test_switching_tls_on_a_running_cluster_is_refused() -> None:
    plain = ["http://demo-0.demo.ns.svc:2380"]
    assert "not supported" in tls.url_problem(_cluster(SUPPLIED), plain, [])
    assert "not supported" in tls.url_problem(_cluster(None), ["https://x:2380"], [])
    assert tls.url_problem(_cluster(SUPPLIED), ["https://demo-0.demo.ns.svc:2380"], []) == ""


def test_tls_problem_stops_every_step() -> None:
    o = Observed(cluster="demo", namespace="ns", size=3, version="3.5.1", tls_problem="no secret")
    step = plan(o)
    assert isinstance(step, Refuse) and step.code == "TLSRefused" and not step.mutates


def test_atomic_write_swaps_every_file_at_once(tmp_path: Path) -> None:
    assert atomic_write(tmp_path, {"tls.crt": b"a", "tls.key": b"b"}, 0o400)
    first = (tmp_path / "..data").resolve()
    assert (tmp_path / "tls.crt").read_bytes() == b"a" and (tmp_path / "tls.crt").is_symlink()
    assert not atomic_write(tmp_path, {"tls.crt": b"a", "tls.key": b"b"}, 0o400)
    assert atomic_write(tmp_path, {"tls.crt": b"A", "ca.crt": b"C"}, 0o400)
    assert (tmp_path / "tls.crt").read_bytes() == b"A" and (
        tmp_path / "ca.crt"
    ).read_bytes() == b"C"
    assert not (tmp_path / "tls.key").exists(), "a key that left the Secret must go"
    assert not first.exists(), "the previous generation is removed"


def test_certificate_expiry_is_a_metric_per_secret() -> None:
    from etcd_operator.models import CertificateStatus, TLSStatus
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    metrics = tls.CertificateMetrics(registry)
    c = _cluster(SUPPLIED)
    end = NOW + dt.timedelta(days=1)
    status = TLSStatus(
        mode="Supplied",
        certificates=[CertificateStatus(role="peer", secret="p", not_after=end)],
    )
    metrics.record(c, status)
    text = generate_latest(registry).decode()
    name = "etcd_operator_certificate_expiry_timestamp_seconds"
    series = name + '{cluster="demo",namespace="ns",secret="p"}'
    value = next(line for line in text.splitlines() if line.startswith(series)).split()[-1]
    assert float(value) == end.timestamp()
    metrics.record(c, None)
    assert series not in generate_latest(registry).decode(), "a Secret no longer used is dropped"
