"""The embedded control plane: an API server and a local kubelet for tests and demos.

- :class:`ApiServer` speaks the Kubernetes REST API over real HTTP(S) on loopback;
- :class:`LocalCluster` adds a kubelet that runs pods as local processes;
- the pytest plugin (installed with opframe) provides fixtures for both, a ``client``,
  ``install_crds`` and ``run_operator`` (the operator under test); :func:`eventually` waits
  for a condition with a deadline.

It is an emulator validated against transcripts recorded from a real kube-apiserver; operators
built with it ship to real clusters.
"""

from __future__ import annotations

from opframe.testing._apiserver_fixtures import InstallCrds
from opframe.testing._eventually import eventually
from opframe.testing._operator import OperatorRunner
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
    "InstallCrds",
    "Kubelet",
    "LocalCluster",
    "LocalImage",
    "OperatorRunner",
    "ensure_etcd",
    "eventually",
    "find_etcd",
]
