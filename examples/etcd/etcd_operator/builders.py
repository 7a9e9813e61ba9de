"""Builders of the objects an etcd cluster owns: member pods, Services, a PDB, claims.

Pure functions from the ``EtcdCluster`` (and a member's name) to typed objects; the reconciler
creates them. Every object carries the cluster's labels and a controller owner reference, so
the garbage collector removes them with the cluster.
"""

from __future__ import annotations

from etcd_operator import bootstrap, settings, tls
from etcd_operator.models import EtcdCluster
from etcd_operator.naming import (
    CLIENT_PORT,
    PEER_PORT,
    client_service_name,
    peer_service_name,
    peer_url,
)
from etcd_operator.planner import quorum
from opframe import ObjectMeta, owner_reference_for
from opframe.kinds import (
    ConfigMap,
    ConfigMapKeySelector,
    Container,
    ContainerPort,
    EmptyDirVolumeSource,
    EnvVar,
    EnvVarSource,
    HTTPGetAction,
    LabelSelector,
    ObjectFieldSelector,
    PersistentVolumeClaim,
    PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource,
    Pod,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodSpec,
    Probe,
    ResourceRequirements,
    Service,
    ServicePort,
    ServiceSpec,
    Volume,
    VolumeMount,
)

__all__ = [
    "LABEL_CLUSTER",
    "LABEL_MEMBER",
    "client_service",
    "cluster_labels",
    "cluster_selector",
    "data_claim",
    "data_claim_name",
    "image_for",
    "member_pod",
    "members_config_map",
    "peer_service",
    "pod_disruption_budget",
    "version_of_image",
]

LABEL_CLUSTER = "etcd.opframe.dev/cluster"
LABEL_MEMBER = "etcd.opframe.dev/member"
DATA_DIR = "/var/lib/etcd"


def cluster_labels(cluster: EtcdCluster) -> dict[str, str]:
    """Labels on everything the cluster owns."""
    return {
        "app.kubernetes.io/name": "etcd",
        "app.kubernetes.io/instance": cluster.name,
        "app.kubernetes.io/managed-by": "etcd-operator",
        LABEL_CLUSTER: cluster.name,
    }


def cluster_selector(cluster: EtcdCluster) -> str:
    """The label selector of the cluster's member pods."""
    return f"{LABEL_CLUSTER}={cluster.name}"


def image_for(repository: str, version: str) -> str:
    """``quay.io/coreos/etcd:v3.5.1``; ``registry.k8s.io/etcd`` tags carry no ``v`` and a ``-0``."""
    if repository.rstrip("/").endswith("registry.k8s.io/etcd"):
        return f"{repository}:{version}-0"
    return f"{repository}:v{version}"


def version_of_image(image: str) -> str:
    """The etcd version an image tag names (``""`` if the tag is not a version)."""
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    tag = tag.removeprefix("v").split("-", 1)[0]
    parts = tag.split(".")
    return tag if len(parts) == 3 and all(p.isdigit() for p in parts) else ""


def data_claim_name(pod: str) -> str:
    """The PersistentVolumeClaim of a member with persistent storage."""
    return f"data-{pod}"


def _meta(cluster: EtcdCluster, name: str, extra: dict[str, str] | None = None) -> ObjectMeta:
    """Metadata of an object ``cluster`` controls: every builder's object goes with it."""
    labels = {**(extra or {}), **cluster_labels(cluster)}
    return ObjectMeta(
        name=name,
        namespace=cluster.namespace,
        labels=labels,
        owner_references=[owner_reference_for(cluster)],
    )


#: Pod Security "restricted": non-root, no privilege escalation, seccomp, no capabilities.
_RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "fsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
_RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def member_pod(cluster: EtcdCluster, name: str, *, version: str | None = None) -> Pod:
    """The pod of member ``name``.

    Its initial cluster and state are not in the args: they come from the cluster's members
    ConfigMap at every container start (see :mod:`etcd_operator.bootstrap`), so that sealing
    them once the member has started also governs later restarts. etcd lets a flag win over
    its environment variable, so the args must not carry them.
    """
    spec = cluster.spec
    ns = cluster.namespace
    cname = cluster.name
    overrides = spec.pod_template
    labels = {**((overrides.labels if overrides else None) or {}), LABEL_MEMBER: name}
    meta = _meta(cluster, name, labels)
    meta.annotations = (overrides.annotations if overrides else None) or None
    token = f"{ns}-{cname}-{(cluster.metadata.uid or '')[:8]}"
    client, peer = tls.client_scheme(cluster), tls.peer_scheme(cluster)
    ready_path = settings.readiness_path(version or spec.version)
    args = [
        "--name=$(POD_NAME)",
        f"--data-dir={DATA_DIR}/data",
        f"--listen-client-urls={client}://$(POD_IP):{CLIENT_PORT}",
        f"--advertise-client-urls={client}://$(POD_NAME).{peer_service_name(cname)}.{ns}.svc:{CLIENT_PORT}",
        f"--listen-peer-urls={peer}://$(POD_IP):{PEER_PORT}",
        f"--initial-advertise-peer-urls={peer_url(cname, ns, name, peer)}",
        f"--initial-cluster-token={token}",
        *tls.member_args(cluster),
        # Identical on every member, new and replacement ones too (etcd_operator.settings).
        *settings.member_flags(spec),
    ]
    if spec.storage.volume_claim_template is not None:
        volume = Volume(
            name="data",
            persistent_volume_claim=PersistentVolumeClaimVolumeSource(
                claim_name=data_claim_name(name)
            ),
        )
    else:
        empty = spec.storage.empty_dir
        volume = Volume(
            name="data",
            empty_dir=EmptyDirVolumeSource(
                medium=empty.medium if empty else None,
                size_limit=empty.size_limit if empty else None,
            ),
        )
    container = Container(
        name="etcd",
        image=image_for(spec.repository, version or spec.version),
        command=["/usr/local/bin/etcd"],
        args=args,
        env=[
            EnvVar(
                name="POD_NAME",
                value_from=EnvVarSource(field_ref=ObjectFieldSelector(field_path="metadata.name")),
            ),
            EnvVar(
                name="POD_IP",
                value_from=EnvVarSource(field_ref=ObjectFieldSelector(field_path="status.podIP")),
            ),
            *(
                EnvVar(
                    name=env,
                    value_from=EnvVarSource(
                        config_map_key_ref=ConfigMapKeySelector(
                            name=bootstrap.config_map_name(cname), key=key
                        )
                    ),
                )
                for env, key in (
                    (bootstrap.ENV_INITIAL_CLUSTER, bootstrap.cluster_key(name)),
                    (bootstrap.ENV_INITIAL_CLUSTER_STATE, bootstrap.state_key(name)),
                )
            ),
        ],
        ports=[
            ContainerPort(name="client", container_port=CLIENT_PORT),
            ContainerPort(name="peer", container_port=PEER_PORT),
        ],
        resources=spec.resources or ResourceRequirements(),
        volume_mounts=[VolumeMount(name="data", mount_path=DATA_DIR), *tls.member_mounts(cluster)],
        # Readiness on /health without the NOSPACE alarm (it answers on learners too; see
        # settings.readiness_path); with TLS on the plain metrics listener. No liveness probe:
        # one that restarts etcd during a leader election turns a blip into an outage, and a
        # restart does not empty a full database.
        readiness_probe=tls.readiness_probe(cluster, ready_path)
        or Probe(
            http_get=HTTPGetAction(path=ready_path, port=CLIENT_PORT),
            period_seconds=1,
            timeout_seconds=2,
            failure_threshold=3,
        ),
        # Meets the "restricted" Pod Security Standard (with the pod's settings below).
        **{"securityContext": _RESTRICTED_CONTAINER},
    )
    pod = Pod(
        metadata=meta,
        spec=PodSpec(
            hostname=name,
            subdomain=peer_service_name(cname),
            containers=[container],
            volumes=[volume, *tls.member_volumes(cluster)],
            restart_policy="Always",
            termination_grace_period_seconds=10,
            security_context=dict(_RESTRICTED_POD),
            node_selector=overrides.node_selector if overrides else None,
            affinity=overrides.affinity if overrides else None,
            tolerations=[t.to_dict() for t in overrides.tolerations]
            if overrides and overrides.tolerations
            else None,
        ),
    )
    return pod


def members_config_map(cluster: EtcdCluster, data: dict[str, str]) -> ConfigMap:
    """The ConfigMap of the members' bootstrap parameters, holding ``data`` to start with."""
    cm = ConfigMap(
        metadata=_meta(cluster, bootstrap.config_map_name(cluster.name)),
        data=dict(data),
    )
    return cm


def data_claim(cluster: EtcdCluster, pod: str) -> PersistentVolumeClaim:
    """The claim holding a member's data, when ``spec.storage.volumeClaimTemplate`` is set."""
    template = cluster.spec.storage.volume_claim_template
    if template is None:
        raise ValueError(f"EtcdCluster {cluster.ref}: spec.storage has no volumeClaimTemplate")
    claim = PersistentVolumeClaim(
        metadata=_meta(cluster, data_claim_name(pod), {LABEL_MEMBER: pod}),
        spec=PersistentVolumeClaimSpec(
            access_modes=list(template.access_modes),
            storage_class_name=template.storage_class_name,
            resources=ResourceRequirements(requests={"storage": template.size}),
        ),
    )
    return claim


def peer_service(cluster: EtcdCluster) -> Service:
    """The headless Service that gives members stable DNS names, ready or not."""
    return _service(cluster, peer_service_name(cluster.name), headless=True)


def client_service(cluster: EtcdCluster) -> Service:
    """The Service clients use: ready members only."""
    return _service(cluster, client_service_name(cluster.name), headless=False)


def _service(cluster: EtcdCluster, name: str, *, headless: bool) -> Service:
    ports = [ServicePort(name="client", port=CLIENT_PORT, target_port=CLIENT_PORT)]
    if headless:
        ports.append(ServicePort(name="peer", port=PEER_PORT, target_port=PEER_PORT))
    return Service(
        metadata=_meta(cluster, name),
        spec=ServiceSpec(
            cluster_ip="None" if headless else None,
            publish_not_ready_addresses=True if headless else None,
            selector={LABEL_CLUSTER: cluster.name},
            ports=ports,
        ),
    )


def pod_disruption_budget(cluster: EtcdCluster) -> PodDisruptionBudget:
    """Voluntary disruptions may never take the cluster below quorum."""
    cname = cluster.name
    pdb = PodDisruptionBudget(
        metadata=_meta(cluster, cname),
        spec=PodDisruptionBudgetSpec(
            min_available=quorum(cluster.spec.size),
            selector=LabelSelector(match_labels={LABEL_CLUSTER: cname}),
        ),
    )
    return pdb
