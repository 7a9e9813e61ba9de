"""Bootstrap parameters: sealed once a member has started, so an empty data dir cannot rejoin.

The rule is pure (:func:`etcd_operator.bootstrap.to_seal`); the etcd behaviour it relies on is
checked against real etcd 3.4 and 3.5: a member started with sealed parameters runs on intact
data and refuses to start on an empty data dir, the seed included.
"""

from __future__ import annotations

import re
import shutil

import pytest
from etcd_operator import bootstrap, builders
from etcd_operator.models import EtcdCluster, EtcdClusterSpec
from etcd_operator.naming import peer_url
from etcd_operator.planner import MemberState, Observed
from etcd_procs import BINARIES, ETCD_NOT_READY, EtcdProc, two_members

from opframe.testing import eventually

REFUSAL = "could not retrieve cluster information from the given URLs"


def _member(ordinal: int, *, started: bool = True, healthy: bool = True) -> MemberState:
    name = f"c-{ordinal}"
    return MemberState(
        id=ordinal + 1,
        peer_url=peer_url("c", "ns", name),
        name=name if started else "",
        healthy=healthy,
    )


def _observed(*members: MemberState) -> Observed:
    return Observed(cluster="c", namespace="ns", size=3, version="3.5.1", members=members)


def _joining(pod: str) -> dict[str, str]:
    """The parameters a member is created with (before it has started)."""
    full = ",".join(f"c-{i}={peer_url('c', 'ns', f'c-{i}')}" for i in range(3))
    return bootstrap.BootstrapParams(full, "existing").data(pod)


def test_started_healthy_members_are_sealed_in_ordinal_order() -> None:
    members = (_member(10), _member(2))
    data = {**_joining("c-10"), **_joining("c-2")}
    assert bootstrap.to_seal(_observed(*members), data) == ("c-2", "c-10")


def test_member_not_started_yet_is_not_sealed() -> None:
    assert bootstrap.to_seal(_observed(_member(1, started=False)), _joining("c-1")) == ()


def test_unhealthy_member_is_not_sealed_until_it_is_healthy() -> None:
    assert bootstrap.to_seal(_observed(_member(1, healthy=False)), _joining("c-1")) == ()


def test_sealed_member_is_not_sealed_again() -> None:
    data = bootstrap.sealed("c", "ns", "c-1").data("c-1")
    assert bootstrap.to_seal(_observed(_member(1)), data) == ()


def test_member_without_parameters_is_sealed() -> None:
    assert bootstrap.to_seal(_observed(_member(0)), {}) == ("c-0",)


def test_member_with_a_foreign_peer_url_is_not_sealed() -> None:
    foreign = MemberState(id=9, peer_url="http://10.0.0.9:2380", name="manual", healthy=True)
    assert bootstrap.to_seal(_observed(foreign), {}) == ()


def test_sealing_the_seed_turns_new_into_existing_with_only_itself() -> None:
    seed = bootstrap.sealed("c", "ns", "c-0")
    assert seed.state == "existing"
    assert seed.initial_cluster == f"c-0={peer_url('c', 'ns', 'c-0')}"


def test_member_pod_reads_its_parameters_from_the_configmap_not_from_flags() -> None:
    cluster = EtcdCluster(
        metadata={"name": "c", "namespace": "ns", "uid": "u"},
        spec=EtcdClusterSpec(size=3, version="3.5.1"),
    )
    pod = builders.member_pod(cluster, "c-1")
    container = pod.spec.containers[0]
    # etcd lets a flag win over its environment variable: no flag may shadow the ConfigMap.
    assert not [a for a in container.args or [] if a.startswith("--initial-cluster=")]
    assert not [a for a in container.args or [] if a.startswith("--initial-cluster-state")]
    refs = {
        e.name: e.value_from.config_map_key_ref
        for e in container.env or []
        if e.value_from and e.value_from.config_map_key_ref
    }
    assert {n: (r.name, r.key) for n, r in refs.items() if r} == {
        "ETCD_INITIAL_CLUSTER": ("c-members", "c-1.initial-cluster"),
        "ETCD_INITIAL_CLUSTER_STATE": ("c-members", "c-1.initial-cluster-state"),
    }
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", k) for k in bootstrap.keys_of("c-1"))


def _restart_sealed(proc: EtcdProc, *, wipe: bool) -> None:
    proc.stop()
    if wipe:
        shutil.rmtree(proc.data_dir)
    proc.start(f"{proc.name}={proc.peer_url}", "existing", via_env=True)


@pytest.mark.parametrize("binary", BINARIES)
async def test_sealed_member_with_intact_data_restarts_under_its_id(binary: str) -> None:
    async with two_members(binary, via_env=True) as (admin, _, member):
        before = (await admin.status(member.client_url)).member_id
        _restart_sealed(member, wipe=False)
        await eventually(
            lambda: admin.healthy(member.client_url),
            message="restarted member healthy",
            timeout=15,
            retry_on=ETCD_NOT_READY,
        )
        assert (await admin.status(member.client_url)).member_id == before


@pytest.mark.parametrize("binary", BINARIES)
async def test_sealed_member_on_an_empty_data_dir_refuses_to_start(binary: str) -> None:
    async with two_members(binary, via_env=True) as (_, seed, member):
        _restart_sealed(member, wipe=True)
        # A peer is up and would hand it its old ID; sealed, it cannot even ask.
        assert seed.proc is not None and seed.proc.poll() is None
        assert await member.exit_code(within=20) not in (None, 0)
        assert REFUSAL in member.log.read_text()
        assert not any(member.data_dir.glob("member/wal/*.wal"))


@pytest.mark.parametrize("binary", BINARIES)
async def test_sealed_seed_on_an_empty_data_dir_cannot_form_a_second_cluster(binary: str) -> None:
    async with two_members(binary, via_env=True) as (_, seed, _member):
        _restart_sealed(seed, wipe=True)
        assert await seed.exit_code(within=20) not in (None, 0)
        assert REFUSAL in seed.log.read_text()
