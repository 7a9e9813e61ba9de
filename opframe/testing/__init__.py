"""The embedded control plane: an API server and a local kubelet for tests and demos.

- :class:`ApiServer` speaks the Kubernetes REST API over real HTTP(S) on loopback;
- :class:`LocalCluster` adds a kubelet that runs pods as local processes;
- the pytest plugin (installed with opframe) provides fixtures for both.

It is an emulator validated against transcripts recorded from a real kube-apiserver; operators
built with it ship to real clusters.
"""

from __future__ import annotations

from opframe.testing.apiserver import ApiServer
from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet import (
    Chaos,
    EtcdImageRule,
    ImageNotFound,
    ImageResolver,
    ImageRule,
    Kubelet,
    LocalImage,
    ensure_etcd,
)
from opframe.testing.kubelet.images import find_etcd

__all__ = [
    "ApiServer",
    "Chaos",
    "EtcdImageRule",
    "ImageNotFound",
    "ImageResolver",
    "ImageRule",
    "Kubelet",
    "LocalCluster",
    "LocalImage",
    "ensure_etcd",
    "find_etcd",
]
