"""The chaos suite (issue 13.7): disruptions while a client writes, then every acknowledged
write is read back linearizably, one cluster ID, no duplicate member.

The short form runs by default (marker ``chaos``); ``./run chaos`` (``OPFRAME_CHAOS=long``)
runs every scenario. The figures table is printed at the end of the run.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Awaitable, Callable

import pytest
from chaos.harness import LONG, events, operators, scenario
from etcd_e2e import NAMESPACE, EtcdEnv, member_ids, settled
from etcd_operator.membership import EtcdAdmin, EtcdBusy
from etcd_operator.models import EtcdCluster
from etcd_operator.naming import peer_url

from opframe import Lease, Pod, get_condition
from opframe.testing import ensure_etcd, eventually, find_etcd

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(300)]

long_form = pytest.mark.skipif(not LONG, reason="long form: ./run chaos")


async def _retry_busy(env: EtcdEnv, what: str, op: object) -> None:
    """Run an etcd admin call by hand, retrying while etcd says "not now"."""

    async def attempt() -> bool:
        async with EtcdAdmin(await env.endpoints()) as admin:
            try:
                await op(admin)  # type: ignore[operator]
            except EtcdBusy:
                return False
        return True

    await eventually(attempt, message=what, timeout=30)


async def _until_event(env: EtcdEnv, reason: str, deadline: float = 60.0) -> None:
    async def seen() -> bool:
        return await events(env, reason) > 0

    await eventually(seen, message=f"a {reason} step", timeout=deadline)


async def _leader_pod(env: EtcdEnv) -> str:
    c = await env.get()
    assert c.status is not None
    return next(m.name for m in c.status.members if m.leader)


# -- operator SIGKILL at each step kind, then a restart ---------------------------------------

# step kind -> (version to start on, size to start at, what to do to make that step happen)
STEPS = {
    "AddMember": ("3.5.1", 3, {"size": 4}),
    "PromoteMember": ("3.5.1", 3, {"size": 4}),
    "CreatePod": ("3.5.1", 3, {"size": 4}),  # a member registered by hand, without a pod
    "RemoveMember": ("3.5.1", 4, {"size": 3}),
    "MoveLeader": ("3.5.1", 3, {"size": 2}),
    "UpgradeMember": ("3.5.0", 3, {"version": "3.5.1"}),
    "DeletePod": ("3.5.1", 3, {}),
}


@pytest.mark.parametrize(
    "step",
    [s if s == "AddMember" else pytest.param(s, marks=long_form) for s in STEPS],
)
async def test_operator_sigkilled_right_after_a_step_converges_after_a_restart(
    plane: EtcdEnv, step: str
) -> None:
    version, size, change = STEPS[step]
    if find_etcd(version) is None:
        ensure_etcd(version)
    final_size = int(change.get("size", size))  # type: ignore[call-overload]
    if step == "DeletePod":
        final_size = size
    async with operators(plane, None) as (first,):
        await plane.create(size=size, version=version)
        await plane.until(settled(size, version), f"{size} members on {version}", 90)
        async with scenario(plane, f"operator SIGKILL after {step}", final_size):
            if step == "MoveLeader":
                # The scale-down victim (highest ordinal) leads: leadership must move first.
                victim = f"e2e-{size - 1}"
                c = await plane.get()
                assert c.status is not None
                target = int(member_ids(c)[victim], 16)
                leader = await _leader_pod(plane)
                if leader != victim:
                    pod = await plane.client.get(Pod, leader, NAMESPACE)
                    url = f"http://{pod.status.pod_ip}:2379" if pod.status else ""
                    await _retry_busy(plane, "leader moved", lambda a: a.move_leader(url, target))
            if step == "DeletePod":
                # A member removed behind the operator's back leaves a pod that is no member.
                c = await plane.get()
                assert c.status is not None
                victim_id = int(
                    next(m.id for m in c.status.members if m.name == "e2e-2") or "0", 16
                )
                await _retry_busy(plane, "member removed", lambda a: a.remove_member(victim_id))
            if step == "CreatePod":
                url = peer_url("e2e", NAMESPACE, "e2e-3")
                await _retry_busy(plane, "member added", lambda a: a.add_member(url, learner=True))
            if change:
                await plane.patch(change)
            await _until_event(plane, step)
            await first.kill()
            async with operators(plane, None):
                await plane.until(settled(final_size, str(change.get("version", version))),
                                  "converged after the restart", 120)  # fmt: skip


# -- leader-elected pair -------------------------------------------------------------------------


async def _holder(env: EtcdEnv) -> str:
    lease = await env.client.get(Lease, "etcd-operator-chaos", NAMESPACE)
    return (lease.spec.holder_identity or "") if lease.spec else ""


async def test_frozen_leader_executes_no_step_after_it_wakes(plane: EtcdEnv) -> None:
    """SIGSTOP the leader past its Lease; the standby takes over and scales 3 -> 1. On SIGCONT
    the old leader's cache still says 3 members of 3: without fencing it would add members
    back. Its fence (no renewal within renew_deadline) stops every write, and it exits."""
    async with operators(plane, "op-a") as (a,):
        await a.leading()
        await plane.create(size=3)
        await plane.until(settled(3), "3 members available", 90)
        async with operators(plane, "op-b") as (b,):
            async with scenario(plane, "leader frozen past its lease, then woken", 1):
                a.signal(signal.SIGSTOP)
                await b.leading(30)
                assert await _holder(plane) == "op-b"
                await plane.patch({"size": 1})
                await plane.until(settled(1), "the new leader scaled to 1", 90)
                adds = await events(plane, "AddMember")
                a.signal(signal.SIGCONT)
                code = await a.exited(20)
                assert code is not None, "the woken leader did not step down"
                assert await events(plane, "AddMember") == adds, "the woken leader took a step"
                assert await _holder(plane) == "op-b"


@long_form
async def test_killed_leader_is_replaced_by_the_standby(plane: EtcdEnv) -> None:
    async with operators(plane, "op-a") as (a,):
        await a.leading()
        await plane.create(size=3)
        await plane.until(settled(3), "3 members available", 90)
        async with operators(plane, "op-b") as (b,), scenario(plane, "operator leader SIGKILL", 5):
            await plane.patch({"size": 5})
            await _until_event(plane, "AddMember")
            await a.kill()
            await b.leading(30)


# -- etcd and Kubernetes disruptions (in-process operator) -------------------------------------


@pytest.mark.parametrize("size", [3, pytest.param(5, marks=long_form)])
async def test_etcd_leader_killed(etcd_env: EtcdEnv, size: int) -> None:
    await etcd_env.create(size=size)
    await etcd_env.until(settled(size), f"{size} members available", 90)
    old = member_ids(await etcd_env.get())
    async with scenario(etcd_env, f"etcd leader SIGKILL at size {size}", size):
        # The member restarts on its data (same ID); a new election may or may not pick it.
        etcd_env.cluster.chaos.kill(NAMESPACE, await _leader_pod(etcd_env))
    assert member_ids(await etcd_env.get()) == old, "a restarted member was replaced"


async def test_stale_operator_facing_another_cluster_on_its_addresses_touches_nothing(
    etcd_env: EtcdEnv,
) -> None:
    """Cluster e2e's pods now point at the addresses of cluster b (a real etcd cluster of its
    own): what answers there has b's cluster ID, and the operator must not act on it (before
    the fix it removed b's members, which map to no pod of e2e)."""
    await etcd_env.create(name="b", size=3)
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "e2e available", 90)
    await etcd_env.until(settled(3), "b available", 90, name="b")
    b_before = member_ids(await etcd_env.get("b"))
    b_pods = {p.name: p for p in (await etcd_env.client.list(Pod, NAMESPACE)).items}
    async with scenario(etcd_env, "another cluster on the old addresses", 3, name="b"):
        for i in range(3):
            ip = b_pods[f"b-{i}"].status.pod_ip if b_pods[f"b-{i}"].status else None
            addresses = {"status": {"podIP": ip, "podIPs": [{"ip": ip}]}}
            await etcd_env.client.patch_status(Pod, f"e2e-{i}", addresses, namespace=NAMESPACE)

        def refused(c: EtcdCluster) -> bool:
            cond = get_condition(c.status.conditions if c.status else [], "Progressing")
            return cond is not None and cond.reason == "ClusterIDMismatch"

        await etcd_env.until(refused, "e2e refuses to act on b", 30)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the refusal holds: nothing happens to b
            assert member_ids(await etcd_env.get("b")) == b_before
            await eventually(_after_pause(0.2), message="next look")
    assert member_ids(await etcd_env.get("b")) == b_before
    assert not await events(etcd_env, "RemoveMember", name="e2e")


@long_form
async def test_rapid_size_changes(etcd_env: EtcdEnv) -> None:
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "3 members available", 90)
    async with scenario(etcd_env, "rapid size changes 3-5-1-4-3", 3):
        for size in (5, 1, 4, 3):
            await etcd_env.patch({"size": size})
            await etcd_env.until(
                lambda c: (
                    c.status is not None and c.status.observed_generation == c.metadata.generation
                ),
                f"size {size} seen",
            )


@long_form
async def test_two_pods_deleted_at_once(etcd_env: EtcdEnv) -> None:
    await etcd_env.create(size=5)
    await etcd_env.until(settled(5), "5 members available", 90)
    async with scenario(etcd_env, "two of five pods deleted at once", 5):
        for pod in ("e2e-1", "e2e-3"):
            await etcd_env.client.delete(Pod, pod, NAMESPACE, grace_period_seconds=0)


@long_form
async def test_upgrade_with_a_member_killed(etcd_env: EtcdEnv) -> None:
    if find_etcd("3.5.0") is None:
        ensure_etcd("3.5.0")
    await etcd_env.create(size=3, version="3.5.0")
    await etcd_env.until(settled(3, "3.5.0"), "3 members on 3.5.0", 90)
    async with scenario(etcd_env, "upgrade with a member killed", 3):
        await etcd_env.patch({"version": "3.5.1"})
        await _until_event(etcd_env, "UpgradeMember")
        etcd_env.cluster.chaos.kill(NAMESPACE, "e2e-0")
        await etcd_env.until(settled(3, "3.5.1"), "upgraded despite the kill", 120)


@long_form
async def test_wiped_data(etcd_env: EtcdEnv) -> None:
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "3 members available", 90)
    old = member_ids(await etcd_env.get())
    async with scenario(etcd_env, "a member's data wiped", 3):
        etcd_env.cluster.chaos.wipe_empty_dir(NAMESPACE, "e2e-1", "data")
        etcd_env.cluster.chaos.kill(NAMESPACE, "e2e-1")
        await etcd_env.until(
            lambda c: old["e2e-1"] not in member_ids(c).values(), "e2e-1 replaced", 90
        )


@long_form  # failed once in a fresh-clone run (issue 12/16 note); passed in three full runs
async def test_api_server_restarted_alone(persistent_plane: EtcdEnv) -> None:
    """The API server stops and a new one starts on the same port, token, CA and objects
    while the kubelet's pods (etcd) keep running: the operator (its own process) reconnects
    by itself, its watches resume or relist, and it carries out a scale requested right
    after the restart."""
    env = persistent_plane
    async with operators(env, None):
        await env.create(size=3)
        await env.until(settled(3), "3 members available", 90)
        async with scenario(env, "API server restarted alone", 4):
            await env.cluster.restart_api_server()
            await env.patch({"size": 4})


def _after_pause(seconds: float) -> Callable[[], Awaitable[bool]]:
    """A check that passes ``seconds`` from now (a paced look, bounded by ``eventually``)."""
    when = time.monotonic() + seconds
    return lambda: _after(when)


async def _after(when: float) -> bool:
    return time.monotonic() >= when
