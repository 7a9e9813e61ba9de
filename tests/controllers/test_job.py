"""The Job controller: rules from kubernetes ``pkg/controller/job/job_controller.go``
(``syncJob``, ``manageJob``, ``pastBackoffLimitOnFailure``) and ``backoff_utils.go``."""

from __future__ import annotations

from datetime import UTC, datetime

from opframe.testing.cluster import LocalCluster
from opframe.testing.controllers.job import job_plan
from tests.controllers._helpers import (
    Obj,
    create,
    get,
    list_items,
    pod_template,
    wait_for,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _job(**spec: object) -> Obj:
    return {"metadata": {"name": "j", "uid": "u"}, "spec": spec, "status": {}}


def _pods(*phases: str) -> list[Obj]:
    return [{"metadata": {"name": f"p{i}"}, "status": {"phase": phase}}
            for i, phase in enumerate(phases)]  # fmt: skip


def test_parallelism_caps_active_pods_and_completions_what_remains() -> None:
    status, delta, failure = job_plan(_job(completions=5, parallelism=2), _pods(), NOW)
    assert (delta, failure, status["active"]) == (2, None, 0)
    _, delta, _ = job_plan(
        _job(completions=5, parallelism=2),
        _pods("Succeeded") * 1 + _pods("Succeeded", "Succeeded", "Succeeded", "Running"),
        NOW,
    )
    assert delta == 0  # 4 succeeded, 1 running: exactly the one that remains  # fmt: skip


def test_more_failures_than_backoff_limit_fail_the_job() -> None:
    status, delta, failure = job_plan(_job(backoffLimit=1), _pods("Failed", "Failed", "Running"),
                                      NOW)  # fmt: skip
    assert failure == "BackoffLimitExceeded" and delta == -1 and status["failed"] == 2


def test_on_failure_restarts_count_against_the_backoff_limit() -> None:
    job = _job(backoffLimit=2, template={"spec": {"restartPolicy": "OnFailure"}})
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Running",
           "containerStatuses": [{"restartCount": 3}]}}  # fmt: skip
    assert job_plan(job, [pod], NOW)[2] == "BackoffLimitExceeded"


def test_failed_counts_never_go_down_when_pods_are_deleted() -> None:
    job = _job(backoffLimit=6)
    job["status"] = {"failed": 3}
    assert job_plan(job, [], NOW)[0]["failed"] == 3


def _job_obj(name: str, command: str, **spec: object) -> Obj:
    template = pod_template({}, command, restartPolicy="Never")
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": template, **spec}}  # fmt: skip


def _cond(job: Obj | None, kind: str) -> Obj:
    for c in ((job or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return dict(c)
    return {}


async def test_job_runs_its_completions_and_completes(local_cluster: LocalCluster) -> None:
    """Complete/CompletionsReached with completionTime and succeeded == completions;
    pods carry job-name and controller-uid labels."""
    client = local_cluster.client
    await create(client, "jobs", _job_obj("ok", "true", completions=3, parallelism=2))
    job = await wait_for(
        lambda: get(client, "jobs", "ok"),
        lambda j: _cond(j, "Complete").get("status") == "True",
        within=60,
    )
    assert job["status"]["succeeded"] == 3 and job["status"].get("active", 0) == 0
    assert _cond(job, "Complete")["reason"] == "CompletionsReached"
    assert job["status"]["completionTime"] >= job["status"]["startTime"]
    pods = await list_items(client, "pods", selector="job-name=ok")
    assert len(pods) == 3
    assert {p["metadata"]["labels"]["controller-uid"] for p in pods} == {job["metadata"]["uid"]}


async def test_job_that_keeps_failing_exhausts_its_backoff(local_cluster: LocalCluster) -> None:
    """backoffLimit 1: the second failure fails the Job (BackoffLimitExceeded)."""
    client = local_cluster.client
    await create(client, "jobs", _job_obj("bad", "exit 1", backoffLimit=1))
    job = await wait_for(
        lambda: get(client, "jobs", "bad"),
        lambda j: _cond(j, "Failed").get("status") == "True",
        within=90,
    )
    assert _cond(job, "Failed")["reason"] == "BackoffLimitExceeded"
    assert _cond(job, "FailureTarget")["status"] == "True"
    assert job["status"]["failed"] == 2
