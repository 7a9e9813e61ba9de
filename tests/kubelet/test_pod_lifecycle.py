"""Pods on the local kubelet: binding, status, restarts, deletion, images, logs, chaos."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet._mirror import merge_patch
from opframe.testing.kubelet.runtime import live_process_groups
from tests.kubelet.helpers import (
    busybox_pod,
    condition,
    container_status,
    create,
    wait_pod,
    wait_process_gone,
    watch_events,
)

Obj = dict[str, Any]


def _running(pod: Obj | None) -> bool:
    return bool(pod) and "running" in container_status(pod).get("state", {})


def _waiting_reason(pod: Obj | None) -> str | None:
    """Why the pod's first container is waiting (``CrashLoopBackOff``, ``ImagePullBackOff``)."""
    reason = container_status(pod).get("state", {}).get("waiting", {}).get("reason")
    return str(reason) if reason is not None else None


async def test_pending_pod_is_bound_and_runs_with_a_loopback_ip(
    local_cluster: LocalCluster,
) -> None:
    await create(local_cluster, "pods", busybox_pod("p", "sleep 30"))
    pod = await wait_pod(local_cluster, "p", lambda p: condition(p, "Ready") == "True")
    assert pod is not None
    assert pod["spec"]["nodeName"] == local_cluster.kubelet.node_name
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["podIP"].startswith("127.")
    assert pod["status"]["hostIP"] == "127.0.0.1"
    assert {c["type"] for c in pod["status"]["conditions"]} >= {
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "Ready",
    }


async def test_env_command_and_downward_api_reach_the_process(local_cluster: LocalCluster) -> None:
    pod = busybox_pod("env", "echo $(GREETING) $MY_NAME $MY_IP; sleep 30")
    pod["spec"]["containers"][0]["env"] = [
        {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "GREETING", "value": "hello-$(MY_NAME)"},
    ]
    await create(local_cluster, "pods", pod)
    running = await wait_pod(local_cluster, "env", _running)
    assert running is not None
    text = await _log_text(local_cluster, "env", "hello-env")
    assert text.strip() == f"hello-env env {running['status']['podIP']}"


async def test_crashing_container_enters_crash_loop_backoff(local_cluster: LocalCluster) -> None:
    await create(local_cluster, "pods", busybox_pod("crash", "sleep 0.2; exit 3"))
    crash = await wait_pod(
        local_cluster,
        "crash",
        lambda p: container_status(p).get("restartCount", 0) >= 3,
    )
    status = container_status(crash)
    assert status["lastState"]["terminated"]["exitCode"] == 3
    waiting = await wait_pod(
        local_cluster,
        "crash",
        _crash_looping,
    )
    message = container_status(waiting)["state"]["waiting"]["message"]
    # Restarts 1, 2, 3 waited 0, base, 2*base: the fourth waits 4*base (0.3 s doubling).
    assert message.startswith(("back-off 1.2s", "back-off 2.4s"))


async def test_restart_policy_never_leaves_the_pod_failed(local_cluster: LocalCluster) -> None:
    await create(local_cluster, "pods", busybox_pod("once", "exit 2", restartPolicy="Never"))
    pod = await wait_pod(
        local_cluster, "once", lambda p: (p or {}).get("status", {}).get("phase") == "Failed"
    )
    terminated = container_status(pod)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (2, "Error")
    assert container_status(pod)["restartCount"] == 0


async def test_deleting_a_pod_stops_its_process_within_the_grace_period(
    local_cluster: LocalCluster,
) -> None:
    script = "trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done"
    await create(local_cluster, "pods", busybox_pod("del", script, terminationGracePeriodSeconds=5))
    await wait_pod(local_cluster, "del", _running)
    pid = local_cluster.chaos.pid("default", "del")
    assert pid is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    await local_cluster.client.request("DELETE", "/api/v1/namespaces/default/pods/del")
    await wait_process_gone(pid)
    assert loop.time() - started < 5.0
    assert await wait_pod(local_cluster, "del", lambda p: p is None, limit=40) is None


async def test_sigterm_ignoring_process_is_killed_after_the_grace_period(
    local_cluster: LocalCluster,
) -> None:
    script = "trap '' TERM; echo armed; while :; do sleep 0.1; done"
    await create(
        local_cluster, "pods", busybox_pod("stubborn", script, terminationGracePeriodSeconds=1)
    )
    await wait_pod(local_cluster, "stubborn", _running)
    await _log_text(local_cluster, "stubborn", "armed")  # "running" precedes the trap
    pid = local_cluster.chaos.pid("default", "stubborn")
    assert pid is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    await local_cluster.client.request("DELETE", "/api/v1/namespaces/default/pods/stubborn")
    await wait_process_gone(pid)
    assert 0.9 <= loop.time() - started < 4.0


async def test_unknown_image_reports_image_pull_backoff_and_an_event(
    local_cluster: LocalCluster,
) -> None:
    pod = busybox_pod("noimg", "true")
    pod["spec"]["containers"][0]["image"] = "example.com/nothing:1.0"
    await create(local_cluster, "pods", pod)
    pod_now = await wait_pod(
        local_cluster,
        "noimg",
        lambda p: _waiting_reason(p) == "ImagePullBackOff",
    )
    assert pod_now is not None and pod_now["status"]["phase"] == "Pending"
    events = await local_cluster.client.request("GET", "/api/v1/namespaces/default/events")
    reasons = {
        (e["type"], e["reason"]) for e in events["items"] if e["involvedObject"]["name"] == "noimg"
    }
    assert ("Warning", "Failed") in reasons
    assert ("Normal", "BackOff") in reasons


async def test_readiness_probe_gates_ready(local_cluster: LocalCluster) -> None:
    script = "sleep 1.5; touch /tmp/opframe-ready-$(POD); sleep 30"
    pod = busybox_pod("probe", script)
    container = pod["spec"]["containers"][0]
    container["env"] = [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}}]
    container["readinessProbe"] = {
        "exec": {"command": ["sh", "-c", "test -e /tmp/opframe-ready-$POD"]},
        "periodSeconds": 1,
    }
    await create(local_cluster, "pods", pod)
    running = await wait_pod(local_cluster, "probe", _running)
    assert condition(running, "Ready") == "False"
    ready = await wait_pod(local_cluster, "probe", lambda p: condition(p, "Ready") == "True")
    assert container_status(ready)["ready"] is True


async def test_failing_liveness_probe_restarts_the_container(local_cluster: LocalCluster) -> None:
    pod = busybox_pod("live", "sleep 30")
    pod["spec"]["containers"][0]["livenessProbe"] = {
        "tcpSocket": {"port": 1},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    pod["spec"]["terminationGracePeriodSeconds"] = 1
    await create(local_cluster, "pods", pod)
    restarted = await wait_pod(
        local_cluster, "live", lambda p: container_status(p).get("restartCount", 0) >= 1
    )
    assert container_status(restarted)["lastState"]["terminated"]["exitCode"] in (137, 143)


async def test_chaos_kill_restarts_the_container(local_cluster: LocalCluster) -> None:
    await create(local_cluster, "pods", busybox_pod("victim", "sleep 30"))
    await wait_pod(local_cluster, "victim", _running)
    local_cluster.chaos.kill("default", "victim")
    pod = await wait_pod(
        local_cluster,
        "victim",
        lambda p: container_status(p).get("restartCount") == 1 and _running(p),
    )
    assert container_status(pod)["lastState"]["terminated"]["exitCode"] == 137


async def test_emptydir_is_private_to_the_pod_and_wipeable(local_cluster: LocalCluster) -> None:
    pod = busybox_pod(
        "vol",
        "echo data > /data/file && echo written; sleep 30",
        volumes=[{"name": "d", "emptyDir": {}}],
    )
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "d", "mountPath": "/data"}]
    created = await create(local_cluster, "pods", pod)
    await wait_pod(local_cluster, "vol", _running)
    host_dir = local_cluster.kubelet.volumes.empty_dir(created["metadata"]["uid"], "d")
    await _log_text(local_cluster, "vol", "written")
    assert (host_dir / "file").read_text() == "data\n"
    local_cluster.chaos.wipe_empty_dir("default", "vol", "d")
    assert list(host_dir.iterdir()) == []


async def test_node_not_ready_makes_pods_unready_and_back(local_cluster: LocalCluster) -> None:
    await create(local_cluster, "pods", busybox_pod("n", "sleep 30"))
    await wait_pod(local_cluster, "n", lambda p: condition(p, "Ready") == "True")
    await local_cluster.chaos.node_not_ready()
    node = await local_cluster.client.request("GET", "/api/v1/nodes/opframe-node")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "Unknown"
    await wait_pod(local_cluster, "n", lambda p: condition(p, "Ready") == "False")
    await local_cluster.chaos.node_ready()
    await wait_pod(local_cluster, "n", lambda p: condition(p, "Ready") == "True")


async def test_previous_logs_are_served_after_a_restart(local_cluster: LocalCluster) -> None:
    await create(local_cluster, "pods", busybox_pod("logs", "echo run-$$; sleep 0.3; exit 1"))
    await wait_pod(local_cluster, "logs", lambda p: container_status(p).get("restartCount", 0) >= 1)
    chunks = [
        c async for c in local_cluster.kubelet.pod_log("default", "logs", "main", previous=True)
    ]
    assert b"".join(chunks).startswith(b"run-")


async def test_cluster_exit_leaves_no_process() -> None:
    from opframe.testing.kubelet import ImageResolver, LocalImage

    resolver = ImageResolver()
    resolver.register("busybox*", LocalImage.host())
    async with LocalCluster(resolver=resolver) as cluster:
        await create(cluster, "pods", busybox_pod("a", "sleep 60"))
        await wait_pod(cluster, "a", _running)
        pid = cluster.chaos.pid("default", "a")
    assert pid is not None
    assert pid not in live_process_groups()


async def _log_text(cluster: LocalCluster, name: str, needle: str) -> str:
    """Follow the pod's log until ``needle`` appears."""
    seen = b""
    async with asyncio.timeout(10):
        async for chunk in cluster.kubelet.pod_log("default", name, None, follow=True):
            seen += chunk
            if needle.encode() in seen:
                break
    return seen.decode()


async def test_changed_image_restarts_the_container_in_place(local_cluster: LocalCluster) -> None:
    created = await create(local_cluster, "pods", busybox_pod("upgrade", "sleep 30"))
    await wait_pod(local_cluster, "upgrade", _running)
    patch = [{"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:1.37"}]
    await local_cluster.client.request(
        "PATCH",
        "/api/v1/namespaces/default/pods/upgrade",
        body=patch,
        content_type="application/json-patch+json",
    )
    pod = await wait_pod(
        local_cluster,
        "upgrade",
        lambda p: container_status(p).get("image") == "busybox:1.37" and _running(p),
    )
    assert pod is not None
    assert container_status(pod)["restartCount"] == 1
    assert pod["metadata"]["uid"] == created["metadata"]["uid"]


async def test_new_namespace_gets_a_default_service_account(local_cluster: LocalCluster) -> None:
    api = local_cluster.client
    await api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "fresh"}})
    path = "/api/v1/namespaces/fresh/serviceaccounts"
    listing = await api.request("GET", path)
    names = {sa["metadata"]["name"] for sa in listing["items"]}
    if "default" not in names:
        async with asyncio.timeout(10):
            async for event in watch_events(api, path, listing["metadata"]["resourceVersion"]):
                names.add(event["object"]["metadata"]["name"])
                if "default" in names:
                    break
    assert "default" in names


async def test_init_containers_run_first_and_share_volumes(local_cluster: LocalCluster) -> None:
    pod = busybox_pod("init", "cat /work/msg; sleep 30", volumes=[{"name": "w", "emptyDir": {}}])
    pod["spec"]["initContainers"] = [
        {
            "name": "prepare",
            "image": "busybox:1.36",
            "command": ["sh", "-c", "echo prepared > /work/msg"],
            "volumeMounts": [{"name": "w", "mountPath": "/work"}],
        }
    ]
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "w", "mountPath": "/work"}]
    await create(local_cluster, "pods", pod)
    running = await wait_pod(local_cluster, "init", _running)
    init_status = running["status"]["initContainerStatuses"][0]  # type: ignore[index]
    assert init_status["state"]["terminated"]["reason"] == "Completed"
    assert condition(running, "Initialized") == "True"
    assert (await _log_text(local_cluster, "init", "prepared")).startswith("prepared")


async def test_config_map_and_secret_volumes_hold_their_keys(local_cluster: LocalCluster) -> None:
    await create(
        local_cluster, "configmaps", {"metadata": {"name": "cfg"}, "data": {"a.conf": "A"}}
    )
    await create(
        local_cluster, "secrets", {"metadata": {"name": "tls"}, "stringData": {"ca.crt": "CA"}}
    )
    script = "cat /cfg/a.conf /tls/ca.crt; echo; sleep 30"
    pod = busybox_pod(
        "files",
        script,
        volumes=[
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "tls", "secret": {"secretName": "tls"}},
        ],
    )
    pod["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "cfg", "mountPath": "/cfg"},
        {"name": "tls", "mountPath": "/tls", "readOnly": True},
    ]
    await create(local_cluster, "pods", pod)
    await wait_pod(local_cluster, "files", _running)
    assert (await _log_text(local_cluster, "files", "\n")).startswith("ACA")


async def test_freeze_stops_the_process_and_thaw_resumes_it(local_cluster: LocalCluster) -> None:
    await create(local_cluster, "pods", busybox_pod("frozen", "sleep 30"))
    await wait_pod(local_cluster, "frozen", _running)
    pid = local_cluster.chaos.freeze("default", "frozen")
    # The container is a child of this process: waitid reports its stop and continue.
    stopped = await _wait_child(pid, os.WSTOPPED)
    assert stopped is not None and stopped.si_code == os.CLD_STOPPED
    local_cluster.chaos.thaw("default", "frozen")
    continued = await _wait_child(pid, os.WCONTINUED)
    assert continued is not None and continued.si_code == os.CLD_CONTINUED


async def _wait_child(pid: int, what: int) -> os.waitid_result | None:
    async with asyncio.timeout(5):
        # WEXITED too, so the thread always ends (at the latest when the pod is torn down).
        return await asyncio.to_thread(os.waitid, os.P_PID, pid, what | os.WEXITED | os.WNOWAIT)


async def test_logs_of_a_container_that_never_started_say_why(local_cluster: LocalCluster) -> None:
    pod = busybox_pod("nolog", "true")
    pod["spec"]["containers"][0]["image"] = "example.com/nothing:1.0"
    await create(local_cluster, "pods", pod)
    pulling = ("ErrImagePull", "ImagePullBackOff")
    await wait_pod(
        local_cluster,
        "nolog",
        lambda p: _waiting_reason(p) in pulling,
    )
    with pytest.raises(LookupError, match="is waiting to start: trying and failing to pull image"):
        [c async for c in local_cluster.kubelet.pod_log("default", "nolog", None)]


async def test_readiness_gate_holds_ready_until_its_condition_is_true(
    local_cluster: LocalCluster,
) -> None:
    gate = "example.com/load-balancer"
    await create(
        local_cluster,
        "pods",
        busybox_pod("gated", "sleep 30", readinessGates=[{"conditionType": gate}]),
    )
    pod = await wait_pod(
        local_cluster, "gated", lambda p: condition(p, "ContainersReady") == "True"
    )
    assert condition(pod, "Ready") == "False"
    status = {
        "status": {"conditions": [*pod["status"]["conditions"], {"type": gate, "status": "True"}]}
    }  # type: ignore[index]
    await merge_patch(local_cluster.client, "/api/v1/namespaces/default/pods/gated/status", status)
    ready = await wait_pod(local_cluster, "gated", lambda p: condition(p, "Ready") == "True")
    assert condition(ready, gate) == "True"


async def test_killed_process_restarts_with_a_growing_backoff(local_cluster: LocalCluster) -> None:
    await create(local_cluster, "pods", busybox_pod("killed", "sleep 30"))
    # The first restart is immediate; then the back-off doubles from its base (0.3 s here).
    for restarts, backoff in [(0, None), (1, "0.3s"), (2, "0.6s")]:
        await wait_pod(
            local_cluster,
            "killed",
            lambda p, n=restarts: _running(p) and container_status(p)["restartCount"] == n,
        )
        local_cluster.chaos.kill("default", "killed")
        if backoff is not None:
            waiting = await wait_pod(local_cluster, "killed", _crash_looping)
            message = container_status(waiting)["state"]["waiting"]["message"]
            assert message.startswith(f"back-off {backoff} ")
    final = await wait_pod(
        local_cluster, "killed", lambda p: _running(p) and container_status(p)["restartCount"] == 3
    )
    assert container_status(final)["lastState"]["terminated"]["exitCode"] == 137


def _crash_looping(pod: Obj | None) -> bool:
    return _waiting_reason(pod) == "CrashLoopBackOff"


async def test_failing_startup_probe_restarts_the_container(local_cluster: LocalCluster) -> None:
    pod = busybox_pod("slow", "sleep 30", terminationGracePeriodSeconds=1)
    pod["spec"]["containers"][0]["startupProbe"] = {
        "tcpSocket": {"port": 1},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    await create(local_cluster, "pods", pod)
    restarted = await wait_pod(
        local_cluster, "slow", lambda p: container_status(p).get("restartCount", 0) >= 1
    )
    assert container_status(restarted)["started"] is False


async def test_startup_probe_success_marks_started_and_ready(local_cluster: LocalCluster) -> None:
    pod = busybox_pod("starts", "sleep 30")
    pod["spec"]["containers"][0]["startupProbe"] = {
        "exec": {"command": ["true"]},
        "periodSeconds": 1,
    }
    await create(local_cluster, "pods", pod)
    ready = await wait_pod(local_cluster, "starts", lambda p: condition(p, "Ready") == "True")
    assert container_status(ready)["started"] is True


async def test_node_renews_its_lease_in_kube_node_lease(local_cluster: LocalCluster) -> None:
    lease = await local_cluster.client.request(
        "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/opframe-node"
    )
    assert lease["spec"]["holderIdentity"] == "opframe-node"
    assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"


async def test_project_operator_image_runs_the_local_operator_program(
    local_cluster: LocalCluster,
) -> None:
    """examples/etcd/deploy's image plays `python -m etcd_operator` (its Dockerfile's
    ENTRYPOINT); the container's args replace the CMD."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "operator-help"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "op", "image": "ghcr.io/opframe/etcd-operator:0.1.0", "args": ["--help"]}
            ],
        },
    }
    await create(local_cluster, "pods", pod)
    done = await wait_pod(
        local_cluster,
        "operator-help",
        lambda p: (p or {}).get("status", {}).get("phase") in ("Succeeded", "Failed"),
        limit=60,
    )
    assert done is not None and done["status"]["phase"] == "Succeeded"
    text = await _log_text(local_cluster, "operator-help", "usage")
    assert "python -m etcd_operator" in text
