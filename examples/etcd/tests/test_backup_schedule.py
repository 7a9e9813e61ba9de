"""Backup schedules: cron slots as pure functions, and the schedule with retention end to end
(a fake clock runs four one-minute slots in seconds).

The slot rule follows the CronJob controller (``pkg/controller/cronjob/utils.go``,
``mostRecentScheduleTime``): only the most recent missed slot is run, and none from before the
object was created.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from backup_env import BackupEnv, backup_env, s3_server
from etcd_e2e import NAMESPACE, settled
from etcd_operator.backup.models import EtcdBackup
from etcd_operator.backup.schedule import LABEL_SCHEDULED, last_slot, next_slot, slot_name
from etcd_operator.models import EtcdCluster

from opframe import TerminalError, is_controlled_by
from opframe.testing import eventually

__all__ = ["backup_env", "s3_server"]

T = datetime(2026, 12, 2, 14, 30, 20, tzinfo=UTC)


def test_last_slot_is_the_latest_firing_at_or_before_now() -> None:
    assert last_slot("*/15 * * * *", T) == datetime(2026, 12, 2, 14, 30, tzinfo=UTC)
    assert last_slot("0 * * * *", T) == datetime(2026, 12, 2, 14, 0, tzinfo=UTC)


def test_a_slot_exactly_now_has_fired() -> None:
    at = datetime(2026, 12, 2, 14, 30, tzinfo=UTC)
    assert last_slot("30 14 * * *", at) == at


def test_next_slot_is_strictly_after_now() -> None:
    assert next_slot("* * * * *", T) == datetime(2026, 12, 2, 14, 31, tzinfo=UTC)


def test_slot_names_sort_by_time() -> None:
    a, b = slot_name("demo", T), slot_name("demo", T + timedelta(minutes=90))
    assert a == "demo-202612021430" and a < b


@pytest.mark.parametrize("expr", ["* * * *", "61 * * * *", "@every 5m", "* * * * * *"])
def test_invalid_schedule_is_a_terminal_error_naming_the_field(expr: str) -> None:
    with pytest.raises(TerminalError, match=r"spec\.backup\.schedule"):
        last_slot(expr, T)


async def _scheduled(env: BackupEnv) -> dict[str, EtcdBackup]:
    items = await env.client.list(EtcdBackup, NAMESPACE, label_selector={LABEL_SCHEDULED: "true"})
    return {b.metadata.name or "": b for b in items.items}


async def _backing_up(
    env: BackupEnv, name: str, backup: dict[str, object], version: str = "3.5.1"
) -> None:
    """S3 credentials and a one-member cluster ``name`` on ``version``, available, whose
    ``spec.backup`` (``backup``) backs up to the S3 bucket."""
    await env.credentials()
    spec = {"version": version, "backup": {"destination": env.s3_destination(), **backup}}
    await env.create_cluster(name, 1, spec)

    async def available() -> bool:
        return settled(1, version)(await env.client.get(EtcdCluster, name, NAMESPACE))

    await eventually(available, timeout=90, message=f"{name}: 1 member on {version} available")


@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_every_minute_with_keep_two_leaves_two_backups_after_four_runs(
    backup_env: BackupEnv,
) -> None:
    env = backup_env
    await _backing_up(env, "sched", {"schedule": "* * * * *", "retention": {"keep": 2}})
    taken: list[str] = []
    for _ in range(4):
        env.clock.advance(timedelta(minutes=1))
        name = slot_name("sched", last_slot("* * * * *", env.clock()))
        taken.append(name)
        b = await env.finished(name)
        assert b.status is not None and b.status.phase == "Succeeded", b.status

    async def two_left() -> bool:
        return set(await _scheduled(env)) == set(taken[-2:])

    await eventually(two_left, timeout=30, message="the two newest scheduled backups left")
    assert env.s3.keys() == sorted(f"etcd/{n}.db" for n in taken[-2:])
    cluster = await env.client.get(EtcdCluster, "sched", NAMESPACE)
    assert all(is_controlled_by(b, cluster) for b in (await _scheduled(env)).values())


@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_before_upgrade_backup_succeeds_before_any_member_upgrades(
    backup_env: BackupEnv,
) -> None:
    env = backup_env
    await _backing_up(env, "up", {"beforeUpgrade": True}, version="3.5.0")
    await env.client.patch(EtcdCluster, "up", {"spec": {"version": "3.5.1"}}, namespace=NAMESPACE)

    async def upgraded() -> bool:
        return settled(1, "3.5.1")(await env.client.get(EtcdCluster, "up", NAMESPACE))

    await eventually(upgraded, timeout=90, message="upgraded to 3.5.1")
    upgraded_at = datetime.now(UTC)

    b = await env.client.get(EtcdBackup, "up-before-v3-5-1", NAMESPACE)
    assert b.status is not None and b.status.phase == "Succeeded", b.status
    assert b.status.completion_time is not None and b.status.completion_time < upgraded_at
    assert "etcd/up-before-v3-5-1.db" in env.s3.keys()
