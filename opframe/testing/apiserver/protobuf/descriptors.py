"""The Kubernetes message descriptors: field numbers, JSON names and types per message.

The table itself is ``messages.txt`` beside this module (its header explains the notation);
this module parses it once into :class:`Message` values and finds the message of a kind.

    >>> message("core/v1.Namespace").by_json["metadata"].number
    1
    >>> message_for("apps/v1", "Deployment").name
    'apps/v1.Deployment'

Protobuf cannot tell an unset optional scalar from a zero one: Go writes every non-pointer
field, zero or not, and only set pointer fields. Decoding therefore drops zero scalars as Go's
``omitempty`` JSON encoding does, except for the pointer fields listed in :data:`KEEP_ZERO`
(``*int32``, ``*bool``, ``*string`` in the Go types), where zero is a value a client chose.
A pointer ``*Time`` is absent when nil; a non-pointer ``Time`` is written (empty when zero)
and is ``null`` in JSON.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "KEEP_ZERO",
    "SCALARS",
    "Field",
    "Message",
    "built_in_group",
    "message",
    "message_for",
    "section_for",
]

SCALARS = frozenset({"string", "int32", "int64", "bool", "bytes", "double", "float"})

# Pointer scalars of the Go types (k8s.io/api/*/v1/types.go): zero there is a set value.
_POINTERS = {
    "meta/v1.ObjectMeta": "deletionGracePeriodSeconds deletionTimestamp",
    "meta/v1.ListMeta": "remainingItemCount",
    "meta/v1.OwnerReference": "controller blockOwnerDeletion",
    "meta/v1.DeleteOptions": "gracePeriodSeconds orphanDependents propagationPolicy "
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "meta/v1.Preconditions": "uid resourceVersion",
    "meta/v1.PatchOptions": "force",
    "meta/v1.ApplyOptions": "force",
    "core/v1.PodSpec": "terminationGracePeriodSeconds activeDeadlineSeconds "
    "automountServiceAccountToken shareProcessNamespace priority runtimeClassName "
    "enableServiceLinks preemptionPolicy setHostnameAsFQDN hostUsers hostnameOverride",
    "core/v1.Container": "restartPolicy",
    "core/v1.EphemeralContainerCommon": "restartPolicy",
    "core/v1.SecurityContext": "privileged runAsUser runAsGroup runAsNonRoot "
    "readOnlyRootFilesystem allowPrivilegeEscalation procMount",
    "core/v1.PodSecurityContext": "runAsUser runAsGroup runAsNonRoot fsGroup "
    "fsGroupChangePolicy supplementalGroupsPolicy seLinuxChangePolicy",
    "core/v1.WindowsSecurityContextOptions": "gmsaCredentialSpecName gmsaCredentialSpec "
    "runAsUserName hostProcess",
    "core/v1.SeccompProfile": "localhostProfile",
    "core/v1.AppArmorProfile": "localhostProfile",
    "core/v1.Probe": "terminationGracePeriodSeconds",
    "core/v1.GRPCAction": "service",
    "core/v1.ConfigMapKeySelector": "optional",
    "core/v1.SecretKeySelector": "optional",
    "core/v1.FileKeySelector": "optional",
    "core/v1.ConfigMapEnvSource": "optional",
    "core/v1.SecretEnvSource": "optional",
    "core/v1.ConfigMapVolumeSource": "defaultMode optional",
    "core/v1.SecretVolumeSource": "defaultMode optional",
    "core/v1.ConfigMapProjection": "optional",
    "core/v1.SecretProjection": "optional",
    "core/v1.KeyToPath": "mode",
    "core/v1.DownwardAPIVolumeSource": "defaultMode",
    "core/v1.DownwardAPIVolumeFile": "mode",
    "core/v1.ProjectedVolumeSource": "defaultMode",
    "core/v1.ServiceAccountTokenProjection": "expirationSeconds",
    "core/v1.ClusterTrustBundleProjection": "name signerName optional",
    "core/v1.HostPathVolumeSource": "type",
    "core/v1.CSIVolumeSource": "readOnly fsType",
    "core/v1.ISCSIVolumeSource": "initiatorName",
    "core/v1.AzureDiskVolumeSource": "cachingMode fsType readOnly kind",
    "core/v1.ServiceSpec": "ipFamilyPolicy allocateLoadBalancerNodePorts loadBalancerClass "
    "internalTrafficPolicy trafficDistribution",
    "core/v1.ClientIPConfig": "timeoutSeconds",
    "core/v1.ServicePort": "appProtocol",
    "core/v1.EndpointPort": "appProtocol",
    "core/v1.EndpointAddress": "nodeName",
    "core/v1.LoadBalancerIngress": "ipMode",
    "core/v1.PersistentVolumeClaimSpec": "storageClassName volumeMode volumeAttributesClassName",
    "core/v1.PersistentVolumeClaimStatus": "currentVolumeAttributesClassName",
    "core/v1.TypedLocalObjectReference": "apiGroup",
    "core/v1.TypedObjectReference": "apiGroup namespace",
    "core/v1.ServiceAccount": "automountServiceAccountToken",
    "core/v1.ConfigMap": "immutable",
    "core/v1.Secret": "immutable",
    "core/v1.ContainerStatus": "started stopSignal",
    "core/v1.NodeFeatures": "supplementalGroupsPolicy containerUlimits",
    "core/v1.NodeSwapStatus": "capacity",
    "core/v1.PodStatus": "startTime observedGeneration",
    "core/v1.Taint": "timeAdded",
    "core/v1.TopologySpreadConstraint": "minDomains nodeAffinityPolicy nodeTaintsPolicy",
    "core/v1.Toleration": "tolerationSeconds",
    "core/v1.Lifecycle": "stopSignal",
    "core/v1.PodDNSConfigOption": "value",
    "core/v1.ReplicationControllerSpec": "replicas",
    "core/v1.VolumeMount": "recursiveReadOnly",
    "core/v1.NodeRuntimeHandlerFeatures": "recursiveReadOnlyMounts userNamespaces",
    "apps/v1.DeploymentSpec": "replicas revisionHistoryLimit progressDeadlineSeconds",
    "apps/v1.DeploymentStatus": "collisionCount terminatingReplicas",
    "apps/v1.StatefulSetSpec": "replicas revisionHistoryLimit",
    "apps/v1.StatefulSetStatus": "collisionCount",
    "apps/v1.RollingUpdateStatefulSetStrategy": "partition",
    "apps/v1.StatefulSetOrdinals": "start",
    "apps/v1.ReplicaSetSpec": "replicas",
    "apps/v1.ReplicaSetStatus": "terminatingReplicas",
    "apps/v1.DaemonSetSpec": "revisionHistoryLimit",
    "apps/v1.DaemonSetStatus": "collisionCount",
    "batch/v1.JobSpec": "parallelism completions activeDeadlineSeconds backoffLimit "
    "backoffLimitPerIndex maxFailedIndexes ttlSecondsAfterFinished completionMode suspend "
    "podReplacementPolicy manualSelector managedBy",
    "batch/v1.JobStatus": "ready terminating failedIndexes startTime completionTime",
    "batch/v1.CronJobStatus": "lastScheduleTime lastSuccessfulTime",
    "batch/v1.CronJobSpec": "startingDeadlineSeconds suspend successfulJobsHistoryLimit "
    "failedJobsHistoryLimit timeZone",
    "batch/v1.PodFailurePolicyOnExitCodesRequirement": "containerName",
    "batch/v1.SuccessPolicyRule": "succeededIndexes succeededCount",
    "policy/v1.PodDisruptionBudgetSpec": "unhealthyPodEvictionPolicy",
    "coordination/v1.LeaseSpec": "holderIdentity leaseDurationSeconds leaseTransitions "
    "strategy preferredHolder acquireTime renewTime",
    "networking/v1.IngressSpec": "ingressClassName",
    "networking/v1.HTTPIngressPath": "pathType",
    "networking/v1.NetworkPolicyPort": "protocol endPort",
    "networking/v1.IngressClassParametersReference": "apiGroup scope namespace",
    "networking/v1.IngressPortStatus": "error",
    "autoscaling/v1.HorizontalPodAutoscalerSpec": "minReplicas targetCPUUtilizationPercentage",
    "autoscaling/v1.HorizontalPodAutoscalerStatus": "observedGeneration "
    "currentCPUUtilizationPercentage lastScaleTime",
    "autoscaling/v2.HorizontalPodAutoscalerSpec": "minReplicas",
    "autoscaling/v2.HorizontalPodAutoscalerStatus": "observedGeneration lastScaleTime",
    "autoscaling/v2.HPAScalingRules": "stabilizationWindowSeconds selectPolicy",
    "autoscaling/v2.MetricTarget": "averageUtilization",
    "autoscaling/v2.MetricValueStatus": "averageUtilization",
    "discovery/v1.Endpoint": "hostname nodeName zone",
    "discovery/v1.EndpointConditions": "ready serving terminating",
    "discovery/v1.EndpointPort": "name protocol port appProtocol",
    "storage/v1.StorageClass": "reclaimPolicy allowVolumeExpansion volumeBindingMode",
    "admissionregistration/v1.ValidatingWebhook": "failurePolicy matchPolicy sideEffects "
    "timeoutSeconds",
    "admissionregistration/v1.MutatingWebhook": "failurePolicy matchPolicy sideEffects "
    "timeoutSeconds reinvocationPolicy",
    "admissionregistration/v1.ServiceReference": "path port",
    "admissionregistration/v1.WebhookClientConfig": "url",
    "admissionregistration/v1.Rule": "scope",
    "admissionregistration/v1.ValidatingAdmissionPolicySpec": "failurePolicy",
    "admissionregistration/v1.MatchResources": "matchPolicy",
    "admissionregistration/v1.Validation": "reason",
    "authentication/v1.TokenRequestSpec": "expirationSeconds",
    "apiextensions/v1.JSONSchemaProps": "maximum minimum maxLength minLength maxItems minItems "
    "multipleOf maxProperties minProperties x-kubernetes-preserve-unknown-fields "
    "x-kubernetes-list-type x-kubernetes-map-type",
    "apiextensions/v1.CustomResourceDefinitionVersion": "deprecationWarning",
    "apiextensions/v1.ServiceReference": "path port",
    "apiextensions/v1.WebhookClientConfig": "url",
    "apiextensions/v1.ValidationRule": "reason optionalOldSelf",
}

# Scalars whose JSON tag has no omitempty: Go's JSON always writes them, zero or not.
_ALWAYS = {
    "meta/v1.OwnerReference": "apiVersion kind name uid",
    "meta/v1.Condition": "type status reason message",
    "meta/v1.LabelSelectorRequirement": "key operator",
    "meta/v1.APIResource": "name singularName namespaced kind",
    "meta/v1.GroupVersionForDiscovery": "groupVersion version",
    "meta/v1.ServerAddressByClientCIDR": "clientCIDR serverAddress",
    "meta/v1.WatchEvent": "type",
    "core/v1.Container": "name",
    "core/v1.EphemeralContainerCommon": "name",
    "core/v1.ContainerPort": "containerPort",
    "core/v1.EnvVar": "name",
    "core/v1.Volume": "name",
    "core/v1.VolumeMount": "name mountPath",
    "core/v1.VolumeDevice": "name devicePath",
    "core/v1.KeyToPath": "key path",
    "core/v1.ConfigMapKeySelector": "key",
    "core/v1.SecretKeySelector": "key",
    "core/v1.ObjectFieldSelector": "fieldPath",
    "core/v1.ResourceFieldSelector": "resource",
    "core/v1.ContainerStatus": "name ready restartCount image imageID",
    "core/v1.ContainerStateTerminated": "exitCode",
    "core/v1.LinuxContainerUser": "uid gid",
    "core/v1.VolumeMountStatus": "name mountPath",
    "core/v1.PodCondition": "type status",
    "core/v1.NodeCondition": "type status",
    "core/v1.NamespaceCondition": "type status",
    "core/v1.PersistentVolumeClaimCondition": "type status",
    "core/v1.ReplicationControllerCondition": "type status",
    "core/v1.ServiceAccountTokenProjection": "path",
    "core/v1.DownwardAPIVolumeFile": "path",
    "core/v1.NodeAddress": "type address",
    "core/v1.NodeSystemInfo": "machineID systemUUID bootID kernelVersion osImage "
    "containerRuntimeVersion kubeletVersion kubeProxyVersion operatingSystem architecture",
    "core/v1.AttachedVolume": "name devicePath",
    "core/v1.DaemonEndpoint": "Port",
    "core/v1.ServicePort": "port",
    "core/v1.EndpointAddress": "ip",
    "core/v1.EndpointPort": "port",
    "core/v1.PodIP": "ip",
    "core/v1.HostIP": "ip",
    "core/v1.Taint": "key effect",
    "core/v1.NodeSelectorRequirement": "key operator",
    "core/v1.PodAffinityTerm": "topologyKey",
    "core/v1.WeightedPodAffinityTerm": "weight",
    "core/v1.PreferredSchedulingTerm": "weight",
    "core/v1.TopologySpreadConstraint": "maxSkew topologyKey whenUnsatisfiable",
    "core/v1.HTTPHeader": "name value",
    "core/v1.Sysctl": "name value",
    "core/v1.PodReadinessGate": "conditionType",
    "core/v1.PodSchedulingGate": "name",
    "core/v1.PodOS": "name",
    "core/v1.ContainerResizePolicy": "resourceName restartPolicy",
    "core/v1.ResourceClaim": "name",
    "core/v1.ResourceStatus": "name",
    "core/v1.ResourceHealth": "resourceID",
    "core/v1.SeccompProfile": "type",
    "core/v1.AppArmorProfile": "type",
    "core/v1.PortStatus": "port protocol",
    "core/v1.Event": "reportingComponent reportingInstance",
    "core/v1.ScopedResourceSelectorRequirement": "scopeName operator",
    "core/v1.LimitRangeItem": "type",
    "core/v1.ReplicationControllerStatus": "replicas",
    "core/v1.NodeRuntimeHandler": "name",
    "core/v1.PodExtendedResourceClaimStatus": "resourceClaimName",
    "core/v1.ContainerExtendedResourceRequest": "containerName resourceName requestName",
    "apps/v1.StatefulSetStatus": "replicas availableReplicas",
    "apps/v1.ReplicaSetStatus": "replicas",
    "apps/v1.DaemonSetStatus": "currentNumberScheduled numberMisscheduled "
    "desiredNumberScheduled numberReady",
    "apps/v1.DeploymentCondition": "type status",
    "apps/v1.StatefulSetCondition": "type status",
    "apps/v1.ReplicaSetCondition": "type status",
    "apps/v1.DaemonSetCondition": "type status",
    "apps/v1.ControllerRevision": "revision",
    "batch/v1.JobCondition": "type status",
    "batch/v1.PodFailurePolicyRule": "action",
    "batch/v1.PodFailurePolicyOnExitCodesRequirement": "operator",
    "batch/v1.PodFailurePolicyOnPodConditionsPattern": "type status",
    "batch/v1.CronJobSpec": "schedule",
    "policy/v1.PodDisruptionBudgetStatus": "disruptionsAllowed currentHealthy desiredHealthy "
    "expectedPods",
    "rbac/v1.Subject": "kind name",
    "rbac/v1.RoleRef": "apiGroup kind name",
    "events/v1.EventSeries": "count",
    "networking/v1.IPBlock": "cidr",
    "networking/v1.IngressServiceBackend": "name",
    "autoscaling/v1.HorizontalPodAutoscalerSpec": "maxReplicas",
    "autoscaling/v1.HorizontalPodAutoscalerStatus": "currentReplicas desiredReplicas",
    "autoscaling/v1.ScaleStatus": "replicas",
    "autoscaling/v1.CrossVersionObjectReference": "kind name",
    "autoscaling/v2.HorizontalPodAutoscalerSpec": "maxReplicas",
    # `json:"currentMetrics"` has no omitempty either: a new HPA's reads null.
    "autoscaling/v2.HorizontalPodAutoscalerStatus": "desiredReplicas currentMetrics",
    "autoscaling/v2.CrossVersionObjectReference": "kind name",
    "autoscaling/v2.MetricSpec": "type",
    "autoscaling/v2.MetricStatus": "type",
    "autoscaling/v2.MetricTarget": "type",
    "autoscaling/v2.MetricIdentifier": "name",
    "autoscaling/v2.ResourceMetricSource": "name",
    "autoscaling/v2.ResourceMetricStatus": "name",
    "autoscaling/v2.ContainerResourceMetricSource": "name container",
    "autoscaling/v2.ContainerResourceMetricStatus": "name container",
    "autoscaling/v2.HPAScalingPolicy": "type value periodSeconds",
    "autoscaling/v2.HorizontalPodAutoscalerCondition": "type status",
    "discovery/v1.EndpointSlice": "addressType",
    "discovery/v1.ForZone": "name",
    "storage/v1.StorageClass": "provisioner",
    "storage/v1.TopologySelectorLabelRequirement": "key",
    "admissionregistration/v1.ValidatingWebhook": "name",
    "admissionregistration/v1.MutatingWebhook": "name",
    "admissionregistration/v1.ServiceReference": "namespace name",
    "admissionregistration/v1.MatchCondition": "name expression",
    "admissionregistration/v1.Validation": "expression",
    "admissionregistration/v1.Variable": "name expression",
    "admissionregistration/v1.AuditAnnotation": "key valueExpression",
    "authentication/v1.TokenRequestStatus": "token",
    "authorization/v1.SubjectAccessReviewStatus": "allowed",
    "authorization/v1.SubjectRulesReviewStatus": "incomplete",
    "apiextensions/v1.CustomResourceDefinitionVersion": "name served storage",
    "apiextensions/v1.CustomResourceDefinitionNames": "plural kind",
    "apiextensions/v1.CustomResourceDefinitionCondition": "type status",
    "apiextensions/v1.CustomResourceColumnDefinition": "name type jsonPath",
    "apiextensions/v1.ServiceReference": "namespace name",
    "apiextensions/v1.ValidationRule": "rule",
    "apiextensions/v1.SelectableField": "jsonPath",
}

#: ``{qualified message: {json names}}`` whose zero values are kept when decoding: pointer
#: fields and fields Go's JSON writes even when zero.
KEEP_ZERO: dict[str, frozenset[str]] = {
    m: frozenset(_POINTERS.get(m, "").split()) | frozenset(_ALWAYS.get(m, "").split())
    for m in {*_POINTERS, *_ALWAYS}
}


@dataclass(frozen=True)
class Field:
    """One field: JSON name (``*`` for an inlined embedded struct), number and type."""

    json: str
    number: int
    type: str
    repeated: bool = False
    map: bool = False
    keep_zero: bool = False

    @property
    def scalar(self) -> bool:
        """Whether the (element) type is a scalar rather than a message."""
        return self.type in SCALARS


@dataclass
class Message:
    """A message: its qualified name (``section.Name``) and fields, in declaration order."""

    name: str
    fields: list[Field] = field(default_factory=list)
    by_number: dict[int, Field] = field(default_factory=dict)
    by_json: dict[str, Field] = field(default_factory=dict)


def _parse_type(token: str, section: str) -> tuple[str, bool, bool]:
    repeated = token.startswith("[")
    is_map = token.startswith("{")
    if repeated or is_map:
        token = token[1:-1]
    if token not in SCALARS and "." not in token:
        token = f"{section}.{token}"
    return token, repeated, is_map


@functools.cache
def _table() -> dict[str, Message]:
    messages: dict[str, Message] = {}
    section = ""
    text = (Path(__file__).parent / "messages.txt").read_text()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line[1:-1]
            continue
        name, *specs = line.split(" ")
        qualified = f"{section}.{name}"
        keep = KEEP_ZERO.get(qualified, frozenset())
        msg = Message(qualified)
        for spec in specs:
            json_name, rest = spec.split("=", 1)
            number, token = rest.split(":", 1)
            type_, repeated, is_map = _parse_type(token, section)
            f = Field(json_name, int(number), type_, repeated, is_map, json_name in keep)
            msg.fields.append(f)
            msg.by_number[f.number] = f
            if json_name != "*":
                msg.by_json[json_name] = f
        messages[qualified] = msg
    return messages


def message(name: str) -> Message:
    """The message ``section.Name`` (``KeyError`` if the table has none)."""
    return _table()[name]


def section_for(api_version: str) -> str:
    """The table section of an ``apiVersion``: ``v1`` -> ``core/v1``, ``rbac...k8s.io/v1`` ->
    ``rbac/v1`` (a group's first DNS label names its package in k8s.io/api)."""
    group, _, version = api_version.rpartition("/")
    if not group:
        return f"core/{version}"
    return f"{group.split('.', 1)[0]}/{version}"


@functools.cache
def _sections() -> frozenset[str]:
    return frozenset(name.rpartition(".")[0] for name in _table())


def built_in_group(api_version: str) -> bool:
    """Whether ``api_version`` names a group version the table has messages for (custom
    resources' groups have none)."""
    return section_for(api_version) in _sections() or api_version == "meta.k8s.io/v1"


def message_for(api_version: str, kind: str) -> Message | None:
    """The message of ``kind`` in ``api_version``, or of a meta kind (Status, WatchEvent...)."""
    table = _table()
    found = table.get(f"{section_for(api_version)}.{kind}")
    if found is None and kind in _META_KINDS:
        found = table.get(f"meta/v1.{kind}")
    return found


# Kinds of meta.k8s.io that every group version serves (Status, options, watch events).
_META_KINDS = frozenset(
    {
        "Status", "WatchEvent", "DeleteOptions", "CreateOptions", "UpdateOptions",
        "PatchOptions", "GetOptions", "ListOptions", "APIResourceList", "APIGroupList",
        "APIGroup", "APIVersions", "PartialObjectMetadata", "PartialObjectMetadataList",
    }
)  # fmt: skip
