"""Per-kind registry strategy steps of the built-in kinds, as one table.

Each :class:`KindRules` names what ``pkg/registry/<group>/<kind>/strategy.go`` and the kind's
validation do: scheme defaults, the status a new object starts with, validation on create and
update, what bumps ``metadata.generation``, and steps of PrepareForCreate/PrepareForUpdate.
:mod:`.strategy` runs them in the server's order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opframe.testing.apiserver import fielderrors as fe
from opframe.testing.apiserver.builtins import (
    admission_config,
    autoscaling,
    batch,
    cluster,
    configdata,
    limits,
    networking,
    pods,
    podvalidation,
    replicas,
    services,
    volumes,
)
from opframe.testing.apiserver.builtins import workloads as wl
from opframe.testing.apiserver.errors import Cause

__all__ = ["RULES", "KindRules"]

_Obj = dict[str, Any]
_ADMISSION = "admissionregistration.k8s.io"


def _no_causes(_obj: _Obj) -> list[Cause]:
    return []


@dataclass(frozen=True)
class KindRules:
    """The strategy of one built-in kind.

    ``generation``: the top-level fields whose change bumps the generation (empty: the kind has
    no generation). ``initial_status``: the status a create starts from (``None``: the body's
    status is kept). ``prepare_create(obj)`` runs after defaulting with the uid set;
    ``prepare_update(new, old)`` after the stored status was carried over.
    """

    default: Callable[[_Obj], None] | None = None
    validate: Callable[[_Obj], list[Cause]] = _no_causes
    validate_update: Callable[[_Obj, _Obj], list[Cause]] | None = None
    validate_status: Callable[[_Obj], list[Cause]] | None = None
    generation: tuple[str, ...] = ()
    initial_status: Callable[[], _Obj] | None = None
    prepare_create: Callable[[_Obj], None] | None = None
    prepare_update: Callable[[_Obj, _Obj], None] | None = None


def _pod_spec(pod: _Obj) -> list[Cause]:
    return podvalidation.validate_pod_spec(pod.get("spec"), "spec")


def _deployment_update(new: _Obj, old: _Obj) -> list[Cause]:
    selector = (new.get("spec") or {}).get("selector")
    if selector != (old.get("spec") or {}).get("selector"):
        return [fe.invalid("spec.selector", selector, "field is immutable")]
    return []


def _configmap_update(new: _Obj, old: _Obj) -> list[Cause]:
    return configdata.validate_immutable_data(new, old, False)


def _secret_update(new: _Obj, old: _Obj) -> list[Cause]:
    return configdata.validate_immutable_data(new, old, True)


_RBAC = "rbac.authorization.k8s.io"


def _job_update(new: _Obj, old: _Obj) -> list[Cause]:
    return batch.validate_job_update(new, old)


RULES: dict[tuple[str, str], KindRules] = {
    ("", "pods"): KindRules(
        default=pods.default_pod,
        validate=_pod_spec,
        validate_update=podvalidation.validate_pod_update,
        generation=("spec",),
    ),
    ("", "services"): KindRules(
        default=services.default_service,
        validate=services.validate_service,
        validate_update=services.validate_service_update,
        initial_status=lambda: {"loadBalancer": {}},
    ),
    ("", "configmaps"): KindRules(
        validate=configdata.validate_configmap, validate_update=_configmap_update
    ),
    ("", "secrets"): KindRules(
        default=configdata.default_secret,
        validate=configdata.validate_secret,
        validate_update=_secret_update,
    ),
    ("", "namespaces"): KindRules(
        default=cluster.default_namespace,
        validate=cluster.validate_namespace,
        prepare_create=cluster.prepare_namespace_create,
    ),
    ("", "persistentvolumeclaims"): KindRules(
        default=cluster.default_pvc,
        validate=cluster.validate_pvc,
        validate_update=cluster.validate_pvc_update,
        initial_status=lambda: {"phase": "Pending"},
    ),
    ("apps", "deployments"): KindRules(
        default=wl.default_deployment,
        validate=wl.validate_deployment,
        validate_update=_deployment_update,
        generation=("spec", "annotations"),
        initial_status=dict,
    ),
    ("apps", "statefulsets"): KindRules(
        default=wl.default_statefulset,
        validate=wl.validate_statefulset,
        validate_update=wl.validate_statefulset_update,
        generation=("spec",),
        initial_status=lambda: {"replicas": 0, "availableReplicas": 0},
    ),
    ("policy", "poddisruptionbudgets"): KindRules(
        validate=wl.validate_pdb,
        generation=("spec",),
        initial_status=lambda: {
            "disruptionsAllowed": 0,
            "currentHealthy": 0,
            "desiredHealthy": 0,
            "expectedPods": 0,
        },
    ),
    ("coordination.k8s.io", "leases"): KindRules(validate=cluster.validate_lease),
    (_RBAC, "roles"): KindRules(validate=lambda o: cluster.validate_role(o, True)),
    (_RBAC, "clusterroles"): KindRules(validate=lambda o: cluster.validate_role(o, False)),
    (_RBAC, "rolebindings"): KindRules(
        default=cluster.default_subjects,
        validate=lambda o: cluster.validate_binding(o, False),
        validate_update=cluster.validate_binding_update,
    ),
    (_RBAC, "clusterrolebindings"): KindRules(
        default=cluster.default_subjects,
        validate=lambda o: cluster.validate_binding(o, True),
        validate_update=cluster.validate_binding_update,
    ),
    ("apiextensions.k8s.io", "customresourcedefinitions"): KindRules(generation=("spec",)),
    ("apps", "replicasets"): KindRules(
        default=replicas.default_replicaset,
        validate=replicas.validate_replicaset,
        validate_update=replicas.validate_selector_immutable,
        generation=("spec",),
        initial_status=lambda: {"replicas": 0},
    ),
    ("apps", "daemonsets"): KindRules(
        default=replicas.default_daemonset,
        validate=replicas.validate_daemonset,
        validate_update=replicas.validate_selector_immutable,
        generation=("spec",),
        initial_status=lambda: {
            "currentNumberScheduled": 0,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 0,
            "numberReady": 0,
        },
        prepare_update=replicas.prepare_daemonset_update,
    ),
    ("apps", "controllerrevisions"): KindRules(
        validate=replicas.validate_controller_revision,
        validate_update=replicas.validate_controller_revision_update,
    ),
    ("", "replicationcontrollers"): KindRules(
        default=replicas.default_replication_controller,
        validate=replicas.validate_replication_controller,
        generation=("spec",),
        initial_status=lambda: {"replicas": 0},
    ),
    ("batch", "jobs"): KindRules(
        default=batch.default_job,
        validate=batch.validate_job,
        validate_update=_job_update,
        validate_status=batch.validate_job_status,
        generation=("spec",),
        initial_status=dict,
        prepare_create=batch.generate_job_selector,
    ),
    ("batch", "cronjobs"): KindRules(
        default=batch.default_cronjob,
        validate=batch.validate_cronjob,
        validate_update=lambda new, _old: [
            c for c in batch.validate_cronjob(new, creating=False) if c["field"] != "metadata.name"
        ],
        generation=("spec",),
        initial_status=dict,
    ),
    ("discovery.k8s.io", "endpointslices"): KindRules(
        default=networking.default_endpointslice,
        validate=networking.validate_endpointslice,
        validate_update=networking.validate_endpointslice_update,
        generation=("addressType", "endpoints", "ports"),
    ),
    ("networking.k8s.io", "ingresses"): KindRules(
        validate=networking.validate_ingress,
        generation=("spec",),
        initial_status=lambda: {"loadBalancer": {}},
    ),
    ("networking.k8s.io", "ingressclasses"): KindRules(
        validate=networking.validate_ingress_class,
        validate_update=networking.validate_ingress_class_update,
        generation=("spec",),
    ),
    ("networking.k8s.io", "networkpolicies"): KindRules(
        default=networking.default_network_policy,
        validate=networking.validate_network_policy,
        generation=("spec",),
    ),
    ("autoscaling", "horizontalpodautoscalers"): KindRules(
        default=autoscaling.default_hpa,
        validate=autoscaling.validate_hpa,
        validate_status=autoscaling.validate_hpa_status,
        initial_status=autoscaling.initial_hpa_status,
    ),
    ("", "limitranges"): KindRules(
        default=limits.default_limit_range,
        validate=limits.validate_limit_range,
    ),
    ("", "resourcequotas"): KindRules(
        validate=limits.validate_resource_quota,
        initial_status=dict,
    ),
    ("storage.k8s.io", "storageclasses"): KindRules(
        default=volumes.default_storage_class,
        validate=volumes.validate_storage_class,
        validate_update=volumes.validate_storage_class_update,
    ),
    ("", "persistentvolumes"): KindRules(
        default=volumes.default_persistent_volume,
        validate=volumes.validate_persistent_volume,
        initial_status=lambda: {"phase": "Pending"},
    ),
    (_ADMISSION, "validatingwebhookconfigurations"): KindRules(
        default=admission_config.default_webhooks,
        validate=admission_config.validate_webhooks,
        generation=("webhooks",),
    ),
    (_ADMISSION, "mutatingwebhookconfigurations"): KindRules(
        default=admission_config.default_webhooks,
        validate=admission_config.validate_webhooks,
        generation=("webhooks",),
    ),
    (_ADMISSION, "validatingadmissionpolicies"): KindRules(
        default=admission_config.default_policy,
        validate=admission_config.validate_policy,
        generation=("spec",),
        initial_status=dict,
    ),
    (_ADMISSION, "validatingadmissionpolicybindings"): KindRules(
        default=admission_config.default_policy_binding,
        validate=admission_config.validate_policy_binding,
        generation=("spec",),
    ),
}
