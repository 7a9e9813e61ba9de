"""A member's bootstrap parameters, and sealing them once the member has started.

etcd reads ``--initial-cluster`` and ``--initial-cluster-state`` only when its data dir holds no
member yet; a restart on intact data ignores them ("already initialized"). They therefore
decide one thing only: what a member does when it starts on an *empty* data dir.

Before a member has ever started, that must be "join (or, for the seed, form) the cluster".
Afterwards, an empty data dir means the member lost its log, and joining again is a raft-safety
hazard: etcd fetches the member list from its peers, finds its own name and peer URL in it,
takes its **old** member ID and gets a snapshot from the leader, so a voter that lost what it
acknowledged may help elect a stale leader; a seed restarted with state ``new`` would even form
a second cluster. Neither is visible to the operator.

So the parameters do not live in the pod's args (fixed at creation) but in a per-cluster
ConfigMap, read through ``valueFrom.configMapKeyRef`` at every container start. The operator
writes the full values before it creates the member's pod and **seals** them as soon as the
member has started: state ``existing`` and an initial cluster that names only the member itself.
A sealed member restarted on intact data starts as before; on an empty data dir it finds no
peer to fetch the cluster from and exits ("could not retrieve cluster information from the given
URLs"), its pod crash-loops, the member stays unhealthy, and the planner replaces it with a fresh
member (new data, new ID) once the grace period has passed and quorum allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from etcd_operator.naming import ordinal_of, peer_url
from etcd_operator.planner import Observed

__all__ = [
    "ENV_INITIAL_CLUSTER",
    "ENV_INITIAL_CLUSTER_STATE",
    "BootstrapParams",
    "cluster_key",
    "config_map_name",
    "keys_of",
    "sealed",
    "state_key",
    "to_seal",
]

ENV_INITIAL_CLUSTER = "ETCD_INITIAL_CLUSTER"
ENV_INITIAL_CLUSTER_STATE = "ETCD_INITIAL_CLUSTER_STATE"


def config_map_name(cluster: str) -> str:
    """The ConfigMap holding every member's bootstrap parameters."""
    return f"{cluster}-members"


def cluster_key(pod: str) -> str:
    """The key of a member's initial cluster (pod names are DNS labels: valid key characters)."""
    return f"{pod}.initial-cluster"


def state_key(pod: str) -> str:
    """The key of a member's initial cluster state (``new`` or ``existing``)."""
    return f"{pod}.initial-cluster-state"


def keys_of(pod: str) -> tuple[str, str]:
    """Both keys of a member."""
    return cluster_key(pod), state_key(pod)


@dataclass(frozen=True)
class BootstrapParams:
    """What a member does when it starts on an empty data dir."""

    initial_cluster: str
    state: Literal["new", "existing"]

    def data(self, pod: str) -> dict[str, str]:
        """The ConfigMap entries of member ``pod``."""
        return {cluster_key(pod): self.initial_cluster, state_key(pod): self.state}


def sealed(cluster: str, namespace: str, pod: str, scheme: str = "http") -> BootstrapParams:
    """The parameters that forbid a fresh start: no peer to join, no cluster to form."""
    return BootstrapParams(f"{pod}={peer_url(cluster, namespace, pod, scheme)}", "existing")


def to_seal(o: Observed, data: Mapping[str, str]) -> tuple[str, ...]:
    """Pods of started, healthy members whose parameters still allow a fresh start.

    A member's name in the live member list is non-empty only once it has started and
    published itself through raft, so its data dir holds the member by then; sealing earlier
    could stop a member that has not finished joining.
    """
    out: list[str] = []
    for m in o.members or ():
        if not (m.started and m.healthy):
            continue
        host = m.peer_url.split("://", 1)[-1].split(".", 1)[0]
        if ordinal_of(o.cluster, host) is None or m.peer_url != peer_url(
            o.cluster, o.namespace, host, o.peer_scheme
        ):
            continue  # not a member this operator created: not ours to seal
        if sealed(o.cluster, o.namespace, host, o.peer_scheme).data(host).items() - data.items():
            out.append(host)
    return tuple(sorted(out, key=lambda p: ordinal_of(o.cluster, p) or 0))
