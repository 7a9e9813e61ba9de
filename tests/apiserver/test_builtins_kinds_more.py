"""Rules of the kinds served beyond the first set, each from the Kubernetes source it names."""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver.builtins.autoscaling import convert_hpa, default_hpa, validate_hpa
from opframe.testing.apiserver.builtins.batch import (
    default_cronjob,
    default_job,
    generate_job_selector,
    validate_job,
    validate_job_update,
)
from opframe.testing.apiserver.builtins.cron import schedule_errors
from opframe.testing.apiserver.builtins.limits import (
    admit_pod_limits,
    default_limit_range,
    validate_resource_quota,
)
from opframe.testing.apiserver.builtins.networking import default_network_policy
from opframe.testing.apiserver.builtins.openapi_schemas import definitions_for
from opframe.testing.apiserver.builtins.replicas import default_replication_controller
from opframe.testing.apiserver.errors import StatusError


def _job(**spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "image": "i"}], "restartPolicy": "Never"},
    }
    return {"metadata": {"name": "j", "uid": "u1"}, "spec": {"template": template, **spec}}


def test_job_defaults_completions_parallelism_and_backoff() -> None:
    """pkg/apis/batch/v1/defaults.go SetDefaults_Job."""
    job = _job()
    default_job(job)
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"


def test_job_with_parallelism_only_keeps_completions_unset() -> None:
    """pkg/apis/batch/v1/defaults.go: completions default only when neither is set."""
    job = _job(parallelism=3)
    default_job(job)
    assert "completions" not in job["spec"]


def test_generated_selector_names_the_uid_and_labels_the_template() -> None:
    """pkg/registry/batch/job/strategy.go generateSelector."""
    job = _job()
    default_job(job)
    generate_job_selector(job)
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "j"


def test_suspended_job_that_never_ran_may_change_its_node_selector() -> None:
    """pkg/apis/batch/validation/validation.go ValidateJobSpecUpdate (mutable scheduling
    directives of a suspended Job)."""
    old = _job(suspend=True)
    new = _job(suspend=True)
    new["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "a"}
    assert validate_job_update(new, old) == []
    old["spec"]["suspend"] = False
    assert [c["field"] for c in validate_job_update(new, old)] == ["spec.template"]


def test_cronjob_defaults_policy_and_histories() -> None:
    """pkg/apis/batch/v1/defaults.go SetDefaults_CronJob."""
    cj: dict[str, Any] = {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {}}}}
    default_cronjob(cj)
    spec = cj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)


def test_cron_schedule_ranges_are_checked() -> None:
    """pkg/apis/batch/validation/validation.go validateScheduleFormat (robfig/cron)."""
    assert schedule_errors("*/5 0-23 * jan-dec mon") == ""
    assert schedule_errors("@daily") == ""
    assert schedule_errors("0 24 * * *") == "end of range (24) above maximum (23): 24"


def test_replication_controller_selector_and_labels_come_from_the_template() -> None:
    """pkg/apis/core/v1/defaults.go SetDefaults_ReplicationController."""
    rc: dict[str, Any] = {"spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {}}}}
    default_replication_controller(rc)
    assert rc["spec"]["selector"] == {"a": "b"} and rc["metadata"]["labels"] == {"a": "b"}


def test_network_policy_with_egress_rules_gets_both_policy_types() -> None:
    """pkg/apis/networking/v1/defaults.go SetDefaults_NetworkPolicy."""
    np: dict[str, Any] = {"spec": {"podSelector": {}, "egress": [{}]}}
    default_network_policy(np)
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_hpa_without_metrics_targets_cpu_at_80_percent_and_reads_as_v1() -> None:
    """pkg/apis/autoscaling/v2/defaults.go and pkg/apis/autoscaling/v1/conversion.go."""
    hpa: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "metadata": {},
        "spec": {"maxReplicas": 3},
    }
    default_hpa(hpa)
    v1 = convert_hpa(hpa, "autoscaling/v1")
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 80
    assert convert_hpa(v1, "autoscaling/v2")["spec"]["metrics"] == hpa["spec"]["metrics"]


def test_limit_range_default_request_falls_back_to_min() -> None:
    """pkg/apis/core/v1/defaults.go SetDefaults_LimitRangeItem."""
    lr: dict[str, Any] = {"spec": {"limits": [{"type": "Container", "min": {"cpu": "100m"}}]}}
    default_limit_range(lr)
    assert lr["spec"]["limits"][0]["defaultRequest"] == {"cpu": "100m"}


def test_limit_ranger_refuses_a_limit_above_max() -> None:
    """plugin/pkg/admission/limitranger/admission.go (max per Container)."""
    lr = {"spec": {"limits": [{"type": "Container", "max": {"memory": "1Gi"}}]}}
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "2Gi"}}}]},
    }
    try:
        admit_pod_limits(pod, [lr])
    except StatusError as e:
        assert e.code == 403 and "maximum memory usage per Container is 1Gi" in e.message
    else:
        raise AssertionError("admitted")


def test_builtin_openapi_definitions_carry_merge_keys_and_descriptions() -> None:
    """api/openapi-spec/v3 of kubernetes/kubernetes: containers merge by name."""
    defs = definitions_for(["io.k8s.api.core.v1.Pod"], "#/definitions/")
    containers = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}
    assert "List of containers" in containers["description"]


def test_hpa_written_through_v1_is_defaulted_as_v1_and_stored_as_v2() -> None:
    """pkg/apis/autoscaling/v1/defaults.go (minReplicas only) and conversion.go."""
    hpa: dict[str, Any] = {
        "apiVersion": "autoscaling/v1",
        "metadata": {},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
            "maxReplicas": 3,
        },
    }
    default_hpa(hpa)
    assert hpa["spec"] == {**hpa["spec"], "minReplicas": 1} and "metrics" not in hpa["spec"]
    stored = convert_hpa(hpa, "autoscaling/v2")
    assert stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80


def test_quota_names_only_resources_quota_knows() -> None:
    """pkg/apis/core/validation/validation.go validateResourceQuotaResourceName."""
    causes = validate_resource_quota({"spec": {"hard": {"gpus": "1", "example.com/gpu": "1"}}})
    assert [(c["field"], c["message"]) for c in causes] == [
        ("spec.hard[gpus]", 'Invalid value: "gpus": must be a standard resource for quota')
    ]


def test_hpa_metric_with_two_sources_names_the_extra_one() -> None:
    """pkg/apis/autoscaling/validation/validation.go validateMetricSpec."""
    target = {"type": "Utilization", "averageUtilization": 50}
    metric = {
        "type": "Resource",
        "resource": {"name": "cpu", "target": target},
        "pods": {
            "metric": {"name": "qps"},
            "target": {"type": "AverageValue", "averageValue": "1"},
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
            "minReplicas": 1,
            "maxReplicas": 2,
            "metrics": [metric],
        },
    }
    assert [(c["field"], c["message"]) for c in validate_hpa(hpa)] == [
        ("spec.metrics[0].pods", "Forbidden: must populate the given metric source only")
    ]


def test_pod_failure_policy_needs_pods_that_never_restart() -> None:
    """pkg/apis/batch/validation/validation.go validatePodFailurePolicy."""

    job = _job(
        podFailurePolicy={
            "rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1]}}]
        }
    )
    job["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    default_job(job)
    generate_job_selector(job)
    assert [c["field"] for c in validate_job(job)] == ["spec.template.spec.restartPolicy"]
