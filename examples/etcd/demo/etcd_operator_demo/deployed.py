"""``python -m etcd_operator_demo demo --deployed``: the operator deployed by its own manifests.

The operator runs as a pod of its Deployment (``kubectl apply -k examples/etcd/deploy``) on the
local control plane, under its ServiceAccount with the generated least-privilege RBAC and
leader election on, exactly as on a real cluster; nothing runs in the demo's process but
kubectl, the key-writing workload and the checks. The steps are those of the e2e test
``examples/etcd/tests/test_deployed.py``, which calls them from here:

1. :meth:`Deployed.deploy`: apply the manifests, scale the Deployment, wait for its pods;
2. :meth:`Deployed.apply_example`: ``kubectl apply`` the example EtcdCluster (3 members);
3. :meth:`Deployed.replace_operator_mid_scale`: scale 3 -> 5, delete the operator pod once the
   fourth member started, the ReplicaSet's replacement pod finishes, then back to 3;
4. :meth:`Deployed.fail_over`: with two operator pods, freeze the Lease holder; the standby
   takes the Lease and a scale step succeeds under it;

all while :func:`~etcd_operator_demo.workload.write_throughout` writes keys and reads every
acknowledged one back at the end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etcd_operator.builders import LABEL_CLUSTER
from etcd_operator.models import EtcdCluster

from etcd_operator_demo.demo import Out, settled
from etcd_operator_demo.workload import member_endpoints, write_throughout
from opframe import NotFound, Pod
from opframe.testing import LocalCluster, eventually

__all__ = ["DEPLOY", "Deployed", "DeployedOptions", "run_deployed"]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
"""``examples/etcd/deploy``: the kustomization users apply (from a source checkout)."""
SYSTEM = "etcd-operator-system"
SELECTOR = "app.kubernetes.io/name=etcd-operator"
NAMESPACE = "default"
LEASE_PATH = f"/apis/coordination.k8s.io/v1/namespaces/{SYSTEM}/leases/etcd-operator"
log = logging.getLogger("etcd-deployed")


class KubectlFailed(RuntimeError):
    """kubectl exited non-zero; the message holds the command and its stderr."""


@dataclass
class Deployed:
    """The steps of the deployed operator's scenario on one local control plane.

    Each step prints one line (through ``out``) and records its duration in ``timings``.
    """

    cluster: LocalCluster
    out: Callable[[str], None] = log.info
    manifests: Path = DEPLOY
    name: str = "demo"
    """The EtcdCluster of ``example-cluster.yaml``."""
    timings: dict[str, float] = field(default_factory=dict)

    async def kubectl(self, *args: str, stdin: str | None = None) -> str:
        """The real kubectl against the cluster's kubeconfig; raise with its stderr if it fails."""
        env = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)}
        proc = await asyncio.to_thread(
            subprocess.run,
            ["kubectl", *args],
            input=stdin.encode() if stdin else None,
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise KubectlFailed(f"kubectl {' '.join(args)}: {proc.stderr.decode().strip()}")
        return proc.stdout.decode()

    async def operator_pods(self) -> list[dict[str, Any]]:
        """The operator Deployment's pods that are not being deleted."""
        path = f"/api/v1/namespaces/{SYSTEM}/pods"
        body = await self.cluster.client.request("GET", path, params={"labelSelector": SELECTOR})
        return [p for p in body["items"] if not p["metadata"].get("deletionTimestamp")]

    async def ready_operators(self, count: int, deadline: float = 240.0) -> list[str]:
        """Wait until ``count`` operator pods are Running and Ready; return their names."""
        names: list[str] = []

        async def holds() -> bool:
            pods = await self.operator_pods()
            names[:] = sorted(p["metadata"]["name"] for p in pods if _ready(p))
            return len(pods) == count and len(names) == count

        what = f"{count} operator pods Running and Ready"
        await eventually(holds, message=what, timeout=deadline)
        return names

    async def lease_holder(self) -> str:
        """The operator Lease's holderIdentity ("" when there is none yet)."""
        try:
            lease = await self.cluster.client.request("GET", LEASE_PATH)
        except NotFound:
            return ""
        return str(lease.get("spec", {}).get("holderIdentity") or "")

    async def leader_pod(self, pods: list[str]) -> str:
        """The pod (of ``pods``) that holds the Lease: the identity is ``<hostname>_<uuid>``."""
        found: list[str] = []

        async def holds() -> bool:
            holder = await self.lease_holder()
            found[:] = [p for p in pods if holder.startswith(p)]
            return len(found) == 1

        await eventually(holds, message="one operator pod holds the Lease", timeout=120.0)
        return found[0]

    async def deploy(self, replicas: int) -> list[str]:
        """``kubectl apply -k``, scale the Deployment, wait for its pods to be Ready."""
        start = time.monotonic()
        await self.kubectl("apply", "--server-side", "-k", str(self.manifests))
        names = await self.scale_operator(replicas)
        took = self.timings["deploy"] = time.monotonic() - start
        pods = {p["metadata"]["name"]: p for p in await self.operator_pods()}
        accounts = sorted({pods[n]["spec"].get("serviceAccountName", "") for n in names})
        self.out(
            f"kubectl apply -k {self.manifests.name}: {replicas} operator pod(s) Running"
            f" under ServiceAccount {SYSTEM}/{','.join(accounts)} ({took:.1f}s)"
        )
        return names

    async def scale_operator(self, replicas: int) -> list[str]:
        """``kubectl scale deployment/etcd-operator``; wait for that many Ready pods."""
        await self.kubectl(
            "-n", SYSTEM, "scale", "deployment/etcd-operator", f"--replicas={replicas}"
        )
        return await self.ready_operators(replicas)

    async def apply_example(self) -> None:
        """``kubectl apply`` the example EtcdCluster; wait until its 3 members are Available."""
        manifest = (self.manifests / "example-cluster.yaml").read_text()
        await self.kubectl("apply", "-n", NAMESPACE, "-f", "-", stdin=manifest)
        self.out(f"EtcdCluster {NAMESPACE}/{self.name} applied with kubectl: 3 members")
        await self.until(settled(3), "available", "3 members Available", deadline=300.0)

    async def until(
        self, check: Callable[[EtcdCluster], bool], step: str, what: str, deadline: float
    ) -> float:
        """Wait until ``check`` holds for the EtcdCluster; print and record the time taken."""
        start = time.monotonic()

        async def holds() -> bool:
            try:
                cluster = await self.cluster.client.get(EtcdCluster, self.name, NAMESPACE)
            except NotFound:
                return False
            return check(cluster)

        await eventually(holds, message=what, timeout=deadline)
        took = self.timings[step] = time.monotonic() - start
        self.out(f"{what} ({took:.1f}s)")
        return took

    async def patch_size(self, size: int) -> None:
        """Patch the EtcdCluster's ``spec.size``."""
        body = {"spec": {"size": size}}
        await self.cluster.client.patch(EtcdCluster, self.name, body, namespace=NAMESPACE)
        self.out(f"spec.size -> {size} requested")

    async def member_pods(self) -> set[str]:
        """The names of the EtcdCluster's member pods."""
        pods = await self.cluster.client.list(
            Pod, NAMESPACE, label_selector={LABEL_CLUSTER: self.name}
        )
        return {p.name for p in pods.items}

    async def replace_operator_mid_scale(self, operator: str) -> str:
        """Scale 3 -> 5, delete ``operator`` (the one pod) mid-scale, let its replacement
        finish, then scale back to 3; return the replacement pod's name."""
        await self.patch_size(5)

        async def started() -> bool:  # the operator has made the fourth member's pod
            return len(await self.member_pods()) > 3

        await eventually(started, message="the scale to 5 started", timeout=180.0)
        start = time.monotonic()
        await self.kubectl("-n", SYSTEM, "delete", "pod", operator, "--wait=false")
        self.out(f"operator pod {operator} deleted mid-scale")
        [replacement] = await self.ready_operators(1)
        if replacement == operator:
            raise AssertionError(f"the operator pod {operator} was not replaced")
        took = self.timings["replacement_ready"] = time.monotonic() - start
        self.out(f"replacement operator pod {replacement} Ready ({took:.1f}s)")
        await self.until(settled(5), "scale", "5 members, finished by the replacement", 400.0)
        holder = await self.lease_holder()
        if not holder.startswith(replacement):
            raise AssertionError(f"the Lease is held by {holder!r}, not by {replacement}")
        await self.patch_size(3)
        await self.until(settled(3), "scale_down", "back to 3 members", deadline=400.0)

        async def three_pods() -> bool:
            return len(await self.member_pods()) == 3

        await eventually(three_pods, message="3 member pods left", timeout=120.0)
        return replacement

    async def fail_over(self, pods: list[str], size: int = 4) -> float:
        """Of two operator pods, freeze the Lease holder (SIGSTOP: it neither renews nor, as a
        restarted container would, competes again); the standby takes the Lease, and a scale
        to ``size`` succeeds under it. The frozen leader is then SIGKILLed (its restarted
        container comes back as a standby). Return the seconds the standby took."""
        leader = await self.leader_pod(pods)
        [standby] = [p for p in pods if p != leader]
        start = time.monotonic()
        seen = [await self.lease_holder()]
        self.out(f"operator pod {leader} leads, {standby} stands by; {leader} frozen (SIGSTOP)")
        self.cluster.chaos.kill(SYSTEM, leader, sig=signal.SIGSTOP)
        try:

            async def standby_leads() -> bool:
                now = await self.lease_holder()
                if now != seen[-1]:
                    seen.append(now)
                    log.info("holder %r at %.1fs", now, time.monotonic() - start)
                return now.startswith(standby)

            try:
                await eventually(standby_leads, message="the standby holds the Lease", timeout=90)
            except AssertionError:
                logs = await self.kubectl("-n", SYSTEM, "logs", standby)
                log.info("standby's log: %s", logs[-4000:])
                raise
            took = self.timings["failover"] = time.monotonic() - start
            self.out(f"standby {standby} took the Lease ({took:.1f}s)")
        finally:
            self.cluster.chaos.kill(SYSTEM, leader)  # SIGKILL ends a stopped process too
        await self.patch_size(size)
        await self.until(settled(size), "scale_new_leader", f"{size} members under {standby}", 400)
        holder = await self.lease_holder()
        if not holder.startswith(standby):
            raise AssertionError(f"the Lease is held by {holder!r}, not by {standby}")
        return took

    async def endpoints(self) -> list[str]:
        """Client URLs of the EtcdCluster's running members (for the workload)."""
        return await member_endpoints(self.cluster.client, NAMESPACE, self.name)


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status", {})
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return status.get("phase") == "Running" and conditions.get("Ready") == "True"


@dataclass
class DeployedOptions:
    """What ``demo --deployed`` does; the defaults are the README's."""

    manifests: Path = DEPLOY
    hold: bool = False
    timings: dict[str, float] = field(default_factory=dict)


async def run_deployed(options: DeployedOptions) -> bool:
    """The whole deployed scenario on a fresh local control plane; ``True`` if it succeeded."""
    out = Out()
    if not (options.manifests / "kustomization.yaml").is_file():
        raise FileNotFoundError(
            f"{options.manifests}: no kustomization.yaml; pass --manifests examples/etcd/deploy"
        )
    logfile = Out.log_to_file("etcd-operator-deployed-")
    out(f"control-plane logs: {logfile} (the operator's: kubectl -n {SYSTEM} logs)")
    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        out(f"local control plane up; try: kubectl --kubeconfig {cluster.kubeconfig} get pods -A")
        steps = Deployed(cluster, out=out, manifests=options.manifests, timings=options.timings)
        [first] = await steps.deploy(replicas=1)
        await steps.apply_example()
        async with write_throughout(steps.endpoints) as writer:
            out("a client now writes keys continuously through every step")
            await steps.replace_operator_mid_scale(first)
            pods = await steps.scale_operator(2)
            out(f"operator Deployment scaled to 2 replicas: {', '.join(pods)}")
            await steps.fail_over(pods)
        total = len(writer.acknowledged)
        out(f"read back all {total} acknowledged keys")
        t = options.timings
        print(
            f"summary: deploy {t['deploy']:.1f}s | available {t['available']:.1f}s"
            f" | replacement pod Ready {t['replacement_ready']:.1f}s"
            f" | scale 3->5 across it {t['scale']:.1f}s | 5->3 {t['scale_down']:.1f}s"
            f" | failover {t['failover']:.1f}s (lease 15s)"
            f" | 3->4 under the new leader {t['scale_new_leader']:.1f}s"
            f" | {total} keys written and read back, 0 lost",
            flush=True,
        )
        if options.hold:
            out("holding the cluster for kubectl; Ctrl-C to stop")
            await asyncio.Event().wait()
    return True


def main(options: DeployedOptions) -> int:
    """Run :func:`run_deployed`; the exit code (a failed step is one line on stderr)."""
    try:
        ok = asyncio.run(run_deployed(options))
    except KeyboardInterrupt:
        print("interrupted; everything stopped", file=sys.stderr)
        return 130
    except (AssertionError, KubectlFailed, FileNotFoundError) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    return 0 if ok else 1
