"""Regression tests for the five defects of issue 13, end to end with real etcd.

Each one failed on the operator before the fix (see the issue): it acted on another cluster,
replaced members for a missing image forever, stayed Degraded after a re-create, wedged on a
foreign member, and accepted refused versions (the admission tests are in ``test_e2e.py``).
"""

from __future__ import annotations

import time

import pytest
from etcd_e2e import NAMESPACE, EtcdEnv, member_ids, settled
from etcd_operator.membership import EtcdAdmin, EtcdBusy, Member
from etcd_operator.models import EtcdCluster

from opframe import NotFound, Pod, get_condition
from opframe.testing import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# The kubelet waiting reasons for an image that cannot run (as etcd_operator.planner has them).
IMAGE_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")


def _condition(c: EtcdCluster, kind: str) -> tuple[bool | None, str, str]:
    cond = get_condition(c.status.conditions if c.status else [], kind)
    if cond is None:
        return None, "", ""
    return cond.status == "True", cond.reason or "", cond.message or ""


async def _pause(env: EtcdEnv, **spec: object) -> None:
    await env.patch({"paused": True, **spec})
    await env.until(
        lambda c: (
            c.status is not None
            and c.status.phase == "Paused"
            and c.status.observed_generation == c.metadata.generation
        ),
        "pause reported",
    )


async def test_steps_are_refused_when_the_answering_cluster_is_not_the_recorded_one(
    etcd_env: EtcdEnv,
) -> None:
    """13.1: the responding members' cluster ID must equal status.clusterID. The status here
    names another cluster, as for an operator whose addresses now reach another cluster; a
    scale-down must then remove nothing, and say why with both IDs."""
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "3 members available")
    before = await etcd_env.get()
    assert before.status is not None and before.status.cluster_id
    real = before.status.cluster_id
    fake = f"{int(real, 16) ^ 0xFFFF:x}"
    await _pause(etcd_env)

    async def recorded_fake() -> bool:
        c = await etcd_env.get()
        if c.status is not None and c.status.cluster_id == fake:
            return True
        await etcd_env.client.patch_status(
            EtcdCluster, "e2e", {"status": {"clusterID": fake}}, namespace=NAMESPACE
        )
        return False

    await eventually(recorded_fake, message="status.clusterID names another cluster", timeout=20)
    await etcd_env.patch({"paused": False, "size": 1})

    def refused(c: EtcdCluster) -> bool:
        ok, reason, message = _condition(c, "Progressing")
        return ok is False and reason == "ClusterIDMismatch" and real in message and fake in message

    await etcd_env.until(refused, "step refused naming both cluster IDs", 30)
    warnings = await etcd_env.events("ClusterIDMismatch")
    assert warnings and warnings[0].type == "Warning"
    c = await etcd_env.get()
    assert member_ids(c) == member_ids(before)
    assert c.status is not None and c.status.cluster_id == fake, "a recorded ID is never replaced"
    assert not await etcd_env.events("RemoveMember")
    assert await etcd_env.pod_names() == {"e2e-0", "e2e-1", "e2e-2"}


async def test_version_without_an_image_is_rolled_back_and_never_replaces_members(
    etcd_env: EtcdEnv,
) -> None:
    """13.2: ``version: 3.5.100`` is well-formed but has no image. The member it reaches is
    rolled back on its intact data, the upgrade reports UpgradeFailed, and no member is
    replaced (before: five replacements in 100 s)."""
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "3 members available")
    old = member_ids(await etcd_env.get())
    async with etcd_env.writing():
        await etcd_env.patch({"version": "3.5.100"})

        def failed(c: EtcdCluster) -> bool:
            ok, reason, _ = _condition(c, "Progressing")
            return (
                ok is False
                and reason == "UpgradeFailed"
                and c.status is not None
                and c.status.failed_version == "3.5.100"
                and c.status.observed_generation == c.metadata.generation
            )

        await etcd_env.until(failed, "upgrade failed and reported", 60)
        await etcd_env.until(settled(3, "3.5.1"), "every member back on 3.5.1", 60)
    rollbacks = await etcd_env.events("RollbackMember")
    assert rollbacks and any(r in (rollbacks[0].message or "") for r in IMAGE_FAILURES)
    assert not await etcd_env.events("RemoveMember"), "a member was replaced for its image"
    assert member_ids(await etcd_env.get()) == old
    assert await etcd_env.events("UpgradeFailed")
    # Back to a version with an image: allowed, and the cluster settles there.
    await etcd_env.patch({"version": "3.5.1"})
    await etcd_env.until(
        lambda c: c.status is not None and c.status.failed_version is None and settled(3)(c),
        "failed version cleared once the spec moved on",
    )


async def test_foreign_voter_is_reported_at_risk_then_removed_and_scaling_still_works(
    etcd_env: EtcdEnv,
) -> None:
    """13.4: a voter added by hand whose peer URL maps to no pod. It is reported (condition
    and Event), quorum one failure away is AtRisk and not Available, it never gets a pod named
    "", and once it is removed (it never started) a scale request still goes through."""
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "3 members available")
    await _pause(etcd_env, size=4)
    added: list[Member] = []

    async def add_foreign_voter() -> bool:
        # etcd accepts a membership change only once every member has been connected for 5 s.
        async with EtcdAdmin(await etcd_env.endpoints()) as admin:
            try:
                added.append(await admin.add_member("http://127.0.0.1:1", learner=False))
            except EtcdBusy:
                return False
        return True

    await eventually(add_foreign_voter, message="foreign voter added by hand", timeout=30)
    foreign = added[0]

    def reported(c: EtcdCluster) -> bool:
        present, _, message = _condition(c, "ForeignMembers")
        return (
            present is True
            and f"{foreign.id:x}" in message
            and _condition(c, "AtRisk")[:2] == (True, "OneFailureFromQuorumLoss")
            and _condition(c, "Available")[:2] == (False, "QuorumAtRisk")
        )

    await etcd_env.until(reported, "foreign voter reported, quorum at risk", 30)
    assert await etcd_env.events("ForeignMembers")
    await etcd_env.patch({"paused": False})
    await etcd_env.until(
        lambda c: settled(4)(c) and f"{foreign.id:x}" not in member_ids(c).values(),
        "foreign member removed and scaled to 4",
        90,
    )
    assert await etcd_env.pod_names() == {"e2e-0", "e2e-1", "e2e-2", "e2e-3"}
    assert _condition(await etcd_env.get(), "ForeignMembers")[0] is False


async def test_deleted_and_recreated_cluster_of_the_same_name_converges(etcd_env: EtcdEnv) -> None:
    """13.3: the new pods of the same names are new pods (the kubelet keys pods by uid), so the
    operator reaches the new members and forms a new cluster."""
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "3 members available")
    first = await etcd_env.get()
    assert first.status is not None
    await etcd_env.client.delete(EtcdCluster, "e2e", NAMESPACE)

    async def gone() -> bool:
        try:
            await etcd_env.get()
        except NotFound:
            return True
        return False

    await eventually(gone, message="EtcdCluster deleted", timeout=30)
    started = time.monotonic()
    await etcd_env.create(size=3)
    await etcd_env.until(settled(3), "re-created cluster available", 120)
    second = await etcd_env.get()
    assert second.status is not None and second.status.cluster_id != first.status.cluster_id
    pods = (await etcd_env.client.list(Pod, NAMESPACE)).items
    owners = {ref.uid for p in pods for ref in p.metadata.owner_references or []}
    assert owners == {second.metadata.uid}, "every pod belongs to the re-created cluster"
    assert time.monotonic() - started < 120
