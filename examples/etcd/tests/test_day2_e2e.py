"""Day-2 operations end to end: NOSPACE recovery, quota raise, defragmentation order, metrics.

Real etcd members under the local kubelet, the operator in-process, writes through aetcd. The
rules follow etcd's maintenance runbook (etcd.io "Maintenance": compact, defragment, disarm)
and etcd's quota check (``server/etcdserver/quota.go``: a write fails once the backend size
plus its cost exceeds the quota, which raises the NOSPACE alarm).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import aetcd
import aiohttp
import pytest
import pytest_asyncio
from etcd_e2e import E2E_POLICY, NAMESPACE, EtcdEnv, kubectl, running_operator
from etcd_operator.builders import LABEL_CLUSTER
from etcd_operator.models import EtcdCluster
from etcd_operator.operator import build_manager
from etcd_operator.planner import Policy
from etcd_operator.reconciler import EtcdClusterReconciler

from opframe import Client, Manager, Pod, get_condition, install_crds
from opframe.kinds import Event
from opframe.testing import LocalCluster, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VALUE = 512 * 1024  # 32 writes fill a 16 MiB quota


@pytest_asyncio.fixture
async def day2_env() -> AsyncIterator[tuple[EtcdEnv, str]]:
    """An operator with its ``/metrics`` served, and a long unhealthy grace: a frozen member
    stays a member (the tests freeze one to show a skipped defragmentation)."""
    reconciler = EtcdClusterReconciler(
        Policy(member_start_deadline=E2E_POLICY.member_start_deadline, unhealthy_grace=600.0),
        steady_interval=1.0,
        busy_interval=0.3,
    )

    def build(client: Client) -> Manager:
        return build_manager(client, reconciler=reconciler, health_address=None)

    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        await install_crds(cluster.client, EtcdCluster)
        # Under its ServiceAccount with the generated RBAC, as the whole etcd e2e suite runs.
        async with running_operator(cluster, build) as operator:
            manager = operator.manager
            await eventually(lambda: manager.metrics_url is not None, timeout=30.0)
            yield EtcdEnv(cluster), str(manager.metrics_url)


async def _create(env: EtcdEnv, name: str, size: int, **spec: object) -> None:
    await env.client.create(
        EtcdCluster.model_validate(
            {
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"size": size, "version": "3.5.1", **spec},
            }
        )
    )


def _cond(c: EtcdCluster, ctype: str) -> tuple[str, str]:
    cond = get_condition(c.status.conditions if c.status else [], ctype)
    return (cond.status, cond.reason or "") if cond is not None else ("", "")


def _ready(size: int) -> object:
    return lambda c: c.status is not None and c.status.ready_members == size


async def _client(env: EtcdEnv, name: str) -> aetcd.Client:
    endpoint = (await env.endpoints(name))[0]
    parts = urlsplit(endpoint)
    client = aetcd.Client(host=parts.hostname or "", port=parts.port or 2379, timeout=10)
    await client.connect()
    return client


async def _fill(client: aetcd.Client, *, distinct: bool) -> int:
    """Write until etcd answers NOSPACE; return the number of writes acknowledged."""
    for i in range(400):
        key = f"fill-{i}" if distinct else "fill"
        try:
            await client.put(key.encode(), os.urandom(VALUE))
        except Exception as e:
            if "database space exceeded" in str(e) or "NOSPACE" in str(e):
                return i
            raise
    raise AssertionError("400 writes never reached the quota")


async def _writes(client: aetcd.Client) -> bool:
    try:
        await client.put(b"after", b"ok")
    except Exception as e:
        if "database space exceeded" in str(e):
            return False
        raise
    return True


async def _reasons(env: EtcdEnv, name: str) -> list[str]:
    events = await env.client.list(Event, NAMESPACE)
    mine = [e for e in events.items if e.involved_object.name == name]
    # Events are created in order: the global resourceVersion orders them.
    mine.sort(key=lambda e: int(e.metadata.resource_version or 0))
    return [e.reason or "" for e in mine]


async def test_nospace_from_overwrites_is_recovered_by_the_operator(
    day2_env: tuple[EtcdEnv, str],
) -> None:
    """Overwrites of one key fill a 16 MiB quota with history; with no manual step the operator
    compacts, defragments and disarms, and the condition and Events tell the story."""
    env, _ = day2_env
    await _create(env, "full", 1, quotaBackendBytes="16Mi")
    await env.until(_ready(1), "one member ready", name="full", deadline=90)
    client = await _client(env, "full")
    try:
        assert await _fill(client, distinct=False) > 0
        await env.until(
            lambda c: _cond(c, "Degraded") == ("True", "DatabaseQuotaExceeded"),
            "Degraded/DatabaseQuotaExceeded",
            name="full",
            deadline=60,
        )
        await eventually(lambda: _writes(client), message="writes accepted again", timeout=90)
    finally:
        await client.close()
    await env.until(
        lambda c: (
            _cond(c, "Degraded")[1] != "DatabaseQuotaExceeded"
            and not (c.status and c.status.maintenance and c.status.maintenance.alarms)
        ),
        "NOSPACE cleared from status",
        name="full",
    )
    reasons = await _reasons(env, "full")
    story = [
        r
        for r in reasons
        if r in {"DatabaseQuotaExceeded", "Compacted", "Defragmented", "DatabaseQuotaRecovered"}
    ]
    assert story[:1] == ["DatabaseQuotaExceeded"], reasons
    assert "QuotaUsageHigh" in reasons, reasons  # the quota warning, a Warning Event
    assert (
        story.index("Compacted")
        < story.index("Defragmented")
        < story.index("DatabaseQuotaRecovered")
    ), story


async def test_nospace_of_live_data_asks_for_a_bigger_quota_and_recovers_when_raised(
    day2_env: tuple[EtcdEnv, str],
) -> None:
    """Distinct keys: compaction reclaims nothing, so QuotaPressure says to raise the quota;
    raising spec.quotaBackendBytes restarts the member on its volume and writes return."""
    env, _ = day2_env
    await _create(
        env,
        "live",
        1,
        quotaBackendBytes="16Mi",
        storage={"volumeClaimTemplate": {"size": "1Gi"}},
    )
    await env.until(_ready(1), "one member ready", name="live", deadline=90)
    client = await _client(env, "live")
    try:
        await _fill(client, distinct=True)
        await env.until(
            lambda c: _cond(c, "QuotaPressure") == ("True", "QuotaTooSmall"),
            "QuotaPressure/QuotaTooSmall",
            name="live",
            deadline=60,
        )
        c = await env.get("live")
        assert _cond(c, "Degraded") == ("True", "DatabaseQuotaExceeded")
        assert not await _writes(client)
    finally:
        await client.close()
    await env.patch({"quotaBackendBytes": "64Mi"}, name="live")

    async def recovered() -> bool:
        try:
            c = await _client(env, "live")
        except Exception:
            return False
        try:
            return await _writes(c)
        except Exception:
            return False
        finally:
            await c.close()

    await eventually(recovered, message="writes after raising the quota", timeout=120)
    await env.until(
        lambda c: (
            _cond(c, "QuotaPressure")[0] == "False"
            and _cond(c, "Degraded")[1] != "DatabaseQuotaExceeded"
        ),
        "quota conditions cleared",
        name="live",
    )
    assert "QuotaTooSmall" in await _reasons(env, "live")


MIN_RECLAIMABLE = 256 * 1024
FRAGMENTED_PERCENT = 5
THRESHOLDS = {"minReclaimableBytes": MIN_RECLAIMABLE, "fragmentedPercent": FRAGMENTED_PERCENT}


def _over_thresholds(c: EtcdCluster, size: int) -> bool:
    members = c.status.members if c.status else []
    return len(members) == size and all(
        m.db_size
        and m.db_size_in_use is not None
        and m.db_size - m.db_size_in_use >= MIN_RECLAIMABLE
        and (m.db_size - m.db_size_in_use) * 100 >= FRAGMENTED_PERCENT * m.db_size
        for m in members
    )


async def _fragment(env: EtcdEnv, name: str, size: int) -> None:
    """Overwrite one key with 6 MiB in all, compact, and wait until every member's status
    shows the garbage (``dbSize - dbSizeInUse``) over :data:`THRESHOLDS`.

    dbSizeInUse counts the pages a member's last write transactions freed as in use: bbolt
    keeps them pending until a later read-write transaction releases them, and etcd's
    ``SizeInUse`` subtracts only released free pages. On an idle cluster nothing comes later,
    so whether a member *shows* the compaction's garbage depends on how its 100 ms batch
    commits fell; under load one member has stayed at dbSize == dbSizeInUse for good (so,
    rightly, never over the thresholds). Small writes, as every live cluster has, settle it.
    """
    client = await _client(env, name)
    try:
        rev = 0
        for _ in range(12):
            rev = (await client.put(b"churn", os.urandom(VALUE))).header.revision
        await client.compact(rev, physical=True)

        async def settled() -> bool:
            if _over_thresholds(await env.get(name), size):
                return True
            await client.put(b"settle", b"x")
            return False

        await eventually(settled, message="every member shows what it can reclaim", timeout=60)
    finally:
        await client.close()


async def test_defragmentation_by_threshold_skips_while_unhealthy_and_runs_the_leader_last(
    day2_env: tuple[EtcdEnv, str],
) -> None:
    """With a member frozen, a due defragmentation is skipped (and said so); once it is back,
    every member over the thresholds is defragmented, one at a time, the leader last."""
    env, _ = day2_env
    await _create(env, "frag", 3)
    await env.until(_ready(3), "three members ready", name="frag", deadline=120)
    await _fragment(env, "frag", 3)
    victim = "frag-1"
    env.cluster.chaos.freeze(NAMESPACE, victim)
    try:
        await env.patch({"defragmentation": THRESHOLDS}, name="frag")
        sizes = [
            (m.name, m.db_size, m.db_size_in_use) for m in (await env.get("frag")).status.members
        ]  # type: ignore[union-attr]
        await eventually(
            lambda: _has(env, "frag", "DefragmentationSkipped"),
            message=f"a DefragmentationSkipped Event (sizes {sizes})",
            timeout=120,
        )
        assert "Defragmented" not in await _reasons(env, "frag")
    finally:
        env.cluster.chaos.thaw(NAMESPACE, victim)

    async def three_defragmented() -> bool:
        return (await _reasons(env, "frag")).count("Defragmented") >= 3

    await eventually(three_defragmented, message="three Defragmented Events", timeout=120)
    events = await env.client.list(Event, NAMESPACE)
    msgs = [e.message or "" for e in events.items if e.reason == "Defragmented"]
    assert len(msgs) == 3, msgs
    roles = {re.search(r"defragmented (\S+) \((\w+)\)", m).groups() for m in msgs}  # type: ignore[union-attr]
    assert sorted(r for _, r in roles) == ["follower", "follower", "leader"], msgs
    c = await env.get("frag")
    assert c.status and c.status.maintenance
    assert c.status.maintenance.last_defragmented_member == c.status.leader, (
        "the leader must be defragmented last"
    )


@pytest.mark.chaos
@pytest.mark.skipif(
    os.environ.get("OPFRAME_CHAOS", "") != "long",
    reason="long form (./run chaos): cron counts in minutes, so the run waits for the next "
    "minute (up to 60 s) on the operator's real clock; the rules are tables in test_day2_rules",
)
async def test_a_defragmentation_schedule_runs_at_its_next_time_and_not_at_once(
    day2_env: tuple[EtcdEnv, str],
) -> None:
    """A schedule set on a fragmented cluster does not defragment at once (the time that fired
    before it was set is recorded as done, like a new CronJob's); at its next time a run
    defragments the member and, with nothing left over the thresholds, ends."""
    env, _ = day2_env
    await _create(env, "cron", 1)
    await env.until(_ready(1), "one member ready", name="cron", deadline=90)
    await _fragment(env, "cron", 1)
    await env.patch({"defragmentation": {**THRESHOLDS, "schedule": "* * * * *"}}, name="cron")

    def slot(c: EtcdCluster) -> datetime | None:
        return (
            c.status.maintenance.defragmentation_slot if c.status and c.status.maintenance else None
        )

    await env.until(lambda c: slot(c) is not None, "the latest time recorded", name="cron")
    first = slot(await env.get("cron"))
    assert first is not None
    await eventually(lambda: _has(env, "cron", "Defragmented"), message="a run", timeout=90)
    events = await env.client.list(Event, NAMESPACE)
    runs = [
        e.metadata.creation_timestamp
        for e in events.items
        if e.involved_object.name == "cron" and e.reason == "Defragmented"
    ]
    assert len(runs) == 1, runs
    assert runs[0] is not None and runs[0] >= first + timedelta(minutes=1), (runs, first)
    await env.until(
        lambda c: (slot(c) or first) > first,
        "the run at the next time ended",
        name="cron",
    )


async def _has(env: EtcdEnv, name: str, reason: str) -> bool:
    return reason in await _reasons(env, name)


async def _scrape(url: str) -> dict[str, float]:
    # Bounded, so a scrape that hangs fails the wait it is in, named, instead of the test.
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as s, s.get(url + "/metrics") as resp:
        assert resp.status == 200, resp.status
        text = await resp.text()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("etcd_") and 'cluster="scale"' in line:
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


async def test_metrics_follow_a_scale_up_and_go_with_the_cluster(
    day2_env: tuple[EtcdEnv, str],
) -> None:
    """``/metrics`` shows desired/ready/healthy members, quorum, leader and per-member sizes of
    each cluster, moving as the cluster scales; a deleted cluster's series are removed."""
    env, url = day2_env
    await _create(env, "scale", 1)
    await env.until(_ready(1), "one member ready", name="scale", deadline=90)
    labels = 'cluster="scale",namespace="default"'

    async def series(want: dict[str, float]) -> bool:
        got = await _scrape(url)
        return all(got.get(f"{k}{{{labels}}}") == v for k, v in want.items())

    await eventually(
        lambda: series(
            {
                "etcd_cluster_members_desired": 1,
                "etcd_cluster_members_ready": 1,
                "etcd_cluster_has_quorum": 1,
                "etcd_cluster_has_leader": 1,
            }
        ),
        message="metrics of a one-member cluster",
        timeout=30,
    )
    got = await _scrape(url)
    assert any(k.startswith("etcd_member_db_size_bytes") and "scale-0" in k for k in got), got
    await env.patch({"size": 3}, name="scale")
    await eventually(
        lambda: series({"etcd_cluster_members_desired": 3}), message="desired 3", timeout=30
    )
    await env.until(_ready(3), "three members ready", name="scale", deadline=120)
    await eventually(
        lambda: series({"etcd_cluster_members_ready": 3, "etcd_cluster_members_healthy": 3}),
        message="ready and healthy 3",
        timeout=30,
    )
    got = await _scrape(url)
    members = {
        re.search(r'member="([^"]+)"', k).group(1)  # type: ignore[union-attr]
        for k in got
        if k.startswith("etcd_member_db_size_bytes")
    }
    assert members == {"scale-0", "scale-1", "scale-2"}, got
    await env.client.delete(EtcdCluster, "scale", NAMESPACE)

    async def gone() -> bool:
        return not await _scrape(url)

    await eventually(gone, message="series of the deleted cluster removed", timeout=30)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
async def test_kubectl_wide_and_describe_show_what_on_call_needs(
    day2_env: tuple[EtcdEnv, str],
) -> None:
    """``kubectl get etcd -o wide`` adds leader, database against quota, alarms, last
    defragmentation and backup (priority-1 printer columns); describe shows member sizes."""
    env, _ = day2_env
    await _create(env, "wide", 1, quotaBackendBytes="16Mi")
    await env.until(
        lambda c: c.status is not None and c.status.ready_members == 1 and bool(c.status.database),
        "one member ready with its database size",
        name="wide",
        deadline=90,
    )
    narrow = (
        await kubectl(env.cluster.kubeconfig, "get", "etcd", "wide", "-n", NAMESPACE)
    ).splitlines()
    assert "LEADER" not in narrow[0], narrow
    wide = (
        await kubectl(env.cluster.kubeconfig, "get", "etcd", "wide", "-n", NAMESPACE, "-o", "wide")
    ).splitlines()
    for column in ("LEADER", "DATABASE", "ALARMS", "LAST-DEFRAG", "LAST-BACKUP"):
        assert column in wide[0], wide
    assert "wide-0" in wide[1] and "/16.0Mi (" in wide[1], wide
    described = await kubectl(
        env.cluster.kubeconfig, "describe", "etcdcluster", "wide", "-n", NAMESPACE
    )
    assert "Db Size" in described and "Leader" in described, described


async def test_changed_settings_roll_every_member_without_losing_a_write(
    day2_env: tuple[EtcdEnv, str],
) -> None:
    """Changing spec.autoCompaction replaces the emptyDir members one at a time (planner rule
    13) until every pod runs the new flags; every acknowledged write reads back."""
    env, _ = day2_env
    await _create(env, "roll", 3)
    await env.until(_ready(3), "three members ready", name="roll", deadline=120)
    flag = "--auto-compaction-retention=100"

    async def rolled() -> bool:
        pods = await env.client.list(Pod, NAMESPACE, label_selector={LABEL_CLUSTER: "roll"})
        c = await env.get("roll")
        return (
            len(pods.items) == 3
            and all(flag in (p.spec.containers[0].args or []) for p in pods.items)
            and c.status is not None
            and c.status.ready_members == 3
        )

    async with env.writing("roll"):
        await env.patch({"autoCompaction": {"mode": "revision", "retention": "100"}}, name="roll")
        await eventually(rolled, message="every member on the new settings", timeout=240)
