"""The members of a cluster a backup may be taken from."""

from __future__ import annotations

from etcd_operator import tls
from etcd_operator.builders import LABEL_CLUSTER
from etcd_operator.models import EtcdCluster
from etcd_operator.naming import CLIENT_PORT
from opframe import Context, Pod

__all__ = ["member_endpoints"]


async def member_endpoints(ctx: Context, cluster: EtcdCluster) -> list[str]:
    """Client URLs (on pod IPs) of the cluster's healthy members, followers first."""
    ns, name = cluster.metadata.namespace or "default", cluster.metadata.name or ""
    pods = await ctx.client.list(Pod, ns, label_selector={LABEL_CLUSTER: name})
    ips = {
        p.metadata.name: p.status.pod_ip
        for p in pods.items
        if p.status and p.status.pod_ip and p.metadata.deletion_timestamp is None
    }
    members = cluster.status.members if cluster.status else []
    healthy = sorted((m for m in members if m.healthy), key=lambda m: (m.leader, m.name))
    scheme = tls.client_scheme(cluster)
    return [f"{scheme}://{ips[m.name]}:{CLIENT_PORT}" for m in healthy if ips.get(m.name)]
