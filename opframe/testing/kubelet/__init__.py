"""A local kubelet: pods bound to one local node run as processes on this machine.

See ``docs/testing/kubelet.md``. The pieces, one idea per module:

- :mod:`~opframe.testing.kubelet.images`: which local program plays an image;
- :mod:`~opframe.testing.kubelet.network`: loopback addresses and hosts files;
- :mod:`~opframe.testing.kubelet.runtime`: a container process in a private mount namespace;
- :mod:`~opframe.testing.kubelet.env`, :mod:`~opframe.testing.kubelet.volumes`,
  :mod:`~opframe.testing.kubelet.probes`: what a container sees and how it is checked;
- :mod:`~opframe.testing.kubelet.container`, :mod:`~opframe.testing.kubelet.pod`: the
  per-container and per-pod loops; :mod:`~opframe.testing.kubelet.node`: the Node object;
- :mod:`~opframe.testing.kubelet.kubelet`: the sync loop; :mod:`~opframe.testing.kubelet.chaos`:
  failure injection.
"""

from opframe.testing.kubelet.chaos import Chaos
from opframe.testing.kubelet.images import (
    EtcdImageRule,
    ImageNotFound,
    ImageResolver,
    ImageRule,
    LocalImage,
    ensure_etcd,
)
from opframe.testing.kubelet.kubelet import Kubelet

__all__ = [
    "Chaos",
    "EtcdImageRule",
    "ImageNotFound",
    "ImageResolver",
    "ImageRule",
    "Kubelet",
    "LocalImage",
    "ensure_etcd",
]
