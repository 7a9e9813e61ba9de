"""Per-kind registry strategy steps of the kinds served beyond the first set, as one table.

Each :class:`KindRules` names what ``pkg/registry/<group>/<kind>/strategy.go`` and the kind's
validation do: scheme defaults, the status a new object starts with, validation on create and
update, what bumps ``metadata.generation``, and steps of PrepareForCreate/PrepareForUpdate.
:mod:`.strategy` runs them in the server's order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opframe.testing.apiserver.builtins import (
    admission_config,
    autoscaling,
    batch,
    limits,
    networking,
    replicas,
    volumes,
)
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


def _job_update(new: _Obj, old: _Obj) -> list[Cause]:
    return batch.validate_job_update(new, old)


RULES: dict[tuple[str, str], KindRules] = {
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
