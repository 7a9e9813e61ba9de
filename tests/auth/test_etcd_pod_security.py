"""The etcd operator's member pods meet the "restricted" Pod Security Standard
(staging/src/k8s.io/pod-security-admission/policy: every restricted check passes)."""

from __future__ import annotations

from etcd_operator import builders
from etcd_operator.models import EtcdCluster, EtcdClusterSpec

from opframe.testing.apiserver.auth.podsecurity import violations


def test_member_pod_meets_restricted() -> None:
    cluster = EtcdCluster(
        metadata={"name": "c", "namespace": "ns", "uid": "u"},
        spec=EtcdClusterSpec(size=3, version="3.5.1"),
    )
    pod = builders.member_pod(cluster, "c-0").to_dict()
    assert violations(pod["spec"], pod["metadata"], "restricted") == []
